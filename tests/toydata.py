"""Tiny labelled data sets the tests make themselves: learnable in seconds."""

from __future__ import annotations

import numpy as np

from engine.data.dataset import DatasetWriter, Source
from engine.schema import Schema, choice, flag

TOY_SCHEMA = Schema((choice("hair", ["red", "green", "blue"]), flag("smile")))
HAIR_RGB = {"red": (220, 40, 40), "green": (40, 200, 40), "blue": (40, 40, 220)}


def make_toy_dataset(out, n: int = 48, resolution: int = 32, seed: int = 0, palette: bool = False):
    """Coloured squares whose colour is `hair` and whose bottom bar is `smile`: learnable fast.
    ``palette``: record its five colours in the card, as pixel art at its grid does."""
    rng = np.random.default_rng(seed)
    with DatasetWriter(out, resolution=resolution, schema=TOY_SCHEMA, capacity=n, palette=palette) as w:
        for i in range(n):
            hair = ["red", "green", "blue"][i % 3]
            smile = "yes" if rng.random() < 0.5 else "no"
            img = np.full((resolution, resolution, 3), 255, np.uint8)
            q = resolution // 4
            img[q : 3 * q, q : 3 * q] = HAIR_RGB[hair]
            if smile == "yes":
                img[3 * q + 1 :, q : 3 * q] = 0
            w.add(img, {"hair": hair, "smile": smile})
        w.sources = [Source("toy", "CC0", "the tests")]
    return out
