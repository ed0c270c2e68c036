"""Where does an attribute value miss? The styles of the fakes EvalNet does not read as asked.

    python bench/attr_misses.py --checkpoint checkpoints/default [--data data/dicebear-20k-128]
        [--per-value 96] hat=yes style=big-smile smile=yes

Each value is asked exactly as ``attr_precision`` asks it (the value fixed, the rest from a
real label row, seeds from 0). For the misses it prints the style each request asked for and
the style EvalNet reads, so a weak value can be told apart as one template drawn badly
(hat yes: all pixel-art) or a signal too faint everywhere (misses spread over every style).
"""

from __future__ import annotations

import argparse
from collections import Counter

import numpy as np

from engine.checkpoint import load_checkpoint
from engine.data.dataset import Dataset
from engine.errors import MascotError
from engine.metrics.attr_precision import conditioned_requests
from engine.metrics.evalnet import get_evalnet
from engine.sampling import render


def misses(ck, ds: Dataset, net, spec: str, per_value: int) -> str:
    schema = ds.schema
    [(name, value)] = schema.parse(spec).items()  # the schema's own parsing and error messages
    ai, si = schema.names.index(name), schema.names.index("style")
    vi, styles = schema.attributes[ai].index(value), schema.attributes[si].values
    requests = conditioned_requests(schema, ai, vi, per_value, seed=0)
    images = [render(ck.G, ck.schema, requests[s : s + 64]) for s in range(0, len(requests), 64)]
    pred = net.predict(np.concatenate(images))
    missed = [j for j in range(per_value) if pred[j, ai] != vi]
    asked = Counter(requests[j].attrs.get("style", "unset") for j in missed)
    read = Counter(styles[pred[j, si]] for j in missed)
    return (
        f"{spec}: {per_value - len(missed)}/{per_value} read as asked; misses by asked style "
        f"{dict(asked.most_common())}; read as style {dict(read.most_common())}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("values", nargs="+", metavar="ATTRIBUTE=VALUE")
    ap.add_argument("--checkpoint", default="checkpoints/default")
    ap.add_argument("--data", default="data/dicebear-20k-128")
    ap.add_argument("--per-value", type=int, default=96)
    args = ap.parse_args()
    ck, ds = load_checkpoint(args.checkpoint), Dataset(args.data)
    net = get_evalnet(ds)
    for spec in args.values:
        try:
            print(misses(ck, ds, net, spec, args.per_value), flush=True)
        except (MascotError, ValueError) as exc:  # ValueError: not exactly one attribute in spec
            raise SystemExit(f"{spec}: {exc}") from None


if __name__ == "__main__":
    main()
