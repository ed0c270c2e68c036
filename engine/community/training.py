"""A community's model trains in time-boxed chunks, with ``mascot-engine chunk``'s machinery.

    python -m engine.community.training STATE_COMMUNITIES ID --minutes M

One chunk (``engine.train.chunk.Chunk``) on the community's own target: its data set, its run
folder and resume point, its serving version as the model a candidate must beat. The first
chunk starts from nothing; later ones continue the resume point, so chunks add up night after
night and a stopped engine loses at most the chunk in progress (SIGTERM saves it). A
candidate serves only when the gate passes: against the serving version, precision and
attribute precision not worse (``chunk.judge``); with none serving yet, every figure
measured and finite. It then becomes a version in the community's own version store, which
loads it and makes it draw before it serves (engine/versions.py).

The CPU minutes a chunk used (this process and its children, user + system) are added to the
community's spent budget; a chunk is refused once the budget is spent, and given no more
minutes than are left. The recipe is a preset: ``cpu-small`` for real use, ``tiny`` for tests.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.community.store import Community, CommunityError
from engine.errors import MascotError
from engine.train.chunk import Chunk, ChunkConfig, gate_table, judge
from engine.train.targets import CHUNK_FLAGS, Target

GRID = "grid.png"  # seeds 1-16 of the candidate, after every chunk


@dataclass(frozen=True)
class Preset:
    """A community model's recipe: what its data set and chunks are made of."""

    name: str
    size: int  # the data set's and the model's side
    train_flags: tuple[str, ...]
    batch: int
    chunk_minutes: float  # one night's chunk
    eval_samples: int
    features: str  # clustering's features when the pictures get classes
    classifier_epochs: int = 0  # the gate's attribute reader; 0: its default
    after_minutes: float = 0.0  # kept for evaluation; 0: the chunk's estimate


TINY_FLAGS = (
    *("--family", "dcgan", "--res", "32", "--arch", "g_ch=8", "--arch", "d_ch=8"),
    *("--kimg", "0.128", "--tick-kimg", "0.064", "--snapshot-kimg", "0.064"),
)

PRESETS = {
    # The small-budget recipe (engine/train/presets.py cpu-small) at 64 px.
    "cpu-small": Preset(
        "cpu-small",
        64,
        ("--family", "projected", "--res", "64", "--lr-g", "8e-4", "--lr-d", "8e-4", *CHUNK_FLAGS),
        batch=32,
        chunk_minutes=60.0,
        eval_samples=1000,
        features="effnet",
    ),
    # Seconds, not minutes: a dcgan of 8 channels at 32 px, for tests of the whole flow.
    "tiny": Preset(
        "tiny",
        32,
        TINY_FLAGS,
        batch=16,
        chunk_minutes=3.0,
        eval_samples=64,
        features="rgb",
        classifier_epochs=1,
        after_minutes=1.0,
    ),
}


def preset(name: str) -> Preset:
    if name not in PRESETS:
        raise CommunityError(f"unknown community preset '{name}'; known: {', '.join(PRESETS)}")
    return PRESETS[name]


@dataclass(frozen=True)
class CommunityTarget(Target):
    folder: Path = Path()

    @property
    def run(self) -> Path:
        return self.folder / "run"


def community_target(community: Community, recipe: Preset) -> CommunityTarget:
    from engine.versions import VersionStore

    return CommunityTarget(
        name=community.id,
        data=community.data,
        build=(),
        resume=community.folder / "resume",
        shipped=VersionStore(community.configured, community.folder).live,
        train_flags=recipe.train_flags,
        grid_rows=(),
        batch=recipe.batch,
        folder=community.folder,
    )


def versions(community: Community):
    from engine.versions import VersionStore

    return VersionStore(community.configured, community.folder)


