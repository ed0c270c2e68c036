"""Persistent buttons: under a grid of candidates 1-4 (pick), V1-V4 (variations) and 🎲 re-roll;
under a posted mascot 🎲 re-roll, ✏️ remix, 🔀 variations and ⭐ (keep in /collection).

They are DynamicItems: the generation id rides in the custom id, and the classes are
registered in setup_hook (``DYNAMIC``), so a button clicked after a restart still finds
its mascot (the store has it) without any view having been re-created. Every button that
draws defers first (Discord allows 3 s); refusals and ⭐ answer ephemerally.
"""

from __future__ import annotations

import re

import discord

from bot.core.commands import describe
from bot.core.reply import Reply, oops
from bot.core.text import pairs
from bot.discord.host import Host, host_of
from bot.discord.send import answer_deferred, answer_now, defer

# Every button's custom id is mascot:<action>:<generation id>.
ACTIONS = ("reroll", "remix", "pick", "vary", "regrid", "star")
EXPIRED = "This button has expired — run /mascot again."
EXPIRED_FORM = "This form has expired — run /mascot again."
NOTHING_TO_CHANGE = (
    "Nothing to change: the form still holds this mascot's own attributes. "
    "Give at least one new value, for example hair:pink."
)


def _template(action: str) -> str:
    return rf"mascot:{action}:(?P<gen>[0-9a-f]{{1,40}})"


_OURS = re.compile(_template("(?:" + "|".join(ACTIONS) + ")"))


def is_ours(custom_id: str) -> bool:
    """Whether one of the registered buttons answers a click with this custom id. Anything
    else (an old bot's button, a forged or mangled id) is answered as expired by the client."""
    return _OURS.fullmatch(custom_id) is not None


class RerollButton(discord.ui.DynamicItem[discord.ui.Button], template=_template("reroll")):
    def __init__(self, generation: str) -> None:
        super().__init__(
            discord.ui.Button(
                label="Re-roll",
                emoji="🎲",
                style=discord.ButtonStyle.secondary,
                custom_id=f"mascot:reroll:{generation}",
            )
        )
        self.generation = generation

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str], /
    ):
        return cls(match["gen"])

    async def callback(self, interaction: discord.Interaction) -> None:
        bot = host_of(interaction)
        if await defer(interaction):
            reply = await bot.core.reroll(bot.caller(interaction), self.generation)
            await answer(interaction, reply, bot)


class RemixButton(discord.ui.DynamicItem[discord.ui.Button], template=_template("remix")):
    def __init__(self, generation: str) -> None:
        super().__init__(
            discord.ui.Button(
                label="Remix",
                emoji="✏️",
                style=discord.ButtonStyle.secondary,
                custom_id=f"mascot:remix:{generation}",
            )
        )
        self.generation = generation

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str], /
    ):
        return cls(match["gen"])

    async def callback(self, interaction: discord.Interaction) -> None:
        bot = host_of(interaction)
        base = bot.core.store.generation(self.generation)
        if base is None:
            await answer_now(interaction, oops("I can't find that mascot any more."))
            return
        modal = RemixModal(self.generation, describe(base.attributes))
        await interaction.response.send_modal(modal)
        # Not kept in this process's view store: the submit is answered from its custom id
        # (the client's on_interaction -> submit_remix), the same way before and after a restart.
        modal.stop()


REMIX_FORM = re.compile(r"mascot:remix-form:(?P<gen>[0-9a-f]{1,40})")


class RemixModal(discord.ui.Modal, title="Remix this mascot"):
    changes: discord.ui.TextInput = discord.ui.TextInput(
        label="Attributes to change", placeholder="hair:blue smile:yes", max_length=400, custom_id="changes"
    )

    def __init__(self, generation: str, current: str) -> None:
        super().__init__(timeout=None, custom_id=f"mascot:remix-form:{generation}")
        self.generation = generation
        self.changes.default = current[:400]


