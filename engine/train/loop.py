"""One training loop for every family (after stylegan2-ada's training_loop.py).

The family's trainer owns D, the optimizers and the losses; this loop owns the data, the
EMA generator, ticks (log line, JSONL stats, sample grid and loss curves as PNGs),
checkpoints (every ``snapshot_kimg`` and on Ctrl-C / SIGTERM), resuming, the device and
precision, and data parallelism under torchrun.

A run folder holds::

    RUN/model/            serving checkpoint of the EMA generator (model.safetensors + model.json)
    RUN/resume.*          everything needed to continue (one pair, overwritten)
    RUN/stats.jsonl       one line per tick
    RUN/grid.png          latest fixed-seed sample grid (rows = attribute values, cols = seeds)
    RUN/grids/            the grid at every tick
    RUN/losses.png        loss and stat curves
"""

from __future__ import annotations

import base64
import contextlib
import copy
import dataclasses
import json
import os
import platform
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm import tqdm

from engine.augment import check_mode
from engine.checkpoint import (
    load_checkpoint,
    load_discriminator,
    load_resume,
    read_meta,
    read_resume_meta,
    save_generator,
    save_resume,
)
from engine.data.dataset import Dataset
from engine.errors import MascotError
from engine.models import get_family
from engine.models.base import Batch, Hyper
from engine.models.layers import PaletteHead
from engine.pixelgrid import palette_array
from engine.progress import reachable_total, redraw_interval
from engine.schema import Schema
from engine.train import distributed
from engine.train.allocator import tune_allocator
from engine.train.config import TrainConfig
from engine.train.visuals import grid_attribute, loss_curves, sample_grid


def pick_device(name: str) -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise MascotError("--device cuda was asked for, but no CUDA GPU is available")
    return torch.device(name)


def amp_factory(device: torch.device, precision: str):
    use_bf16 = precision == "bf16" or (precision == "auto" and device.type == "cuda")
    if use_bf16 and device.type != "cpu":
        return lambda: torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext


class StopFlag:
    """Set by SIGTERM or a first Ctrl-C: finish the step, save, exit cleanly."""

    def __init__(self) -> None:
        self.requested = False

    def install(self) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(ValueError):  # not the main thread (tests): no handlers
                signal.signal(sig, self._handle)

    def _handle(self, signum, frame) -> None:
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt  # second Ctrl-C: the user really means it
        self.requested = True


@dataclass
class RunState:
    nimg: int = 0
    tick: int = 0
    step: int = 0
    seconds: float = 0.0  # training wall time over all sessions of this run


