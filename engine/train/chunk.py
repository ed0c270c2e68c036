"""``mascot-engine chunk``: one time-boxed training chunk of a shipped model, on any device.

    mascot-engine chunk --target flagship --minutes 120 [--threads 1] [--ship]

For a machine you have for a while (a rented GPU for an hour, a laptop overnight): it builds
the target's data set when it is missing, continues the committed resume point
(``engine/train/targets.py``), trains until the deadline leaves room for the rest, writes the
resume point back in place (compact, weights in bf16, each file well under 16 MiB), exports a
candidate, evaluates it and the shipped model the same way, and replaces the shipped model
only with ``--ship`` and only when the gate passes: precision (k-NN, EfficientNet-Lite0) and
attribute precision not worse, KID reported. The shipped model's figures are kept from the last
chunk while nothing they depend on has changed (the model, the data, the settings, the engine's
code), so a chunk spends that time training. Chunks add up: the next one continues where
this one stopped, on this machine or another.

It runs at low priority (``--nice``), so other work on the machine goes first. SIGTERM or
Ctrl-C stops it cleanly: training saves, the resume point is written back, and nothing is
evaluated or shipped. Everything it does is logged to ``runs/chunk-TARGET/chunk.log``; the
gate's figures go to ``runs/chunk-TARGET/gate.json`` and a grid per ``grid_rows`` attribute.

A target may instead be gated as posted (``flagship-64``: at 512 px by the posted protocol, the
candidate through its 8x stage, the shipped model through its 4x one), or be an upscale stage
(``upscale-8``: trained by ``upscale train``, judged on held-out pairs by ``upscale measure``).
"""

from __future__ import annotations

import argparse
import hashlib
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

