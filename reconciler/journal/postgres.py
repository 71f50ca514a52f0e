"""The PostgreSQL journal: the SQLite journal's tables and semantics in one schema of a database.

`--state postgresql://USER@HOST[:PORT]/DATABASE[?schema=NAME]` (see `pgconn` for the URL): the
tables live in schema NAME (default `reconciler`), created when missing, so several journals or
test runs can share a database. Every write is one transaction; reads of a run with its actions
and steps see one snapshot (REPEATABLE READ). A broken connection (server restart, network
drop) fails the call with a `TransientError` and the next call connects again; a read is retried
once on a new connection. One object may be used from several threads; calls are serialised.

The connection, its transactions and retries are `pgsession`'s (`PostgresSession`); this module
is the store's queries: runs, their actions and steps, and the retry state.
"""

from __future__ import annotations

import json
from datetime import datetime

from psycopg import Connection
from psycopg.rows import TupleRow

from reconciler.journal.model import (
    ACTION_STATUSES,
    RUN_STATUSES,
    STEP_STATUSES,
    ActionRecord,
    ActionStatus,
    LastAction,
    RetryState,
    RunRecord,
    RunStatus,
    RunSummary,
    StepRecord,
    StepStatus,
    format_time,
)
from reconciler.journal.pgsession import PostgresSession
from reconciler.journal.recent import RECENT_RUNS_POSTGRES, check_limit, run_summaries

__all__ = ["PostgresStore"]


_RUN_FIELDS = ("id", "revision", "trigger", "status", "plan_json", "started_at", "ended_at")
_ACTION_FIELDS = (
    "id", "run_id", "action_id", "kind", "object_kind", "object_name", "server", "status",
    "error", "started_at", "ended_at",
)  # fmt: skip
_STEP_FIELDS = ("id", "index", "name", "status", "output", "started_at", "ended_at")
_RUN_BY_ID = (
    "SELECT id, revision, trigger, status, plan_json, started_at, ended_at"
    " FROM {s}.runs WHERE id = %s"
)
_RUNS_RUNNING = (
    "SELECT id, revision, trigger, status, plan_json, started_at, ended_at"
    " FROM {s}.runs WHERE status = 'running' ORDER BY id"
)
_ACTIONS_OF_RUN = (
    "SELECT id, run_id, action_id, kind, object_kind, object_name, server, status, error,"
    " started_at, ended_at FROM {s}.actions WHERE run_id = %s ORDER BY id"
)
_STEPS_OF_ACTION = (
    "SELECT id, idx, name, status, output, started_at, ended_at"
    " FROM {s}.steps WHERE action_row = %s ORDER BY idx"
)


def _check(value: str, allowed: tuple[str, ...], what: str) -> None:
    if value not in allowed:
        raise ValueError(f"{what} must be one of {', '.join(allowed)}, not {value!r}")


