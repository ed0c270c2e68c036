"""Turning any picture into a square training image: flatten alpha, pad, resize.

Shared by the builders that read other people's pictures (emoji, a user's folder). The
order matters: transparency is composited over the background colour first, so the
padding added next is the same colour as what was behind the character; then the
canvas is padded to a square (never cropped: cropping cuts off hats, ears and hair
ornaments, which are exactly what makes a mascot); then it is resized once with a
Lanczos filter, which keeps thin outlines crisp without aliasing.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageColor

from engine.errors import MascotError

RGB = tuple[int, int, int]


def parse_colour(text: str) -> RGB:
    """An RGB triple from '#ffffff', '#fff', 'white' or 'rgb(255,255,255)'."""
    try:
        colour = ImageColor.getrgb(str(text).strip())
    except ValueError:
        raise MascotError(
            f"'{text}' is not a colour; use a hex code like #ffffff or #fff, or a name like white"
        ) from None
    return tuple(colour[:3])  # an alpha component, if given, is meaningless for a background


def flatten_alpha(image: Image.Image, background: RGB) -> Image.Image:
    """An RGB image: any transparency (RGBA, LA, palette with transparency) composited over ``background``."""
    has_alpha = image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info)
    if not has_alpha:
        return image.convert("RGB")
    rgba = image.convert("RGBA")
    canvas = Image.new("RGBA", rgba.size, (*background, 255))
    return Image.alpha_composite(canvas, rgba).convert("RGB")


def pad_to_square(image: Image.Image, background: RGB, margin: float = 0.0) -> Image.Image:
    """Centre ``image`` on a square ``background`` canvas, ``margin`` (share of the long side) each side."""
    width, height = image.size
    side = max(width, height)
    border = round(side * margin)
    canvas = Image.new("RGB", (side + 2 * border, side + 2 * border), background)
    canvas.paste(image, (border + (side - width) // 2, border + (side - height) // 2))
    return canvas


def square_image(image: Image.Image, size: int, background: RGB, margin: float = 0.0) -> np.ndarray:
    """The uint8 ``(size, size, 3)`` training image for any picture: flattened, padded, resized."""
    flat = flatten_alpha(image, background)
    square = pad_to_square(flat, background, margin)
    if square.size != (size, size):
        square = square.resize((size, size), Image.Resampling.LANCZOS)
    return np.asarray(square, dtype=np.uint8)


def check_size(size: int, low: int = 8, high: int = 1024) -> int:
    """``size`` if it is a sensible training resolution, else a MascotError saying what is allowed."""
    if not low <= size <= high:
        raise MascotError(f"--size must be between {low} and {high} pixels, got {size}")
    return size
