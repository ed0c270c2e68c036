"""Slash-command options built from the engine's attribute schema at start-up.

discord.py reads a command's options from its callback's signature, so we give the
callback a generated ``__signature__``: one keyword-only parameter per attribute,
annotated ``Literal[...]`` (Discord shows those as choices, at most 25) or ``str``
with autocomplete. Python names are positional (``attr_0``) and renamed to the
attribute's own name, because schema names may not be Python identifiers.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

import discord
from discord import app_commands

from bot.core.engine_client import AttributeSpec, ModelInfo

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
        ranked = sorted(attr.offered, key=lambda v: (not v.startswith(word), word not in v, v))
        return [app_commands.Choice(name=v, value=v) for v in ranked if word in v][:MAX_CHOICES]

    return complete


def attribute_command(
    name: str,
    description: str,
    model: ModelInfo,
    extras: list[Option],
    handler: Callable[[discord.Interaction, dict[str, str], dict[str, Any]], Awaitable[None]],
) -> app_commands.Command:
    """A slash command whose options are ``extras`` plus every attribute of ``model``.

    ``handler(interaction, attributes, extras)`` gets the attributes the user set, by
    schema name, and the extra options by their names.
    """
    reserved = {o.name for o in extras}
    attrs = {f"attr_{i}": a for i, a in enumerate(model.attributes) if a.name not in reserved}

    async def callback(interaction: discord.Interaction, **options: Any) -> None:
        chosen = {attrs[k].name: v for k, v in options.items() if k in attrs and v is not None}
        await handler(interaction, chosen, {k: v for k, v in options.items() if k not in attrs})

    params = [
        inspect.Parameter(
            "interaction", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=discord.Interaction
        )
    ]
    descriptions, renames, completes = {}, {}, {}
    for option in extras:
        params.append(
            inspect.Parameter(
                option.name,
                inspect.Parameter.KEYWORD_ONLY,
                default=option.default,
                annotation=option.annotation,
            )
        )
        descriptions[option.name] = option.description
        if option.autocomplete:
            completes[option.name] = option.autocomplete
    for py, attr in attrs.items():
        fits = len(attr.offered) <= MAX_CHOICES
        annotation = Literal[tuple(attr.offered)] if fits else str  # type: ignore[valid-type]
        params.append(
            inspect.Parameter(py, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=annotation)
        )
        renames[py] = attr.name
        shown = ", ".join(attr.offered[:6]) + (", …" if len(attr.offered) > 6 else "")
        descriptions[py] = f"{attr.name} ({shown}); unset = drawn from the training data"[:100]
        if not fits:
            completes[py] = value_autocomplete(attr)
    # Options with a default must follow required ones in Discord's list; discord.py sorts them.
    callback.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    # The decorators a hand-written command stacks under @app_commands.command, applied in code.
    callback = app_commands.describe(**descriptions)(callback)
    callback = app_commands.rename(**renames)(callback)
    callback = app_commands.autocomplete(**completes)(callback)
    return app_commands.Command(name=name, description=description, callback=callback)


# --- checking what a client sent against what the command takes -------------------------
# Discord checks option names and types against the commands it has; a client that still
# shows an older definition (before a re-sync reached it) can send names and types the
# running code does not take. These are answered with what is allowed, not passed on.

KINDS = {
    3: "text",
    4: "a whole number",
    5: "true or false",
    6: "a user",
    7: "a channel",
    8: "a role",
    9: "a user or role",
    10: "a number",
    11: "a file",
}
PYTHON_TYPES = {3: (str,), 4: (int,), 5: (bool,), 10: (int, float)}


def describe_option(param: app_commands.Parameter) -> str:
    kind = KINDS.get(param.type.value, "a value")
    if param.choices:
        kind = (
            "one of "
            + ", ".join(str(c.value) for c in param.choices[:10])
            + (", …" if len(param.choices) > 10 else "")
        )
    elif param.min_value is not None and param.max_value is not None:
        kind += f" from {param.min_value} to {param.max_value}"
    return f"{param.display_name} ({kind}{'' if param.required else ', optional'})"


def option_problem(command: app_commands.Command, given: list[dict[str, Any]]) -> str | None:
    """What is wrong with the options of a slash command interaction, worded for the user; None if nothing."""
    params = {p.display_name: p for p in command.parameters}
    allowed = "; ".join(describe_option(p) for p in params.values()) or "no options"
    names = set()
    for option in given:
        name, value = option.get("name"), option.get("value")
        names.add(name)
        param = params.get(name)
        if param is None:
            return f"/{command.name} has no option '{name}'. It takes: {allowed}."
        fits = PYTHON_TYPES.get(param.type.value)
        wrong_value = (
            fits is not None
            and "value" in option
            and (not isinstance(value, fits) or (param.type.value != 5 and isinstance(value, bool)))
        )
        if option.get("type") != param.type.value or wrong_value:
            return (
                f"The option {name} of /{command.name} takes {describe_option(param)}. It takes: {allowed}."
            )
    missing = [n for n, p in params.items() if p.required and n not in names]
    if missing:
        return f"/{command.name} needs {', '.join(missing)}. It takes: {allowed}."
    return None
