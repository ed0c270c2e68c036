"""``mascot-engine chunk``: one time-boxed training chunk of a shipped model, on any device.

    mascot-engine chunk --target flagship --minutes 120 [--threads 1] [--ship]

For a machine you have for a while (a rented GPU for an hour, a laptop overnight): it builds
the target's data set when it is missing, continues the committed resume point
(``engine/train/targets.py``), trains until the deadline leaves room for the rest, writes the
resume point back in place (compact, weights in bf16, each file well under 16 MiB), exports a
candidate, evaluates it and the shipped model the same way, and replaces the shipped model
only with ``--ship`` and only when the gate passes: precision (k-NN, EfficientNet-Lite0) and
attribute precision not worse, KID reported. Chunks add up: the next one continues where
this one stopped, on this machine or another.

It runs at low priority (``--nice``), so other work on the machine goes first. SIGTERM or
Ctrl-C stops it cleanly: training saves, the resume point is written back, and nothing is
evaluated or shipped. Everything it does is logged to ``runs/chunk-TARGET/chunk.log``; the
gate's figures go to ``runs/chunk-TARGET/gate.json`` and a grid per ``grid_rows`` attribute.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.errors import MascotError
from engine.train.targets import TARGETS, Target, target

GATE_METRICS = "prc,attr_precision,kid_effl0"
RESUME_FILE_LIMIT = 16 * 2**20
# torch.compile costs a minute or two the first time (seconds from its cache); where it pays
# (the target says), it has paid back well within this many minutes.
COMPILE_PAYS_AFTER_MINUTES = 20  # a committed file stays small enough for every clone


@dataclass(frozen=True)
class ChunkConfig:
    target: Target
    minutes: float
    device: str = "auto"
    threads: int = 0  # 0: torch's default (every core)
    nice: int = 10
    batch: int = 0  # 0: the target's recipe
    ship: bool = False
    eval_samples: int = 1000
    classifier_epochs: int = 0  # EvalNet's training for attribute precision; 0: its default
    after_minutes: float = 0.0  # reserved after training for export, evaluation and grids; 0: estimated


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "chunk",
        help="one time-boxed training chunk of a shipped model: resume, train, evaluate, gate, ship",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--target", default="flagship", help=f"which shipped model: {', '.join(TARGETS)}")
    p.add_argument("--minutes", type=float, required=True, help="the whole chunk, start to last file")
    p.add_argument("--device", default="auto", choices=["auto", "cuda", "mps", "cpu"])
    p.add_argument("--threads", type=int, default=0, help="CPU threads for training (0: every core)")
    p.add_argument("--nice", type=int, default=10, help="scheduling priority, 0-19 (higher: gentler)")
    p.add_argument("--batch", type=int, default=0, help="images per step (default: the target's recipe)")
    p.add_argument("--eval-samples", type=int, default=1000, help="generated samples per evaluation")
    p.add_argument(
        "--classifier-epochs",
        type=int,
        default=0,
        help="epochs of the attribute reader the gate trains once per data set (default: its own)",
    )
    p.add_argument(
        "--after-minutes",
        type=float,
        default=0.0,
        help="time kept after training for export, evaluation and grids (default: estimated)",
    )
    p.add_argument(
        "--ship", action="store_true", help="replace the shipped model when the candidate passes the gate"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.minutes <= 0:
        raise MascotError(f"--minutes must be positive, got {args.minutes:g}")
    if not 0 <= args.nice <= 19:
        raise MascotError(f"--nice takes 0 to 19, got {args.nice}")
    cfg = ChunkConfig(
        target=target(args.target),
        minutes=args.minutes,
        device=args.device,
        threads=args.threads,
        nice=args.nice,
        batch=args.batch,
        ship=args.ship,
        eval_samples=args.eval_samples,
        classifier_epochs=args.classifier_epochs,
        after_minutes=args.after_minutes,
    )
    return Chunk(cfg).run()


class Chunk:
    def __init__(self, cfg: ChunkConfig) -> None:
        self.cfg, self.t = cfg, cfg.target
        self.start = time.time()
        self.stopping = False
        self.child: subprocess.Popen | None = None
        self.t.run.mkdir(parents=True, exist_ok=True)
        self.log_path = self.t.run / "chunk.log"

    # -- the chunk's stages, in order ------------------------------------------------------

    def run(self) -> int:
        os.nice(self.cfg.nice)
        self._install_signals()
        self.say(f"chunk {self.t.name}: {self.cfg.minutes:g} minutes, run folder {self.t.run}")
        self._ensure_data()
        start_flags = self._place_resume_point()
        trained = self._train(start_flags)
        if (self.t.run / "resume.json").is_file():
            self._write_back_resume()
        if self.stopping:
            self.say("stopped: the resume point is written back; nothing evaluated or shipped")
            return 130
        if not trained:
            raise MascotError(f"training failed: see {self.log_path}")
        candidate = self._export_candidate()
        gate = self._evaluate_and_gate(candidate)
        self._grids(candidate)
        if gate["passed"] and self.cfg.ship:
            self._ship(candidate)
        self.say(f"done in {(time.time() - self.start) / 60:.1f} minutes")
        return 0

    def _ensure_data(self) -> None:
        if (self.t.data / "card.json").is_file():
            return
        for command in self.t.build:
            out = Path(command[command.index("--out") + 1])
            if (out / "card.json").is_file():
                continue  # an earlier step's output is already there
            if not self._engine(command[0], command[1:]):
                raise MascotError(f"could not build {self.t.data}: see {self.log_path}")

    def _place_resume_point(self) -> tuple[str, ...]:
        """Continue the run folder when it is at least as far as the committed resume point
        (the same machine, a chunk ago), else start from the committed point, else fine-tune
        the shipped model."""
        committed = _nimg(self.t.resume)
        here = _nimg(self.t.run)
        if committed is None and here is None:
            self.say(f"no resume point: fine-tuning {self.t.shipped}")
            return ("--init-from", str(self.t.shipped))
        if here is None or (committed is not None and committed > here):
            for name in ("resume.json", "resume.safetensors"):
                shutil.copy(self.t.resume / name, self.t.run / name)
            self.say(f"continuing the committed resume point at {committed / 1000:.1f} kimg")
        else:
            self.say(f"continuing {self.t.run} at {here / 1000:.1f} kimg")
        return ("--resume",)

    def _train(self, start_flags: tuple[str, ...]) -> bool:
        minutes = self.cfg.minutes - self._elapsed_minutes() - self._after_minutes()
        if minutes <= 1:
            raise MascotError(
                f"--minutes {self.cfg.minutes:g} leaves {minutes:.1f} minutes to train after the "
                f"{self._after_minutes():.0f} kept for evaluation: give more"
            )
        flags = [
            *self.t.train_flags,
            "--data",
            str(self.t.data),
            "--out",
            str(self.t.run),
            *start_flags,
            "--device",
            self.cfg.device,
            "--session-minutes",
            f"{minutes:.2f}",
        ]
        flags += ["--batch", str(self.cfg.batch or self.t.batch)]
        if self.t.compile and minutes >= COMPILE_PAYS_AFTER_MINUTES:
            flags.append("--compile")
        return self._engine("train", flags)

    def _write_back_resume(self) -> None:
        from engine.checkpoint import compact_resume, load_state, read_resume_meta

        compact_resume(self.t.run, self.t.resume)
        meta = read_resume_meta(self.t.resume)
        load_state(self.t.resume / "resume.safetensors", meta.get("weights_sha256"))  # reads back whole
        for f in self.t.resume.iterdir():
            if f.stat().st_size > RESUME_FILE_LIMIT:
                self.say(f"warning: {f} is {f.stat().st_size / 2**20:.1f} MiB, over 16 MiB")
        state = meta["state"]
        self.say(
            f"resume point written to {self.t.resume}: {state['nimg'] / 1000:.1f} kimg, "
            f"{state['seconds'] / 60:.0f} training minutes in all"
        )

    def _export_candidate(self) -> Path:
        candidate = self.t.run / "candidate"
        self._engine("export", ["--checkpoint", str(self.t.run / "model"), "--out", str(candidate), "--half"])
        return candidate

    def _evaluate_and_gate(self, candidate: Path) -> dict[str, Any]:
        reports = {}
        for name, checkpoint in (("candidate", candidate), ("shipped", self.t.shipped)):
            out = self.t.run / f"eval-{name}"
            if not self._engine("eval", self._eval_flags(checkpoint, out)):
                # eval keeps what finished, but a gate needs every figure: never judge on a part.
                raise MascotError(
                    f"evaluating the {name} model failed: see {out}/report.md and {self.log_path}"
                )
            reports[name] = json.loads((out / "report.json").read_text())["metrics"]
        gate = judge(reports["candidate"], reports["shipped"])
        gate["minutes"] = round(self._elapsed_minutes(), 1)
        (self.t.run / "gate.json").write_text(json.dumps(gate, indent=1))
        for line in gate_table(gate):
            self.say(line)
        return gate

    def _eval_flags(self, checkpoint: Path, out: Path) -> list[str]:
        return [
            "--checkpoint",
            str(checkpoint),
            "--data",
            str(self.t.data),
            "--out",
            str(out),
            "--samples",
            str(self.cfg.eval_samples),
            "--metrics",
            GATE_METRICS,
            "--device",
            "cuda" if self.cfg.device == "cuda" else "cpu",
            "--quiet",
            *(("--classifier-epochs", str(self.cfg.classifier_epochs)) if self.cfg.classifier_epochs else ()),
        ]

    def _grids(self, candidate: Path) -> None:
        for rows in self.t.grid_rows:
            out = self.t.run / f"grid-{rows}.png"
            flags = ["--checkpoint", str(candidate), "--grid", "8", "--rows", rows, "-o", str(out)]
            self._engine("generate", flags)

    def _ship(self, candidate: Path) -> None:
        from engine.checkpoint import export_checkpoint

        export_checkpoint(
            self.t.run / "model", self.t.shipped, half=True, report=self.t.run / "eval-candidate"
        )
        self.say(f"shipped: the candidate replaces {self.t.shipped}")

    # -- plumbing ----------------------------------------------------------------------------

    def _engine(self, command: str, flags: list[str] | tuple[str, ...]) -> bool:
        """Run one mascot-engine command as a child (its own output to the terminal and log);
        True when it succeeded. A stop request is passed on to it."""
        if self.stopping:
            return False
        cmd = [sys.executable, "-m", "engine.cli", command, *flags]
        self.say("$ mascot-engine " + " ".join([command, *flags]))
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        if self.cfg.threads:
            env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(self.cfg.threads)
        with open(self.log_path, "a") as log:
            self.child = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
            code = self.child.wait()
            self.child = None
        if code != 0 and not self.stopping:
            self.say(f"mascot-engine {command} exited with {code}")
        return code == 0

    def _install_signals(self) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._on_stop)

    def _on_stop(self, signum, frame) -> None:
        self.stopping = True
        if self.child is not None and self.child.poll() is None:
            self.child.send_signal(signal.SIGTERM)  # training saves a resume point, then exits

    def _after_minutes(self) -> float:
        if self.cfg.after_minutes > 0:
            return self.cfg.after_minutes
        # Two evaluations, the grids and the export: seconds on a GPU, minutes on a CPU.
        return 4.0 if self.cfg.device == "cuda" else 6.0 + self.cfg.eval_samples / 250

    def _elapsed_minutes(self) -> float:
        return (time.time() - self.start) / 60

    def say(self, text: str) -> None:
        line = f"[chunk {self._elapsed_minutes():6.1f} min] {text}"
        print(line, flush=True)
        with open(self.log_path, "a") as log:
            log.write(line + "\n")


def _nimg(folder: Path) -> int | None:
    path = folder / "resume.json"
    if not path.is_file():
        return None
    try:
        return int(json.loads(path.read_text())["state"]["nimg"])
    except (ValueError, KeyError, TypeError) as exc:
        raise MascotError(f"'{path}' is not a resume point's JSON: {exc}") from None


def judge(candidate: dict[str, Any], shipped: dict[str, Any]) -> dict[str, Any]:
    """The gate: precision and attribute precision not worse than the shipped model's, measured
    the same way in the same chunk; KID is reported beside them."""
    figures = {
        name: {
            "precision": report["prc"]["precision"],
            "recall": report["prc"]["recall"],
            "attr_precision": report["attr_precision"]["mean"],
            "kid": report["kid_effl0"]["kid"],
        }
        for name, report in (("candidate", candidate), ("shipped", shipped))
    }
    c, s = figures["candidate"], figures["shipped"]
    passed = c["precision"] >= s["precision"] and c["attr_precision"] >= s["attr_precision"]
    return {**figures, "passed": passed}


def gate_table(gate: dict[str, Any]) -> list[str]:
    rows = [f"{'':16}{'candidate':>11}{'shipped':>11}"]
    for key, label in (
        ("precision", "precision"),
        ("recall", "recall"),
        ("attr_precision", "attr precision"),
        ("kid", "KID-EffLite0"),
    ):
        rows.append(f"{label:16}{gate['candidate'][key]:>11.4f}{gate['shipped'][key]:>11.4f}")
    verdict = "passes: precision and attribute precision not worse" if gate["passed"] else "does not pass"
    rows.append(f"gate: {verdict}")
    return rows
