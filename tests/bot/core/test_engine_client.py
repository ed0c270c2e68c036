import asyncio

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.core.engine_client import EngineClient, EngineError, Job, VersionChange
from tests.bot.core.sized_engine import SizedEngine, png_side


async def _engine(handler):
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    server = TestServer(app)
    await server.start_server()
    return server


@pytest.mark.parametrize(
    "status, body, headers, expected",
    [
        (
            400,
            {
                "error": {
                    "code": "invalid_attributes",
                    "message": "'blu' is not a value of 'hair'; allowed: red, blue. Did you mean 'blue'?",
                }
            },
            {},
            "'blu' is not a value of 'hair'; allowed: red, blue. Did you mean 'blue'?",
        ),
        (
            404,
            {"error": {"code": "unknown_model", "message": "unknown model 'x'; available: default"}},
            {},
            "Unknown model 'x'; available: default.",
        ),
        (
            429,
            {"error": {"code": "busy", "message": "queue full"}},
            {"Retry-After": "2"},
            "The image engine is busy; please try again in about 2 s.",
        ),
        (
            500,
            {"error": {"code": "internal", "message": "traceback..."}},
            {},
            "The image engine ran into a problem; please try again later.",
        ),
        (502, "not json", {}, "The image engine ran into a problem; please try again later."),
    ],
)
async def test_errors_become_one_friendly_sentence(status, body, headers, expected):
    async def handler(request):
        if isinstance(body, str):
            return web.Response(status=status, text=body, headers=headers)
        return web.json_response(body, status=status, headers=headers)

    server = await _engine(handler)
    client = EngineClient(str(server.make_url("")))
    with pytest.raises(EngineError) as err:
        await client.generate({"hair": "blu"})
    assert str(err.value) == expected and err.value.status == status
    await client.close()
    await server.close()


async def test_timeout_and_unreachable():
    async def slow(request):
        await asyncio.sleep(5)
        return web.json_response({})

    server = await _engine(slow)
    client = EngineClient(str(server.make_url("")), timeout_s=0.2)
    with pytest.raises(EngineError, match="took too long"):
        await client.models()
    await client.close()
    await server.close()
    client = EngineClient("http://127.0.0.1:9")
    with pytest.raises(EngineError, match="not reachable"):
        await client.models()
    assert not await client.ready()
    await client.close()


@pytest.fixture
async def recorded():
    """An engine that answers the nightly loop's calls and records (method, path, body) of each."""
    seen = []
    answers = {
        ("POST", "/v1/jobs"): {
            "id": "j1",
            "state": "queued",
            "spec": {},
            "result": {},
            "error": "",
            "progress": 0.0,
        },
        ("GET", "/v1/jobs/j1"): {
            "id": "j1",
            "state": "succeeded",
            "error": "",
            "progress": 1.0,
            "result": {"checkpoint": "/jobs/j1/run/model", "evaluation": {"samples": 8}},
        },
        ("POST", "/v1/models/default/promote"): {
            "name": "default",
            "version": "v2",
            "previous": "v1",
            "action": "promote",
        },
        ("POST", "/v1/models/default/rollback"): {
            "name": "default",
            "version": "v1",
            "previous": "v2",
            "action": "rollback",
        },
        ("GET", "/v1/models/default/versions"): {
            "name": "default",
            "current": "v1",
            "previous": None,
            "history": [
                {"action": "promote", "version": "v2", "previous": "v1", "reason": "run 3", "time": 10.0},
                {"action": "rollback", "version": "v1", "previous": "v2", "reason": "admin", "time": 20.0},
            ],
        },
    }

    async def handler(request):
        body = await request.json() if request.can_read_body else None
        seen.append((request.method, request.path, body))
        return web.json_response(answers[(request.method, request.path)])

    server = await _engine(handler)
    client = EngineClient(str(server.make_url("")))
    yield client, seen
    await client.close()
    await server.close()


async def test_a_finetune_job_is_started_and_polled(recorded):
    client, seen = recorded
    job = await client.start_finetune({"model": "default", "curated": [{"seed": 1}], "kind": "train"})
    assert job == Job("j1", "queued") and not job.finished
    # The kind is always finetune, whatever the body says: this method starts nothing else.
    assert seen[0] == ("POST", "/v1/jobs", {"model": "default", "curated": [{"seed": 1}], "kind": "finetune"})
    done = await client.job("j1")
    assert done.finished and done.state == "succeeded" and done.progress == 1.0
    assert done.result["checkpoint"] == "/jobs/j1/run/model" and done.result["evaluation"] == {"samples": 8}
    assert seen[1] == ("GET", "/v1/jobs/j1", None)


async def test_promote_rollback_and_versions(recorded):
    client, seen = recorded
    promoted = await client.promote("default", "/jobs/j1/run/model", "curation run 3: better")
    assert promoted == VersionChange("promote", "v2", "v1")
    assert seen[-1] == (
        "POST",
        "/v1/models/default/promote",
        {"checkpoint": "/jobs/j1/run/model", "reason": "curation run 3: better"},
    )
    rolled = await client.rollback("default", "admin rollback")
    assert (rolled.action, rolled.version, rolled.previous) == ("rollback", "v1", "v2")
    assert seen[-1] == ("POST", "/v1/models/default/rollback", {"reason": "admin rollback"})
    versions = await client.versions("default")
    assert (versions.model, versions.current, versions.previous) == ("default", "v1", None)
    assert versions.history == (
        VersionChange("promote", "v2", "v1", "run 3", 10.0),
        VersionChange("rollback", "v1", "v2", "admin", 20.0),
    )


