"""The chunk targets of the 64 px + 8x against 128 px + 4x comparison: what they resolve to,
where a first chunk starts, how the 64 px candidate is gated (as posted, each side through its
own stage) and never shipped, and the 8x stage's chunk end to end on tiny pairs."""

import dataclasses
import json
import shutil
import subprocess
from pathlib import Path

import pytest
import torch

from engine.checkpoint import read_resume_meta
from engine.cli import build_parser, main
from engine.errors import MascotError
from engine.metrics import grid
from engine.train.chunk import Chunk, ChunkConfig, gate_table, judge_upscaler
from engine.train.targets import OFFERED_STYLES, TARGETS, PostedGate, Target, target
from engine.upscale.checkpoint import save_upscaler
from engine.upscale.model import Upscaler, UpscalerArch
from tests.engine.metrics.test_posted import toy_renders
from tests.engine.upscale.conftest import make_pairs
from tests.toydata import make_toy_dataset


def _out(command: tuple[str, ...]) -> Path:
    return Path(command[command.index("--out") + 1])


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_every_target_builds_and_trains_with_commands_the_engine_parses(name):
    t = target(name)
    parser = build_parser()
    builds = [*t.build, *(t.posted.build if t.posted else ())]
    for command in builds:
        parser.parse_args(list(command))
    assert _out(t.build[-1]) == t.data
    assert t.resume.parent == Path("checkpoints/resume")
    if t.kind == "upscaler":
        parser.parse_args(
            ["upscale", "train", *t.train_flags, "--pairs", "p", "--out", "o", "--minutes", "1"]
        )
    else:
        parser.parse_args(["train", *t.train_flags, "--data", str(t.data), "--out", "o", "--batch", "1"])


def test_the_64px_flagship_is_the_flagship_at_64px_through_an_8x_stage_and_never_ships():
    flagship, small, stage = target("flagship"), target("flagship-64"), target("upscale-8")
    # The same renders (count, styles, seed), drawn at 64.
    assert [a if a != "128" else "64" for a in flagship.build[0][:-1]] == list(small.build[0][:-1])
    assert small.train_flags[small.train_flags.index("--res") + 1] == "64"
    assert small.resume == Path("checkpoints/resume/projected-64") and small.batch == flagship.batch
    assert small.posted.size == 512 and small.posted.shipped_upscaler == Path("checkpoints/upscale")
    assert small.posted.classifier == flagship.data  # the flagship gate's attribute reader
    assert [_out(c) for c in small.posted.build] == [small.posted.real, small.posted.classifier]
    assert small.posted.candidate_upscalers[0] == stage.shipped
    assert small.shipped == flagship.shipped and not small.ships
    assert stage.build[0][stage.build[0].index("--lr") + 1 :][:3] == ("64", "--hr", "512")
    assert stage.train_flags[stage.train_flags.index("--scale") + 1] == "8"
    assert stage.resume == Path("checkpoints/resume/upscale-8") and stage.resume != small.resume


def test_the_flagship_is_judged_as_posted_through_the_shipped_4x_stage_on_both_sides():
    flagship, small = target("flagship"), target("flagship-64")
    gate = flagship.posted
    assert gate.size == 512 and gate.candidate_upscalers == (gate.shipped_upscaler,)
    assert gate.shipped_upscaler == Path("checkpoints/upscale")
    # the same real renders and attribute reader as its 64 px rival's gate: one yardstick
    assert gate.real == small.posted.real and gate.classifier == small.posted.classifier == flagship.data
    assert [_out(c) for c in gate.build] == [gate.real]


