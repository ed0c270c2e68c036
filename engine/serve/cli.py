"""``mascot-engine serve``: the HTTP API on the models config.toml names."""

from __future__ import annotations

import argparse
import logging
import os
from dataclasses import replace
from pathlib import Path


def register(subparsers) -> None:
    p = subparsers.add_parser("serve", help="serve the HTTP API")
    p.add_argument("--config", help="settings file (default: ./config.toml)")
    p.add_argument("--host", help="listen address (default from [engine] host)")
    p.add_argument("--port", type=int, help="listen port (default from [engine] port)")
    p.add_argument("--model", action="append", metavar="NAME=PATH", help="serve this checkpoint (repeatable)")
    p.add_argument("--device", help="auto | cuda | mps | cpu")
    p.set_defaults(func=run)


def serve_config(args: argparse.Namespace):
    from engine.config import load_config, section
    from engine.errors import MascotError
    from engine.serve.app import ServeConfig
    from engine.serve.auth import token_from_env
    from engine.serve.batcher import check_buckets
    from engine.serve.workers import worker_count
    from engine.train.loop import pick_device

    config = load_config(args.config)
    eng, paths = section(config, "engine"), section(config, "paths")
    root = Path(paths.get("checkpoints", "checkpoints"))
    names = eng.get("models", [eng.get("model", "default")])
    models = [(n, str(root / n)) for n in names]
    if args.model:
        models = []
        for item in args.model:
            name, sep, path = item.partition("=")
            if not sep:
                raise MascotError(f"--model takes NAME=PATH (e.g. default=checkpoints/default), got '{item}'")
            models.append((name, path))
    default = eng.get("model", models[0][0]) if not args.model else models[0][0]
    device = str(pick_device(args.device or eng.get("device", "auto")))
    precision = eng.get("precision", "auto")
    if precision == "auto":
        precision = "bf16" if device.startswith("cuda") else "fp32"
    if precision not in ("fp64", "fp32", "bf16"):
        raise MascotError(f"[engine] precision must be auto, fp32, bf16 or fp64, got {precision!r}")
    buckets = eng.get("buckets_cuda" if device.startswith("cuda") else "buckets", [1, 2, 4])
    try:
        buckets = check_buckets(buckets)
    except MascotError as exc:
        raise MascotError(f"[engine] {exc}") from None
    channels_last = eng.get("channels_last", True)
    if not isinstance(channels_last, bool):
        raise MascotError(f"[engine] channels_last must be true or false, got {channels_last!r}")
    channels_last = channels_last and device == "cpu"
    return (
        ServeConfig(
            models=tuple(models),
            default_model=default,
            device=device,
            precision=precision,
            batch_window_ms=float(eng.get("batch_window_ms", 0)),
            max_batch=int(eng.get("max_batch", 64)),
            buckets=buckets,
            workers=worker_count(eng.get("workers", 0)),
            channels_last=channels_last,
            queue_size=int(eng.get("queue_size", 256)),
            request_timeout_s=float(eng.get("request_timeout_s", 30)),
            cache_size=int(eng.get("cache_size", 512)),
            jobs_dir=str(Path(paths.get("runs", "runs")) / "jobs"),
            upscaler=str(root / eng["upscaler"]) if eng.get("upscaler") else "",
            tagger=str(root / eng["tagger"]) if eng.get("tagger") else "",
            translators=translators(eng.get("translators", {}), root),
            invert_steps=int(eng.get("invert_steps", 80)),
            invert_budget_s=float(eng.get("invert_budget_s", 7)),
            path_roots=tuple(str(paths.get(k, k)) for k in ("checkpoints", "data", "runs")),
            admin_token=token_from_env(),
        ),
        *listen_address(args),
    )


def listen_address(args: argparse.Namespace) -> tuple[str, int]:
    """Where the API listens: the flags, else [engine] host and port (read without importing torch)."""
    from engine.config import load_config, section

    eng = section(load_config(args.config), "engine")
    return args.host or eng.get("host", "127.0.0.1"), args.port or int(eng.get("port", 8700))


def translators(table, root: Path) -> tuple[tuple[str, str], ...]:
    """[engine] translators = {emoji = "cyclegan-emoji"}: /v1/invert's style names -> checkpoint folders."""
    from engine.errors import MascotError

    if not isinstance(table, dict) or not all(
        isinstance(k, str) and k and isinstance(v, str) and v for k, v in table.items()
    ):
        raise MascotError(
            f"[engine] translators must be a table of style name = folder under [paths] checkpoints "
            f'(e.g. {{emoji = "cyclegan-emoji"}}), got {table!r}'
        )
    return tuple((name, str(root / folder)) for name, folder in table.items())


def adopt_state_folder(config_path: str | None) -> None:
    """[paths] state: the engine's own folder of model versions (engine/versions.py). It
    reaches the version store, and the fine-tune jobs this process starts, as $MASCOT_STATE_DIR;
    a variable already set wins over the file."""
    from engine.config import load_config, section
    from engine.errors import MascotError
    from engine.versions import STATE_ENV

    folder = section(load_config(config_path), "paths").get("state")
    if folder is None:
        return
    if not isinstance(folder, str) or not folder:
        raise MascotError(f"[paths] state must be a folder path, got {folder!r}")
    os.environ.setdefault(STATE_ENV, str(Path(folder).expanduser()))


# Connections not yet accepted that the kernel holds: a burst of a few hundred clients must not
# overflow it (aiohttp's default is 128), or the rest wait a second for their SYN retry.
BACKLOG = 1024


def run(args: argparse.Namespace) -> int:
    # Before torch loads its OpenMP runtime: idle OpenMP workers sleep instead of spinning, so
    # the event loop, the PNG encoders (and a bot on the same cores) get the CPU between
    # forward passes. With spinning workers on a busy 2-core CPU a forward took 20x longer.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from engine.serve.early import EarlyServer, bind

    # The port first: probes are answered while torch and the engine import (engine/serve/early.py).
    host, port = listen_address(args)
    sock = bind(host, port, BACKLOG)
    early = EarlyServer(sock).start()
    try:
        return _serve(args, sock, early)
    finally:
        early.stop()


def _serve(args: argparse.Namespace, sock, early) -> int:
    from aiohttp import web

    from engine.serve.app import EngineService

    cfg, host, port = serve_config(args)
    adopt_state_folder(args.config)
    if args.config:  # the sections routes read for themselves ([communities]) come from the same file
        os.environ["MASCOT_CONFIG"] = args.config
    # The port answers /healthz at once; /readyz and the drawing routes wait for the models.
    cfg = replace(cfg, load_in_background=True)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    service = EngineService(cfg)
    app = service.app()

    async def take_over(app) -> None:  # the engine's server accepts next; the socket never closes
        early.stop()

    app.on_startup.insert(0, take_over)
    web.run_app(
        app,
        sock=sock,
        print=lambda msg: print(
            f"mascot-engine: serving {', '.join(n for n, _ in cfg.models)} on http://{host}:{port}"
        ),
    )
    if service.load_error:
        print(f"mascot-engine: {service.load_error}")
        return 1
    return 0
