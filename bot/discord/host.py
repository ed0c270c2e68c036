"""What the Discord client's parts (buttons, slash commands, the vote listener) use of it.

The client (bot/discord/client.py) imports its parts and registers them in setup_hook,
as discord.py's own examples register persistent views and cogs. The parts reach the
client only through ``Host``, so none of them imports the client: a new part depends on
this small module and is registered in one place.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import discord

if TYPE_CHECKING:
    from bot.core.commands import Commands
    from bot.core.reply import Caller


class Host(Protocol):
    """The running client as its parts see it."""

    core: Commands

    @property
    def user(self) -> discord.ClientUser | None: ...

    def get_user(self, id: int, /) -> discord.User | None: ...

    def caller(self, interaction: discord.Interaction, *, manager: bool = False) -> Caller:
        """Who pressed, typed or reacted, and where (the core's ``Caller``)."""
        ...


def host_of(interaction: discord.Interaction) -> Host:
    """The client an interaction arrived at (always a ``MascotClient``, which is a ``Host``)."""
    return interaction.client  # type: ignore[return-value]
