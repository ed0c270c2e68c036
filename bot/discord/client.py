"""The Discord client: wires the core commands, buttons and vote listener together.

Everything that must survive a restart is registered in setup_hook: the dynamic
buttons (their custom ids carry the generation id) and the raw reaction listener.
"""

from __future__ import annotations

import logging

import discord
from discord.ext import commands

from bot.config import BotConfig
from bot.core.commands import Commands
from bot.core.reply import Caller
from bot.discord.buttons import DYNAMIC
from bot.discord.slash import PLAIN, schema_commands
from bot.discord.votes import Votes

log = logging.getLogger("mascot.discord")


class MascotClient(commands.Bot):
    def __init__(self, cfg: BotConfig, core: Commands, **kwargs) -> None:
        # Reactions need no privileged intent; message content is never read.
        intents = discord.Intents.default()
        super().__init__(command_prefix=commands.when_mentioned, intents=intents, help_command=None, **kwargs)
        self.cfg, self.core = cfg, core
        self.tree.on_error = self.on_app_command_error

    def caller(self, interaction: discord.Interaction, *, manager: bool = False) -> Caller:
        user = str(interaction.user.id)
        return Caller(user=user, platform="discord",
                      guild=str(interaction.guild_id) if interaction.guild_id else None,
                      channel=str(interaction.channel_id) if interaction.channel_id else None,
                      admin=user in self.cfg.admins or manager)  # fmt: skip

    async def setup_hook(self) -> None:
        self.add_dynamic_items(*DYNAMIC)  # every button kind, so old messages' buttons work after a restart
        await self.add_cog(Votes(self))
        for command in [*schema_commands(self), *PLAIN]:
            self.tree.add_command(command)
        if self.cfg.sync_commands:
            synced = await self.tree.sync()
            log.info("synced %d slash commands", len(synced))

    async def on_ready(self) -> None:
        log.info("logged in as %s (%s) on %d guild(s)", self.user, getattr(self.user, "id", "?"), len(self.guilds))

    async def on_app_command_error(self, interaction: discord.Interaction, error: discord.app_commands.AppCommandError) -> None:
        # Transformer errors (a raw payload with a value outside a Range or the choices) are the user's;
        # anything else is ours: log it and say so briefly.
        if isinstance(error, (discord.app_commands.TransformerError, discord.app_commands.CheckFailure)):
            text = str(error)
        else:
            log.error("command %s failed", interaction.command and interaction.command.name, exc_info=error)
            text = "Something went wrong on my side; it has been logged."
        try:
            if interaction.response.is_done():
                await interaction.followup.send(text, ephemeral=True)
            else:
                await interaction.response.send_message(text, ephemeral=True)
        except discord.HTTPException:
            pass


class ShardedMascotClient(commands.AutoShardedBot, MascotClient):
    """The same bot, sharded by discord.py (docs/design.md, "Scaling": no home-made cluster)."""


def make_client(cfg: BotConfig, core: Commands) -> MascotClient:
    if cfg.shards > 0:
        return ShardedMascotClient(cfg, core, shard_count=cfg.shards)
    return MascotClient(cfg, core)
