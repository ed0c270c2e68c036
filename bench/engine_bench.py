"""Engine latency and throughput: the HTTP service with micro-batching vs. one-at-a-time.

    python bench/engine_bench.py --checkpoint checkpoints/default [--requests 256] [--out bench/engine_bench.json]

For each concurrency level (1, 8, 32, 128) it sends single-image /v1/generate requests
(distinct seeds, so the LRU cache never answers) to a real server on loopback, and prints
latency p50/p95/p99 and images/s. The baseline is the same generator called one request
at a time in-process (no HTTP, no batching): the speed a naive bot would get.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import time
from pathlib import Path

import aiohttp
import numpy as np
import torch
from aiohttp import web

from engine.checkpoint import load_checkpoint
from engine.sampling import render, resolve
from engine.serve.app import EngineService, ServeConfig

LEVELS = (1, 8, 32, 128)
DTYPES = {"fp64": torch.float64, "fp32": torch.float32}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def one_at_a_time(checkpoint: str, n: int, device: str, precision: str) -> dict:
    ck = load_checkpoint(checkpoint, device, DTYPES[precision])
    render(ck.G, ck.schema, [resolve(ck.schema, {}, 0)], device)  # warm-up
    latencies = []
    start = time.perf_counter()
    for seed in range(n):
        t = time.perf_counter()
        render(ck.G, ck.schema, [resolve(ck.schema, {}, 10_000 + seed)], device)
        latencies.append(time.perf_counter() - t)
    return summarize(latencies, time.perf_counter() - start)


def summarize(latencies: list[float], seconds: float) -> dict:
    ms = np.array(latencies) * 1000
    return {"p50_ms": float(np.percentile(ms, 50)), "p95_ms": float(np.percentile(ms, 95)),
            "p99_ms": float(np.percentile(ms, 99)), "images_per_s": len(latencies) / seconds, "n": len(latencies)}  # fmt: skip


async def level(session: aiohttp.ClientSession, url: str, concurrency: int, n: int, seed0: int) -> dict:
    seeds = iter(range(seed0, seed0 + n))
    latencies: list[float] = []

    async def worker() -> None:
        for seed in seeds:
            t = time.perf_counter()
            async with session.post(url, json={"seed": seed}) as r:
                await r.read()
                if r.status != 200:
                    raise RuntimeError(f"HTTP {r.status}: {await r.text()}")
            latencies.append(time.perf_counter() - t)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return summarize(latencies, time.perf_counter() - start)


async def served(checkpoint: str, n: int, device: str, window_ms: float, max_batch: int, precision: str) -> dict:
    cfg = ServeConfig(models=(("default", checkpoint),), device=device, batch_window_ms=window_ms, precision=precision,
                      max_batch=max_batch, queue_size=4096, cache_size=1, jobs_dir="/tmp/mascot-bench-jobs")  # fmt: skip
    runner = web.AppRunner(EngineService(cfg).app(), access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    url = f"http://127.0.0.1:{port}/v1/generate"
    results = {}
    try:
        connector = aiohttp.TCPConnector(limit=256)
        async with aiohttp.ClientSession(connector=connector) as session:
            await level(session, url, 4, 16, 0)  # warm-up
            for i, c in enumerate(LEVELS):
                results[c] = await level(session, url, c, max(n, 2 * c), 1_000_000 * (i + 1))
    finally:
        await runner.cleanup()
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", default="checkpoints/default")
    ap.add_argument("--requests", type=int, default=256, help="requests per concurrency level")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--window-ms", type=float, default=5.0)
    ap.add_argument("--max-batch", type=int, default=64)
    ap.add_argument("--precision", choices=sorted(DTYPES), default="fp64", help="as [engine] precision")
    ap.add_argument("--out", default="bench/engine_bench.json")
    args = ap.parse_args()
    meta = load_checkpoint(args.checkpoint).meta
    base = one_at_a_time(args.checkpoint, min(args.requests, 128), args.device, args.precision)
    rows = asyncio.run(served(args.checkpoint, args.requests, args.device, args.window_ms, args.max_batch,
                              args.precision))  # fmt: skip
    title = (f"{meta['family']} {meta['resolution']}px, {args.precision}, on {args.device} "
             f"({torch.get_num_threads()} threads)")  # fmt: skip
    print(f"engine bench: {title}")
    print(f"{'mode':<22}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'img/s':>9}{'vs 1-at-a-time':>16}")
    print(f"{'one at a time':<22}{base['p50_ms']:>9.1f}{base['p95_ms']:>9.1f}{base['p99_ms']:>9.1f}{base['images_per_s']:>9.1f}{'1.0x':>16}")
    for c, r in rows.items():
        speedup = r["images_per_s"] / base["images_per_s"]
        print(f"{f'served, concurrency {c}':<22}{r['p50_ms']:>9.1f}{r['p95_ms']:>9.1f}{r['p99_ms']:>9.1f}"
              f"{r['images_per_s']:>9.1f}{speedup:>15.1f}x")  # fmt: skip
    out = {"model": title, "one_at_a_time": base, "served": {str(k): v for k, v in rows.items()}}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
