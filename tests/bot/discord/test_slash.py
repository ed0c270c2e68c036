import io

import pytest
from PIL import Image

from bot.config import BotConfig
from bot.core.commands import DOWN, UP
from bot.core.limits import RateLimit, RateLimiter
from tests.bot.discord.harness import GUILD, Harness, not_found


@pytest.fixture
async def discord_bot(core):
    h = Harness(core)
    await h.start()
    yield h
    await h.close()


async def test_mascot_defers_then_posts_png_with_votes_and_buttons(discord_bot, store):
    h = discord_bot
    token = h.slash("mascot", {"hair": "blue", "smile": "yes", "seed": 42})
    await h.settle()
    calls = h.fake.for_token(token)
    assert calls[0].callback_type == 5  # deferred "thinking"
    followup = calls[1]
    assert followup.method == "POST" and "/webhooks/" in followup.path
    ((name, png),) = followup.files
    assert name == "mascot-42.png" and Image.open(io.BytesIO(png)).size == (32, 32)
    assert "hair:blue" in followup.content and "seed 42" in followup.content
    custom_ids = [c["custom_id"] for row in followup.json["components"] for c in row["components"]]
    message_id = next(mid for mid, t in h.fake.posted.items() if t == token)
    (gen,) = store.by_message(message_id)
    assert custom_ids == [f"mascot:{a}:{gen.id}" for a in ("reroll", "remix", "vary", "star")]
    assert (gen.seed, gen.attributes["hair"], gen.attributes["smile"], gen.requester) == (
        42,
        "blue",
        "yes",
        "1",
    )
    assert store.image(gen.id)[0] == png
    assert h.fake.reactions(message_id) == [UP, DOWN]


async def test_count_posts_one_message_per_image(discord_bot, store):
    token = discord_bot.slash("mascot", {"seed": 7, "count": 3})
    await discord_bot.settle()
    posts = [c for c in discord_bot.fake.for_token(token) if c.files]
    assert [c.files[0][0] for c in posts] == ["mascot-7.png", "mascot-8.png", "mascot-9.png"]
    assert len({g.id for mid in discord_bot.fake.posted for g in store.by_message(mid)}) == 3


async def test_bad_value_answers_ephemerally_with_the_allowed_values(discord_bot, store):
    token = discord_bot.slash("mascot", {"hair": "blu"})
    await discord_bot.settle()
    (call,) = discord_bot.fake.for_token(token)
    assert call.callback_type == 4 and call.ephemeral  # answered at once, not deferred
    assert "allowed: red, green, blue" in call.content and "Did you mean 'blue'?" in call.content
    assert store.top("all") == [] and not discord_bot.fake.posted


async def test_attribute_options_are_choices_from_the_engine_schema(discord_bot):
    command = discord_bot.client.tree.get_command("mascot")
    params = {p.display_name: p for p in command.parameters}
    assert [c.value for c in params["hair"].choices] == ["red", "green", "blue"]
    assert [c.value for c in params["smile"].choices] == ["no", "yes"]
    assert (params["seed"].min_value, params["seed"].max_value) == (0, 2**31 - 1)
    assert not any(p.required for p in command.parameters)


async def test_dm_works(discord_bot, store):
    token = discord_bot.slash("mascot", {"seed": 3}, uid=55, guild=False)
    await discord_bot.settle()
    assert discord_bot.fake.for_token(token)[1].files
    (gen,) = [g for mid in discord_bot.fake.posted for g in store.by_message(mid)]
    assert gen.guild is None and gen.requester == "55"


async def test_expired_interaction_10062_is_dropped_quietly(discord_bot, store):
    discord_bot.fake.fail[("POST", "/callback")] = not_found(10062)
    token = discord_bot.slash("mascot", {"seed": 5})
    await discord_bot.settle()
    assert [c.callback_type for c in discord_bot.fake.for_token(token)] == [5]  # tried once, nothing after
    assert store.top("all") == []


async def test_deleted_message_10008_while_reacting_is_dropped_quietly(discord_bot, store):
    discord_bot.fake.fail[("PUT", "/reactions/")] = not_found(10008)
    token = discord_bot.slash("mascot", {"seed": 6})
    await discord_bot.settle()
    message_id = next(mid for mid, t in discord_bot.fake.posted.items() if t == token)
    assert discord_bot.fake.reactions(message_id) == [UP]  # stopped after the first 10008
    assert store.by_message(message_id)


async def test_rate_limit_refuses_ephemerally(core, store):
    core.limiter = RateLimiter(RateLimit(burst=1, per_minute=1))
    h = Harness(core, BotConfig())
    await h.start()
    first, second = h.slash("mascot", {"seed": 1}), h.slash("mascot", {"seed": 2})
    await h.settle()
    await h.close()
    assert h.fake.for_token(first)[0].callback_type == 5
    refusal = h.fake.for_token(second)[0]
    assert refusal.ephemeral and "another mascot in" in refusal.content


