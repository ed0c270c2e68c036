"""Attribute precision (MakeGirlsMoe, Appendix E / Table 2), made automatic.

For each attribute value v: fix the attribute to v, fill the others as the service does
(``Schema.sample`` with the data set's label table: a real row that has v, so we never
ask for impossible combinations such as a hat on a style that never wears one, and what
that row leaves unlabelled stays unset), generate ``per_value`` images and let EvalNet,
trained only on real images, say what it sees. Precision of v is the fraction
classified as v. A generator that ignores its conditioning scores about 1/K on a
K-valued attribute (the "chance" column); the classifier's held-out accuracy is
reported beside it, since no precision can be read above that.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.errors import MascotError
from engine.metrics.registry import register_metric
from engine.sampling import Request, resolve
from engine.schema import Schema


@dataclass(frozen=True)
class AttrPrecisionOptions:
    per_value: int = 32  # images drawn per attribute value (MakeGirlsMoe: 20, judged by hand)

    def __post_init__(self) -> None:
        if not 1 <= self.per_value <= 10000:
            raise MascotError(f"attr_precision per_value must be from 1 to 10000, got {self.per_value}")


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


def precision_table(
    schema: Schema, predictions: dict[tuple[int, int], np.ndarray], accuracy: dict[str, float | None]
) -> dict:
    """Per value, per attribute and overall precision from EvalNet's predictions."""
    per_attribute, all_values = {}, []
    for i, attr in enumerate(schema.attributes):
        if accuracy.get(attr.name) is None:
            continue  # never visible in the held-out data: the classifier cannot be trusted on it
        values = {v: float((predictions[(i, k)][:, i] == k).mean()) for k, v in enumerate(attr.values)}
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
    # The data's label table, not the checkpoint's: every model is asked the same things.
    asker = ctx.dataset.schema
    jobs = [(i, k) for i, attr in enumerate(schema.attributes) for k in range(len(attr.values))]
    requests = [
        r for i, k in jobs for r in conditioned_requests(asker, i, k, opts.per_value, ctx.config.seed)
    ]
    images = ctx.render(requests, desc="attr_precision samples")
    pred = net.predict(images)
    predictions = {job: pred[n * opts.per_value : (n + 1) * opts.per_value] for n, job in enumerate(jobs)}
    table = precision_table(schema, predictions, net.accuracy)
    return {
        **table,
        "per_value": opts.per_value,
        "images": len(requests),
        "classifier": {"held_out_accuracy": net.accuracy, "input_size": net.config.size},
    }
