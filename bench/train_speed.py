"""Training speed of every family: images per second through ``Trainer.step``.

    python bench/train_speed.py [--families dcgan projected] [--res 64 128] [--batch 32] [--steps 5]
    python bench/train_speed.py --res 128 --batch 256 --steps 20 --compile projected   # on a GPU

Random images and labels stand in for data (speed does not depend on content). Prints a
table of img/s, sec/kimg and model FLOPs utilisation per family and resolution on this
machine's device, with bf16 autocast and channels_last on CUDA as in training, and writes it
as JSON. MFU = FLOPs of one training step (counted by ``torch.utils.flop_counter``: convs and
matrix products, forward and backward) / step time / the chip's dense bf16 peak (``--peak-tflops``;
the default knows Hopper's datasheet figure, 989 TFLOP/s; none on a CPU). ``--compile NAME``
adds a row with G and D's heads under ``torch.compile``, and its compile time.
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


PEAK_BF16_TFLOPS = {"H100": 989.4, "H200": 989.4, "H800": 989.4, "GH200": 989.4, "A100": 312.0}


def peak_tflops(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((v for k, v in PEAK_BF16_TFLOPS.items() if k in name), None)


def step_flops(trainer, step) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        trainer.step(step)
    return counter.get_total_flops()


def measure(
    name: str,
    res: int,
    batch: int,
    steps: int,
    device: torch.device,
    compile_: bool = False,
    peak: float | None = None,
) -> dict:
    family = get_family(name)
    arch = arch_for(family, C_DIM)
    G = family.Generator(arch, C_DIM, res).to(device)
    trainer = family.Trainer(G, arch, C_DIM, res, Hyper(batch_size=batch), device)
    if device.type == "cuda":
        for m in (G, *trainer.modules().values()):
            m.to(memory_format=torch.channels_last)
    real = torch.rand(batch, 3, res, res, device=device) * 2 - 1
    c = torch.nn.functional.one_hot(torch.randint(C_DIM, (batch,)), C_DIM).float().to(device)
    step = Batch(
        real=real,
        c=c,
        sample_c=lambda n: c[:n],
        sample_z=lambda n: torch.randn(n, G.z_dim, device=device),
        amp=amp_factory(device, "auto") if device.type == "cuda" else contextlib.nullcontext,
    )
    flops = step_flops(trainer, step)  # also the warm-up: allocations, cudnn autotune
    compile_s = 0.0
    if compile_:
        start = time.perf_counter()
        G.compile()
        for module in trainer.modules().values():
            for child in module.children():
                child.compile()
        for _ in range(2):  # kernels compile on the first calls (train mode, then the shapes settle)
            trainer.step(step)
        _sync(device)
        compile_s = time.perf_counter() - start
    trainer.step(step)
    _sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        trainer.step(step)
    _sync(device)
    seconds = time.perf_counter() - start
    params = sum(p.numel() for p in G.parameters()) / 1e6
    per_step = seconds / steps
    mfu = flops / per_step / (peak * 1e12) if peak else None
    return {
        "family": name + ("+compile" if compile_ else ""),
        "res": res,
        "batch": batch,
        "img_per_s": batch * steps / seconds,
        "sec_per_kimg": seconds / (batch * steps / 1000),
        "g_params_m": params,
        "gflop_per_step": flops / 1e9,
        "tflops": flops / per_step / 1e12,
        "mfu": mfu,
        "compile_s": compile_s,
    }


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--families", nargs="+", default=list(FAMILY_NAMES))
    ap.add_argument("--res", nargs="+", type=int, default=[64, 128])
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--compile", nargs="*", default=[], metavar="FAMILY", help="also time these compiled")
    ap.add_argument("--peak-tflops", type=float, help="the device's dense bf16 peak (default: known GPUs')")
    ap.add_argument("--out", default="bench/train_speed.json")
    args = ap.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    where = (
        torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else f"CPU, {torch.get_num_threads()} threads"
    )
    peak = args.peak_tflops or peak_tflops(device)
    print(f"training speed on {where}, batch {args.batch}, bf16 peak {peak or 'unknown'} TFLOP/s")
    print(
        f"{'family':<19}{'res':>5}{'img/s':>10}{'sec/kimg':>10}{'GFLOP/step':>12}{'MFU':>8}"
        f"{'compile s':>11}{'G params (M)':>14}"
    )
    runs = [(name, False) for name in args.families] + [(name, True) for name in args.compile]
    rows = []
    for name, compiled in runs:
        for res in args.res:
            try:
                row = measure(name, res, args.batch, args.steps, device, compiled, peak)
            except Exception as error:  # one family failing on a device must not lose the others' rows
                rows.append(
                    {
                        "family": name + ("+compile" if compiled else ""),
                        "res": res,
                        "error": (str(error).splitlines() or [type(error).__name__])[0],
                    }
                )
                print(f"{rows[-1]['family']:<19}{res:>5}  failed: {rows[-1]['error']}", flush=True)
                continue
            rows.append(row)
            mfu = f"{row['mfu']:.2%}" if row["mfu"] is not None else "n/a"
            print(
                f"{row['family']:<19}{res:>5}{row['img_per_s']:>10.1f}{row['sec_per_kimg']:>10.2f}"
                f"{row['gflop_per_step']:>12.1f}{mfu:>8}{row['compile_s']:>11.1f}{row['g_params_m']:>14.2f}",
                flush=True,
            )
            # Written after every row: a run stopped at a deadline keeps what it measured.
            write(args.out, {"device": where, "batch": args.batch, "peak_bf16_tflops": peak, "rows": rows})
    print(f"wrote {args.out}")


def write(path: str, table: dict) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(table, indent=1))


if __name__ == "__main__":
    main()
