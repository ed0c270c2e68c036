"""Engine throughput and latency against the machine's raw limit, measured in the same run.

    python bench/engine_bench.py --quick                      # under a minute on a quiet 2-core CPU
    python bench/engine_bench.py --baseline 4ac68c1           # full run, plus the fp64 service of that commit

1. Raw limit, in this process with the server's thread count: the best per-image time of the
   serving forward over the batch sizes, plus PNG encoding, for fp32, bf16 and fp64. The limit
   is images/s at that cost; the fastest precision's is the one to beat. The full run also
   measures the served precision up to batch 32 and suggests a bucket list from that curve.
2. Precision check: the largest pixel difference of fp32 and bf16 against fp64 on the same
   seeds, and a grid beside the JSON (rows: fp32, |fp32 - fp64| x16, bf16, |bf16 - fp64| x16, fp64).
3. Served: the engine in a process of its own, the load generator in another, single-image
   /v1/generate requests with distinct seeds (the cache never answers) at concurrency
   1, 8, 32 and 128: images/s, served / limit, and latency p50/p95/p99. Then c=1 once more,
   in turns with a raw forward + encode here, for its overhead on a machine that may be shared.
4. With --baseline REF: the same load against the engine as it was at git REF, served as it
   was then (fp64, max_batch 32, a 5 ms window), for the ratio of images/s at c=32.

The last line is ``served/limit at c=32: R``; the JSON goes to --out.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as `mascot-engine serve` sets it (engine/serve/cli.py)
LEVELS = (1, 8, 32, 128)

# Runs in its own interpreter so that --baseline can put an older engine first on sys.path.
SERVER = """
import dataclasses, json, sys
import torch
from aiohttp import web
from engine.serve.app import EngineService, ServeConfig
kw, port, threads = json.loads(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
if threads:
    torch.set_num_threads(threads)
fields = {f.name for f in dataclasses.fields(ServeConfig)}
kw = {k: tuple(tuple(x) if isinstance(x, list) else x for x in v) if isinstance(v, list) else v
      for k, v in kw.items() if k in fields}
web.run_app(EngineService(ServeConfig(**kw)).app(), host="127.0.0.1", port=port, print=None, access_log=None,
            backlog=1024)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def summarize(latencies: list[float], seconds: float) -> dict:
    ms = np.array(latencies) * 1000
    return {
        "p50_ms": float(np.percentile(ms, 50)),
        "p95_ms": float(np.percentile(ms, 95)),
        "p99_ms": float(np.percentile(ms, 99)),
        "images_per_s": len(latencies) / seconds,
        "n": len(latencies),
    }


# --- 1 + 2: raw limit and precision, in this process ----------------------------------


def raw_limits(
    checkpoint: str,
    device: str,
    precisions: list[str],
    sizes: list[tuple[int, ...]],
    reps: list[int],
    channels_last: bool,
) -> tuple[dict, dict]:
    """Best forward ms per image at each batch size of ``sizes[i]`` (``reps[i]`` timed passes) for
    ``precisions[i]``, and PNG encoding; the limit is the best size's forward + encoding."""
    import torch

    from engine.checkpoint import load_checkpoint
    from engine.sampling import resolve
    from engine.serve.app import encode_image
    from engine.serve.forward import DTYPES, serving_forward

    limits, images, forwards = {}, {}, {}
    for precision, buckets, n_reps in zip(precisions, sizes, reps):
        ck = load_checkpoint(checkpoint, device, DTYPES[precision])
        fwd = serving_forward(ck.G, ck.schema, channels_last=channels_last and device == "cpu")
        requests = [resolve(ck.schema, {}, 5_000 + i) for i in range(max(8, *buckets))]  # 8 for the grid
        per_bucket = {}
        for b in buckets:
            fwd(requests[:b])  # warm-up: the kernels pick their algorithm for this shape
            best = float("inf")
            for _ in range(n_reps):
                if device.startswith("cuda"):
                    torch.cuda.synchronize()
                t = time.perf_counter()
                fwd(requests[:b])  # ends in a copy to host, so the device is done
                best = min(best, (time.perf_counter() - t) / b)
            per_bucket[b] = best * 1000
        images[precision] = fwd(requests[:8])
        forwards[precision] = (fwd, ck.schema)
        encode_ms = float("inf")
        for _ in range(3):
            t = time.perf_counter()
            for pixels in images[precision]:
                encode_image(pixels, "png")
            encode_ms = min(encode_ms, (time.perf_counter() - t) / len(images[precision]) * 1000)
        best_b = min(per_bucket, key=per_bucket.get)
        limits[precision] = {
            "forward_ms_per_image": per_bucket,
            "best_bucket": best_b,
            "encode_ms_per_image": encode_ms,
            "single_ms": per_bucket.get(1, float("nan")) + encode_ms,
            "images_per_s": 1000 / (per_bucket[best_b] + encode_ms),
        }
    return limits, images, forwards


def precision_check(images: dict, out_png: Path) -> dict:
    from PIL import Image

    check = {}
    if "fp64" not in images:
        return check
    ref = images["fp64"].astype(int)
    rows = []
    for precision, pixels in images.items():
        diff = np.abs(pixels.astype(int) - ref)
        if precision != "fp64":
            check[precision] = {"max_pixel_diff": int(diff.max()), "mean_pixel_diff": float(diff.mean())}
        rows.append(np.concatenate(list(pixels), axis=1))
        if precision != "fp64":
            rows.append(np.concatenate(list(np.clip(diff * 16, 0, 255).astype(np.uint8)), axis=1))
    Image.fromarray(np.concatenate(rows, axis=0).astype(np.uint8)).save(out_png)
    return check


# --- 3: the engine and its load, each in a process of its own --------------------------


def start_server(cfg: dict, threads: int, pythonpath: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": pythonpath}
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVER, json.dumps(cfg), str(port), str(threads)], cwd=ROOT, env=env
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    import urllib.request

    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the engine exited with {proc.returncode} before it was ready")
        try:
            with urllib.request.urlopen(f"{url}/readyz", timeout=2) as r:
                if r.status == 200:
                    return proc, url
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise SystemExit("the engine was not ready within 180 s")


async def _level(session, url: str, concurrency: int, n: int, seed0: int) -> dict:
    seeds = iter(range(seed0, seed0 + n))
    latencies: list[float] = []

    async def worker() -> None:
        for seed in seeds:
            t = time.perf_counter()
            async with session.post(url, json={"seed": seed}) as r:
                body = await r.read()
                if r.status != 200:
                    raise RuntimeError(f"HTTP {r.status}: {body[:200]!r}")
            latencies.append(time.perf_counter() - t)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return summarize(latencies, time.perf_counter() - start)


async def _load(url: str, plan: list[tuple[int, int]], seed_base: int, warm_up: bool = True) -> dict:
    import aiohttp

    results = {}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=512)) as session:
        if warm_up:  # every bucket shape once
            await _level(session, f"{url}/v1/generate", 4, 16, seed_base)
        for i, (c, n) in enumerate(plan):
            results[c] = await _level(session, f"{url}/v1/generate", c, n, seed_base + 1_000_000 * (i + 1))
    return results


