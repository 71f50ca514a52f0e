"""One dispatch of the controller: the selected actions of a plan, applied by the apply engine.

`ControllerApplier` is the `Applier` with what a long-running controller adds around each
action: a per-server limit shared by every batch (so two batches never run more than a
server's `concurrency` there together), the stop gate (an action not started yet never starts
once stopping), and a callback with each action's result. `Batch` turns those results into one
outcome per object for the work queue: the worst of its actions' (permanent, then transient,
then skipped, then ok).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from reconciler.apply.executor import ActionResult, Applier
from reconciler.controller.policy import action_key
from reconciler.controller.shutdown import StopGate
from reconciler.controller.workqueue import Outcome
from reconciler.plan.model import Action

__all__ = ["Batch", "ControllerApplier", "outcome_of"]

_RANK: dict[Outcome, int] = {"ok": 0, "skipped": 1, "transient": 2, "permanent": 3}


def outcome_of(result: ActionResult) -> Outcome:
    """How the work queue counts an action's result."""
    if result.result == "succeeded":
        return "ok"
    if result.result == "skipped":
        return "skipped"
    return "transient" if result.transient else "permanent"


@dataclass
class Batch:
    """The actions of one dispatch, counted down per object as they finish."""

    revision: str
    actions: tuple[Action, ...]
    remaining: dict[str, int] = field(default_factory=dict)
    outcomes: dict[str, Outcome] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for action in self.actions:
            key = action_key(action)
            self.remaining[key] = self.remaining.get(key, 0) + 1

    @property
    def keys(self) -> list[str]:
        return sorted(self.remaining)

    def finish(self, action: Action, outcome: Outcome) -> Outcome | None:
        """Count one finished action; the object's outcome once its last action finished."""
        key = action_key(action)
        if self.remaining.get(key, 0) <= 0:
            return None
        before = self.outcomes.get(key, "ok")
        self.outcomes[key] = outcome if _RANK[outcome] > _RANK[before] else before
        self.remaining[key] -= 1
        if self.remaining[key] == 0:
            del self.remaining[key]
            return self.outcomes[key]
        return None

    def unfinished(self) -> list[str]:
        """Objects some of whose actions never finished (the batch was cancelled)."""
        return sorted(self.remaining)


class ControllerApplier(Applier):
    """An `Applier` sharing per-server limits across batches, held by the stop gate, and
    reporting each action's result to `on_result`."""

    def __init__(
        self,
        *args: Any,
        limits: Mapping[str, asyncio.Semaphore],
        gate: StopGate,
        on_result: Callable[[ActionResult], None] = lambda result: None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, before_step=gate.before_step, **kwargs)
        self.limits = limits
        self.gate = gate
        self.on_result = on_result

    async def run_action(
        self, action: Action, run_id: int | None, *, backup_id: str | None = None
    ) -> ActionResult:
        if self.gate.stopping.is_set():
            await asyncio.Future()  # never started: no journal row moves; cancelled on exit
        limit = self.limits.get(action.server)
        if limit is None:
            limit = asyncio.Semaphore(1)
        async with limit:
            if self.gate.stopping.is_set():
                await asyncio.Future()
            self.gate.enter_anyway()
            try:
                result = await super().run_action(action, run_id, backup_id=backup_id)
            finally:
                self.gate.leave()
        self.on_result(result)
        return result
