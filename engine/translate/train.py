"""Training a CycleGAN between two data set folders, on the CPU, resumably.

Two generators (A->B, B->A) and two PatchGAN discriminators, as in Zhu et al. 2017:
least-squares adversarial losses, cycle consistency L1 (lambda 10) in both directions,
the identity loss (0.5 lambda: a picture already of the target domain should pass
unchanged, which keeps colours from drifting), a 50-picture history of past fakes for the
discriminators, Adam(2e-4, betas (0.5, 0.999)) held for the first half of ``steps`` and
decayed linearly to zero over the second. Pictures are resized to ``arch.resolution`` and
flipped at random. ``holdout`` pictures of each folder, picked by a fixed shuffle (``domain.py``),
are never trained on; ``measure.py`` scores on them.

A run folder holds ``model/`` (both generators, a servable checkpoint), ``resume.*``
(all four networks, both Adams, the history pools, step, RNG: continue with ``--resume``),
``stats.jsonl``, ``losses.png`` and ``samples.png`` (held-out A | A->B | A->B->A, then the
same from B).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from tqdm import tqdm

from engine.checkpoint import CheckpointError, file_sha256, flatten_optimizer, load_state, unflatten_optimizer
from engine.errors import MascotError
from engine.pixels import to_uint8
from engine.step_run import StepRun
from engine.train.visuals import loss_curves
from engine.translate.checkpoint import save_translator
from engine.translate.domain import Domain
from engine.translate.measure import round_trips, triplet_sheet
from engine.translate.model import PatchDiscriminator, ResnetGenerator, TranslatorArch


@dataclass(frozen=True)
class TranslateTrainConfig:
    a: str = ""  # the source domain's data set folder
    b: str = ""  # the target domain's
    out: str = "runs/cyclegan"
    arch: TranslatorArch = TranslatorArch()
    batch_size: int = 1  # the paper's; instance norm makes each picture its own batch anyway
    lr: float = 2e-4
    cycle: float = 10.0  # lambda
    identity: float = 0.5  # times lambda
    pool: int = 50  # past fakes the discriminators also see
    steps: int = 4000
    minutes: float = 0.0  # stop this session after this long (0 = no limit)
    tick_steps: int = 100
    snapshot_steps: int = 500
    holdout: int = 200  # the last pictures of each folder, never trained on
    seed: int = 0
    resume: bool = False

    def validate(self) -> TranslateTrainConfig:
        if not self.a or not self.b:
            raise MascotError(
                "--a and --b are required: two data set folders (e.g. --a data/emoji --b data/tag-seen-2k-64)"
            )
        if Path(self.a).resolve() == Path(self.b).resolve():
            raise MascotError(f"--a and --b are the same folder ('{self.a}'); a translator needs two domains")
        if self.batch_size < 1 or self.steps < 1 or self.lr <= 0 or self.minutes < 0:
            raise MascotError("--batch and --steps must be at least 1, --lr positive and --minutes >= 0")
        if self.cycle < 0 or self.identity < 0 or self.pool < 0 or self.holdout < 1:
            raise MascotError("--cycle, --identity and --pool must be >= 0 and --holdout at least 1")
        if self.tick_steps < 1 or self.snapshot_steps < 1:
            raise MascotError("tick and snapshot intervals must be at least 1 step")
        return self


class HistoryPool:
    """Shrivastava et al.'s buffer of past fakes: once full, each new fake is swapped, half
    the time, for a stored one, so the discriminator keeps seeing what the generators used
    to make and the pair does not chase each other in circles."""

    def __init__(self, size: int, gen: torch.Generator) -> None:
        self.size, self.gen, self.images = size, gen, []

    def query(self, fakes: torch.Tensor) -> torch.Tensor:
        if self.size == 0:
            return fakes
        out = []
        for img in fakes.detach():
            if len(self.images) < self.size:
                self.images.append(img.clone())
                out.append(img)
            elif torch.rand((), generator=self.gen).item() < 0.5:
                k = int(torch.randint(self.size, (), generator=self.gen))
                out.append(self.images[k].clone())
                self.images[k] = img.clone()
            else:
                out.append(img)
        return torch.stack(out)


def lsgan(scores: torch.Tensor, real: bool) -> torch.Tensor:
    return F.mse_loss(scores, torch.full_like(scores, 1.0 if real else 0.0))


class TranslateRun(StepRun):
    label = "cyclegan"

    def __init__(self, cfg: TranslateTrainConfig) -> None:
        self.cfg = cfg.validate()
        self.out = Path(cfg.out)
        self.gen = torch.Generator().manual_seed(cfg.seed)
        torch.manual_seed(cfg.seed)
        res = cfg.arch.validate().resolution
        self.a, self.b = Domain(cfg.a, res, cfg.holdout, "--a"), Domain(cfg.b, res, cfg.holdout, "--b")
        self.G = {"a_to_b": ResnetGenerator(cfg.arch), "b_to_a": ResnetGenerator(cfg.arch)}
        self.D = {"a": PatchDiscriminator(cfg.arch), "b": PatchDiscriminator(cfg.arch)}
        betas = (0.5, 0.999)
        self.opt_g = torch.optim.Adam(
            [p for g in self.G.values() for p in g.parameters()], lr=cfg.lr, betas=betas
        )
        self.opt_d = torch.optim.Adam(
            [p for d in self.D.values() for p in d.parameters()], lr=cfg.lr, betas=betas
        )
        self.pools = {"a": HistoryPool(cfg.pool, self.gen), "b": HistoryPool(cfg.pool, self.gen)}
        super().__init__()
        if cfg.resume:
            self._resume()
        self.out.mkdir(parents=True, exist_ok=True)

    def lr_at(self, step: int) -> float:
        """Constant for the first half of the run, then linearly down to zero at ``steps``."""
        half = self.cfg.steps / 2
        return self.cfg.lr * min(1.0, max(0.0, (self.cfg.steps - step) / half))

    def _batch(self, domain: Domain) -> torch.Tensor:
        idx = torch.randint(domain.n_train, (self.cfg.batch_size,), generator=self.gen).tolist()
        x = domain.train_batch(idx)
        flips = torch.rand(len(idx), generator=self.gen) < 0.5
        return torch.where(flips[:, None, None, None], x.flip(3), x)

    def _train_step(self) -> dict[str, float]:
        cfg, G, D = self.cfg, self.G, self.D
        lr = self.lr_at(self.step)
        for opt in (self.opt_g, self.opt_d):
            for group in opt.param_groups:
                group["lr"] = lr
        real_a, real_b = self._batch(self.a), self._batch(self.b)
        for net in (*G.values(), *D.values()):
            net.train()

        for d in D.values():
            d.requires_grad_(False)
        fake_b, fake_a = G["a_to_b"](real_a), G["b_to_a"](real_b)
        adv = lsgan(D["b"](fake_b), True) + lsgan(D["a"](fake_a), True)
        cyc = F.l1_loss(G["b_to_a"](fake_b), real_a) + F.l1_loss(G["a_to_b"](fake_a), real_b)
        idt = real_a.new_zeros(())
        if cfg.identity:
            idt = F.l1_loss(G["a_to_b"](real_b), real_b) + F.l1_loss(G["b_to_a"](real_a), real_a)
        loss_g = adv + cfg.cycle * cyc + cfg.identity * cfg.cycle * idt
        if not torch.isfinite(loss_g):
            raise MascotError(
                f"cyclegan training diverged at step {self.step}: generator loss {loss_g.item()}"
            )
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_g.step()

        for d in D.values():
            d.requires_grad_(True)
        old_b, old_a = self.pools["b"].query(fake_b), self.pools["a"].query(fake_a)
        loss_db = 0.5 * (lsgan(D["b"](real_b), True) + lsgan(D["b"](old_b), False))
        loss_da = 0.5 * (lsgan(D["a"](real_a), True) + lsgan(D["a"](old_a), False))
        self.opt_d.zero_grad(set_to_none=True)
        (loss_da + loss_db).backward()
        self.opt_d.step()
        return {
            "g_adv": adv.item() / 2,
            "cycle": cyc.item() / 2,
            "identity": idt.item() / 2,
            "d_a": loss_da.item(),
            "d_b": loss_db.item(),
            "lr": lr,
        }

    def _tick(self, stats: dict[str, list[float]]) -> None:
        record = {
            "step": self.step,
            "seconds": round(self.seconds, 1),
            "lr": stats.pop("lr", [0.0])[-1],
            **{f"loss/{k}": float(np.mean(v)) for k, v in stats.items()},
        }
        with open(self.out / "stats.jsonl", "a") as fh:
            fh.write(json.dumps(record) + "\n")
        loss_curves(self.out / "stats.jsonl", self.out / "losses.png", x="step")
        self._samples()
        tqdm.write(
            f"step {self.step:<7d} " + " ".join(f"{k[5:]} {v:.4f}" for k, v in record.items() if "/" in k)
        )

    def domains(self) -> dict[str, dict]:
        return {"a": self.a.describe(), "b": self.b.describe()}

    def save(self) -> None:
        extra = {
            "training": {
                "steps": self.step,
                "seconds": round(self.seconds, 1),
                "config": dataclasses.asdict(self.cfg),
            }
        }
        save_translator(self.out / "model", self.G, self.domains(), extra)
        tensors: dict[str, torch.Tensor] = {}
        for prefix, nets in (("G", self.G), ("D", self.D)):
            for name, net in nets.items():
                tensors.update({f"{prefix}.{name}.{k}": v.contiguous() for k, v in net.state_dict().items()})
        flat_g, groups_g = flatten_optimizer("opt_g", self.opt_g)
        flat_d, groups_d = flatten_optimizer("opt_d", self.opt_d)
        tensors.update({**flat_g, **flat_d})
        for name, pool in self.pools.items():
            if pool.images:
                tensors[f"pool.{name}"] = torch.stack(pool.images).contiguous()
        save_file(tensors, self.out / ".resume.safetensors.tmp")
        meta = {
            "step": self.step,
            "seconds": self.seconds,
            "arch": self.cfg.arch.to_json(),
            "domains": {k: v["fingerprint"] for k, v in self.domains().items()},
            "optimizers": {"opt_g": groups_g, "opt_d": groups_d},
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
        if meta.get("domains") != {k: v["fingerprint"] for k, v in self.domains().items()}:
            raise MascotError(
                f"'{self.out}' was trained on other data than --a '{self.cfg.a}' and --b "
                f"'{self.cfg.b}': resume with the same folders, or use another --out"
            )
        weights = self.out / "resume.safetensors"
        if not weights.is_file():
            raise CheckpointError(f"nothing to resume in '{self.out}': resume.safetensors is missing")
        tensors = load_state(weights, meta.get("weights_sha256") or "")
        for prefix, nets in (("G", self.G), ("D", self.D)):
            for name, net in nets.items():
                head = f"{prefix}.{name}."
                net.load_state_dict({k[len(head) :]: v for k, v in tensors.items() if k.startswith(head)})
        unflatten_optimizer("opt_g", self.opt_g, tensors, meta["optimizers"]["opt_g"])
        unflatten_optimizer("opt_d", self.opt_d, tensors, meta["optimizers"]["opt_d"])
        for name, pool in self.pools.items():
            pool.images = list(tensors[f"pool.{name}"].unbind(0)) if f"pool.{name}" in tensors else []
        self.step, self.seconds = int(meta["step"]), float(meta["seconds"])
        self.gen.set_state(torch.tensor(meta["rng"], dtype=torch.uint8))
        torch.set_rng_state(torch.tensor(meta["torch_rng"], dtype=torch.uint8))

    def _samples(self, n: int = 6) -> None:
        rows = []
        for src, fwd, back in ((self.a, "a_to_b", "b_to_a"), (self.b, "b_to_a", "a_to_b")):
            x = src.held_out(n)
            rows.append(round_trips(self.G[fwd], self.G[back], to_uint8(x)))
        triplet_sheet([t for r in rows for t in zip(*r)], columns=n).save(self.out / "samples.png")
