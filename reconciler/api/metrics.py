"""The controller's Prometheus metrics, in a registry of their own.

`Metrics` owns a `CollectorRegistry` (never prometheus-client's global one, so two controllers or
two tests in one process never share counters). The controller calls its methods as things
happen; `render()` gives the text exposition format served on `/metrics`.

| metric | type | labels | set by |
|---|---|---|---|
| `reconciler_reconcile_duration_seconds` | histogram | | `observe_reconcile` |
| `reconciler_actions_total` | counter | `kind`, `result` | `action_done` |
| `reconciler_objects` | gauge | `kind`, `sync`, `health` | `set_objects` |
| `reconciler_server_last_sync_timestamp_seconds` | gauge | `server` | `server_synced` |
| `reconciler_queue_depth` | gauge | | `set_queue_depth` |

plus prometheus-client's `process_*` metrics of this process (resident memory, CPU, open files)
where the platform has them.
"""

from __future__ import annotations

import math
from collections import Counter as Tally
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

__all__ = ["CONTENT_TYPE", "RECONCILE_BUCKETS", "UNKNOWN_HEALTH", "Metrics"]

CONTENT_TYPE: Final = CONTENT_TYPE_LATEST
"""The `Content-Type` of what `Metrics.render` returns."""

RECONCILE_BUCKETS: Final = (0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)
"""Seconds: a no-op reconcile takes about a second (one probe per server), an install or an
upgrade minutes, a large first convergence up to half an hour."""

UNKNOWN_HEALTH: Final = "Unknown"
"""The `health` label of an object whose health is not known (`null` in the status JSON)."""

ObjectKey = tuple[str, str, str]


class Metrics:
    """The metrics one controller exposes; every method is cheap and safe to call often."""

    def __init__(self, *, process: bool = True) -> None:
        """`process=False` leaves out the `process_*` metrics (for tests comparing output)."""
        self.registry: Final = CollectorRegistry()
        self._duration = Histogram(
            "reconciler_reconcile_duration_seconds",
            "Time one reconciliation (observe, plan and, when allowed, apply) took.",
            buckets=RECONCILE_BUCKETS,
            registry=self.registry,
        )
        self._actions = Counter(
            "reconciler_actions",
            "Actions that finished, by kind (install, upgrade, ...) and result.",
            ["kind", "result"],
            registry=self.registry,
        )
        self._objects = Gauge(
            "reconciler_objects",
            "Sites and platforms by sync state and health, as of the last status.",
            ["kind", "sync", "health"],
            registry=self.registry,
        )
        self._last_sync = Gauge(
            "reconciler_server_last_sync_timestamp_seconds",
            "When the server last finished a reconciliation without failure (unix seconds).",
            ["server"],
            registry=self.registry,
        )
        self._queue = Gauge(
            "reconciler_queue_depth",
            "Objects waiting in the work queue.",
            registry=self.registry,
        )
        self._seen_objects: set[ObjectKey] = set()
        if process:
            ProcessCollector(registry=self.registry)

    def observe_reconcile(self, seconds: float) -> None:
        """Record the duration of one reconciliation."""
        if not math.isfinite(seconds) or seconds < 0:
            raise ValueError(f"a reconcile cannot take {seconds!r} seconds")
        self._duration.observe(seconds)

    def action_done(self, kind: str, result: str) -> None:
        """Count one finished action: `kind` as in the plan, `result` as in the journal
        (`succeeded`, `failed`, `skipped`, `undone`)."""
        if not kind or not result:
            raise ValueError("an action needs a kind and a result")
        self._actions.labels(kind=kind, result=result).inc()

    def set_objects(self, status: Mapping[str, object]) -> None:
        """Count sites and platforms by sync and health from a `status` JSON document.

        Sites and platforms come from `sites` and `platforms`; `unmanaged` entries count as
        `Unmanaged` of their kind. A combination seen before and absent now is set to 0 rather
        than dropped, so graphs show it going away.
        """
        counts: Tally[ObjectKey] = Tally()
        for kind, rows in (("Site", status.get("sites")), ("Platform", status.get("platforms"))):
            for row in _rows(rows):
                counts[(kind, _label(row.get("sync")), _label(row.get("health")))] += 1
        for row in _rows(status.get("unmanaged")):
            counts[(_label(row.get("kind")), "Unmanaged", UNKNOWN_HEALTH)] += 1
        for key in self._seen_objects - counts.keys():
            self._objects.labels(*key).set(0)
        for key, count in counts.items():
            self._objects.labels(*key).set(count)
        self._seen_objects |= counts.keys()

    def server_synced(self, name: str, when: datetime | float) -> None:
        """Record that server `name` finished a reconciliation without failure at `when`
        (an aware datetime, or unix seconds)."""
        if isinstance(when, datetime):
            if when.tzinfo is None:
                raise ValueError("server_synced needs an aware datetime (UTC), not a naive one")
            when = when.timestamp()
        self._last_sync.labels(server=name).set(when)

    def set_queue_depth(self, n: int) -> None:
        """Record how many objects wait in the work queue."""
        if n < 0:
            raise ValueError(f"a queue cannot hold {n} objects")
        self._queue.set(n)

    def render(self) -> bytes:
        """Every metric in the Prometheus text exposition format (`CONTENT_TYPE`)."""
        return generate_latest(self.registry)


def _rows(value: object) -> Iterable[Mapping[str, object]]:
    if not isinstance(value, list | tuple):
        return ()
    return (row for row in value if isinstance(row, Mapping))


def _label(value: object) -> str:
    return value if isinstance(value, str) and value else UNKNOWN_HEALTH
