"""The Discord client: registers its parts (the core commands as slash commands, the buttons,
the vote listener), which reach it only through ``bot/discord/host.py``.

Everything that must survive a restart is registered in setup_hook: the dynamic
buttons (their custom ids carry the generation id) and the raw reaction listener; the
remix form is answered from its custom id too (``on_interaction``), so a form opened
before a restart and submitted after it still gets its remix.

A command interaction is checked against the running command before it runs: a command
this process does not have, or options it does not take (a Discord client still showing
an older definition), is answered at once with what changed or what is allowed, and
starts a re-sync of the command list.
"""

from __future__ import annotations

import asyncio
import logging
import time

import discord
from discord.ext import commands

from bot.config import BotConfig
from bot.core.commands import Commands
from bot.core.reply import Caller, Reply
from bot.discord.buttons import DYNAMIC, EXPIRED, EXPIRED_FORM, REMIX_FORM, is_ours, submit_remix
from bot.discord.options import option_problem
from bot.discord.send import answer_now
from bot.discord.slash import PLAIN, schema_commands
from bot.discord.votes import Votes

log = logging.getLogger("mascot.discord")
STALE = "This command has changed; try again in a minute (Discord is being sent the new version)."
RESYNC_EVERY_S = 60.0  # Discord rate-limits command uploads; one per minute is plenty


class MascotTree(discord.app_commands.CommandTree):
    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        data = interaction.data or {}
        if (
            interaction.type
            not in (discord.InteractionType.application_command, discord.InteractionType.autocomplete)
            or data.get("type", 1) != 1
        ):
            return True
        command = self.get_command(str(data.get("name", "")))
        options = [o for o in data.get("options") or () if isinstance(o, dict)]
        if isinstance(command, discord.app_commands.Command):
            if interaction.type is discord.InteractionType.autocomplete:
                return True  # answered with choices, or with none, by discord.py
            options = [o for o in options if o.get("type") not in (1, 2)]
            problem = option_problem(command, options)
            if problem is None:
                return True
        else:
            problem = STALE
        self.client.resync()  # type: ignore[attr-defined]
        if interaction.type is discord.InteractionType.autocomplete:
            await interaction.response.autocomplete([])
        else:
            await answer_now(interaction, Reply(problem, ephemeral=True))
        return False


class MascotClient(commands.Bot):
    def __init__(self, cfg: BotConfig, core: Commands, **kwargs) -> None:
        # Reactions need no privileged intent; message content is never read.
        intents = discord.Intents.default()
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents,
            help_command=None,
            tree_cls=MascotTree,
            **kwargs,
        )
        self.cfg, self.core = cfg, core
        self.tree.on_error = self.on_app_command_error
        self.resync_task: asyncio.Task | None = None
        self._last_resync = -RESYNC_EVERY_S

    def resync(self) -> None:
        """Upload the command list again (at most once a minute): Discord showed someone an old one."""
        now = time.monotonic()
        if now - self._last_resync < RESYNC_EVERY_S:
            return
        self._last_resync = now

        async def sync() -> None:
            try:
                log.info(
                    "re-synced %d slash commands after a stale one was used", len(await self.tree.sync())
                )
            except Exception as exc:  # Discord down or rate-limited: the next stale command tries again
                log.warning("re-syncing slash commands failed: %s", exc)
                self._last_resync = -RESYNC_EVERY_S

        self.resync_task = asyncio.create_task(sync(), name="mascot-resync")

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        """Remix forms are answered here from their custom id; a click or a form that nothing
        registered answers (a button of an older version, a mangled id) is told it expired,
        so no interaction is left for Discord to call failed."""
        custom_id = str((interaction.data or {}).get("custom_id", ""))
        if interaction.type is discord.InteractionType.modal_submit:
            match = REMIX_FORM.fullmatch(custom_id)
            if match:
                await submit_remix(interaction, match["gen"], _field(interaction.data, "changes"))
            else:
                await answer_now(interaction, Reply(EXPIRED_FORM, ephemeral=True))
        elif interaction.type is discord.InteractionType.component and not is_ours(custom_id):
            await answer_now(interaction, Reply(EXPIRED, ephemeral=True))

    def caller(self, interaction: discord.Interaction, *, manager: bool = False) -> Caller:
        user = str(interaction.user.id)
        return Caller(
            user=user,
            platform="discord",
            guild=str(interaction.guild_id) if interaction.guild_id else None,
            channel=str(interaction.channel_id) if interaction.channel_id else None,
            admin=user in self.cfg.admins or manager,
        )

    async def setup_hook(self) -> None:
        self.add_dynamic_items(*DYNAMIC)  # every button kind, so old messages' buttons work after a restart
        await self.add_cog(Votes(self, self._connection))
        for command in [*schema_commands(self), *PLAIN]:
            self.tree.add_command(command)
        if self.cfg.sync_commands:
            synced = await self.tree.sync()
            log.info("synced %d slash commands", len(synced))

    async def on_ready(self) -> None:
        log.info(
            "logged in as %s (%s) on %d guild(s)", self.user, getattr(self.user, "id", "?"), len(self.guilds)
        )

    async def on_app_command_error(
        self, interaction: discord.Interaction, error: discord.app_commands.AppCommandError
    ) -> None:
        # Transformer errors (a raw payload with a value outside a Range or the choices) are the user's;
        # anything else is ours: log it and say so briefly.
        if isinstance(error, (discord.app_commands.TransformerError, discord.app_commands.CheckFailure)):
            text = str(error)
        elif isinstance(
            error, (discord.app_commands.CommandNotFound, discord.app_commands.CommandSignatureMismatch)
        ):
            self.resync()  # what the check above did not catch (a changed subcommand, a race with a reload)
            text = STALE
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


def _field(data: object, custom_id: str) -> str:
    """A text input's value in a modal submit's rows, or "" when the form has no such field."""
    rows = data.get("components", []) if isinstance(data, dict) else []
    for row in rows if isinstance(rows, list) else []:
        for item in row.get("components", []) if isinstance(row, dict) else []:
            if isinstance(item, dict) and item.get("custom_id") == custom_id:
                return str(item.get("value") or "")
    return ""


class ShardedMascotClient(commands.AutoShardedBot, MascotClient):
    """The same bot, sharded by discord.py (docs/design.md, "Scaling": no home-made cluster)."""


def make_client(cfg: BotConfig, core: Commands) -> MascotClient:
    if cfg.shards > 0:
        return ShardedMascotClient(cfg, core, shard_count=cfg.shards)
    return MascotClient(cfg, core)
