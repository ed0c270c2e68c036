"""How well a translator carries held-out pictures of domain A into domain B.

Three figures, on the ``holdout`` pictures of each folder kept out of training:

- KID-EffLite0 x1000 of the translated A->B pictures against real held-out B (lower is
  closer to the target domain);
- the same for the untranslated A pictures: the baseline, what doing nothing scores, so
  the first number has a reference (a translator worth shipping lands well below it);
- the cycle error: mean absolute difference, on a 0-1 scale, between each A picture and
  its round trip A->B->A (and B->B->A->B the other way): how much of the picture survives.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from engine.effnet import pooled_features
from engine.errors import MascotError
from engine.metrics.kid import kernel_distance
from engine.pixels import to_tensor, to_uint8
from engine.translate.domain import Domain

GAP = 4  # white pixels between triplets on a sheet


def translate_images(model: torch.nn.Module, images: np.ndarray, batch: int = 16) -> np.ndarray:
    """uint8 (N, S, S, 3) at the model's side -> uint8 (N, S, S, 3)."""
    was_training = model.training
    model.eval()
    with torch.inference_mode():
        out = np.concatenate(
            [to_uint8(model(to_tensor(images[s : s + batch]))) for s in range(0, len(images), batch)]
        )
    model.train(was_training)
    return out


def round_trips(
    forward: torch.nn.Module, back: torch.nn.Module, images: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(inputs, translated, translated back), uint8 each."""
    there = translate_images(forward, images)
    return images, there, translate_images(back, there)


def cycle_error(images: np.ndarray, back: np.ndarray) -> float:
    return float(np.abs(images.astype(np.float32) - back.astype(np.float32)).mean() / 255)


def triplet_sheet(triplets: list[tuple[np.ndarray, ...]], columns: int = 4, cell: int = 0) -> Image.Image:
    """Each triplet (picture | translated | back) side by side, ``columns`` triplets a row,
    each picture enlarged to ``cell`` px (nearest: the pixels as the model drew them)."""
    if not triplets:
        raise MascotError("no pictures to put on the sheet")
    side = cell or triplets[0][0].shape[0]
    k = len(triplets[0])
    rows = -(-len(triplets) // columns)
    width, height = columns * (k * side + GAP) - GAP, rows * (side + GAP) - GAP
    sheet = Image.new("RGB", (width, height), "white")
    for i, triplet in enumerate(triplets):
        r, c = divmod(i, columns)
        for j, img in enumerate(triplet):
            tile = Image.fromarray(np.ascontiguousarray(img))
            if tile.size[0] != side:
                tile = tile.resize((side, side), Image.NEAREST)
            sheet.paste(tile, (c * (k * side + GAP) + j * side, r * (side + GAP)))
    return sheet


def _open(checkpoint: str | Path, a: str | None, b: str | None, holdout: int | None):
    from engine.translate.checkpoint import load_translator

    models, meta = load_translator(checkpoint)
    domains = meta["domains"]
    a, b = a or domains["a"].get("path"), b or domains["b"].get("path")
    if not a or not b:
        raise MascotError(f"'{checkpoint}' does not say which folders it was trained on: give --a and --b")
    if holdout is None:
        holdout = int(meta.get("training", {}).get("config", {}).get("holdout", 200))
    res = models["a_to_b"].arch.resolution
    return models, meta, Domain(str(a), res, holdout, "--a"), Domain(str(b), res, holdout, "--b")


def measure(
    checkpoint: str | Path,
    a: str | None = None,
    b: str | None = None,
    n: int = 200,
    holdout: int | None = None,
    feature_size: int = 224,
) -> dict:
    """KID of A->B and of untranslated A against B, and both cycle errors, on held-out pictures
    (default folders and held-out count: the ones the checkpoint was trained with)."""
    if n < 2:
        raise MascotError(f"--images must be at least 2 (KID compares sets), got {n}")
    models, meta, dom_a, dom_b = _open(checkpoint, a, b, holdout)
    real_a, real_b = to_uint8(dom_a.held_out(n)), to_uint8(dom_b.held_out(n))
    _, a_to_b, a_back = round_trips(models["a_to_b"], models["b_to_a"], real_a)
    _, _, b_back = round_trips(models["b_to_a"], models["a_to_b"], real_b)
    feats = {
        k: pooled_features(v, size=feature_size).numpy().astype(np.float64)
        for k, v in (("b", real_b), ("a", real_a), ("a_to_b", a_to_b))
    }
    return {
        "domains": {"a": meta["domains"]["a"].get("name"), "b": meta["domains"]["b"].get("name")},
        "images": {"a": len(real_a), "b": len(real_b)},
        "kid_x1000": {
            "a_to_b": kernel_distance(feats["b"], feats["a_to_b"]) * 1000,
            "a_untranslated": kernel_distance(feats["b"], feats["a"]) * 1000,
        },
        "cycle_l1": {"a_to_b_to_a": cycle_error(real_a, a_back), "b_to_a_to_b": cycle_error(real_b, b_back)},
        "steps": meta.get("training", {}).get("steps"),
    }


def sheet(
    checkpoint: str | Path,
    out: str | Path,
    a: str | None = None,
    n: int = 16,
    columns: int = 4,
    cell: int = 128,
) -> Path:
    """Held-out A pictures as A | A->B | A->B->A triplets, ``columns`` to a row."""
    models, _, dom_a, _ = _open(checkpoint, a, None, None)
    trips = round_trips(models["a_to_b"], models["b_to_a"], to_uint8(dom_a.held_out(n)))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    triplet_sheet(list(zip(*trips)), columns=columns, cell=cell).save(out)
    return out
