"""``mascot-bot``: run the chat front-ends against the engine's HTTP API.

    mascot-bot demo      start the engine (child process) on config.toml's [engine] models and port,
                         then the web chat (and the Discord bot when DISCORD_TOKEN is set);
                         Ctrl-C, SIGINT, SIGTERM or SIGHUP stop everything
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
import sys
from dataclasses import replace

from aiohttp import web

from bot.config import BotConfig
from bot.core.announcements import AnnouncementFeed
from bot.core.commands import Commands
from bot.core.community import WEB_SERVER
from bot.core.engine_client import Catalog, EngineClient, EngineError
from bot.core.limits import RateLimit, RateLimiter
from bot.core.reply import Reply
from bot.engine_process import EngineStartRefused, plan_engine, start_engine, stop_engine
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
    demo.add_argument(
        "--checkpoint", help="serve only this model folder, as 'default' (default: [engine] models)"
    )
    demo.add_argument(
        "--engine-port",
        type=int,
        help="engine port (default: [engine] port, or a free one when that is taken; 0: a free one)",
    )
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
    try:
        cfg = BotConfig.load(
            args.config,
            engine_url=args.engine_url,
            store_path=args.db,
            web_host=getattr(args, "host", None),
            web_port=getattr(args, "port", None),
        )
        schedule = ScheduleConfig.load(args.config)
    except (ValueError, OSError) as exc:
        print(f"mascot-bot: {exc}", file=sys.stderr)
        return 2
    try:
        return asyncio.run(_run(args, cfg, schedule))
    except (Refused, EngineStartRefused) as exc:
        print(f"mascot-bot: {exc}", file=sys.stderr)
        return 2
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("mascot-bot: stopped", file=sys.stderr)
        return 0


async def _run(args: argparse.Namespace, cfg: BotConfig, schedule: ScheduleConfig) -> int:
    token = os.environ.get("DISCORD_TOKEN", "").strip()
    if args.command == "discord" and not token:
        raise Refused("set DISCORD_TOKEN in the environment (the token is never read from config.toml)")
    stop_on_signals(asyncio.current_task())
    engine_proc = None
    if args.command == "demo":
        plan = plan_engine(args.config, args.checkpoint, args.engine_port)
        engine_proc = await start_engine(plan)
        cfg = replace(cfg, engine_url=plan.url)
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


def stop_on_signals(task: asyncio.Task) -> None:
    """Ctrl-C, SIGINT, SIGTERM and SIGHUP cancel the bot's main task, so every ``finally``
    runs: the front-ends close, the store closes, the demo's engine stops. Installing the
    handler also undoes an ignored SIGINT, which a shell's background job starts with."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(sig, task.cancel)


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
    engine = EngineClient(cfg.engine_url, cfg.engine_timeout_s, image_format=cfg.image_format)
    store = Store(cfg.store_path, synchronous=cfg.store_synchronous)
    runner, client, nightly = None, None, None
    announcer = Announcer(schedule.announce_channel if schedule else "", AnnouncementFeed())
    try:
        if schedule is not None and schedule.enabled:
            nightly = NightlyScheduler(engine, store, schedule, announcer, post=announcer.to_server)
        core = Commands(
            engine,
            store,
            await load_catalog(engine),
            rate_limiter(cfg),
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


def rate_limiter(cfg: BotConfig) -> RateLimiter:
    """Discord (and any other platform) gets [bot] rate_limit_*, the web chat web_rate_limit_*."""
    web = RateLimit(cfg.web_rate_limit_burst, cfg.web_rate_limit_per_minute)
    return RateLimiter(RateLimit(cfg.rate_limit_burst, cfg.rate_limit_per_minute), {"web": web})


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

    async def to_server(self, server: dict, reply: Reply) -> None:
        """A server's own model's progress: its Discord channel, or the web chat's feed."""
        print(f"mascot-bot: {server['community']}: {reply.text}", flush=True)
        if server["guild"] == WEB_SERVER:
            self.feed.add(reply.text)
        elif self.client is not None:
            from bot.discord.train import post_progress

            await post_progress(self.client, server.get("channel"), reply)


if __name__ == "__main__":
    sys.exit(main())
