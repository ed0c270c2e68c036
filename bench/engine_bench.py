"""The engine as users run it, against what this machine can do, measured in the same run.

    python bench/engine_bench.py                        # 128 and 512 px at c = 1 and 32, 12 s a level
    python bench/engine_bench.py --quick                # 5 s a level
    python bench/engine_bench.py --out runs/bench/mine.json --sizes 128 --levels 1 8 32

1. Cold start: ``mascot-engine serve`` starts as users start it (config.toml: its models, the
   upscale stage, its workers); the seconds from the process start until ``/healthz`` answers
   and until ``/readyz`` says ready.
2. The limit, just before and just after each level (the engine idle meanwhile): one process
   per engine worker, each running torch on one thread, drawing new seeds through the serving
   forward at the largest bucket, the finish at the level's size (the upscale stage) and the
   PNG encoding, all at once: their images/s summed. A level is judged against the mean of the
   two, so a machine shared with other work moves both sides alike. For c=1 the limit is one
   image at a time in one process (bucket 1): one image's raw work.
3. Served: a load generator in its own process sends single-image ``/v1/generate`` requests of
   new seeds at the level's size, from ``c`` connections for ``--seconds``: images/s, latency
   p50/p95/p99, refusals (429) and failures; served / limit.
4. c=1 p50 against one image's raw work (measured around that level, as above).

Results go to ``--out`` (default ``runs/bench/engine_bench-<time>.json``); a file git tracks is
never written over. The last line is ``served/limit at c=32: <size> px R, ...``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tracked(path: Path) -> bool:
    """Whether git tracks ``path`` (a committed result is a record, not scratch space)."""
    done = subprocess.run(
        ["git", "ls-files", "--error-unmatch", str(path)], cwd=ROOT, capture_output=True, check=False
    )
    return done.returncode == 0


# --- the engine, started as users start it --------------------------------------------------


def start_engine(config: str, env: dict) -> tuple[subprocess.Popen, str, dict]:
    import urllib.request

    port = free_port()
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "engine.cli", "serve", "--config", config, "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url, times = f"http://127.0.0.1:{port}", {}
    while time.monotonic() - started < 300:
        if proc.poll() is not None:
            raise SystemExit(f"the engine exited with {proc.returncode} before it was ready")
        for probe in ("healthz", "readyz"):
            if probe in times:
                continue
            try:
                with urllib.request.urlopen(f"{url}/{probe}", timeout=2) as r:
                    if r.status == 200:
                        times[probe] = time.monotonic() - started
            except OSError:
                pass
        if "readyz" in times:
            return proc, url, {"healthz_s": times.get("healthz"), "readyz_s": times["readyz"]}
        time.sleep(0.02)
    proc.kill()
    raise SystemExit("the engine was not ready within 300 s")


# --- the limit: one single-thread process per core ------------------------------------------

LIMIT_WORKER = """
import json, sys, time
import torch
torch.set_num_threads(1)
from engine.checkpoint import load_checkpoint
from engine.sampling import resolve
from engine.serve.app import _load_upscaler, encode_image
from engine.serve.forward import DTYPES, serving_forward
cfg = json.loads(sys.argv[1])
ck = load_checkpoint(cfg["checkpoint"], "cpu", DTYPES[cfg["precision"]])
stage = _load_upscaler(cfg["upscaler"]) if cfg["upscaler"] else None
forward = serving_forward(ck.G, ck.schema, channels_last=cfg["channels_last"])
seed = 1_000_000_000 + 10_000_000 * cfg["index"]
def draw(size, bucket):
    global seed
    reqs = [resolve(ck.schema, {}, seed + i) for i in range(bucket)]
    seed += bucket
    pixels = forward(reqs)
    for p in pixels:
        encode_image(p if size == ck.resolution else stage.apply(p[None], size)[0], "png")
print("ready", flush=True)
for line in sys.stdin:
    job = json.loads(line)
    draw(job["size"], job["bucket"])  # the shapes are warm before the clock starts
    n, start = 0, time.perf_counter()
    while n == 0 or time.perf_counter() - start < job["seconds"]:
        draw(job["size"], job["bucket"])
        n += job["bucket"]
    print(json.dumps({"images": n, "seconds": time.perf_counter() - start}), flush=True)
