import pytest

from bot.core.commands import DOWN, UP
from tests.bot.discord.harness import BOT_ID, Harness


@pytest.fixture
async def posted(core, store):
    """A harness with one mascot posted; yields (harness, message id, generation id)."""
    h = Harness(core)
    await h.start()
    token = h.slash("mascot", {"seed": 21})
    await h.settle()
    message_id = next(mid for mid, t in h.fake.posted.items() if t == token)
    yield h, message_id, store.by_message(message_id)[0].id
    await h.close()


async def test_votes_added_changed_and_removed(posted, store):
    h, mid, gen = posted
    h.react(mid, 1, UP)
    h.react(mid, 2, DOWN)
    h.react(mid, 3, UP)
    await h.settle()
    assert store.votes(gen) == {"1": 1, "2": -1, "3": 1}
    h.react(mid, 1, DOWN)  # changing replaces
    h.react(mid, 3, UP, add=False)  # removing deletes
    await h.settle()
    assert store.votes(gen) == {"1": -1, "2": -1}
    h.react(mid, 1, UP, add=False)  # removing the old 👍 after switching keeps the 👎
    await h.settle()
    assert store.votes(gen) == {"1": -1, "2": -1}


async def test_the_bots_own_reactions_and_other_emoji_are_ignored(posted, store):
    h, mid, gen = posted
    h.react(mid, BOT_ID, UP)
    h.react(mid, 4, "🎉")
    await h.settle()
    assert store.votes(gen) == {}


async def test_votes_count_on_uncached_messages_after_a_restart(posted, store):
    h, mid, gen = posted
    await h.restart()  # a new client: empty message cache, same store
    assert h.client._connection._get_message(mid) is None
    h.react(mid, 5, UP)
    h.react(mid, 6, UP, guild=False)  # DM reactions come without guild or member
    await h.settle()
    assert store.votes(gen) == {"5": 1, "6": 1}


async def test_reactions_on_messages_that_are_not_mascots_do_nothing(posted, store):
    h, _, gen = posted
    h.react(123456789, 1, UP)
    await h.settle()
    assert store.votes(gen) == {}
