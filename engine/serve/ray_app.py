"""Scale-out: the engine's HTTP API on Ray Serve replicas, for users who outgrow one machine.

    pip install -e '.[ray]'
    serve run engine.serve.ray_app:app config=config.toml num_replicas=4

Each replica runs the single engine's own aiohttp application (engine/serve/app.py, from the
same settings ``mascot-engine serve`` reads) on a private unix socket and relays every request
to it. Nothing is written twice: validation, error bodies, the micro-batcher and its fixed
bucket shapes, the cache and the upscale stage are the engine's, so a replica answers what the
single engine answers, byte for byte, and the bot needs only its engine URL pointed at Ray (``--engine-url``).

Refused with a 404 JSON error instead: the admin routes (jobs, reload, promote, rollback,
versions) and /metrics. Each replica holds its own models, jobs and counters, and Ray routes a
call to one replica, so a reload there would leave the others serving the old model and a job's
status would depend on which replica answered. Change models by redeploying; run fine-tunes on
a single engine.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import tempfile
from typing import Any

import aiohttp
from aiohttp import web
from ray import serve
from starlette.requests import Request as HttpRequest
from starlette.responses import JSONResponse, Response

from engine.serve.app import EngineService, ServeConfig
from engine.serve.auth import ADMIN_ROUTES

# What ``serve run engine.serve.ray_app:app key=value ...`` (or a serve config's ``args``) takes.
ARGS = {
    "config": "the settings file, as for mascot-engine serve (default: ./config.toml)",
    "checkpoint": "serve this one checkpoint folder as the model 'default'",
    "models": "NAME=PATH[,NAME=PATH...]: the models to serve, the first the default",
    "device": "auto | cuda | mps | cpu (default from [engine] device)",
    "num_replicas": "how many replicas (default 1), or 'auto' for Ray's autoscaling",
    "num_cpus": "CPUs each replica reserves, and so the threads torch draws with (default 1)",
    "num_gpus": "GPUs each replica reserves (default 0)",
    "max_ongoing_requests": "requests one replica takes at once; its batcher groups them (default 32)",
}
# Headers that describe one connection, not the message: each hop sets its own.
HOP_HEADERS = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "upgrade", "te", "trailer", "host", "content-length"}
)


class BuildError(ValueError):
    """A ``serve run`` argument that cannot work, found before any replica starts."""


# --- settings ---------------------------------------------------------------------


def engine_config(args: dict[str, Any]) -> ServeConfig:
    """The engine's settings from the builder's arguments, read as ``mascot-engine serve`` reads its flags.

    Run inside each replica, so that ``device = "auto"`` picks the replica's own GPU."""
    from engine.serve.cli import serve_config

    models = [f"default={args['checkpoint']}"] if args.get("checkpoint") else []
    models += [m.strip() for m in str(args.get("models", "")).split(",") if m.strip()]
    flags = argparse.Namespace(
        config=args.get("config"), host=None, port=None, model=models or None, device=args.get("device")
    )
    return serve_config(flags)[0]


def _number(args: dict[str, Any], key: str, default: float, least: float) -> float:
    raw = args.get(key, default)
    try:
        value = float(raw)
    except (TypeError, ValueError):
        value = least - 1
    if not value >= least:  # NaN too
        raise BuildError(f"{key} must be a number of at least {least:g}, got {raw!r}")
    return value


def _whole(args: dict[str, Any], key: str, default: int) -> int:
    value = _number(args, key, default, 1)
    if value != int(value):
        raise BuildError(f"{key} must be a whole number, got {args[key]!r}")
    return int(value)


def deployment_options(args: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(args) - set(ARGS))
    if unknown:
        known = "\n".join(f"  {k}: {v}" for k, v in ARGS.items())
        raise BuildError(f"unknown argument(s) {', '.join(unknown)}; engine.serve.ray_app:app takes\n{known}")
    replicas = args.get("num_replicas", 1)
    return {
        "num_replicas": "auto" if replicas == "auto" else _whole(args, "num_replicas", 1),
        "max_ongoing_requests": _whole(args, "max_ongoing_requests", 32),
        "ray_actor_options": {
            "num_cpus": _number(args, "num_cpus", 1, 0),
            "num_gpus": _number(args, "num_gpus", 0, 0),
            # As mascot-engine serve sets it: idle OpenMP workers sleep instead of spinning,
            # so the event loop and the PNG encoders get the CPU between forward passes.
            "runtime_env": {"env_vars": {"OMP_WAIT_POLICY": "PASSIVE"}},
        },
    }


# --- what a replica relays and what it refuses ---------------------------------------


def _route_pattern(template: str) -> re.Pattern[str]:
    """``/v1/jobs/{id}`` -> a pattern matching ``/v1/jobs/abc``: the engine's own route table decides."""
    return re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "/?$")


