"""Leadership: of the controllers sharing one journal, only the leader applies; the others wait.

`open_leadership(--state)` gives one API over two mechanisms:

- PostgreSQL: a session advisory lock (`pg_try_advisory_lock`) on a connection of its own, held
  open while leading. The key is derived from the journal's schema and a name, so journals in
  different schemas of one database do not contend. When the leader's process dies, even by
  SIGKILL, its session ends and PostgreSQL releases the lock; a leader cut off from the server
  (network) loses it once the server notices the dead peer (TCP keepalives), which is why a
  leader checks `held` before each thing it applies.
- SQLite: `fcntl.flock` on `<journal>.lock` beside the journal file (one machine only, as the
  file itself). The kernel drops the lock with the process.

`try_acquire()` never blocks; `await wait_acquire(poll=...)` polls until this process leads,
riding out a broken connection; `release()` gives leadership up; `held` says whether this
process still leads (asking the server, or checking the lock file is still the one on disk);
`holder()` describes the current leader for status and logs.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import socket
import threading
from pathlib import Path
from types import TracebackType
from typing import Final, LiteralString, Self

import psycopg
from psycopg import Connection
from psycopg.rows import TupleRow

from reconciler.errors import ReconcilerError, TransientError
from reconciler.journal.pgconn import connect, is_postgres_url, one_line, parse_postgres_url
from reconciler.journal.schema import advisory_key
from reconciler.journal.store import sqlite_state_path

__all__ = [
    "DEFAULT_POLL_SECONDS",
    "FileLeadership",
    "Leadership",
    "PostgresLeadership",
    "open_leadership",
]

DEFAULT_POLL_SECONDS: Final = 1.0


class Leadership:
    """What every kind of leadership offers; `wait_acquire` and the context manager are shared.

    Subclasses implement `try_acquire`, `release`, `held` and `holder`. One object may be used
    from several threads; its calls are serialised.
    """

    where: str
    last_error: ReconcilerError | None = None
    """The last transient failure `wait_acquire` rode out (None once it leads)."""

    def __init__(self) -> None:
        self._lock = threading.RLock()

    def try_acquire(self) -> bool:
        """Lead if nobody else does; True if this object leads (also if it already did)."""
        raise NotImplementedError

    def release(self) -> None:
        """Stop leading (nothing happens if this object does not lead)."""
        raise NotImplementedError

    @property
    def held(self) -> bool:
        """Whether this object still leads, checked now rather than remembered."""
        raise NotImplementedError

    def holder(self) -> str | None:
        """Who leads now (host and process as the leader gave them), None if nobody does."""
        raise NotImplementedError

    async def wait_acquire(self, poll: float = DEFAULT_POLL_SECONDS) -> None:
        """Return once this object leads, trying every `poll` seconds. A `TransientError` (the
        server went away) is kept in `last_error` and waited out; other errors propagate. If
        the wait is cancelled while an attempt is running, a lock that attempt took is given
        back, so a cancelled waiter never leads by accident."""
        if poll <= 0:
            raise ValueError("poll must be positive")
        if await asyncio.to_thread(lambda: self.held):
            return  # (and a cancellation below never gives back a lock taken before)
        while True:
            attempt = asyncio.ensure_future(asyncio.to_thread(self.try_acquire))
            try:
                acquired = await asyncio.shield(attempt)
            except TransientError as exc:
                self.last_error = exc
                acquired = False
            except asyncio.CancelledError:
                attempt.add_done_callback(self._release_if_acquired)
                raise
            if acquired:
                self.last_error = None
                return
            await asyncio.sleep(poll)

    def _release_if_acquired(self, attempt: asyncio.Future[bool]) -> None:
        if not attempt.cancelled() and attempt.exception() is None and attempt.result():
            self.release()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def _identity() -> str:
    return f"pid {os.getpid()} on {socket.gethostname()}"


class PostgresLeadership(Leadership):
    """A session advisory lock in the PostgreSQL database of `url` (see the module)."""

    def __init__(self, url: str, *, name: str = "controller") -> None:
        super().__init__()
        self.target = parse_postgres_url(url)
        self.where = self.target.where
        self.key = advisory_key(f"leader:{self.target.schema}:{name}")
        # how pg_locks shows a bigint advisory key: high and low 32 bits, objsubid 1
        self._classid = (self.key >> 32) & 0xFFFFFFFF
        self._objid = self.key & 0xFFFFFFFF
        self._leading = False
        self._conn: Connection[TupleRow] | None = connect(self.target, "reconciler leader")

    def _connection(self) -> Connection[TupleRow]:
        if self._conn is None or self._conn.closed:
            try:
                self._conn = connect(self.target, "reconciler leader")
            except ReconcilerError as exc:  # it connected before: an outage, not a bad URL
                raise TransientError(exc.message, hint=exc.hint) from exc
        return self._conn

    def _drop(self) -> None:
        """Forget the connection (and with it the lock, whatever the server still thinks)."""
        self._leading = False
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _transient(self, exc: psycopg.Error) -> TransientError:
        self._drop()
        return TransientError(
            f"lost the connection to the PostgreSQL journal {self.where}: "
            f"{one_line(exc, self.target)}",
            hint="check that the PostgreSQL server is up; leadership is sought again",
        )

    def _holds_lock(self, conn: Connection[TupleRow]) -> bool:
        row = conn.execute(
            "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory'"
            " AND pid = pg_backend_pid() AND granted AND classid = %s AND objid = %s"
            " AND objsubid = 1"
            " AND database = (SELECT oid FROM pg_database WHERE datname = current_database()))",
            (self._classid, self._objid),
        ).fetchone()
        return bool(row and row[0])

    def _ask(self, query: LiteralString, params: tuple[int, ...]) -> TupleRow | None:
        """One row of `query`, asked again on a new connection if the old one turns out
        broken (a lock of a dead session is gone, so asking again is safe)."""
        for attempt in (1, 2):
            conn = self._connection()
            try:
                return conn.execute(query, params).fetchone()
            except psycopg.OperationalError as exc:
                if attempt == 2 or not conn.broken:
                    raise self._transient(exc) from exc
                self._drop()
        raise AssertionError("unreachable")  # pragma: no cover

    def try_acquire(self) -> bool:
        with self._lock:
            if self._leading and self.held:
                return True  # never stack a second lock on the session
            self._leading = False
            row = self._ask("SELECT pg_try_advisory_lock(%s)", (self.key,))
            self._leading = bool(row and row[0])
            return self._leading

    @property
    def held(self) -> bool:
        with self._lock:
            if not self._leading or self._conn is None or self._conn.closed:
                return False
            try:
                still = self._holds_lock(self._conn)
            except psycopg.Error:
                still = False
            if not still:
                self._drop()
            return still

    def release(self) -> None:
        with self._lock:
            if self._leading and self._conn is not None and not self._conn.closed:
                with contextlib.suppress(psycopg.Error):  # closing the session releases it too
                    self._conn.execute("SELECT pg_advisory_unlock(%s)", (self.key,))
            self._drop()

    def holder(self) -> str | None:
        with self._lock:
            row = self._ask(
                "SELECT a.application_name, l.pid FROM pg_locks l"
                " LEFT JOIN pg_stat_activity a ON a.pid = l.pid"
                " WHERE l.locktype = 'advisory' AND l.granted AND l.classid = %s"
                " AND l.objid = %s AND l.objsubid = 1 AND l.database ="
                " (SELECT oid FROM pg_database WHERE datname = current_database())",
                (self._classid, self._objid),
            )
            if row is None:
                return None
            name, pid = row
            return f"{name or 'unknown'} (server pid {pid})"


class FileLeadership(Leadership):
    """`fcntl.flock` on the file `path` (made 0600 if missing; never deleted)."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        self.where = str(path)
        self._fd: int | None = None

    def _open(self) -> int:
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            return os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise ReconcilerError(
                f"cannot open the leadership lock {self.path}: {exc}",
                hint="check --state and the directory's permissions",
            ) from exc

    def try_acquire(self) -> bool:
        with self._lock:
            if self._fd is not None and self.held:
                return True
            fd = self._open()
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                return False
            self._fd = fd
            if not self.held:  # the file was replaced between open and lock: not ours
                return False
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"reconciler leader {_identity()}\n".encode(), 0)
            return True

    @property
    def held(self) -> bool:
        with self._lock:
            if self._fd is None:
                return False
            try:
                same = os.fstat(self._fd).st_ino == os.stat(self.path).st_ino
            except OSError:
                same = False
            if not same:  # deleted or replaced: another process may lock the new file
                self.release()
            return same

    def release(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)  # drops the flock
                self._fd = None

    def holder(self) -> str | None:
        with self._lock:
            if self._fd is not None:
                return f"reconciler leader {_identity()}"
            fd = self._open()
            try:
                try:
                    fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
                except BlockingIOError:
                    text = os.pread(fd, 512, 0).decode("utf-8", errors="replace").strip()
                    return text or "unknown"
                return None
            finally:
                os.close(fd)


def open_leadership(state: str | None, *, name: str = "controller") -> Leadership:
    """The leadership of the journal `state` names (`--state`, as `open_store` takes it):
    an advisory lock for PostgreSQL, `<journal>.lock` (`<journal>.<name>.lock` for another
    name) for SQLite. A PostgreSQL server is connected to at once, so a bad URL fails here."""
    if state is not None and is_postgres_url(state):
        return PostgresLeadership(state, name=name)
    journal = sqlite_state_path(state)
    suffix = ".lock" if name == "controller" else f".{name}.lock"
    return FileLeadership(journal.with_name(journal.name + suffix))
