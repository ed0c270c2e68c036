"""Evaluation: KID/FID-EffLite0, domain KID, attribute precision, precision/recall/coverage,
Geometry Score and memorization, gathered into one report.

    from engine.metrics import evaluate
    report = evaluate("checkpoints/default", "data/dicebear-2k-64", samples=2000)
    report["metrics"]["kid_effl0"]["kid"]

Every metric is a function in the registry (``engine.metrics.registry``), one module each;
``report.evaluate`` runs a list of them on one shared set of generated samples.
"""

from engine.metrics.registry import all_metrics, get_metric


def evaluate(*args, **kwargs):
    """See ``engine.metrics.report.evaluate`` (imported lazily: it pulls in torch)."""
    from engine.metrics.report import evaluate as _evaluate

    return _evaluate(*args, **kwargs)


__all__ = ["all_metrics", "evaluate", "get_metric"]
