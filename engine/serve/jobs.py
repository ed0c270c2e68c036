"""Fine-tune jobs, run as child processes so serving goes on.

One training job at a time. A job's record (``RUNS/jobs/<id>/job.json``) is written at
every state change, so it survives its client disconnecting and the engine restarting:
a job found "running" at start-up is reported as failed, not lost. Its training process
dies with the engine (Linux: the parent-death signal), and one that survived anyway (a
kill -9 elsewhere) is stopped at start-up, so it cannot hold the one-job slot forever
while nobody watches it.
A job that exits non-zero (crash, NaN losses) or outlives its time budget is failed, with
the tail of its log as the reason.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from engine.errors import MascotError


class JobConflict(MascotError):
    pass


class UnknownJob(MascotError):
    pass


@dataclass(frozen=True)
class FinetuneSpec:
    """What a fine-tune needs; validated before any process starts."""

    data: str
    init_from: str
    family: str
    kimg: float = 20.0
    freeze_d: int = 0
    lr_g: float | None = None
    lr_d: float | None = None
    batch_size: int = 32
    timeout_s: float = 3600.0
    extra_args: tuple[str, ...] = ()
    extra_data: str = (
        ""  # a second data set mixed into real batches (e.g. curated mascots); "{job}" = the job folder
    )
    extra_share: float = 0.25
    # Commands run before and after training, each in its own child process, in order;
    # "{job}" in an argument is the job folder. A step failing fails the job.
    before: tuple[tuple[str, ...], ...] = ()
    after: tuple[tuple[str, ...], ...] = ()

    def command(self, out: Path) -> list[str]:
        cmd = [
            sys.executable,
            "-m",
            "engine.cli",
            "train",
            "--family",
            self.family,
            "--data",
            self.data,
            "--init-from",
            self.init_from,
            "--out",
            str(out),
            "--kimg",
            str(self.kimg),
            "--freeze-d",
            str(self.freeze_d),
            "--batch",
            str(self.batch_size),
            "--tick-kimg",
            str(max(self.kimg / 10, 0.01)),
            "--snapshot-kimg",
            str(self.kimg),
        ]
        if self.lr_g is not None:
            cmd += ["--lr-g", str(self.lr_g)]
        if self.lr_d is not None:
            cmd += ["--lr-d", str(self.lr_d)]
        if self.extra_data:
            cmd += [
                "--extra-data",
                self.extra_data.replace("{job}", str(out.parent)),
                "--extra-share",
                str(self.extra_share),
            ]
        return cmd + list(self.extra_args)

    def steps(self, out: Path) -> list[list[str]]:
        """Every command of the job, in order: before-steps, training, after-steps."""
        folder = str(out.parent)

        def fill(step: tuple[str, ...]) -> list[str]:
            return [arg.replace("{job}", folder) for arg in step]

        return [fill(s) for s in self.before] + [self.command(out)] + [fill(s) for s in self.after]


@dataclass
class Job:
    id: str
    spec: dict[str, Any]
    state: str = "queued"  # queued | running | succeeded | failed
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    pid: int | None = None
    progress: float = 0.0  # 0..1 of the kimg budget
    result: dict[str, Any] = field(default_factory=dict)
    error: str = ""

    def public(self) -> dict[str, Any]:
        return asdict(self)


class JobRunner:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.jobs: dict[str, Job] = {}
        self._tasks: set[asyncio.Task] = set()
        self._recover()

    def _recover(self) -> None:
        for path in sorted(self.root.glob("*/job.json")):
            try:
                job = Job(**json.loads(path.read_text()))
            except (ValueError, TypeError):
                continue
            if job.state in ("queued", "running"):
                stopped = _stop_orphan(job.pid, self.root / job.id)
                job.state, job.finished = "failed", time.time()
                job.error = "the engine stopped while this job ran" + (
                    "; its leftover training process was stopped" if stopped else ""
                )
                self._save(job)
            self.jobs[job.id] = job

    def _save(self, job: Job) -> None:
        folder = self.root / job.id
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / ".job.json.tmp"
        tmp.write_text(json.dumps(job.public(), indent=1))
        os.replace(tmp, folder / "job.json")

    def busy(self) -> Job | None:
        return next((j for j in self.jobs.values() if j.state in ("queued", "running")), None)

    def get(self, job_id: str) -> Job:
        if job_id not in self.jobs:
            raise UnknownJob(f"no job with id '{job_id}'")
        return self.jobs[job_id]

    def start(self, spec: FinetuneSpec, files: dict[str, bytes] | None = None) -> Job:
        """Start ``spec``; ``files`` (name -> bytes) are written into the job folder first."""
        running = self.busy()
        if running:
            raise JobConflict(f"job {running.id} is still {running.state}; one training job runs at a time")
        job = Job(id=secrets.token_hex(6), spec=asdict(spec))
        self.jobs[job.id] = job
        self._save(job)
        for name, data in (files or {}).items():
            (self.root / job.id / name).write_bytes(data)
        task = asyncio.create_task(self._run(job, spec))  # owned here: a client hanging up doesn't cancel it
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return job

    async def _run(self, job: Job, spec: FinetuneSpec) -> None:
        out = self.root / job.id / "run"
        log_path = self.root / job.id / "train.log"
        deadline = time.monotonic() + spec.timeout_s  # one budget for every step of the job
        job.state, job.started = "running", time.time()
        for step in spec.steps(out):
            with open(log_path, "ab") as log:  # noqa: ASYNC230 (opening a local log does not block)
                proc = await asyncio.create_subprocess_exec(
                    *step,
                    stdout=log,
                    stderr=asyncio.subprocess.STDOUT,
                    start_new_session=True,
                    preexec_fn=_die_with_parent,
                )
            job.pid = proc.pid
            self._save(job)
            try:
                code = await self._wait(proc, job, spec, out, deadline)
            except TimeoutError:
                proc.kill()
                await proc.wait()
                self._finish(job, "failed", f"ran past its budget of {spec.timeout_s:.0f} s and was stopped")
                return
            except asyncio.CancelledError:
                proc.kill()
                self._finish(job, "failed", "the engine shut down while this job ran")
                raise
            if code != 0:
                self._finish(job, "failed", f"exited with code {code}: {_tail(log_path)}")
                return
        if (out / "model" / "model.json").exists():
            job.result = {
                "checkpoint": str(out / "model"),
                "run": str(out),
                **_step_results(self.root / job.id),
            }
            self._finish(job, "succeeded", "")
        else:
            self._finish(job, "failed", f"training wrote no checkpoint: {_tail(log_path)}")

    async def _wait(self, proc, job: Job, spec: FinetuneSpec, out: Path, deadline: float) -> int:
        while True:
            try:
                return await asyncio.wait_for(proc.wait(), timeout=1.0)
            except TimeoutError:
                if time.monotonic() > deadline:
                    raise
                job.progress = _progress(out / "stats.jsonl", spec.kimg)

    def _finish(self, job: Job, state: str, error: str) -> None:
        job.state, job.error, job.finished = state, error, time.time()
        if state == "succeeded":
            job.progress = 1.0
        self._save(job)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


def _die_with_parent() -> None:
    """In the child before exec: SIGKILL when the engine dies (Linux; elsewhere start-up cleans up)."""
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _stop_orphan(pid: int | None, folder: Path) -> bool:
    """Kill a job's process group left from an earlier engine, if that pid is still one of ours."""
    if not _alive(pid):
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return False  # cannot tell what the pid is now: leave it alone
    if str(folder) not in cmdline:
        return False  # the pid was reused by something else
    try:
        os.killpg(pid, signal.SIGKILL)  # the job ran in its own session: its group is its pid
    except OSError:
        return False
    return True


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
        return True
    except OSError:
        return False


def _progress(stats: Path, kimg: float) -> float:
    try:
        last = stats.read_text().strip().splitlines()[-1]
        return min(1.0, json.loads(last)["kimg"] / kimg)
    except (OSError, IndexError, ValueError, KeyError):
        return 0.0


def _step_results(folder: Path) -> dict[str, Any]:
    """What before/after steps left for the client: ``<folder>/results/<key>.json`` -> result[key]."""
    out = {}
    for path in sorted((folder / "results").glob("*.json")):
        try:
            out[path.stem] = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            out[path.stem] = {"error": f"unreadable result file: {exc}"}
    return out


def _tail(path: Path, lines: int = 5) -> str:
    try:
        text = path.read_text(errors="replace").replace("\r", "\n")
    except OSError:
        return "(no log)"
    kept = [line for line in text.splitlines() if line.strip()][-lines:]
    return " | ".join(kept) or "(empty log)"
