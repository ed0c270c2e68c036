import pytest

from bot.core import text
from bot.core.commands import Commands
from bot.core.engine_client import Catalog
from bot.core.limits import RateLimiter
from bot.core.reply import Caller
from bot.core.richtext import ChannelRef, Heading, PostRef, UserRef
from tests.bot.core.sized_engine import SizedEngine, png_side

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


async def test_guild_settings_restrict_channels_and_pick_the_model(core):
    admin = Caller("boss", "discord", guild="g", channel="c1", admin=True)
    allowed = core.configure(admin, allow_channel="c1", default_model="default")
    assert allowed.text.startswith("Mascots allowed in #c1;") and ChannelRef("c1") in allowed.parts
    elsewhere = Caller("ann", "discord", guild="g", channel="c2")
    refused = await core.mascot(elsewhere, {})
    assert refused.ephemeral and ChannelRef("c1") in refused.parts and "#c1" in refused.text
    assert (await core.mascot(Caller("ann", "discord", guild="g", channel="c1"), {}, seed=1)).files
    assert (
        await core.mascot(Caller("ann", "discord", channel="dm"), {}, seed=1)
    ).files  # DMs are not a server
    assert (
        core.configure(elsewhere, allow_channel="c2").ephemeral
        and "Only bot admins" in core.configure(elsewhere).text
    )


async def test_count_has_one_limit_the_engines_and_help_says_it(core):
    most = core.catalog.max_count
    from engine.serve.contract import MAX_COUNT  # tests may import the engine; the bot never does

    assert most == MAX_COUNT == 4
    assert f"count:1-{most}]" in (await text.run(core, ANN, "/help")).text
    assert (
        f"count must be from 1 to {most}."
        in (await text.run(core, ANN, f"/mascot seed:1 count:{most + 1}")).text
    )
    assert len((await text.run(core, ANN, f"/mascot seed:1 count:{most}")).files) == most


async def test_typed_commands_parse_like_the_slash_options(core):
    reply = await text.run(core, ANN, "/mascot hair:green smile:yes seed:42")
    assert "hair:green smile:yes" in reply.text and "seed 42" in reply.text
    assert "whole number" in (await text.run(core, ANN, "/mascot seed:abc")).text
    assert "don't know /nope" in (await text.run(core, ANN, "/nope")).text
    assert "/mascot" in (await text.run(core, ANN, "/help")).text
    assert "No votes yet" in (await text.run(core, ANN, "/top day")).text
    assert "period must be" in (await text.run(core, ANN, "/top year")).text
    assert "not configured" in (await text.run(core, Caller("root", "web", admin=True), "/retrain")).text


# --- picture size: the largest size the model offers up to [bot] image_size ---------------------
@pytest.mark.parametrize(
    "sizes, image_size, expected",
    [
        ([128, 256, 512], 512, 512),  # the engine has its upscale stage: the default 512
        ([128], 512, 128),  # no upscale stage: the generator's own size, not a refusal
        ([128, 256], 512, 256),  # an upscaler that stops short of 512: the largest it makes
        ([128, 256, 512], 300, 256),  # a setting between sizes rounds down
        ([512, 128, 256], 512, 512),  # the advertised order does not matter
    ],
)
async def test_mascot_asks_for_the_largest_offered_size_up_to_image_size(
    sized_core, store, sizes, image_size, expected
):
    fake = SizedEngine(sizes=sizes)
    core = await sized_core(fake, image_size=image_size)
    reply = await core.mascot(ANN, {"hair": "blue"}, seed=3, count=2)
    assert not reply.ephemeral, reply.text
    assert [b["size"] for b in fake.bodies("/v1/generate")] == [expected]
    assert [png_side(f.data) for f in reply.files] == [expected, expected]
    assert png_side(store.image(reply.generations[0])[0]) == expected


async def test_the_default_is_512(sized_core):
    fake = SizedEngine(sizes=[128, 256, 512, 1024])
    core = await sized_core(fake)  # no image_size: the bot's default
    await core.mascot(ANN, {}, seed=1)
    assert fake.bodies("/v1/generate")[-1]["size"] == 512


async def test_an_engine_without_sizes_still_makes_mascots(sized_core):
    fake = SizedEngine(sizes=None)  # older than the upscale stage: no "sizes", no image "size"
    core = await sized_core(fake)
    assert core.catalog.get(None).sizes == (128,) and core.catalog.upscaler is None
    reply = await core.mascot(ANN, {"hair": "red"}, seed=1)
    assert not reply.ephemeral and png_side(reply.files[0].data) == 128
    # It is asked for its own resolution, which it serves (an older engine ignores the field anyway).
    assert fake.bodies("/v1/generate")[-1].get("size", 128) == 128


