"""Training the upscaler on (small, large) render pairs, on the CPU, resumably.

Each step takes a batch of clean small renders, degrades them the way the generator does
(``degrade.py``), crops aligned patches from the degraded small and the clean large images,
and fits the network with L1 plus a perceptual term: L1 between EfficientNet-Lite0's
multi-scale features of the output and of the truth (the one pretrained network here), so
edges come out sharp rather than averaged. The last ``holdout`` pairs are never trained on;
``holdout.py`` picks them, ``measure.py`` scores on them.

A run folder holds ``model/`` (the latest weights, a servable checkpoint), ``resume.*``
(weights, Adam, step, RNG: continue with ``--resume``), ``stats.jsonl``, ``losses.png`` and
``samples.png`` (held-out inputs | Lanczos | upscaler | truth).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from safetensors.torch import save_file
from tqdm import tqdm

from engine.checkpoint import CheckpointError, file_sha256, flatten_optimizer, load_state, unflatten_optimizer
from engine.data.pairs import open_pairs
from engine.effnet import backbone
from engine.errors import MascotError
from engine.pixels import to_tensor, to_uint8
from engine.step_run import StepRun
from engine.train.visuals import loss_curves
from engine.upscale.checkpoint import save_upscaler
from engine.upscale.degrade import degrade
from engine.upscale.holdout import held_out, lanczos, nearest
from engine.upscale.model import Upscaler, UpscalerArch


@dataclass(frozen=True)
class UpscaleTrainConfig:
    pairs: str = ""
    out: str = "runs/upscale"
    arch: UpscalerArch = UpscalerArch()
    patch: int = 32  # side of the small crops (the large ones are scale x this)
    batch_size: int = 16
    lr: float = 2e-4
    # Weight of the feature loss beside L1: its raw value is ~100x L1's, so this keeps it a
    # fraction of the total; a larger share made L1 rise while the features matched better.
    perceptual: float = 0.02
    steps: int = 20000
    minutes: float = 0.0  # stop this session after this long (0 = no limit)
    tick_steps: int = 100
    snapshot_steps: int = 500
    holdout: int = 64  # the last pairs, never trained on
    seed: int = 0
    resume: bool = False

    def validate(self) -> UpscaleTrainConfig:
        if not self.pairs:
            raise MascotError("--pairs is required: a folder made by 'mascot-engine data pairs'")
        if not 8 <= self.patch <= 512 or self.patch % (2 * self.arch.unshuffle):
            raise MascotError(
                f"--patch must be 8..512 and a multiple of {2 * self.arch.unshuffle}, got {self.patch}"
            )
        if self.batch_size < 1 or self.steps < 1 or self.lr <= 0 or self.perceptual < 0 or self.minutes < 0:
            raise MascotError(
                "--batch and --steps must be at least 1, --lr positive, --perceptual and --minutes >= 0"
            )
        return self


class PairBatches:
    """Random aligned crops of degraded small and clean large renders, from the training part."""

    def __init__(self, pairs: Path, cfg: UpscaleTrainConfig, gen: torch.Generator) -> None:
        self.small, self.large = open_pairs(pairs)
        self.scale = self.large.resolution // self.small.resolution
        if self.scale != cfg.arch.scale:
            raise MascotError(f"'{pairs}' pairs are x{self.scale}; the upscaler is x{cfg.arch.scale}")
        if len(self.small) <= cfg.holdout:
            raise MascotError(f"'{pairs}' has {len(self.small)} pairs; at least {cfg.holdout + 1} are needed")
        self.n_train, self.cfg, self.gen = len(self.small) - cfg.holdout, cfg, gen

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        cfg, s, n = self.cfg, self.scale, self.cfg.batch_size
        idx = torch.randint(self.n_train, (n,), generator=self.gen).tolist()
        small = to_tensor(np.stack([self.small.images[i] for i in idx]))
        small = degrade(small, self.gen)
        top, left = (
            torch.randint(self.small.resolution - cfg.patch + 1, (2, n), generator=self.gen)
        ).tolist()
        flips = (torch.rand(n, generator=self.gen) < 0.5).tolist()
        xs, ys = [], []
        for k, i in enumerate(idx):
            x = small[k, :, top[k] : top[k] + cfg.patch, left[k] : left[k] + cfg.patch]
            big = self.large.images[i][
                top[k] * s : (top[k] + cfg.patch) * s, left[k] * s : (left[k] + cfg.patch) * s
            ]
            y = to_tensor(np.ascontiguousarray(big)[None])[0]
            xs.append(x.flip(2) if flips[k] else x)
            ys.append(y.flip(2) if flips[k] else y)
        return torch.stack(xs), torch.stack(ys)


def early_features(x: torch.Tensor, stages: int) -> list[torch.Tensor]:
    """EfficientNet-Lite0's first ``stages`` multi-scale maps (strides 4, 8, ...): the ones
    that see lines and edges; the deeper ones cost most of the time and judge content."""
    net = backbone(str(x.device))
    x, feats = net.stem(net.preprocess(x)), []
    for i, block in enumerate(net.blocks):
        x = block(x)
        if i in net.stage_ends:
            feats.append(x)
            if len(feats) == stages:
                break
    return feats


def perceptual_loss(out: torch.Tensor, truth: torch.Tensor, stages: int = 2) -> torch.Tensor:
    with torch.no_grad():
        target = early_features(truth, stages)
    return sum(F.l1_loss(a, b) for a, b in zip(early_features(out, stages), target))


class UpscaleRun(StepRun):
    label = "upscaler"

    def __init__(self, cfg: UpscaleTrainConfig) -> None:
        self.cfg = cfg.validate()
        self.out = Path(cfg.out)
        self.gen = torch.Generator().manual_seed(cfg.seed)
        torch.manual_seed(cfg.seed)
        self.data = PairBatches(Path(cfg.pairs), cfg, self.gen)
        self.model = Upscaler(cfg.arch)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=cfg.lr, betas=(0.9, 0.99))
        super().__init__()
        if cfg.resume:
            self._resume()
        self.out.mkdir(parents=True, exist_ok=True)

    def _train_step(self) -> dict[str, float]:
        self.model.train()
        small, large = self.data.next()
        out = self.model(small)
        l1 = F.l1_loss(out, large)
        feat = perceptual_loss(out, large) if self.cfg.perceptual else out.new_zeros(())
        loss = l1 + self.cfg.perceptual * feat
        if not torch.isfinite(loss):
            raise MascotError(f"upscaler training diverged at step {self.step}: loss {loss.item()}")
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return {"loss": loss.item(), "l1": l1.item(), "perceptual": feat.item()}

    def _tick(self, stats: dict[str, list[float]]) -> None:
        record = {
            "step": self.step,
            "seconds": round(self.seconds, 1),
            **{f"loss/{k}": float(np.mean(v)) for k, v in stats.items()},
        }
        with open(self.out / "stats.jsonl", "a") as fh:
            fh.write(json.dumps(record) + "\n")
        loss_curves(self.out / "stats.jsonl", self.out / "losses.png", x="step")
        tqdm.write(
            f"step {self.step:<7d} " + " ".join(f"{k[5:]} {v:.4f}" for k, v in record.items() if "/" in k)
        )

    def save(self) -> None:
        extra = {
            "training": {
                "steps": self.step,
                "seconds": round(self.seconds, 1),
                "pairs": self.cfg.pairs,
                "config": dataclasses.asdict(self.cfg),
            }
        }
        save_upscaler(self.out / "model", self.model, extra)
        flat, groups = flatten_optimizer("opt", self.opt)
        tensors = {**{f"model.{k}": v.contiguous() for k, v in self.model.state_dict().items()}, **flat}
        save_file(tensors, self.out / ".resume.safetensors.tmp")
        meta = {
            "step": self.step,
            "seconds": self.seconds,
            "arch": self.cfg.arch.to_json(),
            "optimizer": groups,
            "rng": self.gen.get_state().tolist(),
            "torch_rng": torch.get_rng_state().tolist(),
            "weights_sha256": file_sha256(self.out / ".resume.safetensors.tmp"),
        }
        (self.out / ".resume.json.tmp").write_text(json.dumps(meta))
        (self.out / ".resume.safetensors.tmp").replace(self.out / "resume.safetensors")
        (self.out / ".resume.json.tmp").replace(self.out / "resume.json")
        self._samples()

    def _resume(self) -> None:
        try:
            meta = json.loads((self.out / "resume.json").read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise CheckpointError(f"nothing to resume in '{self.out}': {exc}") from None
        if meta.get("arch") != self.cfg.arch.to_json():
            raise MascotError(
                f"'{self.out}' was trained with arch {meta.get('arch')}; this run asks for "
                f"{self.cfg.arch.to_json()}: use another --out"
            )
        weights = self.out / "resume.safetensors"
        tensors = load_state(weights, meta.get("weights_sha256") or "")
        self.model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
        unflatten_optimizer("opt", self.opt, tensors, meta["optimizer"])
        self.step, self.seconds = int(meta["step"]), float(meta["seconds"])
        self.gen.set_state(torch.tensor(meta["rng"], dtype=torch.uint8))
        torch.set_rng_state(torch.tensor(meta["torch_rng"], dtype=torch.uint8))

    def _samples(self, n: int = 6) -> None:
        """Held-out inputs (degraded, nearest-neighbour) | Lanczos | upscaler | truth, one row each."""
        _, degraded, large = held_out(self.data.small, self.data.large, n, self.cfg.holdout)
        with torch.no_grad():
            out = to_uint8(self.model.eval()(to_tensor(degraded)))
        size = large.shape[1]
        ways = (nearest(degraded, size), lanczos(degraded, size), out, large)
        rows = [np.concatenate(list(col), axis=1) for col in ways]
        Image.fromarray(np.concatenate(rows, axis=0)).save(self.out / "samples.png")