# The gate reads the first three; a shipped model.json also carries the near-copy check.
CHUNK_METRICS = "prc,attr_precision,kid_effl0,memorization"
# Beside the shipped model's report: what it measured, so an unchanged shipped model is
# measured once, not once a chunk (the same flags, files and code give the same figures).
MEASURED = "measured.json"
MEASURED_PAIRS = 64  # an upscale stage is judged on (at most) this many held-out pairs
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
    p.add_argument(
        "--eval-samples",
        type=int,
        default=1000,
        help="generated samples per evaluation (an upscale stage's: held-out pairs, at most 64)",
    )
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
        if self.t.posted is not None:
            self._candidate_stage()  # before hours of training, not after
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
            if self.t.ships:
                self._ship(candidate)
            else:
                self.say(
                    f"not shipped: a {self.t.name} candidate replaces {self.t.shipped} only by hand "
                    f"(docs/training.md); it is {candidate}, its figures {self.t.run / 'gate.json'}"
                )
        self.say(f"done in {(time.time() - self.start) / 60:.1f} minutes")
        return 0

    def _ensure_data(self) -> None:
        if self.t.posted is not None:
            self._build(self.t.posted.build)
        if not _built(self.t.data):
            self._build(self.t.build)

    def _build(self, commands: tuple[tuple[str, ...], ...]) -> None:
        for command in commands:
            out = Path(command[command.index("--out") + 1])
            if _built(out):
                continue  # an earlier step's output is already there
            if not self._engine(command[0], command[1:]):
                raise MascotError(f"could not build {out}: see {self.log_path}")

    def _place_resume_point(self) -> tuple[str, ...]:
        """Continue the run folder when it is at least as far as the committed resume point
        (the same machine, a chunk ago), else start from the committed point, else from the
        target's start (the shipped model, an earlier model in git history, or nothing)."""
        committed = _progress(self.t.resume)
        here = _progress(self.t.run)
        if committed is None and here is None:
            return self._start_flags()
        unit = "steps" if self.t.kind == "upscaler" else "kimg"
        scale = 1 if self.t.kind == "upscaler" else 1000
        if here is None or (committed is not None and committed > here):
            for name in ("resume.json", "resume.safetensors"):
                shutil.copy(self.t.resume / name, self.t.run / name)
            self.say(f"continuing the committed resume point at {committed / scale:.1f} {unit}")
        else:
            self.say(f"continuing {self.t.run} at {here / scale:.1f} {unit}")
        return ("--resume",)

    def _start_flags(self) -> tuple[str, ...]:
        if self.t.start == "shipped":
            self.say(f"no resume point: fine-tuning {self.t.shipped}")
            return ("--init-from", str(self.t.shipped))
        if self.t.start:
            folder = self._from_history(self.t.start)
            if folder is not None:
                self.say(f"no resume point: starting from {self.t.start} (git history)")
                return ("--init-from", str(folder))
        self.say("no resume point: training from scratch")
        return ()

    def _from_history(self, spec: str) -> Path | None:
        """A serving checkpoint folder ``REV:FOLDER`` copied out of git history into the run
        folder; None (said in the log) where this checkout does not hold it."""
        rev, _, folder = spec.partition(":")
        names = _git(["ls-tree", "--name-only", f"{rev}:{folder}"])
        if not names:
            self.say(f"{spec} is not in this checkout's history")
            return None
        out = self.t.run / "start"
        out.mkdir(parents=True, exist_ok=True)
        for name in names.decode().split():
            blob = _git(["show", f"{rev}:{folder}/{name}"])
            if blob is None:
                self.say(f"could not read {rev}:{folder}/{name} from git")
                return None
            (out / name).write_bytes(blob)
        return out

    def _train(self, start_flags: tuple[str, ...]) -> bool:
        minutes = self.cfg.minutes - self._elapsed_minutes() - self._after_minutes()
        if minutes <= 1:
            raise MascotError(
                f"--minutes {self.cfg.minutes:g} leaves {minutes:.1f} minutes to train after the "
                f"{self._after_minutes():.0f} kept for evaluation: give more"
            )
        if self.t.kind == "upscaler":
            return self._train_upscaler(start_flags, minutes)
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

    def _train_upscaler(self, start_flags: tuple[str, ...], minutes: float) -> bool:
        flags = [
            "train",
            *self.t.train_flags,
            "--pairs",
            str(self.t.data),
            "--out",
            str(self.t.run),
            *start_flags,
            "--minutes",
            f"{minutes:.2f}",
            "--batch",
            str(self.cfg.batch or self.t.batch),
        ]
        return self._engine("upscale", flags)

    def _write_back_resume(self) -> None:
        if self.t.kind == "upscaler":
            self._write_back_upscaler()
            return
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

    def _write_back_upscaler(self) -> None:
        """The stage is small (Adam's moments included, a few MB): its resume point is kept
        whole, so a resumed run goes on exactly."""
        from engine.checkpoint import load_state

        meta = json.loads((self.t.run / "resume.json").read_text())
        load_state(self.t.run / "resume.safetensors", meta.get("weights_sha256") or "")  # reads back whole
        self.t.resume.mkdir(parents=True, exist_ok=True)
        for name in ("resume.safetensors", "resume.json"):  # the JSON last: it names the weights' hash
            tmp = self.t.resume / f".{name}.tmp"
            shutil.copy(self.t.run / name, tmp)
            os.replace(tmp, self.t.resume / name)
            if (self.t.resume / name).stat().st_size > RESUME_FILE_LIMIT:
                self.say(f"warning: {self.t.resume / name} is over 16 MiB")
        self.say(
            f"resume point written to {self.t.resume}: {meta['step']} steps, "
            f"{meta['seconds'] / 60:.0f} training minutes in all"
        )

    def _export_candidate(self) -> Path:
        if self.t.kind == "upscaler":
            return self.t.run / "model"  # training writes the servable stage there
        candidate = self.t.run / "candidate"
        styles = ["--styles", *self.t.styles] if self.t.styles else []
        self._engine(
            "export", ["--checkpoint", str(self.t.run / "model"), "--out", str(candidate), "--half", *styles]
        )
        return candidate

    def _evaluate_and_gate(self, candidate: Path) -> dict[str, Any]:
        if self.t.kind == "upscaler":
            gate = self._measure_upscaler(candidate)
        else:
            gate = self._evaluate_generator(candidate)
        gate["minutes"] = round(self._elapsed_minutes(), 1)
        gate["ships"] = self.t.ships
        (self.t.run / "gate.json").write_text(json.dumps(gate, indent=1))
        for line in gate_table(gate):
            self.say(line)
        return gate

    def _evaluate_generator(self, candidate: Path) -> dict[str, Any]:
        stage = self._candidate_stage() if self.t.posted is not None else None
        sides = {"candidate": (candidate, stage), "shipped": self._shipped_side()}
        reports = {}
        for name, (checkpoint, stage) in sides.items():
            out = self.t.run / f"eval-{name}"
            flags = self._side_flags(checkpoint, stage, out)
            key = measurement_key(flags) if name == "shipped" else None
            if key is not None and measured_before(out, key):
                self.say(
                    f"the shipped model's figures in {out} are reused: the same model, data, "
                    "attribute reader, settings and evaluation code as when they were measured"
                )
            else:
                (out / MEASURED).unlink(missing_ok=True)  # a failed run must not look measured
                if not self._engine("eval", flags):
                    # eval keeps what finished, but a gate needs every figure: never judge on a part.
                    raise MascotError(
                        f"evaluating the {name} model failed: see {out}/report.md and {self.log_path}"
                    )
                if key is not None:
                    (out / MEASURED).write_text(json.dumps(key, indent=1))
            reports[name] = json.loads((out / "report.json").read_text())["metrics"]
        gate = judge(reports["candidate"], reports["shipped"])
        if self.t.posted is not None:
            gate["posted"] = {name: str(stage) for name, (_, stage) in sides.items()}
            gate["posted"]["size"] = self.t.posted.size
        return gate

    def _side_flags(self, checkpoint: Path, stage: Path | None, out: Path) -> list[str]:
        if stage is None:
            return self._eval_flags(checkpoint, out)
        return self._posted_flags(checkpoint, stage, out)

    def _shipped_side(self) -> tuple[Path, Path | None]:
        """The shipped model, and the stage that takes it to the posted size (None: its own size)."""
        return self.t.shipped, self.t.posted.shipped_upscaler if self.t.posted is not None else None

    def _shipped_measured(self) -> bool:
        """Whether the shipped model's figures from an earlier chunk still hold."""
        if self.t.kind == "upscaler" or not (self.t.shipped / "model.json").is_file():
            return False
        out = self.t.run / "eval-shipped"
        return measured_before(out, measurement_key(self._side_flags(*self._shipped_side(), out)))

    def _candidate_stage(self) -> Path:
        """The upscale stage that takes the candidate to the posted size."""
        places = self.t.posted.candidate_upscalers
        stage = next((p for p in places if (p / "upscaler.json").is_file()), None)
        if stage is None:
            raise MascotError(
                f"no upscale stage takes the {self.t.name} candidate to {self.t.posted.size} px (looked in "
                f"{', '.join(map(str, places))}): run 'mascot-engine chunk --target upscale-8' first"
            )
        return stage

    def _posted_flags(self, checkpoint: Path, stage: Path, out: Path) -> list[str]:
        """The posted protocol at 512 through ``stage``, the same attribute reader for both sides."""
        return [
            "--protocol",
            "posted",
            "--checkpoint",
            str(checkpoint),
            "--data",
            str(self.t.posted.real),
            "--classifier-data",
            str(self.t.posted.classifier),
            "--upscaler",
            str(stage),
            "--size",
            str(self.t.posted.size),
            "--out",
            str(out),
            "--samples",
            str(self.cfg.eval_samples),
            "--device",
            "cuda" if self.cfg.device == "cuda" else "cpu",
            "--quiet",
            *(("--classifier-epochs", str(self.cfg.classifier_epochs)) if self.cfg.classifier_epochs else ()),
        ]

    def _measure_upscaler(self, candidate: Path) -> dict[str, Any]:
        """Feature distance to the truth on the held-out pairs (lower is better), against the
        shipped stage's, or Lanczos's before one is shipped; PSNR reported beside it."""
        tables = {}
        for name, stage in (("candidate", candidate), ("shipped", self.t.shipped)):
            if name == "shipped" and not (stage / "upscaler.json").is_file():
                continue
            out = self.t.run / f"measure-{name}.json"
            flags = ["measure", "--checkpoint", str(stage), "--pairs", str(self.t.data), "--json", str(out)]
            flags += ["--images", str(min(self.cfg.eval_samples, MEASURED_PAIRS))]
            if not self._engine("upscale", flags):
                raise MascotError(f"measuring the {name} stage failed: see {self.log_path}")
            tables[name] = json.loads(out.read_text())
        return judge_upscaler(tables["candidate"], tables.get("shipped"))

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
            CHUNK_METRICS,
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
        if self.t.kind == "upscaler":
            from engine.atomic import publish, staging_dir

            tmp = staging_dir(self.t.shipped)
            for f in candidate.iterdir():
                shutil.copy(f, tmp / f.name)
            publish(tmp, self.t.shipped)
            self.say(f"shipped: the candidate replaces {self.t.shipped}")
            return
        from engine.checkpoint import export_checkpoint

        # The report evaluated the exported (float16) candidate, so that is what ships.
        export_checkpoint(candidate, self.t.shipped, half=True, report=self.t.run / "eval-candidate")
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
        if self.t.kind == "upscaler":
            return 3.0  # two measurements on 64 held-out pairs
        if self.cfg.device == "cuda":
            return 4.0  # the evaluations, the grids and the export: seconds on a GPU
        evaluations = 1 if self._shipped_measured() else 2
        if self.t.posted is not None:
            # Posted evaluations at 512 on one CPU thread: about 0.25 s a sample with the other
            # core idle, 0.6 s with both busy; 0.4 s is kept.
            return 6.0 + evaluations * self.cfg.eval_samples / 150
        return 6.0 + evaluations * self.cfg.eval_samples / 500

    def _elapsed_minutes(self) -> float:
        return (time.time() - self.start) / 60

    def say(self, text: str) -> None:
        line = f"[chunk {self._elapsed_minutes():6.1f} min] {text}"
        print(line, flush=True)
        with open(self.log_path, "a") as log:
            log.write(line + "\n")


