"""``mascot-engine data ...``: build, transform and describe data sets.

Each builder module (dicebear, emoji, folder, augment, cluster) has
``register(subparsers)``; heavy imports (torch, node) happen inside their run functions
so ``--help`` stays instant.
"""

from __future__ import annotations

import argparse
import importlib

BUILDERS = ("dicebear", "emoji", "folder", "augment", "cluster", "pack", "pairs")


def register(subparsers) -> None:
    data = subparsers.add_parser("data", help="build and inspect data sets")
    sub = data.add_subparsers(dest="data_command", required=True, metavar="DATA_COMMAND")
    for name in BUILDERS:
        try:
            module = importlib.import_module(f"engine.data.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"engine.data.{name}":
                raise
            continue  # a builder not written yet
        module.register(sub)
    describe = sub.add_parser("describe", help="print a data set's card")
    describe.add_argument("dir", help="data set folder")
    describe.set_defaults(func=_describe)


def _describe(args: argparse.Namespace) -> int:
    from engine.data.dataset import describe

    print(describe(args.dir))
    return 0
