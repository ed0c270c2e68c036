"""A server's own model in the store: its row, and forgetting it takes every trace of its mascots."""

from bot.store import Store


def _drawn(store: Store, model: str, guild: str):
    g = store.add_generation(
        engine_id="e",
        model=model,
        version="v1",
        seed=1,
        attributes={"class": "0"},
        requested={},
        truncation=1.0,
        requester="u1",
        platform="discord",
        guild=guild,
        image=b"png",
    )
    store.vote(g.id, "u2", 1)
    store.add_favourite("u2", g.id)
    return g


def test_forgetting_a_server_model_removes_its_row_mascots_votes_and_default(tmp_path):
    store = Store(tmp_path / "bot.db")
    store.set_community_model("42", "discord-42", state="built", channel="7", cpu_minutes_budget=60.0)
    store.set_community_model("42", "discord-42", state="training", chunks_posted=2)
    row = store.community_model("42")
    assert (row["state"], row["channel"], row["cpu_minutes_budget"], row["chunks_posted"]) == (
        "training",
        "7",
        60.0,
        2,
    )
    store.set_guild_settings("42", ["7"], "discord-42")
    ours, shared = _drawn(store, "discord-42", "42"), _drawn(store, "default", "42")
    run = store.start_curation_run("discord-42")
    store.record_model_version("dcgan-1", "discord-42", "serving", curation_run=run)

    assert store.forget_community_model("42") == 1
    assert store.community_model("42") is None and store.community_models() == []
    assert store.generation(ours.id) is None and store.image(ours.id) is None
    assert store.votes(ours.id) == {} and not store.is_favourite("u2", ours.id)
    assert store.model_versions("discord-42") == [] and store.curation_runs() == []
    assert store.guild_settings("42") == (["7"], None)
    assert store.generation(shared.id) is not None and store.votes(shared.id) == {
        "u2": 1
    }  # the default's stay
    assert store.forget_community_model("42") == 0  # twice is harmless
    store.close()


def test_a_shared_model_is_listed_and_unsharing_takes_it_off_other_servers(tmp_path):
    store = Store(tmp_path / "bot.db")
    assert store.share_community_model("42", True) is None  # no model of its own yet
    store.set_community_model("42", "discord-42", state="built", channel="7", cpu_minutes_budget=60.0)
    assert store.shared_community_models() == frozenset()
    assert store.share_community_model("42", True) == "discord-42"
    store.set_community_model("42", "discord-42", state="training", chunks_posted=1)  # keeps the share
    assert store.shared_community_models() == {"discord-42"}
    store.set_guild_settings("43", [], "discord-42")
    store.set_guild_settings("42", [], "discord-42")
    store.share_community_model("42", False)
    assert store.shared_community_models() == frozenset()
    assert store.guild_settings("43") == ([], None) and store.guild_settings("42") == ([], "discord-42")