def measurement_key(flags: list[str]) -> dict[str, Any]:
    """What an evaluation's figures depend on: its flags, the content of every file or folder they
    name (the model, the upscale stage, the data sets' cards), and the engine's evaluation code."""
    from engine.checkpoint import file_sha256

    contents = {}
    for flag in flags:
        path = Path(flag)
        for name in ("model.json", "upscaler.json", "card.json"):  # each names its weights' or images' hash
            if (path / name).is_file():
                contents[f"{flag}/{name}"] = file_sha256(path / name)
    out = flags[flags.index("--out") + 1] if "--out" in flags else None
    return {"flags": [f for f in flags if f != out], "contents": contents, "code": engine_code_hash()}


def engine_code_hash() -> str:
    """One hash of the engine's Python source: any change to it may change a figure."""
    root = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def measured_before(out: Path, key: dict[str, Any]) -> bool:
    """``out`` holds a whole report measured the way ``key`` says."""
    try:
        same = json.loads((out / MEASURED).read_text()) == key
        report = json.loads((out / "report.json").read_text())
    except (OSError, ValueError):
        return False
    return same and not report.get("failed") and not report.get("pending") and "metrics" in report


def _built(folder: Path) -> bool:
    """A data set (card.json) or a pairs folder (pairs.json) is there."""
    return (folder / "card.json").is_file() or (folder / "pairs.json").is_file()


