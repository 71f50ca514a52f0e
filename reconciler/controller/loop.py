"""`Controller`: the long-running loop around the `Engine`.

Start: take leadership (a non-leader waits, its HTTP answering meanwhile), load the branch head
(until it can be read), observe, and finish or undo every action a previous process left
interrupted (`Applier.resume_interrupted`) before anything new. Then, until stopped, wake for:

* `commit`: a ref of the local repository changed (watchfiles), or the periodic `poll` (every
  `--interval`; for a URL, a fetch) or a `webhook` found a new head: reconcile;
* `resync` (every `--resync`): reconcile even without a new commit, to see drift;
* `retry`: an object's backoff ended; `applied`: a batch ended (observe its result);
* cron and scheduled backups whose time came (run as jobs, not reconciliations).

`stop()` (SIGTERM, SIGINT) starts the graceful stop: no new step, running steps finish (at most
`stop_timeout` seconds), then every task is cancelled and the transports closed.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

import structlog

from reconciler.controller.engine import Engine
from reconciler.controller.jobs import (
    JobResult,
    Located,
    locate,
    record_job,
    run_backup,
    run_cron,
)
from reconciler.controller.schedule import Schedule, Timetable, backup_schedule, cron_schedule
from reconciler.controller.triggers import git_dir, head_commit, watch_refs
from reconciler.controller.workqueue import object_key
from reconciler.errors import ReconcilerError
from reconciler.logs import log_context
from reconciler.manifests.names import parse_duration
from reconciler.observe.gather import observe_all

__all__ = ["Controller", "Leader"]

_log = structlog.get_logger(__name__)
_SOURCE = {"poll", "webhook", "commit", "start"}
_RECONCILE = {"changed", "resync", "retry", "applied", "start"}
BUSY_RETRY = 60.0
"""Seconds a job due on a site that is being worked on waits before it is tried again."""


class Leader(Protocol):
    """Leadership over the journal (`reconciler.journal.leader`)."""

    def try_acquire(self) -> bool: ...

    async def wait_acquire(self, poll: float = ...) -> None: ...

    def release(self) -> None: ...

    @property
    def held(self) -> bool: ...


class Controller:
    def __init__(
        self,
        engine: Engine,
        *,
        leader: Leader | None = None,
        publish: Callable[[], None] = lambda: None,
    ) -> None:
        self.engine = engine
        self.leader = leader
        self.publish = publish
        self.cron = Timetable()
        self.backups = Timetable()
        self.jobs: set[asyncio.Task[None]] = set()
        self._reasons: set[str] = set()
        self._woken = asyncio.Event()
        self._stop = asyncio.Event()
        self._unwatch = asyncio.Event()
        self._head: str | None = None
        engine.wake = self.wake

    # ------------------------------------------------------------------ outside calls

    def wake(self, reason: str) -> None:
        self._reasons.add(reason)
        self._woken.set()

    def stop(self) -> None:
        if not self._stop.is_set():
            _log.info("stopping: no new step starts; running steps finish")
        self._stop.set()
        self.engine.gate.stop()
        self._woken.set()

    async def webhook(self, branch: str | None) -> None:
        """A verified delivery: fetch now when it is about the watched branch (or says none)."""
        watched = self.engine.config.source.branch
        if branch is None or watched is None or branch == watched:
            self.wake("webhook")

    # ------------------------------------------------------------------ run

    async def run(self) -> None:
        """Run until `stop()`; then the graceful stop. Returns normally (exit 0)."""
        main = asyncio.create_task(self._main())
        stopped = asyncio.create_task(self._stop.wait())
        done, _ = await asyncio.wait({main, stopped}, return_when=asyncio.FIRST_COMPLETED)
        self.engine.gate.stop()
        self._unwatch.set()
        quiet = await self.engine.gate.wait_quiet(self.engine.config.stop_timeout)
        if not quiet:
            _log.warning("steps still running after the stop timeout are cancelled")
        tasks = [main, stopped, *self.engine.batches, *self.jobs]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.engine.pool.close()
        if self.leader is not None:
            self.leader.release()
        if main in done and not main.cancelled() and main.exception() is not None:
            raise main.exception()  # type: ignore[misc]

    async def _main(self) -> None:
        engine = self.engine
        config = engine.config
        if self.leader is not None:
            if not self.leader.try_acquire():
                engine.leading = False
                self.publish()
                _log.info("another controller leads; waiting")
                await self.leader.wait_acquire()
            engine.leading = True
        while engine.manifests is None:
            await engine.load()
            self.publish()
            if engine.manifests is None:
                await self._sleep(config.interval)
                self._reasons.clear()
        self._head = engine.revision
        self._schedule_jobs()
        root = git_dir(config.source)
        if root is not None:
            watcher = asyncio.create_task(
                watch_refs(root, lambda: self.wake("commit"), self._unwatch)
            )
            self.jobs.add(watcher)
        await self._resume()
        await self._loop()

    async def _resume(self) -> None:
        engine = self.engine
        manifests = engine.manifests
        assert manifests is not None
        observed = await observe_all(manifests, engine.transports())
        resumed = await engine.applier(manifests, observed).resume_interrupted()
        if resumed:
            _log.info(
                "resumed interrupted actions",
                actions={r.action.id: r.result for r in resumed},
            )
        self.wake("start")

    async def _loop(self) -> None:
        engine = self.engine
        config = engine.config
        now = engine.clock()
        next_poll, next_resync = now + config.interval, now + config.resync
        retry_at: float | None = None
        while not self._stop.is_set():
            now = engine.clock()
            times = [next_poll, next_resync, retry_at, self.cron.next_wakeup()]
            times.append(self.backups.next_wakeup())
            deadline = min(t for t in times if t is not None)
            if not self._reasons:
                await self._sleep(deadline - now)
            if self._stop.is_set():
                return
            reasons, self._reasons = self._reasons, set()
            now = engine.clock()
            if now >= next_poll:
                reasons.add("poll")
                next_poll = now + config.interval
            if now >= next_resync:
                reasons.add("resync")
                next_resync = now + config.resync
            if retry_at is not None and now >= retry_at:
                reasons.add("retry")
            try:
                retry_at = await self._pass(reasons, retry_at)
            except Exception:  # a bug or a broken journal: logged, tried again at the next poll
                _log.exception("reconciliation failed; trying again at the next wakeup")
            self._run_due_jobs(engine.clock())
            self.publish()

    async def _pass(self, reasons: set[str], retry_at: float | None) -> float | None:
        """Take a new head and reconcile when `reasons` ask for it; the next retry time."""
        engine = self.engine
        if reasons & _SOURCE and await self._new_head():
            reasons.add("changed")
            self._schedule_jobs()
        if reasons & _RECONCILE:
            engine.leading = await asyncio.to_thread(self._still_leading)
            await engine.reconcile(reasons)
            return engine.queue.next_wakeup()
        return retry_at

    def _still_leading(self) -> bool:
        """Whether this process still leads (a PostgreSQL session can be lost), taking the
        lead again when nobody holds it; a controller that does not lead plans but applies
        nothing, and runs no job."""
        leader = self.leader
        try:
            if leader is None or leader.held:
                return True
            if leader.try_acquire():
                _log.info("leading again")
                return True
        except ReconcilerError as exc:  # the journal's server is away: apply nothing meanwhile
            _log.warning("leadership cannot be checked", error=exc.message)
        _log.warning("leadership lost: another controller applies; this one only plans")
        return False

    async def _sleep(self, seconds: float) -> None:
        self._woken.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._woken.wait(), max(seconds, 0.0))

    async def _new_head(self) -> bool:
        """Load the branch head when it may have moved; True when a new revision was taken."""
        engine = self.engine
        head = await asyncio.to_thread(head_commit, engine.config.source)
        if head is not None and head == self._head and engine.source_error is None:
            return False
        self._head = head
        return await engine.load()

    # ------------------------------------------------------------------ cron and backups

    def _schedule_jobs(self) -> None:
        manifests = self.engine.manifests
        if manifests is None:
            return
        now = self.engine.clock()
        crons: dict[str, Schedule | None] = {}
        backups: dict[str, Schedule | None] = {}
        for site in manifests.sites.values():
            if site.spec.state != "present":
                continue
            crons[site.name] = cron_schedule(site.name, parse_duration(site.spec.cron.interval))
            if site.spec.backups is not None:
                backups[site.name] = backup_schedule(site.name, site.spec.backups.schedule)
        self.cron.update(crons, now)
        self.backups.update(backups, now)

    def _run_due_jobs(self, now: float) -> None:
        engine = self.engine
        if not engine.leading or engine.manifests is None or engine.gate.stopping.is_set():
            return
        for kind, table in (("site.cron", self.cron), ("site.backup", self.backups)):
            for name in table.due(now):
                key = object_key("Site", name)
                if engine.queue.is_processing(key):
                    table.postpone(name, now, BUSY_RETRY)
                    continue
                table.ran(name, now)
                located = locate(engine.manifests, engine.observed, name)
                if located is None:
                    continue  # not installed (yet), disabled, moving, or its server is down
                task = asyncio.create_task(self._job(kind, name, located, now))
                self.jobs.add(task)
                task.add_done_callback(self.jobs.discard)

    async def _job(self, kind: str, name: str, located: Located, now: float) -> None:
        engine = self.engine
        key = object_key("Site", name)
        if engine.manifests is None or engine.queue.is_processing(key) or not engine.gate.enter():
            return
        engine.queue.start(key)
        try:
            with log_context(site=name, server=located.server.name, action=kind):
                result = await self._run_job(kind, name, located, now)
                log = _log.info if result.ok else _log.warning
                log("job done", ok=result.ok, error=result.error, detail=result.detail)
        finally:
            engine.queue.release(key)
            engine.gate.leave()
        self.wake("publish")

    async def _run_job(self, kind: str, name: str, located: Located, now: float) -> JobResult:
        """Run one job under the server's limit, recorded in the journal; never raises."""
        engine = self.engine
        manifests = engine.manifests
        assert manifests is not None
        server = located.server.name
        try:
            async with engine.limits.get(server) or asyncio.Semaphore(1):
                object_kind = "Cron" if kind == "site.cron" else "Backup"
                end = record_job(
                    engine.store, engine.revision or "", kind, object_kind, name, server
                )
                transports = engine.transports()
                if kind == "site.cron":
                    result = await run_cron(located, transports[server])
                else:
                    moment = datetime.fromtimestamp(now, UTC)
                    result = await run_backup(
                        manifests, engine.observed, located, transports, moment
                    )
                end(result)
                return result
        except Exception as exc:  # recorded in the log, never fatal to the controller
            _log.exception("job failed")
            return JobResult(False, str(exc))