class RealImages:
    """Training images as uint8 at the training resolution, with their conditioning.

    On a GPU the whole set lives on the device (20,000 images at 128px are 1 GB as uint8):
    a batch is a gather, a flip and a scale there, with no host copy of pixels per step.
    Indices, flips and label dropout are drawn on the host from one seeded generator (a few
    hundred bytes per step, sent asynchronously), so a run resumes the same data order on
    any device.

    An optional second set (curated, voted-up mascots) is mixed in: each real image of a
    batch comes from it with probability ``extra_share``, so the original data stays the
    anchor however many curated images there are.
    """

    def __init__(
        self,
        ds: Dataset,
        resolution: int,
        device: torch.device,
        seed: int,
        extra: Dataset | None = None,
        extra_share: float = 0.0,
        cond_dropout: float = 0.0,
    ) -> None:
        parts = [ds] + ([extra] if extra is not None else [])
        self.device = device
        # NHWC in memory, seen as NCHW: exactly the channels_last layout the GPU convs want.
        self.images = torch.cat([self._load(part, resolution) for part in parts]).to(device)
        self.cond = torch.from_numpy(np.concatenate([part.conditioning() for part in parts])).to(device)
        self.n_base = len(ds)
        self.extra_share = extra_share if extra is not None else 0.0
        self.blocks = ds.schema.blocks()
        self.cond_dropout = cond_dropout
        self.gen = torch.Generator().manual_seed(seed + 1000 * distributed.rank())

    @classmethod
    def _load(cls, ds: Dataset, resolution: int) -> torch.Tensor:
        images = torch.from_numpy(np.array(ds.images))
        if resolution != ds.resolution:
            images = torch.cat([cls._resize(chunk, resolution) for chunk in images.split(512)])
        return images.permute(0, 3, 1, 2)

    @staticmethod
    def _resize(chunk: torch.Tensor, resolution: int) -> torch.Tensor:
        x = F.interpolate(
            chunk.permute(0, 3, 1, 2).float(), size=(resolution, resolution), mode="bilinear", antialias=True
        )
        return x.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1)

    def _to_device(self, t: torch.Tensor) -> torch.Tensor:
        if self.device.type != "cuda":
            return t
        return t.pin_memory().to(self.device, non_blocking=True)

    def _indices(self, n: int) -> torch.Tensor:
        idx = torch.randint(self.n_base, (n,), generator=self.gen)
        if self.extra_share > 0:
            n_extra = len(self.images) - self.n_base
            from_extra = torch.rand(n, generator=self.gen) < self.extra_share
            extra_idx = self.n_base + torch.randint(n_extra, (n,), generator=self.gen)
            idx = torch.where(from_extra, extra_idx, idx)
        return idx

    def batch(self, n: int, mirror: bool) -> tuple[torch.Tensor, torch.Tensor]:
        idx = self._indices(n)
        flip = torch.rand(n, generator=self.gen) < 0.5 if mirror else torch.zeros(n, dtype=torch.bool)
        keep = self._keep_mask(n)
        idx, flip, keep = (self._to_device(t) for t in (idx, flip, keep))
        x = self.images[idx].float() / 127.5 - 1
        x = torch.where(flip[:, None, None, None], x.flip(3), x)
        layout = torch.channels_last if self.device.type == "cuda" else torch.contiguous_format
        return x.contiguous(memory_format=layout), self._apply_keep(self.cond[idx], keep)

    def sample_c(self, n: int) -> torch.Tensor:
        # Fakes get conditioning drawn from the real label distribution.
        idx, keep = self._to_device(self._indices(n)), self._to_device(self._keep_mask(n))
        return self._apply_keep(self.cond[idx], keep)

    def _keep_mask(self, n: int) -> torch.Tensor:
        """Attribute dropout: blank each attribute block ("unknown") with probability p.

        With many attributes almost every image has a unique full label, and a projection
        discriminator then lets G map each label to one image and ignore z (measured:
        pixel std across z 0.01 vs 0.12 across labels). Blanked blocks make labels shared
        and keep z in charge of everything the visible attributes leave open.
        """
        if self.cond_dropout <= 0:
            return torch.ones(n, len(self.blocks), dtype=torch.bool)
        return torch.rand(n, len(self.blocks), generator=self.gen) >= self.cond_dropout

    def _apply_keep(self, c: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        sizes = [b - a for a, b in self.blocks]
        widths = torch.tensor(sizes, device=keep.device)
        return c * keep.repeat_interleave(widths, dim=1, output_size=sum(sizes)).to(c.dtype)


def build_arch(family, cfg: TrainConfig, schema: Schema, palette: int = 0):
    """The family's Arch: defaults < the run's own (--resume) or the --init-from parent's
    arch (a resumed run or a fine-tune must match what it continues) < --arch. A new run on
    pixel art at its grid (``palette`` colours) draws from that palette where the family can."""
    parent, source = _continued_arch(cfg)
    asked = {
        name: _named_weights(value, schema) if name == "aux_attr_weights" else value
        for name, value in dict(cfg.arch).items()
    }
    recorded = family.recorded_values(parent, source) if source != "--arch" else {}
    overrides = {**recorded, **family.arch_values(asked, "--arch")}
    if "blocks" in {f.name for f in dataclasses.fields(family.Arch)}:  # per-attribute classifier heads
        overrides.setdefault("blocks", tuple(b - a for a, b in schema.blocks()))
    if palette and source == "--arch" and "palette" in {f.name for f in dataclasses.fields(family.Arch)}:
        overrides.setdefault("palette", palette)
    return family.Arch(**overrides)


def _named_weights(value: Any, schema: Schema) -> Any:
    """``smile:2.2,hat:1.5`` as one weight per attribute in the schema's order (1 for the
    rest); a tuple is left as given (its type is checked by arch_values, its count by the
    discriminator that uses it)."""
    if not isinstance(value, str):
        return value
    weights = dict.fromkeys(schema.names, 1.0)
    for item in filter(None, value.replace(" ", "").split(",")):
        name, _, number = item.partition(":")
        if name not in weights:
            raise MascotError(
                f"--arch aux_attr_weights names '{name}', which is not an attribute; "
                f"known: {', '.join(schema.names)}"
            )
        try:
            weights[name] = float(number)
            if not 0 <= weights[name] < float("inf"):  # NaN fails too; an infinite weight gives NaN losses
                raise ValueError
        except ValueError:
            raise MascotError(
                "--arch aux_attr_weights takes NAME:WEIGHT pairs (weights 0 or more) like smile:2, "
                f"got '{item}'"
            ) from None
    return tuple(weights.values())


def _continued_arch(cfg: TrainConfig) -> tuple[dict, str]:
    """The arch a run continues and the file it comes from: its resume.json's (resume
    points written since it is recorded there), else the --init-from parent's, else none."""
    if cfg.resume and (Path(cfg.out) / "resume.json").is_file():
        recorded = read_resume_meta(Path(cfg.out)).get("arch")
        if recorded is not None:
            return recorded, f"'{Path(cfg.out) / 'resume.json'}' arch"
    if cfg.init_from:
        return read_meta(cfg.init_from)["arch"], f"'{Path(cfg.init_from) / 'model.json'}' arch"
    if cfg.resume and (Path(cfg.out) / "resume.json").is_file():
        return {}, f"'{Path(cfg.out) / 'resume.json'}' (written before archs were recorded)"
    return {}, "--arch"


def augment_mode(family, cfg: TrainConfig) -> str:
    """--augment, else the mode of the run this one continues, else the family's default
    (which files written before the mode was recorded take too)."""
    if cfg.augment:
        return cfg.augment
    recorded, source = _recorded_augment(cfg)
    if recorded:
        return check_mode(recorded, f"the augment mode recorded in '{source}'")
    return family.Trainer.DEFAULT_AUGMENT


def _recorded_augment(cfg: TrainConfig) -> tuple[str | None, Path | None]:
    """The mode a run continues and the file that records it: its resume.json, else the
    --init-from parent's model.json (its training config)."""
    resume_json = Path(cfg.out) / "resume.json"
    if cfg.resume and resume_json.is_file():
        return read_resume_meta(Path(cfg.out)).get("augment"), resume_json
    if cfg.init_from:
        config = read_meta(cfg.init_from).get("training", {}).get("config", {})
        return config.get("augment"), Path(cfg.init_from) / "model.json"
    return None, None


def update_ema(G_ema: nn.Module, G: nn.Module, beta: float) -> None:
    # One multi-tensor kernel for all parameters (as timm's ModelEmaV3), not one per tensor:
    # on a GPU the per-tensor loop was a launch per parameter every step.
    with torch.no_grad():
        torch._foreach_lerp_(list(G_ema.parameters()), [p.detach() for p in G.parameters()], 1 - beta)
        torch._foreach_copy_(list(G_ema.buffers()), list(G.buffers()))


class TrainingRun:
    """Everything one run holds; ``run()`` trains until kimg or a stop request."""

    def __init__(self, cfg: TrainConfig) -> None:
        self.cfg = cfg.validate()
        self.device = pick_device(cfg.device)
        distributed.init(self.device)
        self.out = Path(cfg.out)
        self.ds = Dataset(cfg.data)
        self.schema = self.ds.schema
        self.res = cfg.resolution or (
            read_meta(cfg.init_from)["resolution"] if cfg.init_from else self.ds.resolution
        )
        self.family = get_family(cfg.family)
        self.cfg = cfg = dataclasses.replace(cfg, augment=augment_mode(self.family, cfg))
        self.arch = build_arch(self.family, cfg, self.schema, len(self._grid_palette()))
        torch.manual_seed(cfg.seed)
        np.random.seed(cfg.seed)
        self.G = self.family.Generator(self.arch, self.schema.dim, self.res).to(self.device)
        self._fill_palette_heads()
        hyper = Hyper(
            batch_size=cfg.batch_size,
            lr_g=cfg.lr_g,
            lr_d=cfg.lr_d,
            total_kimg=cfg.kimg,
            freeze_d_layers=cfg.freeze_d,
            augment=cfg.augment,
        )
        self.trainer = self.family.Trainer(self.G, self.arch, self.schema.dim, self.res, hyper, self.device)
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False)
        self.extra = self._extra_data()
        self.real = RealImages(
            self.ds, self.res, self.device, cfg.seed, self.extra, cfg.extra_share, cfg.cond_dropout
        )
        self.state = RunState()
        self.parent: str | None = None
        self.base_schema = self.schema  # whose prior this run starts from: the data's, or --init-from's
        self.amp = amp_factory(self.device, cfg.precision)
        self.stop = StopFlag()
        self._prepare()

    # --- set-up ---------------------------------------------------------------
    def _extra_data(self) -> Dataset | None:
        if not self.cfg.extra_data:
            return None
        extra = Dataset(self.cfg.extra_data)
        if extra.schema.interface() != self.schema.interface():
            raise MascotError(
                f"--extra-data {self.cfg.extra_data} has a different attribute schema from --data"
            )
        return extra

    def _prepare(self) -> None:
        if self.device.type == "cuda":
            for module in (self.G, self.G_ema, *self.trainer.modules().values()):
                module.to(memory_format=torch.channels_last)
        if self.cfg.compile:
            self._compile()
        if self.cfg.resume:
            self._resume()
        elif self.cfg.init_from:
            self._init_from(self.cfg.init_from)
        distributed.broadcast_parameters(self.G, self.G_ema, *self.trainer.modules().values())
        for opt in self.trainer.optimizers().values():
            distributed.average_gradients_before_step(opt)
        if distributed.is_main():
            self.out.mkdir(parents=True, exist_ok=True)
            (self.out / "grids").mkdir(exist_ok=True)
            (self.out / "config.json").write_text(json.dumps(dataclasses.asdict(self.cfg), indent=1))

    def _compile(self) -> None:
        """torch.compile what trains (in place: state dict keys stay as they are). The frozen
        backbone and G_ema run eagerly; compile time is printed, to weigh against the gain."""
        start = time.time()
        # Compiled kernels are cached across runs, so a resumed chunk compiles in seconds.
        cache_root = Path(os.environ.get("MASCOT_CACHE", Path.home() / ".cache" / "mascotbot"))
        os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(cache_root / "inductor"))
        self.G.compile()
        for module in self.trainer.modules().values():
            for child in module.children():
                child.compile()
        if distributed.is_main():
            print(
                f"torch.compile set up in {time.time() - start:.1f} s (kernels compile on the first steps)",
                flush=True,
            )

    def _modules(self) -> dict[str, nn.Module]:
        return {"G": self.G, "G_ema": self.G_ema, **self.trainer.modules()}

    def _resume(self) -> None:
        meta = read_resume_meta(self.out)
        if meta.get("family") != self.cfg.family or meta.get("data_fingerprint") != self.ds.fingerprint:
            raise MascotError(
                f"'{self.out}' was trained as {meta.get('family')} on data {meta.get('data_fingerprint')}; "
                f"this run asks for {self.cfg.family} on {self.ds.fingerprint}: use another --out"
            )
        load_resume(self.out, self._modules(), self.trainer.optimizers())
        self.state = RunState(**meta["state"])
        self.parent = meta.get("parent")
        if "base_schema" in meta:
            self.base_schema = self._with_data_joint(Schema.from_json(meta["base_schema"]))
        self.trainer.load_extra_state(meta.get("extra", {}))
        torch.set_rng_state(_bytes_to_tensor(meta["rng"]["torch"]))
        self.real.gen.set_state(_bytes_to_tensor(meta["rng"]["data"]))

    def _init_from(self, path: str) -> None:
        champion = load_checkpoint(path, bake=False)  # keep parametrizations: state dict keys must match
        if champion.meta["family"] != self.cfg.family or champion.resolution != self.res:
            raise MascotError(
                f"--init-from {path} is a {champion.meta['family']} model at {champion.resolution}px; "
                f"this run trains {self.cfg.family} at {self.res}px"
            )
        if champion.schema.interface() != self.schema.interface():
            raise MascotError(f"--init-from {path} has a different attribute schema from the data set")
        for target in (self.G, self.G_ema):
            target.load_state_dict(champion.G.state_dict())
        fit = load_discriminator(path, self.trainer.modules()["D"])
        if fit is not None and distributed.is_main():
            print(f"discriminator from {path}: fine-tuning against a critic that knows the data", flush=True)
            if fit.fresh:
                print(
                    f"  not in the parent's discriminator, starting fresh: {', '.join(fit.fresh)}", flush=True
                )
            if fit.unused:
                print(f"  in the parent's discriminator, no longer used: {', '.join(fit.unused)}", flush=True)
        parent_training = champion.meta.get("training", {})
        if parent_training.get("config", {}).get("augment") == self.cfg.augment:
            # The parent's discriminator goes on training here, and with it how much it overfits.
            self.trainer.augment.load_state(parent_training.get("augment_state", {}))
        self.parent = champion.version
        self.base_schema = self._with_data_joint(champion.schema)

    def _with_data_joint(self, schema: Schema) -> Schema:
        """A parent's schema, given this data's label table if it was saved before they existed."""
        return schema if schema.joint is not None else dataclasses.replace(schema, joint=self.schema.joint)

    # --- the loop ---------------------------------------------------------------
    def run(self) -> Path:
        cfg, total = self.cfg, int(self.cfg.kimg * 1000)
        self.stop.install()
        batch_per_rank = max(1, cfg.batch_size // distributed.world_size())
        stats: dict[str, list[float]] = {}
        # From the images seen, not the tick count: a run resumed with another --tick-kimg (a chunk's
        # longer ticks) still ticks one tick_kimg after where it is.
        next_tick = (self.state.nimg // (cfg.tick_kimg * 1000) + 1) * cfg.tick_kimg * 1000
        next_snapshot = self.state.nimg + cfg.snapshot_kimg * 1000
        tick_start, session_start, tick_nimg = time.time(), time.time() - self.state.seconds, self.state.nimg
        self.session_start, start_nimg, snapped = time.time(), self.state.nimg, False
        deadline = self._deadline(session_start)
        bar = tqdm(
            total=total,
            initial=self.state.nimg,
            unit="img",
            unit_scale=True,
            dynamic_ncols=True,
            disable=not distributed.is_main(),
            desc=f"{cfg.family} {self.res}px",
            mininterval=redraw_interval(),
        )
        while self.state.nimg < total and not self.stop.requested and not self._over_budget(session_start):
            losses = self._step(batch_per_rank)
            for key, value in losses.items():
                stats.setdefault(key, []).append(value)
            if self.state.step % cfg.check_every == 0:
                self._check_finite(stats)
            bar.total = reachable_total(
                self.state.nimg,
                start_nimg,
                time.time() - self.session_start,
                None if deadline is None else deadline - time.time(),
                total,
            )
            bar.update(cfg.batch_size)
            bar.set_postfix(kimg=f"{self.state.nimg / 1000:.1f}", refresh=False)
            if self.state.nimg >= next_tick or self.state.nimg >= total:
                self._check_finite(stats)  # the tick clears stats: check what it would drop
                self.state.seconds = time.time() - session_start
                self._tick(stats, time.time() - tick_start, self.state.nimg - tick_nimg)
                stats, tick_start, tick_nimg = {}, time.time(), self.state.nimg
                next_tick += cfg.tick_kimg * 1000
            if self.state.nimg >= next_snapshot or (not snapped and self._past_half_budget(deadline)):
                self._check_finite(stats)  # never overwrite a good snapshot with diverged weights
                self.state.seconds = time.time() - session_start
                self.save()
                snapped = True
                while next_snapshot <= self.state.nimg:
                    next_snapshot += cfg.snapshot_kimg * 1000
        bar.total = bar.n  # stopped by the budget or a request: the bar ends full, not at 7 %
        bar.close()
        self._check_finite(stats)
        self.state.seconds = time.time() - session_start
        self.save()
        if self.stop.requested and distributed.is_main():
            print(f"stopped at {self.state.nimg / 1000:.1f} kimg; continue with --resume --out {self.out}")
        return self.out / "model"

    def _over_budget(self, session_start: float) -> bool:
        # session_start is shifted back by earlier sessions' seconds, so a resumed run keeps its budget.
        if self.cfg.minutes > 0 and time.time() - session_start >= self.cfg.minutes * 60:
            return True
        return (
            self.cfg.session_minutes > 0 and time.time() - self.session_start >= self.cfg.session_minutes * 60
        )

    def _deadline(self, session_start: float) -> float | None:
        """When this session's time budget (--minutes, --session-minutes) runs out; None without one."""
        ends = []
        if self.cfg.minutes > 0:
            ends.append(session_start + self.cfg.minutes * 60)
        if self.cfg.session_minutes > 0:
            ends.append(self.session_start + self.cfg.session_minutes * 60)
        return min(ends) if ends else None

    def _past_half_budget(self, deadline: float | None) -> bool:
        # A run the clock ends before its first --snapshot-kimg still leaves a snapshot midway,
        # so a killed machine loses at most half of it.
        return deadline is not None and time.time() >= (self.session_start + deadline) / 2

    def _check_finite(self, stats: dict[str, list]) -> None:
        """Stop on a non-finite loss; one host sync per ``check_every`` steps, not per step."""
        latest = {k: v[-1] for k, v in stats.items() if v}
        if not latest:
            return
        values = torch.stack(
            [torch.as_tensor(v, dtype=torch.float32, device=self.device) for v in latest.values()]
        )
        finite = torch.isfinite(values).tolist()
        bad = [k for k, ok in zip(latest, finite) if not ok]
        if bad:
            raise MascotError(
                f"training diverged at {self.state.nimg / 1000:.1f} kimg: {', '.join(bad)} not finite"
            )

    def _step(self, n: int) -> dict[str, float]:
        real, c = self.real.batch(n, self.cfg.mirror)
        z_dim = self.G.z_dim
        batch = Batch(
            real=real,
            c=c,
            sample_c=self.real.sample_c,
            sample_z=lambda k: torch.randn(k, z_dim, device=self.device),
            amp=self.amp,
            kimg=self.state.nimg / 1000,
        )
        losses = self.trainer.step(batch)
        self.state.nimg += self.cfg.batch_size
        self.state.step += 1
        update_ema(self.G_ema, self.G, self._ema_beta())
        return losses

    def _ema_beta(self) -> float:
        ema_nimg = self.cfg.ema_kimg * 1000
        if self.cfg.ema_rampup:
            ema_nimg = min(ema_nimg, self.state.nimg * self.cfg.ema_rampup)
        return 0.5 ** (self.cfg.batch_size / max(ema_nimg, 1e-8))

    # --- ticks and snapshots ----------------------------------------------------
    def _tick(self, stats: dict[str, list[float]], seconds: float, nimg: int) -> None:
        self.state.tick += 1
        if not distributed.is_main():
            return
        kimg = self.state.nimg / 1000
        mem = _memory_gb(self.device)
        record = {
            "tick": self.state.tick,
            "kimg": round(kimg, 3),
            "seconds": round(self.state.seconds, 1),
            "sec_per_kimg": round(seconds / max(nimg / 1000, 1e-9), 3),
            "img_per_sec": round(nimg / max(seconds, 1e-9), 2),
            "cpumem_gb": mem[0],
            "gpumem_gb": mem[1],
            **{
                f"loss/{k}" if k.startswith("loss") or k.endswith("loss") else f"stat/{k}": value
                for k, value in _means(stats, self.device).items()
            },
        }
        with open(self.out / "stats.jsonl", "a") as fh:
            fh.write(json.dumps(record) + "\n")
        shown = " ".join(f"{k.split('/', 1)[1]} {v:.3f}" for k, v in record.items() if "/" in k)
        tqdm.write(
            f"tick {self.state.tick:<4d} kimg {kimg:<8.1f} time {_hms(self.state.seconds):<10s} "
            f"sec/kimg {record['sec_per_kimg']:<7.2f} img/s {record['img_per_sec']:<7.1f} "
            f"cpumem {mem[0]:<5.2f} gpumem {mem[1]:<5.2f} {shown}"
        )
        self._visuals()

    def _visuals(self) -> None:
        seeds = list(range(self.cfg.grid_seeds))
        row_attr = grid_attribute(self.schema, self.cfg.grid_attribute)
        grid = sample_grid(self.G_ema, self.schema, seeds, row_attr, self.device)
        grid.save(self.out / "grids" / f"grid-{self.state.nimg // 1000:06d}kimg.png")
        grid.save(self.out / "grid.png")
        loss_curves(self.out / "stats.jsonl", self.out / "losses.png")

    def serving_schema(self) -> Schema:
        """The schema saved with the model; its prior is what unset attributes are drawn from.

        The prior of the label mix this run trained on: the starting prior, moved toward the
        extra data's labels by their share of each batch. A fine-tune on mascots users liked
        thereby serves more of what they liked when they leave attributes unset, while every
        command stays valid (same interface). It carries over from parent to child, so
        nightly rounds accumulate, each by at most ``extra_share``."""
        if self.extra is None or self.cfg.extra_share == 0:
            return self.base_schema
        return self.base_schema.with_priors_moved(self.extra.labels, self.cfg.extra_share)

    def _grid_palette(self) -> list[str]:
        """The data's palette when this run trains at the data's own grid, else none."""
        if self.ds.palette is None or self.res != self.ds.resolution:
            return []
        return list(self.ds.palette)

    def _fill_palette_heads(self) -> None:
        heads = [m for m in self.G.modules() if isinstance(m, PaletteHead)]
        if not heads:
            return
        palette = self._grid_palette()
        if len(palette) != heads[0].colours.shape[0]:
            raise MascotError(
                f"the generator picks among {heads[0].colours.shape[0]} palette colours, but "
                f"'{self.cfg.data}' at {self.res} px has "
                + (
                    f"{len(palette)}"
                    if palette
                    else "no palette (pixel art built with --palette at its grid)"
                )
            )
        for head in heads:
            head.fill(torch.from_numpy(palette_array(palette)).float())

    def _grid_output(self) -> dict[str, Any]:
        """Pixel art trained at its grid (the data's card has a palette) is served with every
        cell snapped to that palette and enlarged by nearest neighbour (engine/pixelgrid.py)."""
        palette = self._grid_palette()
        return {"output": {"grid": self.res, "palette": palette}} if palette else {}

    def save(self) -> None:
        """Serving checkpoint of the EMA generator, then the resume pair; rank 0 only."""
        if not distributed.is_main():
            return
        summary = {
            "kimg": round(self.state.nimg / 1000, 3),
            "seconds": round(self.state.seconds, 1),
            "hardware": _hardware(self.device),
            "config": dataclasses.asdict(self.cfg),
            "augment_state": self.trainer.augment.state(),
        }
        save_generator(
            self.out / "model",
            self.G_ema,
            family=self.cfg.family,
            arch=self.arch,
            c_dim=self.schema.dim,
            resolution=self.res,
            schema=self.serving_schema(),
            D=self.trainer.modules()["D"],
            extra={
                "training": summary,
                "data_fingerprint": self.ds.fingerprint,
                "parent": self.parent,
                "data_sources": self.ds.card.get("sources", []),
                "metrics": {},
                **self._grid_output(),
            },
        )
        meta = {
            "family": self.cfg.family,
            "arch": dataclasses.asdict(self.arch),
            "augment": self.cfg.augment,
            "data_fingerprint": self.ds.fingerprint,
            "parent": self.parent,
            "base_schema": self.base_schema.to_json(),
            "state": dataclasses.asdict(self.state),
            "extra": self.trainer.extra_state(),
            "rng": {
                "torch": _tensor_to_bytes(torch.get_rng_state()),
                "data": _tensor_to_bytes(self.real.gen.get_state()),
            },
        }
        save_resume(self.out, self._modules(), self.trainer.optimizers(), meta)


def train(cfg: TrainConfig) -> Path:
    tune_allocator()  # keeps each step's buffers in the process instead of faulting them in again
    return TrainingRun(cfg).run()


def _tensor_to_bytes(t: torch.Tensor) -> str:
    return base64.b64encode(t.numpy().tobytes()).decode()


def _bytes_to_tensor(s: str) -> torch.Tensor:
    return torch.frombuffer(bytearray(base64.b64decode(s)), dtype=torch.uint8).clone()


def _means(stats: dict[str, list], device: torch.device) -> dict[str, float]:
    """Each stat's mean over the tick, read from the device in one transfer."""
    if not stats:
        return {}
    means = torch.stack(
        [
            torch.stack([torch.as_tensor(v, dtype=torch.float32, device=device) for v in values]).mean()
            for values in stats.values()
        ]
    )
    return dict(zip(stats, means.tolist()))


def _memory_gb(device: torch.device) -> tuple[float, float]:
    try:
        import resource

        cpu = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    except ImportError:
        cpu = 0.0
    gpu = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else 0.0
    return round(cpu, 2), round(gpu, 2)


def _hardware(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} x{distributed.world_size()}"
    return f"{platform.processor() or platform.machine()} CPU, {torch.get_num_threads()} threads"


def _hms(seconds: float) -> str:
    h, rem = divmod(int(seconds), 3600)
    m, s = divmod(rem, 60)
    return f"{h}h {m:02d}m {s:02d}s" if h else f"{m}m {s:02d}s"


def summary_of(meta: dict[str, Any]) -> str:
    t = meta.get("training", {})
    return (
        f"{meta['family']} {meta['resolution']}px, {t.get('kimg', '?')} kimg in {_hms(t.get('seconds', 0))}"
    )
