"""How much the upscaler restores, on held-out pairs degraded the way training degrades.

For the last ``holdout`` pairs (never trained on), degraded with a fixed seed, it compares
three ways to reach the large size against the clean large render: the degraded small
image as it is shown today (nearest-neighbour enlarged), Lanczos, and the upscaler. Two
figures each: PSNR (dB, higher is better) and the distance between EfficientNet-Lite0's
pooled features of the picture and of the truth (lower is better; it follows what a
viewer sees better than PSNR does).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from engine.data.pairs import open_pairs
from engine.effnet import pooled_features
from engine.errors import MascotError
from engine.pixels import to_tensor, to_uint8
from engine.upscale.holdout import held_out, lanczos, nearest


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2, axis=(1, 2, 3))
    return float(np.mean(10 * np.log10(255.0**2 / np.maximum(mse, 1e-10))))


def feature_distance(a: np.ndarray, b: np.ndarray) -> float:
    fa, fb = pooled_features(a, size=224), pooled_features(b, size=224)
    return float((fa - fb).norm(dim=1).mean())


def upscale_images(model: torch.nn.Module, images: np.ndarray, batch: int = 8) -> np.ndarray:
    with torch.inference_mode():
        return np.concatenate(
            [to_uint8(model(to_tensor(images[s : s + batch]))) for s in range(0, len(images), batch)]
        )


def measure(
    checkpoint: str | Path, pairs: str | Path, n: int = 64, holdout: int | None = None
) -> dict[str, dict[str, float]]:
    """Scores on the last ``holdout`` pairs (default: the number the checkpoint held out in training)."""
    from engine.upscale.checkpoint import load_upscaler

    model, meta = load_upscaler(checkpoint)
    small, large = open_pairs(Path(pairs))
    if holdout is None:
        holdout = int(meta.get("training", {}).get("config", {}).get("holdout", 64))
    if not 1 <= holdout <= len(small):
        raise MascotError(
            f"'{pairs}' has {len(small)} pairs, fewer than the {holdout} held out to measure on; "
            "measure on the pairs the upscaler was trained with"
        )
    _, degraded, truth = held_out(small, large, n, holdout)
    size = truth.shape[1]
    ways = {
        "input (nearest)": nearest(degraded, size),
        "Lanczos": lanczos(degraded, size),
        "upscaler": upscale_images(model, degraded),
    }
    return {
        name: {"psnr_db": psnr(img, truth), "feature_distance": feature_distance(img, truth)}
        for name, img in ways.items()
    }


def side_by_side(
    stage: str | Path, generator: str | Path, out: str | Path, n: int = 16, cell: int = 256
) -> Path:
    """``n`` generator samples, each as a pair: Lanczos from 128 | the stage's restoration,
    at ``cell`` px per picture, four pairs per row; and a second sheet of the first four
    pairs at full size (``out`` with -512 before the suffix)."""
    from engine.checkpoint import load_checkpoint
    from engine.data.dataset import contact_sheet
    from engine.sampling import render, resolve
    from engine.upscale.stage import UpscaleStage

    ck, up = load_checkpoint(generator), UpscaleStage(stage)
    size = ck.resolution * up.scale
    native = render(ck.G, ck.schema, [resolve(ck.schema, {}, seed) for seed in range(1, n + 1)])
    pairs = np.stack(
        [img for small in native for img in (lanczos(small[None], size)[0], up.apply_one(small, size))]
    )
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    contact_sheet(lanczos(pairs, cell) if cell != size else pairs, columns=8).save(out)
    contact_sheet(pairs[:8], columns=4).save(out.with_name(f"{out.stem}-{size}{out.suffix}"))
    return out
