"""Every interaction gets an answer: buttons and forms no registered handler knows, skin-tone
votes, and a remix form sent back unchanged (raw gateway payloads through the harness)."""

from __future__ import annotations

import pytest

from bot.core.commands import DOWN, UP
from bot.discord.buttons import DYNAMIC, EXPIRED, EXPIRED_FORM, NOTHING_TO_CHANGE, is_ours
from tests.bot.discord.harness import Harness


@pytest.fixture
async def h(core):
    harness = Harness(core)
    await harness.start()
    yield harness
    await harness.close()


async def _posted(h: Harness, store):
    token = h.slash("mascot", {"seed": 30, "hair": "green"})
    await h.settle()
    mid = next(m for m, t in h.fake.posted.items() if t == token)
    return mid, store.by_message(mid)[0]


@pytest.mark.parametrize(
    "custom_id",
    [
        "mascot:vote:up",
        "mascot:reroll:DEADBEEF",
        "mascot:pick:zz",
        "x" * 100,
        "mascot:star:" + "a" * 41,
        "",
        "mascot:remix-form:abc",  # a form's id arriving as a click
    ],
)
async def test_a_click_no_button_answers_is_told_it_expired(h, custom_id):
    token = h.click(custom_id, message_id=555)
    await h.settle()
    (call,) = h.fake.for_token(token)
    assert call.callback_type == 4 and call.ephemeral and call.content == EXPIRED


@pytest.mark.parametrize("custom_id", ["mascot:feedback", "mascot:remix-form:XYZ", "z" * 100])
async def test_a_form_no_handler_knows_is_told_it_expired(h, custom_id):
    token = h.submit_modal(custom_id, {"changes": "hair:red"})
    await h.settle()
    (call,) = h.fake.for_token(token)
    assert call.callback_type == 4 and call.ephemeral and call.content == EXPIRED_FORM


async def test_a_known_button_is_answered_once_not_also_as_expired(h, store):
    mid, gen = await _posted(h, store)
    token = h.click(f"mascot:star:{gen.id}", mid)
    await h.settle()
    (call,) = h.fake.for_token(token)
    assert call.content != EXPIRED


def test_every_registered_button_is_recognised_as_ours():
    for cls in DYNAMIC:
        assert is_ours(cls("0123abcd").item.custom_id), cls.__name__


@pytest.mark.parametrize("tone", ["", "\U0001f3fb", "\U0001f3fc", "\U0001f3fd", "\U0001f3fe", "\U0001f3ff"])
async def test_thumbs_in_every_skin_tone_are_votes(h, store, tone):
    mid, gen = await _posted(h, store)
    h.react(mid, 7, UP + tone)
    h.react(mid, 8, DOWN + tone)
    await h.settle()
    assert store.votes(gen.id) == {"7": 1, "8": -1}
    h.react(mid, 7, UP + tone, add=False)
    await h.settle()
    assert store.votes(gen.id) == {"8": -1}


async def test_a_remix_form_sent_back_unchanged_says_what_to_change(h, store):
    mid, gen = await _posted(h, store)
    opened = h.click(f"mascot:remix:{gen.id}", mid)
    await h.settle()
    (modal,) = h.fake.for_token(opened)
    form = modal.json["data"]
    (field,) = form["components"][0]["components"]
    posts_before = len(h.fake.posted)
    submit = h.submit_modal(form["custom_id"], {field["custom_id"]: field.get("value", "")})
    await h.settle()
    (call,) = h.fake.for_token(submit)
    assert call.ephemeral and call.content == NOTHING_TO_CHANGE
    assert len(h.fake.posted) == posts_before  # nothing reposted
    empty = h.submit_modal(form["custom_id"], {field["custom_id"]: "  "})
    await h.settle()
    (call,) = h.fake.for_token(empty)
    assert call.ephemeral and call.content == NOTHING_TO_CHANGE
