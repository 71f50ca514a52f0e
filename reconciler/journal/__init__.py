"""The journal: runs, action and step progress, results and retry bookkeeping.

Open one with `open_store(--state)` (a SQLite file, or a PostgreSQL database); callers use the
`Store` protocol only. Controllers sharing a journal take turns with `open_leadership(--state)`.
"""

from __future__ import annotations

from reconciler.journal.leader import (
    FileLeadership,
    Leadership,
    PostgresLeadership,
    open_leadership,
)
from reconciler.journal.model import (
    OUTPUT_CAP_BYTES,
    ActionRecord,
    ActionStatus,
    LastAction,
    Redactor,
    RetryState,
    RunRecord,
    RunStatus,
    RunSummary,
    StepRecord,
    StepStatus,
    Store,
)
from reconciler.journal.postgres import PostgresStore
from reconciler.journal.sqlite import SQLiteStore
from reconciler.journal.store import default_state_path, open_store

__all__ = [
    "OUTPUT_CAP_BYTES",
    "ActionRecord",
    "ActionStatus",
    "FileLeadership",
    "LastAction",
    "Leadership",
    "PostgresLeadership",
    "PostgresStore",
    "Redactor",
    "RetryState",
    "RunRecord",
    "RunStatus",
    "RunSummary",
    "SQLiteStore",
    "StepRecord",
    "StepStatus",
    "Store",
    "default_state_path",
    "open_leadership",
    "open_store",
]
