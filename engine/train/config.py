"""TrainConfig: every knob of a training run, frozen, from defaults < config.toml < flags."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields
from typing import Any

from engine.augment import check_mode
from engine.errors import MascotError


@dataclass(frozen=True)
class TrainConfig:
    family: str = "projected"
    data: str = ""
    out: str = "runs/train"
    resolution: int = 0  # 0 = the data set's own resolution
    kimg: float = 100.0  # length of the run in thousands of real images shown to D
    minutes: float = 0.0  # wall-clock budget across sessions (0 = none): equal-budget family comparisons
    session_minutes: float = 0.0  # wall-clock budget of this run alone (0 = none): a time-boxed chunk
    batch_size: int = 32
    lr_g: float | None = None  # None = the family's paper default
    lr_d: float | None = None
    seed: int = 0
    mirror: bool = True  # random x-flips of real images (labels are flip-invariant)
    ema_kimg: float = 10.0  # half-life of the generator EMA, in kimg (stylegan2-ada)
    ema_rampup: float = 0.05  # EMA half-life grows with training progress early on
    check_every: int = 50  # steps between checks that the losses are finite (each check waits for the GPU)
    compile: bool = False  # torch.compile G and D's trainable heads (pays back only on long GPU runs)
    tick_kimg: float = 4.0  # log line, stats, grid and curves every tick
    snapshot_kimg: float = 20.0  # serving + resume checkpoint every this many kimg
    grid_seeds: int = 8  # columns of the sample grid
    grid_attribute: str = ""  # rows of the sample grid; "" = hair if present, else the largest choice
    device: str = "auto"  # auto | cuda | mps | cpu
    precision: str = "auto"  # auto (bf16 on CUDA, fp32 elsewhere) | bf16 | fp32
    resume: bool = False
    init_from: str = ""  # serving checkpoint whose generator starts this run (fine-tuning)
    freeze_d: int = 0  # FreezeD: number of discriminator blocks kept fixed
    # What every image D sees goes through: ada | diffaugment | none. "" = what the run being
    # resumed or fine-tuned recorded, else the family's default (its Trainer.DEFAULT_AUGMENT).
    augment: str = ""
    # Probability of blanking each attribute of a training label: with none, unique full labels
    # let G ignore z (RealImages._keep_mask); 0.3 is what every shipped model trained with.
    cond_dropout: float = 0.3
    extra_data: str = ""  # a second data set (e.g. curated, voted-up mascots) mixed into real batches
    extra_share: float = 0.25  # probability that a real image comes from extra_data (caps its share)
    arch: tuple[tuple[str, Any], ...] = field(default=())  # architecture overrides, e.g. (("width", 64),)

    def with_overrides(self, values: dict[str, Any]) -> TrainConfig:
        """A copy with ``values`` (from the config file or flags) applied; None values ignored."""
        known = {f.name for f in fields(self)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise MascotError(
                f"unknown training setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        clean = {k: v for k, v in values.items() if v is not None}
        if isinstance(clean.get("arch"), dict):
            clean["arch"] = tuple(sorted(clean["arch"].items()))
        return dataclasses.replace(self, **clean)

    def validate(self) -> TrainConfig:
        if self.kimg <= 0:
            raise MascotError(f"--kimg must be positive, got {self.kimg}")
        if self.session_minutes < 0:
            raise MascotError(
                f"--session-minutes must be 0 (no budget) or positive, got {self.session_minutes}"
            )
        if self.check_every < 1:
            raise MascotError(f"--check-every must be at least 1, got {self.check_every}")
        if self.minutes < 0:
            raise MascotError(f"--minutes must be 0 (no budget) or positive, got {self.minutes}")
        if self.batch_size < 2:
            raise MascotError(f"--batch must be at least 2, got {self.batch_size}")
        if self.resolution and (self.resolution < 16 or self.resolution & (self.resolution - 1)):
            raise MascotError(f"--res must be a power of two from 16 up, got {self.resolution}")
        if self.device not in ("auto", "cuda", "mps", "cpu"):
            raise MascotError(f"--device must be auto, cuda, mps or cpu, got {self.device}")
        if self.precision not in ("auto", "bf16", "fp32"):
            raise MascotError(f"--precision must be auto, bf16 or fp32, got {self.precision}")
        if not 0.0 <= self.cond_dropout < 1.0:
            raise MascotError(f"--cond-dropout must be from 0 to below 1, got {self.cond_dropout}")
        if not 0.0 <= self.extra_share <= 1.0:
            raise MascotError(f"--extra-share must be from 0 to 1, got {self.extra_share}")
        if self.augment:
            check_mode(self.augment, "--augment")
        if not self.data:
            raise MascotError("--data is required: a data set folder made by 'mascot-engine data ...'")
        return self
