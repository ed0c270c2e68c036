"""/train and /forget: a server's own model, for its managers (Discord's manage_guild).

/train takes pictures from up to five attachments (a picture or a zip of pictures each) and,
when a channel is named, from the attachments of that channel's recent messages; everything
else about training is the core's (bot/core/community.py). Attachments are read from
Discord's CDN only after their size is checked against the per-file limit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import discord
from discord import app_commands

from bot.core.community import KINDS
from bot.core.reply import Reply
from bot.discord.buttons import answer
from bot.discord.host import host_of
from bot.discord.send import answer_now, answer_text, defer

MAX_FILE_BYTES = 8 * 2**20  # a picture; a zip may be larger
MAX_ZIP_BYTES = 100 * 2**20
HISTORY = 500  # messages of a named channel whose attachments are taken
PAGE = 100


@dataclass(frozen=True)
class Found:
    name: str
    size: int
    url: str


@app_commands.command(name="train", description="Server managers: train this server's own mascot model")
@app_commands.guild_only()
@app_commands.default_permissions(manage_guild=True)
@app_commands.describe(
    channel=f"take the pictures attached in this channel's last {HISTORY} messages",
    file1=f"a picture ({KINDS}) or a zip of pictures",
)
async def train(
    interaction: discord.Interaction,
    channel: app_commands.AppCommandChannel | None = None,
    file1: discord.Attachment | None = None,
    file2: discord.Attachment | None = None,
    file3: discord.Attachment | None = None,
    file4: discord.Attachment | None = None,
    file5: discord.Attachment | None = None,
) -> None:
    bot = host_of(interaction)
    caller = bot.caller(interaction, manager=interaction.permissions.manage_guild)
    if not caller.admin:
        await answer_now(
            interaction, Reply("Only server managers can train this server's model.", ephemeral=True)
        )
        return
    if not await defer(interaction):
        return
    found = [Found(a.filename, a.size, a.url) for a in (file1, file2, file3, file4, file5) if a]
    if channel is not None:
        found += await channel_attachments(interaction.client, channel.id)
    files, too_big = await download(interaction.client, found)
    reply = await bot.core.communities.train(caller, files, channel=str(interaction.channel_id))
    if too_big:
        reply = Reply(
            reply.text + "\nNot read (too large): " + "; ".join(too_big), reply.files, reply.ephemeral
        )
    await answer(interaction, reply, bot)


@app_commands.command(name="forget", description="Server managers: delete this server's pictures and model")
@app_commands.guild_only()
@app_commands.default_permissions(manage_guild=True)
async def forget(interaction: discord.Interaction) -> None:
    bot = host_of(interaction)
    caller = bot.caller(interaction, manager=interaction.permissions.manage_guild)
    if await defer(interaction, ephemeral=True):
        reply = await bot.core.communities.forget(caller)
        await answer_text(interaction, reply)
        await bot.core.refresh()


async def channel_attachments(client: discord.Client, channel_id: int) -> list[Found]:
    """The attachments of a channel's last HISTORY messages, read as raw payloads (no cache needed),
    a page of PAGE at a time (Discord's most per request)."""
    found, before = [], None
    for _ in range(HISTORY // PAGE):
        try:
            page: list[dict[str, Any]] = await client.http.logs_from(channel_id, PAGE, before=before)
        except (discord.Forbidden, discord.NotFound):
            break
        found += [
            Found(str(a.get("filename", "file")), int(a.get("size", 0)), str(a.get("url", "")))
            for m in page or []
            for a in m.get("attachments") or []
        ]
        if not page or len(page) < PAGE:
            break
        before = int(page[-1]["id"])
    return found


async def download(client: discord.Client, found: list[Found]) -> tuple[list[tuple[str, bytes]], list[str]]:
    files, too_big = [], []
    for f in found:
        limit = MAX_ZIP_BYTES if f.name.lower().endswith(".zip") else MAX_FILE_BYTES
        if f.size > limit:
            too_big.append(f"{f.name} is {f.size / 2**20:.1f} MiB, over {limit / 2**20:.0f} MiB")
            continue
        try:
            files.append((f.name, await client.http.get_from_cdn(f.url)))
        except discord.HTTPException as exc:
            too_big.append(f"{f.name} could not be downloaded ({exc.status})")
    return files, too_big


COMMANDS = (train, forget)


async def post_progress(client: discord.Client, channel: str | None, reply: Reply) -> None:
    """A chunk's progress (text and grid) to the server's channel, through the REST API alone,
    so it needs no cached channel."""
    if not channel or not channel.isdigit():
        return
    from discord.http import handle_message_parameters

    from bot.discord.markup import DISCORD
    from bot.discord.send import _files

    with handle_message_parameters(content=DISCORD.text(reply), files=_files(reply) or None) as params:
        await client.http.send_message(int(channel), params=params)
