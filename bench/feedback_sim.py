"""Simulated users with a hidden taste vote; the nightly loop learns from them. Does the taste spread?

    python bench/feedback_sim.py --base checkpoints/default --data data/dicebear-2k-64 \
        --rounds 3 --votes 200 --voters 5 --kimg 10 --eval-samples 500

Per round: the users ask the serving model for ``--votes`` mascots (attributes left to the
model's prior, as most users do), each of ``--voters`` users votes on each one by a
hidden taste (they like hair of a colour family and dislike blurry pictures, judged by
EvalNet and a sharpness measure on the actual pixels), then one nightly run of the real
code (bot/schedule: store snapshot, curation, gate; engine: curated set, fine-tune,
evaluation, promotion) runs against a real engine over HTTP. The taste rate (share of
prior samples whose hair EvalNet sees as the liked colours) is measured on the champion
before and after each round.

Prints each round's taste rate, votes and the nightly run's verdict as it goes; writes ``--out``
(markdown with a per-round table) and a PNG plot beside it. Everything
runs on CPU; outputs other than the report go under ``--work``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import socket
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.core.engine_client import EngineClient
from bot.schedule.config import ScheduleConfig
from bot.schedule.nightly import NightlyRun
from bot.store import Store


@dataclass(frozen=True)
class Taste:
    attribute: str = "hair"
    liked: tuple[str, ...] = ("blue", "purple")
    like_weight: float = 2.5  # logit added when the trait is visible
    base: float = -1.0  # logit otherwise: most mascots are mildly disliked
    blur_weight: float = (
        2.0  # logit removed for a blurry picture (sharpness below the base set's 20th percentile)
    )


class Judge:
    """What the simulated users see: EvalNet's reading of the pixels, and their sharpness."""

    def __init__(self, data: str, taste: Taste) -> None:
        from engine.curate.preference import sharpness
        from engine.data.dataset import Dataset
        from engine.evalnet import get_evalnet

        ds = Dataset(data)
        self.net, self.taste, self.sharpness = get_evalnet(ds, progress=False), taste, sharpness
        self.attr_i = ds.schema.names.index(taste.attribute)
        values = ds.schema.attribute(taste.attribute).values
        self.liked_idx = [values.index(v) for v in taste.liked]
        real = np.asarray(
            ds.images[np.random.default_rng(0).choice(len(ds), min(500, len(ds)), replace=False)]
        )
        self.blur_threshold = float(np.quantile(sharpness(real)[:, 0], 0.2))

    def has_trait(self, images: np.ndarray) -> np.ndarray:
        return np.isin(self.net.predict(images)[:, self.attr_i], self.liked_idx)

    def like_probability(self, images: np.ndarray) -> np.ndarray:
        t = self.taste
        logit = np.where(self.has_trait(images), t.base + t.like_weight, t.base)
        logit = logit - t.blur_weight * (self.sharpness(images)[:, 0] < self.blur_threshold)
        return 1 / (1 + np.exp(-logit))

    def taste_rate(self, checkpoint: str, n: int, seed: int = 500_000) -> float:
        from engine.checkpoint import load_checkpoint
        from engine.curate.compare import prior_samples

        return float(self.has_trait(prior_samples(load_checkpoint(checkpoint), n, seed)).mean())

    def prior_share(self, checkpoint: str) -> float:
        """How often the model's prior asks for a liked value (the fine-tune moves it, see loop.py)."""
        from engine.checkpoint import read_meta
        from engine.schema import Schema

        prior = Schema.from_json(read_meta(checkpoint)["schema"]).attributes[self.attr_i].prior
        return float(sum(prior[i] for i in self.liked_idx))


def decode(png: bytes) -> np.ndarray:
    import io

    from PIL import Image

    with Image.open(io.BytesIO(png)) as img:
        return np.asarray(img.convert("RGB"))


async def vote_round(
    engine: EngineClient,
    store: Store,
    judge: Judge,
    n: int,
    voters: int,
    rng: np.random.Generator,
    round_no: int,
) -> dict:
    """Users ask for ``n`` mascots (prior attributes) and vote on each by their taste."""
    made, liked_votes, total_votes = [], 0, 0
    for start in range(0, n, 8):
        seed = int(rng.integers(0, 2**31 - 8))
        gen = await engine.generate({}, seed=seed, count=min(8, n - start))
        for img in gen.images:
            g = store.add_generation(
                engine_id=img.engine_id,
                model=gen.model,
                version=gen.version,
                seed=img.seed,
                attributes=img.attributes,
                requested={},
                truncation=img.truncation,
                requester=f"sim{round_no}",
                platform="web",
                image=img.data,
            )
            made.append((g.id, decode(img.data)))
    probs = judge.like_probability(np.stack([m[1] for m in made]))
    for (gid, _), p in zip(made, probs):
        for u in range(voters):
            value = 1 if rng.random() < p else -1
            store.vote(gid, f"voter{u}", value)
            liked_votes += value == 1
            total_votes += 1
    return {"generations": len(made), "votes": total_votes, "up_share": liked_votes / max(total_votes, 1)}