def served(
    cfg: dict,
    threads: int,
    pythonpath: str,
    plan: list[tuple[int, int]],
    seed_base: int,
    paired: tuple | None = None,
    limit_now=None,
) -> tuple[dict, dict | None]:
    """Each level from a fresh load-generator process; with ``limit_now``, the raw limit is measured
    again just before and after each level (the engine idle meanwhile), so a level's ratio does
    not depend on how busy a shared CPU was minutes earlier."""
    proc, url = start_server(cfg, threads, pythonpath)
    try:
        rows = {}
        for i, (c, n) in enumerate(plan):
            before = limit_now() if limit_now else None
            job = json.dumps([url, [(c, n)], seed_base + 10_000_000 * i, i == 0])
            client = subprocess.run(
                [sys.executable, __file__, "--load", job], cwd=ROOT, capture_output=True, text=True
            )
            if client.returncode:
                raise SystemExit(f"the load generator failed:\n{client.stderr[-2000:]}")
            rows[c] = json.loads(client.stdout.splitlines()[-1])[str(c)]
            if limit_now:
                rows[c]["limit_around"] = (before + limit_now()) / 2
        return rows, (paired_single(url, *paired) if paired else None)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def limit_now(fwd, schema, measured: dict, reps: int = 2) -> float:
    """The raw limit again, at the best bucket found up front: images/s of forward + encode."""
    from engine.sampling import resolve
    from engine.serve.app import encode_image

    b = measured["best_bucket"]
    requests = [resolve(schema, {}, 80_000_000 + i) for i in range(b)]
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        out = fwd(requests)
        forward = time.perf_counter() - t
        t = time.perf_counter()
        for pixels in out:
            encode_image(pixels, "png")
        best = min(best, (forward + time.perf_counter() - t) / b)
    return 1 / best