class PostgresStore(PostgresSession):
    """The journal in the schema of the PostgreSQL database `url` names (see the module)."""

    # -- runs -------------------------------------------------------------------------------

    def begin_run(self, revision: str, plan_json: str, trigger: str) -> int:
        json.loads(plan_json)  # a plan that is not JSON is a caller's bug: fail before writing
        with self._write() as conn:
            return self._new_id(
                conn,
                "INSERT INTO {s}.runs (revision, trigger, status, plan_json, started_at)"
                " VALUES (%s, %s, 'running', %s, %s) RETURNING id",
                (revision, trigger, plan_json, self._now()),
            )

    def end_run(self, run_id: int, status: RunStatus) -> None:
        _check(status, RUN_STATUSES, "a run's end status")
        if status == "running":
            raise ValueError("a run cannot end as 'running'")
        with self._write() as conn:
            cur = conn.execute(
                self._q("UPDATE {s}.runs SET status = %s, ended_at = %s WHERE id = %s"),
                (status, self._now(), run_id),
            )
            if cur.rowcount != 1:
                raise KeyError(f"no run {run_id} in the journal")

    def mark_interrupted(self, run_id: int) -> None:
        """Close a run a crashed controller left `running`; its actions and steps stay."""
        with self._write() as conn:
            conn.execute(
                self._q(
                    "UPDATE {s}.runs SET status = 'interrupted', ended_at = %s"
                    " WHERE id = %s AND status = 'running'"
                ),
                (self._now(), run_id),
            )

    def get_run(self, run_id: int) -> RunRecord | None:
        def read(conn: Connection[TupleRow]) -> RunRecord | None:
            row = conn.execute(self._q(_RUN_BY_ID), (run_id,)).fetchone()
            return self._run_record(conn, row) if row is not None else None

        return self._reading(read, snapshot=True)

    def interrupted_runs(self) -> tuple[RunRecord, ...]:
        """The runs still `running`, oldest first, with every action and its steps."""

        def read(conn: Connection[TupleRow]) -> tuple[RunRecord, ...]:
            rows = conn.execute(self._q(_RUNS_RUNNING)).fetchall()
            return tuple(self._run_record(conn, row) for row in rows)

        return self._reading(read, snapshot=True)

    def recent_runs(self, limit: int) -> tuple[RunSummary, ...]:
        """The `limit` latest runs, newest first, with their action counts."""
        return run_summaries(self._rows(RECENT_RUNS_POSTGRES, (check_limit(limit),)))

    def _run_record(self, conn: Connection[TupleRow], row: TupleRow) -> RunRecord:
        actions = conn.execute(self._q(_ACTIONS_OF_RUN), (row[0],)).fetchall()
        return RunRecord(
            **dict(zip(_RUN_FIELDS, row, strict=True)),
            actions=tuple(self._action_record(conn, a) for a in actions),
        )

    def _action_record(self, conn: Connection[TupleRow], row: TupleRow) -> ActionRecord:
        steps = conn.execute(self._q(_STEPS_OF_ACTION), (row[0],)).fetchall()
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
            return self._new_id(
                conn,
                "INSERT INTO {s}.actions (run_id, action_id, kind, object_kind, object_name,"
                " server, status) VALUES (%s, %s, %s, %s, %s, %s, 'pending') RETURNING id",
                (run_id, action_id, kind, object_kind, object_name, server),
            )

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
        with self._write() as conn:
            return self._new_id(
                conn,
                "INSERT INTO {s}.actions (run_id, action_id, kind, object_kind, object_name,"
                " server, status, started_at) VALUES (%s, %s, %s, %s, %s, %s, 'running', %s)"
                " ON CONFLICT (run_id, action_id) DO UPDATE SET status = 'running',"
                " started_at = excluded.started_at, ended_at = NULL, error = NULL"
                " RETURNING id",
                (run_id, action_id, kind, object_kind, object_name, server, self._now()),
            )

    def record_action_end(
        self, action_row: int, status: ActionStatus, error: str | None = None
    ) -> None:
        """`failed`: the action failed (undone or not); `undone`: rolled back after a crash."""
        _check(status, ACTION_STATUSES, "an action's end status")
        if status in ("pending", "running"):
            raise ValueError(f"an action cannot end as {status!r}")
        with self._write() as conn:
            cur = conn.execute(
                self._q(
                    "UPDATE {s}.actions SET status = %s, error = %s, ended_at = %s WHERE id = %s"
                ),
                (status, self._clean(error), self._now(), action_row),
            )
            if cur.rowcount != 1:
                raise KeyError(f"no action row {action_row} in the journal")

    def record_step_start(self, action_row: int, index: int, name: str) -> int:
        """Mark step `index` of the action started (again, if it was before); returns its row."""
        with self._write() as conn:
            return self._new_id(
                conn,
                "INSERT INTO {s}.steps (action_row, idx, name, status, started_at)"
                " VALUES (%s, %s, %s, 'started', %s) ON CONFLICT (action_row, idx)"
                " DO UPDATE SET name = excluded.name, status = 'started', output = NULL,"
                " started_at = excluded.started_at, ended_at = NULL RETURNING id",
                (action_row, index, name, self._now()),
            )

    def record_step_end(self, step_row: int, status: StepStatus, output: str = "") -> None:
        _check(status, STEP_STATUSES, "a step's end status")
        if status == "started":
            raise ValueError("a step cannot end as 'started'")
        with self._write() as conn:
            cur = conn.execute(
                self._q(
                    "UPDATE {s}.steps SET status = %s, output = %s, ended_at = %s WHERE id = %s"
                ),
                (status, self._clean(output), self._now(), step_row),
            )
            if cur.rowcount != 1:
                raise KeyError(f"no step row {step_row} in the journal")

    # -- what status and the controller ask -------------------------------------------------

    def last_action(self, object_kind: str, name: str) -> LastAction | None:
        """The latest action started or ended on the object (pending ones do not count)."""
        rows = self._rows(
            "SELECT kind, status, error, COALESCE(ended_at, started_at) FROM {s}.actions"
            " WHERE object_kind = %s AND object_name = %s AND status != 'pending'"
            " ORDER BY COALESCE(started_at, ended_at) DESC, id DESC LIMIT 1",
            (object_kind, name),
        )
        if not rows:
            return None
        kind, result, error, at = rows[0]
        return LastAction(kind=kind, result=result, error=error, at=at)

    def failed_for_revision(self, action_id: str, revision: str) -> bool:
        """Whether action `action_id` failed in a run of `revision` (not retried for it)."""
        rows = self._rows(
            "SELECT 1 FROM {s}.actions JOIN {s}.runs ON runs.id = actions.run_id"
            " WHERE actions.action_id = %s AND runs.revision = %s"
            " AND actions.status = 'failed' LIMIT 1",
            (action_id, revision),
        )
        return bool(rows)

    def record_retry(self, key: str, attempts: int, next_at: datetime) -> None:
        if attempts < 0:
            raise ValueError("attempts must not be negative")
        with self._write() as conn:
            conn.execute(
                self._q(
                    "INSERT INTO {s}.retries (key, attempts, next_at, updated_at)"
                    " VALUES (%s, %s, %s, %s) ON CONFLICT (key) DO UPDATE SET"
                    " attempts = excluded.attempts, next_at = excluded.next_at,"
                    " updated_at = excluded.updated_at"
                ),
                (key, attempts, format_time(next_at), self._now()),
            )

    def retry_state(self, key: str) -> RetryState | None:
        rows = self._rows("SELECT attempts, next_at FROM {s}.retries WHERE key = %s", (key,))
        return RetryState(attempts=rows[0][0], next_at=rows[0][1]) if rows else None

    def clear_retry(self, key: str) -> None:
        with self._write() as conn:
            conn.execute(self._q("DELETE FROM {s}.retries WHERE key = %s"), (key,))
