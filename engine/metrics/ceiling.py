"""Real against real: the ceiling every other figure of a report is read against.

A second set of real renders, as many as the reference set and none of them in it, stands
where the generated samples stand: precision and recall (k-NN manifolds) and KID between
the two real sets, and EvalNet's confident readings of the second set, with the thresholds
calibrated on the first. A model can at best match these numbers; at 1,000 renders a side,
real against real reads a precision near 0.95, not 1, because a k-NN manifold of 1,000
points misses part of its own distribution.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.errors import MascotError
from engine.metrics.attr_precision import calibrate, read_confidently
from engine.metrics.kid import kernel_distance
from engine.metrics.prc import precision_recall_coverage
from engine.metrics.registry import register_metric
from engine.schema import UNKNOWN


@dataclass(frozen=True)
class CeilingOptions:
    nearest_k: int = 5
    num_subsets: int = 100
    max_subset_size: int = 1000
    confident: float = 0.99  # as attr_precision's: the share of correct real readings kept
    calibration_images: int = 2000

    def __post_init__(self) -> None:
        if self.nearest_k < 1 or not 0.5 <= self.confident < 1:
            raise MascotError("real_ceiling needs nearest_k >= 1 and confident from 0.5 to below 1")


def reading_table(schema, read: np.ndarray, under: np.ndarray, labels: np.ndarray) -> dict:
    """Per value of each attribute, over the real renders labelled with it: how often EvalNet
    reads it confidently, and how often it is unsure."""
    out = {}
    for i, attr in enumerate(schema.attributes):
        values, unsure = {}, {}
        for k, value in enumerate(attr.values):
            has = labels[:, i] == k
            if has.any():
                values[value] = float(((read[has, i] == k) & ~under[has, i]).mean())
                unsure[value] = float(under[has, i].mean())
        if values:
            out[attr.name] = {"values": values, "under_threshold": unsure}
    return out


def _read_in_chunks(net, images, idx: np.ndarray, thresholds, chunk: int = 256):
    parts = [
        read_confidently(net, np.asarray(images[idx[s : s + chunk]]), thresholds)
        for s in range(0, len(idx), chunk)
    ]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


@register_metric(
    "real_ceiling",
    options=CeilingOptions,
    headline="precision",
    better="higher",
    description="real renders against other real renders: the best precision, recall, KID and readings",
)
def real_ceiling(ctx, opts: CeilingOptions) -> dict:
    ds, net = ctx.dataset, ctx.evalnet()
    reference, others = ctx.real_effl0(), ctx.ceiling_effl0()
    cal = ctx.real_indices()[: opts.calibration_images]
    thresholds = calibrate(net, np.asarray(ds.images[cal]), np.asarray(ds.labels[cal]), opts.confident)
    idx = np.sort(ctx.ceiling_indices())
    read, under = _read_in_chunks(net, ds.images, idx, thresholds)
    labels = np.asarray(ds.labels[idx])
    table = reading_table(net.schema, read, under, labels)
    known = labels != UNKNOWN
    kid = kernel_distance(reference, others, opts.num_subsets, opts.max_subset_size, ctx.config.seed)
    return {
        **precision_recall_coverage(reference, others, opts.nearest_k),
        "kid": kid,
        "attr_precision": float(np.mean([v for row in table.values() for v in row["values"].values()])),
        "under_threshold": float(under[known].mean()) if known.any() else 0.0,
        "per_attribute": table,
        "nearest_k": opts.nearest_k,
        "real": len(reference),
        "other_real": len(others),
    }
