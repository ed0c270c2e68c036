"""What the upscale-and-restore stage costs per posted image on this CPU.

    python bench/upscale_speed.py [--checkpoint checkpoints/upscale] [--threads 2] [--repeat 20]

Times, per 128px image (one of the generator's): the stage as served (batch 1, fp32:
engine/upscale/stage.py) to 512 and to 256, the same network in channels_last and in bf16 for
comparison, Lanczos to 512 (what a front-end would do without the stage) and PNG encoding at
128 and 512 (paid on every uncached image). Medians over --repeat runs after warm-up; every row
is measured in the same run, so the ratios hold on a busy machine even where the absolute figures
do not. Writes the rows as JSON next to the printout (--json).
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.pixels import to_tensor, to_uint8
from engine.upscale.model import Upscaler, UpscalerArch

GOAL_MS = 30.0  # per 512px image in the serving precision


def median_ms(fn, repeat: int) -> float:
    fn()
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def load(path: str) -> tuple[Upscaler, str]:
    if (Path(path) / "upscaler.json").is_file():
        from engine.upscale.checkpoint import load_upscaler

        return load_upscaler(path)[0], path
    return Upscaler(UpscalerArch()).eval(), "an untrained default-sized network (same cost)"


def generator_picture(path: str) -> np.ndarray:
    """What the stage is given in service: one of the generator's pictures (PNG cost depends on it)."""
    from engine.checkpoint import load_checkpoint
    from engine.sampling import render, resolve

    ck = load_checkpoint(path)
    return render(ck.G, ck.schema, [resolve(ck.schema, {}, 1)])[0]


def rows(model: Upscaler, image: np.ndarray, repeat: int) -> dict[str, float]:
    from engine.upscale.stage import UpscaleStage

    stage = UpscaleStage.__new__(UpscaleStage)  # the served code path around an in-memory model
    stage.model, stage.scale = model, model.arch.scale
    x = to_tensor(image[None])
    cl = Upscaler(model.arch).eval()
    cl.load_state_dict(model.state_dict())
    cl = cl.to(memory_format=torch.channels_last)
    bf16 = Upscaler(model.arch).eval()
    bf16.load_state_dict(model.state_dict())
    bf16 = bf16.to(torch.bfloat16)
    big = to_uint8(model(x).detach())[0]

    def infer(net, inp):
        with torch.inference_mode():
            return net(inp)

    def png(img):
        Image.fromarray(img).save(io.BytesIO(), format="PNG", compress_level=1)  # as served

    return {
        "stage to 512 (served: fp32, batch 1)": median_ms(lambda: stage.apply_one(image, 512), repeat),
        "stage to 256 (512 then Lanczos)": median_ms(lambda: stage.apply_one(image, 256), repeat),
        "network fp32 channels_last": median_ms(
            lambda: infer(cl, x.to(memory_format=torch.channels_last)), repeat
        ),
        "network bf16": median_ms(lambda: infer(bf16, x.bfloat16()), repeat),
        "Lanczos 128 -> 512": median_ms(
            lambda: Image.fromarray(image).resize((512, 512), Image.LANCZOS), repeat
        ),
        "PNG encode 128": median_ms(lambda: png(image), repeat),
        "PNG encode 512": median_ms(lambda: png(big), repeat),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", default="checkpoints/upscale")
    ap.add_argument("--generator", default="checkpoints/default", help="draws the 128px input")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--json", default="bench/upscale_speed.json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    model, source = load(args.checkpoint)
    image = generator_picture(args.generator)
    table = rows(model, image, args.repeat)
    params = sum(p.numel() for p in model.parameters())
    print(
        f"upscaler: {source}; {params / 1e6:.2f}M parameters; {args.threads} threads; medians of "
        f"{args.repeat}"
    )
    for name, ms in table.items():
        print(f"  {name:40s} {ms:8.1f} ms")
    served = table["stage to 512 (served: fp32, batch 1)"]
    print(
        f"stage at 512: {served:.1f} ms per image (goal <= {GOAL_MS:.0f} ms: "
        f"{'met' if served <= GOAL_MS else 'NOT met'})"
    )
    Path(args.json).write_text(json.dumps({"threads": args.threads, "params": params, "ms": table}, indent=1))


if __name__ == "__main__":
    main()
