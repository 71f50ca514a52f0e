"""The SQLite journal's schema, as numbered migrations applied in order when a store opens."""

from __future__ import annotations

import sqlite3
from typing import Final

from reconciler.errors import ReconcilerError

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "migrate"]

MIGRATIONS: Final[tuple[str, ...]] = (
    # 1: runs, their actions and steps, and retry bookkeeping.
    """
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY,
        revision TEXT NOT NULL,
        trigger TEXT NOT NULL,
        status TEXT NOT NULL
            CHECK (status IN ('running', 'succeeded', 'failed', 'interrupted')),
        plan_json TEXT NOT NULL,
        started_at TEXT NOT NULL,
        ended_at TEXT
    );
    CREATE INDEX runs_status ON runs (status);
    CREATE TABLE actions (
        id INTEGER PRIMARY KEY,
        run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        action_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        object_kind TEXT NOT NULL,
        object_name TEXT NOT NULL,
        server TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN
            ('pending', 'running', 'succeeded', 'failed', 'skipped', 'undone')),
        error TEXT,
        started_at TEXT,
        ended_at TEXT,
        UNIQUE (run_id, action_id)
    );
    CREATE INDEX actions_object ON actions (object_kind, object_name);
    CREATE INDEX actions_action_id ON actions (action_id);
    CREATE TABLE steps (
        id INTEGER PRIMARY KEY,
        action_row INTEGER NOT NULL REFERENCES actions (id) ON DELETE CASCADE,
        idx INTEGER NOT NULL CHECK (idx >= 0),
        name TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('started', 'done', 'failed', 'undone')),
        output TEXT,
        started_at TEXT NOT NULL,
        ended_at TEXT,
        UNIQUE (action_row, idx)
    );
    CREATE TABLE retries (
        key TEXT PRIMARY KEY,
        attempts INTEGER NOT NULL CHECK (attempts >= 0),
        next_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    """,
)

SCHEMA_VERSION: Final = len(MIGRATIONS)


def _statements(script: str) -> list[str]:
    return [part.strip() for part in script.split(";") if part.strip()]


def migrate(conn: sqlite3.Connection, where: str, now: str) -> int:
    """Bring the schema to `SCHEMA_VERSION` in one transaction; returns the version found.

    `conn` must be in autocommit mode (`isolation_level=None`). A journal written by a newer
    reconciler is refused rather than misread.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_version ("
            " version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)"
        )
        row = conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()
        found = int(row[0])
        if found > SCHEMA_VERSION:
            raise ReconcilerError(
                f"the journal {where} has schema version {found}, newer than this reconciler "
                f"knows ({SCHEMA_VERSION})",
                hint="upgrade the reconciler, or point --state at another journal",
            )
        for version in range(found + 1, SCHEMA_VERSION + 1):
            for statement in _statements(MIGRATIONS[version - 1]):
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_version (version, applied_at) VALUES (?, ?)", (version, now)
            )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return found
