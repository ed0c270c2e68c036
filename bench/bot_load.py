"""Load test of the Discord layer against a real engine on CPU.

    python bench/bot_load.py --checkpoint checkpoints/default [--interactions 200 --reactions 2000]

N concurrent /mascot interactions and M reaction events go through the real
discord.py client via the test harness (raw gateway payloads in, HTTP calls
captured). It checks that every interaction was deferred within 3 s, that no vote
was lost or doubled, and prints the p50/p95 time from the command to its image.
Without --checkpoint it trains the same tiny dcgan the tests use (about 10 s).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.core.commands import DOWN, UP, Commands
from bot.core.engine_client import EngineClient
from bot.core.limits import RateLimiter
from bot.store import Store
from tests.bot.discord.harness import BOT_ID, Harness

DEFER_DEADLINE_S = 3.0


@dataclass(frozen=True)
class Report:
    interactions: int
    images: int
    defer_s: list[float]
    image_s: list[float]
    wall_s: float
    reactions: int
    reaction_wall_s: float
    votes_expected: int
    votes_lost: int
    votes_wrong: int
    votes_extra: int

    @property
    def late_defers(self) -> int:
        return sum(d > DEFER_DEADLINE_S for d in self.defer_s)

    def lines(self) -> list[str]:
        def pct(xs: list[float], q: float) -> float:
            return statistics.quantiles(xs, n=100)[q - 1] if len(xs) > 1 else xs[0]

        return [
            f"interactions {self.interactions}: images {self.images}, wall {self.wall_s:.2f} s, "
            f"{self.images / self.wall_s:.1f} images/s",
            f"defer: p50 {pct(self.defer_s, 50) * 1000:.1f} ms, p95 {pct(self.defer_s, 95) * 1000:.1f} ms, "
            f"max {max(self.defer_s) * 1000:.1f} ms, over {DEFER_DEADLINE_S:.0f} s: {self.late_defers}",
            f"time to image: p50 {pct(self.image_s, 50):.2f} s, p95 {pct(self.image_s, 95):.2f} s, "
            f"max {max(self.image_s):.2f} s",
            f"reactions {self.reactions}: {self.reactions / self.reaction_wall_s:.0f} events/s; "
            f"votes expected {self.votes_expected}, lost {self.votes_lost}, "
            f"wrong value {self.votes_wrong}, extra {self.votes_extra}",
        ]


async def run_load(core: Commands, interactions: int, reactions: int, seed: int = 0) -> Report:
    rng = random.Random(seed)
    h = Harness(core)
    await h.start()
    try:
        model = core.catalog.get(None)
        fed: dict[str, float] = {}
        start = time.perf_counter()
        for i in range(interactions):
            options: dict = {a.name: rng.choice(a.values) for a in model.attributes if rng.random() < 0.7}
            options["seed"] = rng.randrange(2**31)
            token = h.slash("mascot", options, uid=10_000 + i)
            fed[token] = time.perf_counter()
        await h.settle(timeout=600)
        wall = time.perf_counter() - start
        defer_s, image_s = [], []
        for token, t0 in fed.items():
            calls = h.fake.for_token(token)
            defer_s.append(next(c.at for c in calls if c.callback_type == 5) - t0)
            image_s.append(next(c.at for c in calls if c.files) - t0)
        messages = list(h.fake.posted)

        # Reactions: random adds/removes by 60 users, plus the bot's own (ignored); the expected state
        # follows the rules: add sets the value, remove deletes only the vote that reaction made.
        expected: dict[tuple[int, str], int] = {}
        r_start = time.perf_counter()
        for _ in range(reactions):
            mid, uid = rng.choice(messages), rng.choice([BOT_ID, *range(1, 61)])
            emoji, add = rng.choice((UP, DOWN)), rng.random() < 0.7
            h.react(mid, uid, emoji, add=add)
            if uid == BOT_ID:
                continue
            value, key = 1 if emoji == UP else -1, (mid, str(uid))
            if add:
                expected[key] = value
            elif expected.get(key) == value:
                del expected[key]
        await h.settle(timeout=600)
        r_wall = time.perf_counter() - r_start
        actual: dict[tuple[int, str], int] = {}
        for mid in messages:
            for g in core.store.by_message(mid):
                for user, value in core.store.votes(g.id).items():
                    actual[(mid, user)] = value
        lost = sum(k not in actual for k in expected)
        wrong = sum(k in actual and actual[k] != v for k, v in expected.items())
        extra = sum(k not in expected for k in actual)
        return Report(
            interactions,
            len(messages),
            defer_s,
            image_s,
            wall,
            reactions,
            r_wall,
            len(expected),
            lost,
            wrong,
            extra,
        )
    finally:
        await h.close()


def tiny_checkpoint(root: Path) -> Path:
    from engine.train.config import TrainConfig
    from engine.train.loop import train
    from tests.toydata import make_toy_dataset  # the same tiny model the tests use

    cfg = TrainConfig().with_overrides(
        dict(
            family="dcgan",
            data=str(make_toy_dataset(root / "toy")),
            out=str(root / "run"),
            kimg=0.064,
            batch_size=16,
            tick_kimg=1,
            snapshot_kimg=1,
            grid_seeds=2,
            arch=(("g_ch", 8), ("d_ch", 8)),
        )
    )
    return Path(train(cfg))


async def main_async(args: argparse.Namespace) -> int:
    from bot.engine_process import EnginePlan, free_port, start_engine, stop_engine

    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = Path(args.checkpoint) if args.checkpoint else tiny_checkpoint(Path(tmp))
        plan = EnginePlan(port=free_port(), models=("default",), checkpoint=str(checkpoint))
        proc, url = await start_engine(plan), plan.url
        engine = EngineClient(url, timeout_s=600)
        store = Store(Path(tmp) / "load.db")
        try:
            core = Commands(engine, store, await engine.models(), RateLimiter())
            report = await run_load(core, args.interactions, args.reactions)
        finally:
            await engine.close()
            store.close()
            stop_engine(proc)
    print(f"engine: {url} serving {checkpoint}")
    print("\n".join(report.lines()))
    ok = report.late_defers == 0 and report.votes_lost == report.votes_wrong == report.votes_extra == 0
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--checkpoint", help="model folder (default: train the tiny test model)")
    parser.add_argument("--interactions", type=int, default=200)
    parser.add_argument("--reactions", type=int, default=2000)
    sys.exit(asyncio.run(main_async(parser.parse_args())))
