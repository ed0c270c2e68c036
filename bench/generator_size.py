"""How wide the flagship generator may be and still serve fast on a CPU.

    python bench/generator_size.py [--widths 16 24 32] [--repeats 30]

For each ``g_channels`` (the width at 64px; FastGAN's table doubles it per halving of
resolution up to ``g_max_channels``) at 128px, prints parameters, the served fp16 size, and
the median batch-1 forward time on this CPU in fp64, fp32 and bf16 (spectral norm baked, as
served). The constraint for the shipped model: at most 50 MB and 25 ms in the serving
precision on the 2-core CPU.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from engine.checkpoint import bake_parametrizations
from engine.models.projected import Arch, Generator

C_DIM, BLOCKS = 36, (6, 9, 5, 4, 2, 2, 2, 6)  # the DiceBear schema's conditioning
DTYPES = {"fp64": torch.float64, "fp32": torch.float32, "bf16": torch.bfloat16}


def forward_ms(G: torch.nn.Module, dtype: torch.dtype, repeats: int) -> float:
    G = G.to(dtype)
    z, c = torch.randn(1, G.z_dim, dtype=dtype), torch.zeros(1, C_DIM, dtype=dtype)
    times = []
    with torch.inference_mode():
        for i in range(repeats + 3):
            start = time.perf_counter()
            G(z, c)
            if i >= 3:  # warm-up: allocations, oneDNN primitives
                times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--widths", nargs="+", type=int, default=[16, 24, 32])
    ap.add_argument("--max-channels", type=int, default=256)
    ap.add_argument("--res", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=30)
    args = ap.parse_args()
    print(
        f"batch-1 forward on the CPU, {torch.get_num_threads()} threads, {args.res}px, median of "
        f"{args.repeats}"
    )
    print(f"{'g_channels':>10}{'params (M)':>12}{'fp16 MB':>9}" + "".join(f"{k + ' ms':>10}" for k in DTYPES))
    for width in args.widths:
        arch = Arch(g_channels=width, g_max_channels=args.max_channels, blocks=BLOCKS)
        G = bake_parametrizations(Generator(arch, C_DIM, args.res).eval())
        n = sum(p.numel() for p in G.parameters())
        cells = "".join(f"{forward_ms(G, dtype, args.repeats):>10.1f}" for dtype in DTYPES.values())
        print(f"{width:>10}{n / 1e6:>12.2f}{n * 2 / 1e6:>9.1f}{cells}", flush=True)


if __name__ == "__main__":
    main()
