"""SQLite store (sqlite-utils, WAL): generations, votes, curation runs, model versions.

The connection is in autocommit mode, so every write is committed by the statement
that makes it: a vote acknowledged is a vote on disk, even if the process dies next.
Writes are single statements (an upsert, a delete) and therefore atomic on their own, but
for ``redraw``, whose two statements are one transaction.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlite_utils

from bot.store.migrations import migrate

PERIODS = {"day": timedelta(days=1), "week": timedelta(days=7), "all": None}
MAX_FAVOURITES = 150  # per user: a collection, not a second gallery


def utcnow() -> datetime:
    return datetime.now(UTC)


def stamp(when: datetime) -> str:
    # One fixed-width format, so comparing strings compares times.
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


@dataclass(frozen=True)
class Generation:
    id: str
    engine_id: str
    model: str
    version: str
    seed: int
    attributes: dict[str, str]
    requested: dict[str, str]
    truncation: float
    requester: str
    platform: str
    guild: str | None
    channel: str | None
    message: str | None
    created: str
    # The engine's latent recipe of a variation or a fusion ({"vary": ...} / {"fuse": ...});
    # None: the seed's own.
    latent: dict[str, Any] | None = None
    size: int | None = None  # side of the stored picture (None: rows from before the creative loop)

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Generation:
        fields = {k: row.get(k) for k in cls.__dataclass_fields__}
        fields["attributes"] = json.loads(row["attributes"])
        fields["requested"] = json.loads(row["requested"])
        fields["latent"] = json.loads(row["latent"]) if row.get("latent") else None
        return cls(**fields)

    @property
    def derived(self) -> bool:
        """A variation or a fusion: its seed alone does not draw it."""
        return self.latent is not None and set(self.latent) != {"seed"}


@dataclass(frozen=True)
class Ranked:
    """A generation on a leaderboard."""

    generation: Generation
    score: int
    up: int
    down: int


@dataclass(frozen=True)
class UserStats:
    user: str
    generations: int
    votes_cast: int
    up_received: int
    down_received: int
    best: Ranked | None


class Store:
    def __init__(
        self, path: str | Path, clock: Callable[[], datetime] = utcnow, synchronous: str = "FULL"
    ) -> None:
        self.path = str(path)
        self.clock = clock
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: autocommit; check_same_thread=False: the web chat and the Discord
        # client share one event loop, but a thread pool may call in during shutdown.
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
        self.db = sqlite_utils.Database(conn)
        if self.path != ":memory:":
            self.db.enable_wal()
        # FULL fsyncs the WAL at every commit: survives power loss, not only a crashed process.
        if synchronous.upper() not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise ValueError(f"store synchronous must be NORMAL, FULL or EXTRA, got {synchronous!r}")
        conn.execute(f"PRAGMA synchronous={synchronous}")
        conn.execute("PRAGMA foreign_keys=ON")
        self.schema_version = migrate(conn)

    def close(self) -> None:
        self.db.conn.close()

    def _now(self) -> str:
        return stamp(self.clock())

    # --- generations ------------------------------------------------------------
    def add_generation(
        self,
        *,
        engine_id: str,
        model: str,
        version: str,
        seed: int,
        attributes: dict[str, str],
        requested: dict[str, str],
        truncation: float,
        requester: str,
        platform: str,
        guild: str | None = None,
        channel: str | None = None,
        image: bytes | None = None,
        image_format: str = "png",
        latent: dict[str, Any] | None = None,
        size: int | None = None,
    ) -> Generation:
        # The engine's id is deterministic, so two posts of the same picture would collide; each post
        # gets its own id (short: it rides in button custom ids) and keeps the engine's beside it.
        row = dict(
            id=secrets.token_hex(8),
            engine_id=engine_id,
            model=model,
            version=version,
            seed=int(seed),
            attributes=json.dumps(attributes, sort_keys=True),
            requested=json.dumps(requested, sort_keys=True),
            truncation=float(truncation),
            requester=str(requester),
            platform=platform,
            guild=_opt(guild),
            channel=_opt(channel),
            message=None,
            created=self._now(),
            latent=json.dumps(latent, sort_keys=True) if latent else None,
            size=size,
        )
        self.db["generations"].insert(row)
        if image is not None:
            self.db["images"].insert(dict(generation=row["id"], format=image_format, data=image))
        return Generation.from_row(row)

    def redraw(
        self, generation: str, *, engine_id: str, size: int | None, image: bytes, image_format: str
    ) -> None:
        """The same mascot drawn again (a picked candidate at full size): its picture, its size and the
        engine's id of that drawing change together; its id, votes and favourites stay."""
        conn = self.db.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute(
                "UPDATE generations SET engine_id = ?, size = ? WHERE id = ?", [engine_id, size, generation]
            )
            conn.execute(
                "INSERT INTO images (generation, format, data) VALUES (?, ?, ?) ON CONFLICT (generation) "
                "DO UPDATE SET format = excluded.format, data = excluded.data",
                [generation, image_format, image],
            )
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def set_message(self, generation: str, message: str | int, channel: str | int | None = None) -> None:
        updates = {"message": str(message)}
        if channel is not None:
            updates["channel"] = str(channel)
        self.db["generations"].update(generation, updates)

    def generation(self, generation: str) -> Generation | None:
        rows = list(self.db.query("SELECT * FROM generations WHERE id = ?", [generation]))
        return Generation.from_row(rows[0]) if rows else None

    def by_message(self, message: str | int) -> list[Generation]:
        return [
            Generation.from_row(r)
            for r in self.db.query("SELECT * FROM generations WHERE message = ?", [str(message)])
        ]

    def image(self, generation: str) -> tuple[bytes, str] | None:
        rows = list(self.db.query("SELECT data, format FROM images WHERE generation = ?", [generation]))
        return (rows[0]["data"], rows[0]["format"]) if rows else None

    # --- favourites ---------------------------------------------------------------
    def add_favourite(self, user: str | int, generation: str) -> int | None:
        """Star a mascot; the collection's size after it, or None when it is full (MAX_FAVOURITES)."""
        user = str(user)
        # One statement: the count check and the insert cannot interleave with another star.
        self.db.execute(
            "INSERT OR IGNORE INTO favourites (user, generation, created) SELECT ?, ?, ? "
            "WHERE (SELECT COUNT(*) FROM favourites WHERE user = ?) < ?",
            [user, generation, self._now(), user, MAX_FAVOURITES],
        )
        if not self.is_favourite(user, generation):
            return None
        return self.favourite_count(user)

    def remove_favourite(self, user: str | int, generation: str) -> bool:
        return (
            self.db.execute(
                "DELETE FROM favourites WHERE user = ? AND generation = ?", [str(user), generation]
            ).rowcount
            > 0
        )

    def is_favourite(self, user: str | int, generation: str) -> bool:
        return bool(
            list(
                self.db.query(
                    "SELECT 1 FROM favourites WHERE user = ? AND generation = ?", [str(user), generation]
                )
            )
        )

    def favourite_count(self, user: str | int) -> int:
        return next(self.db.query("SELECT COUNT(*) AS n FROM favourites WHERE user = ?", [str(user)]))["n"]

    def favourites(self, user: str | int, limit: int = MAX_FAVOURITES) -> list[Generation]:
        """A user's starred mascots, newest star first."""
        rows = self.db.query(
            "SELECT g.* FROM favourites f JOIN generations g ON g.id = f.generation "
            "WHERE f.user = ? ORDER BY f.created DESC, f.rowid DESC LIMIT ?",
            [str(user), limit],
        )
        return [Generation.from_row(r) for r in rows]

    # --- votes ------------------------------------------------------------------
    def vote(self, generation: str, user: str | int, value: int) -> None:
        """One vote per user and generation: a new value replaces the old one."""
        if value not in (-1, 1):
            raise ValueError("a vote is +1 or -1")
        self.db.execute(
            "INSERT INTO votes (generation, user, value, created) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (generation, user) DO UPDATE SET value = excluded.value, created = excluded.created",
            [generation, str(user), value, self._now()],
        )

    def unvote(self, generation: str, user: str | int, value: int | None = None) -> bool:
        """Remove a user's vote; with ``value``, only if it is still that value (removing 👍 after
        switching to 👎 must not delete the 👎)."""
        sql, args = "DELETE FROM votes WHERE generation = ? AND user = ?", [generation, str(user)]
        if value is not None:
            sql, args = sql + " AND value = ?", [*args, value]
        return self.db.execute(sql, args).rowcount > 0

    def votes(self, generation: str) -> dict[str, int]:
        return {
            r["user"]: r["value"]
            for r in self.db.query("SELECT user, value FROM votes WHERE generation = ?", [generation])
        }

    def tally(self, generation: str) -> tuple[int, int]:
        row = next(
            self.db.query(
                "SELECT COALESCE(SUM(value = 1), 0) AS up, COALESCE(SUM(value = -1), 0) AS down "
                "FROM votes WHERE generation = ?",
                [generation],
            )
        )
        return row["up"], row["down"]

    # --- leaderboards -----------------------------------------------------------
    def top(
        self,
        period: str = "all",
        limit: int = 10,
        guild: str | None = None,
        min_voters: int = 1,
        positive: bool = False,
    ) -> list[Ranked]:
        """Best-scored generations created within ``period`` (day | week | all); ``positive``: score > 0."""
        if period not in PERIODS:
            raise ValueError(f"period must be one of {', '.join(PERIODS)}")
        where, args = ["1 = 1"], []
        if PERIODS[period] is not None:
            where.append("g.created >= ?")
            args.append(stamp(self.clock() - PERIODS[period]))
        if guild is not None:
            where.append("g.guild = ?")
            args.append(str(guild))
        sql = f"""
            SELECT g.*, SUM(v.value) AS score, SUM(v.value = 1) AS up, SUM(v.value = -1) AS down
            FROM generations g JOIN votes v ON v.generation = g.id
            WHERE {" AND ".join(where)}
            GROUP BY g.id HAVING COUNT(v.user) >= ? {"AND SUM(v.value) > 0" if positive else ""}
            ORDER BY score DESC, up DESC, g.created ASC LIMIT ?
        """
        rows = self.db.query(sql, [*args, min_voters, limit])
        return [Ranked(Generation.from_row(r), r["score"], r["up"], r["down"]) for r in rows]

    def user_stats(self, user: str | int) -> UserStats:
        user = str(user)
        made = next(self.db.query("SELECT COUNT(*) AS n FROM generations WHERE requester = ?", [user]))["n"]
        cast = next(self.db.query("SELECT COUNT(*) AS n FROM votes WHERE user = ?", [user]))["n"]
        got = next(
            self.db.query(
                "SELECT COALESCE(SUM(v.value = 1), 0) AS up, COALESCE(SUM(v.value = -1), 0) AS down "
                "FROM votes v JOIN generations g ON g.id = v.generation WHERE g.requester = ?",
                [user],
            )
        )
        best = list(
            self.db.query(
                "SELECT g.*, SUM(v.value) AS score, SUM(v.value = 1) AS up, SUM(v.value = -1) AS down "
                "FROM generations g JOIN votes v ON v.generation = g.id WHERE g.requester = ? "
                "GROUP BY g.id ORDER BY score DESC, up DESC LIMIT 1",
                [user],
            )
        )
        ranked = (
            Ranked(Generation.from_row(best[0]), best[0]["score"], best[0]["up"], best[0]["down"])
            if best
            else None
        )
        return UserStats(user, made, cast, got["up"], got["down"], ranked)

    # --- guild settings ----------------------------------------------------------
    def guild_settings(self, guild: str | int) -> tuple[list[str], str | None]:
        rows = list(self.db.query("SELECT * FROM guild_settings WHERE guild = ?", [str(guild)]))
        if not rows:
            return [], None
        return json.loads(rows[0]["allowed_channels"]), rows[0]["default_model"]

    def set_guild_settings(
        self, guild: str | int, allowed_channels: Iterable[str], default_model: str | None
    ) -> None:
        self.db["guild_settings"].upsert(
            dict(
                guild=str(guild),
                allowed_channels=json.dumps(sorted(set(map(str, allowed_channels)))),
                default_model=default_model,
            ),
            pk="guild",
        )

    # --- a server's own model (bot/core/community.py) -------------------------------
    def community_model(self, guild: str | int) -> dict[str, Any] | None:
        rows = list(self.db.query("SELECT * FROM community_models WHERE guild = ?", [str(guild)]))
        return {**rows[0], "details": _details(rows[0]["details"])} if rows else None

    def community_models(self) -> list[dict[str, Any]]:
        rows = self.db.query("SELECT * FROM community_models ORDER BY created")
        return [{**r, "details": _details(r["details"])} for r in rows]

    def set_community_model(
        self,
        guild: str | int,
        community: str,
        *,
        state: str,
        channel: str | None = None,
        cpu_minutes_budget: float | None = None,
        chunks_posted: int | None = None,
        details: dict | None = None,
    ) -> None:
        """Create or update the server's row; a value left None keeps what was there."""
        old = self.community_model(guild) or {}
        self.db["community_models"].upsert(
            dict(
                guild=str(guild),
                community=community,
                state=state,
                channel=_opt(channel) if channel is not None else old.get("channel"),
                cpu_minutes_budget=cpu_minutes_budget
                if cpu_minutes_budget is not None
                else old.get("cpu_minutes_budget", 0.0),
                chunks_posted=chunks_posted if chunks_posted is not None else old.get("chunks_posted", 0),
                created=old.get("created", self._now()),
                updated=self._now(),
                details=json.dumps(details if details is not None else old.get("details", {})),
            ),
            pk="guild",
        )

    def shared_community_models(self) -> frozenset[str]:
        """The models their servers' managers shared with every server."""
        return frozenset(
            r["community"] for r in self.db.query("SELECT community FROM community_models WHERE shared")
        )

    def share_community_model(self, guild: str | int, shared: bool) -> str | None:
        """Share the server's model with every server, or stop; stopping also takes it off other
        servers' /mascot default. Returns the model's name, None when the server has none."""
        row = self.community_model(guild)
        if row is None:
            return None
        conn = self.db.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute("UPDATE community_models SET shared = ? WHERE guild = ?", [int(shared), str(guild)])
            if not shared:
                conn.execute(
                    "UPDATE guild_settings SET default_model = NULL WHERE default_model = ? AND guild != ?",
                    [row["community"], str(guild)],
                )
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return row["community"]

    def forget_community_model(self, guild: str | int) -> int:
        """Delete the server's row and every mascot its model drew (pictures, votes, stars, curation
        runs), and stop naming it as the server's default; returns the mascots deleted."""
        row = self.community_model(guild)
        if row is None:
            return 0
        model = row["community"]
        ids = [r["id"] for r in self.db.query("SELECT id FROM generations WHERE model = ?", [model])]
        mine = "generation IN (SELECT id FROM generations WHERE model = ?)"
        conn = self.db.conn
        conn.execute("BEGIN IMMEDIATE")  # all of it or none: never votes left without their mascot
        try:
            for table in ("votes", "favourites", "images"):
                conn.execute(f"DELETE FROM {table} WHERE {mine}", [model])
            for table in ("generations", "model_versions", "curation_runs"):
                conn.execute(f"DELETE FROM {table} WHERE model = ?", [model])
            conn.execute(
                "UPDATE guild_settings SET default_model = NULL WHERE guild = ? AND default_model = ?",
                [str(guild), model],
            )
            conn.execute("DELETE FROM community_models WHERE guild = ?", [str(guild)])
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return len(ids)

    # --- curation runs and model versions (written by the nightly scheduler) ------
    def start_curation_run(self, model: str, candidates: int = 0, details: dict | None = None) -> int:
        return (
            self.db["curation_runs"]
            .insert(
                dict(
                    model=model,
                    started=self._now(),
                    status="running",
                    candidates=candidates,
                    details=json.dumps(details or {}),
                )
            )
            .last_pk
        )

    def finish_curation_run(self, run: int, status: str, details: dict | None = None) -> None:
        self.db["curation_runs"].update(
            run, dict(finished=self._now(), status=status, details=json.dumps(details or {}))
        )

    def update_curation_run(
        self, run: int, *, candidates: int | None = None, details: dict | None = None
    ) -> None:
        """What a run that is still working has found so far, so a crash leaves it on record."""
        updates: dict[str, Any] = {}
        if candidates is not None:
            updates["candidates"] = candidates
        if details is not None:
            updates["details"] = json.dumps(details, default=str)
        if updates:
            self.db["curation_runs"].update(run, updates)

    def running_curation_runs(self) -> list[dict[str, Any]]:
        """Runs still marked running, with their details ({} where those cannot be read)."""
        rows = self.db.query("SELECT * FROM curation_runs WHERE status = 'running' ORDER BY id")
        return [{**r, "details": _details(r["details"])} for r in rows]

    def curation_runs(self, limit: int = 10) -> list[dict[str, Any]]:
        rows = self.db.query("SELECT * FROM curation_runs ORDER BY id DESC LIMIT ?", [limit])
        return [{**r, "details": json.loads(r["details"])} for r in rows]

    def record_model_version(
        self,
        version: str,
        model: str,
        status: str,
        *,
        family: str | None = None,
        parent: str | None = None,
        metrics: dict | None = None,
        reason: str = "",
        curation_run: int | None = None,
    ) -> None:
        self.db["model_versions"].upsert(
            dict(
                version=version,
                model=model,
                family=family,
                parent=parent,
                metrics=json.dumps(metrics or {}),
                status=status,
                reason=reason,
                curation_run=curation_run,
                created=self._now(),
            ),
            pk="version",
        )

    def set_model_status(self, version: str, status: str, reason: str = "") -> None:
        self.db["model_versions"].update(version, dict(status=status, reason=reason))

    def model_versions(self, model: str | None = None) -> list[dict[str, Any]]:
        sql, args = "SELECT * FROM model_versions", []
        if model is not None:
            sql, args = sql + " WHERE model = ?", [model]
        rows = self.db.query(sql + " ORDER BY created DESC, rowid DESC", args)
        return [{**r, "metrics": json.loads(r["metrics"])} for r in rows]

    def curation_candidates(
        self, min_voters: int, since: str | None = None, limit: int = 1000
    ) -> list[Ranked]:
        """Well-liked generations (positive score, enough distinct voters) for the nightly fine-tune."""
        where, args = "", []
        if since:
            where, args = "WHERE g.created >= ?", [since]
        rows = self.db.query(
            f"SELECT g.*, SUM(v.value) AS score, SUM(v.value = 1) AS up, SUM(v.value = -1) AS down "
            f"FROM generations g JOIN votes v ON v.generation = g.id {where} GROUP BY g.id "
            f"HAVING COUNT(v.user) >= ? AND SUM(v.value) > 0 ORDER BY score DESC LIMIT ?",
            [*args, min_voters, limit],
        )
        return [Ranked(Generation.from_row(r), r["score"], r["up"], r["down"]) for r in rows]

    # --- web chat sessions (bot/web/session.py) --------------------------------------
    def open_web_session(self) -> tuple[str, str]:
        """A new browser session: (the token for its cookie, the session's id for the store)."""
        token = secrets.token_urlsafe(32)
        digest = hashlib.sha256(token.encode()).hexdigest()
        self.db["web_sessions"].insert({"token_sha256": digest, "created": self._now()})
        return token, _session_id(digest)

    def web_session(self, token: str) -> str | None:
        """The session id a cookie's token stands for, or None for a token this store never gave."""
        digest = hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()
        rows = self.db.execute("SELECT 1 FROM web_sessions WHERE token_sha256 = ?", [digest]).fetchall()
        return _session_id(digest) if rows else None

    # --- leases (bot/schedule: one nightly run at a time) ----------------------------
    def acquire_lease(self, name: str, holder: str, ttl_s: float) -> bool:
        """Take ``name`` for ``ttl_s`` seconds if it is free or expired; one statement, so atomic."""
        now = self.clock()
        cur = self.db.execute(
            "INSERT INTO leases (name, holder, acquired, expires) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, acquired = excluded.acquired, "
            "expires = excluded.expires "
            "WHERE leases.expires < excluded.acquired OR leases.holder = excluded.holder",
            [name, holder, stamp(now), stamp(now + timedelta(seconds=ttl_s))],
        )
        return cur.rowcount > 0

    def release_lease(self, name: str, holder: str) -> None:
        self.db.execute("DELETE FROM leases WHERE name = ? AND holder = ?", [name, holder])

    def lease(self, name: str) -> dict[str, Any] | None:
        rows = list(self.db.query("SELECT * FROM leases WHERE name = ?", [name]))
        return rows[0] if rows else None

    # --- the vote snapshot a curation run reads ----------------------------------------
    def vote_snapshot(self, until: str, model: str | None = None) -> list[dict[str, Any]]:
        """Per generation with votes cast at or before ``until``: up, down, distinct voters.
        Votes after ``until`` (cast while a run works) are left for the next run."""
        where, args = "v.created <= ?", [until]
        if model is not None:
            where, args = where + " AND g.model = ?", [*args, model]
        rows = self.db.query(
            f"SELECT g.id, g.model, g.version, g.seed, g.attributes, g.truncation, g.created, g.latent, "
            f"SUM(v.value = 1) AS up, SUM(v.value = -1) AS down, COUNT(DISTINCT v.user) AS voters "
            "FROM generations g JOIN votes v ON v.generation = g.id "
            f"WHERE {where} GROUP BY g.id ORDER BY g.created",
            args,
        )
        return [
            {
                **r,
                "attributes": json.loads(r["attributes"]),
                "latent": json.loads(r["latent"]) if r["latent"] else None,
            }
            for r in rows
        ]

    def now_stamp(self) -> str:
        return self._now()


def _session_id(digest: str) -> str:
    # Short enough to read in a log, long enough (64 bits) never to collide between browsers.
    return digest[:16]


def _details(text: str | None) -> dict[str, Any]:
    # A run's details are read to close it after a crash; unreadable ones must not keep it open.
    try:
        return json.loads(text or "{}")
    except ValueError:
        return {}


def _opt(value: Any) -> str | None:
    return None if value is None else str(value)
