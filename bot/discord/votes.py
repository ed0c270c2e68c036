"""Votes are 👍/👎 reactions on a mascot's message.

Raw reaction events are used, not on_reaction_add: those fire only for messages in
the client's cache, so votes on old posts, or any post after a restart, would be lost.
The handlers do no awaiting before they write, so events for the same message are
stored in the order Discord sent them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord.ext import commands

from bot.core.commands import DOWN, UP

if TYPE_CHECKING:
    from bot.discord.client import MascotClient

VALUES = {UP: 1, DOWN: -1}


class Votes(commands.Cog):
    def __init__(self, bot: MascotClient) -> None:
        self.bot = bot

    def _counts(self, payload: discord.RawReactionActionEvent) -> int | None:
        """The vote a reaction means, or None when it is not a vote we count."""
        if self.bot.user is not None and payload.user_id == self.bot.user.id:
            return None  # the bot's own 👍 👎 seed the buttons; they are not votes
        if payload.member is not None and payload.member.bot:
            return None
        return VALUES.get(str(payload.emoji))

    @commands.Cog.listener()
    async def on_raw_reaction_add(self, payload: discord.RawReactionActionEvent) -> None:
        value = self._counts(payload)
        if value is None:
            return
        for generation in self.bot.core.store.by_message(payload.message_id):
            self.bot.core.store.vote(generation.id, str(payload.user_id), value)

    @commands.Cog.listener()
    async def on_raw_reaction_remove(self, payload: discord.RawReactionActionEvent) -> None:
        value = self._counts(payload)
        if value is None:
            return
        for generation in self.bot.core.store.by_message(payload.message_id):
            # Only the vote this reaction made: after switching 👍 -> 👎, removing the 👍 keeps the 👎.
            self.bot.core.store.unvote(generation.id, str(payload.user_id), value)
