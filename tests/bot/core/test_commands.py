from bot.core import text
from bot.core.limits import RateLimiter
from bot.core.reply import Caller

ANN = Caller("ann", "web", admin=False)


async def test_mascot_stores_each_image_with_what_was_asked(core, store):
    reply = await core.mascot(ANN, {"hair": "Blue"}, seed=5, count=2)
    assert [f.name for f in reply.files] == ["mascot-5.png", "mascot-6.png"]
    gens = [store.generation(g) for g in reply.generations]
    assert [g.seed for g in gens] == [5, 6] and all(g.requested == {"hair": "blue"} for g in gens)
    assert all(g.attributes["hair"] == "blue" and g.version.startswith("dcgan-") for g in gens)


async def test_reroll_keeps_the_request_and_draws_a_new_seed(core, store):
    first = (await core.mascot(ANN, {"hair": "red"}, seed=5)).generations[0]
    again = store.generation((await core.reroll(ANN, first)).generations[0])
    assert again.requested == {"hair": "red"} and again.attributes["hair"] == "red" and again.id != first


async def test_refusals_are_ephemeral_and_say_what_is_allowed(core):
    for attrs, kwargs, expected in [
        ({"hair": "pink"}, {}, "allowed: red, green, blue"),
        ({"hat": "yes"}, {}, "known attributes: hair, smile"),
        ({}, {"count": 5}, "count must be from 1 to 4"),
        ({}, {"model": "nope"}, "available: default"),
    ]:
        reply = await core.mascot(ANN, attrs, **kwargs)
        assert reply.ephemeral and expected in reply.text and not reply.files


async def test_rate_limit_per_user():
    clock = [0.0]
    limiter = RateLimiter(2, clock=lambda: clock[0])
    assert limiter.acquire("a") == 0 and limiter.acquire("a") == 0 and limiter.acquire("b") == 0
    assert limiter.acquire("a") == 60
    clock[0] = 59.0
    assert limiter.acquire("a") == 1
    clock[0] = 60.0
    assert limiter.acquire("a") == 0


async def test_guild_settings_restrict_channels_and_pick_the_model(core):
    admin = Caller("boss", "discord", guild="g", channel="c1", admin=True)
    assert "Mascots allowed in <#c1>" in core.configure(admin, allow_channel="c1", default_model="default").text
    elsewhere = Caller("ann", "discord", guild="g", channel="c2")
    refused = await core.mascot(elsewhere, {})
    assert refused.ephemeral and "<#c1>" in refused.text
    assert (await core.mascot(Caller("ann", "discord", guild="g", channel="c1"), {}, seed=1)).files
    assert (await core.mascot(Caller("ann", "discord", channel="dm"), {}, seed=1)).files  # DMs are not a server
    assert core.configure(elsewhere, allow_channel="c2").ephemeral and "Only bot admins" in core.configure(elsewhere).text


async def test_typed_commands_parse_like_the_slash_options(core):
    reply = await text.run(core, ANN, "/mascot hair:green smile:yes seed:42")
    assert "hair:green smile:yes" in reply.text and "seed 42" in reply.text
    assert "whole number" in (await text.run(core, ANN, "/mascot seed:abc")).text
    assert "don't know /nope" in (await text.run(core, ANN, "/nope")).text
    assert "/mascot" in (await text.run(core, ANN, "/help")).text
    assert "No votes yet" in (await text.run(core, ANN, "/top day")).text
    assert "period must be" in (await text.run(core, ANN, "/top year")).text
    assert "not configured" in (await text.run(core, Caller("root", "web", admin=True), "/retrain")).text
