"""Showing a core Reply on Discord: files, vote reactions, buttons, and the errors on the way.

Discord's two everyday failures are handled here once: 10062 (the interaction expired
before we answered) and 10008 (the message was deleted before we reacted to it).
Neither is a bug; both are logged and dropped.
"""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Awaitable, Callable

import discord

from bot.core.commands import DOWN, UP
from bot.core.reply import Reply
from bot.discord.markup import DISCORD
from bot.store import Store

log = logging.getLogger("mascot.discord")
UNKNOWN_MESSAGE, UNKNOWN_INTERACTION, UNKNOWN_WEBHOOK = 10008, 10062, 10015
GONE = (UNKNOWN_MESSAGE, UNKNOWN_INTERACTION, UNKNOWN_WEBHOOK)


async def quietly(action: Awaitable, what: str) -> bool:
    """Await a Discord call; False (and a log line) when its target is gone or forbidden."""
    try:
        await action
        return True
    except discord.NotFound as exc:
        if exc.code not in GONE:
            raise
        log.info("%s: %s (code %s), skipped", what, exc.text or "not found", exc.code)
    except discord.Forbidden as exc:
        log.warning("%s: missing permission (%s)", what, exc.text)
    return False


async def answer_now(interaction: discord.Interaction, reply: Reply) -> None:
    """Reply without deferring (refusals, text answers): must happen within Discord's 3 s."""
    await quietly(interaction.response.send_message(DISCORD.text(reply), ephemeral=reply.ephemeral), "answer")


async def defer(interaction: discord.Interaction, *, ephemeral: bool = False) -> bool:
    """Acknowledge at once (Discord allows 3 s); False when the interaction has already expired."""
    return await quietly(interaction.response.defer(thinking=True, ephemeral=ephemeral), "defer")


MAX_FILES = 10  # Discord's attachments per message


def _files(reply: Reply) -> list[discord.File]:
    return [discord.File(io.BytesIO(a.data), filename=a.name) for a in reply.files[:MAX_FILES]]


async def answer_deferred(
    interaction: discord.Interaction,
    reply: Reply,
    store: Store,
    view_for: Callable[[str], discord.ui.View] | None = None,
    grid_for: Callable[[tuple[str, ...]], discord.ui.View] | None = None,
) -> None:
    """Send ``reply`` after a non-ephemeral defer: one message per image, each with 👍 👎 and
    ``view_for(generation)``'s buttons; a grid of candidates as one message with ``grid_for``'s."""
    if reply.ephemeral:
        # The "thinking..." message is public; a refusal should not be, so swap it for an ephemeral one.
        await quietly(interaction.delete_original_response(), "delete thinking message")
        files = (
            {"files": _files(reply)} if reply.files else {}
        )  # a /collection's thumbnails, seen by its owner alone
        await quietly(
            interaction.followup.send(DISCORD.text(reply), ephemeral=True, **files), "ephemeral followup"
        )
        return
    if not reply.files:
        await quietly(interaction.followup.send(DISCORD.text(reply)), "followup")
        return
    if reply.kind == "grid" and grid_for:
        await _grid(interaction, reply, store, grid_for)
        return
    for i, att in enumerate(reply.files):
        file = discord.File(io.BytesIO(att.data), filename=att.name)
        kwargs = {"content": DISCORD.text(reply) if i == 0 else None, "file": file, "wait": True}
        if att.generation and view_for:
            kwargs["view"] = view_for(att.generation)
        try:
            message = await interaction.followup.send(**{k: v for k, v in kwargs.items() if v is not None})
        except discord.NotFound as exc:
            if exc.code not in GONE:
                raise
            log.info(
                "followup: interaction gone (code %s); %d image(s) not posted", exc.code, len(reply.files) - i
            )
            return
        if att.generation:
            store.set_message(att.generation, message.id, interaction.channel_id)
            for emoji in (UP, DOWN):
                if not await quietly(message.add_reaction(emoji), f"react to {message.id}"):
                    break


async def _grid(
    interaction: discord.Interaction,
    reply: Reply,
    store: Store,
    grid_for: Callable[[tuple[str, ...]], discord.ui.View],
) -> None:
    """Four candidates in one message: nobody votes on a candidate, they pick one (which is then voted on)."""
    try:
        message = await interaction.followup.send(
            DISCORD.text(reply), files=_files(reply), view=grid_for(reply.generations), wait=True
        )
    except discord.NotFound as exc:
        if exc.code not in GONE:
            raise
        log.info("followup: interaction gone (code %s); grid not posted", exc.code)
        return
    for generation in reply.generations:
        store.set_message(generation, message.id, interaction.channel_id)


async def answer_text(interaction: discord.Interaction, reply: Reply) -> None:
    """Send a text reply after an ephemeral or public defer."""
    await quietly(interaction.followup.send(DISCORD.text(reply), ephemeral=reply.ephemeral), "followup")


class ProgressMessage:
    """A long search's steps shown in the deferred "thinking" message, edited at most every EVERY_S
    (Discord allows about 5 edits per 5 s). Once edited it is a message of its own, so the answer
    comes as a new followup and ``clear`` deletes the progress message after it."""

    EVERY_S = 1.5
    WIDTH = 10

    def __init__(self, interaction: discord.Interaction, what: str) -> None:
        self.interaction, self.what = interaction, what
        self.last, self.edited = float("-inf"), False

    async def step(self, n: int, steps: int) -> None:
        now = time.monotonic()
        if now - self.last < self.EVERY_S:
            return
        self.last = now
        done = round(self.WIDTH * min(n, steps) / max(steps, 1))
        text = f"{self.what}: step {n} of {steps} {'▰' * done}{'▱' * (self.WIDTH - done)}"
        self.edited = await quietly(self.interaction.edit_original_response(content=text), "progress") or (
            self.edited
        )

    async def clear(self) -> None:
        if self.edited:
            await quietly(self.interaction.delete_original_response(), "delete progress message")
