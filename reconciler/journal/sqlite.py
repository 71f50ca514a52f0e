"""The SQLite journal: one file, WAL mode, a busy timeout, every write one transaction.

Several `SQLiteStore` objects (threads or processes) may share one file: writes take the write
lock up front (`BEGIN IMMEDIATE`) and wait up to the busy timeout for it. One object may be used
from several threads; its calls are serialised by a lock.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self, cast

from reconciler.errors import ReconcilerError
from reconciler.journal.model import (
    ACTION_STATUSES,
    RUN_STATUSES,
    STEP_STATUSES,
    ActionRecord,
    ActionStatus,
    LastAction,
    Redactor,
    RetryState,
    RunRecord,
    RunStatus,
    RunSummary,
    Stamping,
    StepRecord,
    StepStatus,
    format_time,
)
from reconciler.journal.recent import RECENT_RUNS_SQLITE, check_limit, run_summaries
from reconciler.journal.schema import migrate

__all__ = ["DEFAULT_BUSY_TIMEOUT_MS", "SQLiteStore"]

# Record fields in the order of their columns (a step's `index` is the column `idx`).
_RUN_FIELDS = ("id", "revision", "trigger", "status", "plan_json", "started_at", "ended_at")
_ACTION_FIELDS = (
    "id", "run_id", "action_id", "kind", "object_kind", "object_name", "server", "status",
    "error", "started_at", "ended_at",
)  # fmt: skip
_STEP_FIELDS = ("id", "index", "name", "status", "output", "started_at", "ended_at")
_RUN_COLUMNS = ", ".join(_RUN_FIELDS)
_ACTION_COLUMNS = ", ".join(_ACTION_FIELDS)
_STEP_COLUMNS = ", ".join("idx" if f == "index" else f for f in _STEP_FIELDS)
# built from the constant column lists above only, never from input
_RUN_BY_ID = f"SELECT {_RUN_COLUMNS} FROM runs WHERE id = ?"  # noqa: S608
_RUNS_RUNNING = f"SELECT {_RUN_COLUMNS} FROM runs WHERE status = 'running' ORDER BY id"  # noqa: S608
_ACTIONS_OF_RUN = f"SELECT {_ACTION_COLUMNS} FROM actions WHERE run_id = ? ORDER BY id"  # noqa: S608
_STEPS_OF_ACTION = f"SELECT {_STEP_COLUMNS} FROM steps WHERE action_row = ? ORDER BY idx"  # noqa: S608

DEFAULT_BUSY_TIMEOUT_MS = 10_000


def _check(value: str, allowed: tuple[str, ...], what: str) -> None:
    if value not in allowed:
        raise ValueError(f"{what} must be one of {', '.join(allowed)}, not {value!r}")


class SQLiteStore(Stamping):
    """The journal in the SQLite file at `path` (created if missing; see `open_store`)."""

    def __init__(
        self,
        path: Path,
        *,
        redact: Redactor | None = None,
        busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.path = path
        self._redact = redact
        self._clock = clock or (lambda: datetime.now(UTC))
        self._lock = threading.RLock()
        try:
            self._conn = sqlite3.connect(
                str(path),
                timeout=busy_timeout_ms / 1000,
                isolation_level=None,
                check_same_thread=False,
            )
        except sqlite3.Error as exc:
            raise ReconcilerError(
                f"cannot open the journal {path}: {exc}",
                hint="check --state and the directory's permissions",
            ) from exc
        try:
            self._conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            self._conn.execute("PRAGMA foreign_keys = ON")
            mode = self._conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise ReconcilerError(
                    f"the journal {path} cannot use WAL mode (got {mode})",
                    hint="put --state on a local file system",
                )
            self._conn.execute("PRAGMA synchronous = NORMAL")
            migrate(self._conn, str(path), self._now())
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            raise ReconcilerError(
                f"the journal {path} is not a usable SQLite database: {exc}",
                hint="point --state at another file, or move this one aside",
            ) from exc
        except BaseException:
            self._conn.close()
            raise

    # -- plumbing ---------------------------------------------------------------------------

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    @contextmanager
    def _snapshot(self) -> Iterator[None]:
        """Several reads seeing one state of the file (a read transaction)."""
        with self._lock:
            self._conn.execute("BEGIN")
            try:
                yield
            finally:
                self._conn.execute("COMMIT")

    def _read(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    def close(self) -> None:
        with self._lock:
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

    # -- runs -------------------------------------------------------------------------------

    def begin_run(self, revision: str, plan_json: str, trigger: str) -> int:
        json.loads(plan_json)  # a plan that is not JSON is a caller's bug: fail before writing
        with self._write() as conn:
            cur = conn.execute(
                "INSERT INTO runs (revision, trigger, status, plan_json, started_at)"
                " VALUES (?, ?, 'running', ?, ?)",
                (revision, trigger, plan_json, self._now()),
            )
            return int(cast(int, cur.lastrowid))

    def end_run(self, run_id: int, status: RunStatus) -> None:
        _check(status, RUN_STATUSES, "a run's end status")
        if status == "running":
            raise ValueError("a run cannot end as 'running'")
        with self._write() as conn:
            cur = conn.execute(
                "UPDATE runs SET status = ?, ended_at = ? WHERE id = ?",
                (status, self._now(), run_id),
            )
            if cur.rowcount != 1:
                raise KeyError(f"no run {run_id} in the journal")

    def mark_interrupted(self, run_id: int) -> None:
        """Close a run a crashed controller left `running`. Its action and step rows are left
        as they were: they are the record of how far it got."""
        with self._write() as conn:
            conn.execute(
                "UPDATE runs SET status = 'interrupted', ended_at = ?"
                " WHERE id = ? AND status = 'running'",
                (self._now(), run_id),
            )

    def get_run(self, run_id: int) -> RunRecord | None:
        with self._snapshot():
            rows = self._read(_RUN_BY_ID, (run_id,))
            return self._run_record(rows[0]) if rows else None

    def interrupted_runs(self) -> tuple[RunRecord, ...]:
        """The runs still `running`, oldest first, with every action and its steps: for a
        controller starting up, the runs its predecessor never finished."""
        with self._snapshot():
            rows = self._read(_RUNS_RUNNING)
            return tuple(self._run_record(row) for row in rows)

    def recent_runs(self, limit: int) -> tuple[RunSummary, ...]:
        """The `limit` latest runs, newest first, with their action counts."""
        return run_summaries(self._read(RECENT_RUNS_SQLITE, (check_limit(limit),)))

    def _run_record(self, row: tuple[Any, ...]) -> RunRecord:
        actions = self._read(_ACTIONS_OF_RUN, (row[0],))
        return RunRecord(
            **dict(zip(_RUN_FIELDS, row, strict=True)),
            actions=tuple(self._action_record(a) for a in actions),
        )

    def _action_record(self, row: tuple[Any, ...]) -> ActionRecord:
        steps = self._read(_STEPS_OF_ACTION, (row[0],))
        return ActionRecord(
            **dict(zip(_ACTION_FIELDS, row, strict=True)),
            steps=tuple(StepRecord(**dict(zip(_STEP_FIELDS, s, strict=True))) for s in steps),
        )

    # -- actions and steps ------------------------------------------------------------------

    def add_action(
        self,
        run_id: int,
        action_id: str,
        kind: str,
        object_kind: str,
        object_name: str,
        server: str,
    ) -> int:
        """Record an action of the run's plan as `pending`; returns its row."""
        with self._write() as conn:
            cur = conn.execute(
                "INSERT INTO actions (run_id, action_id, kind, object_kind, object_name,"
                " server, status) VALUES (?, ?, ?, ?, ?, ?, 'pending')",
                (run_id, action_id, kind, object_kind, object_name, server),
            )
            return int(cast(int, cur.lastrowid))

    def record_action_start(
        self,
        run_id: int,
        action_id: str,
        kind: str,
        object_kind: str,
        object_name: str,
        server: str,
    ) -> int:
        """Mark the action `running` (its pending row, or a new one); returns its row."""
        now = self._now()
        with self._write() as conn:
            conn.execute(
                "INSERT INTO actions (run_id, action_id, kind, object_kind, object_name,"
                " server, status, started_at) VALUES (?, ?, ?, ?, ?, ?, 'running', ?)"
                " ON CONFLICT (run_id, action_id) DO UPDATE SET status = 'running',"
                " started_at = excluded.started_at, ended_at = NULL, error = NULL",
                (run_id, action_id, kind, object_kind, object_name, server, now),
            )
            row = conn.execute(
                "SELECT id FROM actions WHERE run_id = ? AND action_id = ?", (run_id, action_id)
            ).fetchone()
            return int(row[0])

    def record_action_end(
        self, action_row: int, status: ActionStatus, error: str | None = None
    ) -> None:
        """`failed` is an action that failed (whether or not its undo chain then ran);
        `undone` one rolled back for another reason (after an interruption)."""
        _check(status, ACTION_STATUSES, "an action's end status")
        if status in ("pending", "running"):
            raise ValueError(f"an action cannot end as {status!r}")
        with self._write() as conn:
            cur = conn.execute(
                "UPDATE actions SET status = ?, error = ?, ended_at = ? WHERE id = ?",
                (status, self._clean(error), self._now(), action_row),
            )
            if cur.rowcount != 1:
                raise KeyError(f"no action row {action_row} in the journal")

    def record_step_start(self, action_row: int, index: int, name: str) -> int:
        """Mark step `index` of the action started (again, if it was before); returns its row."""
        now = self._now()
        with self._write() as conn:
            conn.execute(
                "INSERT INTO steps (action_row, idx, name, status, started_at)"
                " VALUES (?, ?, ?, 'started', ?) ON CONFLICT (action_row, idx) DO UPDATE SET"
                " name = excluded.name, status = 'started', output = NULL,"
                " started_at = excluded.started_at, ended_at = NULL",
                (action_row, index, name, now),
            )
            row = conn.execute(
                "SELECT id FROM steps WHERE action_row = ? AND idx = ?", (action_row, index)
            ).fetchone()
            return int(row[0])

    def record_step_end(self, step_row: int, status: StepStatus, output: str = "") -> None:
        _check(status, STEP_STATUSES, "a step's end status")
        if status == "started":
            raise ValueError("a step cannot end as 'started'")
        with self._write() as conn:
            cur = conn.execute(
                "UPDATE steps SET status = ?, output = ?, ended_at = ? WHERE id = ?",
                (status, self._clean(output), self._now(), step_row),
            )
            if cur.rowcount != 1:
                raise KeyError(f"no step row {step_row} in the journal")

    # -- what status and the controller ask -------------------------------------------------

    def last_action(self, object_kind: str, name: str) -> LastAction | None:
        """The latest action started or ended on the object (pending ones do not count)."""
        rows = self._read(
            "SELECT kind, status, error, COALESCE(ended_at, started_at) FROM actions"
            " WHERE object_kind = ? AND object_name = ? AND status != 'pending'"
            " ORDER BY COALESCE(started_at, ended_at) DESC, id DESC LIMIT 1",
            (object_kind, name),
        )
        if not rows:
            return None
        kind, result, error, at = rows[0]
        return LastAction(kind=kind, result=result, error=error, at=at)

    def failed_for_revision(self, action_id: str, revision: str) -> bool:
        """Whether action `action_id` failed in a run of `revision`: the controller does not
        retry the same upgrade for the same commit."""
        rows = self._read(
            "SELECT 1 FROM actions JOIN runs ON runs.id = actions.run_id"
            " WHERE actions.action_id = ? AND runs.revision = ? AND actions.status = 'failed'"
            " LIMIT 1",
            (action_id, revision),
        )
        return bool(rows)

    def record_retry(self, key: str, attempts: int, next_at: datetime) -> None:
        if attempts < 0:
            raise ValueError("attempts must not be negative")
        with self._write() as conn:
            conn.execute(
                "INSERT INTO retries (key, attempts, next_at, updated_at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (key) DO UPDATE SET attempts = excluded.attempts,"
                " next_at = excluded.next_at, updated_at = excluded.updated_at",
                (key, attempts, format_time(next_at), self._now()),
            )

    def retry_state(self, key: str) -> RetryState | None:
        rows = self._read("SELECT attempts, next_at FROM retries WHERE key = ?", (key,))
        return RetryState(attempts=rows[0][0], next_at=rows[0][1]) if rows else None

    def clear_retry(self, key: str) -> None:
        with self._write() as conn:
            conn.execute("DELETE FROM retries WHERE key = ?", (key,))