def test_the_flagships_candidates_offer_every_style_but_pixel_art_and_are_judged_on_those(
    tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    flagship, small = target("flagship"), target("flagship-64")
    assert flagship.styles == small.styles == OFFERED_STYLES and "pixel-art" not in OFFERED_STYLES
    (build,) = flagship.posted.build
    assert build[build.index("--styles") + 1 :][: len(OFFERED_STYLES)] == OFFERED_STYLES
    calls = []
    chunk = Chunk(ChunkConfig(target=flagship, minutes=5))
    chunk._engine = lambda command, flags: calls.append((command, flags)) or True
    chunk._export_candidate()
    ((command, flags),) = calls
    assert command == "export" and flags[flags.index("--styles") + 1 :] == list(OFFERED_STYLES)


def test_the_first_64px_chunk_starts_from_the_earlier_64px_default_in_git_history(
    tiny_checkpoint, toy_dataset, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    shutil.copytree(tiny_checkpoint, tmp_path / "checkpoints/old")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "checkpoints"], check=True)
    subprocess.run([*git, "commit", "-qm", "old"], check=True)
    rev = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    shutil.rmtree(tmp_path / "checkpoints/old")  # only history holds it now
    t = Target("toy", toy_dataset, (), Path("checkpoints/resume/toy"), Path("x"), (), ("hair",), 16)
    chunk = Chunk(ChunkConfig(target=dataclasses.replace(t, start=f"{rev}:checkpoints/old"), minutes=5))
    flags = chunk._place_resume_point()
    assert flags == ("--init-from", str(t.run / "start"))
    assert (t.run / "start/model.json").read_bytes() == (tiny_checkpoint / "model.json").read_bytes()
    lost = Chunk(ChunkConfig(target=dataclasses.replace(t, start="0" * 40 + ":checkpoints/old"), minutes=5))
    assert lost._place_resume_point() == ()  # not in this history: from scratch, and the log says so
    assert "training from scratch" in (t.run / "chunk.log").read_text()


def _stage(path: Path, scale: int) -> Path:
    torch.manual_seed(scale)
    model = Upscaler(UpscalerArch(scale=scale, channels=8, blocks=1))
    torch.nn.init.normal_(model.to_pixels.weight, std=0.05)
    save_upscaler(path, model)
    return path


def test_a_64px_chunk_is_gated_as_posted_through_each_sides_stage_and_not_shipped(
    tiny_checkpoint, toy_dataset, tmp_path, monkeypatch
):
    """A toy of flagship-64: a 32 px candidate through an 8x stage against a 32 px shipped model
    through a 4x one, both at 128 px; then --ship, with a passing gate, still ships nothing."""
    monkeypatch.chdir(tmp_path)
    shutil.copytree(tiny_checkpoint, tmp_path / "checkpoints/toy")
    real = make_toy_dataset(tmp_path / "real-128", n=40, resolution=128, seed=4)
    t = Target(
        name="toy-64",
        data=toy_dataset,
        build=(),
        resume=tmp_path / "checkpoints/resume/toy-64",
        shipped=tmp_path / "checkpoints/toy",
        train_flags=("--family", "dcgan", "--res", "32", "--tick-kimg", "0.064", "--kimg", "0.128"),
        grid_rows=("hair",),
        batch=16,
        posted=PostedGate(
            real=real,
            classifier=toy_dataset,
            build=(("data", "dicebear", "--count", "40", "--size", "128", "--out", str(real)),),
            candidate_upscalers=(tmp_path / "checkpoints/none", _stage(tmp_path / "up-8", 8)),
            shipped_upscaler=_stage(tmp_path / "up-4", 4),
            size=128,
        ),
        ships=False,
    )
    shipped_json = (t.shipped / "model.json").read_text()
    chunk = Chunk(
        ChunkConfig(
            target=t, minutes=5, nice=0, eval_samples=16, classifier_epochs=2, ship=True, after_minutes=1
        )
    )
    child = chunk._engine

    def in_process(command, flags):
        if command != "eval":
            return child(command, flags)
        monkeypatch.setattr(grid, "dicebear_renders", toy_renders)  # no DiceBear for toy squares
        chunk.say("$ mascot-engine eval " + " ".join(flags))
        return main(["eval", *flags]) == 0

    monkeypatch.setattr(chunk, "_engine", in_process)
    monkeypatch.setattr(
        "engine.train.chunk.judge", lambda c, s: {"candidate": {}, "shipped": {}, "passed": True}
    )
    monkeypatch.setattr("engine.train.chunk.gate_table", lambda gate: ["gate: passes"])
    assert chunk.run() == 0
    log = (t.run / "chunk.log").read_text()
    assert "no resume point: fine-tuning" in log and read_resume_meta(t.resume)["state"]["nimg"] > 0
    for side, stage in (("candidate", "up-8"), ("shipped", "up-4")):
        report = json.loads((t.run / f"eval-{side}/report.json").read_text())
        assert report["protocol"] == "posted" and report["size"] == 128
        assert report["enlarged_by"] == str(tmp_path / stage)
    gate = json.loads((t.run / "gate.json").read_text())
    assert gate["posted"]["candidate"] == str(tmp_path / "up-8") and gate["ships"] is False
    assert "not shipped" in log and (t.shipped / "model.json").read_text() == shipped_json


