"""How right ``data folder --auto-tag`` is, on renders whose true labels are known.

    python bench/autotag_accuracy.py --truth data/tag-unseen-micah-64 --tagger data/tag-seen-2k-64 \
        --work data/tag-unseen-micah-png

Writes the truth set's images as PNG files into WORK/pictures (what a user would have),
runs ``mascot-engine data folder WORK/pictures --auto-tag --tagger TAGGER`` into
WORK/tagged, and prints per attribute: the accuracy of the classifier's best guess on
every picture whose true label is known, the share of readings kept (at or above the
threshold), and the accuracy of the kept labels, which is what training trusts.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import numpy as np
from PIL import Image


def write_pictures(truth, folder: Path) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for i, image in enumerate(truth.images):
        name = f"{i:05d}.png"
        Image.fromarray(np.asarray(image)).save(folder / name)
        names.append(name)
    return names


def score(truth, tagged_dir: Path) -> list[tuple[str, int, float | None, float, float | None]]:
    import json

    from engine.data.dataset import Dataset

    tagged = Dataset(tagged_dir)
    readings = json.loads((tagged_dir / "autotags.json").read_text())["files"]
    index = {t["file"]: i for i, t in enumerate(tagged.tags())}
    rows = []
    for a, attr in enumerate(truth.schema.attributes):
        known = [
            (f"{i:05d}.png", attr.values[v]) for i, v in enumerate(np.asarray(truth.labels)[:, a]) if v >= 0
        ]
        known = [(f, v) for f, v in known if f in index]
        guesses = [(readings[f][attr.name], v) for f, v in known]
        right = [g["value"] == v for g, v in guesses]
        kept = [g["value"] == v for g, v in guesses if g["kept"]]
        rows.append(
            (
                attr.name,
                len(known),
                float(np.mean(right)) if right else None,
                len(kept) / max(1, len(known)),
                float(np.mean(kept)) if kept else None,
            )
        )
    return rows


def main() -> int:
    from engine.cli import main as engine
    from engine.data.dataset import Dataset

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--truth", required=True, help="labelled render set to tag as if it were a user's folder")
    p.add_argument("--tagger", required=True, help="labelled set whose classifier tags")
    p.add_argument("--work", required=True, help="folder for the PNG files and the tagged set (replaced)")
    p.add_argument("--threshold", type=float, default=0.8)
    args = p.parse_args()
    truth, work = Dataset(args.truth), Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    write_pictures(truth, work / "pictures")
    code = engine(
        [
            "data",
            "folder",
            str(work / "pictures"),
            "--out",
            str(work / "tagged"),
            "--size",
            str(truth.resolution),
            "--auto-tag",
            "--tagger",
            args.tagger,
            "--tag-threshold",
            str(args.threshold),
        ]
    )
    if code:
        return code
    fmt = lambda x: "  n/a" if x is None else f"{x:5.3f}"
    print(f"\n{args.truth} tagged by the classifier of {args.tagger} (threshold {args.threshold:g})")
    print("attribute   known  best-guess acc  kept share  kept acc")
    for name, n, acc, share, kept_acc in score(truth, work / "tagged"):
        print(f"{name:10s} {n:6d}  {fmt(acc):>14s}  {share:10.2f}  {fmt(kept_acc):>8s}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