def _git(args: list[str]) -> bytes | None:
    try:
        done = subprocess.run(["git", *args], capture_output=True, check=False)
    except OSError:
        return None
    return done.stdout if done.returncode == 0 else None


def _progress(folder: Path) -> int | None:
    """How far a resume point is: images seen (a generator's) or steps (an upscaler's)."""
    path = folder / "resume.json"
    if not path.is_file():
        return None
    try:
        meta = json.loads(path.read_text())
        return int(meta["state"]["nimg"] if "state" in meta else meta["step"])
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
    for name, report in (("candidate", candidate), ("shipped", shipped)):
        if "by_style" in report["prc"]:  # reported beside the gate, not judged
            figures[name]["precision_by_style"] = {
                style: row["precision"] for style, row in report["prc"]["by_style"].items()
            }
    c, s = figures["candidate"], figures["shipped"]
    passed = c["precision"] >= s["precision"] and c["attr_precision"] >= s["attr_precision"]
    return {**figures, "passed": passed}


def judge_upscaler(candidate: dict[str, Any], shipped: dict[str, Any] | None) -> dict[str, Any]:
    """The stage's gate: its feature distance to the truth not worse than the shipped stage's
    (or, before one is shipped, than Lanczos's), on the same held-out pairs."""
    against = "shipped" if shipped is not None else "Lanczos"
    theirs = shipped["upscaler"] if shipped is not None else candidate["Lanczos"]
    ours = candidate["upscaler"]
    figures = {
        name: {"feature_distance": row["feature_distance"], "psnr_db": row["psnr_db"]}
        for name, row in (("candidate", ours), ("shipped", theirs))
    }
    passed = ours["feature_distance"] <= theirs["feature_distance"]
    return {**figures, "against": against, "passed": passed}


def _figure(value: float | None) -> str:
    return "n/a" if value is None or value != value else f"{value:.4f}"  # NaN: a style one side lacks


def gate_table(gate: dict[str, Any]) -> list[str]:
    rows = [f"{'':16}{'candidate':>11}{gate.get('against', 'shipped'):>11}"]
    keys = (
        (("feature_distance", "feature dist."), ("psnr_db", "PSNR dB"))
        if "feature_distance" in gate["candidate"]
        else (
            ("precision", "precision"),
            ("recall", "recall"),
            ("attr_precision", "attr precision"),
            ("kid", "KID-EffLite0"),
        )
    )
    for key, label in keys:
        rows.append(f"{label:16}{gate['candidate'][key]:>11.4f}{gate['shipped'][key]:>11.4f}")
    ours, theirs = (gate[side].get("precision_by_style", {}) for side in ("candidate", "shipped"))
    styles = [s for s in ours if s in theirs]
    rows += ["precision by style (reported, not judged)"] if styles else []
    for style in styles:
        rows.append(f"  {style:14}{_figure(ours[style]):>11}{_figure(theirs[style]):>11}")
    if "feature_distance" in gate["candidate"]:
        verdict = "passes: feature distance not worse" if gate["passed"] else "does not pass"
    else:
        verdict = "passes: precision and attribute precision not worse" if gate["passed"] else "does not pass"
    if "posted" in gate:
        stages = gate["posted"]
        verdict += (
            f" (at {stages['size']} px: candidate through {stages['candidate']}, "
            f"shipped through {stages['shipped']})"
        )
    rows.append(f"gate: {verdict}")
    return rows
