"""The controller's reconciliation: load the branch head, observe, plan, dispatch what the policy
allows, and count every outcome in the work queue and the journal.

Health (an HTTP request and `drush core:status` per site) is checked for every site at the start
and at each resync, and after a batch only for the sites its actions finished on. Statistics
(`drush pm:list` per site, each platform's inventory, SQLite sizes) are gathered at the start and
at each resync only, in the background (a pass never waits for them), and kept until the next.

A pass never waits for the actions it dispatches: they run as a batch task (`ControllerApplier`),
and when the batch ends the controller is woken for another pass, which observes the result. So a
slow action on one server never keeps a new commit from reaching the others; an object is still
never worked on by two batches at once (the work queue). A manifest set that cannot be read (or a
head commit whose signature is refused) changes nothing: the last good one stays in force, and
the status says why the new one was not taken.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

import structlog

from reconciler.apply.executor import ActionResult
from reconciler.apply.health import Health, check_health
from reconciler.controller.batch import Batch, ControllerApplier, outcome_of
from reconciler.controller.bookkeeping import Bookkeeping
from reconciler.controller.policy import Selection, action_key, objects_on, select
from reconciler.controller.shutdown import StopGate
from reconciler.controller.workqueue import Backoff, WorkQueue
from reconciler.errors import ReconcilerError
from reconciler.journal.model import Store
from reconciler.manifests.loader import load_manifests
from reconciler.manifests.manifestset import ManifestSet
from reconciler.manifests.source import SourceSpec
from reconciler.observe.gather import observe_all
from reconciler.observe.models import ObservedServer
from reconciler.observe.stats import Stats, StatsKeeper
from reconciler.plan import Plan, PlanRefused, make_plan
from reconciler.plan.model import Action
from reconciler.transport import Transports
from reconciler.transport.base import Transport

__all__ = ["ControllerConfig", "Engine", "Metrics", "NoMetrics", "Snapshot", "only_sites"]

_log = structlog.get_logger(__name__)

PLAN_ONLY = "plan only: run with --auto-apply to apply"


class Metrics(Protocol):
    """What the controller reports to metrics (`reconciler.api.metrics.Metrics` is one)."""

    def observe_reconcile(self, seconds: float) -> None: ...

    def action_done(self, kind: str, result: str) -> None: ...

    def server_synced(self, name: str, when: datetime | float) -> None: ...

    def set_queue_depth(self, n: int) -> None: ...


class NoMetrics:
    """Records nothing (a controller without an HTTP surface, the tests)."""

    def observe_reconcile(self, seconds: float) -> None:
        return None

    def action_done(self, kind: str, result: str) -> None:
        return None

    def server_synced(self, name: str, when: datetime | float) -> None:
        return None

    def set_queue_depth(self, n: int) -> None:
        return None


@dataclass(frozen=True)
class ControllerConfig:
    source: SourceSpec
    auto_apply: bool = False
    self_heal: bool = False
    prune: bool = False
    max_deletes: int = 5
    interval: float = 60.0
    resync: float = 600.0
    backoff: Backoff = field(default_factory=Backoff)
    stop_timeout: float = 60.0
    ssh_key: str | None = None
    known_hosts: str | None = None
    verify: Callable[[str], str | None] | None = None
    """Given the head commit id: None to take it, else why it is refused (signatures)."""


@dataclass(frozen=True)
class Snapshot:
    """What the controller knows now, for the status document and the dashboard."""

    revision: str | None
    manifests: ManifestSet | None
    observed: tuple[ObservedServer, ...]
    plan: Plan | None
    health: dict[str, Health]
    held: dict[str, str]
    source_error: str | None
    refused: str | None
    ready: bool
    leading: bool
    stats: Stats = field(default_factory=Stats)


def only_sites(observed: list[ObservedServer], names: set[str]) -> list[ObservedServer]:
    """`observed` with only the sites called `names` (to check the health of those alone)."""
    return [
        dataclasses.replace(
            server,
            platforms=tuple(
                dataclasses.replace(p, sites=tuple(s for s in p.sites if s.name in names))
                for p in server.platforms
            ),
        )
        for server in observed
    ]


class Engine(Bookkeeping):
    """State and one reconciliation pass; `reconciler.controller.loop` drives it. What it keeps
    in the work queue and the journal is `reconciler.controller.bookkeeping`'s."""

    def __init__(
        self,
        config: ControllerConfig,
        store: Store,
        *,
        clock: Callable[[], float] = time.time,
        metrics: Metrics | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.clock = clock
        self.metrics: Metrics = metrics or NoMetrics()
        self.queue = WorkQueue(config.backoff, clock)
        self.gate = StopGate()
        self.pool = Transports(ssh_key=config.ssh_key, known_hosts=config.known_hosts)
        self.limits: dict[str, asyncio.Semaphore] = {}
        self.manifests: ManifestSet | None = None
        self.revision: str | None = None
        self.source_error: str | None = None
        self.refused: str | None = None
        self.observed: list[ObservedServer] = []
        self.plan: Plan | None = None
        self.held: dict[str, str] = {}
        self.health: dict[str, Health] = {}
        self.stats = StatsKeeper(lambda: self.wake("publish"))
        self.converged: dict[str, str] = {}
        self.ready = False
        self.leading = True
        self.batches: set[asyncio.Task[None]] = set()
        self._judged: set[str] = set()
        self._restored: set[str] = set()
        self._recorded_plan: str | None = None
        self._touched: set[str] = set()
        """Sites an action finished on since the last health check."""
        self.wake: Callable[[str], None] = lambda reason: None

    # ------------------------------------------------------------------ the source

    async def load(self) -> bool:
        """Read the manifests at the branch head; True when a new revision was taken."""
        try:
            result = await asyncio.to_thread(load_manifests, self.config.source)
            manifests = result.require()
            if self.config.verify is not None and result.revision != self.revision:
                why = await asyncio.to_thread(self.config.verify, result.revision)
                if why is not None:
                    raise ReconcilerError(f"commit {result.revision[:12]} refused: {why}")
        except ReconcilerError as exc:
            if exc.message != self.source_error:
                _log.error("manifests not taken; the last good ones stay", error=exc.message)
            self.source_error = exc.message
            return False
        self.source_error = None
        if result.revision == self.revision and manifests == self.manifests:
            return False
        _log.info("manifests loaded", revision=result.revision, sites=len(manifests.sites))
        self.manifests, self.revision = manifests, result.revision
        for server in manifests.servers.values():
            self.pool.add(server)
            if server.name not in self.limits:
                self.limits[server.name] = asyncio.Semaphore(server.spec.concurrency)
        return True

    def transports(self) -> dict[str, Transport]:
        manifests = self.manifests
        return {name: self.pool[name] for name in manifests.servers} if manifests else {}

    # ------------------------------------------------------------------ a pass

    async def reconcile(self, reasons: set[str]) -> None:
        """Observe, plan, dispatch what may run; then publish what was learned."""
        manifests = self.manifests
        if manifests is None:
            return
        started = time.monotonic()
        transports = self.transports()
        observed = await observe_all(manifests, transports)
        self.observed = observed
        try:
            plan = make_plan(
                manifests, observed, prune=self.config.prune, max_deletes=self.config.max_deletes
            )
            self.refused = None
        except PlanRefused as refused:
            plan, self.refused = refused.plan, refused.message
            _log.error("plan refused, nothing applied", reason=refused.message)
        self.plan = plan
        self._record_plan(plan)
        down = set(objects_on(manifests, plan.unobserved))
        self._count_unreachable(down, plan.revision)
        planned = {action_key(a) for a in plan.actions}
        self._count_converged(manifests, planned | down, plan.revision)
        self.held = {a.id: PLAN_ONLY for a in plan.actions}
        if self.config.auto_apply and self.refused is None and self.leading:
            for action in plan.actions:
                self._restore(action_key(action))
            self.queue.add_all(planned)
            selection = select(
                plan,
                self.queue,
                self_heal=self.config.self_heal,
                converged=self.converged,
                failed_before=self._failed_before,
            )
            self.held = selection.held
            if selection.apply and not self.gate.stopping.is_set():
                self._dispatch(plan, selection, manifests, observed)
        elif self.refused is not None:
            self.held = {a.id: f"plan refused: {self.refused}" for a in plan.actions}
        if reasons & {"start", "resync"} or not self.ready:
            self._gather_stats(manifests, observed, transports)
            self.health = await check_health(manifests, observed, transports)
        elif self._touched:
            touched, self._touched = self._touched, set()
            self._gather_stats(manifests, observed, transports, frozenset(touched))
            found = await check_health(manifests, only_sites(observed, touched), transports)
            for name in touched:
                self.health.pop(name, None)
            self.health.update(found)
        now = self.clock()
        for server in observed:
            if server.reachable and server.name not in plan.unobserved:
                self.metrics.server_synced(server.name, now)
        self.metrics.observe_reconcile(time.monotonic() - started)
        self.metrics.set_queue_depth(len(self.queue.waiting()))
        self.ready = True

    def _gather_stats(
        self,
        manifests: ManifestSet,
        observed: list[ObservedServer],
        transports: dict[str, Transport],
        only: frozenset[str] | None = None,
    ) -> None:
        """Statistics in the background (all, or of the sites an action finished on), the task
        cancelled with the batches at stop."""
        gathering = self.stats.refresh(manifests, observed, transports, only)
        if gathering is not None:
            self.batches.add(gathering)
            gathering.add_done_callback(self.batches.discard)

    # ------------------------------------------------------------------ batches

    def applier(
        self,
        manifests: ManifestSet,
        observed: list[ObservedServer],
        on_result: Callable[[ActionResult], None] = lambda result: None,
    ) -> ControllerApplier:
        def progress(event: str, action: Action, text: str) -> None:
            if event == "skipped":
                on_result(ActionResult(action, "skipped", text))

        return ControllerApplier(
            manifests,
            observed,
            self.transports(),
            self.store,
            limits=self.limits,
            gate=self.gate,
            on_result=on_result,
            progress=progress,
        )

    def _dispatch(
        self,
        plan: Plan,
        selection: Selection,
        manifests: ManifestSet,
        observed: list[ObservedServer],
    ) -> None:
        batch = Batch(plan.revision, selection.apply)
        for key in batch.keys:
            self.queue.start(key)
        _log.info("applying", revision=plan.revision, actions=[a.id for a in selection.apply])

        def on_result(result: ActionResult) -> None:
            self.metrics.action_done(result.action.kind, result.result)
            action = result.action
            log = _log.warning if result.result == "failed" else _log.info
            log(
                f"action {result.result}",
                action=action.id,
                kind=action.kind,
                site=action.object_name if action.object_kind == "Site" else None,
                platform=action.object_name if action.object_kind == "Platform" else None,
                server=action.server,
                error=result.error,
                steps=[f"{s.name}: {s.status}" for s in result.steps],
            )
            final = batch.finish(result.action, outcome_of(result))
            if final is not None:
                self._finished(action_key(result.action), final, plan.revision)

        applier = self.applier(manifests, observed, on_result)
        ids = {a.id for a in selection.apply}
        task = asyncio.create_task(self._run_batch(applier, plan, ids, batch))
        self.batches.add(task)
        task.add_done_callback(self.batches.discard)

    async def _run_batch(
        self, applier: ControllerApplier, plan: Plan, ids: set[str], batch: Batch
    ) -> None:
        try:
            await applier.apply(plan, only=ids, trigger="controller")
        except asyncio.CancelledError:
            raise
        except Exception:  # a bug must not take the controller down with it
            _log.exception("a batch ended with an error")
        finally:
            if not self.gate.stopping.is_set():
                for key in batch.unfinished():
                    self._finished(key, "skipped", plan.revision)
                self.wake("applied")

    # ------------------------------------------------------------------ status

    def snapshot(self) -> Snapshot:
        return Snapshot(
            revision=self.revision,
            manifests=self.manifests,
            observed=tuple(self.observed),
            plan=self.plan,
            health=dict(self.health),
            held=dict(self.held),
            source_error=self.source_error,
            refused=self.refused,
            ready=self.ready,
            leading=self.leading,
            stats=self.stats.stats,
        )
