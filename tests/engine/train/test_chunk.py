import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.checkpoint import compact_resume, read_resume_meta
from engine.cli import main
from engine.errors import MascotError
from engine.train import chunk as chunk_module
from engine.train.chunk import Chunk, ChunkConfig, gate_table, judge
from engine.train.targets import Target

TOY_FLAGS = ("--family", "dcgan", "--res", "32", "--tick-kimg", "0.064")


def _toy_target(root: Path, data: Path, kimg: str) -> Target:
    return Target(
        name="toy",
        data=data,
        build=(),
        resume=root / "checkpoints/resume/toy",
        shipped=root / "checkpoints/toy",
        train_flags=(*TOY_FLAGS, "--kimg", kimg, "--snapshot-kimg", "0.064"),
        grid_rows=("hair",),
        batch=16,
    )


@pytest.fixture
def committed(tiny_checkpoint, tmp_path):
    """A shipped toy model and its committed compact resume point, as a repository holds them."""
    run = tiny_checkpoint.parent  # the run folder: model/ beside resume.*
    shutil.copytree(run / "model", tmp_path / "checkpoints/toy")
    compact_resume(run, tmp_path / "checkpoints/resume/toy")
    return tmp_path


def test_a_chunk_continues_the_committed_point_writes_it_back_and_gates(committed, toy_dataset, monkeypatch):
    monkeypatch.chdir(committed)
    t = _toy_target(committed, toy_dataset, kimg="0.192")
    before = read_resume_meta(t.resume)["state"]["nimg"]
    shipped_json = (t.shipped / "model.json").read_text()
    cfg = ChunkConfig(target=t, minutes=5, nice=0, eval_samples=64, after_minutes=1)
    assert Chunk(cfg).run() == 0
    after = read_resume_meta(t.resume)
    assert after["state"]["nimg"] > before
    assert after["compact"]["optimizer_state"] == "dropped"
    gate = json.loads((t.run / "gate.json").read_text())
    for side in ("candidate", "shipped"):
        assert set(gate[side]) == {"precision", "recall", "attr_precision", "kid"}
    assert isinstance(gate["passed"], bool)
    assert (t.run / "grid-hair.png").is_file()
    assert (t.shipped / "model.json").read_text() == shipped_json  # no --ship: never replaced
    log = (t.run / "chunk.log").read_text()
    assert "continuing the committed resume point" in log
    assert "--batch 16" in log  # the target's recipe: a resume point does not record its batch


def test_a_passing_gate_with_ship_replaces_the_shipped_model_with_the_evaluated_candidate(
    committed, toy_dataset, monkeypatch
):
    monkeypatch.chdir(committed)
    monkeypatch.setattr(chunk_module, "judge", lambda c, s: {**judge(c, s), "passed": True})
    t = _toy_target(committed, toy_dataset, kimg="0.128")
    cfg = ChunkConfig(target=t, minutes=5, nice=0, eval_samples=64, after_minutes=1, ship=True)
    assert Chunk(cfg).run() == 0
    candidate = json.loads((t.run / "candidate/model.json").read_text())
    shipped = json.loads((t.shipped / "model.json").read_text())
    assert shipped["version"] == candidate["version"]  # the weights the gate measured
    assert shipped["weights_dtype"] == "float16"
    assert "memorization" in shipped["metrics"]  # what every served model.json carries
    assert shipped["exported_from"] == candidate["exported_from"]  # the training run, not itself
    assert shipped["metrics"]["prc"]["precision"] == pytest.approx(
        json.loads((t.run / "gate.json").read_text())["candidate"]["precision"]
    )
    assert "shipped: the candidate replaces" in (t.run / "chunk.log").read_text()


def test_the_gate_passes_only_when_precision_and_attribute_precision_hold():
    def report(precision, attr, kid=0.1):
        return {
            "prc": {"precision": precision, "recall": 0.5},
            "attr_precision": {"mean": attr},
            "kid_effl0": {"kid": kid},
        }

    assert judge(report(0.5, 0.9), report(0.5, 0.9))["passed"]
    assert judge(report(0.6, 0.95, kid=0.5), report(0.5, 0.9))["passed"]  # KID only reported
    assert not judge(report(0.49, 0.99), report(0.5, 0.9))["passed"]
    assert not judge(report(0.9, 0.89), report(0.5, 0.9))["passed"]


