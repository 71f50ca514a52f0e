"""What the engine keeps in the work queue and the journal about its objects: each plan recorded
with its commit (when it differs from the last one), the retry state of every object (taken from
the journal the first time an object is seen, so a restart keeps its backoff, and saved there on
every change), the objects counted as converged or unreachable at a pass, the outcome of each
object a batch finishes, and whether an action failed at this revision before a restart.

`Engine` (`reconciler.controller.engine`) carries this as a base class and sets the attributes
declared here.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from reconciler.controller.policy import action_key
from reconciler.controller.workqueue import Outcome, Retry, WorkQueue, object_key
from reconciler.journal.model import Store, parse_time
from reconciler.manifests.manifestset import ManifestSet
from reconciler.plan import Plan, plan_json
from reconciler.plan.model import Action

__all__ = ["Bookkeeping"]


class Bookkeeping:
    """The engine's counting of outcomes; see the module's docstring."""

    store: Store
    queue: WorkQueue
    plan: Plan | None
    converged: dict[str, str]
    _judged: set[str]
    _restored: set[str]
    _recorded_plan: str | None
    _touched: set[str]

    def _record_plan(self, plan: Plan) -> None:
        """Record the plan with its commit when it differs from the last one recorded (an
        applied plan is recorded by its run too)."""
        text = json.dumps(plan_json(plan))
        if text == self._recorded_plan or not plan.actions:
            self._recorded_plan = text
            return
        self._recorded_plan = text
        run = self.store.begin_run(plan.revision, text, "plan")
        self.store.end_run(run, "succeeded")

    def _restore(self, key: str) -> None:
        """Take the journal's retry state of `key` the first time it is seen (a restart)."""
        if key in self._restored:
            return
        self._restored.add(key)
        found = self.store.retry_state(key)
        if found is not None and self.queue.retry(key) is None:
            self.queue.restore(key, Retry(found.attempts, parse_time(found.next_at).timestamp()))

    def _failed_before(self, action: Action) -> bool:
        """Whether the journal says the action failed at this revision, for objects this
        process has not judged itself (before a restart; retried transient failures excluded)."""
        key = action_key(action)
        if key in self._judged or self.queue.retry(key) is not None:
            return False
        revision = self.plan.revision if self.plan is not None else ""
        return self.store.failed_for_revision(action.id, revision)

    def _count_unreachable(self, keys: set[str], revision: str) -> None:
        """A transient failure for each object on a server that could not be observed (unless
        it is waiting out its backoff or a batch has it)."""
        for key in sorted(keys):
            self._restore(key)
            self.queue.add(key)
            if self.queue.in_backoff(key) or self.queue.is_processing(key):
                continue
            self._save(key, self.queue.record(key, "transient", revision))

    def _count_converged(self, manifests: ManifestSet, busy: set[str], revision: str) -> None:
        """Each declared object with nothing planned (`busy`: planned or unobserved) is converged
        at `revision`; its retry state, if any, is cleared."""
        declared = [object_key("Platform", n) for n in manifests.platforms]
        declared += [object_key("Site", n) for n in manifests.sites]
        for key in declared:
            if key in busy or self.queue.is_processing(key):
                continue
            self.converged[key] = revision
            self.queue.forget(key)
            self._restore(key)
            if self.queue.retry(key) is not None:
                self._save(key, self.queue.record(key, "ok", revision))

    def _save(self, key: str, retry: Retry | None) -> None:
        """The retry state of `key` into the journal (cleared when there is none)."""
        if retry is None:
            self.store.clear_retry(key)
        else:
            self.store.record_retry(key, retry.attempts, datetime.fromtimestamp(retry.next_at, UTC))

    def _finished(self, key: str, outcome: Outcome, revision: str) -> None:
        """A batch is done with `key`: count the outcome, and save a changed retry state."""
        kind, _, name = key.partition("/")
        if kind == "Site":
            self._touched.add(name)
        had_retry = self.queue.retry(key) is not None
        self._judged.add(key)
        retry = self.queue.done(key, outcome, revision)
        if outcome == "transient" or (had_retry and outcome in ("ok", "permanent")):
            self._save(key, retry)
