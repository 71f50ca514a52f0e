"""The controller's work queue: which objects are due for reconciliation, and when.

Pure: time comes from an injected clock (seconds since the epoch), nothing here sleeps or does
I/O. Modelled on client-go's workqueue:

* a key (an object: `Site/www.example.com`, `Platform/d10`) is never processed twice at once:
  `start` refuses a key being processed;
* triggers collapse: adding a key already waiting does nothing, adding a key being processed marks
  it dirty, and it waits again (once) when its processing ends;
* a transient failure (SSH drop, timeout, unreachable server) puts the key in backoff:
  `backoff_base * 2**(n-1)` seconds after its n-th failure in a row, at most `backoff_max`;
  a success resets it;
* a permanent failure is recorded against the revision it happened at: the key is not retried
  until the revision changes (CONTRACT.md section 3, "Upgrades that fail").
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

__all__ = ["Backoff", "Outcome", "Retry", "WorkQueue", "object_key"]

Outcome = Literal["ok", "transient", "permanent", "skipped"]
"""`skipped`: not run (an action it needed failed); its own retry state is left as it was."""


def object_key(kind: str, name: str) -> str:
    """The queue's (and the journal's retry) key of an object: `Site/<name>`."""
    return f"{kind}/{name}"


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff: `base` seconds after the first failure, doubling, at most `cap`."""

    base: float = 1.0
    cap: float = 600.0

    def __post_init__(self) -> None:
        if self.base <= 0 or self.cap < self.base:
            raise ValueError("backoff needs 0 < base <= cap")

    def delay(self, attempts: int) -> float:
        """Seconds to wait after the `attempts`-th failure in a row (1 for the first)."""
        if attempts < 1:
            raise ValueError("attempts start at 1")
        # 2**60 times any base is past any cap: stop doubling before floats overflow
        return min(self.base * float(2 ** min(attempts - 1, 60)), self.cap)


@dataclass(frozen=True)
class Retry:
    """A key's transient failures in a row and when it may be tried again."""

    attempts: int
    next_at: float


class WorkQueue:
    """Keys waiting, being processed, in backoff, or failed for a revision."""

    def __init__(self, backoff: Backoff, clock: Callable[[], float]) -> None:
        self.backoff = backoff
        self.clock = clock
        self._waiting: set[str] = set()
        self._processing: set[str] = set()
        self._dirty: set[str] = set()
        self._retries: dict[str, Retry] = {}
        self._failed: dict[str, str] = {}

    # ---------------------------------------------------------------- triggers

    def add(self, key: str) -> None:
        """Ask for `key` to be reconciled (again); collapses with a pending request."""
        if key in self._processing:
            self._dirty.add(key)
        else:
            self._waiting.add(key)

    def add_all(self, keys: Iterable[str]) -> None:
        for key in keys:
            self.add(key)

    def forget(self, key: str) -> None:
        """Drop a waiting request (the object has nothing left to do)."""
        self._waiting.discard(key)

    # ---------------------------------------------------------------- questions

    def waiting(self) -> frozenset[str]:
        return frozenset(self._waiting)

    def processing(self) -> frozenset[str]:
        return frozenset(self._processing)

    def is_processing(self, key: str) -> bool:
        return key in self._processing

    def retry(self, key: str) -> Retry | None:
        return self._retries.get(key)

    def retries(self) -> dict[str, Retry]:
        return dict(self._retries)

    def in_backoff(self, key: str) -> bool:
        found = self._retries.get(key)
        return found is not None and found.next_at > self.clock()

    def failed_at(self, key: str, revision: str) -> bool:
        """Whether `key` failed permanently at `revision` (not to be retried at it)."""
        return self._failed.get(key) == revision

    def blocked(self, key: str, revision: str) -> str | None:
        """Why `key` may not start now (None: it may)."""
        if key in self._processing:
            return "in progress"
        if self.failed_at(key, revision):
            return "failed at this revision; a new commit (or `reconciler apply`) tries again"
        found = self._retries.get(key)
        if found is not None and found.next_at > self.clock():
            return f"transient failure #{found.attempts}: retried in backoff"
        return None

    def ready(self, revision: str) -> list[str]:
        """The waiting keys that may start now, in name order."""
        return sorted(k for k in self._waiting if self.blocked(k, revision) is None)

    def next_wakeup(self) -> float | None:
        """The earliest time a waiting key leaves backoff (None: no waiting key is in backoff)."""
        now = self.clock()
        times = [
            r.next_at
            for key, r in self._retries.items()
            if r.next_at > now and (key in self._waiting or key in self._dirty)
        ]
        return min(times) if times else None

    # ---------------------------------------------------------------- processing

    def start(self, key: str) -> None:
        """`key` starts processing; refused while it already is."""
        if key in self._processing:
            raise ValueError(f"{key} is already being processed")
        self._waiting.discard(key)
        self._processing.add(key)

    def release(self, key: str) -> None:
        """`key` finished work that is no reconciliation (a cron run): its state is unchanged,
        and a trigger that came meanwhile makes it wait again."""
        self._processing.discard(key)
        if key in self._dirty:
            self._dirty.discard(key)
            self._waiting.add(key)

    def done(self, key: str, outcome: Outcome, revision: str) -> Retry | None:
        """`key` finished with `outcome` (at `revision`); returns its retry state after it."""
        self._processing.discard(key)
        result = self.record(key, outcome, revision)
        if key in self._dirty:
            self._dirty.discard(key)
            self._waiting.add(key)
        elif outcome != "ok":
            self._waiting.add(key)  # retried (after backoff, at a new revision, after its need)
        return result

    def record(self, key: str, outcome: Outcome, revision: str) -> Retry | None:
        """Count an outcome without processing (an unreachable server fails its objects)."""
        if outcome == "skipped":
            return self._retries.get(key)
        if outcome == "ok":
            self._retries.pop(key, None)
            self._failed.pop(key, None)
            return None
        if outcome == "permanent":
            self._failed[key] = revision
            self._retries.pop(key, None)
            return None
        previous = self._retries.get(key)
        attempts = (previous.attempts if previous is not None else 0) + 1
        found = Retry(attempts, self.clock() + self.backoff.delay(attempts))
        self._retries[key] = found
        return found

    def restore(self, key: str, retry: Retry) -> None:
        """Take a retry state recorded before a restart (the journal's)."""
        self._retries[key] = retry
