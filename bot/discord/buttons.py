"""Persistent buttons under every mascot: 🎲 re-roll and ✏️ remix.

They are DynamicItems: the generation id rides in the custom id, and the classes are
registered in setup_hook, so a button clicked after a restart still finds its mascot
(the store has it) without any view having been re-created.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import discord

from bot.core.commands import describe
from bot.core.reply import oops
from bot.core.text import pairs
from bot.discord.send import answer_deferred, answer_now, defer

if TYPE_CHECKING:
    from bot.discord.client import MascotClient


class RerollButton(discord.ui.DynamicItem[discord.ui.Button], template=r"mascot:reroll:(?P<gen>[0-9a-f]{1,40})"):
    def __init__(self, generation: str) -> None:
        super().__init__(discord.ui.Button(label="Re-roll", emoji="🎲", style=discord.ButtonStyle.secondary,
                                           custom_id=f"mascot:reroll:{generation}"))  # fmt: skip
        self.generation = generation

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str], /):
        return cls(match["gen"])

    async def callback(self, interaction: discord.Interaction) -> None:
        bot: MascotClient = interaction.client  # type: ignore[assignment]
        if await defer(interaction):
            reply = await bot.core.reroll(bot.caller(interaction), self.generation)
            await answer_deferred(interaction, reply, bot.core.store, post_view)


class RemixButton(discord.ui.DynamicItem[discord.ui.Button], template=r"mascot:remix:(?P<gen>[0-9a-f]{1,40})"):
    def __init__(self, generation: str) -> None:
        super().__init__(discord.ui.Button(label="Remix", emoji="✏️", style=discord.ButtonStyle.secondary,
                                           custom_id=f"mascot:remix:{generation}"))  # fmt: skip
        self.generation = generation

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str], /):
        return cls(match["gen"])

    async def callback(self, interaction: discord.Interaction) -> None:
        bot: MascotClient = interaction.client  # type: ignore[assignment]
        base = bot.core.store.generation(self.generation)
        if base is None:
            await answer_now(interaction, oops("I can't find that mascot any more."))
            return
        await interaction.response.send_modal(RemixModal(self.generation, describe(base.attributes)))


class RemixModal(discord.ui.Modal, title="Remix this mascot"):
    changes: discord.ui.TextInput = discord.ui.TextInput(label="Attributes to change", placeholder="hair:blue smile:yes",
                                                         max_length=400)  # fmt: skip

    def __init__(self, generation: str, current: str) -> None:
        super().__init__(timeout=900)
        self.generation = generation
        self.changes.default = current[:400]

    async def on_submit(self, interaction: discord.Interaction) -> None:
        bot: MascotClient = interaction.client  # type: ignore[assignment]
        try:
            wanted = pairs(self.changes.value)
        except ValueError as exc:
            await answer_now(interaction, oops(str(exc)))
            return
        if await defer(interaction):
            reply = await bot.core.remix(bot.caller(interaction), self.generation, wanted)
            await answer_deferred(interaction, reply, bot.core.store, post_view)


def post_view(generation: str) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(RerollButton(generation))
    view.add_item(RemixButton(generation))
    return view
