"""The PostgreSQL journal's connection: `PostgresSession` opens it (and sets up the schema), keeps
it (opened again when it broke, never after `close`), runs every write in one transaction and
every read in one transaction (REPEATABLE READ for a snapshot), retried once on a new
connection; a broken connection is a `TransientError`. Calls are serialised, so one object may
be used from several threads. Queries name the schema as `{s}`; `_q` puts in the quoted schema.

`PostgresStore` (`reconciler.journal.postgres`) is the journal's queries on top of it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, LiteralString, Self, TypeVar

import psycopg
from psycopg import Connection, sql
from psycopg.rows import TupleRow

from reconciler.errors import ReconcilerError, TransientError
from reconciler.journal.model import Redactor, Stamping
from reconciler.journal.pgconn import PostgresTarget, connect, one_line, parse_postgres_url
from reconciler.journal.schema import migrate_postgres

__all__ = ["PostgresSession"]

_T = TypeVar("_T")


class PostgresSession(Stamping):
    """A connection to the journal in the schema of the PostgreSQL database `url` names."""

    def __init__(
        self,
        url: str,
        *,
        redact: Redactor | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.target: PostgresTarget = parse_postgres_url(url)
        self.where = self.target.where
        self.schema = self.target.schema
        self._redact = redact
        self._clock = clock or (lambda: datetime.now(UTC))
        self._lock = threading.RLock()
        self._closed = False
        self._queries: dict[str, sql.Composed] = {}
        self._conn = connect(self.target, "reconciler journal")
        try:
            migrate_postgres(self._conn, self.schema, self.where, self._now())
        except psycopg.Error as exc:
            self._conn.close()
            raise ReconcilerError(
                f"cannot set up the journal's schema {self.schema!r} in {self.where}: "
                f"{one_line(exc, self.target)}",
                hint="the user needs CREATE on the database, or an existing schema it owns",
            ) from exc
        except BaseException:
            self._conn.close()
            raise

    # -- plumbing ---------------------------------------------------------------------------

    def _q(self, template: LiteralString) -> sql.Composed:
        """`template` with `{s}` as this store's (quoted) schema."""
        query = self._queries.get(template)
        if query is None:
            query = sql.SQL(template).format(s=sql.Identifier(self.schema))
            self._queries[template] = query
        return query

    def _live(self) -> Connection[TupleRow]:
        """The connection, opened again if it broke (never after `close`)."""
        if self._conn.closed and not self._closed:
            self._conn = connect(self.target, "reconciler journal")
        return self._conn

    def _transient(self, exc: psycopg.Error) -> TransientError:
        return TransientError(
            f"the journal {self.where} failed: {one_line(exc, self.target)}",
            hint="check that the PostgreSQL server is up; the next call connects again",
        )

    @contextmanager
    def _write(self) -> Iterator[Connection[TupleRow]]:
        """One write transaction; a broken connection is a `TransientError`."""
        with self._lock:
            try:
                conn = self._live()
                with conn.transaction():
                    yield conn
            except psycopg.OperationalError as exc:
                if self._conn.broken:
                    self._conn.close()
                raise self._transient(exc) from exc

    def _reading(self, read: Callable[[Connection[TupleRow]], _T], snapshot: bool = False) -> _T:
        """`read(conn)` in one transaction (REPEATABLE READ with `snapshot`), retried once on a
        new connection if the old one turns out broken."""
        with self._lock:
            for attempt in (1, 2):
                conn = self._live()
                try:
                    with conn.transaction():
                        if snapshot:
                            conn.execute(
                                "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"
                            )
                        return read(conn)
                except psycopg.OperationalError as exc:
                    if not conn.broken:
                        raise self._transient(exc) from exc
                    conn.close()
                    if attempt == 2:
                        raise self._transient(exc) from exc
            raise AssertionError("unreachable")  # pragma: no cover

    def _new_id(
        self, conn: Connection[TupleRow], template: LiteralString, params: tuple[Any, ...]
    ) -> int:
        """The `id` an `INSERT ... RETURNING id` gives."""
        row = conn.execute(self._q(template), params).fetchone()
        assert row is not None
        return int(row[0])

    def _rows(self, template: LiteralString, params: tuple[Any, ...] = ()) -> list[TupleRow]:
        return self._reading(lambda conn: conn.execute(self._q(template), params).fetchall())

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
