"""The body of ``scripts/gpu-chunk``: one training chunk of a shipped model inside one GPU command.

``--target flagship`` (checkpoints/default) or ``--target emoji`` (checkpoints/emoji); the
targets' data, resume points and recipes are in scripts/gpu_targets.py. Stages, each bounded
so the whole fits ``--budget-s`` (a lease allows 600 s a command): unpack the data set,
optionally time every family (``bench/train_speed.py``, the flagship only), build the
evaluation's classifier, resume (or fine-tune the shipped model) and train until the deadline
that leaves room for the rest, export the fp16 generator (+ discriminator), evaluate it, draw
its grids, time GPU serving if time is left, and pack everything into at most 8 files.
"""

from __future__ import annotations

import argparse
import functools
import json
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

from gpu_targets import TARGETS, Target, target

QUICK_EVAL = ["--samples", "200", "--metrics", "kid_effl0", "--quiet"]  # --quick: a rehearsal on a CPU
AFTER_TRAINING_S = 150  # export, classifier-free evaluation, grids and packing after the last step


class Chunk:
    def __init__(self, out: Path, budget_s: float) -> None:
        self.out, self.start, self.budget_s = out, time.time(), budget_s
        self.log = open(out / "chunk.log", "a")  # noqa: SIM115 (open for the whole chunk)
        self.timings: dict[str, float] = {}

    def left(self) -> float:
        return self.budget_s - (time.time() - self.start)

    def say(self, text: str) -> None:
        line = f"[{time.time() - self.start:6.1f} s] {text}"
        print(line, flush=True)
        self.log.write(line + "\n")
        self.log.flush()

    def run(self, name: str, cmd: list[str], timeout: float) -> bool:
        """Run one stage; a failure or timeout is logged and the chunk goes on."""
        if timeout < 5:
            self.say(f"{name}: skipped, {timeout:.0f} s left for it")
            return False
        self.say(f"{name}: {' '.join(cmd)} (at most {timeout:.0f} s)")
        begin = time.time()
        try:
            proc = subprocess.run(cmd, stdout=self.log, stderr=subprocess.STDOUT, timeout=timeout)
            ok = proc.returncode == 0
        except subprocess.TimeoutExpired:
            ok = False
        self.timings[name] = round(time.time() - begin, 1)
        self.say(f"{name}: {'done' if ok else 'FAILED'} in {self.timings[name]:.0f} s")
        return ok