REFUSED = [
    (
        _route_pattern(route),
        "an admin endpoint, which Ray Serve replicas do not serve: each replica holds its own models "
        "and jobs, so a reload or a job would reach only one of them. Redeploy to change models "
        "(serve deploy), and run fine-tunes and promotions against a single engine (mascot-engine serve)",
    )
    for route in sorted(ADMIN_ROUTES)
] + [
    (
        _route_pattern("/metrics"),
        "not served by Ray Serve replicas: each would count only its own traffic. "
        "Read Ray Serve's own metrics (requests, latency and replicas per deployment) instead",
    )
]


def refusal(path: str) -> JSONResponse | None:
    """The 404 for a route the replicas leave to the single engine, or None for one they relay."""
    for pattern, why in REFUSED:
        if pattern.match(path):
            message = f"{path} is {why}"
            return JSONResponse({"error": {"code": "not_served_by_ray", "message": message}}, status_code=404)
    return None


def _relayed(headers: Any) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k.lower() not in HOP_HEADERS}


def engine_path(http: HttpRequest) -> str:
    """The path as the engine names it: Ray's route prefix (when one is set) taken off, the query kept."""
    path = http.url.path
    prefix = http.scope.get("root_path", "").rstrip("/")
    if prefix and path.startswith(prefix + "/"):
        path = path[len(prefix) :]
    return path + (f"?{http.url.query}" if http.url.query else "")


# --- the replica ----------------------------------------------------------------------


@serve.deployment(name="mascot-engine")
class EngineReplica:
    """One replica: the engine's aiohttp application on a unix socket, and a relay to it."""

    async def __init__(self, args: dict[str, Any], folder: str) -> None:
        self.runner: web.AppRunner | None = None
        self.session: aiohttp.ClientSession | None = None
        _enter(folder)
        self.service = EngineService(engine_config(args))
        self.sockets = tempfile.mkdtemp(prefix="mascot-engine-")
        socket = os.path.join(self.sockets, "engine.sock")
        runner = web.AppRunner(self.service.app(), access_log=None)
        await runner.setup()  # the engine's start-up: models loaded, warm-up measured
        self.runner = runner
        await web.UnixSite(runner, socket).start()
        # No client-side limit on connections or time: the engine's own queue answers 429 when
        # full and its own timeout 503, as it does for the single engine's clients.
        self.session = aiohttp.ClientSession(
            connector=aiohttp.UnixConnector(path=socket, limit=0),
            timeout=aiohttp.ClientTimeout(total=None),
            auto_decompress=False,
        )

    async def __call__(self, http: HttpRequest) -> Response:
        path = engine_path(http)
        refused = refusal(path.partition("?")[0])
        if refused is not None:
            return refused
        async with self.session.request(
            http.method, "http://engine" + path, data=await http.body(), headers=_relayed(http.headers)
        ) as answer:
            body = await answer.read()
            return Response(body, status_code=answer.status, headers=_relayed(answer.headers))

    def check_health(self) -> None:
        """Ray restarts a replica whose models are not all loaded (an exception here says so)."""
        if not self.service.registry.ready:
            raise RuntimeError("the replica's models are not loaded")

    async def __del__(self) -> None:
        # Ray runs this after a failed start-up too (a missing checkpoint), or during one:
        # close only what was opened.
        session, runner = getattr(self, "session", None), getattr(self, "runner", None)
        if session is not None:
            await session.close()
        if runner is not None:
            await runner.cleanup()  # the engine's own shutdown: the batcher stopped
        shutil.rmtree(getattr(self, "sockets", ""), ignore_errors=True)


def _enter(folder: str) -> None:
    """Work in the folder the application was built in, where it exists on this node.

    The settings' relative paths (config.toml, checkpoints/...) then mean what they mean to
    ``mascot-engine serve`` started there, even when Ray started this worker elsewhere (a
    ``ray start`` run in another folder). Where the folder is absent (another node, given the
    files through ``--working-dir``), Ray's working directory is already the right one."""
    if os.path.isdir(folder):
        os.chdir(folder)  # this process is this one replica's alone


def app(args: dict[str, Any]) -> serve.Application:
    """Ray Serve application builder: ``serve run engine.serve.ray_app:app config=config.toml ...``."""
    options = deployment_options(args)
    engine_args = {k: v for k, v in args.items() if k in ("config", "checkpoint", "models", "device")}
    # A bad setting stops here, not in every replica's start-up. The device is left to the
    # replicas: the machine running this builder may have no GPU while theirs do.
    engine_config({**engine_args, "device": "cpu"})
    return EngineReplica.options(**options).bind(engine_args, os.getcwd())