"""


class Limit:
    """``cores`` drawing processes kept alive for the whole run, asked for a timed burst at once."""

    def __init__(self, cores: int, spec: dict, env: dict) -> None:
        self.procs = [
            subprocess.Popen(
                [sys.executable, "-c", LIMIT_WORKER, json.dumps({**spec, "index": i})],
                cwd=ROOT,
                env={**env, "OMP_NUM_THREADS": "1"},
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            for i in range(cores)
        ]
        for p in self.procs:
            if p.stdout.readline().strip() != "ready":
                raise SystemExit("a limit process failed to start")

    def images_per_s(self, size: int, bucket: int, seconds: float, procs: int | None = None) -> float:
        chosen = self.procs[: procs or len(self.procs)]
        for p in chosen:
            p.stdin.write(json.dumps({"size": size, "bucket": bucket, "seconds": seconds}) + "\n")
            p.stdin.flush()
        results = [json.loads(p.stdout.readline()) for p in chosen]
        return sum(r["images"] / r["seconds"] for r in results)

    def close(self) -> None:
        for p in self.procs:
            p.stdin.close()
            p.wait(timeout=30)


# --- the load: single-image generates of new seeds, from a process of its own ----------------


async def _level(url: str, size: int, concurrency: int, seconds: float, seed0: int) -> dict:
    import aiohttp

    latencies, refused, failed = [], 0, 0
    seeds = iter(range(seed0, seed0 + 10_000_000))
    stop = time.perf_counter() + seconds

    async def client(session) -> None:
        nonlocal refused, failed
        while time.perf_counter() < stop:
            t = time.perf_counter()
            async with session.post(f"{url}/v1/generate", json={"seed": next(seeds), "size": size}) as r:
                await r.read()
                if r.status == 200:
                    latencies.append(time.perf_counter() - t)
                elif r.status == 429:
                    refused += 1
                    await asyncio.sleep(float(r.headers.get("Retry-After", "1")))
                else:
                    failed += 1

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        start = time.perf_counter()
        await asyncio.gather(*(client(session) for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
    ms = np.array(latencies or [float("nan")]) * 1000
    return {
        "images_per_s": len(latencies) / elapsed,
        "p50_ms": float(np.percentile(ms, 50)),
        "p95_ms": float(np.percentile(ms, 95)),
        "p99_ms": float(np.percentile(ms, 99)),
        "served": len(latencies),
        "refused_429": refused,
        "failed": failed,
    }


def load(url: str, size: int, concurrency: int, seconds: float, seed0: int) -> dict:
    job = json.dumps([url, size, concurrency, seconds, seed0])
    done = subprocess.run(
        [sys.executable, __file__, "--load", job], cwd=ROOT, capture_output=True, text=True, check=False
    )
    if done.returncode:
        raise SystemExit(f"the load generator failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.splitlines()[-1])


# --- the run ----------------------------------------------------------------------------------


def engine_spec(config: str) -> tuple[dict, int]:
    """What the engine will serve (the default model, its stage, its layout) and its worker count."""
    from engine.serve.cli import serve_config

    flags = argparse.Namespace(config=config, host=None, port=None, model=None, device="cpu")
    cfg = serve_config(flags)[0]
    path = dict(cfg.models)[cfg.default_model]
    spec = {
        "checkpoint": path,
        "precision": cfg.precision,
        "upscaler": cfg.upscaler if cfg.upscaler and (Path(cfg.upscaler) / "upscaler.json").is_file() else "",
        "channels_last": cfg.channels_last,
        "bucket": max(cfg.buckets),
    }
    return spec, cfg.workers


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="config.toml", help="the settings the engine serves with")
    ap.add_argument("--sizes", type=int, nargs="+", default=[128, 512])
    ap.add_argument("--levels", type=int, nargs="+", default=[1, 32], help="concurrent connections")
    ap.add_argument("--seconds", type=float, default=12.0, help="length of each level")
    ap.add_argument("--limit-seconds", type=float, default=3.0, help="length of each limit measurement")
    ap.add_argument("--quick", action="store_true", help="5 s levels, 2 s limits")
    ap.add_argument("--out", help="result JSON (default runs/bench/engine_bench-<time>.json)")
    ap.add_argument("--load", help=argparse.SUPPRESS)  # internal: run as the load generator process
    args = ap.parse_args()
    if args.load:
        url, size, concurrency, seconds, seed0 = json.loads(args.load)
        print(json.dumps(asyncio.run(_level(url, size, concurrency, seconds, seed0))))
        return
    if args.quick:
        args.seconds, args.limit_seconds = 5.0, 2.0
    out = Path(args.out or ROOT / "runs" / "bench" / time.strftime("engine_bench-%Y%m%d-%H%M%S.json"))
    if tracked(out):
        raise SystemExit(f"{out} is a committed file; give --out a new path")

    env = {**os.environ, "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE")}
    spec, workers = engine_spec(args.config)
    limit = Limit(workers, spec, env)
    try:
        proc, url, cold = start_engine(args.config, env)
        try:
            rows = {}
            for i, size in enumerate(args.sizes):
                load(url, size, 4, 2.0, 500_000_000 + 10_000_000 * i)  # the stage and every bucket warm
                for j, c in enumerate(args.levels):
                    # c=1 is judged against one image alone on one worker, the others against all cores.
                    bucket, procs = (1, 1) if c == 1 else (spec["bucket"], None)
                    before = limit.images_per_s(size, bucket, args.limit_seconds, procs)
                    row = load(url, size, c, args.seconds, 100_000_000 * (i + 1) + 10_000_000 * j)
                    after = limit.images_per_s(size, bucket, args.limit_seconds, procs)
                    row["limit_images_per_s"] = (before + after) / 2
                    row["served_over_limit"] = row["images_per_s"] / row["limit_images_per_s"]
                    rows[f"{size}px c={c}"] = row
        finally:
            proc.terminate()
            proc.wait(timeout=60)
    finally:
        limit.close()

    print(
        f"engine bench: `mascot-engine serve --config {args.config}`, {workers} workers, "
        f"model {spec['checkpoint']} ({spec['precision']}), stage {spec['upscaler'] or 'none'}"
    )
    print(f"cold start: /healthz after {cold['healthz_s']:.2f} s, ready after {cold['readyz_s']:.2f} s")
    single = {s: 1000 / rows[f"{s}px c=1"]["limit_images_per_s"] for s in args.sizes if f"{s}px c=1" in rows}
    print(
        "one image's raw work (bucket 1, forward + finish + PNG, one process, around c=1): "
        + ", ".join(f"{s} px {ms:.1f} ms" for s, ms in single.items())
    )
    print(
        f"{'level':<14}{'img/s':>8}{'limit':>8}{'/limit':>8}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}"
        f"{'429':>6}{'fail':>6}"
    )
    for name, r in rows.items():
        print(
            f"{name:<14}{r['images_per_s']:>8.1f}{r['limit_images_per_s']:>8.1f}{r['served_over_limit']:>8.2f}"
            f"{r['p50_ms']:>9.1f}{r['p95_ms']:>9.1f}{r['p99_ms']:>9.1f}{r['refused_429']:>6}{r['failed']:>6}"
        )
    c1 = {s: rows[f"{s}px c=1"]["p50_ms"] - single[s] for s in args.sizes if f"{s}px c=1" in rows}
    if c1:
        print("c=1 p50 - one image's raw work: " + ", ".join(f"{s} px {d:+.1f} ms" for s, d in c1.items()))
    result = {
        "config": args.config,
        "workers": workers,
        "spec": spec,
        "cold_start": cold,
        "single_ms": {str(s): ms for s, ms in single.items()},
        "levels": rows,
        "c1_p50_over_single_ms": {str(s): d for s, d in c1.items()},
        "seconds": args.seconds,
        "limit_seconds": args.limit_seconds,
        "load_average": os.getloadavg(),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    print(f"wrote {out}")
    at32 = [
        f"{s} px {rows[f'{s}px c=32']['served_over_limit']:.2f}" for s in args.sizes if f"{s}px c=32" in rows
    ]
    if at32:
        print("served/limit at c=32: " + ", ".join(at32))


if __name__ == "__main__":
    main()
