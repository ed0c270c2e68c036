"""Attribute precision (MakeGirlsMoe, Appendix E / Table 2), made automatic.

For each attribute value v the data shows (of attributes it shows two values of or more):
fix the attribute to v, fill the others as the service does
(``Schema.sample`` with the data set's label table: a real row that has v, so we never
ask for impossible combinations such as a hat on a style that never wears one, and what
that row leaves unlabelled stays unset), generate ``per_value`` images and let EvalNet,
trained only on real images, say what it sees. Precision of v is the fraction
classified as v. A generator that ignores its conditioning scores about 1/K on a
K-valued attribute (the "chance" column); the classifier's held-out accuracy is
reported beside it, since no precision can be read above that.

With ``confident`` set (the posted protocol sets 0.99), a reading counts only when EvalNet
is sure of it: per attribute, the threshold is the confidence that keeps that share of the
correct readings of real renders (judged at the same size as the samples), so a washed-out
colour that EvalNet calls "blonde" at 40 % is a miss, not the nearest name. Each value also
reports how often its readings fell under the threshold, and what the nearest name alone
would have scored.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from engine.errors import MascotError
from engine.metrics.registry import register_metric
from engine.sampling import Request, resolve
from engine.schema import UNKNOWN, Schema


@dataclass(frozen=True)
class AttrPrecisionOptions:
    per_value: int = 32  # images drawn per attribute value (MakeGirlsMoe: 20, judged by hand)
    # Share of real renders' correct readings a confident reading must match (0.99); None:
    # every reading counts as its nearest name.
    confident: float | None = None
    calibration_images: int = 2000  # real renders read to set the thresholds

    def __post_init__(self) -> None:
        if not 1 <= self.per_value <= 10000:
            raise MascotError(f"attr_precision per_value must be from 1 to 10000, got {self.per_value}")
        if self.confident is not None and not 0.5 <= self.confident < 1:
            raise MascotError(
                "attr_precision confident must be a share from 0.5 to below 1 (e.g. 0.99), "
                f"got {self.confident}"
            )
        if self.calibration_images < 10:
            raise MascotError(
                f"attr_precision calibration_images must be at least 10, got {self.calibration_images}"
            )


def calibrate(net, images: np.ndarray, labels: np.ndarray, keep: float) -> dict[str, float | None]:
    """Per attribute, the confidence that ``keep`` of the correct readings of real renders reach.
    None where no real render shows the attribute (then nothing can be read confidently)."""
    probs = net.probabilities(images)
    thresholds: dict[str, float | None] = {}
    for i, attr in enumerate(net.schema.attributes):
        read = probs[i].argmax(1)
        correct = (labels[:, i] != UNKNOWN) & (read == labels[:, i])
        confidence = probs[i].max(1)[correct]
        thresholds[attr.name] = float(np.quantile(confidence, 1 - keep)) if len(confidence) else None
    return thresholds


def read_confidently(
    net, images: np.ndarray, thresholds: dict[str, float | None] | None
) -> tuple[np.ndarray, np.ndarray]:
    """(nearest, under): the value index EvalNet reads per attribute (its nearest name), and
    where its confidence falls under the attribute's threshold (nowhere without thresholds)."""
    probs = net.probabilities(images)
    nearest = np.stack([p.argmax(1) for p in probs], 1)
    if thresholds is None:
        return nearest, np.zeros(nearest.shape, bool)
    limits = [thresholds[a.name] for a in net.schema.attributes]
    under = np.stack([p.max(1) < (np.inf if t is None else t) for p, t in zip(probs, limits)], 1)
    return nearest, under


def check_same_schema(model_schema: Schema, data_schema: Schema) -> None:
    def shape(schema: Schema) -> list:
        return [(a.name, a.values) for a in schema.attributes]

    if shape(model_schema) != shape(data_schema):
        raise MascotError(
            "attr_precision needs the checkpoint and the data set to share one attribute schema; "
            f"checkpoint has {', '.join(model_schema.names)}, data has {', '.join(data_schema.names)}"
        )


def conditioned_requests(schema: Schema, attr_i: int, value_i: int, n: int, seed: int) -> list[Request]:
    """``n`` requests with attribute ``attr_i`` fixed to ``value_i``, the rest filled by ``schema``."""
    attr = schema.attributes[attr_i]
    # Seeds are shared across values: each value is drawn from the same latents.
    return [resolve(schema, {attr.name: attr.values[value_i]}, seed + j) for j in range(n)]


