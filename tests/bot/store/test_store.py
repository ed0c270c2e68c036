import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from bot.store import Store
from bot.store.migrations import MIGRATIONS


class Clock:
    def __init__(self):
        self.now = datetime(2025, 1, 10, 12, tzinfo=UTC)

    def __call__(self):
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def db(tmp_path, clock):
    s = Store(tmp_path / "t.db", clock=clock)
    yield s
    s.close()


def _gen(store, seed=1, requester="u1", guild="g1", **attrs):
    return store.add_generation(
        engine_id=f"e{seed}",
        model="default",
        version="v1",
        seed=seed,
        attributes=attrs or {"hair": "red"},
        requested={},
        truncation=1.0,
        requester=requester,
        platform="discord",
        guild=guild,
        image=b"png",
    )


def test_wal_mode_and_schema_version(db, tmp_path):
    assert db.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.schema_version == len(MIGRATIONS)
    db.close()
    again = Store(tmp_path / "t.db")  # reopening runs nothing twice
    assert [r[0] for r in again.db.execute("SELECT version FROM schema_version")] == list(
        range(1, len(MIGRATIONS) + 1)
    )


def test_an_old_database_is_migrated_in_place(tmp_path):
    conn = sqlite3.connect(tmp_path / "old.db", isolation_level=None)
    conn.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied TEXT NOT NULL)")
    conn.executescript(MIGRATIONS[0] + "INSERT INTO schema_version VALUES (1, 'then');")
    conn.close()
    store = Store(tmp_path / "old.db")
    assert store.schema_version == len(MIGRATIONS)
    store.set_guild_settings("g", ["c1"], "default")
    assert store.guild_settings("g") == (["c1"], "default")


def test_one_vote_per_user_changing_replaces_removing_deletes(db):
    g = _gen(db)
    db.vote(g.id, "a", 1)
    db.vote(g.id, "a", -1)
    db.vote(g.id, "b", 1)
    assert db.votes(g.id) == {"a": -1, "b": 1} and db.tally(g.id) == (1, 1)
    assert not db.unvote(g.id, "a", 1)  # not the current value: kept
    assert db.unvote(g.id, "a", -1)
    assert db.votes(g.id) == {"b": 1}
    with pytest.raises(ValueError):
        db.vote(g.id, "c", 2)


def test_writes_survive_a_killed_process(tmp_path):
    path = tmp_path / "crash.db"
    code = (
        f"import os; from bot.store import Store; s = Store({str(path)!r}); "
        "g = s.add_generation(engine_id='e', model='m', version='v', seed=1, attributes={}, requested={}, "
        "truncation=1.0, requester='u', platform='web'); s.vote(g.id, 'x', 1); os._exit(9)"
    )
    assert subprocess.run([sys.executable, "-c", code]).returncode == 9
    store = Store(path)
    (row,) = store.db.query("SELECT user, value FROM votes")
    assert row == {"user": "x", "value": 1}


def test_leaderboards_by_day_week_and_all_time(db, clock):
    old = _gen(db, seed=1)
    for u in "abc":
        db.vote(old.id, u, 1)
    clock.now += timedelta(days=3)
    mid = _gen(db, seed=2)
    db.vote(mid.id, "a", 1)
    db.vote(mid.id, "b", 1)
    clock.now += timedelta(days=2, hours=1)
    new = _gen(db, seed=3, guild="g2")
    db.vote(new.id, "a", 1)
    db.vote(new.id, "b", -1)
    assert [r.generation.seed for r in db.top("all")] == [1, 2, 3]
    assert [r.generation.seed for r in db.top("week")] == [1, 2, 3]
    assert [r.generation.seed for r in db.top("day")] == [3]
    clock.now += timedelta(days=3)
    assert [r.generation.seed for r in db.top("week")] == [2, 3]
    assert [r.generation.seed for r in db.top("all", guild="g2")] == [3]
    top = db.top("all")[0]
    assert (top.score, top.up, top.down) == (3, 3, 0)


def test_user_stats(db):
    a, b = _gen(db, seed=1, requester="me"), _gen(db, seed=2, requester="me")
    _gen(db, seed=3, requester="other")
    db.vote(a.id, "x", 1)
    db.vote(b.id, "x", 1)
    db.vote(b.id, "y", 1)
    db.vote(a.id, "me", -1)
    stats = db.user_stats("me")
    assert (stats.generations, stats.votes_cast, stats.up_received, stats.down_received) == (2, 1, 3, 1)
    assert stats.best.generation.id == b.id
    assert db.user_stats("nobody").best is None


def test_messages_images_curation_runs_and_model_versions(db):
    g = _gen(db)
    db.set_message(g.id, 555, channel=777)
    assert [x.id for x in db.by_message(555)] == [g.id] and db.by_message(555)[0].channel == "777"
    assert db.image(g.id) == (b"png", "png")
    for u in "abc":
        db.vote(g.id, u, 1)
    assert [r.generation.id for r in db.curation_candidates(min_voters=3)] == [g.id]
    assert db.curation_candidates(min_voters=4) == []
    run = db.start_curation_run("default", candidates=1)
    db.record_model_version(
        "v2", "default", "candidate", family="dcgan", parent="v1", metrics={"kid": 0.1}, curation_run=run
    )
    db.set_model_status("v2", "rejected", "KID got worse (0.10 > 0.08)")
    db.finish_curation_run(run, "rejected", {"kid": 0.1})
    (v,) = db.model_versions("default")
    assert (v["status"], v["reason"], v["parent"], v["metrics"]) == (
        "rejected",
        "KID got worse (0.10 > 0.08)",
        "v1",
        {"kid": 0.1},
    )
    assert db.curation_runs()[0]["status"] == "rejected"


def test_a_working_curation_run_is_updated_and_found_until_it_finishes(db):
    run = db.start_curation_run("default", details={"trigger": "schedule"})
    db.update_curation_run(run, candidates=12)
    db.update_curation_run(run, details={"trigger": "schedule", "job": "j1", "at": datetime(2025, 1, 1)})
    (running,) = db.running_curation_runs()
    assert (running["id"], running["candidates"]) == (run, 12)
    assert running["details"] == {"trigger": "schedule", "job": "j1", "at": "2025-01-01 00:00:00"}
    db.finish_curation_run(run, "skipped")
    assert db.running_curation_runs() == []


def test_a_running_run_with_unreadable_details_is_still_found(db):
    run = db.start_curation_run("default")
    db.db.execute("UPDATE curation_runs SET details = '{cut short' WHERE id = ?", [run])  # a torn write
    assert [(r["id"], r["details"]) for r in db.running_curation_runs()] == [(run, {})]