async def start_engine(checkpoint: Path, jobs: Path):
    from aiohttp import web

    from engine.serve.app import EngineService, ServeConfig

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    service = EngineService(ServeConfig(models=(("default", str(checkpoint)),), jobs_dir=str(jobs)))
    runner = web.AppRunner(service.app())
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, f"http://127.0.0.1:{port}"


async def simulate(args: argparse.Namespace) -> list[dict]:
    work = Path(args.work)
    live = work / "checkpoints" / "default"
    if live.exists() or live.is_symlink():
        shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(args.base, live)
    taste = Taste(attribute=args.taste_attribute, liked=tuple(args.liked.split(",")))
    print(f"training/loading EvalNet for {args.data} ...", flush=True)
    judge = Judge(args.data, taste)
    data = Path(args.data).resolve()
    runner, url = await start_engine(live, work / "jobs")
    engine, store = EngineClient(url, timeout_s=600), Store(work / "sim.db")
    cfg = replace(
        ScheduleConfig(),
        data=str(data),
        min_voters=args.voters,
        min_curated=4,
        kimg=args.kimg,
        batch=args.batch,
        eval_samples=args.eval_samples,
        eval_feature_size=args.feature_size,
        eval_per_value=args.per_value,
        poll_s=2.0,
        timeout_s=args.timeout,
        max_kid_worsening=args.kid_margin,
    )
    rng = np.random.default_rng(args.seed)
    rows = []
    try:
        for r in range(1, args.rounds + 1):
            t0 = time.time()
            before = judge.taste_rate(str(live), args.taste_samples)
            prior_before = judge.prior_share(str(live))
            votes = await vote_round(engine, store, judge, args.votes, args.voters, rng, r)
            print(f"round {r}: taste rate {before:.3f}; {votes}", flush=True)
            outcome = await NightlyRun(engine, store, cfg).run(f"sim-round-{r}")
            run = store.curation_runs(1)[0]
            d = run["details"]
            ev = d.get("evaluation") or {}
            challenger_rate = None
            if d.get("job") and d.get("job_state") == "succeeded":
                job = json.loads((work / "jobs" / d["job"] / "job.json").read_text())
                challenger_rate = judge.taste_rate(job["result"]["checkpoint"], args.taste_samples)
            rows.append(
                {
                    "round": r,
                    "taste_before": before,
                    "taste_challenger": challenger_rate,
                    **votes,
                    "prior_before": prior_before,
                    "curated": len((d.get("curation") or {}).get("chosen", [])),
                    "negatives": len((d.get("curation") or {}).get("negatives", [])),
                    "kid_champion": (ev.get("champion") or {}).get("kid"),
                    "kid_challenger": (ev.get("challenger") or {}).get("kid"),
                    "ap_champion": (ev.get("champion") or {}).get("attr_precision"),
                    "ap_challenger": (ev.get("challenger") or {}).get("attr_precision"),
                    "preference": ev.get("preference"),
                    "status": outcome.status,
                    "why": outcome.message,
                    "seconds": round(time.time() - t0, 1),
                }
            )
            print(f"round {r}: {outcome.status}: {outcome.message}", flush=True)
            (work / "rounds.json").write_text(json.dumps(rows, indent=1, default=str))
        rows.append(
            {
                "round": "final",
                "taste_before": judge.taste_rate(str(live), args.taste_samples),
                "prior_before": judge.prior_share(str(live)),
            }
        )
    finally:
        await engine.close()
        store.close()
        await runner.cleanup()
    (work / "rounds.json").write_text(json.dumps(rows, indent=1, default=str))
    return rows


def _f(x, fmt="{:.3f}"):
    return "–" if x is None else fmt.format(x)


