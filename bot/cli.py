"""``mascot-bot``: run the chat front-ends against the engine's HTTP API.

    mascot-bot demo      start the engine (child process) on checkpoints/default, then the web chat
                         (and the Discord bot when DISCORD_TOKEN is set); Ctrl-C stops everything
    mascot-bot web       the web chat against an already-running engine
    mascot-bot discord   the Discord bot against an already-running engine (needs DISCORD_TOKEN)

The demo is the one place the bot launches the engine, and it does so as a process:
the bot never imports it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

from aiohttp import web

from bot.config import BotConfig
from bot.core.announcements import AnnouncementFeed
from bot.core.commands import Commands
from bot.core.engine_client import Catalog, EngineClient, EngineError
from bot.core.limits import RateLimiter
from bot.schedule.config import ScheduleConfig
from bot.schedule.scheduler import NightlyScheduler
from bot.store import Store
from bot.web.app import make_app

log = logging.getLogger("mascot.bot")


class Refused(Exception):
    """A start-up problem the user can fix; printed as one line."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mascot-bot", description="mascotbot's chat front-ends")
    parser.add_argument("--config", help="settings file (default: ./config.toml)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo = sub.add_parser("demo", help="engine + web chat (+ Discord when DISCORD_TOKEN is set)")
    demo.add_argument("--checkpoint", default="checkpoints/default", help="model folder the engine serves")
    demo.add_argument("--engine-port", type=int, default=0, help="engine port (default: a free one)")
    webchat = sub.add_parser("web", help="the web chat against a running engine")
    sub.add_parser("discord", help="the Discord bot against a running engine (token from DISCORD_TOKEN)")
    for p in (demo, webchat):
        p.add_argument("--host", help="web chat address (default from [bot] web_host)")
        p.add_argument("--port", type=int, help="web chat port (default from [bot] web_port)")
    for p in sub.choices.values():
        p.add_argument("--engine-url", help="engine API (default from [bot] engine_url)")
        p.add_argument("--db", help="SQLite file (default from [store] path)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    cfg = BotConfig.load(
        args.config,
        engine_url=args.engine_url,
        store_path=args.db,
        web_host=getattr(args, "host", None),
        web_port=getattr(args, "port", None),
    )
    try:
        schedule = ScheduleConfig.load(args.config)
    except (ValueError, OSError) as exc:
        print(f"mascot-bot: {exc}", file=sys.stderr)
        return 2
    try:
        return asyncio.run(_run(args, cfg, schedule))
    except Refused as exc:
        print(f"mascot-bot: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("mascot-bot: stopped", file=sys.stderr)
        return 0


async def _run(args: argparse.Namespace, cfg: BotConfig, schedule: ScheduleConfig) -> int:
    token = os.environ.get("DISCORD_TOKEN", "").strip()
    if args.command == "discord" and not token:
        raise Refused("set DISCORD_TOKEN in the environment (the token is never read from config.toml)")
    engine_proc = None
    if args.command == "demo":
        engine_proc, url = await start_engine(Path(args.checkpoint), args.engine_port)
        cfg = replace(cfg, engine_url=url)
    try:
        await serve(
            cfg,
            web_chat=args.command in ("demo", "web"),
            discord_token=token if args.command != "web" else "",
            schedule=schedule,
        )
    finally:
        if engine_proc is not None:
            stop_engine(engine_proc)
    return 0


# --- the engine as a child process (demo only) ------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def start_engine(
    checkpoint: Path, port: int = 0, timeout_s: float = 180.0
) -> tuple[subprocess.Popen, str]:
    if not (checkpoint / "model.json").is_file() or not (checkpoint / "model.safetensors").is_file():
        raise Refused(
            f"no model at {checkpoint} (model.json + model.safetensors). Train one first, e.g.\n"
            f"  mascot-engine train --family dcgan --data data/<set> --out runs/first\n"
            f"and copy its checkpoint folder to {checkpoint}, or pass --checkpoint PATH."
        )
    port = port or free_port()
    cmd = [
        sys.executable,
        "-m",
        "engine.cli",
        "serve",
        "--model",
        f"default={checkpoint}",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    # Its own process group, so a Ctrl-C in the terminal reaches the bot first and the bot stops the engine.
    proc = subprocess.Popen(cmd, start_new_session=True)  # noqa: ASYNC220 (returns at once; polled below)
    url = f"http://127.0.0.1:{port}"
    print(f"mascot-bot: starting the engine on {url} ({checkpoint}) ...", flush=True)
    engine = EngineClient(url, timeout_s=5)
    deadline = time.monotonic() + timeout_s
    try:
        while not await engine.ready():
            if proc.poll() is not None:
                raise Refused(
                    f"the engine exited with code {proc.returncode} while starting; see its output above"
                )
            if time.monotonic() > deadline:
                stop_engine(proc)
                raise Refused(f"the engine was not ready after {timeout_s:.0f} s")
            await asyncio.sleep(0.25)
    except BaseException:
        stop_engine(proc)
        raise
    finally:
        await engine.close()
    return proc, url


def stop_engine(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)  # aiohttp's run_app shuts down cleanly on SIGINT
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# --- serving -------------------------------------------------------------------------------
async def load_catalog(engine: EngineClient, attempts: int = 30) -> Catalog:
    for attempt in range(attempts):
        try:
            return await engine.models()
        except EngineError as exc:
            if attempt == attempts - 1:
                raise Refused(f"cannot read the engine's models at {engine.base_url}: {exc}") from None
            await asyncio.sleep(1.0)
    raise AssertionError("unreachable")


async def serve(
    cfg: BotConfig, *, web_chat: bool, discord_token: str, schedule: ScheduleConfig | None = None
) -> None:
    """Run the front-ends until cancelled (Ctrl-C), then close them in reverse order."""
    engine = EngineClient(cfg.engine_url, cfg.engine_timeout_s)
    store = Store(cfg.store_path, synchronous=cfg.store_synchronous)
    runner, client, nightly = None, None, None
    announcer = Announcer(schedule.announce_channel if schedule else "", AnnouncementFeed())
    try:
        if schedule is not None and schedule.enabled:
            nightly = NightlyScheduler(engine, store, schedule, announcer)
        core = Commands(
            engine,
            store,
            await load_catalog(engine),
            RateLimiter(cfg.rate_limit_per_minute),
            maintenance=nightly,
            image_size=cfg.image_size,
        )
        tasks = []
        if web_chat:
            runner = web.AppRunner(make_app(core, cfg, announcer.feed))
            await runner.setup()
            await web.TCPSite(runner, cfg.web_host, cfg.web_port).start()
            print(
                f"mascot-bot: web chat on http://{cfg.web_host}:{cfg.web_port}/  (Ctrl-C to stop)", flush=True
            )
        if discord_token:
            from bot.discord.client import make_client  # discord.py is only loaded when Discord is used

            client = make_client(cfg, core)
            announcer.client = client
            tasks.append(asyncio.create_task(client.start(discord_token), name="discord"))
            print("mascot-bot: Discord bot starting", flush=True)
        elif web_chat:
            print("mascot-bot: DISCORD_TOKEN not set, so only the web chat runs", flush=True)
        if nightly is not None:
            nightly.start()
            print(f"mascot-bot: {(await nightly.describe()).splitlines()[0]}", flush=True)
        # Wait forever, or until the Discord client dies (bad token, ...): then stop everything.
        await asyncio.gather(*tasks, asyncio.Event().wait())
    finally:
        if nightly is not None:
            await nightly.stop()
        if client is not None:
            with contextlib.suppress(Exception):
                await client.close()
        if runner is not None:
            await runner.cleanup()
        await engine.close()
        store.close()


class Announcer:
    """Where promotions are announced: the configured Discord channel when the bot is on Discord,
    the feed the web chat polls, and always the log (the operator reads it in the terminal)."""

    def __init__(self, channel: str, feed: AnnouncementFeed | None = None) -> None:
        self.channel, self.client = channel, None
        self.feed = feed if feed is not None else AnnouncementFeed()

    async def __call__(self, message: str) -> None:
        print(f"mascot-bot: {message}", flush=True)
        self.feed.add(message)  # before Discord: a failed send must not hide it from the web chat
        if self.client is None or not self.channel.isdigit():
            return
        target = self.client.get_channel(int(self.channel))
        if target is None:
            log.warning("announce_channel %s is not a channel this bot can see", self.channel)
            return
        await target.send(message)


if __name__ == "__main__":
    sys.exit(main())
