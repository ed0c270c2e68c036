"""Typed commands ("/mascot hair:blue smile:yes seed:42") for chats without slash-command UI.

The web chat uses this; the words are the same as the Discord options, so a user can
move between the two without learning anything new.
"""

from __future__ import annotations

from bot.core.commands import Commands
from bot.core.reply import Caller, Reply, oops

HELP = """Commands:
/mascot [attribute:value ...] [seed:N] [count:1-4] [model:NAME]
/remix id:GENERATION attribute:value ...   (same seed, changed attributes)
/reroll id:GENERATION                     (same request, new seed)
/morph a:SEED b:SEED [attribute:value ...] [frames:2-64]
/top [day|week|all]    /mystats    /help
admin: /retrain  /rollback [model:NAME]  /status"""


def pairs(text: str) -> dict[str, str]:
    """``"hair:blue smile:yes"`` -> ``{"hair": "blue", "smile": "yes"}``; ValueError names a bad token."""
    found, bare = _options(text.split())
    if bare:
        raise ValueError(f"'{bare[0]}' is not of the form name:value (for example hair:blue).")
    return found


def _options(words: list[str]) -> tuple[dict[str, str], list[str]]:
    pairs, bare = {}, []
    for word in words:
        key, sep, value = word.partition(":")
        if sep and key and value:
            pairs[key.lower()] = value
        else:
            bare.append(word)
    return pairs, bare


def _int(pairs: dict[str, str], key: str) -> int | None:
    if key not in pairs:
        return None
    value = pairs.pop(key)
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"{key} must be a whole number, got '{value}'.") from None


async def run(commands: Commands, caller: Caller, line: str) -> Reply:
    words = line.strip().split()
    if not words or not words[0].startswith("/"):
        return oops("Commands start with a slash, e.g. /mascot hair:blue seed:42. Type /help for the list.")
    name, (pairs, bare) = words[0][1:].lower(), _options(words[1:])
    try:
        return await _dispatch(commands, caller, name, pairs, bare)
    except ValueError as exc:
        return oops(str(exc))


async def _dispatch(commands: Commands, caller: Caller, name: str, pairs: dict[str, str], bare: list[str]) -> Reply:
    if name in ("mascot", "remix", "reroll", "morph") and bare:
        return oops(f"'{bare[0]}' is not of the form name:value (for example hair:blue).")
    if name == "mascot":
        seed, count, model = _int(pairs, "seed"), _int(pairs, "count") or 1, pairs.pop("model", None)
        return await commands.mascot(caller, pairs, seed=seed, count=count, model=model)
    if name == "remix":
        if "id" not in pairs:
            return oops("remix needs id:GENERATION (the id under an image).")
        return await commands.remix(caller, pairs.pop("id"), pairs)
    if name == "reroll":
        if "id" not in pairs:
            return oops("reroll needs id:GENERATION (the id under an image).")
        return await commands.reroll(caller, pairs.pop("id"))
    if name == "morph":
        a, b, frames, model = _int(pairs, "a"), _int(pairs, "b"), _int(pairs, "frames") or 16, pairs.pop("model", None)
        if a is None or b is None:
            return oops("morph needs two seeds: /morph a:1 b:2")
        return await commands.morph(caller, a, b, pairs, model=model, frames=frames)
    if name == "top":
        return commands.top(caller, pairs.get("period") or (bare[0] if bare else "week"))
    if name == "mystats":
        return commands.mystats(caller)
    if name == "retrain":
        return await commands.retrain(caller)
    if name == "rollback":
        return await commands.rollback(caller, pairs.get("model"))
    if name == "status":
        return await commands.status(caller)
    if name == "help":
        return Reply(HELP, ephemeral=True)
    return oops(f"I don't know /{name}. Type /help for the list.")
