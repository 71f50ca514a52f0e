"""The journal: runs, action and step progress, results and retry bookkeeping.

Open one with `open_store(--state)`; callers use the `Store` protocol only.
"""

from __future__ import annotations

from reconciler.journal.model import (
    OUTPUT_CAP_BYTES,
    ActionRecord,
    ActionStatus,
    LastAction,
    Redactor,
    RetryState,
    RunRecord,
    RunStatus,
    StepRecord,
    StepStatus,
    Store,
)
from reconciler.journal.sqlite import SQLiteStore
from reconciler.journal.store import default_state_path, open_store

__all__ = [
    "OUTPUT_CAP_BYTES",
    "ActionRecord",
    "ActionStatus",
    "LastAction",
    "Redactor",
    "RetryState",
    "RunRecord",
    "RunStatus",
    "SQLiteStore",
    "StepRecord",
    "StepStatus",
    "Store",
    "default_state_path",
    "open_store",
]
