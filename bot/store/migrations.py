"""The store's schema as an ordered list of migrations.

Each entry moves the database from version i to i+1 and is never edited once shipped:
a change is a new entry at the end. ``schema_version`` records which have run, so an
old database file is upgraded in place when a newer bot opens it.
"""

from __future__ import annotations

import sqlite3

MIGRATIONS: tuple[str, ...] = (
    # 1: the tables of docs/design.md ("Store")
    """
    CREATE TABLE generations (
        id TEXT PRIMARY KEY,          -- the bot's own id for one posted image (custom ids carry it)
        engine_id TEXT NOT NULL,      -- the engine's deterministic generation_id
        model TEXT NOT NULL,
        version TEXT NOT NULL,
        seed INTEGER NOT NULL,
        attributes TEXT NOT NULL,     -- JSON: every attribute, as the engine resolved them
        requested TEXT NOT NULL,      -- JSON: what the user asked for (a re-roll keeps these)
        truncation REAL NOT NULL,
        requester TEXT NOT NULL,
        platform TEXT NOT NULL,       -- discord | web
        guild TEXT,
        channel TEXT,
        message TEXT,
        created TEXT NOT NULL
    );
    CREATE INDEX generations_message ON generations(message);
    CREATE INDEX generations_created ON generations(created);
    CREATE INDEX generations_requester ON generations(requester);
    CREATE TABLE images (
        generation TEXT PRIMARY KEY REFERENCES generations(id),
        format TEXT NOT NULL,
        data BLOB NOT NULL            -- the exact pixels people voted on, for curation and the gallery
    );
    CREATE TABLE votes (
        generation TEXT NOT NULL REFERENCES generations(id),
        user TEXT NOT NULL,
        value INTEGER NOT NULL CHECK (value IN (-1, 1)),
        created TEXT NOT NULL,
        PRIMARY KEY (generation, user)
    );
    CREATE INDEX votes_user ON votes(user);
    CREATE TABLE curation_runs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        model TEXT NOT NULL,
        started TEXT NOT NULL,
        finished TEXT,
        status TEXT NOT NULL,         -- running | promoted | rejected | failed
        candidates INTEGER NOT NULL DEFAULT 0,
        details TEXT NOT NULL DEFAULT '{}'
    );
    CREATE TABLE model_versions (
        version TEXT PRIMARY KEY,
        model TEXT NOT NULL,
        family TEXT,
        parent TEXT,
        metrics TEXT NOT NULL DEFAULT '{}',
        status TEXT NOT NULL,         -- serving | candidate | promoted | rejected | retired
        reason TEXT NOT NULL DEFAULT '',
        curation_run INTEGER REFERENCES curation_runs(id),
        created TEXT NOT NULL
    );
    """,
    # 2: per-guild settings (allowed channels, default model)
    """
    CREATE TABLE guild_settings (
        guild TEXT PRIMARY KEY,
        allowed_channels TEXT NOT NULL DEFAULT '[]',
        default_model TEXT
    );
    """,
    # 3: leases (one nightly run at a time; an expired lease is free again, so a crash never holds it)
    """
    CREATE TABLE leases (
        name TEXT PRIMARY KEY,
        holder TEXT NOT NULL,
        acquired TEXT NOT NULL,
        expires TEXT NOT NULL
    );
    CREATE INDEX votes_created ON votes(created);
    """,
    # 4: the creative loop. A variation or a fusion is drawn from a latent recipe (engine/creative.py),
    # not from its seed alone; NULL keeps every earlier row what it was, a plain seed. Favourites: the
    # mascots a user starred, kept beside the votes.
    """
    ALTER TABLE generations ADD COLUMN latent TEXT;
    ALTER TABLE generations ADD COLUMN size INTEGER;
    CREATE TABLE favourites (
        user TEXT NOT NULL,
        generation TEXT NOT NULL REFERENCES generations(id),
        created TEXT NOT NULL,
        PRIMARY KEY (user, generation)
    );
    CREATE INDEX favourites_created ON favourites(user, created);
    """,
    # 5: web chat sessions: a browser's identity is a random token in its cookie; only the token's
    # SHA-256 is kept, so the table cannot be turned back into cookies.
    """
    CREATE TABLE web_sessions (
        token_sha256 TEXT PRIMARY KEY,
        created TEXT NOT NULL
    );
    """,
    # 6: a server's own model (bot/core/community.py). The engine keeps its pictures, data set and
    # versions under ``community`` (also the model's name); the bot keeps where its progress goes, how
    # much of its budget nightly chunks may spend, and which chunks it has posted. Its votes are the
    # generations of that model, so curation per server is curation per model.
    """
    CREATE TABLE community_models (
        guild TEXT PRIMARY KEY,
        community TEXT NOT NULL UNIQUE,
        state TEXT NOT NULL,          -- built | training | spent
        channel TEXT,                 -- where chunk progress is posted
        cpu_minutes_budget REAL NOT NULL,
        chunks_posted INTEGER NOT NULL DEFAULT 0,
        created TEXT NOT NULL,
        updated TEXT NOT NULL,
        details TEXT NOT NULL DEFAULT '{}'
    );
    """,
    # 7: a server's managers may share its model: other servers then see it and may pick it.
    """
    ALTER TABLE community_models ADD COLUMN shared INTEGER NOT NULL DEFAULT 0;
    """,
)


def migrate(conn: sqlite3.Connection) -> int:
    """Run every migration the database has not seen; returns the resulting version."""
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied TEXT NOT NULL)"
    )
    current = conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()[0]
    for version, script in enumerate(MIGRATIONS[current:], start=current + 1):
        # executescript commits first, so the migration and its version row go in one explicit transaction
        conn.executescript(
            f"BEGIN IMMEDIATE;\n{script}\n"
            f"INSERT INTO schema_version VALUES ({version}, datetime('now'));\nCOMMIT;"
        )
    return max(current, len(MIGRATIONS))