def write_report(rows: list[dict], args: argparse.Namespace, out: Path) -> None:
    final = rows[-1]["taste_before"]
    start = rows[0]["taste_before"]
    lines = [
        "# Feedback simulation: does the nightly loop learn a hidden taste?",
        "",
        f"Command: `python bench/feedback_sim.py {' '.join(sys.argv[1:])}`",
        "",
        (
            f"Base model `{args.base}`, base data `{args.data}`; simulated users like "
            f"{args.taste_attribute} in "
            f"{{{args.liked}}} (as EvalNet reads the pixels) and dislike blurry pictures. "
            f"{args.votes} generations a round, {args.voters} voters each, fine-tune {args.kimg} kimg, "
            f"evaluation on {args.eval_samples} samples at {args.feature_size}px features. CPU only. "
            "KID and attribute precision are measured with unset attributes drawn from the "
            "base data's prior; "
            "the taste rate and the preference scores with the serving model's own prior, as users see it."
        ),
        "",
        (
            "| round | taste rate (champion) | liked prior share | taste rate (challenger) | up share | "
            "curated / negatives | KID x1000 champion -> challenger | "
            "attr. precision champion -> challenger | "
            "preference champion -> challenger [gain 95% interval] | outcome |"
        ),
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows[:-1]:
        pref = r.get("preference") or {}
        lines.append(
            f"| {r['round']} | {_f(r['taste_before'])} | {_f(r['prior_before'])} | "
            f"{_f(r['taste_challenger'])} | "
            f"{_f(r['up_share'])} | "
            f"{r['curated']} / {r['negatives']} | "
            f"{_f(r['kid_champion'] and r['kid_champion'] * 1000, '{:.2f}')} -> "
            f"{_f(r['kid_challenger'] and r['kid_challenger'] * 1000, '{:.2f}')} | {_f(r['ap_champion'])} -> "
            f"{_f(r['ap_challenger'])} | {_f(pref.get('champion'))} -> {_f(pref.get('challenger'))} "
            f"[{_f(pref.get('gain_low'))}, {_f(pref.get('gain_high'))}] (held-out acc "
            f"{_f(pref.get('held_out_accuracy'), '{:.2f}')}) | **{r['status']}** ({r['seconds']} s) |"
        )
    change = (
        f"Taste rate of the serving model: {start:.3f} before round 1, {final:.3f} after the last round "
        f"({(final - start) * 100:+.1f} points)."
    )
    lines += ["", change, "", "Why each round ended as it did:", ""]
    lines += [f"- round {r['round']}: {r['why']}" for r in rows[:-1]]
    lines += ["", f"![taste rate per round]({out.with_suffix('.png').name})", ""]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines))
    plot(rows, out.with_suffix(".png"))


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rounds = list(rows[:-1])
    xs = list(range(len(rows)))
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.4))
    a.plot(xs, [r["taste_before"] for r in rows], "o-", label="serving model")
    a.plot(
        [i + 1 for i in range(len(rounds))], [r["taste_challenger"] for r in rounds], "x", label="challenger"
    )
    a.set_xlabel("after round"), a.set_ylabel("taste rate"), a.legend(), a.set_title("liked trait in samples")
    kid = [(r["kid_champion"] or np.nan) * 1000 for r in rounds]
    kid_c = [(r["kid_challenger"] or np.nan) * 1000 for r in rounds]
    b.plot(range(1, len(rounds) + 1), kid, "o-", label="champion")
    b.plot(range(1, len(rounds) + 1), kid_c, "x", label="challenger")
    b.set_xlabel("round"), b.set_ylabel("KID x1000 vs base data"), b.legend(), b.set_title("fidelity")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--base", default="checkpoints/default", help="base checkpoint folder")
    p.add_argument("--data", default="data/dicebear-2k-64")
    p.add_argument("--work", default="runs/feedback-sim")
    p.add_argument("--out", default="docs/feedback-sim.md")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--votes", type=int, default=200, help="generations per round")
    p.add_argument("--voters", type=int, default=5, help="simulated users voting on each generation")
    p.add_argument("--taste-attribute", default="hair", help="the attribute the users' taste is about")
    p.add_argument("--liked", default="blue,purple", help="values of it the users like (comma-separated)")
    p.add_argument("--kimg", type=float, default=10.0)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--eval-samples", type=int, default=500)
    p.add_argument("--feature-size", type=int, default=224)
    p.add_argument("--per-value", type=int, default=16)
    p.add_argument("--taste-samples", type=int, default=400)
    p.add_argument("--kid-margin", type=float, default=0.10)
    p.add_argument("--timeout", type=int, default=3 * 3600)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    if not (Path(args.base) / "model.json").is_file():
        print(f"feedback_sim: no checkpoint at {args.base}; train one or pass --base", file=sys.stderr)
        return 2
    rows = asyncio.run(simulate(args))
    write_report(rows, args, Path(args.out))
    print(f"wrote {args.out} and {Path(args.out).with_suffix('.png')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
