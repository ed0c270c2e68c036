"""The slash commands: /mascot /remix /morph /fuse /mascotify /collection /top /mystats /retrain
/rollback /status /settings.

/mascot, /remix and /morph take the engine's attributes as options, so they are built
at start-up from GET /v1/models (bot/discord/options.py); the rest are small typed
functions, as in discord.py's app_commands examples.
"""

from __future__ import annotations

from typing import Any, Literal

import discord
from discord import app_commands

from bot.core.commands import GRID, MAX_PICTURE_BYTES, MAX_SEED
from bot.core.reply import Reply
from bot.core.text import pairs
from bot.discord import train as community
from bot.discord.buttons import answer
from bot.discord.host import Host, host_of
from bot.discord.options import Option, attribute_command
from bot.discord.send import ProgressMessage, answer_deferred, answer_now, answer_text, defer

Seed = app_commands.Range[int, 0, MAX_SEED]


async def model_autocomplete(
    interaction: discord.Interaction, current: str
) -> list[app_commands.Choice[str]]:
    names = host_of(interaction).core.catalog.names
    return [app_commands.Choice(name=n, value=n) for n in names if current.lower() in n.lower()][:25]


MODEL = Option("model", str | None, None, "which model draws it (default: this server's)", model_autocomplete)


# --- image commands (options from the schema) ------------------------------------------
async def mascot(
    interaction: discord.Interaction, attributes: dict[str, str], extras: dict[str, Any]
) -> None:
    bot = host_of(interaction)
    grid = extras.get("seed") is None and extras.get("count") is None  # candidates to pick from
    caller, count = bot.caller(interaction), GRID if grid else extras.get("count") or 1
    await bot.core.ensure_models(caller)  # a server's own model that trained since the catalog was read
    ok = bot.core.admit(caller, attributes, extras.get("model"), count=count, seed=extras.get("seed"))
    if isinstance(ok, Reply):
        await answer_now(interaction, ok)
        return
    if await defer(interaction):
        reply = await bot.core.mascot(
            caller, attributes, seed=extras.get("seed"), count=count, admitted=ok, grid=grid
        )
        await answer(interaction, reply, bot)


async def remix(interaction: discord.Interaction, attributes: dict[str, str], extras: dict[str, Any]) -> None:
    bot = host_of(interaction)
    if not attributes:
        await answer_now(interaction, Reply("Pick at least one attribute to change.", ephemeral=True))
        return
    if await defer(interaction):
        reply = await bot.core.remix(
            bot.caller(interaction), extras["generation"].strip().lower(), attributes
        )
        await answer(interaction, reply, bot)


async def morph(interaction: discord.Interaction, attributes: dict[str, str], extras: dict[str, Any]) -> None:
    bot = host_of(interaction)
    ids, seeds = (
        (extras.get("mascot_a"), extras.get("mascot_b")),
        (extras.get("seed_a"), extras.get("seed_b")),
    )
    if None in ids and None in seeds:
        await answer_now(
            interaction,
            Reply("Morph needs two ends: mascot_a and mascot_b (ids), or seed_a and seed_b.", ephemeral=True),
        )
        return
    if await defer(interaction):
        frames, caller = extras.get("frames") or 16, bot.caller(interaction)
        if None not in ids:  # two posted mascots, each with its own attributes
            reply = await bot.core.morph_mascots(
                caller, ids[0].strip().lower(), ids[1].strip().lower(), frames=frames
            )
        else:
            reply = await bot.core.morph(
                caller, seeds[0], seeds[1], attributes, model=extras.get("model"), frames=frames
            )
        await answer_deferred(interaction, reply, bot.core.store)


def schema_commands(bot: Host) -> list[app_commands.Command]:
    model = bot.core.catalog.get(None)
    assert model is not None, "the engine's default model is missing from GET /v1/models"
    most = bot.core.catalog.max_count
    return [
        attribute_command(
            "mascot",
            "Draw a new mascot",
            model,
            [
                Option("seed", Seed | None, None, "same seed + same attributes = same mascot"),
                Option(
                    "count",
                    app_commands.Range[int, 1, most] | None,
                    None,
                    f"how many (1-{most})",
                ),
                MODEL,
            ],
            mascot,
        ),
        attribute_command(
            "remix",
            "Same mascot (same seed), some attributes changed",
            model,
            [
                Option("generation", str, description="the id in a mascot's buttons or /top"),
            ],
            remix,
        ),
        attribute_command(
            "morph",
            "An animated morph between two mascots (their ids) or two seeds",
            model,
            [
                Option("mascot_a", str | None, None, "start: a mascot's id"),
                Option("mascot_b", str | None, None, "end: a mascot's id"),
                Option("seed_a", Seed | None, None, "start (instead of mascot_a)"),
                Option("seed_b", Seed | None, None, "end (instead of mascot_b)"),
                Option("frames", app_commands.Range[int, 2, 64] | None, None, "length of the loop (2-64)"),
                MODEL,
            ],
            morph,
        ),
    ]


# --- plain commands ----------------------------------------------------------------------
async def _pairs_or_refuse(interaction: discord.Interaction, text: str | None) -> dict[str, str] | None:
    """``name:value`` words as a dict; None after answering ephemerally what was malformed."""
    try:
        return pairs(text or "")
    except ValueError as exc:
        await answer_now(interaction, Reply(str(exc), ephemeral=True))
        return None


