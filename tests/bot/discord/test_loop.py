"""The creative loop on Discord: a grid with 1-4 / V1-V4 / 🎲, persistent across a restart;
⭐ and /collection."""

import pytest

from bot.core.commands import DOWN, UP
from tests.bot.discord.harness import Harness


@pytest.fixture
async def grid(core, store):
    """/mascot without seed or count, then a restart: (harness, grid message id, its four generations)."""
    h = Harness(core)
    await h.start()
    token = h.slash("mascot", {"hair": "blue", "smile": "yes"})
    await h.settle()
    calls = h.fake.for_token(token)
    assert calls[0].callback_type == 5  # deferred before drawing
    (post,) = calls[1:]
    assert (
        len(post.files) == 4
        and h.fake.reactions(next(m for m, t in h.fake.posted.items() if t == token)) == []
    )
    ids = [c["custom_id"] for row in post.json["components"] for c in row["components"]]
    mid = next(m for m, t in h.fake.posted.items() if t == token)
    gens = store.by_message(mid)
    by_id = {g.id: g for g in gens}
    order = [i.split(":")[2] for i in ids[:4]]
    assert ids == [f"mascot:pick:{g}" for g in order] + [f"mascot:vary:{g}" for g in order] + [
        f"mascot:regrid:{order[0]}"
    ]
    await h.restart()
    yield h, mid, [by_id[g] for g in order]
    await h.close()


def _posted(h, token):
    return next(m for m, t in h.fake.posted.items() if t == token)


async def test_pick_after_a_restart_posts_one_to_vote_on(grid, store):
    h, mid, gens = grid
    token = h.click(f"mascot:pick:{gens[2].id}", mid, uid=5)
    await h.settle()
    calls = h.fake.for_token(token)
    assert calls[0].callback_type == 5 and len(calls[1].files) == 1
    (picked,) = store.by_message(_posted(h, token))
    assert picked.id == gens[2].id  # the pick is the candidate: one id, now on its own post
    assert f"Picked {gens[2].id}" in calls[1].json["content"]
    assert h.fake.reactions(_posted(h, token)) == [UP, DOWN]


async def test_variations_then_star_then_collection(grid, store):
    h, mid, gens = grid
    token = h.click(f"mascot:vary:{gens[0].id}", mid)
    await h.settle()
    varied = store.by_message(_posted(h, token))
    assert len(varied) == 4 and all(v.latent["vary"] == {"seed": gens[0].seed} for v in varied)
    token = h.click(f"mascot:pick:{varied[1].id}", _posted(h, token))
    await h.settle()
    (picked,) = store.by_message(_posted(h, token))
    star = h.click(f"mascot:star:{picked.id}", _posted(h, token))
    await h.settle()
    (answer,) = h.fake.for_token(star)
    assert answer.ephemeral and "Saved" in answer.content
    assert [g.id for g in store.favourites("1")] == [picked.id]
    shown = h.slash("collection")
    await h.settle()
    calls = h.fake.for_token(shown)
    assert calls[0].callback_type == 5 and any(c.files and c.ephemeral for c in calls[1:])
    again = h.click(f"mascot:star:{picked.id}", _posted(h, token))  # ⭐ again takes it out
    await h.settle()
    assert "Removed" in h.fake.for_token(again)[0].content and store.favourites("1") == []


async def test_regrid_and_fuse(grid, store):
    h, mid, gens = grid
    token = h.click(f"mascot:regrid:{gens[0].id}", mid)
    await h.settle()
    fresh = store.by_message(_posted(h, token))
    assert len(fresh) == 4 and not {g.seed for g in fresh} & {g.seed for g in gens}
    token = h.slash("fuse", {"a": gens[0].id, "b": gens[1].id, "take": "hair:a"})
    await h.settle()
    (child,) = store.by_message(_posted(h, token))
    assert child.latent["fuse"] == [{"seed": gens[0].seed}, {"seed": gens[1].seed}]
    assert all(
        child.attributes[n] in (gens[0].attributes[n], gens[1].attributes[n]) for n in child.attributes
    )
    bad = h.slash("fuse", {"a": gens[0].id, "b": "deadbeef"})
    await h.settle()
    assert any(c.ephemeral and "can't find" in c.content for c in h.fake.for_token(bad))