def test_the_gate_shows_each_styles_precision_beside_its_verdict():
    def report(a, b):
        rows = {"a": {"precision": a}, "b": {"precision": b}}
        return {
            "prc": {"precision": a, "recall": 0.5, "by_style": rows},
            "attr_precision": {"mean": 0.9},
            "kid_effl0": {"kid": 0.1},
        }

    gate = judge(report(0.8, float("nan")), report(0.2, 0.4))
    assert gate["candidate"]["precision_by_style"]["a"] == 0.8 and gate["passed"]
    table = gate_table(gate)
    assert (
        "  a                  0.8000     0.2000" in table
        and "  b                     n/a     0.4000" in table
    )
    assert "precision by style (reported, not judged)" in table
    assert table[-1].startswith("gate: passes")  # the styles are reported, the verdict stays last


SIGNALLED_CHUNK = """
import sys
from pathlib import Path
from engine.train.chunk import Chunk, ChunkConfig
from engine.train.targets import Target
root, data = Path(sys.argv[1]), Path(sys.argv[2])
flags = ("--family", "dcgan", "--res", "32", "--tick-kimg", "1000",
         "--kimg", "1000", "--snapshot-kimg", "1000")
t = Target("toy", data, (), root / "checkpoints/resume/toy", root / "checkpoints/toy", flags, ("hair",), 16)
sys.exit(Chunk(ChunkConfig(target=t, minutes=30, nice=0, after_minutes=1)).run())
"""


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_the_chunk_cleanly_with_its_resume_point_written_back(committed, toy_dataset, sig):
    resume = committed / "checkpoints/resume/toy"
    before = read_resume_meta(resume)["state"]["nimg"]
    env = dict(os.environ, PYTHONPATH=str(Path.cwd()), OMP_NUM_THREADS="1")
    proc = subprocess.Popen(
        [sys.executable, "-c", SIGNALLED_CHUNK, str(committed), str(toy_dataset)],
        cwd=committed,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    log = committed / "runs/chunk-toy/chunk.log"
    deadline = time.time() + 120
    while time.time() < deadline:  # until training has taken a few steps
        if log.is_file() and "img/s" in log.read_text():
            break
        time.sleep(0.5)
    proc.send_signal(sig)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130, out
    assert "nothing evaluated or shipped" in out
    assert read_resume_meta(resume)["state"]["nimg"] > before
    assert not (committed / "runs/chunk-toy/eval-candidate").exists()


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--minutes", "0"], "--minutes must be positive"),
        (["--minutes", "5", "--target", "nope"], "unknown chunk target 'nope'; known: flagship, emoji"),
        (["--minutes", "5", "--nice", "40"], "--nice takes 0 to 19"),
    ],
)
def test_bad_chunk_flags_are_one_clear_line(flags, message, capsys):
    assert main(["chunk", *flags]) == 2
    assert message in capsys.readouterr().err


def test_a_failed_evaluation_is_never_judged(tmp_path, monkeypatch, toy_dataset):
    monkeypatch.chdir(tmp_path)
    chunk = Chunk(ChunkConfig(target=_toy_target(tmp_path, toy_dataset, kimg="1"), minutes=5))
    monkeypatch.setattr(chunk, "_engine", lambda command, flags: command != "eval")
    with pytest.raises(MascotError, match="evaluating the candidate model failed"):
        chunk._evaluate_and_gate(tmp_path / "candidate")
    assert not (chunk.t.run / "gate.json").exists()


class FakeEval:
    """Stands in for 'mascot-engine eval': writes a whole report into --out and notes whom it measured."""

    def __init__(self, fail: str = "") -> None:
        self.measured: list[str] = []
        self.fail = fail

    def __call__(self, command: str, flags: list[str]) -> bool:
        checkpoint, out = Path(flags[flags.index("--checkpoint") + 1]), Path(flags[flags.index("--out") + 1])
        self.measured.append(checkpoint.name)
        if checkpoint.name == self.fail:
            return False
        out.mkdir(parents=True, exist_ok=True)
        metrics = {
            "prc": {"precision": 0.5, "recall": 0.5},
            "attr_precision": {"mean": 0.9},
            "kid_effl0": {"kid": 0.1},
        }
        (out / "report.json").write_text(json.dumps({"metrics": metrics, "failed": {}, "pending": []}))
        return True