@app_commands.command(description="One child of two mascots: latent mixed, each attribute from one parent")
@app_commands.describe(
    a="a mascot's id",
    b="another mascot's id",
    take="which parent an attribute comes from, like hair:a smile:b (else drawn)",
)
async def fuse(interaction: discord.Interaction, a: str, b: str, take: str | None = None) -> None:
    bot = host_of(interaction)
    chosen = await _pairs_or_refuse(interaction, take)
    if chosen is None:
        return
    if await defer(interaction):
        reply = await bot.core.fuse(bot.caller(interaction), a.strip().lower(), b.strip().lower(), chosen)
        await answer(interaction, reply, bot)


@app_commands.command(
    description="Your picture as a mascot: the nearest one and three variations to pick from"
)
@app_commands.describe(
    picture="a PNG, JPEG or WebP picture (up to 8 MiB)",
    keep="attributes to keep whatever the picture shows, like hair:blue smile:yes",
)
@app_commands.autocomplete(model=model_autocomplete)
async def mascotify(
    interaction: discord.Interaction,
    picture: discord.Attachment,
    keep: str | None = None,
    model: str | None = None,
) -> None:
    bot = host_of(interaction)
    wanted = await _pairs_or_refuse(interaction, keep)
    if wanted is None:
        return
    if picture.size > MAX_PICTURE_BYTES or (picture.content_type or "image/").split("/")[0] != "image":
        await answer_now(
            interaction,
            Reply(
                f"Attach a PNG, JPEG or WebP picture of at most {MAX_PICTURE_BYTES // 2**20} "
                f"MiB ('{picture.filename}' is {picture.content_type or 'of unknown kind'}, "
                f"{picture.size / 2**20:.1f} MiB).",
                ephemeral=True,
            ),
        )
        return
    if await defer(interaction):
        try:
            data = await picture.read()
        except discord.HTTPException:
            await answer_deferred(
                interaction,
                Reply(
                    "I could not fetch that attachment from Discord; please send it again.", ephemeral=True
                ),
                bot.core.store,
            )
            return
        shown = ProgressMessage(interaction, "Turning your picture into a mascot")
        reply = await bot.core.mascotify(
            bot.caller(interaction), data, wanted, model=model, progress=shown.step
        )
        await answer(interaction, reply, bot)
        await shown.clear()


@app_commands.command(description="The mascots you starred (⭐)")
async def collection(interaction: discord.Interaction) -> None:
    bot = host_of(interaction)
    if await defer(interaction, ephemeral=True):
        await answer_deferred(interaction, bot.core.collection(bot.caller(interaction)), bot.core.store)


@app_commands.command(description="The best-voted mascots")
@app_commands.describe(period="today, this week or ever")
async def top(interaction: discord.Interaction, period: Literal["day", "week", "all"] = "week") -> None:
    await answer_now(
        interaction, host_of(interaction).core.top(host_of(interaction).caller(interaction), period)
    )


@app_commands.command(description="Your mascots and votes")
async def mystats(interaction: discord.Interaction) -> None:
    await answer_now(interaction, host_of(interaction).core.mystats(host_of(interaction).caller(interaction)))


@app_commands.command(description="Admin: curate the votes and fine-tune now")
async def retrain(interaction: discord.Interaction) -> None:
    bot = host_of(interaction)
    if await defer(interaction, ephemeral=True):
        await answer_text(interaction, await bot.core.retrain(bot.caller(interaction)))


@app_commands.command(description="Admin: serve the previous model version again")
@app_commands.autocomplete(model=model_autocomplete)
async def rollback(interaction: discord.Interaction, model: str | None = None) -> None:
    bot = host_of(interaction)
    if await defer(interaction, ephemeral=True):
        await answer_text(interaction, await bot.core.rollback(bot.caller(interaction), model))


@app_commands.command(description="Admin: engine, models and the nightly schedule")
async def status(interaction: discord.Interaction) -> None:
    bot = host_of(interaction)
    if await defer(interaction, ephemeral=True):
        await answer_text(interaction, await bot.core.status(bot.caller(interaction)))


@app_commands.command(name="settings", description="Server managers: allowed channels and default model")
@app_commands.guild_only()
@app_commands.rename(default_model="model")
@app_commands.describe(
    default_model="the model /mascot draws with in this server",
    share="let every server use this server's own model (or stop)",
)
@app_commands.autocomplete(default_model=model_autocomplete)
async def settings(
    interaction: discord.Interaction,
    default_model: str | None = None,
    allow_channel: discord.TextChannel | None = None,
    remove_channel: discord.TextChannel | None = None,
    share: bool | None = None,
) -> None:
    bot = host_of(interaction)
    perms = interaction.permissions
    caller = bot.caller(interaction, manager=perms.manage_guild)
    reply = bot.core.configure(
        caller,
        default_model=default_model,
        allow_channel=str(allow_channel.id) if allow_channel else None,
        remove_channel=str(remove_channel.id) if remove_channel else None,
        share=share,
    )
    await answer_now(interaction, reply)


PLAIN = (fuse, mascotify, collection, top, mystats, retrain, rollback, status, settings, *community.COMMANDS)