async def submit_remix(interaction: discord.Interaction, generation: str, changes: str) -> None:
    bot = host_of(interaction)
    try:
        wanted = pairs(changes)
    except ValueError as exc:
        await answer_now(interaction, oops(str(exc)))
        return
    base = bot.core.store.generation(generation)
    if base is not None and all(base.attributes.get(k) == v for k, v in wanted.items()):
        await answer_now(interaction, oops(NOTHING_TO_CHANGE))
        return
    if await defer(interaction):
        reply = await bot.core.remix(bot.caller(interaction), generation, wanted)
        await answer(interaction, reply, bot)


class _LoopButton(discord.ui.DynamicItem[discord.ui.Button], template=_template("base")):
    """A button whose custom id is ``mascot:<action>:<generation>``; subclasses say what it does
    (this base is never registered, so its own template never matches a click)."""

    action = ""

    def __init__(
        self,
        generation: str,
        label: str = "",
        emoji: str | None = None,
        style: discord.ButtonStyle = discord.ButtonStyle.secondary,
        row: int | None = None,
    ) -> None:
        super().__init__(
            discord.ui.Button(
                label=label or None,
                emoji=emoji,
                style=style,
                row=row,
                custom_id=f"mascot:{self.action}:{generation}",
            )
        )
        self.generation = generation

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str], /
    ):
        # The label is not in the custom id; discord.py keeps the one on the message.
        return cls(match["gen"], label=item.label or "", emoji=str(item.emoji) if item.emoji else None)

    async def callback(self, interaction: discord.Interaction) -> None:
        bot = host_of(interaction)
        if await defer(interaction):
            await answer(interaction, await self.run(bot, interaction), bot)

    async def run(self, bot: Host, interaction: discord.Interaction) -> Reply:
        raise NotImplementedError


class PickButton(_LoopButton, template=_template("pick")):
    action = "pick"

    async def run(self, bot: Host, interaction: discord.Interaction) -> Reply:
        return await bot.core.pick(bot.caller(interaction), self.generation)


class VaryButton(_LoopButton, template=_template("vary")):
    action = "vary"

    async def run(self, bot: Host, interaction: discord.Interaction) -> Reply:
        return await bot.core.variations(bot.caller(interaction), self.generation)


class RegridButton(_LoopButton, template=_template("regrid")):
    """Re-roll under a grid: four new candidates for the same request."""

    action = "regrid"

    async def run(self, bot: Host, interaction: discord.Interaction) -> Reply:
        return await bot.core.reroll(bot.caller(interaction), self.generation, grid=True)


class StarButton(_LoopButton, template=_template("star")):
    """⭐ toggles: keeps the mascot in the presser's /collection, or takes it out again."""

    action = "star"

    async def callback(self, interaction: discord.Interaction) -> None:
        bot = host_of(interaction)
        caller = bot.caller(interaction)
        kept = bot.core.store.is_favourite(caller.user, self.generation)
        await answer_now(
            interaction, bot.core.star(caller, self.generation, on=not kept)
        )  # a DB write: well within 3 s


DYNAMIC = (RerollButton, RemixButton, PickButton, VaryButton, RegridButton, StarButton)


def post_view(generation: str) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(RerollButton(generation))
    view.add_item(RemixButton(generation))
    view.add_item(VaryButton(generation, label="Variations", emoji="🔀"))
    view.add_item(StarButton(generation, emoji="⭐"))
    return view


def grid_view(generations: tuple[str, ...]) -> discord.ui.View:
    """1-4 pick a candidate, V1-V4 vary one, 🎲 draws four new ones."""
    view = discord.ui.View(timeout=None)
    for i, gen in enumerate(generations, 1):
        view.add_item(PickButton(gen, label=str(i), style=discord.ButtonStyle.primary, row=0))
    for i, gen in enumerate(generations, 1):
        view.add_item(VaryButton(gen, label=f"V{i}", row=1))
    if generations:
        view.add_item(RegridButton(generations[0], emoji="🎲", row=2))
    return view


async def answer(interaction: discord.Interaction, reply: Reply, bot: Host) -> None:
    """A deferred reply with the buttons its kind needs."""
    await answer_deferred(interaction, reply, bot.core.store, post_view, grid_view)
