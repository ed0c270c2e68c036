"""Memorization: does the generator hand back its training images?

For every generated sample, its nearest training images in EfficientNet-Lite0 space
(MakeGirlsMoe's Fig. 14 used Illustration2Vec features the same way). The scale for
"near" is the training set's own spacing: the median distance from a training image to
its nearest other training image. We report the fraction of generated samples nearer
to the training set than that median (a generator sampling fresh images from the data
distribution sits around 0.5 or below; one that copies sits near 1), and the fraction of
near-copies, closer than ``copy_ratio`` times that median. A PNG grid shows generated
samples next to their nearest training images.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.errors import MascotError
from engine.metrics.prc import pairwise_distances
from engine.metrics.registry import register_metric


@dataclass(frozen=True)
class MemorizationOptions:
    copy_ratio: float = 0.1  # "near-copy": nearer than this fraction of the median train NN distance
    grid_rows: int = 8
    grid_neighbours: int = 5

    def __post_init__(self) -> None:
        if not 0 < self.copy_ratio <= 1:
            raise MascotError(f"memorization copy_ratio must be in (0, 1], got {self.copy_ratio}")


def nearest_train(train: np.ndarray, fake: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (n_fake, k) and distances of each generated sample's k nearest training images."""
    d = pairwise_distances(fake, train)
    k = min(k, len(train))
    idx = np.argsort(d, axis=1)[:, :k]
    return idx, np.take_along_axis(d, idx, axis=1)


def median_train_nn(train: np.ndarray) -> float:
    if len(train) < 2:
        raise MascotError("memorization needs at least 2 training images")
    d = pairwise_distances(train, train)
    np.fill_diagonal(d, np.inf)
    return float(np.median(d.min(axis=1)))


def memorization_stats(train: np.ndarray, fake: np.ndarray, copy_ratio: float = 0.1) -> dict:
    scale = median_train_nn(train)
    _, dist = nearest_train(train, fake, 1)
    nn_dist = dist[:, 0]
    return {
        "frac_nearer_than_median_train_nn": float((nn_dist < scale).mean()),
        "near_copy_fraction": float((nn_dist < copy_ratio * scale).mean()),
        "median_train_nn_distance": scale,
        "median_generated_nn_distance": float(np.median(nn_dist)),
        "copy_ratio": copy_ratio,
    }


def nearest_grid(fake_images: np.ndarray, train_images, neighbours: np.ndarray, path: Path) -> None:
    """Rows: a generated image | a gap | its nearest training images, nearest first."""
    from PIL import Image

    h = train_images.shape[1]
    rows, k = neighbours.shape
    gap = h // 4
    sheet = np.full((rows * h, (k + 1) * h + gap, 3), 255, np.uint8)
    for r in range(rows):
        sheet[r * h : (r + 1) * h, :h] = _fit(fake_images[r], h)
        for c, j in enumerate(neighbours[r]):
            x = h + gap + c * h
            sheet[r * h : (r + 1) * h, x : x + h] = train_images[int(j)]
    Image.fromarray(sheet).save(path)


def _fit(image: np.ndarray, size: int) -> np.ndarray:
    from PIL import Image

    if image.shape[0] == size:
        return image
    return np.asarray(Image.fromarray(image).resize((size, size), Image.BILINEAR))


@register_metric(
    "memorization",
    options=MemorizationOptions,
    headline="near_copy_fraction",
    better="lower",
    description="nearest training images of generated samples (EfficientNet-Lite0 space)",
)
def memorization(ctx, opts: MemorizationOptions) -> dict:
    train, fake = ctx.real_effl0(), ctx.gen_effl0()
    out = {**memorization_stats(train, fake, opts.copy_ratio), "train": len(train), "generated": len(fake)}
    if ctx.out_dir is not None and opts.grid_rows > 0:
        rows = min(opts.grid_rows, len(fake))
        idx, _ = nearest_train(train, fake[:rows], opts.grid_neighbours)
        real_rows = ctx.real_indices()  # feature row -> data set row
        nearest_grid(
            ctx.gen_images()[:rows],
            _RowView(ctx.dataset.images, real_rows),
            idx,
            ctx.out_dir / "memorization.png",
        )
        out["plot"] = "memorization.png"
    return out


class _RowView:
    """Index a memory-mapped image array through a row map, without loading it whole."""

    def __init__(self, images, rows: np.ndarray) -> None:
        self.images, self.rows = images, rows
        self.shape = (len(rows), *tuple(images.shape[1:]))

    def __getitem__(self, i: int) -> np.ndarray:
        return np.asarray(self.images[self.rows[i]])
