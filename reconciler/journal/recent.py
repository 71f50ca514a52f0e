"""The latest runs of a journal, newest first, each with its action counts.

`Store.recent_runs(limit)` is what the controller's dashboard lists under "recent runs": a run's
commit, trigger, status, start and end, how many actions it recorded and how many of those
failed; not its plan, actions or steps (`get_run` reads those). Both stores run the same query,
written here once for each parameter style.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Final, LiteralString

from reconciler.journal.model import RUN_STATUSES, RunSummary

__all__ = [
    "MAX_RECENT_RUNS",
    "RECENT_RUNS_POSTGRES",
    "RECENT_RUNS_SQLITE",
    "check_limit",
    "run_summaries",
]

MAX_RECENT_RUNS: Final = 1000
"""The most runs one call reads (a page of runs, not an export of the journal)."""

RECENT_RUNS_SQLITE: Final = (
    "SELECT r.id, r.revision, r.trigger, r.status, r.started_at, r.ended_at,"
    " (SELECT COUNT(*) FROM actions a WHERE a.run_id = r.id),"
    " (SELECT COUNT(*) FROM actions a WHERE a.run_id = r.id AND a.status = 'failed')"
    " FROM runs r ORDER BY r.id DESC LIMIT ?"
)
RECENT_RUNS_POSTGRES: Final[LiteralString] = (
    "SELECT r.id, r.revision, r.trigger, r.status, r.started_at, r.ended_at,"
    " (SELECT COUNT(*) FROM {s}.actions a WHERE a.run_id = r.id),"
    " (SELECT COUNT(*) FROM {s}.actions a WHERE a.run_id = r.id AND a.status = 'failed')"
    " FROM {s}.runs r ORDER BY r.id DESC LIMIT %s"
)


def check_limit(limit: int) -> int:
    """`limit` if it is 0 to `MAX_RECENT_RUNS`, else a `ValueError`."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 0 <= limit <= MAX_RECENT_RUNS:
        raise ValueError(f"a number of recent runs must be 0 to {MAX_RECENT_RUNS}, not {limit!r}")
    return limit


def run_summaries(rows: Iterable[Sequence[Any]]) -> tuple[RunSummary, ...]:
    """The rows of a `RECENT_RUNS_*` query as `RunSummary` values."""
    found = []
    for run_id, revision, trigger, status, started, ended, actions, failed in rows:
        if status not in RUN_STATUSES:  # pragma: no cover - the schema's CHECK forbids it
            raise ValueError(f"run {run_id} has the unknown status {status!r}")
        found.append(
            RunSummary(
                id=int(run_id),
                revision=str(revision),
                trigger=str(trigger),
                status=status,
                started_at=str(started),
                ended_at=None if ended is None else str(ended),
                actions=int(actions),
                failed=int(failed),
            )
        )
    return tuple(found)
