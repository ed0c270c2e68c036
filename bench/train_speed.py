"""Training speed of every family: images per second through ``Trainer.step``.

    python bench/train_speed.py [--families dcgan projected] [--res 64 128] [--batch 32] [--steps 5]

Random images and labels stand in for data (speed does not depend on content). Prints a
table of img/s and sec/kimg per family and resolution on this machine's device, with bf16
autocast on CUDA as in training, and writes it as JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import time
from pathlib import Path

import torch

from engine.models import FAMILY_NAMES, get_family
from engine.models.base import Batch, Hyper
from engine.train.loop import amp_factory

C_DIM = 40  # about the DiceBear schema's conditioning size


def arch_for(family, c_dim: int):
    fields = family.Arch.__dataclass_fields__
    return family.Arch(blocks=(c_dim,)) if "blocks" in fields else family.Arch()


def measure(name: str, res: int, batch: int, steps: int, device: torch.device) -> dict:
    family = get_family(name)
    arch = arch_for(family, C_DIM)
    G = family.Generator(arch, C_DIM, res).to(device)
    trainer = family.Trainer(G, arch, C_DIM, res, Hyper(batch_size=batch), device)
    if device.type == "cuda":
        for m in (G, *trainer.modules().values()):
            m.to(memory_format=torch.channels_last)
    real = torch.rand(batch, 3, res, res, device=device) * 2 - 1
    c = torch.nn.functional.one_hot(torch.randint(C_DIM, (batch,)), C_DIM).float().to(device)
    step = Batch(real=real, c=c, sample_c=lambda n: c[:n], sample_z=lambda n: torch.randn(n, G.z_dim, device=device),
                 amp=amp_factory(device, "auto") if device.type == "cuda" else contextlib.nullcontext)  # fmt: skip
    trainer.step(step)  # warm-up (allocations, cudnn autotune)
    _sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        trainer.step(step)
    _sync(device)
    seconds = time.perf_counter() - start
    params = sum(p.numel() for p in G.parameters()) / 1e6
    return {"family": name, "res": res, "img_per_s": batch * steps / seconds,
            "sec_per_kimg": seconds / (batch * steps / 1000), "g_params_m": params}  # fmt: skip


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--families", nargs="+", default=list(FAMILY_NAMES))
    ap.add_argument("--res", nargs="+", type=int, default=[64, 128])
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--out", default="bench/train_speed.json")
    args = ap.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"training speed on {where}, batch {args.batch}")
    print(f"{'family':<11}{'res':>5}{'img/s':>10}{'sec/kimg':>10}{'G params (M)':>14}")
    rows = []
    for name in args.families:
        for res in args.res:
            try:
                row = measure(name, res, args.batch, args.steps, device)
            except RuntimeError as error:  # one family failing on a device must not lose the others' rows
                rows.append({"family": name, "res": res, "error": str(error).splitlines()[0]})
                print(f"{name:<11}{res:>5}  failed: {rows[-1]['error']}", flush=True)
                continue
            rows.append(row)
            print(f"{name:<11}{res:>5}{row['img_per_s']:>10.1f}{row['sec_per_kimg']:>10.1f}{row['g_params_m']:>14.2f}", flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"device": where, "batch": args.batch, "rows": rows}, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
