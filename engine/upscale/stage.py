"""The upscale-and-restore stage as the engine serves it: 128px (or 64px) pictures in, up to 512px out.

Each image goes through the network alone (batch 1, fp32): its pixels then cannot depend
on which requests it was batched with, so the engine's promise (same request, same bytes)
holds whatever the generator's batching. A size between the native and the network's
output is drawn from the network's output with Lanczos.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from engine.errors import MascotError
from engine.pixels import to_tensor, to_uint8
from engine.upscale.checkpoint import load_upscaler


class UpscaleStage:
    def __init__(self, path: str | Path) -> None:
        self.model, self.meta = load_upscaler(path)
        self.scale = self.model.arch.scale
        self.version = f"upscaler-{self.meta['weights_sha256'][:12]}"

    def sizes(self, native: int) -> list[int]:
        """Output sides offered for a generator drawing ``native`` pixels."""
        return [native * k for k in (1, 2, 4, 8) if k <= self.scale]

    def apply(self, pixels, size: int) -> list[np.ndarray]:
        """uint8 images (s, s, 3), a list or a stacked array -> uint8 (size, size, 3) each."""
        return [self.apply_one(image, size) for image in pixels]

    def apply_one(self, image: np.ndarray, size: int) -> np.ndarray:
        if size == image.shape[0]:
            return image
        with torch.inference_mode():
            big = to_uint8(self.model(to_tensor(image[None])))[0]
        if big.shape[0] != size:
            big = np.asarray(Image.fromarray(big).resize((size, size), Image.LANCZOS))
        return big


def enlarge_with(how: str, native: int, size: int):
    """A function taking one uint8 image from ``native`` to ``size`` px: through the stage in
    folder ``how``, or with plain Lanczos when ``how`` is "lanczos" (the baseline it must beat)."""
    if how == "lanczos":
        return lambda image: np.asarray(Image.fromarray(image).resize((size, size), Image.LANCZOS))
    if not (Path(how) / "upscaler.json").is_file():
        raise MascotError(
            f"no upscale stage at '{how}': give a folder made by 'mascot-engine upscale train', or 'lanczos'"
        )
    stage = UpscaleStage(how)
    if size not in stage.sizes(native):
        raise MascotError(
            f"the stage at '{how}' draws {', '.join(map(str, stage.sizes(native)))} px, not {size}"
        )
    return lambda image: stage.apply_one(image, size)
