"""The demo's engine: ``mascot-engine serve`` as a child process that never outlives the bot.

The bot never imports the engine: it starts it as a process and talks to it over HTTP. The
engine serves what config.toml's [engine] names (every model in ``models``, the upscaler,
the tagger) on [engine] port, or on a free port, said out loud, when that one is taken.

Stopping: the bot stops the engine with SIGINT (aiohttp's clean shutdown) when it stops
itself; should the bot die without that chance (``kill -9``), Linux's parent-death signal
ends the engine too.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bot.core.engine_client import EngineClient

LOOPBACK = "127.0.0.1"  # the demo is local: its engine (admin routes included) answers only here


class EngineStartRefused(Exception):
    """The engine cannot start for a reason the user can fix; one line (or a few) to print."""


@dataclass(frozen=True)
class EnginePlan:
    """What the demo's engine serves and where."""

    port: int
    models: tuple[str, ...]  # names, as the engine will serve them
    checkpoint: str = ""  # one folder served as "default" instead of config's models
    config: str | None = None  # the settings file the engine reads ([engine], [paths])
    port_note: str = ""  # why the port is not the one asked for, when it is not

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"


def plan_engine(config: str | None, checkpoint: str | None, port: int | None) -> EnginePlan:
    """The plan for ``mascot-bot demo``: config's [engine] models and port unless the flags say
    otherwise; every model folder must hold a checkpoint."""
    engine, checkpoints = engine_settings(config)
    if checkpoint:
        folders = {"default": Path(checkpoint)}
    else:
        names = engine.get("models", [engine.get("model", "default")])
        folders = {str(name): checkpoints / str(name) for name in names}
    missing = [f"{name} ({folder})" for name, folder in folders.items() if not holds_checkpoint(folder)]
    if missing:
        raise EngineStartRefused(
            f"no model at {', '.join(missing)} (model.json + model.safetensors). Train one first, e.g.\n"
            f"  mascot-engine train --family dcgan --data data/<set> --out runs/first\n"
            f"and copy its checkpoint folder there, or pass --checkpoint PATH."
        )
    chosen, note = choose_port(port, int(engine.get("port", 8700)))
    return EnginePlan(chosen, tuple(folders), checkpoint or "", config, note)


def engine_settings(config: str | None) -> tuple[dict, Path]:
    """config.toml's [engine] table and [paths] checkpoints (both empty/default when absent)."""
    file = Path(config or "config.toml")
    if not file.exists():
        if config is not None:
            raise EngineStartRefused(f"no settings file at {file}")
        return {}, Path("checkpoints")
    with file.open("rb") as fh:
        raw = tomllib.load(fh)
    return raw.get("engine", {}), Path(raw.get("paths", {}).get("checkpoints", "checkpoints"))


def holds_checkpoint(folder: Path) -> bool:
    return (folder / "model.json").is_file() and (folder / "model.safetensors").is_file()


def choose_port(asked: int | None, configured: int) -> tuple[int, str]:
    """``--engine-port`` must be free; config's port falls back to a free one, with a note."""
    if asked:
        if not port_is_free(asked):
            raise EngineStartRefused(f"--engine-port {asked} is taken; pick another (or 0 for a free one)")
        return asked, ""
    if asked == 0:
        return free_port(), ""
    if port_is_free(configured):
        return configured, ""
    port = free_port()
    return port, f"port {configured} ([engine] port) is taken, so the demo's engine uses {port} instead"


def port_is_free(port: int) -> bool:
    with socket.socket() as s:
        # As the engine's server binds: a closed connection lingering in TIME_WAIT does not count.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((LOOPBACK, port))
        except OSError:
            return False
        return True


def free_port() -> int:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def engine_command(plan: EnginePlan) -> list[str]:
    cmd = [sys.executable, "-m", "engine.cli", "serve", "--host", LOOPBACK, "--port", str(plan.port)]
    if plan.config:
        cmd += ["--config", plan.config]
    if plan.checkpoint:
        cmd += ["--model", f"default={plan.checkpoint}"]
    return cmd


async def start_engine(plan: EnginePlan, timeout_s: float = 180.0) -> subprocess.Popen:
    """Start the engine and wait until it is ready; stopped again if anything goes wrong."""
    # Its own session, so a Ctrl-C in the terminal reaches the bot alone and the bot stops the
    # engine in order; die_with_parent covers a bot that cannot. (Its preexec_fn only calls
    # prctl through an already loaded libc: no import, no lock another thread could hold.)
    proc = subprocess.Popen(  # noqa: ASYNC220 (returns at once; polled below)
        engine_command(plan),
        start_new_session=True,
        preexec_fn=die_with_parent(),  # noqa: PLW1509
    )
    if plan.port_note:
        print(f"mascot-bot: {plan.port_note}", flush=True)
    print(f"mascot-bot: starting the engine on {plan.url} ({', '.join(plan.models)}) ...", flush=True)
    engine = EngineClient(plan.url, timeout_s=5)
    deadline = time.monotonic() + timeout_s
    try:
        while not await engine.ready():
            if proc.poll() is not None:
                raise EngineStartRefused(
                    f"the engine exited with code {proc.returncode} while starting; see its output above"
                )
            if time.monotonic() > deadline:
                raise EngineStartRefused(f"the engine was not ready after {timeout_s:.0f} s")
            await asyncio.sleep(0.25)
    except BaseException:
        stop_engine(proc)
        raise
    finally:
        await engine.close()
    print(
        f"mascot-bot: engine API on {plan.url} serving {', '.join(plan.models)} "
        f"(try: curl {plan.url}/v1/models)",
        flush=True,
    )
    return proc


def stop_engine(proc: subprocess.Popen, grace_s: float = 10.0) -> None:
    """SIGINT (a clean shutdown), then, past ``grace_s``, SIGKILL to the engine's whole group."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # its own session: the group is its pid
            proc.wait()


PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def die_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the child get SIGTERM when the bot dies (Linux; elsewhere
    None). The kernel sends it when the thread that started the child ends, so call
    ``start_engine`` from the main thread (the event loop's)."""
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(None, use_errno=True)  # loaded here: the forked child only calls it
    parent = os.getpid()

    def arm() -> None:
        libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
        if os.getppid() != parent:  # the bot died before the signal was armed
            os._exit(1)

    return arm
