"""Training speed: images per second through ``Trainer.step``, and how close it comes to the chip.

    python bench/train_speed.py --before-after [--res 64 128] [--rounds 2]      # on a CPU
    python bench/train_speed.py [--families dcgan projected] [--res 64 128] [--batch 32] [--steps 5]
    python bench/train_speed.py --res 128 --batch 256 --steps 20 --compile projected   # on a GPU

``--before-after`` times the flagship's family (projected) as the trainer ran it before its
CPU tuning (glibc's default allocator, eager, batch 32) and as a ``mascot-engine chunk`` trains
it now at that size (allocator thresholds raised by the command itself, the recipe's batch of
64, ``--compile`` at 128 px only), each in its own process, the two taking turns for
``--rounds`` rounds. In the same run it measures what this
CPU attains on a 3x3 convolution's forward and backward (the bulk of a step), and prints each
row's achieved GFLOP/s, its ratio to that, and after ÷ before.

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
import subprocess
import sys
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


def attainable_conv_gflops(seconds: float = 3.0) -> float:
    """GFLOP/s of a 3x3 convolution's forward and backward at a shape a training step spends
    most time in (batch 32, 64 -> 64 channels, 32x32), the best of its layouts: the CPU's
    attainable rate for this work, the yardstick for a whole step."""
    best = 0.0
    for layout in (torch.contiguous_format, torch.channels_last):
        conv = torch.nn.Conv2d(64, 64, 3, padding=1, bias=False).to(memory_format=layout)
        x = torch.randn(32, 64, 32, 32).to(memory_format=layout).requires_grad_()
        flops = 3 * 2 * 32 * 64 * 64 * 9 * 32 * 32  # forward, grad of input, grad of weight
        conv(x).sum().backward()  # warm-up
        done, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds / 2:
            conv(x).sum().backward()
            done += 1
        best = max(best, flops * done / (time.perf_counter() - start) / 1e9)
    return best


# Before: how training ran before its CPU tuning (default allocator, eager, --batch).
# After: what a time-boxed chunk runs at that size (engine/train/targets.py): allocator
# thresholds raised by the training command itself, the recipe's batch, and torch.compile
# where the recipe compiles (at 128 px; at 64 px it does not pay).
SETTINGS = ("before", "after")
RECIPES = {128: "flagship", 64: "flagship-64"}


def after_recipe(res: int, batch: int) -> tuple[int, bool]:
    """(batch, compile) of the chunk that trains at ``res``; ``batch`` and eager elsewhere."""
    from engine.train.targets import target

    if res not in RECIPES:
        return batch, False
    recipe = target(RECIPES[res])
    return recipe.batch, recipe.compile


def child_row(setting: str, res: int, batch: int, steps: int) -> dict:
    """One row, measured in this (fresh) process."""
    from engine.train.allocator import tune_allocator

    compile_ = False
    if setting == "after":
        tune_allocator()
        recipe_batch, compile_ = after_recipe(res, batch)
        steps = max(1, steps * batch // recipe_batch)  # about as many images as the before row
        batch = recipe_batch
    row = measure("projected", res, batch, steps, torch.device("cpu"), compile_)
    return {**row, "setting": setting, "gflops": row["tflops"] * 1000}


def before_after(resolutions: list[int], batch: int, steps: int, rounds: int, out: str) -> None:
    """Each setting in its own process (an allocator setting cannot be undone in place), the
    two taking turns; the best round of each counts, as the least disturbed by other work."""
    attainable = attainable_conv_gflops()
    print(f"CPU, {torch.get_num_threads()} threads: a 3x3 conv fwd+bwd attains {attainable:.1f} GFLOP/s")
    print(f"{'setting':<8}{'res':>5}{'batch':>6}{'img/s':>9}{'GFLOP/s':>9}{'ratio':>7}{'compile s':>11}")
    best: dict[tuple[str, int], dict] = {}
    for _ in range(rounds):
        for res in resolutions:
            for setting in SETTINGS:
                row = _in_child(setting, res, batch, steps)
                key = (setting, res)
                if key not in best or row["img_per_s"] > best[key]["img_per_s"]:
                    best[key] = row
                print(
                    f"{setting:<8}{res:>5}{row['batch']:>6}{row['img_per_s']:>9.1f}{row['gflops']:>9.1f}"
                    f"{row['gflops'] / attainable:>7.2f}{row['compile_s']:>11.1f}",
                    flush=True,
                )
    summary = []
    for res in resolutions:
        b, a = best[("before", res)], best[("after", res)]
        summary.append(
            {
                "res": res,
                "before_img_per_s": b["img_per_s"],
                "after_img_per_s": a["img_per_s"],
                "speedup": a["img_per_s"] / b["img_per_s"],
                "before_ratio": b["gflops"] / attainable,
                "after_ratio": a["gflops"] / attainable,
            }
        )
        print(
            f"{res}px: after ÷ before {a['img_per_s'] / b['img_per_s']:.2f}x "
            f"({b['img_per_s']:.1f} -> {a['img_per_s']:.1f} img/s); achieved ÷ attainable "
            f"{b['gflops'] / attainable:.2f} -> {a['gflops'] / attainable:.2f}"
        )
    write(
        out,
        {
            "attainable_conv_gflops": attainable,
            "batch": batch,
            "rows": list(best.values()),
            "summary": summary,
        },
    )
    print(f"wrote {out}")


def _in_child(setting: str, res: int, batch: int, steps: int) -> dict:
    cmd = [sys.executable, __file__, "--child", setting, "--res", str(res), "--batch", str(batch)]
    done = subprocess.run([*cmd, "--steps", str(steps)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{setting} at {res}px failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


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
    ap.add_argument("--out", help="JSON table (default: runs/train_speed.json)")
    ap.add_argument("--before-after", action="store_true", help="the CPU tuning's before/after table")
    ap.add_argument("--rounds", type=int, default=2, help="--before-after: turns each setting takes")
    ap.add_argument("--child", choices=sorted(SETTINGS), help=argparse.SUPPRESS)
    args = ap.parse_args()
    out = args.out or "runs/train_speed.json"
    if args.child:
        print(json.dumps(child_row(args.child, args.res[0], args.batch, args.steps)))
        return
    if args.before_after:
        before_after(args.res, args.batch, args.steps, args.rounds, out)
        return
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
            write(out, {"device": where, "batch": args.batch, "peak_bf16_tflops": peak, "rows": rows})
    print(f"wrote {out}")


def write(path: str, table: dict) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(table, indent=1))


if __name__ == "__main__":
    main()
