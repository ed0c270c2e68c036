"""The chat side of a server's own model: what /train reads from attachments and zips, who may
use the model, and a nightly pass that posts each finished chunk exactly once, across restarts."""

from __future__ import annotations

import io
import zipfile
from typing import Any

from bot.core.community import Communities, CommunityConfig, unpack, visible
from bot.core.engine_client import EngineError
from bot.core.reply import Caller


def _zip(entries: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in entries.items():
            z.writestr(name, data)
    return buf.getvalue()


def test_pictures_come_from_attachments_and_zips_and_the_rest_is_named():
    files = [
        ("a.png", b"png"),
        ("notes.docx", b"doc"),
        (
            "set.zip",
            _zip({"x/b.webp": b"w", "x/readme.txt": b"t", "__MACOSX/x/._b.webp": b"", "x/.hidden.png": b""}),
        ),
        ("broken.zip", b"PK not really"),
    ]
    pictures, refused = unpack(files)
    assert pictures == [("a.png", b"png"), ("b.webp", b"w")]
    assert {r["file"] for r in refused} == {"notes.docx", "set.zip/x/readme.txt", "broken.zip"}
    assert "not a zip file" in next(r["reason"] for r in refused if r["file"] == "broken.zip")


def test_a_zip_over_the_limits_is_refused_whole(monkeypatch):
    import bot.core.community as community

    monkeypatch.setattr(community, "MAX_ZIP_ENTRIES", 2)
    pictures, refused = unpack([("many.zip", _zip({f"{i}.png": b"p" for i in range(3)}))])
    assert (
        pictures == []
        and "holds 3 files" in refused[0]["reason"]
        and "at most 2 files" in refused[0]["reason"]
    )


def test_a_servers_model_is_seen_only_in_that_server():
    here = Caller("1", "discord", guild="42")
    assert visible("discord-42", here) and visible("default", here)
    assert not visible("discord-43", here)
    assert not visible("discord-42", Caller("1", "discord"))  # a DM
    assert visible("web-chat", Caller("web:abc", "web")) and not visible("web-chat", here)


class FakeCommunities:
    """The engine's community routes, scripted: a chunk finishes as soon as it starts."""

    def __init__(self) -> None:
        self.chunks: list[dict[str, Any]] = []
        self.started = 0
        self.budget_left = True

    async def status(self, community: str) -> dict[str, Any]:
        return {
            "running": False,
            "chunks": list(self.chunks),
            "chunks_planned": 3,
            "cpu_minutes_spent": 10.0 * len(self.chunks),
            "cpu_minutes_budget": 30.0,
            "version": "v1" if self.chunks else None,
        }

    async def start_chunk(self, community: str, minutes: float = 0.0) -> dict[str, Any]:
        if not self.budget_left:
            raise EngineError("spent", 409, "budget_spent")
        self.started += 1
        self.chunks.append(_chunk(len(self.chunks) + 1))
        return {"state": "running"}

    async def grid(self, community: str) -> bytes:
        return b"grid"


def _chunk(n: int) -> dict[str, Any]:
    gate = {
        "candidate": {"precision": 0.1, "recall": 0.2, "attr_precision": 0.5, "kid": 0.3},
        "shipped": None,
    }
    return {
        "n": n,
        "outcome": "finished",
        "minutes": 1.0,
        "gate": gate,
        "passed": True,
        "version": "v1",
        "grid": "grid.png",
    }


async def test_each_chunk_is_posted_once_even_when_the_bot_restarted_in_between(store):
    fake = FakeCommunities()
    store.set_community_model("42", "discord-42", state="built", channel="7", cpu_minutes_budget=30.0)
    fake.chunks.append(_chunk(1))  # finished while the bot was down: not posted yet
    posts: list[str] = []

    async def post(row, reply):
        posts.append(reply.text.splitlines()[0])

    communities = Communities(fake, store, CommunityConfig(poll_s=0.0))  # type: ignore[arg-type]
    await communities.nightly(post)
    head = "Training this server's mascot model: chunk"
    assert posts == [f"{head} 1 of 3 (finished, 1.0 min; 10.0 of 30 CPU minutes spent).", posts[1]]
    assert posts[1].startswith(f"{head} 2 of 3 (finished")
    assert store.community_model("42")["chunks_posted"] == 2
    assert store.guild_settings("42")[1] == "discord-42"  # /mascot there now draws from it

    restarted = Communities(fake, store, CommunityConfig(poll_s=0.0))  # type: ignore[arg-type]
    fake.budget_left = False
    lines = await restarted.nightly(post)
    assert len(posts) == 2 and "budget is spent" in lines[0]
    assert store.community_model("42")["state"] == "spent"


async def test_a_shared_server_model_is_seen_and_picked_by_other_servers(core, store):
    from dataclasses import replace

    from bot.core.commands import Admitted
    from bot.core.engine_client import Catalog

    default = core.catalog.get(None)
    core.catalog = Catalog(default.name, (default, replace(default, name="discord-g1")))
    owner = Caller("boss", "discord", guild="g1", channel="c", admin=True)
    other = Caller("ann", "discord", guild="g2", channel="c", admin=True)
    assert "not a model here" in core.configure(other, default_model="discord-g1").text
    assert "no model of its own" in core.configure(other, share=True).text
    store.set_community_model("g1", "discord-g1", state="built", channel="c", cpu_minutes_budget=60.0)
    shared = core.configure(owner, share=True)
    assert "shared: other servers may pick it with /settings model:discord-g1" in shared.text
    assert "discord-g1" in core.models_for(other)
    assert isinstance(core.admit(other, {}, "discord-g1"), Admitted)
    assert "default model: discord-g1" in core.configure(other, default_model="discord-g1").text
    core.configure(owner, share=False)
    assert "discord-g1" not in core.models_for(other) and store.guild_settings("g2")[1] is None
    assert "not a model here" in core.admit(other, {}, "discord-g1").text
    assert "discord-g1" in core.models_for(owner)