async def test_remix_and_reroll_are_posted_at_the_same_size(sized_core):
    fake = SizedEngine()
    core = await sized_core(fake)
    first = (await core.mascot(ANN, {"hair": "red"}, seed=9)).generations[0]
    remixed = await core.remix(ANN, first, {"hair": "green"})
    rerolled = await core.reroll(ANN, first)
    assert [png_side(r.files[0].data) for r in (remixed, rerolled)] == [512, 512]
    assert [b["size"] for b in fake.bodies("/v1/generate")] == [512, 512, 512]


async def test_image_size_below_every_offered_size_leaves_the_size_to_the_engine(sized_core):
    fake = SizedEngine(sizes=[128, 256, 512])
    core = await sized_core(fake, image_size=64)
    reply = await core.mascot(ANN, {}, seed=1)
    assert "size" not in fake.bodies("/v1/generate")[-1] and png_side(reply.files[0].data) == 128


async def test_a_pick_is_its_candidate_drawn_again_at_full_size(sized_core, store):
    fake = SizedEngine(sizes=[128, 256, 512])
    core = await sized_core(fake)
    grid = await core.mascot(ANN, {"hair": "blue"}, grid=True)
    chosen = grid.generations[2]
    assert png_side(store.image(chosen)[0]) == 256
    picked = await core.pick(ANN, chosen)
    assert picked.kind == "post" and picked.generations == (chosen,)
    assert picked.text.startswith(f"Picked {chosen} at 512 px: hair:blue")
    assert png_side(picked.files[0].data) == png_side(store.image(chosen)[0]) == 512
    row = store.generation(chosen)
    assert row.size == 512
    assert store.db["generations"].count == 4 and fake.bodies("/v1/render")[-1]["size"] == 512


async def test_morph_gifs_stay_at_the_native_size(sized_core):
    fake = SizedEngine()
    core = await sized_core(fake)
    reply = await core.morph(ANN, 1, 2, {"hair": "blue"}, frames=8)
    assert reply.files and reply.files[0].name == "morph-1-2.gif"
    (body,) = fake.bodies("/v1/interpolate")
    assert "size" not in body and body["frames"] == 8


async def test_an_engine_restarted_without_its_upscaler_is_asked_again_at_a_size_it_serves(sized_core):
    fake = SizedEngine(sizes=[128, 256, 512])
    core = await sized_core(fake)
    fake.sizes = [128]  # the catalog the bot read at start-up now promises too much
    reply = await core.mascot(ANN, {}, seed=1)
    assert not reply.ephemeral, reply.text
    assert png_side(reply.files[0].data) == 128
    assert [b["size"] for b in fake.bodies("/v1/generate")] == [512, 128]
    assert [p for p, _ in fake.requests].count("/v1/models") == 2  # start-up + one refresh, no more
    assert core.catalog.get(None).sizes == (128,)
    await core.mascot(ANN, {}, seed=2)  # the refreshed catalog is used from now on: no second refusal
    assert [b["size"] for b in fake.bodies("/v1/generate")] == [512, 128, 128]
    assert [p for p, _ in fake.requests].count("/v1/models") == 2


async def test_the_catalog_is_not_refetched_per_command(sized_core):
    fake = SizedEngine()
    core = await sized_core(fake)
    for seed in range(3):
        await core.mascot(ANN, {}, seed=seed)
    assert [p for p, _ in fake.requests].count("/v1/models") == 1


async def test_status_says_how_large_a_model_is_served(sized_core):
    core = await sized_core(SizedEngine(sizes=[128, 256, 512]))
    assert "(dcgan, 128px, up to 512px)" in (await core.status(Caller("root", "web", admin=True))).text
    core = await sized_core(SizedEngine(sizes=None))
    assert "(dcgan, 128px)" in (await core.status(Caller("root", "web", admin=True))).text


# --- /top and /mystats name users and posts as references, not in a chat's markup ---------------
@pytest.fixture
def store_core(store):
    return Commands(None, store, Catalog("default", ()), RateLimiter())  # these read the store alone


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


def test_top_names_the_maker_and_the_post_as_references(store_core, store):
    made = _voted(store, "7", "discord", message="m1")
    reply = store_core.top(Caller("ann", "web"), "day")
    assert reply.parts[0] == Heading("Top mascots today")
    assert UserRef("7", "discord") in reply.parts and PostRef("discord", "g1", "c1", "m1") in reply.parts
    assert reply.text == f"Top mascots today\n1. +1 (👍1 👎0) hair:red · {made} by 7"
    assert reply.generations == (made,) and reply.kind == "thumbs"


def test_mystats_names_the_best_mascot_the_same_way(store_core, store):
    made = _voted(store, "web:ann", "web")
    reply = store_core.mystats(Caller("web:ann", "web"))
    assert reply.ephemeral and UserRef("web:ann", "web") in reply.parts
    assert reply.text.endswith(f"Your best: +1 (👍1 👎0) hair:red · {made} by web:ann")
