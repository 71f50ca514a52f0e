"""`Applier`: a plan's actions in dependency order, in parallel across servers within each
server's `concurrency`, every action and step recorded in the journal as it starts and ends.

One failed action marks its object failed; the actions that depend on it are skipped and every
other action still runs. An interrupted run (the process was killed) is resumed first: each of
its unfinished actions runs again from the manifests of now, its steps' checks skipping what was
done, before a new plan is made.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from reconciler.apply.contexts import backup_id_of
from reconciler.apply.runner import ActionOutcome, AnyStep, StepHooks, StepOutcome, run_steps
from reconciler.apply.steps_for import work_for
from reconciler.errors import ReconcilerError
from reconciler.journal.model import StepStatus, Store
from reconciler.manifests.manifestset import ManifestSet
from reconciler.observe.models import ObservedServer
from reconciler.plan.model import Action, Plan
from reconciler.plan.render import action_from_json, plan_json
from reconciler.transport.base import Transport

__all__ = ["ActionResult", "Applier", "ApplyResult", "Progress"]

Result = Literal["succeeded", "failed", "skipped"]
Progress = Callable[[str, Action, str], None]
"""Called with an event ("start", "step", "succeeded", "failed", "skipped"), the action, and a
line of text."""


@dataclass(frozen=True)
class ActionResult:
    action: Action
    result: Result
    error: str | None = None
    steps: tuple[StepOutcome, ...] = ()
    transient: bool = False


@dataclass
class ApplyResult:
    run_id: int | None
    results: list[ActionResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(r.result == "succeeded" for r in self.results)

    def failed(self) -> list[ActionResult]:
        return [r for r in self.results if r.result != "succeeded"]


class _Journal(StepHooks):
    def __init__(
        self, store: Store | None, action_row: int | None, progress: Callable[[str], None]
    ):
        self.store = store
        self.row = action_row
        self.progress = progress

    async def started(self, index: int, step: AnyStep) -> object:
        self.progress(step.name)
        if self.store is None or self.row is None:
            return None
        return self.store.record_step_start(self.row, index, step.name)

    async def ended(self, token: object, outcome: StepOutcome) -> None:
        if self.store is None or not isinstance(token, int):
            return
        status: StepStatus = "failed" if outcome.status == "failed" else "done"
        text = outcome.output if outcome.status != "skipped" else "already done: skipped"
        if outcome.error:
            text = f"{outcome.error}\n{text}".strip()
        self.store.record_step_end(token, status, text)


class Applier:
    """Applies plans against `transports` (one per declared server name)."""

    def __init__(
        self,
        manifests: ManifestSet,
        observed: list[ObservedServer],
        transports: Mapping[str, Transport],
        store: Store | None,
        *,
        progress: Progress | None = None,
        now: Callable[[], datetime] | None = None,
        before_step: Callable[[int, AnyStep], Awaitable[None]] | None = None,
    ) -> None:
        """`before_step` is awaited before each step of every action starts (the controller's
        graceful stop: it waits there, so no new step starts, until the process exits)."""
        self.manifests = manifests
        self.observed = observed
        self.transports = transports
        self.store = store
        self.progress = progress or (lambda event, action, text: None)
        self.now = now
        self.before_step = before_step

    # ---------------------------------------------------------------- one action

    async def run_action(
        self, action: Action, run_id: int | None, *, backup_id: str | None = None
    ) -> ActionResult:
        row = None
        if self.store is not None and run_id is not None:
            row = self.store.record_action_start(
                run_id,
                action.id,
                action.kind,
                action.object_kind,
                action.object_name,
                action.server,
            )
        self.progress("start", action, action.reason)
        try:
            moment = self.now() if self.now is not None else None
            work = work_for(action, self.manifests, self.observed, now=moment, backup_id=backup_id)
            transports = {role: self.transports[name] for role, name in work.servers.items()}
        except (ReconcilerError, KeyError, ValueError) as exc:
            message = exc.message if isinstance(exc, ReconcilerError) else str(exc)
            return self._end(row, action, ActionOutcome(ok=False, error=message))
        hooks = _Journal(self.store, row, lambda name: self.progress("step", action, name))
        outcome = await run_steps(work.steps, transports, hooks, before_step=self.before_step)
        return self._end(row, action, outcome)

    def _end(self, row: int | None, action: Action, outcome: ActionOutcome) -> ActionResult:
        result: Result = "succeeded" if outcome.ok else "failed"
        error = outcome.error
        if error and outcome.undone:
            error += " (what the action had made was undone)"
        if self.store is not None and row is not None:
            self.store.record_action_end(row, result, error)
        self.progress(result, action, error or "")
        return ActionResult(action, result, error, tuple(outcome.steps), outcome.transient)

    # ---------------------------------------------------------------- a plan

    async def apply(
        self,
        plan: Plan,
        *,
        only: set[str] | None = None,
        exclude: set[str] | None = None,
        trigger: str = "apply",
    ) -> ApplyResult:
        """Apply `plan` (only the actions of `only`'s objects or ids when given, never those
        whose id is in `exclude`)."""
        actions = [
            a
            for a in plan.actions
            if (only is None or a.object_name in only or a.id in only)
            and a.id not in (exclude or set())
        ]
        run_id = None
        if self.store is not None:
            run_id = self.store.begin_run(plan.revision, json.dumps(plan_json(plan)), trigger)
            for a in actions:
                self.store.add_action(run_id, a.id, a.kind, a.object_kind, a.object_name, a.server)
        result = ApplyResult(run_id)
        result.results = await self._schedule(actions, run_id)
        if self.store is not None and run_id is not None:
            self.store.end_run(run_id, "succeeded" if result.ok else "failed")
        return result

    async def _schedule(
        self,
        actions: list[Action],
        run_id: int | None,
        backups: dict[str, str] | None = None,
    ) -> list[ActionResult]:
        done: dict[str, asyncio.Event] = {a.id: asyncio.Event() for a in actions}
        results: dict[str, ActionResult] = {}
        limits = {
            name: asyncio.Semaphore(server.spec.concurrency)
            for name, server in self.manifests.servers.items()
        }

        async def one(action: Action) -> None:
            try:
                for dep in action.depends_on:
                    if dep in done:
                        await done[dep].wait()
                        if results[dep].result != "succeeded":
                            results[action.id] = self._skip(action, run_id, dep)
                            return
                limit = limits.get(action.server) or asyncio.Semaphore(1)
                async with limit:
                    results[action.id] = await self.run_action(
                        action, run_id, backup_id=(backups or {}).get(action.id)
                    )
            finally:
                done[action.id].set()

        await asyncio.gather(*(one(a) for a in actions))
        return [results[a.id] for a in actions]

    def _skip(self, action: Action, run_id: int | None, dep: str) -> ActionResult:
        error = f"not run: {dep} did not succeed"
        if self.store is not None and run_id is not None:
            row = self.store.record_action_start(
                run_id,
                action.id,
                action.kind,
                action.object_kind,
                action.object_name,
                action.server,
            )
            self.store.record_action_end(row, "skipped", error)
        self.progress("skipped", action, error)
        return ActionResult(action, "skipped", error)

    # ---------------------------------------------------------------- resume

    async def resume_interrupted(self) -> list[ActionResult]:
        """Finish every run a killed process left `running`: its unfinished actions run again
        (steps already done are skipped by their checks), then the run is closed."""
        if self.store is None:
            return []
        results: list[ActionResult] = []
        for run in self.store.interrupted_runs():
            plan = json.loads(run.plan_json)
            intents = {a["id"]: action_from_json(a) for a in plan.get("actions", [])}
            unfinished = [
                intents[a.action_id]
                for a in run.actions
                if a.status == "running" and a.action_id in intents
            ]
            todo = [a for a in unfinished if self._still_wanted(a)]
            backups = {}
            for record in run.actions:
                found = backup_id_of([step.name for step in record.steps])
                if found is not None:
                    backups[record.action_id] = found
            for action in unfinished:
                if action not in todo:
                    self.progress("skipped", action, "interrupted, no longer declared as planned")
            results += await self._schedule(todo, run.id, backups)
            self.store.mark_interrupted(run.id)
        return results

    def _still_wanted(self, action: Action) -> bool:
        """An interrupted action is resumed only while git still wants what it was doing."""
        if action.object_kind == "Platform":
            platform = self.manifests.platforms.get(action.object_name)
            if action.kind == "platform.delete":
                return platform is None or platform.spec.state == "absent"
            return platform is not None and platform.spec.state == "present"
        site = self.manifests.sites.get(action.object_name)
        if action.kind == "site.delete":
            return site is None or site.spec.state == "absent"
        return (
            site is not None
            and site.spec.state != "absent"
            and (action.platform is None or site.spec.platform == action.platform)
        )
