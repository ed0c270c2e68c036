"""What a person looks at during training: the fixed-seed sample grid and the loss curves."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch.nn as nn
from PIL import Image, ImageDraw

from engine.sampling import render, resolve
from engine.schema import Schema

LABEL_WIDTH = 70
MIN_CELL = 32  # pixels: a two-line label fits


def grid_attribute(schema: Schema, preferred: str = "") -> str:
    """The attribute whose values make the grid's rows."""
    if preferred:
        return schema.attribute(preferred).name
    if "hair" in schema.names:
        return "hair"
    return max(schema.attributes, key=lambda a: len(a.values)).name


def sample_grid(
    G: nn.Module,
    schema: Schema,
    seeds: list[int],
    row_attribute: str,
    device="cpu",
    truncation: float = 1.0,
    fixed: dict[str, str] | None = None,
) -> Image.Image:
    """Rows = values of ``row_attribute``; columns = seeds (same noise and other attributes).

    Each column keeps its seed's latent and its sampled other attributes, so a row-to-row
    change shows what the attribute alone does. ``fixed`` attributes hold in every cell
    (smile rows of one style, say: a smile is plain in some styles and a few pixels in others).
    """
    values = schema.attribute(row_attribute).values
    requests = []
    for value in values:
        for seed in seeds:
            base = resolve(schema, fixed or {}, seed, truncation).attrs
            requests.append(resolve(schema, {**base, row_attribute: value}, seed, truncation))
    was_training = G.training
    G.eval()
    images = np.concatenate(
        [render(G, schema, requests[i : i + 64], device) for i in range(0, len(requests), 64)]
    )
    G.train(was_training)
    return _tile(images, len(values), len(seeds), [f"{row_attribute}:\n{v}" for v in values])


def _tile(images: np.ndarray, rows: int, cols: int, labels: list[str]) -> Image.Image:
    # Small models' cells are enlarged by whole pixels (nearest: a 16 px grid stays crisp) to
    # the height of a two-line label, which would otherwise run into the next row's.
    scale = -(-MIN_CELL // images.shape[1])
    h, w = images.shape[1] * scale, images.shape[2] * scale
    sheet = Image.new("RGB", (LABEL_WIDTH + cols * w, rows * h), "white")
    draw = ImageDraw.Draw(sheet)
    for r in range(rows):
        draw.multiline_text((4, r * h + h // 3), labels[r], fill="black")
        for c in range(cols):
            cell = Image.fromarray(images[r * cols + c]).resize((w, h), Image.Resampling.NEAREST)
            sheet.paste(cell, (LABEL_WIDTH + c * w, r * h))
    return sheet


ADA_P = "stat/ada_p"


def curve_keys(rows: list[dict]) -> list[str]:
    """The series of stats.jsonl rows to plot, one panel each: ADA's p on top when the run
    augmented with ADA (how hard D's inputs are augmented explains the curves below), then
    every loss and stat by name."""
    keys = sorted({k for r in rows for k in r if k.startswith(("loss", "stat"))})
    return sorted(keys, key=lambda k: k != ADA_P)


def loss_curves(stats_path: Path, out: Path, x: str = "kimg") -> None:
    """Plot every numeric series of stats.jsonl against ``x`` (kimg, or steps) into one PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [json.loads(line) for line in stats_path.read_text().splitlines() if line.strip()]
    if len(rows) < 2:
        return
    keys = curve_keys(rows)
    fig, axes = plt.subplots(len(keys), 1, figsize=(7, 1.8 * len(keys)), sharex=True, squeeze=False)
    xs = [r[x] for r in rows]
    for ax, key in zip(axes[:, 0], keys):
        ax.plot(xs, [r.get(key, float("nan")) for r in rows])
        ax.set_ylabel("ADA p" if key == ADA_P else key.split("/", 1)[-1], fontsize=8)
        if key == ADA_P:
            ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
    axes[-1, 0].set_xlabel(x)
    fig.tight_layout()
    fig.savefig(out, dpi=80)
    plt.close(fig)