async def test_autocomplete_is_served_for_models(discord_bot):
    token = discord_bot.autocomplete("mascot", "model", "def")
    await discord_bot.settle()
    (call,) = discord_bot.fake.for_token(token)
    assert call.callback_type == 8 and call.json["data"]["choices"] == [
        {"name": "default", "value": "default"}
    ]


async def test_top_and_mystats(discord_bot, store):
    token = discord_bot.slash("mascot", {"seed": 11, "hair": "red"}, uid=7)
    await discord_bot.settle()
    message_id = next(mid for mid, t in discord_bot.fake.posted.items() if t == token)
    discord_bot.react(message_id, 8, UP)
    await discord_bot.settle()
    top = discord_bot.slash("top", {"period": "day"})
    stats = discord_bot.slash("mystats", uid=7)
    await discord_bot.settle()
    (top_call,) = discord_bot.fake.for_token(top)
    assert "+1" in top_call.content and "hair:red" in top_call.content and "<@7>" in top_call.content
    (stats_call,) = discord_bot.fake.for_token(stats)
    assert (
        stats_call.ephemeral and "You made 1 mascot" in stats_call.content and f"1 {UP}" in stats_call.content
    )


async def test_admin_commands_need_an_admin_and_say_not_configured(core):
    h = Harness(core, BotConfig(admins=("99",)))
    await h.start()
    denied, allowed = h.slash("retrain", uid=5), h.slash("retrain", uid=99)
    status = h.slash("status", uid=99)
    await h.settle()
    await h.close()
    assert "Only bot admins" in h.fake.for_token(denied)[-1].content
    assert "not configured" in h.fake.for_token(allowed)[-1].content
    assert "default" in h.fake.for_token(status)[-1].content and h.fake.for_token(status)[-1].ephemeral


def _mascotify(h, png: bytes, content_type: str = "image/png", keep: str | None = None) -> str:
    """A /mascotify interaction with one attachment, as Discord sends it (the file comes from the CDN)."""
    attachment = {
        "id": "991",
        "filename": "me.png",
        "size": len(png),
        "url": "https://cdn.example/me.png",
        "proxy_url": "https://cdn.example/me.png",
        "content_type": content_type,
    }
    options = [{"name": "picture", "type": 11, "value": "991"}]
    if keep:
        options.append({"name": "keep", "type": 3, "value": keep})
    data = {
        "id": "77",
        "name": "mascotify",
        "type": 1,
        "options": options,
        "resolved": {"attachments": {"991": attachment}},
    }

    async def from_cdn(url: str) -> bytes:
        assert url == attachment["url"]
        return png

    h.client.http.get_from_cdn = from_cdn
    return h._interaction(2, data, 1)


async def test_mascotify_defers_then_posts_four_candidates_from_the_attachment(discord_bot, store):
    buf = io.BytesIO()
    Image.new("RGB", (40, 40), (30, 40, 220)).save(buf, format="PNG")
    token = _mascotify(discord_bot, buf.getvalue(), keep="hair:blue")
    await discord_bot.settle()
    calls = discord_bot.fake.for_token(token)
    assert calls[0].callback_type == 5  # deferred before the search
    post = next(c for c in calls if c.files)
    assert len(post.files) == 4 and "picture" in post.content
    gens = [g for mid in discord_bot.fake.posted for g in store.by_message(mid)]
    assert len(gens) == 4 and all(g.attributes["hair"] == "blue" for g in gens)
    # The search's steps edit the "thinking" message, which goes once the candidates are posted.
    edits = [c for c in calls if c.method == "PATCH" and c.path.endswith("/messages/@original")]
    assert edits[0].content == "Turning your picture into a mascot: step 0 of 5 ▱▱▱▱▱▱▱▱▱▱"
    assert all(calls.index(e) < calls.index(post) for e in edits)
    (gone,) = [c for c in calls if c.method == "DELETE"]
    assert gone.path.endswith("/messages/@original") and calls.index(gone) > calls.index(post)


async def test_mascotify_refuses_what_is_not_a_picture_at_once(discord_bot, store):
    token = _mascotify(discord_bot, b"%PDF-1.4", content_type="application/pdf")
    await discord_bot.settle()
    (call,) = discord_bot.fake.for_token(token)
    assert call.callback_type == 4 and call.ephemeral and "PNG, JPEG or WebP" in call.content
    assert not discord_bot.fake.posted


async def test_a_manager_switches_the_servers_model_with_settings_model(discord_bot, store):
    manage_guild = 1 << 5
    discord_bot.slash("settings", {"model": "default"})
    await discord_bot.settle()
    assert store.guild_settings(GUILD) == ([], None)  # only a server's managers change it
    token = discord_bot.slash("settings", {"model": "default"}, permissions=manage_guild)
    await discord_bot.settle()
    assert discord_bot.fake.for_token(token)[0].callback_type == 4
    assert store.guild_settings(GUILD)[1] == "default"
