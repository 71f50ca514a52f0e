"""Journal locations for tests that run on both stores: a SQLite file, or a PostgreSQL schema.

`journal_backend("sqlite" | "postgres", tmp_path)` gives a `Backend`: a fresh journal location,
how to open it (as `--state` names it, or with an injected clock), and raw SQL on its tables.
The PostgreSQL one is a fresh schema on the server on this machine (`rig.postgres`), dropped
when the block ends.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
from rig.postgres import fresh_schema, query

from reconciler.journal import PostgresStore, Redactor, SQLiteStore, Store, open_store

__all__ = ["Backend", "journal_backend"]


@dataclass(frozen=True)
class Backend:
    """One journal location of one kind: opened as `--state` names it, or with a clock."""

    name: str
    state: str
    schema: str = ""

    def open(
        self, *, redact: Redactor | None = None, clock: Callable[[], datetime] | None = None
    ) -> Store:
        if clock is None:
            return open_store(self.state, redact=redact)
        if self.name == "sqlite":
            return SQLiteStore(Path(self.state), redact=redact, clock=clock)
        return PostgresStore(self.state, redact=redact, clock=clock)

    def sql(self, statement: str) -> list[tuple[Any, ...]]:
        """A raw statement on the journal's tables, through a connection of its own."""
        if self.name == "postgres":
            return query(self.schema, statement)
        conn = sqlite3.connect(self.state)
        try:
            with conn:
                return conn.execute(statement).fetchall()
        finally:
            conn.close()

    @property
    def integrity_error(self) -> type[Exception]:
        return psycopg.IntegrityError if self.name == "postgres" else sqlite3.IntegrityError


@contextlib.contextmanager
def journal_backend(kind: str, tmp_path: Path) -> Iterator[Backend]:
    """A fresh journal of `kind` (`sqlite` in `tmp_path`, or `postgres`)."""
    if kind == "sqlite":
        yield Backend("sqlite", str(tmp_path / "j.sqlite"))
        return
    with fresh_schema() as (url, schema):
        yield Backend("postgres", url, schema)
