"""The posted protocol: the figures ``model.json`` and the model card carry.

A model is judged the way people see it: at the posted size (512 px, through the upscale
stage), against as many real renders at that size, of the styles the model offers, as it
has samples (1,000 a side by default). One call measures

* precision and recall (k-NN manifolds, k = 5) and KID, in EfficientNet-Lite0 space;
* attribute precision per value, counting a reading only when EvalNet is confident
  (thresholds calibrated on the real renders), with how often each value's readings were unsure;
* the same against a second, disjoint set of real renders (``real_ceiling``): the ceiling;

and draws seeds 1-16 of each offered style beside DiceBear renders of the same attributes.

    mascot-engine data dicebear --count 2000 --size 512 --styles STYLE... --out data/dicebear-2k-512-offered
    mascot-engine eval --protocol posted --checkpoint checkpoints/default \\
        --data data/dicebear-2k-512-offered --classifier-data data/dicebear-20k-128 \\
        --out docs/model/eval-default-posted
    mascot-engine export --checkpoint checkpoints/default --out ... --report docs/model/eval-default-posted

EvalNet learns from ``classifier_data`` (the training set): a thousand renders are too few to
teach it. It reads every picture at its own 64 px, so it is the same reader for 128 and 512.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import MascotError

POSTED_SIZE = 512
POSTED_SAMPLES = 1000
POSTED_METRICS = ("prc", "kid_effl0", "attr_precision", "real_ceiling")
CONFIDENT = 0.99  # a confident reading matches what 99 % of real renders' correct readings reach
NEAREST_K = 5


def offered_styles(schema) -> tuple[str, ...] | None:
    """The styles a model draws when asked for none: prior above zero and, with a label table,
    rows that hold them. None for a model without a ``style`` attribute."""
    if "style" not in schema.names:
        return None
    attr = schema.attribute("style")
    offered = schema.offered("style")
    if schema.joint is not None:
        column = schema.joint.rows[:, schema.names.index("style")]
        offered = [v for v in offered if (column == attr.index(v)).any()]
    return tuple(offered)


def check_real_set(ds, schema, size: int, samples: int) -> tuple[str, ...] | None:
    """The real set must be renders at ``size`` of exactly the offered styles, two sets' worth."""
    styles = offered_styles(schema)
    make = (
        f"mascot-engine data dicebear --count {2 * samples} --size {size}"
        + (f" --styles {' '.join(styles)}" if styles else "")
        + " --out DIR"
    )
    if ds.resolution != size:
        raise MascotError(
            f"the posted protocol compares at {size} px; '{ds.root}' is {ds.resolution} px: {make}"
        )
    if len(ds) < 2 * samples:
        raise MascotError(
            f"the posted protocol needs {2 * samples} real renders ({samples} to compare with, {samples} for "
            f"real against real); '{ds.root}' has {len(ds)}: {make}, or pass --samples {len(ds) // 2}"
        )
    if styles is not None:
        i = ds.schema.names.index("style")
        values = ds.schema.attribute("style").values
        held = tuple(values[k] for k in np.unique(np.asarray(ds.labels)[:, i]) if k >= 0)
        if set(held) != set(styles):
            raise MascotError(
                f"'{ds.root}' holds the styles {', '.join(held)}, "
                f"the model offers {', '.join(styles)}: {make}"
            )
    return styles


def evaluate_posted(
    checkpoint,
    data,
    out_dir: str | Path,
    classifier_data=None,
    samples: int = POSTED_SAMPLES,
    size: int = POSTED_SIZE,
    upscaler: str = "checkpoints/upscale",
    per_value: int = 32,
    seed: int = 0,
    feature_size: int = 160,
    device: str = "cpu",
    progress: bool = True,
    cache_dir: str | Path | None = None,
    evalnet_config=None,
    real_renderer=None,
    cell: int = 256,
) -> dict[str, Any]:
    """Run the protocol and draw the grids into ``out_dir`` (report.json, report.md, grid-STYLE.png)."""
    from engine.checkpoint import load_checkpoint
    from engine.data.dataset import Dataset
    from engine.metrics import grid
    from engine.metrics.context import EvalConfig, EvalContext
    from engine.metrics.report import evaluate

    ckpt = checkpoint if hasattr(checkpoint, "G") else load_checkpoint(checkpoint, device)
    real = data if isinstance(data, Dataset) else Dataset(data)
    if classifier_data is not None and not isinstance(classifier_data, Dataset):
        classifier_data = Dataset(classifier_data)
    styles = check_real_set(real, ckpt.schema, size, samples)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    common = dict(
        samples=samples,
        seed=seed,
        feature_size=feature_size,
        device=device,
        progress=progress,
        size=size,
        upscaler=upscaler,
        max_real=samples,  # equal counts: k-NN precision and recall depend on them
    )
    # The grid first: a minute's work that shows the model even if a metric fails later.
    ctx = EvalContext(ckpt, real, EvalConfig(**common))
    sheets = grid.write_grids(ctx, styles, out, real_renderer or grid.dicebear_renders, cell)
    return evaluate(
        ckpt,
        real,
        POSTED_METRICS,
        out_dir=out,
        options={
            "prc": {"nearest_k": NEAREST_K},
            "attr_precision": {"per_value": per_value, "confident": CONFIDENT},
            "real_ceiling": {"nearest_k": NEAREST_K, "confident": CONFIDENT},
        },
        cache_dir=cache_dir,
        evalnet_config=evalnet_config,
        classifier_data=classifier_data,
        extra={
            "protocol": "posted",
            "offered_styles": list(styles) if styles else None,
            "grid": {"seeds": list(grid.SEEDS), "files": sheets, "cell": min(cell, size)},
        },
        **common,
    )
