"""The bot's commands, platform-independent: Discord and the web chat both call these.

Each command is a small method taking a Caller and typed arguments and returning a
Reply. ``admit`` is split from ``mascot`` because Discord must answer a refusal
ephemerally *before* deferring, while the image itself is made after the defer.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from bot.core.community import Communities, CommunityClient, community_of, server_of, visible
from bot.core.engine_client import Catalog, EngineClient, EngineError, Generated, ModelInfo, Progress
from bot.core.limits import RateLimiter
from bot.core.maintenance import Maintenance, NotConfigured
from bot.core.reply import Attachment, Caller, Reply, oops
from bot.core.richtext import ChannelRef, Heading, Part, PostRef, UserRef, joined
from bot.store import Generation, Ranked, Store
from bot.store.store import MAX_FAVOURITES

log = logging.getLogger("mascot.bot")
MAX_SEED = 2**31 - 1
PERIODS = ("day", "week", "all")
UP, DOWN = "👍", "👎"
IMAGE_SIZE = 512  # [bot] image_size: the side of the pictures the chats post, when the engine can make it
GRID = 4  # candidates a /mascot without seed or count answers with: pick one, vary one, or re-roll
GRID_SIZE = 256  # side of each candidate (the picked one is drawn again at image_size)
VARIATION_STRENGTH = 0.4  # how far V1-V4 move from the parent: apart from each other, still like it
PARENTS = ("a", "b")
MAX_PICTURE_BYTES = 8 * 2**20  # what the engine's /v1/invert accepts


@dataclass(frozen=True)
class Admitted:
    """A request that passed the checks: the model it runs on and its canonical attributes."""

    model: ModelInfo
    attributes: dict[str, str]


class Commands:
    def __init__(
        self,
        engine: EngineClient,
        store: Store,
        catalog: Catalog,
        limiter: RateLimiter,
        maintenance: Maintenance | None = None,
        *,
        image_size: int = IMAGE_SIZE,
    ) -> None:
        self.engine, self.store, self.catalog, self.limiter = engine, store, catalog, limiter
        self.maintenance = maintenance or NotConfigured()
        self.image_size = image_size
        self.communities = Communities(CommunityClient(engine), store)
        self.communities.on_served = self.refresh  # a server's new model: the catalog learns it
        self._asked: dict[str, float] = {}  # server -> when the catalog was last read for its model

    def models_for(self, caller: Caller) -> tuple[str, ...]:
        """The models ``caller`` may use: the shared ones, and their own server's."""
        shared = self.store.shared_community_models()
        return tuple(n for n in self.catalog.names if visible(n, caller, shared))

    async def ensure_models(self, caller: Caller) -> None:
        """Before admitting: a server model that trained after the catalog was read (or while the
        engine was still loading it at start) is looked up again, once."""
        server = server_of(caller)
        if server is None or self.store.community_model(server) is None:
            return
        now = time.monotonic()
        if self.catalog.get(community_of(server)) is None and now - self._asked.get(server, -1e9) > 30:
            self._asked[server] = now  # a model still training is asked about twice a minute at most
            # Unreachable: admit then says the model is not here, as it would have.
            with contextlib.suppress(EngineError):
                await self.refresh()

    async def refresh(self) -> Catalog:
        """Re-read GET /v1/models (after a reload the version changes; the schema may too)."""
        self.catalog = await self.engine.models()
        return self.catalog

    # --- checks -----------------------------------------------------------------------
    def admit(
        self,
        caller: Caller,
        attributes: dict[str, str],
        model: str | None = None,
        *,
        count: int = 1,
        seed: int | None = None,
    ) -> Admitted | Reply:
        """Channel, model, attribute values, count, seed and rate limit; a Reply means refused."""
        allowed, guild_model = self._guild(caller)
        if allowed and caller.channel not in allowed and not caller.admin:
            return Reply.of(["Mascots are made in ", *_channels(allowed), " on this server."], ephemeral=True)
        name = model or guild_model or self.catalog.default
        info = self.catalog.get(name) if visible(name, caller, self.store.shared_community_models()) else None
        if info is None:
            return oops(f"'{name}' is not a model here; available: {', '.join(self.models_for(caller))}.")
        canonical = {}
        for name, value in attributes.items():
            spec = info.attribute(name)
            if spec is None:
                known = ", ".join(a.name for a in info.attributes)
                return oops(f"'{name}' is not an attribute of {info.name}; known attributes: {known}.")
            text = str(value).strip().lower()
            if problem := spec.check(text):
                return oops(problem[:1].upper() + problem[1:])
            canonical[name] = text
        if not 1 <= count <= self.catalog.max_count:
            return oops(f"count must be from 1 to {self.catalog.max_count}.")
        if seed is not None and not 0 <= seed <= MAX_SEED:
            return oops(f"seed must be from 0 to {MAX_SEED}.")
        if wait := self.limiter.acquire(caller.platform, caller.user):
            return oops(self.limiter.refusal(caller.platform, wait))
        return Admitted(info, canonical)

    def _guild(self, caller: Caller) -> tuple[list[str], str | None]:
        server = server_of(caller)  # the web chat is one server; its own model is its default
        if server is None:  # DMs: no server rules apply
            return [], None
        return self.store.guild_settings(server)

    # --- image commands ----------------------------------------------------------------
    async def mascot(
        self,
        caller: Caller,
        attributes: dict[str, str],
        *,
        seed: int | None = None,
        count: int = 1,
        model: str | None = None,
        admitted: Admitted | None = None,
        grid: bool = False,
    ) -> Reply:
        """``grid``: GRID candidates at GRID_SIZE to pick from (/mascot without seed or count)."""
        count = GRID if grid else count
        if admitted is None:
            await self.ensure_models(caller)
        ok = admitted or self.admit(caller, attributes, model, count=count, seed=seed)
        if isinstance(ok, Reply):
            return ok
        return await self._generate(
            caller, ok.model, ok.attributes, ok.attributes, seed=seed, count=count, grid=grid
        )

    async def remix(self, caller: Caller, generation: str, attributes: dict[str, str]) -> Reply:
        """Same seed and model, some attributes changed."""
        base = self.store.generation(generation)
        if base is None:
            return oops("I can't find that mascot any more.")
        ok = self.admit(caller, attributes, base.model)
        if isinstance(ok, Reply):
            return ok
        wanted = {**base.attributes, **ok.attributes}
        return await self._generate(
            caller,
            ok.model,
            wanted,
            {**base.requested, **ok.attributes},
            seed=base.seed,
            truncation=base.truncation,
        )

    async def reroll(self, caller: Caller, generation: str, *, grid: bool = False) -> Reply:
        """What the user asked for, with a fresh seed (``grid``: GRID fresh candidates)."""
        base = self.store.generation(generation)
        if base is None:
            return oops("I can't find that mascot any more.")
        ok = self.admit(caller, base.requested, base.model)
        if isinstance(ok, Reply):
            return ok
        return await self._generate(
            caller, ok.model, ok.attributes, ok.attributes, count=GRID if grid else 1, grid=grid
        )

    async def _generate(
        self,
        caller: Caller,
        info: ModelInfo,
        attributes: dict[str, str],
        requested: dict[str, str],
        *,
        seed: int | None = None,
        count: int = 1,
        truncation: float | None = None,
        grid: bool = False,
    ) -> Reply:
        call = lambda size: self.engine.generate(
            attributes,
            model=info.name,
            size=size,
            seed=seed,
            count=count,
            truncation=truncation,
        )
        return await self._post(caller, info, call, requested, grid=grid)

    async def _post(
        self,
        caller: Caller,
        info: ModelInfo,
        call: Callable[[int | None], Awaitable[Generated]],
        requested: dict[str, str],
        *,
        grid: bool = False,
        title: str = "",
    ) -> Reply:
        """Make the images, store each as a generation (votes, stars and buttons find it), and answer."""
        try:
            made = await self._sized(info, call, GRID_SIZE if grid else self.image_size)
        except EngineError as exc:
            return oops(str(exc))
        files = []
        for image in made.images:
            row = self.store.add_generation(
                engine_id=image.engine_id,
                model=info.name,
                version=made.version,
                seed=image.seed,
                attributes=image.attributes,
                requested=requested,
                truncation=image.truncation,
                requester=caller.user,
                platform=caller.platform,
                guild=caller.guild,
                channel=caller.channel,
                image=image.data,
                image_format=image.format,
                latent=_derived(image.latent),
                size=image.size,
            )
            files.append(Attachment(f"mascot-{image.seed}.{image.format}", image.data, row.id))
        first = made.images[0]
        text = f"{title}{describe(first.attributes)} · seed {first.seed} · {info.name} {made.version}"
        if len(files) > 1:  # each seed draws its own open attributes: one caption per picture
            text = f"{title}{len(files)} mascots · {info.name} {made.version}" + "".join(
                f"\n{i}. {describe(image.attributes)} · seed {image.seed} · {file.generation}"
                for i, (image, file) in enumerate(zip(made.images, files), 1)
            )
        if grid:  # the candidates differ in what was left open: name what was asked, not the first one's draw
            text = (
                f"{title}{describe(requested) or 'any look'} · {len(files)} candidates"
                f" · {info.name} {made.version}"
                f"\nPick one (1-{len(files)}), ask for variations of one (V1-V{len(files)}), or re-roll."
            )
        return Reply(text, tuple(files), kind="grid" if grid else "post")

    async def _sized(
        self, info: ModelInfo, call: Callable[[int | None], Awaitable[Generated]], wanted: int
    ) -> Generated:
        """``call`` at the size the model offers that fits ``wanted`` best."""
        try:
            return await call(pick_size(info, wanted))
        except EngineError as exc:
            if exc.code != "invalid_size":
                raise
        # The catalog is read at start-up: an engine restarted without its upscale stage (or with a
        # model at another resolution) no longer serves the size picked from it. Re-read it once and
        # ask again; this costs the extra call only when the engine refused a size.
        fresh = (await self.refresh()).get(info.name)
        return await call(pick_size(fresh, wanted) if fresh else None)

    # --- the creative loop: pick, variations, fuse ---------------------------------------
    def _base(self, generation: str) -> tuple[Generation, ModelInfo] | Reply:
        base = self.store.generation(str(generation).strip())
        if base is None:
            return oops(f"I can't find mascot '{generation}' any more (the id is the code under an image).")
        info = self.catalog.get(base.model)
        if info is None:
            return oops(f"Mascot {base.id} was made by model '{base.model}', which is not served any more.")
        return base, info

    def _pair(self, a: str, b: str) -> tuple[Generation, Generation, ModelInfo] | Reply:
        """Two stored mascots of one model (fuse and morph need both ends in the same latent space)."""
        parents = [self._base(g) for g in (a, b)]
        if bad := next((p for p in parents if isinstance(p, Reply)), None):
            return bad
        (ga, info), (gb, _) = parents
        if ga.model != gb.model:
            return oops(
                f"Both mascots must come from one model ({ga.id} is {ga.model}, {gb.id} is {gb.model})."
            )
        return ga, gb, info

    async def pick(self, caller: Caller, generation: str) -> Reply:
        """One candidate alone, drawn again at full size, to vote on and keep. The pick *is* the
        candidate: it keeps its id, and its stored picture becomes the full-size one."""
        found = self._base(generation)
        if isinstance(found, Reply):
            return found
        base, info = found
        call = lambda size: self.engine.render(identity(base), model=info.name, size=size)
        try:
            made = await self._sized(info, call, self.image_size)
        except EngineError as exc:
            return oops(str(exc))
        image = made.images[0]
        self.store.redraw(
            base.id, engine_id=image.engine_id, size=image.size, image=image.data, image_format=image.format
        )
        at = f" at {image.size} px" if image.size else ""
        text = (
            f"Picked {base.id}{at}: {describe(image.attributes)} · seed {image.seed}"
            f" · {info.name} {made.version}"
        )
        return Reply(
            text, (Attachment(f"mascot-{image.seed}.{image.format}", image.data, base.id),), kind="post"
        )

    async def variations(
        self, caller: Caller, generation: str, *, strength: float = VARIATION_STRENGTH
    ) -> Reply:
        """GRID candidates around one mascot: same attributes, the latent moved by ``strength``."""
        found = self._base(generation)
        if isinstance(found, Reply):
            return found
        base, info = found
        if not 0 < strength <= 1:
            return oops("strength must be above 0 and at most 1.")
        ok = self.admit(caller, {}, base.model, count=GRID)
        if isinstance(ok, Reply):
            return ok
        call = lambda size: self.engine.variations(
            identity(base),
            count=GRID,
            strength=strength,
            model=info.name,
            size=size,
        )
        return await self._post(
            caller, info, call, base.requested, grid=True, title=f"Variations of {base.id}: "
        )

    async def fuse(self, caller: Caller, a: str, b: str, chosen: dict[str, str] | None = None) -> Reply:
        """One child of two mascots: its latent mixed from both, each attribute from one parent."""
        found = self._pair(a, b)
        if isinstance(found, Reply):
            return found
        ga, gb, info = found
        chosen = {k: str(v).lower() for k, v in (chosen or {}).items()}
        for name, side in chosen.items():
            if info.attribute(name) is None:
                return oops(
                    f"'{name}' is not an attribute of {info.name}; "
                    f"known: {', '.join(x.name for x in info.attributes)}."
                )
            if side not in PARENTS:
                return oops(f"{name}:{side} - say which parent {name} comes from: {name}:a or {name}:b.")
        ok = self.admit(caller, {}, ga.model)
        if isinstance(ok, Reply):
            return ok
        call = lambda size: self.engine.fuse(
            identity(ga), identity(gb), chosen=chosen, model=info.name, size=size
        )
        reply = await self._post(
            caller, info, call, {**gb.requested, **ga.requested}, title=f"Fusion of {ga.id} and {gb.id}: "
        )
        if reply.files:
            child = self.store.generation(reply.files[0].generation)
            sides = {
                n: ("a" if child.attributes.get(n) == ga.attributes.get(n) else "b") for n in child.attributes
            }
            sources = " ".join(
                f"{n}←{s}" for n, s in sides.items() if ga.attributes.get(n) != gb.attributes.get(n)
            )
            reply = Reply(
                reply.text + (f"\nFrom each parent: {sources}" if sources else ""),
                reply.files,
                kind=reply.kind,
            )
        return reply

    async def mascotify(
        self,
        caller: Caller,
        picture: bytes,
        attributes: dict[str, str] | None = None,
        model: str | None = None,
        style: str | None = None,
        progress: Progress | None = None,
    ) -> Reply:
        """Picture -> mascot: the model's nearest mascot to an uploaded picture (attributes read from it
        unless given), beside GRID - 1 variations of it, as candidates to pick from. ``progress`` is
        awaited with the search's (step, steps) while it runs."""
        if not picture:
            return oops("Attach a picture (PNG, JPEG or WebP) to turn into a mascot.")
        if len(picture) > MAX_PICTURE_BYTES:
            return oops(
                f"That picture is {len(picture) / 2**20:.1f} MiB; "
                f"at most {MAX_PICTURE_BYTES // 2**20} MiB, please."
            )
        ok = self.admit(caller, attributes or {}, model, count=GRID)
        if isinstance(ok, Reply):
            return ok
        call = lambda size: self.engine.invert(
            picture,
            attributes=ok.attributes,
            variations=GRID - 1,
            model=ok.model.name,
            size=size,
            style=style,
            progress=progress,
        )
        return await self._post(
            caller,
            ok.model,
            call,
            ok.attributes,
            grid=True,
            title="Your picture as a mascot (1) and variations of it: ",
        )

    # --- favourites ---------------------------------------------------------------------
    def star(self, caller: Caller, generation: str, on: bool = True) -> Reply:
        """⭐ keeps a mascot in the caller's collection (at most MAX_FAVOURITES); ``on=False`` removes it."""
        if self.store.generation(str(generation).strip()) is None:
            return oops(f"I can't find mascot '{generation}' any more.")
        if not on:
            gone = self.store.remove_favourite(caller.user, generation)
            return Reply(
                "Removed from your collection." if gone else "That mascot was not in your collection.",
                ephemeral=True,
            )
        total = self.store.add_favourite(caller.user, generation)
        if total is None:
            return oops(f"Your collection is full ({MAX_FAVOURITES} mascots); remove one with /unstar first.")
        return Reply(
            f"⭐ Saved to your collection ({total} of {MAX_FAVOURITES}). /collection shows them.",
            ephemeral=True,
        )

    def collection(self, caller: Caller) -> Reply:
        kept = self.store.favourites(caller.user)
        if not kept:
            return Reply("Your collection is empty: press ⭐ under a mascot to keep it.", ephemeral=True)
        return Reply(
            f"Your collection: {len(kept)} mascot(s), newest first.",
            self._thumbs(kept),
            ephemeral=True,
            kind="collection",
        )

    def _thumbs(self, generations: list[Generation]) -> tuple[Attachment, ...]:
        files = []
        for g in generations:
            stored = self.store.image(g.id)
            if stored is not None:
                files.append(Attachment(f"mascot-{g.seed}.{stored[1]}", stored[0], g.id))
        return tuple(files)

    async def morph(
        self,
        caller: Caller,
        seed_a: int,
        seed_b: int,
        attributes: dict[str, str] | None = None,
        *,
        model: str | None = None,
        frames: int = 16,
    ) -> Reply:
        if not 2 <= frames <= 64:
            return oops("frames must be from 2 to 64.")
        ok = self.admit(caller, attributes or {}, model, seed=max(seed_a, seed_b))
        if isinstance(ok, Reply):
            return ok
        end = {"attributes": ok.attributes} if ok.attributes else {}
        # No size: a morph stays at the model's own resolution. Up to 64 frames upscaled to 512 px
        # would make a GIF of many megabytes (too big for a chat upload) and cost 64 upscale passes.
        try:
            gif = await self.engine.interpolate(
                {"seed": seed_a, **end}, {"seed": seed_b, **end}, frames=frames, model=ok.model.name
            )
        except EngineError as exc:
            return oops(str(exc))
        return Reply(
            f"Morphing seed {seed_a} into seed {seed_b}", (Attachment(f"morph-{seed_a}-{seed_b}.gif", gif),)
        )

    async def morph_mascots(self, caller: Caller, a: str, b: str, *, frames: int = 16) -> Reply:
        """A morph between two posted mascots, each end with its own attributes."""
        found = self._pair(a, b)
        if isinstance(found, Reply):
            return found
        ga, gb, info = found
        if not 2 <= frames <= 64:
            return oops("frames must be from 2 to 64.")
        ok = self.admit(caller, {}, ga.model)
        if isinstance(ok, Reply):
            return ok
        # /v1/interpolate draws each end from its seed: a variation or a fusion morphs from the seed
        # it grew from.
        ends = [{"seed": g.seed, "attributes": g.attributes} for g in (ga, gb)]
        try:
            gif = await self.engine.interpolate(*ends, frames=frames, model=info.name)
        except EngineError as exc:
            return oops(str(exc))
        return Reply(f"Morphing {ga.id} into {gb.id}", (Attachment(f"morph-{ga.id}-{gb.id}.gif", gif),))

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
        ranked = self.store.top(period, limit, guild=caller.guild, positive=True)
        title = {"day": "today", "week": "this week", "all": "of all time"}[period]
        if not ranked:
            return Reply(
                f"No votes yet {title} (the list shows mascots with more {UP} than {DOWN}). "
                f"Make a /mascot and vote {UP} or {DOWN}!"
            )
        parts: list[Part] = [Heading(f"Top mascots {title}")]
        for i, r in enumerate(ranked, 1):
            parts += [f"\n{i}. ", *_line(r)]
        return Reply.of(parts, self._thumbs([r.generation for r in ranked]), kind="thumbs")

    def mystats(self, caller: Caller) -> Reply:
        s = self.store.user_stats(caller.user)
        parts: list[Part] = [
            f"You made {s.generations} mascot(s) and cast {s.votes_cast} vote(s).\n"
            f"Your mascots got {s.up_received} {UP} and {s.down_received} {DOWN}."
        ]
        if s.best:
            parts += ["\nYour best: ", *_line(s.best)]
        return Reply.of(parts, ephemeral=True)

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
                metrics = headline(m.metrics)
                upscaled = f", up to {max(m.sizes)}px" if max(m.sizes) > m.resolution else ""
                lines.append(
                    f"- {m.name}: {m.version} ({m.family}, {m.resolution}px{upscaled})"
                    f"{' · ' + metrics if metrics else ''}"
                )
        except EngineError as exc:
            lines = [f"Engine: {exc}"]
        runs = self.store.curation_runs(1)
        if runs:
            r = runs[0]
            lines.append(
                f"Last curation run #{r['id']}: {r['status']} "
                f"({r['candidates']} candidates, started {r['started'][:16]})"
            )
        lines.append(await self.maintenance.describe())
        return Reply("\n".join(lines), ephemeral=True)

    def configure(
        self,
        caller: Caller,
        *,
        default_model: str | None = None,
        allow_channel: str | None = None,
        remove_channel: str | None = None,
        share: bool | None = None,
    ) -> Reply:
        if not caller.admin:
            return oops("Only bot admins and server managers can change the settings.")
        if caller.guild is None:
            return oops("Server settings only make sense in a server.")
        sharing = ""
        if share is not None:
            name = self.store.share_community_model(caller.guild, share)
            if name is None:
                return oops("This server has no model of its own to share yet: /train makes one.")
            sharing = (
                f" This server's model is shared: other servers may pick it with /settings model:{name}."
                if share
                else " This server's model is no longer shared: other servers go back to their own choice."
            )
        channels, model = self.store.guild_settings(caller.guild)
        if default_model is not None:
            shared = self.store.shared_community_models()
            if self.catalog.get(default_model) is None or not visible(default_model, caller, shared):
                return oops(
                    f"'{default_model}' is not a model here; available: {', '.join(self.models_for(caller))}."
                )
            model = default_model
        channels = [c for c in channels if c != remove_channel] + ([allow_channel] if allow_channel else [])
        self.store.set_guild_settings(caller.guild, channels, model)
        where = _channels(sorted(set(channels))) or ["every channel"]
        return Reply.of(
            ["Mascots allowed in ", *where, f"; default model: {model or self.catalog.default}.{sharing}"],
            ephemeral=True,
        )


