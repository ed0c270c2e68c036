"""Typed commands ("/mascot hair:blue smile:yes seed:42") for chats without slash-command UI.

The web chat uses this; the words are the same as the Discord options, so a user can
move between the two without learning anything new.
"""

from __future__ import annotations

import contextlib

from bot.core.commands import Commands
from bot.core.engine_client import EngineError
from bot.core.reply import Caller, Reply, oops

HELP = """Commands (ID is the code under an image):
/mascot [attribute:value ...] [model:NAME]    4 candidates to pick from
/mascot [attribute:value ...] seed:N [count:1-{max_count}]   exactly those seeds
/pick ID              that candidate alone, full size, to vote on and keep
/variations ID        4 variations around it        /reroll ID   4 new seeds
/remix ID attribute:value ...   (same mascot, changed attributes)
/fuse ID ID [attribute:a|b ...]   one child of two mascots
/morph ID ID  or  /morph a:SEED b:SEED [attribute:value ...] [frames:2-64]
/mascotify [attribute:value ...]   your picture as a mascot (the 📷 button here; an attachment on Discord)
/star ID   /unstar ID   /collection    /top [day|week|all]    /mystats    /help
admin: /retrain  /rollback [model:NAME]  /status
       /train (the 🧠 button: pictures or a zip) trains this chat's own model   /forget deletes it"""


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


ONE_ID = {
    "pick": "pick",
    "variations": "variations",
    "vary": "variations",
    "reroll": "reroll",
    "remix": "remix",
    "star": "star",
    "unstar": "unstar",
}


def _ids(pairs: dict[str, str], bare: list[str], keys: tuple[str, ...]) -> list[str]:
    """Generation ids given as key:ID or positionally (``/fuse ID ID`` as ``/fuse a:ID b:ID``)."""
    named = [pairs.pop(k) for k in keys if k in pairs]
    return named + bare


async def _dispatch(
    commands: Commands, caller: Caller, name: str, pairs: dict[str, str], bare: list[str]
) -> Reply:
    if name == "mascot":
        if bare:
            return oops(f"'{bare[0]}' is not of the form name:value (for example hair:blue).")
        seed, count, model = _int(pairs, "seed"), _int(pairs, "count"), pairs.pop("model", None)
        grid = seed is None and count is None  # no seed, no count: candidates to pick from
        return await commands.mascot(caller, pairs, seed=seed, count=count or 1, model=model, grid=grid)
    if name in ONE_ID:
        return await _one_id(commands, caller, ONE_ID[name], pairs, bare)
    if name == "fuse":
        ids = _ids(pairs, bare, ("a", "b"))
        if len(ids) != 2:
            return oops(
                "fuse needs two mascots: /fuse ID ID (or a:ID b:ID), then hair:a to take hair from the first."
            )
        return await commands.fuse(caller, ids[0], ids[1], pairs)
    if name == "mascotify":
        return oops(
            "/mascotify needs a picture: press 📷 and choose one (on Discord, attach it to /mascotify)."
        )
    if name == "collection":
        return commands.collection(caller)
    if name == "morph":
        return await _morph(commands, caller, pairs, bare)
    if name == "top":
        return commands.top(caller, pairs.get("period") or (bare[0] if bare else "week"))
    if name == "mystats":
        return commands.mystats(caller)
    if name == "retrain":
        return await commands.retrain(caller)
    if name == "forget":
        reply = await commands.communities.forget(caller)
        with contextlib.suppress(EngineError):
            await commands.refresh()  # the forgotten model leaves the catalog
        return reply
    if name == "train":
        return oops("Give /train its pictures: the 🧠 button here, or attachments on Discord.")
    if name == "rollback":
        return await commands.rollback(caller, pairs.get("model"))
    if name == "status":
        return await commands.status(caller)
    if name == "help":
        return Reply(HELP.format(max_count=commands.catalog.max_count), ephemeral=True)
    return oops(f"I don't know /{name}. Type /help for the list.")


async def _one_id(
    commands: Commands, caller: Caller, name: str, pairs: dict[str, str], bare: list[str]
) -> Reply:
    ids = _ids(pairs, bare, ("id",))
    if len(ids) != 1:
        return oops(
            f"{name} takes one mascot: /{name} ID (the id under an image)"
            + (" then the changes, like hair:pink." if name == "remix" else ".")
        )
    gen = ids[0]
    if name == "remix":
        return await commands.remix(caller, gen, pairs)
    if pairs:
        return oops(f"/{name} takes only an id; '{next(iter(pairs))}:' is not one of its options.")
    if name == "pick":
        return await commands.pick(caller, gen)
    if name == "variations":
        return await commands.variations(caller, gen)
    if name == "reroll":
        return await commands.reroll(caller, gen, grid=True)
    return commands.star(caller, gen, on=name == "star")


async def _morph(commands: Commands, caller: Caller, pairs: dict[str, str], bare: list[str]) -> Reply:
    frames, model = _int(pairs, "frames") or 16, pairs.pop("model", None)
    ends = [pairs.pop(k) for k in ("a", "b") if k in pairs] + bare
    if len(ends) != 2:
        return oops("morph needs two ends: /morph ID ID (two mascots) or /morph a:SEED b:SEED")
    if all(commands.store.generation(e) is not None for e in ends):
        return await commands.morph_mascots(caller, ends[0], ends[1], frames=frames)
    try:
        a, b = (int(e) for e in ends)
    except ValueError:
        return oops(f"morph ends are two mascot ids or two seeds; '{ends[0]}' / '{ends[1]}' are neither.")
    return await commands.morph(caller, a, b, pairs, model=model, frames=frames)
