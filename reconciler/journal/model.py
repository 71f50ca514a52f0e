"""The journal's values and the `Store` protocol every journal backend implements.

The journal records runs, the progress of their actions and steps, and their results; never a
second copy of desired state (the plan is kept only as the record of what a run set out to do).
Callers depend on `Store` only, so a PostgreSQL store can be added beside the SQLite one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Final, Literal, Protocol, Self, get_args

__all__ = [
    "ACTION_STATUSES",
    "OUTPUT_CAP_BYTES",
    "RUN_STATUSES",
    "STEP_STATUSES",
    "ActionRecord",
    "ActionStatus",
    "LastAction",
    "Redactor",
    "RetryState",
    "RunRecord",
    "RunStatus",
    "RunSummary",
    "Stamping",
    "StepRecord",
    "StepStatus",
    "Store",
    "cap_tail",
    "format_time",
    "parse_time",
]

RunStatus = Literal["running", "succeeded", "failed", "interrupted"]
ActionStatus = Literal["pending", "running", "succeeded", "failed", "skipped", "undone"]
StepStatus = Literal["started", "done", "failed", "undone"]

RUN_STATUSES: Final[tuple[str, ...]] = get_args(RunStatus)
ACTION_STATUSES: Final[tuple[str, ...]] = get_args(ActionStatus)
STEP_STATUSES: Final[tuple[str, ...]] = get_args(StepStatus)

OUTPUT_CAP_BYTES: Final = 8 * 1024
"""Error texts and step output tails are cut to their last 8 KiB (UTF-8) before they are written."""

Redactor = Callable[[str], str]
"""Applied to every error and output text before it is written (removes secrets)."""


def format_time(moment: datetime) -> str:
    """`moment` in UTC as ISO-8601 with microseconds and a `Z`: fixed width, so it sorts as text."""
    if moment.tzinfo is None:
        raise ValueError("journal timestamps must be timezone-aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def cap_tail(text: str, limit: int = OUTPUT_CAP_BYTES) -> str:
    """The last `limit` bytes of `text` in UTF-8, never splitting a character."""
    data = text.encode("utf-8", errors="replace")
    if len(data) <= limit:
        return text
    return data[-limit:].decode("utf-8", errors="ignore")


class Stamping:
    """What both stores do to what they write: the time now (`format_time` of their clock) and
    a text redacted and capped (`cap_tail`). The store sets `_clock` and `_redact`."""

    _clock: Callable[[], datetime]
    _redact: Redactor | None

    def _now(self) -> str:
        return format_time(self._clock())

    def _clean(self, text: str | None) -> str | None:
        if text is None:
            return None
        if self._redact is not None:
            text = self._redact(text)
        return cap_tail(text)


@dataclass(frozen=True)
class StepRecord:
    id: int
    index: int
    name: str
    status: StepStatus
    output: str | None
    started_at: str
    ended_at: str | None


@dataclass(frozen=True)
class ActionRecord:
    """One action of a run as recorded. `id` is the journal row; `action_id` the plan's id."""

    id: int
    run_id: int
    action_id: str
    kind: str
    object_kind: str
    object_name: str
    server: str
    status: ActionStatus
    error: str | None
    started_at: str | None
    ended_at: str | None
    steps: tuple[StepRecord, ...] = ()

    @property
    def finished(self) -> bool:
        return self.status in ("succeeded", "failed", "skipped", "undone")

    @property
    def first_unfinished_step(self) -> StepRecord | None:
        """The lowest-index step recorded as started but never done (or failed): where a resume
        of this action starts checking. None when every recorded step is done (or none started);
        the next step, if any, is then `len(steps)`, which only the action's definition knows."""
        for step in self.steps:
            if step.status != "done":
                return step
        return None


@dataclass(frozen=True)
class RunRecord:
    id: int
    revision: str
    trigger: str
    status: RunStatus
    plan_json: str
    started_at: str
    ended_at: str | None
    actions: tuple[ActionRecord, ...] = ()


@dataclass(frozen=True)
class RunSummary:
    """A run without its plan, actions and steps: what a list of recent runs shows."""

    id: int
    revision: str
    trigger: str
    status: RunStatus
    started_at: str
    ended_at: str | None
    actions: int
    """How many actions the run recorded (pending ones included)."""
    failed: int
    """How many of them failed."""

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "revision": self.revision,
            "trigger": self.trigger,
            "status": self.status,
            "startedAt": self.started_at,
            "endedAt": self.ended_at,
            "actions": self.actions,
            "failed": self.failed,
        }


@dataclass(frozen=True)
class LastAction:
    """The latest action on an object, as `status` shows it (`lastAction`)."""

    kind: str
    result: ActionStatus
    error: str | None
    at: str

    def to_json(self) -> dict[str, str | None]:
        return {"kind": self.kind, "result": self.result, "error": self.error, "at": self.at}


@dataclass(frozen=True)
class RetryState:
    """Backoff bookkeeping of an object's transient failures (`retry` in `status`)."""

    attempts: int
    next_at: str

    def to_json(self) -> dict[str, int | str]:
        return {"attempts": self.attempts, "nextAt": self.next_at}


class Store(Protocol):
    """What the reconciler records and asks of its journal. Every write is one transaction."""

    def close(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    def begin_run(self, revision: str, plan_json: str, trigger: str) -> int: ...

    def end_run(self, run_id: int, status: RunStatus) -> None: ...

    def mark_interrupted(self, run_id: int) -> None: ...

    def get_run(self, run_id: int) -> RunRecord | None: ...

    def interrupted_runs(self) -> tuple[RunRecord, ...]: ...

    def recent_runs(self, limit: int) -> tuple[RunSummary, ...]: ...

    def add_action(
        self,
        run_id: int,
        action_id: str,
        kind: str,
        object_kind: str,
        object_name: str,
        server: str,
    ) -> int: ...

    def record_action_start(
        self,
        run_id: int,
        action_id: str,
        kind: str,
        object_kind: str,
        object_name: str,
        server: str,
    ) -> int: ...

    def record_action_end(
        self, action_row: int, status: ActionStatus, error: str | None = None
    ) -> None: ...

    def record_step_start(self, action_row: int, index: int, name: str) -> int: ...

    def record_step_end(self, step_row: int, status: StepStatus, output: str = "") -> None: ...

    def last_action(self, object_kind: str, name: str) -> LastAction | None: ...

    def failed_for_revision(self, action_id: str, revision: str) -> bool: ...

    def record_retry(self, key: str, attempts: int, next_at: datetime) -> None: ...

    def retry_state(self, key: str) -> RetryState | None: ...

    def clear_retry(self, key: str) -> None: ...
