"""What a GPU chunk trains: one row per shipped model, read by gpu_chunk.py and gpu-chunk-land.

flagship  checkpoints/default: projected 128px on 20k DiceBear renders, resumed from
          checkpoints/resume/projected-128.
emoji     checkpoints/emoji: projected 64px on the clustered Noto emoji (5 classes), resumed
          from checkpoints/resume/emoji once a chunk has written it, else fine-tuned from the
          shipped model's generator and discriminator (a fresh optimizer, as a compact resume has).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# A chunk runs for minutes: long ticks and snapshots keep the log and the disk quiet, and
# --kimg is the ceiling the wall-clock deadline always reaches first.
CHUNK_FLAGS = ("--kimg", "100000", "--tick-kimg", "64", "--snapshot-kimg", "256", "--check-every", "100")
EVAL_METRICS = ("--metrics", "kid_effl0,fid_effl0,attr_precision,prc", "--quiet")


@dataclass(frozen=True)
class Target:
    name: str
    data: Path  # the unpacked training set on the GPU machine
    data_pack: Path  # what carries it there (scripts/gpu-chunk-prepare)
    resume: Path  # the committed resume point, overwritten in place by gpu-chunk-land
    resume_pack: Path
    shipped: Path  # the model a candidate must beat to replace
    train_flags: tuple[str, ...]
    full_eval: tuple[str, ...]
    grid_rows: tuple[str, ...]  # attributes whose values label the grids' rows
    bench: bool = False  # time every family first (the flagship's chunk only)

    @property
    def run(self) -> Path:
        return Path("runs") / f"chunk-{self.name}"

    def start_flags(self) -> tuple[str, ...]:
        """Resume the run (placed from the committed point), or fine-tune the shipped model when
        no resume point exists yet."""
        if (self.run / "resume.json").is_file():
            return ("--resume",)
        return ("--init-from", str(self.shipped))


TARGETS = {
    "flagship": Target(
        name="flagship",
        data=Path("data/dicebear-20k-128"),
        data_pack=Path(".gpu/dicebear-20k-128.tar.xz"),
        resume=Path("checkpoints/resume/projected-128"),
        resume_pack=Path(".gpu/resume-projected-128.tar.xz"),
        shipped=Path("checkpoints/default"),
        # batch 256 (4x the H100 run's 64, same lr: a resumed model gets cleaner gradients,
        # not larger steps); the arch comes from the resume point.
        train_flags=("--family", "projected", "--res", "128", *CHUNK_FLAGS),
        full_eval=("--samples", "2000", *EVAL_METRICS, "--option", "attr_precision.per_value=96"),
        grid_rows=("hair", "style"),
        bench=True,
    ),
    "emoji": Target(
        name="emoji",
        data=Path("data/emoji-clustered"),
        data_pack=Path(".gpu/emoji-clustered-64.tar.xz"),
        resume=Path("checkpoints/resume/emoji"),
        resume_pack=Path(".gpu/resume-emoji.tar.xz"),
        shipped=Path("checkpoints/emoji"),
        # The CPU run's 8e-4 paid off at batch 32 on a tiny budget; at batch 256 the flagship's
        # Projected GAN rate (the family default) is the safer step.
        train_flags=("--family", "projected", "--res", "64", *CHUNK_FLAGS),
        full_eval=(
            "--samples",
            "2000",
            "--metrics",
            "kid_effl0,fid_effl0,attr_precision,memorization",
            "--quiet",
            "--option",
            "attr_precision.per_value=96",
        ),
        grid_rows=("class",),
    ),
}


def target(name: str) -> Target:
    if name not in TARGETS:
        raise SystemExit(f"unknown target '{name}'; known: {', '.join(TARGETS)}")
    return TARGETS[name]
