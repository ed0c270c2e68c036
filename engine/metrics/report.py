"""One evaluation -> one report (report.json, report.md, plots), and side-by-side comparison.

``evaluate`` is what the CLI and the nightly gate call::

    report = evaluate("runs/x/model", "data/dicebear-2k-64", samples=2000, out_dir="reports/x")
    report["metrics"]["kid_effl0"]["kid"]

Every metric in a report sees the same generated samples (seeds seed..seed+samples-1);
the sample count is part of the report and printed in its heading, because KID is only
unbiased, and FID only comparable, at a fixed count.
"""

from __future__ import annotations

import json
import math
import platform
import time
import traceback
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from engine.atomic import atomic_write_text
from engine.errors import MascotError
from engine.features import EFFL0_NAME
from engine.metrics.context import EvalConfig, EvalContext
from engine.metrics.registry import DEFAULT_METRICS, all_metrics, get_metric, make_options

REPORT_VERSION = 1


def evaluate(
    checkpoint,
    data,
    metrics: Iterable[str] | None = None,
    samples: int = 2000,
    seed: int = 0,
    out_dir: str | Path | None = None,
    options: Mapping[str, Mapping[str, Any]] | None = None,
    feature_size: int = 160,
    device: str = "cpu",
    cache_dir: str | Path | None = None,
    evalnet_config=None,
    progress: bool = True,
    size: int = 0,
    upscaler: str = "lanczos",
    max_real: int = 10000,
    classifier_data=None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Run ``metrics`` (default: all) for a checkpoint (folder or loaded Checkpoint) on a data set
    (folder or Dataset). ``options`` overrides metric settings: ``{"geometry_score": {"repetitions": 10}}``.
    Writes report.json, report.md and plots into ``out_dir`` when given, after every metric;
    returns the report, or raises MetricsFailed (carrying it) when any metric raised.
    ``classifier_data``: the labelled set EvalNet learns from (default ``data``); ``extra``:
    more fields for the report (a protocol's name, its pictures)."""
    from engine.checkpoint import load_checkpoint
    from engine.data.dataset import Dataset

    names = _check_metric_names(metrics)
    opts = _metric_options(names, options or {})
    config = EvalConfig(
        samples=samples,
        seed=seed,
        feature_size=feature_size,
        device=device,
        cache_dir=str(cache_dir) if cache_dir else None,
        progress=progress,
        size=size,
        upscaler=upscaler,
        max_real=max_real,
    )
    ckpt = checkpoint if hasattr(checkpoint, "G") else load_checkpoint(checkpoint, device)
    ds = data if isinstance(data, Dataset) else Dataset(data)
    out = Path(out_dir) if out_dir is not None else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    teacher = classifier_data
    if teacher is not None and not isinstance(teacher, Dataset):
        teacher = Dataset(teacher)
    ctx = EvalContext(ckpt, ds, config, out, evalnet_config, teacher)
    run = _Run(ckpt, ds, config, opts, out, dict(extra or {}))
    for name in names:
        run.measure(name, ctx)
        run.write()  # every finished metric is on disk before the next one starts
    if run.failed:
        raise MetricsFailed(run.report())
    return run.report()


class MetricsFailed(MascotError):
    """Some metrics raised; ``report`` holds every one that finished and, under ``failed``,
    what each failing one said. report.json and report.md were written with both."""

    def __init__(self, report: dict[str, Any]) -> None:
        self.report = report
        failed = report["failed"]
        done = len(report["metrics"])
        where = f"; the {done} finished are in {report['written_to']}" if report.get("written_to") else ""
        super().__init__(
            f"{len(failed)} of {done + len(failed)} metrics failed: "
            + "; ".join(f"{name} ({why['error']})" for name, why in failed.items())
            + where
        )


class _Run:
    """One evaluation's results as they arrive, and the report they make at any moment."""

    def __init__(
        self, ckpt, ds, config: EvalConfig, opts: dict[str, Any], out: Path | None, extra: dict[str, Any]
    ) -> None:
        self.ckpt, self.ds, self.config, self.opts, self.out = ckpt, ds, config, opts, out
        self.extra = extra
        self.results: dict[str, Any] = {}
        self.seconds: dict[str, float] = {}
        self.failed: dict[str, dict[str, str]] = {}
        self.start = time.perf_counter()

    def measure(self, name: str, ctx: EvalContext) -> None:
        t0 = time.perf_counter()
        try:
            self.results[name] = get_metric(name).fn(ctx, self.opts[name])
        except Exception as exc:  # one metric's failure must not cost the others
            self.failed[name] = {
                "error": str(exc) if isinstance(exc, MascotError) else f"{type(exc).__name__}: {exc}",
                "traceback": traceback.format_exc(limit=-8),
            }
        self.seconds[name] = round(time.perf_counter() - t0, 2)  # shared work counts where it first runs

    def report(self) -> dict[str, Any]:
        ckpt, ds, config = self.ckpt, self.ds, self.config
        return {
            "report_version": REPORT_VERSION,
            "checkpoint": str(getattr(ckpt, "path", "")),
            "model_version": str(ckpt.meta.get("version", "")),
            "family": ckpt.meta.get("family"),
            "resolution": ckpt.meta.get("resolution"),
            "data": str(ds.root),
            "data_fingerprint": ds.fingerprint,
            "samples": config.samples,
            "seed": config.seed,
            "feature_size": config.feature_size,
            "size": config.size or ckpt.meta.get("resolution"),
            "enlarged_by": config.upscaler if config.size not in (0, ckpt.meta.get("resolution")) else None,
            "fid_name": EFFL0_NAME,
            "real": min(len(ds), config.max_real),
            **self.extra,
            "options": {n: _jsonable(vars(o)) for n, o in self.opts.items()},
            "headline": {
                n: {"value": _headline(n, r), "better": get_metric(n).better} for n, r in self.results.items()
            },
            "metrics": self.results,
            "failed": self.failed,
            "pending": [n for n in self.opts if n not in self.results and n not in self.failed],
            "seconds": {**self.seconds, "total": round(time.perf_counter() - self.start, 2)},
            "host": platform.node(),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "written_to": str(self.out / "report.json") if self.out is not None else None,
        }

    def write(self) -> None:
        if self.out is None:
            return
        report = self.report()
        atomic_write_text(self.out / "report.json", json.dumps(_jsonable(report), indent=1))
        atomic_write_text(self.out / "report.md", render_markdown(report))


def _check_metric_names(metrics: Iterable[str] | None) -> list[str]:
    if metrics is None:
        return list(DEFAULT_METRICS)
    names = [m.strip() for m in metrics if m.strip()]
    if not names:
        raise MascotError(f"no metrics were asked for; known metrics: {', '.join(all_metrics())}")
    for name in names:
        get_metric(name)  # unknown -> MascotError listing the known ones
    return list(dict.fromkeys(names))


def _metric_options(names: list[str], options: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    stray = [k for k in options if k not in names]
    if stray:
        raise MascotError(
            f"options given for metrics not being run: {', '.join(stray)}; running: {', '.join(names)}"
        )
    return {n: make_options(get_metric(n), options.get(n)) for n in names}


def _headline(name: str, result: Mapping[str, Any]) -> float:
    return result[get_metric(name).headline]


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if hasattr(obj, "item"):  # numpy scalar
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


# --- Markdown ---------------------------------------------------------------------


def _fmt(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def render_markdown(report: Mapping[str, Any]) -> str:
    m = report["metrics"]
    lines = [
        f"# Evaluation of {report['model_version'] or report['checkpoint']}",
        "",
        f"- checkpoint: `{report['checkpoint']}` ({report['family']}, {report['resolution']}px)",
        f"- data: `{report['data']}` (fingerprint {report['data_fingerprint']})",
        f"- **{report['samples']} generated samples**, seeds "
        f"{report['seed']}..{report['seed'] + report['samples'] - 1}",
        f"- EfficientNet-Lite0 features at {report['feature_size']}px: FID here is **{report['fid_name']}**, "
        "not the Inception FID of the papers; compare only reports "
        "with the same sample count and feature size.",
        f"- total time {report['seconds']['total']:.0f} s",
        *_protocol_lines(report),
        "",
        "| metric | value | better | seconds |",
        "|---|---|---|---|",
    ]
    for name, head in report["headline"].items():
        key = get_metric(name).headline if name in all_metrics() else "value"
        lines.append(
            f"| {name}.{key} | {_fmt(head['value'])} | {head['better']} | {report['seconds'].get(name, '')} |"
        )
    for name, why in report.get("failed", {}).items():
        lines.append(f"| {name} | **failed**: {why['error']} | | {report['seconds'].get(name, '')} |")
    for name in report.get("pending", []):
        lines.append(f"| {name} | not yet measured | | |")
    for name, result in m.items():
        lines += ["", f"## {name}", ""]
        lines += _detail_lines(name, result)
    return "\n".join(lines) + "\n"


def _protocol_lines(report: Mapping[str, Any]) -> list[str]:
    if report.get("protocol") != "posted":
        return []
    styles = report.get("offered_styles")
    lines = [
        f"- **posted protocol**: samples at {report['size']} px (enlarged by `{report['enlarged_by']}`) "
        f"against {report['real']} real renders at {report['size']} px"
        + (f" of the offered styles ({', '.join(styles)})" if styles else "")
        + "; real_ceiling is real renders against as many other real renders",
    ]
    grid = report.get("grid")
    if grid:
        lines += [
            "",
            f"Seeds {grid['seeds'][0]}-{grid['seeds'][-1]}: the model left, DiceBear right, same attributes.",
            "",
        ]
        lines += [f"![{style}]({file})" for style, file in grid["files"].items()]
    return lines


def _detail_lines(name: str, result: Mapping[str, Any]) -> list[str]:
    if name == "attr_precision":
        return _attr_lines(result)
    if name == "real_ceiling":
        return _ceiling_lines(result)
    lines = [
        f"- {k}: {_fmt(v)}" for k, v in result.items() if not isinstance(v, (list, dict)) and k != "plot"
    ]
    if "plot" in result:
        lines += ["", f"![{name}]({result['plot']})"]
    if "by_style" in result:
        lines += _by_style_lines(result["by_style"])
    return lines


def _by_style_lines(by_style: Mapping[str, Mapping[str, Any]]) -> list[str]:
    lines = [
        "",
        "Per style: its generated samples inside the whole real manifold (precision), its real "
        "renders inside the whole generated manifold (recall).",
        "",
        "| style | precision | recall | generated | real |",
        "|---|---|---|---|---|",
    ]
    for style, row in by_style.items():
        cells = (_fmt(row["precision"]), _fmt(row["recall"]), row["generated"], row["real"])
        lines.append(f"| {style} | " + " | ".join(map(str, cells)) + " |")
    return lines


def _attr_lines(result: Mapping[str, Any]) -> list[str]:
    confident = result.get("confidence")
    lines = [
        f"Mean precision {result['mean']:.3f} over all values (chance {result['chance']:.3f}); "
        f"{result['per_value']} images per value, judged by EvalNet at "
        f"{result['classifier']['input_size']}px.",
    ]
    if confident:
        lines[0] += (
            f" A reading counts only when EvalNet is at least as sure as it is of "
            f"{confident['keep']:.0%} of its correct readings of {confident['calibrated_on']} real renders; "
            f"the nearest name alone would score {result['nearest_name_mean']:.3f}. "
            "Per value: precision (share of readings under the threshold)."
        )
    lines += [
        "",
        "| attribute | mean precision | chance | classifier held-out accuracy | per value |",
        "|---|---|---|---|---|",
    ]
    for attr, row in result["per_attribute"].items():
        unsure = row.get("under_threshold", {})
        values = ", ".join(
            f"{v} {p:.2f}" + (f" ({unsure[v]:.2f})" if v in unsure else "") for v, p in row["values"].items()
        )
        lines.append(
            f"| {attr} | {row['mean']:.3f} | {row['chance']:.3f} | {_fmt(row['classifier_accuracy'])} | "
            f"{values} |"
        )
    return lines


def _ceiling_lines(result: Mapping[str, Any]) -> list[str]:
    lines = [
        f"{result['real']} real renders against {result['other_real']} others: precision "
        f"{result['precision']:.3f}, recall {result['recall']:.3f} (k = {result['nearest_k']}), "
        f"KID {result['kid']:.4f}; EvalNet reads their labels confidently {result['attr_precision']:.3f} "
        f"of the time and is unsure of {result['under_threshold']:.3f} of its readings.",
        "",
        "| attribute | per value: confident and right (unsure) |",
        "|---|---|",
    ]
    for attr, row in result["per_attribute"].items():
        cells = ", ".join(f"{v} {p:.2f} ({row['under_threshold'][v]:.2f})" for v, p in row["values"].items())
        lines.append(f"| {attr} | {cells} |")
    return lines


# --- compare ----------------------------------------------------------------------


def load_results(path: str | Path) -> tuple[str, dict[str, Any], int | None]:
    """(label, metrics, samples) from a report folder/file or a checkpoint's model.json."""
    p = Path(path)
    for candidate in [p / "report.json", p / "model.json"] if p.is_dir() else [p]:
        if candidate.is_file():
            try:
                data = json.loads(candidate.read_text())
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise MascotError(f"'{candidate}' is not valid JSON: {exc}") from None
            if not isinstance(data, dict) or not isinstance(data.get("metrics"), dict):
                raise MascotError(
                    f"'{candidate}' carries no metrics (expected a report.json or a model.json)"
                )
            label = data.get("model_version") or data.get("version") or p.name
            samples = (
                data.get("samples")
                or (data.get("evaluation") or {}).get("samples")
                or data["metrics"].get("samples")
            )
            return str(label), data["metrics"], samples
    raise MascotError(
        f"nothing to compare at '{path}': give a report folder, a report.json or a checkpoint folder"
    )


def _rows(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """Flat ``metric.key -> number``: the headline first, then the other real-valued numbers."""
    known = all_metrics()
    rows: dict[str, Any] = {}
    for name, value in metrics.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            rows[name] = value
        elif isinstance(value, dict):
            head = known[name].headline if name in known else None
            if head in value:
                rows[f"{name}.{head}"] = value[head]
            rows.update({f"{name}.{k}": v for k, v in value.items() if isinstance(v, float) and k != head})
            by_style = value.get("by_style")
            for style, row in by_style.items() if isinstance(by_style, dict) else ():
                if isinstance(row, dict):  # a hand-edited report may hold anything: skip what is not a row
                    rows.update({f"{name}.{k} ({style})": row.get(k) for k in ("precision", "recall")})
    return rows


def compare_markdown(paths: list[str | Path]) -> str:
    """A Markdown table: one column per checkpoint/report, one row per number; best headline in bold."""
    if not paths:
        raise MascotError("compare needs at least one checkpoint or report")
    columns = [load_results(p) for p in paths]
    labels = [label for label, _, _ in columns]
    if len(set(labels)) < len(labels):  # one model evaluated twice: tell the columns apart by path
        columns = [(f"{label} ({Path(p).name})", m, s) for (label, m, s), p in zip(columns, paths)]
    tables = [_rows(metrics) for _, metrics, _ in columns]
    keys = list(dict.fromkeys(k for t in tables for k in t))
    known = all_metrics()
    lines = [
        "| | " + " | ".join(label for label, _, _ in columns) + " |",
        "|---" * (len(columns) + 1) + "|",
        "| samples | " + " | ".join(_fmt(s) for _, _, s in columns) + " |",
    ]
    for key in keys:
        values = [t.get(key) for t in tables]
        best = _best(key, values, known)
        cells = [f"**{_fmt(v)}**" if i == best else _fmt(v) for i, v in enumerate(values)]
        lines.append(f"| {key} | " + " | ".join(cells) + " |")
    if len({s for _, _, s in columns if s is not None}) > 1:
        lines += [
            "",
            "Warning: the columns used different sample counts; KID/FID are not directly comparable.",
        ]
    return "\n".join(lines) + "\n"


def _best(key: str, values: list[Any], known) -> int | None:
    name, _, field = key.partition(".")
    metric = known.get(name)
    numbers = [(v, i) for i, v in enumerate(values) if isinstance(v, (int, float))]
    if metric is None or field != metric.headline or len(numbers) < 2:
        return None
    pick = min if metric.better == "lower" else max
    return pick(numbers)[1]