def pick_size(model: ModelInfo, image_size: int) -> int | None:
    """The largest of ``model``'s sizes that is at most ``image_size``: 512 when the engine has its
    upscale stage, the generator's own resolution when it has not (128: still a picture, just a smaller
    one). None, so that the engine serves its default, when every offered size is larger."""
    fitting = [s for s in model.sizes if 0 < s <= image_size]
    return max(fitting) if fitting else None


def identity(g: Generation) -> dict[str, Any]:
    """What the engine needs to draw a stored generation again (or vary it, or fuse it)."""
    return {
        "seed": g.seed,
        "attributes": g.attributes,
        "latent": g.latent or {"seed": g.seed},
        "truncation": g.truncation,
    }


def _derived(latent: dict[str, Any] | None) -> dict[str, Any] | None:
    # A plain seed's recipe is the seed column itself: stored as NULL, as every row before variations.
    return latent if latent and set(latent) != {"seed"} else None


HEADLINES = (
    ("kid_effl0", "kid_x1000", "KID×1000 {:.1f}"),
    ("fid_effl0", "fid", "FID {:.1f}"),
    ("attr_precision", "mean", "attribute precision {:.0%}"),
    ("memorization", "near_copy_fraction", "near copies {:.1%}"),
)


def headline(metrics: dict[str, Any]) -> str:
    """A model's few numbers people read, rounded: not the raw nested dict of its evaluation."""
    out = []
    for name, key, fmt in HEADLINES:
        value = metrics.get(name)
        value = value.get(key) if isinstance(value, dict) else value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            out.append(fmt.format(value))
    return ", ".join(out)


def describe(attributes: dict[str, str]) -> str:
    return " ".join(f"{k}:{v}" for k, v in attributes.items())


def _channels(channels: list[str]) -> list[Part]:
    return joined(ChannelRef(c) for c in channels)


def _line(r: Ranked) -> list[Part]:
    """One leaderboard line: score, votes, attributes, id, who made it and where it was posted."""
    g = r.generation
    return [
        f"{r.score:+d} ({UP}{r.up} {DOWN}{r.down}) {describe(g.attributes)} · {g.id} by ",
        UserRef(g.requester, g.platform),
        PostRef(g.platform, g.guild, g.channel, g.message),
    ]
