"""The metric registry (after stylegan2-ada's metric_main.py): a name -> function table.

A metric is a function ``fn(ctx: EvalContext, opts) -> dict`` returning JSON-able numbers.
It registers itself with the name a report uses, its frozen options dataclass, the key
of its one headline number and whether lower or higher is better, so the nightly gate
and ``compare`` can read any report without knowing the metric.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from engine.errors import MascotError

# One module per metric; importing a module registers its metrics.
METRIC_MODULES = ("kid", "fid", "attr_precision", "prc", "geometry_score", "memorization", "ceiling")
# What a report runs unless told otherwise: everything.
DEFAULT_METRICS = (
    "kid_effl0",
    "fid_effl0",
    "kid_domain",
    "attr_precision",
    "prc",
    "geometry_score",
    "memorization",
)
# Registered but run only when asked for: they need what a plain report does not have
# (real_ceiling: a second real set as large as the first; the posted protocol asks for it).
OPTIONAL_METRICS = ("real_ceiling",)


@dataclass(frozen=True)
class Metric:
    name: str
    fn: Callable[..., dict[str, Any]]
    options: type  # frozen dataclass of the metric's settings (defaults = the report's settings)
    headline: str  # key of the result that summarises it
    better: str  # "lower" or "higher"
    description: str


_REGISTRY: dict[str, Metric] = {}


def register_metric(name: str, *, options: type, headline: str, better: str, description: str):
    """Decorator: add ``fn`` to the registry under ``name``."""
    if better not in ("lower", "higher"):
        raise ValueError(f"better must be 'lower' or 'higher', not {better!r}")

    def wrap(fn):
        _REGISTRY[name] = Metric(name, fn, options, headline, better, description)
        return fn

    return wrap


def _load_all() -> None:
    for module in METRIC_MODULES:
        importlib.import_module(f"engine.metrics.{module}")


def all_metrics() -> dict[str, Metric]:
    """Every registered metric, in report order (not import order, which varies)."""
    _load_all()
    rank = {name: i for i, name in enumerate(DEFAULT_METRICS + OPTIONAL_METRICS)}
    return dict(sorted(_REGISTRY.items(), key=lambda item: (rank.get(item[0], len(rank)), item[0])))


def get_metric(name: str) -> Metric:
    metrics = all_metrics()
    if name not in metrics:
        raise MascotError(f"unknown metric '{name}'; known metrics: {', '.join(metrics)}")
    return metrics[name]


def make_options(metric: Metric, overrides: dict[str, Any] | None) -> Any:
    """The metric's options dataclass with ``overrides`` applied; bad keys -> MascotError."""
    fields = {f.name: f for f in dataclasses.fields(metric.options)}
    overrides = dict(overrides or {})
    unknown = [k for k in overrides if k not in fields]
    if unknown:
        allowed = ", ".join(fields) or "(none)"
        raise MascotError(
            f"metric '{metric.name}' has no option {', '.join(unknown)}; its options: {allowed}"
        )
    try:
        return metric.options(**overrides)
    except (TypeError, ValueError) as exc:
        raise MascotError(f"bad option for metric '{metric.name}': {exc}") from None
