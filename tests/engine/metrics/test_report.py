import dataclasses
import json

import pytest

from engine import features as F
from engine.cli import main
from engine.errors import MascotError
from engine.evalnet import EvalNetConfig
from engine.metrics import all_metrics, evaluate
from engine.metrics.registry import DEFAULT_METRICS, OPTIONAL_METRICS
from engine.metrics.report import compare_markdown

SMALL = dict(
    samples=48,
    feature_size=64,
    progress=False,
    evalnet_config=EvalNetConfig(size=16, epochs=3),
    options={"geometry_score": {"landmarks": 16, "repetitions": 3}, "attr_precision": {"per_value": 4}},
)


@pytest.fixture(scope="module")
def report_dir(tiny_checkpoint, toy_dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MASCOT_CACHE", str(tmp_path_factory.mktemp("cache")))
        evaluate(tiny_checkpoint, toy_dataset, out_dir=out, **SMALL)
    return out


def test_every_metric_is_registered_and_in_the_report(report_dir):
    report = json.loads((report_dir / "report.json").read_text())
    assert set(DEFAULT_METRICS) == set(report["metrics"])
    assert set(DEFAULT_METRICS) | set(OPTIONAL_METRICS) == set(all_metrics())
    assert report["samples"] == 48 and report["fid_name"] == "FID-EffLite0"
    assert report["metrics"]["kid_effl0"]["generated"] == 48
    for name, head in report["headline"].items():
        assert isinstance(head["value"], float) and head["better"] in ("lower", "higher"), name
    assert (report_dir / "mrlt.png").is_file() and (report_dir / "memorization.png").is_file()


def test_markdown_names_the_fid_honestly_and_prints_the_sample_count(report_dir):
    md = (report_dir / "report.md").read_text()
    assert "FID-EffLite0" in md and "not the Inception FID" in md
    assert "48 generated samples" in md
    assert "| hair |" in md  # the attribute precision table


def test_real_features_are_cached_atomically_and_reused(
    tiny_checkpoint, toy_dataset, metrics_cache, monkeypatch
):
    from engine.data.dataset import Dataset

    ds = Dataset(toy_dataset)
    first = F.cached_real_effl0(ds, size=64, max_real=1000, progress=False)
    files = list(metrics_cache.glob("real-effl0-*.npy"))
    assert len(files) == 1 and ds.fingerprint in files[0].name
    assert not list(metrics_cache.glob(".*"))  # no temp file left
    monkeypatch.setattr(F, "effl0_features", lambda *a, **k: pytest.fail("recomputed despite the cache"))
    assert (F.cached_real_effl0(ds, size=64, max_real=1000, progress=False) == first).all()


def test_cli_eval_and_compare(tiny_checkpoint, toy_dataset, report_dir, tmp_path, capsys):
    ckpt = tiny_checkpoint  # the run's model/ folder
    out = tmp_path / "cli"
    code = main(
        [
            "eval",
            "--checkpoint",
            str(ckpt),
            "--data",
            str(toy_dataset),
            "--out",
            str(out),
            "--quiet",
            "--metrics",
            "kid_effl0,prc",
            "--samples",
            "20",
            "--feature-size",
            "64",
            "--seed",
            "5",
            "--option",
            "prc.nearest_k=3",
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "20 samples" in printed and "kid_effl0" in printed
    report = json.loads((out / "report.json").read_text())
    assert report["seed"] == 5 and report["metrics"]["prc"]["nearest_k"] == 3
    code = main(["compare", str(report_dir), str(out), "--out", str(tmp_path / "cmp.md")])
    table = (tmp_path / "cmp.md").read_text()
    assert code == 0 and "kid_effl0.kid" in table and "prc.recall" in table
    assert "different sample counts" in table  # 48 vs 20


def test_compare_reads_metrics_stored_in_a_checkpoint(tmp_path):
    for name, kid in (("a", 0.5), ("b", 0.2)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "model.json").write_text(
            json.dumps({"version": name, "metrics": {"kid_effl0": {"kid": kid}}})
        )
    table = compare_markdown([tmp_path / "a", tmp_path / "b"])
    assert "| kid_effl0.kid | 0.5 | **0.2** |" in table  # lower is better: b wins


def test_compare_puts_each_styles_precision_side_by_side(tmp_path):
    for name, micah in (("a", 0.1), ("b", None)):
        rows = {"micah": {"precision": micah, "recall": 0.3}, "junk": 3}
        (tmp_path / name).mkdir()
        (tmp_path / name / "model.json").write_text(
            json.dumps({"version": name, "metrics": {"prc": {"precision": 0.2, "by_style": rows}}})
        )
    table = compare_markdown([tmp_path / "a", tmp_path / "b"])
    assert "| prc.precision (micah) | 0.1 | n/a |" in table and "| prc.recall (micah) | 0.3 | 0.3 |" in table
    assert "junk" not in table


def test_bad_requests_are_refused_with_what_is_allowed(tiny_checkpoint, toy_dataset, tmp_path, capsys):
    with pytest.raises(MascotError, match="known metrics: kid_effl0"):
        evaluate(tiny_checkpoint, toy_dataset, metrics=["inception_fid"], progress=False)
    with pytest.raises(MascotError, match="its options: landmarks"):
        evaluate(
            tiny_checkpoint, toy_dataset, metrics=["geometry_score"], options={"geometry_score": {"L0": 3}}
        )
    with pytest.raises(MascotError, match="samples must be"):
        evaluate(tiny_checkpoint, toy_dataset, samples=1)
    assert main(["compare", str(tmp_path / "nothing")]) == 2
    assert "nothing to compare" in capsys.readouterr().err
    assert (
        main(
            [
                "eval",
                "--checkpoint",
                str(tmp_path),
                "--data",
                str(toy_dataset),
                "--out",
                str(tmp_path / "o"),
                "--option",
                "oops",
            ]
        )
        == 2
    )


def test_samples_are_judged_at_the_posted_size(
    tiny_checkpoint, toy_dataset, tiny_upscaler, tmp_path, monkeypatch
):
    from engine.checkpoint import load_checkpoint
    from engine.data.dataset import Dataset
    from engine.metrics.context import EvalConfig, EvalContext

    monkeypatch.setenv("MASCOT_CACHE", str(tmp_path / "cache"))
    small = dict(samples=12, feature_size=64, progress=False)
    ck, ds = load_checkpoint(tiny_checkpoint), Dataset(toy_dataset)
    staged = EvalContext(ck, ds, EvalConfig(**small, size=128, upscaler=str(tiny_upscaler)))
    plain = EvalContext(ck, ds, EvalConfig(**small, size=128))
    native = EvalContext(ck, ds, EvalConfig(**small))
    assert staged.gen_images().shape == plain.gen_images().shape == (12, 128, 128, 3)
    assert native.gen_images().shape == (12, 32, 32, 3)
    assert (staged.gen_images() != plain.gen_images()).any()  # the stage, not Lanczos
    report = evaluate(
        tiny_checkpoint, toy_dataset, metrics=["kid_effl0"], size=64, upscaler=str(tiny_upscaler), **small
    )
    assert report["size"] == 64 and report["enlarged_by"] == str(tiny_upscaler)
    with pytest.raises(MascotError, match="32, 64, 128 px, not 96"):
        evaluate(
            tiny_checkpoint, toy_dataset, metrics=["kid_effl0"], size=96, upscaler=str(tiny_upscaler), **small
        )


def test_a_failing_metric_is_named_and_the_finished_ones_are_kept(
    tiny_checkpoint, toy_dataset, tmp_path, monkeypatch, capsys
):
    from engine.metrics import geometry_score, registry
    from engine.metrics.report import MetricsFailed

    def broken_plot(*args, **kwargs):
        raise ValueError("shape mismatch: x has 101 entries, height 100")

    seen_on_disk = []
    prc = registry.get_metric("prc")

    def prc_that_looks_at_the_report(ctx, opts):
        # By the time the second metric runs, the first one's result is already on disk.
        seen_on_disk.append(set(json.loads((out / "report.json").read_text())["metrics"]))
        return prc.fn(ctx, opts)

    monkeypatch.setattr(geometry_score, "plot_mrlt", broken_plot)
    monkeypatch.setitem(registry._REGISTRY, "prc", dataclasses.replace(prc, fn=prc_that_looks_at_the_report))
    out = tmp_path / "partial"
    small = dict(samples=70, feature_size=64, progress=False)
    with pytest.raises(
        MetricsFailed, match=r"1 of 3 metrics failed: geometry_score \(ValueError: shape"
    ) as err:
        evaluate(
            tiny_checkpoint,
            toy_dataset,
            metrics=["kid_effl0", "prc", "geometry_score"],
            out_dir=out,
            options={"geometry_score": {"landmarks": 16, "repetitions": 2}},
            **small,
        )
    assert seen_on_disk == [{"kid_effl0"}]
    report = json.loads((out / "report.json").read_text())
    assert set(report["metrics"]) == {"kid_effl0", "prc"} == set(err.value.report["metrics"])
    assert "shape mismatch" in report["failed"]["geometry_score"]["error"] and report["pending"] == []
    assert "geometry_score | **failed**" in (out / "report.md").read_text()

    argv = f"eval --checkpoint {tiny_checkpoint} --data {toy_dataset} --out {tmp_path / 'c'} --quiet"
    argv += " --metrics kid_effl0,geometry_score --samples 70 --feature-size 64"
    argv += " --option geometry_score.landmarks=16 --option geometry_score.repetitions=2"
    code = main(argv.split())
    printed = capsys.readouterr()
    assert code == 1
    assert "geometry_score" in printed.err and "failed" in printed.err
    assert "kid_effl0" in printed.out  # what finished is still printed


def test_a_styled_model_reports_precision_and_recall_per_style(tmp_path, monkeypatch):
    from tests.engine.metrics.conftest import ToyGenerator, fake_checkpoint
    from tests.engine.metrics.test_posted import STYLED, styled_set

    monkeypatch.setenv("MASCOT_CACHE", str(tmp_path / "cache"))
    ck = fake_checkpoint(ToyGenerator("obey", res=16), STYLED, res=16)
    report = evaluate(
        ck,
        styled_set(tmp_path / "real", ["a", "b"], n=40),
        ["prc"],
        samples=30,
        out_dir=tmp_path / "r",
        feature_size=64,
        progress=False,
    )
    rows = report["metrics"]["prc"]["by_style"]
    assert set(rows) == {"a", "b"} and sum(r["generated"] for r in rows.values()) == 30
    assert sum(r["real"] for r in rows.values()) == 40
    assert "| style | precision | recall | generated | real |" in (tmp_path / "r" / "report.md").read_text()
    assert json.loads((tmp_path / "r" / "report.json").read_text())["metrics"]["prc"]["by_style"] == rows
