"""``mascot-engine eval``, ``compare`` and ``eval-models build``.

mascot-engine eval --checkpoint runs/x/model --data data/dicebear-2k-64 --out reports/x
mascot-engine eval ... --metrics kid_effl0,attr_precision --samples 500 --option geometry_score.repetitions=20
mascot-engine compare runs/a/model reports/b --out compare.md
mascot-engine eval-models build --data data/dicebear-2k-64
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path
from typing import Any

from engine.errors import MascotError


def register(subparsers) -> None:
    from engine.metrics.registry import DEFAULT_METRICS

    p = subparsers.add_parser("eval", help="evaluate a checkpoint against a data set; writes a report")
    p.add_argument("--checkpoint", required=True, help="checkpoint folder")
    p.add_argument("--data", required=True, help="data set folder (the real images)")
    p.add_argument("--out", required=True, help="report folder: report.json, report.md, plots")
    p.add_argument(
        "--protocol",
        choices=["posted"],
        help="posted: the model card's figures at the posted size (512 px) against as many real renders "
        "at that size (--data: twice --samples, the offered styles), k = 5, confident attribute readings, "
        "real against real, and grids of seeds 1-16 per style beside DiceBear renders",
    )
    p.add_argument(
        "--metrics",
        help=f"comma-separated (default: all: {','.join(DEFAULT_METRICS)}); posted runs its own",
    )
    p.add_argument(
        "--samples", type=int, help="generated samples, fixed per report (default 2000; posted: 1000)"
    )
    p.add_argument(
        "--classifier-data",
        help="labelled data set EvalNet (the attribute reader) learns from (default: --data); "
        "the posted protocol's real renders are too few, give the training set",
    )
    p.add_argument(
        "--classifier-epochs",
        type=int,
        help="EvalNet's training epochs, if not its default (as 'eval-models build --epochs')",
    )
    p.add_argument("--seed", type=int, default=0, help="first seed of the generated samples")
    p.add_argument(
        "--feature-size", type=int, default=160, help="EffLite0 input size (224 = ImageNet, 2x slower)"
    )
    p.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="METRIC.KEY=VALUE",
        help="metric setting, e.g. geometry_score.repetitions=20",
    )
    p.add_argument(
        "--size",
        type=int,
        default=0,
        help="judge the samples at this side, as posted (default: the model's own; posted: 512)",
    )
    p.add_argument(
        "--upscaler",
        default="checkpoints/upscale",
        help="how --size is reached: an upscale-stage folder (default), or 'lanczos'",
    )
    p.add_argument("--device", default="cpu")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run_eval)

    c = subparsers.add_parser("compare", help="side-by-side table of checkpoints' or reports' metrics")
    c.add_argument("paths", nargs="+", help="checkpoint folders, report folders or report.json files")
    c.add_argument("--out", help="also write the table to this Markdown file")
    c.set_defaults(func=run_compare)

    m = subparsers.add_parser("eval-models", help="build the evaluation's own networks")
    msub = m.add_subparsers(dest="eval_models_command", required=True, metavar="ACTION")
    b = msub.add_parser("build", help="train (or load from the cache) the data set's attribute classifier")
    b.add_argument("--data", required=True, help="labelled data set folder")
    b.add_argument("--force", action="store_true", help="retrain even if cached")
    b.add_argument("--epochs", type=int, help="training epochs (default: EvalNetConfig's)")
    b.add_argument(
        "--device", default="cpu", help="where it trains: cpu, or cuda (seconds instead of minutes)"
    )
    b.add_argument(
        "--export",
        metavar="DIR",
        help="also ship it as DIR/tagger.{safetensors,json} "
        "(e.g. checkpoints/tagger: the engine's picture -> mascot reads attributes with it)",
    )
    b.set_defaults(func=run_build)


def parse_options(items: list[str]) -> dict[str, dict[str, Any]]:
    """``["geometry_score.repetitions=20"]`` -> ``{"geometry_score": {"repetitions": 20}}``."""
    out: dict[str, dict[str, Any]] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        metric, dot, field = key.strip().partition(".")
        if not sep or not dot or not metric or not field:
            raise MascotError(
                f"--option takes METRIC.KEY=VALUE (e.g. geometry_score.repetitions=20), got '{item}'"
            )
        try:
            value = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            value = raw
        out.setdefault(metric, {})[field] = value
    return out


def run_eval(args: argparse.Namespace) -> int:
    from engine.metrics.report import MetricsFailed

    try:
        report = run_posted(args) if args.protocol == "posted" else run_plain(args)
    except MetricsFailed as failed:
        print_headline(failed.report)
        print(f"mascot-engine: error: {failed}", file=sys.stderr)
        return 1
    print_headline(report)
    return 0


def _evalnet_config(args: argparse.Namespace):
    import dataclasses

    from engine.evalnet import EvalNetConfig

    if args.classifier_epochs is None:
        return None
    return dataclasses.replace(EvalNetConfig(), epochs=args.classifier_epochs)


def run_plain(args: argparse.Namespace) -> dict[str, Any]:
    from engine.metrics.registry import DEFAULT_METRICS
    from engine.metrics.report import evaluate

    metrics = [m for m in (args.metrics or ",".join(DEFAULT_METRICS)).split(",") if m.strip()]
    samples = args.samples or 2000
    print(
        f"evaluating {args.checkpoint} on {args.data}: {samples} samples, seed {args.seed}, "
        f"metrics {', '.join(metrics)}"
    )
    return evaluate(
        args.checkpoint,
        args.data,
        metrics,
        samples=samples,
        seed=args.seed,
        out_dir=args.out,
        options=parse_options(args.option),
        feature_size=args.feature_size,
        device=args.device,
        progress=not args.quiet,
        size=args.size,
        upscaler=args.upscaler,
        classifier_data=args.classifier_data,
        evalnet_config=_evalnet_config(args),
    )


def run_posted(args: argparse.Namespace) -> dict[str, Any]:
    from engine.metrics.posted import POSTED_METRICS, POSTED_SAMPLES, POSTED_SIZE, evaluate_posted

    if args.metrics:
        raise MascotError(
            f"the posted protocol runs its own metrics ({', '.join(POSTED_METRICS)}); drop --metrics"
        )
    options = parse_options(args.option)
    per_value = options.pop("attr_precision", {}).pop("per_value", 32)
    if any(options.values()):
        raise MascotError(
            "the posted protocol fixes its settings; only --option attr_precision.per_value=N may be set"
        )
    samples, size = args.samples or POSTED_SAMPLES, args.size or POSTED_SIZE
    print(
        f"posted protocol for {args.checkpoint}: {samples} samples at {size} px against {samples} "
        f"real renders in {args.data} (and {samples} more for real against real)"
    )
    return evaluate_posted(
        args.checkpoint,
        args.data,
        args.out,
        classifier_data=args.classifier_data,
        samples=samples,
        size=size,
        upscaler=args.upscaler,
        per_value=per_value,
        seed=args.seed,
        feature_size=args.feature_size,
        device=args.device,
        progress=not args.quiet,
        evalnet_config=_evalnet_config(args),
    )


def print_headline(report: dict[str, Any]) -> None:
    print(f"{report['samples']} samples ({report['fid_name']} = EfficientNet-Lite0 features, not Inception)")
    for name, head in report["headline"].items():
        print(
            f"  {name:16s} {head['value']:.5g}  ({head['better']} is better, {report['seconds'][name]:.0f} s)"
        )
    for name in report.get("failed", {}):
        print(f"  {name:16s} FAILED")
    where = report.get("written_to")
    print(f"total {report['seconds']['total']:.0f} s" + (f"; wrote {where} and report.md" if where else ""))


def run_compare(args: argparse.Namespace) -> int:
    from engine.atomic import atomic_write_text
    from engine.metrics.report import compare_markdown

    table = compare_markdown(args.paths)
    print(table, end="")
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out, table)
        print(f"wrote {out}")
    return 0


def run_build(args: argparse.Namespace) -> int:
    import dataclasses
    import time

    from engine.data.dataset import Dataset
    from engine.evalnet import EvalNetConfig, accuracy_lines, get_evalnet

    config = (
        EvalNetConfig() if args.epochs is None else dataclasses.replace(EvalNetConfig(), epochs=args.epochs)
    )
    start = time.perf_counter()
    model = get_evalnet(Dataset(args.data), config, rebuild=args.force, device=args.device)
    print(f"attribute classifier for {args.data} ({time.perf_counter() - start:.0f} s); held-out accuracy:")
    print(accuracy_lines(model.accuracy))
    if args.export:
        from engine.evalnet import export_tagger

        print(f"wrote {export_tagger(model, args.export, args.data)}")
    return 0