def engine(*args: str) -> list[str]:
    return [sys.executable, "-m", "engine.cli", *args]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--target", default="flagship", choices=sorted(TARGETS), help="which shipped model")
    ap.add_argument("--budget-s", type=float, default=570.0, help="the whole chunk, start to last file")
    ap.add_argument("--bench", action="store_true", help="time every family first (bench/train_speed.py)")
    ap.add_argument("--bench-s", type=float, default=110.0, help="at most this long for --bench")
    ap.add_argument("--device", default="cuda", help="cpu only to rehearse the script (with --quick)")
    ap.add_argument("--batch", type=int, default=256, help="images per step (a rehearsal on a CPU: 8)")
    ap.add_argument("--quick", action="store_true", help="a small evaluation and classifier: a rehearsal")
    args = ap.parse_args()
    t = target(args.target)
    c = Chunk(args.out, args.budget_s)
    c.say(f"chunk: {t.name}, budget {args.budget_s:.0f} s, out {args.out}")
    if shutil.which("nvidia-smi"):
        subprocess.run(
            ["nvidia-smi", "--query-gpu=name,memory.total,clocks.sm", "--format=csv"], stdout=c.log
        )
    if not (t.data / "card.json").is_file() and not c.run(
        "unpack", engine("data", "unpack", str(t.data_pack), "--out", str(t.data)), 90
    ):
        return 1
    if args.bench and t.bench:
        c.run(
            "bench",
            [
                sys.executable,
                "bench/train_speed.py",
                "--res",
                "128",
                "--batch",
                "256",
                "--steps",
                "20",
                "--compile",
                "projected",
                "--out",
                str(args.out / "train_speed_h200.json"),
            ],
            min(args.bench_s, c.left() - 300),
        )
    if not args.quick:  # the classifier attribute precision reads; seconds on a GPU
        build = engine("eval-models", "build", "--data", str(t.data), "--device", args.device)
        c.run("classifier", build, 90)
    place_resume_point(t)
    start = t.start_flags()
    tests = None
    if args.device == "cuda":  # the CUDA-only tests, beside training (tiny models: a few percent of the GPU)
        c.say("cuda tests: python -m pytest -q tests/engine/train/test_cuda.py, in the background")
        tests = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:cacheprovider",
                "tests/engine/train/test_cuda.py",
            ],
            stdout=open(args.out / "test_cuda.log", "w"),  # noqa: SIM115 (closed with the process)
            stderr=subprocess.STDOUT,
        )
    minutes = (c.left() - AFTER_TRAINING_S) / 60
    trained = c.run(
        "train",
        engine(
            "train",
            *t.train_flags,
            "--data",
            str(t.data),
            "--out",
            str(t.run),
            *start,
            "--batch",
            str(args.batch),
            "--device",
            args.device,
            "--session-minutes",
            f"{minutes:.2f}",
        ),
        minutes * 60 + 60,
    )
    if not trained and not (t.run / "model" / "model.json").is_file():
        return 1
    if tests is not None:
        try:
            c.say(f"cuda tests: exit code {tests.wait(timeout=10)}")
        except subprocess.TimeoutExpired:
            tests.kill()
            c.say("cuda tests: still running after training, stopped")
    model = args.out / "model"
    c.run("export", engine("export", "--checkpoint", str(t.run / "model"), "--out", str(model), "--half"), 60)
    c.run(
        "compact",
        [
            sys.executable,
            "-c",
            "import sys; from engine.checkpoint import compact_resume; "
            "compact_resume(sys.argv[1], sys.argv[2])",
            str(t.run),
            str(args.out / "resume"),
        ],
        30,
    )
    report = args.out / "report"
    c.run(
        "eval",
        engine(
            "eval",
            "--checkpoint",
            str(model),
            "--data",
            str(t.data),
            "--out",
            str(report),
            *(QUICK_EVAL if args.quick else t.full_eval),
            "--device",
            args.device,
        ),
        c.left() - 25,
    )
    for rows in t.grid_rows:
        c.run(
            f"grid-{rows}",
            engine(
                "generate",
                "--checkpoint",
                str(model),
                "--grid",
                "8",
                "--rows",
                rows,
                "-o",
                str(args.out / "report" / f"grid-{rows}.png"),
            ),
            min(30, c.left() - 15),
        )
    if c.left() > 60 and args.device == "cuda":
        c.run(
            "serve-bench",
            [
                sys.executable,
                "bench/engine_bench.py",
                "--checkpoint",
                str(model),
                "--device",
                "cuda",
                "--precision",
                "fp32",
                "--max-batch",
                "256",
                "--requests",
                "512",
                "--out",
                str(args.out / "engine_bench_h200.json"),
            ],
            c.left() - 20,
        )
    pack(c, args.out, t)
    c.say(f"chunk: done, {c.left():.0f} s of the budget left; timings {json.dumps(c.timings)}")
    return 0


def place_resume_point(t: Target) -> None:
    """The committed resume point into the run folder (from its xz'd copy when one travelled)."""
    if (t.run / "resume.json").is_file():
        return
    t.run.mkdir(parents=True, exist_ok=True)
    if t.resume_pack.is_file():
        with tarfile.open(t.resume_pack) as tar:
            tar.extractall(t.run, filter="data")
    elif (t.resume / "resume.json").is_file():
        shutil.copytree(t.resume, t.run, dirs_exist_ok=True)


def pack(c: Chunk, out: Path, t: Target) -> None:
    """At most 8 files, two folders deep at most: the resume pair, one tar of the model, one
    of the report (evaluation, grids, stats, curves, the classifier), the log, the benches."""
    with tarfile.open(out / "model.tar", "w") as tar:
        if (out / "model").is_dir():
            tar.add(out / "model", arcname="model")
    with tarfile.open(out / "report.tar", "w") as tar:
        for path, name in (
            (out / "report", "report"),
            (t.run / "stats.jsonl", "report/stats.jsonl"),
            (t.run / "losses.png", "report/losses.png"),
            (t.run / "grid.png", "report/train-grid.png"),
            (Path.home() / ".cache/mascotbot/metrics", "metrics-cache"),
        ):
            if path.exists():
                tar.add(path, arcname=name, filter=functools.partial(_only_classifier, t))
    for folder in ("model", "report"):
        shutil.rmtree(out / folder, ignore_errors=True)
    if (out / "resume").is_dir():
        for f in (out / "resume").iterdir():
            f.rename(out / f"resume{f.suffix}")
        (out / "resume").rmdir()
    c.say(
        "packed: " + ", ".join(f"{p.name} {p.stat().st_size / 2**20:.1f} MiB" for p in sorted(out.iterdir()))
    )


def _only_classifier(t: Target, info: tarfile.TarInfo) -> tarfile.TarInfo | None:
    # The real images' feature cache is large and rebuilt in seconds, and other data sets'
    # classifiers are not this chunk's: only the target's own classifier comes back.
    if not info.name.startswith("metrics-cache/") or info.isdir():
        return info
    fingerprint = json.loads((t.data / "card.json").read_text())["fingerprint"]
    return info if f"evalnet-{fingerprint}-" in info.name else None


if __name__ == "__main__":
    sys.exit(main())
