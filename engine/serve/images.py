"""What a drawn picture becomes on the wire: its encoded file and its generation id."""

from __future__ import annotations

import base64
import hashlib
import io
import json

import numpy as np
from PIL import Image

from engine.sampling import Request

Z_RLE = 3  # zlib's strategy of matches at distance 1 only: runs of one colour, what drawings have


def encode_image(pixels: np.ndarray, fmt: str) -> bytes:
    buf = io.BytesIO()
    if fmt == "webp":
        Image.fromarray(pixels).save(buf, format="WEBP", lossless=True)
    elif fmt == "jpeg":
        # Lossy, for a caller that names it. Full-resolution colour (4:4:4) keeps coloured outlines
        # crisp; at 512 px it costs ~2 ms, a twentieth of the upscale stage (PNG: ~25 ms, 300 KiB).
        Image.fromarray(pixels).save(buf, format="JPEG", quality=90, subsampling=0)
    else:
        # Level 1 with run-length matching: at 512 px 20 % faster and 8 % smaller than level 1's
        # default strategy, at 128 px 37 % faster; level 6 costs ~3x the time for files ~15 % smaller.
        Image.fromarray(pixels).save(buf, format="PNG", compress_level=1, compress_type=Z_RLE)
    return buf.getvalue()


def png64(pixels: np.ndarray) -> str:
    return base64.b64encode(encode_image(pixels, "png")).decode()


def generation_id(version: str, req: Request) -> str:
    """Deterministic id: the same request to the same model version has the same id."""
    key = json.dumps([version, req.seed, sorted(req.attributes), req.truncation])
    return hashlib.sha256(key.encode()).hexdigest()[:20]