def paired_single(url: str, fwd, schema, n: int) -> dict:
    """c=1 against its raw cost under the same load: a raw forward (bucket 1) + encode here, then
    one request to the idle engine, in turns, so both see the same machine (the CPU this runs on
    may be shared; the level table above cannot tell load drift from serving overhead)."""
    import http.client
    from urllib.parse import urlsplit

    from engine.sampling import resolve
    from engine.serve.app import encode_image

    where = urlsplit(url)
    conn = http.client.HTTPConnection(
        where.hostname, where.port, timeout=60
    )  # kept alive, as a bot's session is
    raw, served_ms = [], []
    for i in range(n):
        t = time.perf_counter()
        encode_image(fwd([resolve(schema, {}, 70_000_000 + i)])[0], "png")
        raw.append(time.perf_counter() - t)
        body = json.dumps({"seed": 90_000_000 + i})
        t = time.perf_counter()
        conn.request("POST", "/v1/generate", body, {"Content-Type": "application/json"})
        conn.getresponse().read()
        served_ms.append(time.perf_counter() - t)
    conn.close()
    raw_ms, http_ms = np.array(raw) * 1000, np.array(served_ms) * 1000
    return {
        "raw_p50_ms": float(np.median(raw_ms)),
        "served_p50_ms": float(np.median(http_ms)),
        "overhead_p50_ms": float(np.median(http_ms - raw_ms)),
        "n": n,
    }


