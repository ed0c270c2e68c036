"""``mascot-engine``: one entry point, one sub-command module per concern.

Every module listed in COMMANDS has ``register(subparsers)`` adding its parser with
``set_defaults(func=...)``. A MascotError becomes one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from engine.errors import MascotError

COMMANDS = (
    "engine.data.cli",
    "engine.train.cli",
    "engine.train.chunk",
    "engine.generate",
    "engine.serve.cli",
    "engine.metrics.cli",
    "engine.upscale.cli",
    "engine.translate.cli",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mascot-engine", description="mascotbot's GAN engine")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMANDS:
        importlib.import_module(module).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except MascotError as exc:
        print(f"mascot-engine: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("mascot-engine: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
