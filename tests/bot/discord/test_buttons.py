import pytest

from bot.core.commands import DOWN, UP
from tests.bot.discord.harness import Harness, not_found


@pytest.fixture
async def after_restart(core, store):
    """Post a mascot, then restart the client: yields (new harness, message id, generation)."""
    h = Harness(core)
    await h.start()
    token = h.slash("mascot", {"seed": 30, "hair": "green"})
    await h.settle()
    message_id = next(mid for mid, t in h.fake.posted.items() if t == token)
    await h.restart()
    yield h, message_id, store.by_message(message_id)[0]
    await h.close()


async def test_reroll_button_works_after_a_restart(after_restart, store):
    h, mid, gen = after_restart
    token = h.click(f"mascot:reroll:{gen.id}", mid, uid=2)
    await h.settle()
    calls = h.fake.for_token(token)
    assert calls[0].callback_type == 5 and calls[1].files
    new_mid = next(m for m, t in h.fake.posted.items() if t == token)
    (new,) = store.by_message(new_mid)
    assert new.id != gen.id and new.attributes["hair"] == "green" and new.requester == "2"
    assert h.fake.reactions(new_mid) == [UP, DOWN]


async def test_remix_button_opens_a_modal_whose_submit_keeps_the_seed(after_restart, store):
    h, mid, gen = after_restart
    token = h.click(f"mascot:remix:{gen.id}", mid)
    await h.settle()
    (modal,) = h.fake.for_token(token)
    assert modal.callback_type == 9
    data = modal.json["data"]
    (text_input,) = data["components"][0]["components"]  # an action row holding the text input
    assert "hair:green" in text_input["value"]
    submit = h.submit_modal(data["custom_id"], {text_input["custom_id"]: "hair:red"})
    await h.settle()
    new_mid = next(m for m, t in h.fake.posted.items() if t == submit)
    (new,) = store.by_message(new_mid)
    assert (new.seed, new.attributes["hair"], new.attributes["smile"]) == (
        gen.seed,
        "red",
        gen.attributes["smile"],
    )


async def test_button_for_an_unknown_generation_answers_ephemerally(after_restart):
    h, mid, _ = after_restart
    token = h.click("mascot:remix:deadbeef", mid)
    await h.settle()
    (call,) = h.fake.for_token(token)
    assert call.ephemeral and "can't find" in call.content


async def test_expired_button_interaction_10062_is_dropped(after_restart, store):
    h, mid, gen = after_restart
    before = store.db["generations"].count
    h.fake.fail[("POST", "/callback")] = not_found(10062)
    token = h.click(f"mascot:reroll:{gen.id}", mid)
    await h.settle()
    assert [c.callback_type for c in h.fake.for_token(token)] == [5]
    assert store.db["generations"].count == before
