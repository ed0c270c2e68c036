"""A trained translator as a picture -> picture function (the A->B direction).

Each picture goes through the network alone: with instance norm its output depends on that
picture only. A picture of another size is fitted to the translator's side (antialiased),
translated, and brought back to its own size with Lanczos, so callers get what they gave.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from engine.errors import MascotError
from engine.pixels import to_tensor, to_uint8
from engine.translate.checkpoint import load_translator
from engine.translate.domain import resize


class Translator:
    def __init__(self, path: str | Path) -> None:
        models, self.meta = load_translator(path)
        self.model = models["a_to_b"]
        self.side = self.model.arch.resolution
        self.source, self.target = (
            self.meta["domains"]["a"].get("name"),
            self.meta["domains"]["b"].get("name"),
        )
        self.version = f"cyclegan-{self.meta['weights_sha256'][:12]}"

    def apply(self, image: np.ndarray) -> np.ndarray:
        """uint8 (H, W, 3) -> uint8 (H, W, 3), translated A->B."""
        if not (
            isinstance(image, np.ndarray)
            and image.dtype == np.uint8
            and image.ndim == 3
            and image.shape[2] == 3
        ):
            raise MascotError(
                f"a translator takes a uint8 (H, W, 3) picture, got {getattr(image, 'shape', type(image))}"
            )
        h, w = image.shape[:2]
        square = fit_square(image)
        with torch.inference_mode():
            out = to_uint8(self.model(resize(to_tensor(square[None]), self.side)))[0]
        if out.shape[:2] != (h, w):
            side = max(h, w)
            big = np.asarray(Image.fromarray(out).resize((side, side), Image.LANCZOS))
            top, left = (side - h) // 2, (side - w) // 2
            out = big[top : top + h, left : left + w]
        return np.ascontiguousarray(out)


def fit_square(image: np.ndarray) -> np.ndarray:
    """Pad to a square on white (the renders' background), centred."""
    h, w = image.shape[:2]
    if h == w:
        return image
    side = max(h, w)
    square = np.full((side, side, 3), 255, np.uint8)
    top, left = (side - h) // 2, (side - w) // 2
    square[top : top + h, left : left + w] = image
    return square
