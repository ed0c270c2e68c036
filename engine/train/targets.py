"""What ``mascot-engine chunk`` trains: one row per shipped model.

flagship  checkpoints/default: projected 128px on 20k DiceBear renders, resumed from
          checkpoints/resume/projected-128. Gated at 512 by the posted protocol, both sides
          through the shipped 4x stage, on the styles it offers (all but pixel art).
emoji     checkpoints/emoji: projected 64px on the clustered Noto emoji (5 classes), resumed
          from checkpoints/resume/emoji once a chunk has written it, else fine-tuned from the
          shipped model's generator and discriminator.
flagship-64  the flagship's rival: projected 64px on 20k DiceBear renders at 64px (the flagship's
          styles and seed), posted through an 8x stage. Resumed from
          checkpoints/resume/projected-64 once a chunk has written it, else started from the
          project's last 64px default (commit c590220, 324.6 kimg). Gated at 512 by the posted
          protocol against the shipped default through its 4x stage; never shipped by a chunk
          (serving a 64px default also means serving the 8x stage: a maintainer's step).
pixel     checkpoints/pixel: DiceBear pixel art at its 16 x 16 grid (docs/pixel.md), a DCGAN
          drawing each picture in a few palette colours, resumed from checkpoints/resume/pixel-16.
upscale-8 checkpoints/upscale-8: the 8x upscale-and-restore stage (64 -> 512) on renderer pairs,
          resumed from checkpoints/resume/upscale-8; gated on held-out pairs by its feature
          distance to the truth against the shipped 8x stage (or, before one, Lanczos).

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
class PostedGate:
    """Judge the candidate as posted (512 px, ``engine/metrics/posted.py``) against the shipped
    model as posted, each through its own upscale stage, on real renders at 512."""

    real: Path  # real renders at 512 of the offered styles, twice the evaluation's samples
    # The set EvalNet (the attribute reader, at its own 64 px) learns from: one reader for both
    # sides, and the flagship's, so its gate and this one read attributes alike.
    classifier: Path
    build: tuple[tuple[str, ...], ...]  # mascot-engine commands that make ``real`` and ``classifier``
    candidate_upscalers: tuple[Path, ...]  # the first that exists takes the candidate to 512
    shipped_upscaler: Path
    size: int = 512  # the posted size


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
    kind: str = "generator"  # or "upscaler": trained by 'upscale train', measured by 'upscale measure'
    # Where a chunk starts when no resume point exists: "shipped" fine-tunes the shipped model,
    # "REV:FOLDER" a serving checkpoint folder in git history, "" trains from scratch.
    start: str = "shipped"
    posted: PostedGate | None = None  # None: judged at the model's own size on ``data``
    styles: tuple[str, ...] = ()  # the styles a candidate offers (export --styles); (): all it learnt
    ships: bool = True  # False: --ship is refused; the candidate and its figures stay in the run

    @property
    def run(self) -> Path:
        return Path("runs") / f"chunk-{self.name}"


# The flagship's training set, also the attribute reader's for every gate judged as posted.
FLAGSHIP_SET = Path("data/dicebear-20k-128")
FLAGSHIP_SET_BUILD = (
    *("data", "dicebear", "--count", "20000", "--size", "128", "--seed", "7"),
    *("--out", str(FLAGSHIP_SET)),
)
# The styles the default offers. It learns all six, but draws pixel art far worse than the rest
# (posted precision 0.03 at best, where the others read 0.14 to 0.49): pixel art has its own
# model, at its own grid (docs/pixel.md).
OFFERED_STYLES = ("adventurer", "avataaars", "big-smile", "lorelei", "micah")
# Real renders at the posted size, the offered styles: what a default is judged against.
POSTED_REAL = Path("data/dicebear-2k-512-offered")
POSTED_REAL_BUILD = (
    *("data", "dicebear", "--count", "2000", "--size", "512", "--seed", "512"),
    *("--styles", *OFFERED_STYLES, "--out", str(POSTED_REAL)),
)
SHIPPED_4X = Path("checkpoints/upscale")  # the served 128 -> 512 stage

TARGETS = {
    "flagship": Target(
        name="flagship",
        data=FLAGSHIP_SET,
        build=(FLAGSHIP_SET_BUILD,),
        resume=Path("checkpoints/resume/projected-128"),
        shipped=Path("checkpoints/default"),
        train_flags=("--family", "projected", "--res", "128", *CHUNK_FLAGS),
        grid_rows=("hair", "style"),
        batch=64,
        compile=True,
        # Judged as people see it: at 512 through the shipped 4x stage, both sides through the
        # same stage, so the gate weighs the generator alone.
        posted=PostedGate(
            real=POSTED_REAL,
            classifier=FLAGSHIP_SET,
            build=(POSTED_REAL_BUILD,),
            candidate_upscalers=(SHIPPED_4X,),
            shipped_upscaler=SHIPPED_4X,
        ),
        styles=OFFERED_STYLES,
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


FLAGSHIP_64 = Target(
    name="flagship-64",
    data=Path("data/dicebear-20k-64"),
    build=(
        (
            "data",
            "dicebear",
            "--count",
            "20000",
            "--size",
            "64",
            "--seed",
            "7",
            "--out",
            "data/dicebear-20k-64",
        ),
    ),
    resume=Path("checkpoints/resume/projected-64"),
    shipped=Path("checkpoints/default"),
    train_flags=("--family", "projected", "--res", "64", *CHUNK_FLAGS),
    grid_rows=("hair", "style"),
    batch=64,  # the flagship's, so the two differ only in size and stage
    start="c590220:checkpoints/default",  # the last 64px default: 324.6 kimg, 180 CPU minutes
    posted=PostedGate(
        real=POSTED_REAL,
        classifier=FLAGSHIP_SET,
        build=(
            POSTED_REAL_BUILD,
            FLAGSHIP_SET_BUILD,
        ),
        # The shipped 8x stage, else the upscale-8 chunk's latest: train that one first.
        candidate_upscalers=(Path("checkpoints/upscale-8"), Path("runs/chunk-upscale-8/model")),
        shipped_upscaler=SHIPPED_4X,
    ),
    styles=OFFERED_STYLES,
    ships=False,
)

UPSCALE_8 = Target(
    name="upscale-8",
    data=Path("data/pairs-64-512"),
    build=(("data", "pairs", "--count", "1200", "--lr", "64", "--hr", "512", "--out", "data/pairs-64-512"),),
    resume=Path("checkpoints/resume/upscale-8"),
    shipped=Path("checkpoints/upscale-8"),
    # 16 px crops: 128 px targets, as the 4x stage's 32 px crops make. 32 px crops (256 px
    # targets) cost 13x as much per step on one CPU thread (5.4 s against 0.42 s at batch 16).
    # --steps is a ceiling the deadline always reaches first.
    train_flags=("--scale", "8", "--patch", "16", "--steps", "100000000"),
    grid_rows=(),
    batch=16,
    kind="upscaler",
    start="",
)

PIXEL = Target(
    name="pixel",
    data=Path("data/pixel-16"),
    build=(
        (
            "data",
            "dicebear",
            "--count",
            "30000",
            "--styles",
            "pixel-art",
            "--size",
            "16",
            "--palette",
            "--seed",
            "1",
            "--out",
            "data/pixel-16",
        ),
    ),
    resume=Path("checkpoints/resume/pixel-16"),
    shipped=Path("checkpoints/pixel"),
    # No augmentation: a flip or shift the discriminator saw would only blur what a cell is.
    train_flags=("--family", "dcgan", "--res", "16", "--augment", "none", *CHUNK_FLAGS),
    grid_rows=("hair",),
    batch=32,
)

# The 64px + 8x side of the comparison with the flagship (docs/training.md).
TARGETS |= {t.name: t for t in (FLAGSHIP_64, UPSCALE_8, PIXEL)}


def target(name: str) -> Target:
    if name not in TARGETS:
        raise MascotError(f"unknown chunk target '{name}'; known: {', '.join(TARGETS)}")
    return TARGETS[name]