class CommunityChunk(Chunk):
    """A chunk whose first run starts from nothing and whose passing candidate becomes a version."""

    def _place_resume_point(self) -> tuple[str, ...]:
        if not (self.t.resume / "resume.json").is_file() and not (self.t.run / "resume.json").is_file():
            self.say("first chunk: training starts from nothing")
            return ()
        return super()._place_resume_point()

    def _evaluate_and_gate(self, candidate: Path) -> dict[str, Any]:
        if (self.t.shipped / "model.json").is_file():
            return super()._evaluate_and_gate(candidate)
        out = self.t.run / "eval-candidate"
        if not self._engine("eval", self._eval_flags(candidate, out)):
            raise MascotError(f"evaluating the candidate failed: see {out}/report.md and {self.log_path}")
        metrics = json.loads((out / "report.json").read_text())["metrics"]
        figures = judge(metrics, metrics)["candidate"]
        gate = {
            "candidate": figures,
            "shipped": None,
            "passed": all(math.isfinite(v) for v in figures.values()),
            "minutes": round(self._elapsed_minutes(), 1),
        }
        (self.t.run / "gate.json").write_text(json.dumps(gate, indent=1))
        self.say("gate (no model serves yet): " + ("passes" if gate["passed"] else "a figure is not finite"))
        return gate

    def _grids(self, candidate: Path) -> None:
        out = self.t.run / GRID
        self._engine(
            "generate", ["--checkpoint", str(candidate), "--grid", "16", "--seed", "1", "-o", str(out)]
        )

    def _ship(self, candidate: Path) -> None:
        store = versions(Community(self.t.folder.parent, self.t.name))
        store.switch(store.add(candidate), "promote", "a training chunk passed its gate")
        self.say(f"serving the candidate as {store.current()}")


def run_chunk(
    root: Path, community_id: str, minutes: float, threads: int = 1, nice: int = 19
) -> dict[str, Any]:
    """One chunk for a community whose data set is built; returns the chunk's record."""
    community = Community(root, community_id)
    state = community.state()
    if not state.built:
        raise CommunityError(f"community '{community.id}' has no data set yet: build it first")
    recipe = preset(state.preset)
    left = state.cpu_minutes_left
    floor = (recipe.after_minutes or 6.0) + 1.5
    if left < floor:
        raise CommunityError(
            f"community '{community.id}' has spent {state.cpu_minutes_spent:.1f} of its "
            f"{state.cpu_minutes_budget:g} CPU minutes; a chunk needs at least {floor:.1f}"
        )
    minutes = min(minutes or recipe.chunk_minutes, left / max(1, threads))
    cfg = ChunkConfig(
        target=community_target(community, recipe),
        minutes=minutes,
        threads=threads,
        nice=nice,
        ship=True,
        eval_samples=recipe.eval_samples,
        classifier_epochs=recipe.classifier_epochs,
        after_minutes=recipe.after_minutes,
    )
    started, error, code = time.time(), "", 1
    try:
        code = CommunityChunk(cfg).run()
    except MascotError as exc:
        error = str(exc)
    return record_chunk(community, started, code, error)


def record_chunk(community: Community, started: float, code: int, error: str) -> dict:
    """Add the chunk's CPU minutes and outcome to community.json."""
    state = community.state()
    cpu = _cpu_minutes()
    gate_path = community.run / "gate.json"
    gate = json.loads(gate_path.read_text()) if code == 0 and gate_path.is_file() else None
    record = {
        "n": len(state.chunks) + 1,
        "started": started,
        "finished": time.time(),
        "minutes": round((time.time() - started) / 60, 2),  # the deadline was ``minutes``
        "cpu_minutes": round(cpu, 2),
        "outcome": "stopped" if code == 130 else ("failed" if code or error else "finished"),
        "error": error,
        "gate": gate,
        "passed": bool(gate and gate["passed"]),
        "version": versions(community).current(),
        "grid": GRID if (community.run / GRID).is_file() and code == 0 else "",
    }
    state.chunks.append(record)
    state.cpu_minutes_spent = round(state.cpu_minutes_spent + cpu, 2)
    state.running = {}
    community.save(state)
    return record


def planned_chunks(state, recipe: Preset) -> int:
    """N of "chunk n of N": the chunks done plus those the budget left still pays for."""
    return len(state.chunks) + math.floor(state.cpu_minutes_left / recipe.chunk_minutes)


def _cpu_minutes() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime) / 60


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m engine.community.training", description=__doc__)
    p.add_argument("root", help="the communities folder (<state>/communities)")
    p.add_argument("community")
    p.add_argument("--minutes", type=float, default=0.0, help="the chunk (default: the preset's)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--nice", type=int, default=19)
    args = p.parse_args(argv)
    try:
        record = run_chunk(Path(args.root), args.community, args.minutes, args.threads, args.nice)
    except MascotError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for line in gate_table(record["gate"]) if record["gate"] and record["gate"].get("shipped") else ():
        print(line)
    print(json.dumps(record))
    return 0 if record["outcome"] == "finished" else 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
