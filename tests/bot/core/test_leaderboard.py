"""/top and /mystats answer with references (who made a mascot, where it was posted), not a chat's markup."""

import pytest

from bot.core.commands import Commands
from bot.core.engine_client import Catalog
from bot.core.limits import RateLimiter
from bot.core.reply import Caller
from bot.core.richtext import Heading, PostRef, UserRef


@pytest.fixture
def core(store):
    return Commands(None, store, Catalog("default", ()), RateLimiter(0))  # these read the store alone


def _voted(store, requester: str, platform: str, message: str | None = None) -> str:
    made = store.add_generation(
        engine_id="e",
        model="default",
        version="v1",
        seed=3,
        attributes={"hair": "red"},
        requested={},
        truncation=1.0,
        requester=requester,
        platform=platform,
        guild="g1" if platform == "discord" else None,
        channel="c1" if platform == "discord" else None,
        image=b"png bytes",
    )
    if message:
        store.set_message(made.id, message, "c1")
    store.vote(made.id, "voter", 1)
    return made.id


def test_top_names_the_maker_and_the_post_as_references(core, store):
    made = _voted(store, "7", "discord", message="m1")
    reply = core.top(Caller("ann", "web"), "day")
    assert reply.parts[0] == Heading("Top mascots today")
    assert UserRef("7", "discord") in reply.parts and PostRef("discord", "g1", "c1", "m1") in reply.parts
    assert reply.text == f"Top mascots today\n1. +1 (👍1 👎0) hair:red · {made} by 7"
    assert reply.generations == (made,) and reply.kind == "thumbs"


def test_mystats_names_the_best_mascot_the_same_way(core, store):
    made = _voted(store, "web:ann", "web")
    reply = core.mystats(Caller("web:ann", "web"))
    assert reply.ephemeral and UserRef("web:ann", "web") in reply.parts
    assert reply.text.endswith(f"Your best: +1 (👍1 👎0) hair:red · {made} by web:ann")
