"""A server's own model through raw Discord payloads, against a real engine: 40 pictures
nobody has seen go in through /train (a zip, attachments and a named channel), one tiny
chunk runs in the nightly window, the model appears and /mascot in that server draws from
it, that server's votes fine-tune that model and not the default, and /forget leaves
nothing of it on the engine's disk or in the store."""

from __future__ import annotations

from bot.core.commands import Commands
from bot.core.community import CommunityConfig
from bot.core.engine_client import EngineClient
from bot.core.limits import RateLimiter
from bot.discord.train import post_progress
from bot.schedule.config import ScheduleConfig
from bot.schedule.servers import ServerNights
from tests.bot.community_engine import QUICK_VOTES, community_engine, pictures_zip
from tests.bot.discord.harness import CHANNEL, GUILD, Harness, snowflake
from tests.pictures import picture

__all__ = ["community_engine"]  # the fixture

MANAGE_GUILD = 1 << 5
COMMUNITY = f"discord-{GUILD}"
SOURCE = 700_000_000_000_000_009  # the channel whose attachments /train takes


def _attachment(name: str, data: bytes, cdn: dict) -> dict:
    aid = str(snowflake())
    url = f"https://cdn.example/{aid}/{name}"
    cdn[url] = data
    return {"id": aid, "filename": name, "size": len(data), "url": url, "proxy_url": url}


def _train(h: Harness, files: list[dict], channel: int | None, permissions: int = MANAGE_GUILD) -> str:
    options, resolved = [], {"attachments": {}}
    for i, a in enumerate(files, start=1):
        options.append({"name": f"file{i}", "type": 11, "value": a["id"]})
        resolved["attachments"][a["id"]] = a
    if channel is not None:
        options.append({"name": "channel", "type": 7, "value": str(channel)})
        resolved["channels"] = {
            str(channel): {"id": str(channel), "name": "art", "type": 0, "permissions": "0"}
        }
    data = {"id": str(snowflake()), "name": "train", "type": 1, "options": options, "resolved": resolved}
    return h._interaction(2, data, 1, permissions=permissions)


def _followups(h: Harness, token: str):
    return [c for c in h.fake.for_token(token) if c.method == "POST" and "/webhooks/" in c.path]


async def test_a_server_trains_serves_votes_on_and_forgets_its_own_model(community_engine, store):
    url, communities = community_engine
    folder = communities / COMMUNITY
    engine = EngineClient(url)
    core = Commands(engine, store, await engine.models(), RateLimiter())
    h = Harness(core)
    await h.start()
    cdn: dict[str, bytes] = {}

    async def get_from_cdn(u: str) -> bytes:
        return cdn[u]

    history = [
        {"id": str(snowflake()), "attachments": [_attachment("mascot-39.png", picture(39), cdn)]},
        {"id": str(snowflake()), "attachments": [_attachment("report.pdf", b"%PDF-1.4", cdn)]},
    ]

    async def logs_from(channel_id, limit, **_):
        return history if int(channel_id) == SOURCE else []

    h.client.http.get_from_cdn = get_from_cdn
    h.client.http.logs_from = logs_from
    files = [
        _attachment("ours.zip", pictures_zip(range(38)), cdn),
        _attachment("mascot-38.png", picture(38), cdn),
        _attachment("copy.png", picture(0), cdn),
    ]
    try:
        # Not a manager: refused before anything is read.
        token = _train(h, files, SOURCE, permissions=0)
        await h.settle()
        assert "Only server managers" in h.fake.for_token(token)[-1].content
        assert not folder.exists()

        token = _train(h, files, SOURCE)
        await h.settle(120)
        [answer] = _followups(h, token)
        assert "Took 40 pictures" in answer.content, answer.content
        assert "copy.png is a duplicate of mascot-00.png" in answer.content
        assert "report.pdf is not a picture" in answer.content
        assert "ours.zip/ours/notes.txt is not a picture" in answer.content
        assert "classes of look-alike pictures" in answer.content
        assert [name for name, _ in answer.files] == ["contact_sheet.png"]
        assert len(list((folder / "pictures").iterdir())) == 40

        # The nightly window: one tiny chunk, then its progress post in the server's channel.
        core.communities.cfg = CommunityConfig(poll_s=0.2)
        posted = []

        async def post(row, reply):
            posted.append(reply)
            await post_progress(h.client, row["channel"], reply)

        schedule = ScheduleConfig(**QUICK_VOTES)
        nights = ServerNights(engine, store, schedule, core.communities, post)
        lines = await core.communities.nightly(post)
        assert lines == [f"{COMMUNITY}: chunk 1 finished"], lines
        [progress] = posted
        assert "chunk 1 of" in progress.text and "Measured: precision" in progress.text
        sent = [c for c in h.fake.calls if c.method == "POST" and f"/channels/{CHANNEL}/messages" in c.path]
        assert [name for name, _ in sent[-1].files] == ["seeds-1-16.png"]
        assert store.guild_settings(GUILD)[1] == COMMUNITY  # /mascot there now draws from it

        token = h.slash("mascot", {"seed": 1})
        await h.settle(60)
        drawn = list(store.db.query("SELECT * FROM generations"))
        assert [g["model"] for g in drawn] == [COMMUNITY]
        assert drawn[0]["guild"] == str(GUILD)
        # Another place (a DM) cannot ask for this server's model.
        token = h.slash("mascot", {"seed": 1, "model": COMMUNITY}, guild=False)
        await h.settle()
        assert "is not a model here" in h.fake.for_token(token)[-1].content

        # Votes in this server fine-tune this server's model, never the default.
        message = int(drawn[0]["message"])
        for uid in (11, 12, 13):
            h.react(message, uid, "👍")
        await h.settle()
        outcome = await nights.votes(store.community_model(GUILD))
        assert outcome.status in ("promoted", "rejected"), outcome
        runs = store.curation_runs(5)
        assert [r["model"] for r in runs] == [COMMUNITY]
        assert runs[0]["details"]["curation"]["chosen"]
        job = await engine.call("GET", f"/v1/jobs/{runs[0]['details']['job']}")
        assert f"communities/{COMMUNITY}/" in job["spec"]["data"]  # its own pictures ...
        assert f"communities/{COMMUNITY}/" in job["spec"]["init_from"]  # ... and its own model

        token = h.slash("forget", permissions=MANAGE_GUILD)
        await h.settle(60)
        assert "Forgotten" in h.fake.for_token(token)[-1].content
        assert not folder.exists()
        assert store.community_model(GUILD) is None
        assert list(store.db.query("SELECT * FROM generations WHERE model = ?", [COMMUNITY])) == []
        assert store.guild_settings(GUILD)[1] is None
        assert COMMUNITY not in (await engine.models()).names
    finally:
        await h.close()
        await engine.close()


async def test_a_named_channel_is_read_a_page_at_a_time_up_to_its_last_500_messages():
    from types import SimpleNamespace

    from bot.discord.train import channel_attachments

    asked = []

    async def logs_from(channel_id, limit, before=None):
        asked.append(before)
        start = 0 if before is None else 1000 - before
        count = 100 if len(asked) < 3 else 30
        return [
            {
                "id": str(1000 - start - i - 1),
                "attachments": [{"filename": f"{start + i}.png", "size": 1, "url": "u"}],
            }
            for i in range(count)
        ]

    client = SimpleNamespace(http=SimpleNamespace(logs_from=logs_from))
    found = await channel_attachments(client, SOURCE)
    assert len(found) == 230 and asked == [None, 900, 800]
    assert found[0].name == "0.png" and found[-1].name == "229.png"
