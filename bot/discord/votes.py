"""Votes are 👍/👎 reactions on a mascot's message.

Raw reaction events are used, not on_reaction_add: those fire only for messages in
the client's cache, so votes on old posts, or any post after a restart, would be lost.
The handlers do no awaiting before they write, so events for the same message are
stored in the order Discord sent them.

Bot accounts' reactions are never votes. discord.py builds ``payload.member`` only when
the guild is in its cache, so the ``bot`` flag is also read from the raw gateway payload
itself (a reaction add carries its member's user), remembered per user id, and a removal
(which carries no member) is judged by what was remembered or the user cache.
"""

from __future__ import annotations

import re
from typing import Any

import discord
from cachetools import LRUCache
from discord.ext import commands

from bot.core.commands import DOWN, UP
from bot.discord.host import Host

VALUES = {UP: 1, DOWN: -1}
# 👍🏽 is 👍 followed by a skin-tone modifier (U+1F3FB-U+1F3FF); some clients add a variation
# selector (U+FE0F) too. The vote is the same.
SKIN_TONES_AND_SELECTORS = re.compile("[\U0001f3fb-\U0001f3ff\ufe0f]")


def vote_value(emoji: str) -> int | None:
    """+1 for 👍 in any skin tone, -1 for 👎, None for any other reaction."""
    return VALUES.get(SKIN_TONES_AND_SELECTORS.sub("", emoji))


class Votes(commands.Cog):
    def __init__(self, bot: Host, state: Any) -> None:
        """``state`` is the client's connection state, whose reaction parser is wrapped."""
        self.bot = bot
        self.is_bot: LRUCache[int, bool] = LRUCache(maxsize=100_000)  # user id -> bot flag, from raw payloads
        self._read_raw_reactions(state)

    def _read_raw_reactions(self, state: Any) -> None:
        parse = state.parse_message_reaction_add

        def remember_then_parse(data: dict) -> None:
            user = (data.get("member") or {}).get("user") or {}
            if "bot" in user and "user_id" in data:
                self.is_bot[int(data["user_id"])] = bool(user["bot"])
            parse(data)

        # The gateway looks parsers up in this table; direct callers (tests) use the attribute.
        state.parsers["MESSAGE_REACTION_ADD"] = remember_then_parse
        state.parse_message_reaction_add = remember_then_parse

    def _from_a_bot(self, payload: discord.RawReactionActionEvent) -> bool:
        if payload.member is not None:
            return payload.member.bot
        if payload.user_id in self.is_bot:
            return self.is_bot[payload.user_id]
        cached = self.bot.get_user(payload.user_id)
        return bool(cached and cached.bot)

    def _counts(self, payload: discord.RawReactionActionEvent) -> int | None:
        """The vote a reaction means, or None when it is not a vote we count."""
        if self.bot.user is not None and payload.user_id == self.bot.user.id:
            return None  # the bot's own 👍 👎 seed the buttons; they are not votes
        if self._from_a_bot(payload):
            return None
        return vote_value(str(payload.emoji))

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
