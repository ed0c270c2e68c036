"""The body of ``scripts/gpu-chunk``: one flagship chunk inside one GPU command.

Stages, each bounded so the whole fits ``--budget-s`` (a lease allows 600 s a command):
unpack the data set, optionally time every family (``bench/train_speed.py``), build the
evaluation's attribute classifier, resume the flagship and train until the deadline that
leaves room for the rest, export the fp16 generator (+ discriminator), evaluate it, draw
its grids, time GPU serving if time is left, and pack everything into at most 8 files.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

DATA_PACK = Path(".gpu/dicebear-20k-128.tar.xz")
DATA = Path("data/dicebear-20k-128")
RESUME = Path("checkpoints/resume/projected-128")
RESUME_PACK = Path(".gpu/resume-projected-128.tar.xz")  # the same pair, xz'd for the trip (a third smaller)
RUN = Path("runs/chunk")
# The flagship's recipe on a GPU: batch 256 (4x the H100 run's 64, same lr: a resumed model
# gets cleaner gradients, not larger steps); the arch comes from the resume point.
TRAIN_FLAGS = [
    "--family",
    "projected",
    "--res",
    "128",
    "--kimg",
    "100000",
    "--cond-dropout",
    "0.3",
    "--tick-kimg",
    "64",
    "--snapshot-kimg",
    "256",
    "--check-every",
    "100",
]
EVAL_METRICS = ["--metrics", "kid_effl0,fid_effl0,attr_precision,prc", "--quiet"]
FULL_EVAL = [
    "--samples",
    "2000",
    *EVAL_METRICS,
    "--option",
    "attr_precision.per_value=96",
]  # the shipping rule's settings
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
    ap.add_argument("--budget-s", type=float, default=570.0, help="the whole chunk, start to last file")
    ap.add_argument("--bench", action="store_true", help="time every family first (bench/train_speed.py)")
    ap.add_argument("--bench-s", type=float, default=110.0, help="at most this long for --bench")
    ap.add_argument("--device", default="cuda", help="cpu only to rehearse the script (with --quick)")
    ap.add_argument("--batch", type=int, default=256, help="images per step (a rehearsal on a CPU: 8)")
    ap.add_argument("--quick", action="store_true", help="a small evaluation and classifier: a rehearsal")
    args = ap.parse_args()
    c = Chunk(args.out, args.budget_s)
    c.say(f"chunk: budget {args.budget_s:.0f} s, out {args.out}")
    if shutil.which("nvidia-smi"):
        subprocess.run(
            ["nvidia-smi", "--query-gpu=name,memory.total,clocks.sm", "--format=csv"], stdout=c.log
        )
    if not (DATA / "card.json").is_file() and not c.run(
        "unpack", engine("data", "unpack", str(DATA_PACK), "--out", str(DATA)), 90
    ):
        return 1
    if args.bench:
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
        c.run("classifier", engine("eval-models", "build", "--data", str(DATA), "--device", args.device), 90)
    if not (RUN / "resume.json").is_file():
        RUN.mkdir(parents=True, exist_ok=True)
        if RESUME_PACK.is_file():
            with tarfile.open(RESUME_PACK) as tar:
                tar.extractall(RUN, filter="data")
        else:
            shutil.copytree(RESUME, RUN, dirs_exist_ok=True)
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
            *TRAIN_FLAGS,
            "--data",
            str(DATA),
            "--out",
            str(RUN),
            "--resume",
            "--batch",
            str(args.batch),
            "--device",
            args.device,
            "--session-minutes",
            f"{minutes:.2f}",
        ),
        minutes * 60 + 60,
    )
    if not trained and not (RUN / "model" / "model.json").is_file():
        return 1
    if tests is not None:
        try:
            c.say(f"cuda tests: exit code {tests.wait(timeout=10)}")
        except subprocess.TimeoutExpired:
            tests.kill()
            c.say("cuda tests: still running after training, stopped")
    model = args.out / "model"
    c.run("export", engine("export", "--checkpoint", str(RUN / "model"), "--out", str(model), "--half"), 60)
    c.run(
        "compact",
        [
            sys.executable,
            "-c",
            "import sys; from engine.checkpoint import compact_resume; "
            "compact_resume(sys.argv[1], sys.argv[2])",
            str(RUN),
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
            str(DATA),
            "--out",
            str(report),
            *(QUICK_EVAL if args.quick else FULL_EVAL),
            "--device",
            args.device,
        ),
        c.left() - 25,
    )
    for rows in ("hair", "style"):
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
    pack(c, args.out)
    c.say(f"chunk: done, {c.left():.0f} s of the budget left; timings {json.dumps(c.timings)}")
    return 0


def pack(c: Chunk, out: Path) -> None:
    """At most 8 files, two folders deep at most: the resume pair, one tar of the model, one
    of the report (evaluation, grids, stats, curves, the classifier), the log, the benches."""
    with tarfile.open(out / "model.tar", "w") as tar:
        if (out / "model").is_dir():
            tar.add(out / "model", arcname="model")
    with tarfile.open(out / "report.tar", "w") as tar:
        for path, name in (
            (out / "report", "report"),
            (RUN / "stats.jsonl", "report/stats.jsonl"),
            (RUN / "losses.png", "report/losses.png"),
            (RUN / "grid.png", "report/train-grid.png"),
            (Path.home() / ".cache/mascotbot/metrics", "metrics-cache"),
        ):
            if path.exists():
                tar.add(path, arcname=name, filter=_no_features)
    for folder in ("model", "report"):
        shutil.rmtree(out / folder, ignore_errors=True)
    if (out / "resume").is_dir():
        for f in (out / "resume").iterdir():
            f.rename(out / f"resume{f.suffix}")
        (out / "resume").rmdir()
    c.say(
        "packed: " + ", ".join(f"{p.name} {p.stat().st_size / 2**20:.1f} MiB" for p in sorted(out.iterdir()))
    )


def _no_features(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
    # The real images' feature cache is large and rebuilt in seconds; the classifier is kept.
    return None if info.name.startswith("metrics-cache/") and "evalnet" not in info.name else info


if __name__ == "__main__":
    sys.exit(main())
