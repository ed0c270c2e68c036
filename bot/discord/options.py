"""Slash-command options built from the engine's attribute schema at start-up.

discord.py reads a command's options from its callback's signature, so we give the
callback a generated ``__signature__``: one keyword-only parameter per attribute,
annotated ``Literal[...]`` (Discord shows those as choices, at most 25) or ``str``
with autocomplete. Python names are positional (``attr_0``) and renamed to the
attribute's own name, because schema names may not be Python identifiers.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Literal

import discord
from discord import app_commands

from bot.core.engine import AttributeSpec, ModelInfo

MAX_CHOICES = 25


@dataclass(frozen=True)
class Option:
    """One extra (non-attribute) option: its Python name, annotation, default and description."""

    name: str
    annotation: Any
    default: Any = inspect.Parameter.empty
    description: str = "…"
    autocomplete: Callable[..., Awaitable[list[app_commands.Choice[str]]]] | None = None


def value_autocomplete(attr: AttributeSpec):
    async def complete(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        word = current.strip().lower()
        ranked = sorted(attr.values, key=lambda v: (not v.startswith(word), word not in v, v))
        return [app_commands.Choice(name=v, value=v) for v in ranked if word in v][:MAX_CHOICES]

    return complete


def attribute_command(
    name: str, description: str, model: ModelInfo, extras: list[Option],
    handler: Callable[[discord.Interaction, dict[str, str], dict[str, Any]], Awaitable[None]],
) -> app_commands.Command:  # fmt: skip
    """A slash command whose options are ``extras`` plus every attribute of ``model``.

    ``handler(interaction, attributes, extras)`` gets the attributes the user set, by
    schema name, and the extra options by their names.
    """
    reserved = {o.name for o in extras}
    attrs = {f"attr_{i}": a for i, a in enumerate(model.attributes) if a.name not in reserved}

    async def callback(interaction: discord.Interaction, **options: Any) -> None:
        chosen = {attrs[k].name: v for k, v in options.items() if k in attrs and v is not None}
        await handler(interaction, chosen, {k: v for k, v in options.items() if k not in attrs})

    params = [inspect.Parameter("interaction", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=discord.Interaction)]
    descriptions, renames, completes = {}, {}, {}
    for option in extras:
        params.append(inspect.Parameter(option.name, inspect.Parameter.KEYWORD_ONLY, default=option.default,
                                        annotation=option.annotation))  # fmt: skip
        descriptions[option.name] = option.description
        if option.autocomplete:
            completes[option.name] = option.autocomplete
    for py, attr in attrs.items():
        fits = len(attr.values) <= MAX_CHOICES
        annotation = Literal[tuple(attr.values)] if fits else str  # type: ignore[valid-type]
        params.append(inspect.Parameter(py, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=annotation))
        renames[py] = attr.name
        shown = ", ".join(attr.values[:6]) + (", …" if len(attr.values) > 6 else "")
        descriptions[py] = f"{attr.name} ({shown}); unset = drawn from the training data"[:100]
        if not fits:
            completes[py] = value_autocomplete(attr)
    # Options with a default must follow required ones in Discord's list; discord.py sorts them.
    callback.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    callback.__discord_app_commands_param_description__ = descriptions  # type: ignore[attr-defined]
    callback.__discord_app_commands_param_rename__ = renames  # type: ignore[attr-defined]
    callback.__discord_app_commands_param_autocomplete__ = completes  # type: ignore[attr-defined]
    return app_commands.Command(name=name, description=description, callback=callback)
