"""A voted variation reaches the nightly fine-tune with its latent recipe, so the engine re-draws
that picture."""

from bot.schedule.config import ScheduleConfig
from bot.schedule.curation import curate, item


def test_a_liked_variation_carries_its_recipe_into_the_job(store):
    recipe = {"vary": {"seed": 5}, "index": 2, "strength": 0.5}
    g = store.add_generation(
        engine_id="e",
        model="default",
        version="v1",
        seed=5,
        attributes={"hair": "red"},
        requested={},
        truncation=1.0,
        requester="u",
        platform="web",
        latent=recipe,
    )
    plain = store.add_generation(
        engine_id="e",
        model="default",
        version="v1",
        seed=6,
        attributes={"hair": "red"},
        requested={},
        truncation=1.0,
        requester="u",
        platform="web",
    )
    for voter in ("a", "b", "c"):
        store.vote(g.id, voter, 1)
        store.vote(plain.id, voter, 1)
    snapshot = store.vote_snapshot(store.now_stamp())
    chosen = curate(snapshot, ScheduleConfig(min_voters=3), {"hair": 3}).chosen
    items = {c.generation: item(c, None) for c in chosen}
    assert items[g.id]["latent"] == recipe and items[g.id]["seed"] == 5
    assert "latent" not in items[plain.id]  # a plain seed stays what older engines understand
