"""What ``mascot-engine chunk`` trains: one row per shipped model.

flagship  checkpoints/default: projected 128px on 20k DiceBear renders, resumed from
          checkpoints/resume/projected-128.
emoji     checkpoints/emoji: projected 64px on the clustered Noto emoji (5 classes), resumed
          from checkpoints/resume/emoji once a chunk has written it, else fine-tuned from the
          shipped model's generator and discriminator.

A target names its data set and the commands that build it when it is missing, the committed
resume point a chunk continues and overwrites, the shipped model a candidate must beat, the
training flags (the arch and recipe come from the resume point), and the attributes whose
values label the grids' rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from engine.errors import MascotError

# A chunk runs for minutes to hours: long ticks and snapshots keep the log and the disk quiet,
# and --kimg is a ceiling the wall-clock deadline always reaches first.
CHUNK_FLAGS = ("--kimg", "100000", "--tick-kimg", "16", "--snapshot-kimg", "64")


@dataclass(frozen=True)
class Target:
    name: str
    data: Path
    build: tuple[tuple[str, ...], ...]  # mascot-engine commands that make ``data`` when missing
    resume: Path  # the committed resume point, overwritten in place after every chunk
    shipped: Path  # the model a candidate must beat to replace
    train_flags: tuple[str, ...]
    grid_rows: tuple[str, ...]
    batch: int  # the recipe's batch size: a resume point does not record it, and a chunk keeps it
    # torch.compile in a long chunk: on a 2-core CPU it sped the projected step 1.7x at 128 px and
    # not at all at 64 px (bench/train_speed.py --before-after), so it is the flagship's alone.
    compile: bool = False

    @property
    def run(self) -> Path:
        return Path("runs") / f"chunk-{self.name}"


TARGETS = {
    "flagship": Target(
        name="flagship",
        data=Path("data/dicebear-20k-128"),
        build=(
            (
                "data",
                "dicebear",
                "--count",
                "20000",
                "--size",
                "128",
                "--seed",
                "7",
                "--out",
                "data/dicebear-20k-128",
            ),
        ),
        resume=Path("checkpoints/resume/projected-128"),
        shipped=Path("checkpoints/default"),
        train_flags=("--family", "projected", "--res", "128", *CHUNK_FLAGS),
        grid_rows=("hair", "style"),
        batch=64,
        compile=True,
    ),
    "emoji": Target(
        name="emoji",
        data=Path("data/emoji-clustered"),
        build=(
            ("data", "emoji", "--source", "noto", "--out", "data/emoji"),
            ("data", "augment", "data/emoji", "--factor", "5", "--out", "data/emoji-aug"),
            (
                "data",
                "cluster",
                "data/emoji-aug",
                "--features",
                "effnet",
                "--k",
                "auto",
                "--out",
                "data/emoji-clustered",
            ),
        ),
        resume=Path("checkpoints/resume/emoji"),
        shipped=Path("checkpoints/emoji"),
        # Its CPU recipe: the higher learning rates paid off at batch 32 on a small budget.
        train_flags=(
            "--family",
            "projected",
            "--res",
            "64",
            "--lr-g",
            "8e-4",
            "--lr-d",
            "8e-4",
            *CHUNK_FLAGS,
        ),
        grid_rows=("class",),
        batch=32,
    ),
}


def target(name: str) -> Target:
    if name not in TARGETS:
        raise MascotError(f"unknown chunk target '{name}'; known: {', '.join(TARGETS)}")
    return TARGETS[name]
