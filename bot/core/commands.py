"""The bot's commands, platform-independent: Discord and the web chat both call these.

Each command is a small method taking a Caller and typed arguments and returning a
Reply. ``admit`` is split from ``mascot`` because Discord must answer a refusal
ephemerally *before* deferring, while the image itself is made after the defer.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bot.core.engine import Catalog, EngineClient, EngineError, Generated, ModelInfo
from bot.core.limits import RateLimiter
from bot.core.maintenance import Maintenance, NotConfigured
from bot.core.reply import Attachment, Caller, Reply, oops
from bot.store import Generation, Ranked, Store

log = logging.getLogger("mascot.bot")
MAX_COUNT = 4
MAX_SEED = 2**31 - 1
PERIODS = ("day", "week", "all")
UP, DOWN = "👍", "👎"
IMAGE_SIZE = 512  # [bot] image_size: the side of the pictures the chats post, when the engine can make it


@dataclass(frozen=True)
class Admitted:
    """A request that passed the checks: the model it runs on and its canonical attributes."""

    model: ModelInfo
    attributes: dict[str, str]


class Commands:
    def __init__(self, engine: EngineClient, store: Store, catalog: Catalog, limiter: RateLimiter,
                 maintenance: Maintenance | None = None, *,
                 image_size: int = IMAGE_SIZE) -> None:  # fmt: skip
        self.engine, self.store, self.catalog, self.limiter = engine, store, catalog, limiter
        self.maintenance = maintenance or NotConfigured()
        self.image_size = image_size

    async def refresh(self) -> Catalog:
        """Re-read GET /v1/models (after a reload the version changes; the schema may too)."""
        self.catalog = await self.engine.models()
        return self.catalog

    # --- checks -----------------------------------------------------------------------
    def admit(self, caller: Caller, attributes: dict[str, str], model: str | None = None,
              *, count: int = 1, seed: int | None = None) -> Admitted | Reply:  # fmt: skip
        """Channel, model, attribute values, count, seed and rate limit; a Reply means refused."""
        allowed, guild_model = self._guild(caller)
        if allowed and caller.channel not in allowed and not caller.admin:
            return oops("Mascots are made in " + ", ".join(f"<#{c}>" for c in allowed) + " on this server.")
        info = self.catalog.get(model or guild_model)
        if info is None:
            return oops(f"'{model or guild_model}' is not a model here; available: {', '.join(self.catalog.names)}.")
        canonical = {}
        for name, value in attributes.items():
            spec = info.attribute(name)
            if spec is None:
                known = ", ".join(a.name for a in info.attributes)
                return oops(f"'{name}' is not an attribute of {info.name}; known attributes: {known}.")
            value = str(value).strip().lower()
            if problem := spec.check(value):
                return oops(problem[:1].upper() + problem[1:])
            canonical[name] = value
        if not 1 <= count <= MAX_COUNT:
            return oops(f"count must be from 1 to {MAX_COUNT}.")
        if seed is not None and not 0 <= seed <= MAX_SEED:
            return oops(f"seed must be from 0 to {MAX_SEED}.")
        if wait := self.limiter.acquire(f"{caller.platform}:{caller.user}"):
            return oops(f"Easy there! You can make another mascot in {wait:.0f} s.")
        return Admitted(info, canonical)

    def _guild(self, caller: Caller) -> tuple[list[str], str | None]:
        if caller.guild is None:  # DMs: no server rules apply
            return [], None
        return self.store.guild_settings(caller.guild)

    # --- image commands ----------------------------------------------------------------
    async def mascot(self, caller: Caller, attributes: dict[str, str], *, seed: int | None = None, count: int = 1,
                     model: str | None = None, admitted: Admitted | None = None) -> Reply:  # fmt: skip
        ok = admitted or self.admit(caller, attributes, model, count=count, seed=seed)
        if isinstance(ok, Reply):
            return ok
        return await self._generate(caller, ok.model, ok.attributes, ok.attributes, seed=seed, count=count)

    async def remix(self, caller: Caller, generation: str, attributes: dict[str, str]) -> Reply:
        """Same seed and model, some attributes changed."""
        base = self.store.generation(generation)
        if base is None:
            return oops("I can't find that mascot any more.")
        ok = self.admit(caller, attributes, base.model)
        if isinstance(ok, Reply):
            return ok
        wanted = {**base.attributes, **ok.attributes}
        return await self._generate(caller, ok.model, wanted, {**base.requested, **ok.attributes},
                                    seed=base.seed, truncation=base.truncation)  # fmt: skip

    async def reroll(self, caller: Caller, generation: str) -> Reply:
        """What the user asked for, with a fresh seed."""
        base = self.store.generation(generation)
        if base is None:
            return oops("I can't find that mascot any more.")
        ok = self.admit(caller, base.requested, base.model)
        if isinstance(ok, Reply):
            return ok
        return await self._generate(caller, ok.model, ok.attributes, ok.attributes)

    async def _generate(self, caller: Caller, info: ModelInfo, attributes: dict[str, str],
                        requested: dict[str, str], *, seed: int | None = None, count: int = 1,
                        truncation: float | None = None) -> Reply:  # fmt: skip
        model = info.name
        try:
            made = await self._made(info, attributes, seed=seed, count=count, truncation=truncation)
        except EngineError as exc:
            return oops(str(exc))
        files = []
        for image in made.images:
            row = self.store.add_generation(
                engine_id=image.engine_id, model=model, version=made.version, seed=image.seed,
                attributes=image.attributes, requested=requested, truncation=image.truncation,
                requester=caller.user, platform=caller.platform, guild=caller.guild, channel=caller.channel,
                image=image.data, image_format=image.format,
            )  # fmt: skip
            files.append(Attachment(f"mascot-{image.seed}.{image.format}", image.data, row.id))
        first = made.images[0]
        seeds = ", ".join(str(i.seed) for i in made.images)
        text = f"{describe(first.attributes)} · seed {seeds} · {model} {made.version}"
        return Reply(text, tuple(files))

    async def _made(self, info: ModelInfo, attributes: dict[str, str], **kwargs) -> Generated:
        """POST /v1/generate at the size the model offers that fits ``image_size`` best."""
        try:
            size = pick_size(info, self.image_size)
            return await self.engine.generate(attributes, model=info.name, size=size, **kwargs)
        except EngineError as exc:
            if exc.code != "invalid_size":
                raise
        # The catalog is read at start-up: an engine restarted without its upscale stage (or with a
        # model at another resolution) no longer serves the size picked from it. Re-read it once and
        # ask again; this costs the extra call only when the engine refused a size.
        fresh = (await self.refresh()).get(info.name)
        size = pick_size(fresh, self.image_size) if fresh else None
        return await self.engine.generate(attributes, model=info.name, size=size, **kwargs)

    async def morph(self, caller: Caller, seed_a: int, seed_b: int, attributes: dict[str, str] | None = None,
                    *, model: str | None = None, frames: int = 16) -> Reply:  # fmt: skip
        if not 2 <= frames <= 64:
            return oops("frames must be from 2 to 64.")
        ok = self.admit(caller, attributes or {}, model, seed=max(seed_a, seed_b))
        if isinstance(ok, Reply):
            return ok
        end = {"attributes": ok.attributes} if ok.attributes else {}
        # No size: a morph stays at the model's own resolution. Up to 64 frames upscaled to 512 px
        # would make a GIF of many megabytes (too big for a chat upload) and cost 64 upscale passes.
        try:
            gif = await self.engine.interpolate({"seed": seed_a, **end}, {"seed": seed_b, **end},
                                                frames=frames, model=ok.model.name)  # fmt: skip
        except EngineError as exc:
            return oops(str(exc))
        return Reply(f"Morphing seed {seed_a} into seed {seed_b}", (Attachment(f"morph-{seed_a}-{seed_b}.gif", gif),))

    # --- votes and leaderboards -----------------------------------------------------------
    def vote(self, user: str, generation: str, value: int) -> bool:
        """Record a vote; False when the generation is unknown (not one of ours)."""
        if self.store.generation(generation) is None:
            return False
        self.store.vote(generation, user, value)
        return True

    def top(self, caller: Caller, period: str = "week", limit: int = 10) -> Reply:
        if period not in PERIODS:
            return oops(f"period must be one of {', '.join(PERIODS)}.")
        ranked = self.store.top(period, limit, guild=caller.guild)
        title = {"day": "today", "week": "this week", "all": "of all time"}[period]
        if not ranked:
            return Reply(f"No votes yet {title}. Make a /mascot and vote {UP} or {DOWN}!")
        lines = [f"**Top mascots {title}**"]
        lines += [f"{i}. {_line(r)}" for i, r in enumerate(ranked, 1)]
        return Reply("\n".join(lines))

    def mystats(self, caller: Caller) -> Reply:
        s = self.store.user_stats(caller.user)
        lines = [f"You made {s.generations} mascot(s) and cast {s.votes_cast} vote(s).",
                 f"Your mascots got {s.up_received} {UP} and {s.down_received} {DOWN}."]  # fmt: skip
        if s.best:
            lines.append(f"Your best: {_line(s.best)}")
        return Reply("\n".join(lines), ephemeral=True)

    # --- admin ------------------------------------------------------------------------
    async def retrain(self, caller: Caller) -> Reply:
        if not caller.admin:
            return oops("Only bot admins can retrain.")
        return Reply(await self.maintenance.retrain_now(), ephemeral=True)

    async def rollback(self, caller: Caller, model: str | None = None) -> Reply:
        if not caller.admin:
            return oops("Only bot admins can roll back.")
        return Reply(await self.maintenance.rollback(model or self.catalog.default), ephemeral=True)

    async def status(self, caller: Caller) -> Reply:
        if not caller.admin:
            return oops("Only bot admins can see the status.")
        try:
            catalog = await self.refresh()
            lines = [f"Engine: {len(catalog.models)} model(s), default '{catalog.default}'"]
            for m in catalog.models:
                metrics = ", ".join(f"{k} {v:.3g}" if isinstance(v, (int, float)) else f"{k} {v}"
                                    for k, v in list(m.metrics.items())[:4])  # fmt: skip
                upscaled = f", up to {max(m.sizes)}px" if max(m.sizes) > m.resolution else ""
                lines.append(f"- {m.name}: {m.version} ({m.family}, {m.resolution}px{upscaled})"
                             f"{' · ' + metrics if metrics else ''}")  # fmt: skip
        except EngineError as exc:
            lines = [f"Engine: {exc}"]
        runs = self.store.curation_runs(1)
        if runs:
            r = runs[0]
            lines.append(f"Last curation run #{r['id']}: {r['status']} ({r['candidates']} candidates, started {r['started'][:16]})")
        lines.append(await self.maintenance.describe())
        return Reply("\n".join(lines), ephemeral=True)

    def configure(self, caller: Caller, *, default_model: str | None = None, allow_channel: str | None = None,
                  remove_channel: str | None = None) -> Reply:  # fmt: skip
        if not caller.admin:
            return oops("Only bot admins and server managers can change the settings.")
        if caller.guild is None:
            return oops("Server settings only make sense in a server.")
        channels, model = self.store.guild_settings(caller.guild)
        if default_model is not None:
            if self.catalog.get(default_model) is None:
                return oops(f"'{default_model}' is not a model here; available: {', '.join(self.catalog.names)}.")
            model = default_model
        channels = [c for c in channels if c != remove_channel] + ([allow_channel] if allow_channel else [])
        self.store.set_guild_settings(caller.guild, channels, model)
        where = ", ".join(f"<#{c}>" for c in sorted(set(channels))) or "every channel"
        return Reply(f"Mascots allowed in {where}; default model: {model or self.catalog.default}.", ephemeral=True)


def pick_size(model: ModelInfo, image_size: int) -> int | None:
    """The largest of ``model``'s sizes that is at most ``image_size``: 512 when the engine has its
    upscale stage, the generator's own resolution when it has not (128: still a picture, just a smaller
    one). None, so that the engine serves its default, when every offered size is larger."""
    fitting = [s for s in model.sizes if 0 < s <= image_size]
    return max(fitting) if fitting else None


def describe(attributes: dict[str, str]) -> str:
    return " ".join(f"{k}:{v}" for k, v in attributes.items())


def link(g: Generation) -> str:
    if g.platform != "discord" or not g.message or not g.channel:
        return ""
    return f" https://discord.com/channels/{g.guild or '@me'}/{g.channel}/{g.message}"


def _line(r: Ranked) -> str:
    g = r.generation
    who = f"<@{g.requester}>" if g.platform == "discord" else g.requester
    return f"{r.score:+d} ({UP}{r.up} {DOWN}{r.down}) {describe(g.attributes)} seed {g.seed} by {who}{link(g)}"