def baseline_tree(ref: str) -> str:
    """The engine package as it was at git ``ref``, unpacked into a temporary folder."""
    folder = tempfile.mkdtemp(prefix="mascot-bench-")
    archive = subprocess.run(
        ["git", "archive", ref, "engine"], cwd=ROOT, capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", folder], input=archive, check=True)
    return folder


# --- report -----------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", default="checkpoints/default")
    ap.add_argument("--quick", action="store_true", help="fewer requests and repetitions (under a minute)")
    ap.add_argument(
        "--requests", type=int, default=512, help="requests per concurrency level (at least 2x it)"
    )
    ap.add_argument("--device", default="auto", help="auto | cpu | cuda")
    ap.add_argument(
        "--precision",
        default="auto",
        help="served precision: auto (bf16 on CUDA, fp32 on CPU) | fp32 | bf16 | fp64",
    )
    ap.add_argument(
        "--threads",
        type=int,
        default=0,
        help="torch threads in the engine and the limit (0: torch's default)",
    )
    ap.add_argument(
        "--baseline", metavar="REF", help="also serve the engine of git REF as it served then (fp64)"
    )
    ap.add_argument("--out", default="bench/engine_bench.json")
    ap.add_argument("--load", help=argparse.SUPPRESS)  # internal: run as the load generator process
    args = ap.parse_args()
    if args.load:
        url, plan, seed_base, warm_up = json.loads(args.load)
        print(json.dumps(asyncio.run(_load(url, [tuple(p) for p in plan], seed_base, warm_up))))
        return

    import torch

    from engine.config import load_config, section

    if args.threads:
        torch.set_num_threads(args.threads)
    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    cuda = device.startswith("cuda")
    precision = ("bf16" if cuda else "fp32") if args.precision == "auto" else args.precision
    eng = section(load_config(), "engine")
    buckets = tuple(eng.get("buckets_cuda" if cuda else "buckets", [1, 4, 16, 64] if cuda else [1, 2, 4]))
    channels_last = bool(eng.get("channels_last", True)) and not cuda
    threads = torch.get_num_threads()
    n = 48 if args.quick else args.requests
    plan = [(c, max(n, 2 * c)) for c in LEVELS]
    out = Path(args.out)

    precisions = list(dict.fromkeys([precision, "fp32", "bf16", "fp64"]))
    # The served precision gets the most passes; the others only need to show whether they are faster.
    reps = [3 if args.quick else 8] + [1 if args.quick else 3] * (len(precisions) - 1)
    # The full run also measures the served precision's curve past the buckets, to choose them.
    curve = (
        buckets
        if args.quick
        else tuple(sorted({*buckets, 1, 2, 4, 8, 16, 32} | ({64, 128} if cuda else set())))
    )
    sizes = [curve] + [buckets] * (len(precisions) - 1)
    limits, images, forwards = raw_limits(args.checkpoint, device, precisions, sizes, reps, channels_last)
    check = precision_check(images, out.with_name(out.stem + "_precision.png"))

    cfg = {
        "models": [["default", str(Path(args.checkpoint).resolve())]],
        "device": device,
        "precision": precision,
        "buckets": list(buckets),
        "channels_last": channels_last,
        "batch_window_ms": 0.0,
        "max_batch": 64,
        "queue_size": 4096,
        "request_timeout_s": 3600,
        "cache_size": 1,
        "jobs_dir": tempfile.mkdtemp(prefix="mascot-bench-jobs-"),
    }
    fastest = max(limits, key=lambda p: limits[p]["images_per_s"])
    rows, pair = served(
        cfg,
        threads,
        str(ROOT),
        plan,
        0,
        (*forwards[precision], 30 if args.quick else 100),
        lambda: limit_now(*forwards[fastest], limits[fastest]),
    )
    base_rows = None
    if args.baseline:
        old = {**cfg, "precision": "fp64", "batch_window_ms": 5.0, "max_batch": 32}
        base_rows, _ = served(old, threads, baseline_tree(args.baseline), plan, 50_000_000)

    from engine.checkpoint import read_meta

    meta = read_meta(args.checkpoint)
    own, best = limits[precision], limits[fastest]
    print(
        f"engine bench: {meta['family']} {meta['resolution']}px on {device}, {threads} threads, "
        f"served {precision}, buckets {list(buckets)}, channels_last {channels_last}"
    )
    for p, lim in limits.items():
        fw = ", ".join(f"{b}: {ms:.2f}" for b, ms in lim["forward_ms_per_image"].items())
        print(
            f"  raw {p}: forward ms/image by bucket {{{fw}}}, encode {lim['encode_ms_per_image']:.2f} ms, "
            f"limit {lim['images_per_s']:.1f} img/s"
            + (f", max pixel diff vs fp64 {check[p]['max_pixel_diff']}" if p in check else "")
        )
    per_image = own["forward_ms_per_image"]
    knee = max(b for b, ms in per_image.items() if ms <= 1.05 * min(per_image.values()))
    suggested = [b for b in per_image if b <= knee and b & (b - 1) == 0]
    print(
        f"  suggested buckets for {device} ({precision}: per-image cost within 5 % of its best up to "
        f"{knee}): "
        f"{suggested}"
    )
    print(
        f"  fastest precision: {fastest} ({best['images_per_s']:.1f} img/s); "
        f"raw single image (bucket 1 + encode) {own['single_ms']:.1f} ms"
    )
    print(
        "/limit: served / the fastest precision's limit measured just before and after the level "
        "(/limit0: the one measured up front)"
    )
    print(
        f"{'concurrency':<13}{'img/s':>8}{'limit':>8}{'/limit':>8}{'/limit0':>8}"
        f"{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}"
    )
    for c, r in rows.items():
        r["served_over_limit"] = r["images_per_s"] / r["limit_around"]
        r["served_over_limit_upfront"] = r["images_per_s"] / best["images_per_s"]
        print(
            f"{c:<13}{r['images_per_s']:>8.1f}{r['limit_around']:>8.1f}{r['served_over_limit']:>8.2f}"
            f"{r['served_over_limit_upfront']:>8.2f}{r['p50_ms']:>9.1f}{r['p95_ms']:>9.1f}{r['p99_ms']:>9.1f}"
        )
    goals = {"c1_p50_over_single_ms": rows[1]["p50_ms"] - own["single_ms"], "c1_paired": pair}
    print(
        f"c=1 p50 - (raw bucket-1 forward + encode): {goals['c1_p50_over_single_ms']:+.1f} ms "
        "as measured apart; "
        f"in turns: served {pair['served_p50_ms']:.1f} ms vs raw {pair['raw_p50_ms']:.1f} ms, "
        f"median overhead {pair['overhead_p50_ms']:+.1f} ms (goal <= +3)"
    )
    if base_rows:
        goals["vs_baseline_c32"] = rows[32]["images_per_s"] / base_rows[32]["images_per_s"]
        print(
            f"baseline {args.baseline} (fp64): "
            + ", ".join(f"c={c} {r['images_per_s']:.1f} img/s" for c, r in base_rows.items())
        )
        print(f"served img/s at c=32 vs baseline: {goals['vs_baseline_c32']:.2f}x")
    result = {
        "model": f"{meta['family']} {meta['resolution']}px",
        "device": device,
        "threads": threads,
        "precision": precision,
        "buckets": list(buckets),
        "channels_last": channels_last,
        "quick": args.quick,
        "limits": limits,
        "fastest": fastest,
        "suggested_buckets": suggested,
        "precision_check": check,
        "served": {str(c): r for c, r in rows.items()},
        "goals": goals,
        "baseline": {"ref": args.baseline, "served": {str(c): r for c, r in base_rows.items()}}
        if base_rows
        else None,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    print(f"wrote {out}")
    print(f"served/limit at c=32: {rows[32]['served_over_limit']:.2f}")


if __name__ == "__main__":
    main()