def asked_values(schema: Schema, labels: np.ndarray) -> list[tuple[int, int]]:
    """(attribute, value) pairs worth asking: values the data's labels show, of attributes that
    show at least two. A pixel-art set labels every render "style: pixel-art": asking its model
    for "lorelei" would only measure what the data never taught it."""
    jobs = []
    for i, attr in enumerate(schema.attributes):
        shown = [k for k in range(len(attr.values)) if (labels[:, i] == k).any()]
        jobs += [(i, k) for k in shown] if len(shown) >= 2 else []
    return jobs


def precision_table(
    schema: Schema, predictions: dict[tuple[int, int], np.ndarray], accuracy: dict[str, float | None]
) -> dict:
    """Per value, per attribute and overall precision from EvalNet's predictions."""
    per_attribute, all_values = {}, []
    for i, attr in enumerate(schema.attributes):
        if accuracy.get(attr.name) is None:
            continue  # never visible in the held-out data: the classifier cannot be trusted on it
        asked = [(k, v) for k, v in enumerate(attr.values) if (i, k) in predictions]
        if not asked:
            continue  # the data shows fewer than two of its values: nothing to condition on
        values = {v: float((predictions[(i, k)][:, i] == k).mean()) for k, v in asked}
        all_values += values.values()
        per_attribute[attr.name] = {
            "mean": float(np.mean(list(values.values()))),
            "chance": 1 / len(attr.values),
            "classifier_accuracy": accuracy[attr.name],
            "values": values,
        }
    if not per_attribute:
        raise MascotError("attr_precision found no attribute the classifier could learn (no visible labels)")
    return {
        "mean": float(np.mean(all_values)),
        "mean_over_attributes": float(np.mean([a["mean"] for a in per_attribute.values()])),
        "chance": float(np.mean([a["chance"] for a in per_attribute.values()])),
        "per_attribute": per_attribute,
    }


@register_metric(
    "attr_precision",
    options=AttrPrecisionOptions,
    headline="mean",
    better="higher",
    description="precision of each attribute value, judged by EvalNet (MakeGirlsMoe Table 2)",
)
def attr_precision(ctx, opts: AttrPrecisionOptions) -> dict:
    schema = ctx.checkpoint.schema
    check_same_schema(schema, ctx.dataset.schema)
    net = ctx.evalnet()
    thresholds = calibration(ctx, opts)
    # The data's label table, not the checkpoint's: every model is asked the same things.
    asker = ctx.dataset.schema
    jobs = asked_values(schema, np.asarray(ctx.dataset.labels))
    predictions, nearest, under = {}, {}, {}
    for job in tqdm(jobs, desc="attr_precision values", unit="value", disable=not ctx.config.progress):
        # One value at a time: at the posted size a whole table of images would not fit in memory.
        requests = conditioned_requests(asker, *job, opts.per_value, ctx.config.seed)
        images = ctx.posted(ctx.render(requests, desc=None), show=False)
        nearest[job], under[job] = read_confidently(net, images, thresholds)
        predictions[job] = np.where(under[job], UNKNOWN, nearest[job])  # unsure reads as a miss
    table = precision_table(schema, predictions, net.accuracy)
    out = {
        **table,
        "per_value": opts.per_value,
        "images": opts.per_value * len(jobs),
        "size": ctx.config.size or ctx.checkpoint.meta.get("resolution"),
        "classifier": {
            "held_out_accuracy": net.accuracy,
            "input_size": net.config.size,
            "trained_on": str(ctx.classifier_dataset.root),
        },
    }
    if thresholds is not None:
        nearest_table = precision_table(schema, nearest, net.accuracy)
        for i, attr in enumerate(schema.attributes):
            row = out["per_attribute"].get(attr.name)
            if row is not None:
                row["under_threshold"] = {
                    v: float(under[(i, k)][:, i].mean()) for k, v in enumerate(attr.values) if (i, k) in under
                }
                row["nearest_name"] = nearest_table["per_attribute"][attr.name]["values"]
        out["nearest_name_mean"] = nearest_table["mean"]
        out["confidence"] = {
            "keep": opts.confident,
            "thresholds": thresholds,
            "calibrated_on": int(min(len(ctx.real_indices()), opts.calibration_images)),
        }
    return out


def calibration(ctx, opts: AttrPrecisionOptions) -> dict[str, float | None] | None:
    """The thresholds for ``opts.confident``, from real renders at the size samples are judged at."""
    if opts.confident is None:
        return None
    idx = ctx.real_indices()[: opts.calibration_images]
    images, labels = np.asarray(ctx.dataset.images[idx]), np.asarray(ctx.dataset.labels[idx])
    size = ctx.config.size or ctx.checkpoint.meta.get("resolution")
    if images.shape[1] != size:
        raise MascotError(
            "confident readings are calibrated on real renders at the size samples are judged at "
            f"({size} px); '{ctx.dataset.root}' holds {images.shape[1]} px images"
        )
    return calibrate(ctx.evalnet(), images, labels, opts.confident)