def test_a_64px_chunk_without_an_8x_stage_is_refused_before_it_builds_or_trains(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    t = dataclasses.replace(target("flagship-64"), name="toy-64")
    chunk = Chunk(ChunkConfig(target=t, minutes=60, nice=0))
    monkeypatch.setattr(chunk, "_engine", lambda command, flags: pytest.fail(f"ran {command}"))
    with pytest.raises(MascotError, match="chunk --target upscale-8' first"):
        chunk.run()


def test_the_stage_gate_holds_feature_distance_against_the_shipped_stage_or_else_lanczos():
    def table(up, lanczos=10.0):
        return {
            "upscaler": {"feature_distance": up, "psnr_db": 25.0},
            "Lanczos": {"feature_distance": lanczos, "psnr_db": 24.0},
        }

    assert judge_upscaler(table(9.0), None) | {"candidate": 0, "shipped": 0} == {
        "candidate": 0,
        "shipped": 0,
        "against": "Lanczos",
        "passed": True,
    }
    assert not judge_upscaler(table(11.0), None)["passed"]
    assert not judge_upscaler(table(9.0), table(8.5))["passed"]
    gate = judge_upscaler(table(8.0), table(8.5))
    assert gate["passed"] and gate["against"] == "shipped"
    assert gate_table(gate)[-1] == "gate: passes: feature distance not worse"


def test_an_8x_stage_chunk_trains_writes_its_resume_point_back_and_the_next_continues_it(
    tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    pairs = make_pairs(tmp_path / "pairs", n=66, small=16, scale=8)
    flags = ("--scale", "8", "--patch", "8", "--channels", "8", "--blocks", "1", "--perceptual", "0")
    t = Target(
        name="toy-8",
        data=pairs,
        build=(),
        resume=tmp_path / "checkpoints/resume/toy-8",
        shipped=tmp_path / "checkpoints/toy-8",
        train_flags=(*flags, "--steps", "2"),
        grid_rows=(),
        batch=2,
        kind="upscaler",
        start="",
    )
    assert Chunk(ChunkConfig(target=t, minutes=5, nice=0, eval_samples=4)).run() == 0
    assert json.loads((t.resume / "resume.json").read_text())["step"] == 2
    gate = json.loads((t.run / "gate.json").read_text())
    assert gate["against"] == "Lanczos" and set(gate["candidate"]) == {"feature_distance", "psnr_db"}
    assert not t.shipped.exists()  # no --ship
    shutil.rmtree(t.run)  # another machine: only the committed resume point
    more = dataclasses.replace(t, train_flags=(*flags, "--steps", "3"))
    assert Chunk(ChunkConfig(target=more, minutes=5, nice=0, eval_samples=4, ship=True)).run() == 0
    assert json.loads((t.resume / "resume.json").read_text())["step"] == 3
    log = (t.run / "chunk.log").read_text()
    assert "continuing the committed resume point at 2.0 steps" in log
    if json.loads((t.run / "gate.json").read_text())["passed"]:
        assert (t.shipped / "upscaler.json").is_file()


def test_the_pixel_target_continues_a_generator_drawing_each_picture_in_a_few_palette_colours():
    from engine.checkpoint import load_state, read_resume_meta

    t = target("pixel")
    resume = Path(__file__).resolve().parents[3] / t.resume  # the committed point, as a chunk reads it
    meta = read_resume_meta(resume)
    assert meta["family"] == "dcgan" and meta["arch"]["colours_per_image"] == 16
    assert meta["arch"]["palette"] == 323  # data/pixel-16's colours
    state = load_state(resume / "resume.safetensors", meta["weights_sha256"])
    assert any(k.endswith("head.palette.colours") for k in state)
    assert "--augment" in t.train_flags and t.shipped == Path("checkpoints/pixel")
    # Its candidates are served as the shipped model is, with the cells' vote, and D keeps R1.
    shipped = json.loads((resume.parents[2] / t.shipped / "model.json").read_text())
    assert meta["arch"]["cell_vote"] == shipped["arch"]["cell_vote"] > 0 and meta["arch"]["r1_gamma"] > 0