@pytest.mark.parametrize(
    "call, status, code, message, expected",
    [
        (
            lambda c: c.rollback("default", "admin"),
            409,
            "nothing_to_roll_back",
            "model 'default' has no earlier promoted version to return to",
            "Model 'default' has no earlier promoted version to return to.",
        ),
        (
            lambda c: c.promote("default", "/nope", "run 1"),
            422,
            "promote_refused",
            "no checkpoint at /nope; the current model keeps serving",
            "No checkpoint at /nope; the current model keeps serving.",
        ),
        (
            lambda c: c.start_finetune({"curated": []}),
            400,
            "invalid_job",
            "curated must list at least one image",
            "Curated must list at least one image.",
        ),
        (lambda c: c.job("gone"), 404, "unknown_job", "no job 'gone'", "No job 'gone'."),
        (
            lambda c: c.versions("x"),
            404,
            "unknown_model",
            "unknown model 'x'; available: default",
            "Unknown model 'x'; available: default.",
        ),
    ],
)
async def test_engine_refusals_of_nightly_calls_are_readable(call, status, code, message, expected):
    async def handler(request):
        return web.json_response({"error": {"code": code, "message": message}}, status=status)

    server = await _engine(handler)
    client = EngineClient(str(server.make_url("")))
    with pytest.raises(EngineError) as err:
        await call(client)
    assert str(err.value) == expected and (err.value.status, err.value.code) == (status, code)
    await client.close()
    await server.close()


# --- the upscale stage: sizes in GET /v1/models, size in generate and interpolate ---------------
@pytest.fixture
async def sized():
    fake = SizedEngine(sizes=[128, 256, 512])
    server = TestServer(fake.app())
    await server.start_server()
    client = EngineClient(str(server.make_url("")))
    yield client, fake
    await client.close()
    await server.close()


async def test_models_read_the_offered_sizes(sized):
    client, fake = sized
    fake.sizes = [512, 128, 256]
    catalog = await client.models()
    model = catalog.get(None)
    assert model.sizes == (128, 256, 512) and model.resolution == 128
    assert catalog.upscaler == {"version": "up-1", "scale": 4}


async def test_an_older_engine_without_sizes_serves_its_resolution(sized):
    client, fake = sized
    fake.sizes, fake.resolution = None, 64
    catalog = await client.models()
    assert catalog.get(None).sizes == (64,) and catalog.upscaler is None
    made = await client.generate({}, seed=1, size=64)
    assert made.images[0].size is None and png_side(made.images[0].data) == 64


async def test_size_is_sent_only_when_given(sized):
    client, fake = sized
    plain = await client.generate({"hair": "red"}, seed=1)
    large = await client.generate({"hair": "red"}, seed=1, size=512)
    first, second = fake.bodies("/v1/generate")
    assert "size" not in first and second["size"] == 512
    assert (plain.images[0].size, png_side(plain.images[0].data)) == (128, 128)
    assert (large.images[0].size, png_side(large.images[0].data)) == (512, 512)
    # The same mascot at another size is the same mascot.
    assert plain.images[0].engine_id == large.images[0].engine_id
    await client.interpolate({"seed": 1}, {"seed": 2}, frames=4)
    await client.interpolate({"seed": 1}, {"seed": 2}, frames=4, size=256)
    first, second = fake.bodies("/v1/interpolate")
    assert "size" not in first and second == {"a": {"seed": 1}, "b": {"seed": 2}, "frames": 4, "size": 256}


async def test_a_size_the_model_does_not_offer_is_refused_readably(sized):
    client, fake = sized
    fake.sizes = [128]
    with pytest.raises(EngineError) as err:
        await client.generate({}, size=512)
    assert (err.value.status, err.value.code) == (400, "invalid_size")
    assert str(err.value) == "Size must be one of 128, got 512."


async def test_every_picture_call_asks_the_configured_format():
    asked = []

    async def handler(request):
        asked.append((request.path, (await request.json()).get("format")))
        return web.json_response({"error": {"code": "busy", "message": "busy"}}, status=503)

    server = await _engine(handler)
    client = EngineClient(str(server.make_url("")), image_format="jpeg")
    parent = {"seed": 1, "attributes": {}}
    calls = (
        client.generate({}, seed=1),
        client.variations(parent, count=2),
        client.fuse(parent, {"seed": 2, "attributes": {}}),
        client.render(parent),
        client.invert(b"picture"),
    )
    for call in calls:
        with pytest.raises(EngineError):
            await call
    await client.close()
    await server.close()
    assert [fmt for _, fmt in asked] == ["jpeg"] * 5, asked


def test_a_value_the_model_does_not_offer_is_kept_in_place_but_not_offered():
    from bot.core.engine_client import ModelInfo

    style = {"name": "style", "kind": "choice", "values": ["a", "b", "c"], "prior": [0.5, 0, 0.5]}
    hair = {"name": "hair", "kind": "choice", "values": ["red", "blue"]}  # an engine without priors
    info = ModelInfo.from_json(
        {"name": "default", "version": "v", "resolution": 8, "schema": {"attributes": [style, hair]}}
    )
    spec = info.attribute("style")
    assert spec.values == ("a", "b", "c") and spec.offered == ("a", "c")
    assert info.attribute("hair").offered == ("red", "blue")
    assert spec.check("c") is None
    refused = "style 'b' is not offered by this model (it cannot draw it well yet); offered: a, c"
    assert spec.check("b") == refused
    assert spec.check("x") == "'x' is not a value of 'style'; allowed: a, c."