def test_the_shipped_models_figures_are_measured_once_while_nothing_they_depend_on_changes(
    tmp_path, monkeypatch, toy_dataset
):
    monkeypatch.chdir(tmp_path)
    t = _toy_target(tmp_path, toy_dataset, kimg="1")
    t.shipped.mkdir(parents=True)
    (t.shipped / "model.json").write_text('{"version": "one"}')
    chunk = Chunk(ChunkConfig(target=t, minutes=60, eval_samples=1000))
    fake = FakeEval()
    monkeypatch.setattr(chunk, "_engine", fake)
    two_evaluations = chunk._after_minutes()

    chunk._evaluate_and_gate(tmp_path / "candidate")
    chunk._evaluate_and_gate(tmp_path / "candidate")
    assert fake.measured == ["candidate", "toy", "candidate"]
    assert "the shipped model's figures in" in (t.run / "chunk.log").read_text()
    assert chunk._after_minutes() < two_evaluations  # the deadline keeps time for one evaluation

    (t.shipped / "model.json").write_text('{"version": "two"}')  # a new model shipped by hand
    chunk._evaluate_and_gate(tmp_path / "candidate")
    monkeypatch.setattr(chunk_module, "engine_code_hash", lambda: "changed")  # new evaluation code
    chunk._evaluate_and_gate(tmp_path / "candidate")
    assert fake.measured[3:] == ["candidate", "toy", "candidate", "toy"]


def test_a_failed_measurement_of_the_shipped_model_is_never_reused(tmp_path, monkeypatch, toy_dataset):
    monkeypatch.chdir(tmp_path)
    t = _toy_target(tmp_path, toy_dataset, kimg="1")
    t.shipped.mkdir(parents=True)
    (t.shipped / "model.json").write_text('{"version": "one"}')
    chunk = Chunk(ChunkConfig(target=t, minutes=60))
    monkeypatch.setattr(chunk, "_engine", FakeEval())
    chunk._evaluate_and_gate(tmp_path / "candidate")
    monkeypatch.setattr(chunk, "_engine", FakeEval(fail="toy"))
    monkeypatch.setattr(chunk_module, "engine_code_hash", lambda: "changed")
    with pytest.raises(MascotError, match="evaluating the shipped model failed"):
        chunk._evaluate_and_gate(tmp_path / "candidate")
    monkeypatch.undo()  # the code as it was when the first figures were measured
    monkeypatch.chdir(tmp_path)
    again = FakeEval()
    monkeypatch.setattr(chunk, "_engine", again)
    chunk._evaluate_and_gate(tmp_path / "candidate")
    assert again.measured == ["candidate", "toy"]  # the failed run's folder is not taken as measured


@pytest.mark.parametrize("compiles", [True, False])
def test_only_a_target_that_gains_from_compiling_compiles_in_a_long_chunk(
    tmp_path, monkeypatch, toy_dataset, compiles
):
    monkeypatch.chdir(tmp_path)
    t = dataclasses.replace(_toy_target(tmp_path, toy_dataset, kimg="1"), compile=compiles)
    seen = {}
    chunk = Chunk(ChunkConfig(target=t, minutes=120))
    monkeypatch.setattr(
        chunk, "_engine", lambda command, flags: seen.setdefault(command, list(flags)) and True
    )
    chunk._train(("--resume",))
    assert ("--compile" in seen["train"]) is compiles
    short = Chunk(ChunkConfig(target=t, minutes=25))  # 15 training minutes after evaluation's 10
    monkeypatch.setattr(short, "_engine", lambda command, flags: seen.update(short=list(flags)) or True)
    short._train(("--resume",))
    assert "--compile" not in seen["short"]  # a short chunk would spend its time compiling
