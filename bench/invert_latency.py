"""How long picture -> mascot takes end to end: POST /v1/invert as the chats send it (the mascot and
3 variations at 512 px, the shipped tagger and upscale stage), on an engine started in this process.

    python bench/invert_latency.py [--pictures data/dicebear-20k-128] [--count 4] [--steps 80] [--budget 7]

Each picture is a different one (a repeated picture is answered from memory). Prints each
request's seconds and the search's steps; the search stops at --steps or --budget seconds,
whichever comes first, so on a busy machine it makes fewer steps rather than taking longer.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiohttp.test_utils import TestClient, TestServer

from engine.data.dataset import Dataset
from engine.serve.app import EngineService, ServeConfig


def _png(pixels: np.ndarray) -> str:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


async def measure(args: argparse.Namespace) -> list[dict]:
    cfg = ServeConfig(
        models=(("default", args.checkpoint),),
        jobs_dir=tempfile.mkdtemp(),
        upscaler=args.upscaler,
        tagger=args.tagger,
        invert_steps=args.steps,
        invert_budget_s=args.budget,
    )
    ds = Dataset(args.pictures)
    rows = []
    async with TestClient(TestServer(EngineService(cfg).app())) as client:
        for i in np.linspace(0, len(ds) - 1, args.count).astype(int):
            body = {
                "image": _png(np.asarray(ds.images[i])),
                "variations": 3,
                "size": args.size,
                "format": "png",
            }
            start = time.perf_counter()
            r = await client.post("/v1/invert", json=body)
            out = await r.json()
            seconds = time.perf_counter() - start
            assert r.status == 200, out
            rows.append({"index": int(i), "seconds": round(seconds, 2), "steps": out["steps"]})
            print(json.dumps(rows[-1]), flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pictures", default="data/dicebear-20k-128")
    ap.add_argument("--count", type=int, default=4)
    ap.add_argument("--checkpoint", default="checkpoints/default")
    ap.add_argument("--tagger", default="checkpoints/tagger")
    ap.add_argument("--upscaler", default="checkpoints/upscale")
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--steps", type=int, default=80)
    ap.add_argument("--budget", type=float, default=7.0)
    args = ap.parse_args()
    rows = asyncio.run(measure(args))
    seconds, steps = [r["seconds"] for r in rows], [r["steps"] for r in rows]
    print(f"mean {np.mean(seconds):.1f} s, max {max(seconds):.1f} s, mean steps {np.mean(steps):.0f}")


if __name__ == "__main__":
    main()
