"""The controller's metrics (`reconciler.api.metrics`), read back through prometheus-client's own
text-format parser: every method moves what it should, and nothing leaks into the global
registry."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone

import pytest
from prometheus_client import REGISTRY, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from reconciler.api.metrics import RECONCILE_BUCKETS, Metrics
from reconciler.apply.health import Health
from reconciler.cli.status_cmd import StatusView, status_json
from reconciler.journal.model import LastAction
from reconciler.observe.models import ObservedServer
from reconciler.observe.sync import ObjectStatus, StatusReport

Key = tuple[str, frozenset[tuple[str, str]]]


def samples(metrics: Metrics) -> dict[Key, float]:
    """Every sample of the rendered text, parsed by prometheus-client's parser."""
    found: dict[Key, float] = {}
    for family in text_string_to_metric_families(metrics.render().decode()):
        for sample in family.samples:
            key = (sample.name, frozenset(sample.labels.items()))
            assert key not in found, f"sample {key} twice"
            found[key] = sample.value
    return found


def value(metrics: Metrics, name: str, **labels: str) -> float:
    return samples(metrics)[(name, frozenset(labels.items()))]


def families(metrics: Metrics) -> dict[str, str]:
    """Name and type of each family, without prometheus-client's `*_created` timestamps."""
    parsed = text_string_to_metric_families(metrics.render().decode())
    return {f.name: f.type for f in parsed if not f.name.endswith("_created")}


def test_a_fresh_registry_has_every_metric_at_zero() -> None:
    metrics = Metrics(process=False)
    assert families(metrics) == {
        "reconciler_reconcile_duration_seconds": "histogram",
        "reconciler_actions": "counter",
        "reconciler_objects": "gauge",
        "reconciler_server_last_sync_timestamp_seconds": "gauge",
        "reconciler_queue_depth": "gauge",
    }
    assert value(metrics, "reconciler_reconcile_duration_seconds_count") == 0
    assert value(metrics, "reconciler_queue_depth") == 0


def test_process_metrics_come_with_the_default() -> None:
    found = samples(Metrics())
    assert found[("process_resident_memory_bytes", frozenset())] > 0


def test_reconcile_durations_fill_the_histogram() -> None:
    metrics = Metrics(process=False)
    for seconds in (0.2, 3.0, 3.0, 4000.0):
        metrics.observe_reconcile(seconds)
    name = "reconciler_reconcile_duration_seconds"
    assert value(metrics, f"{name}_count") == 4
    assert value(metrics, f"{name}_sum") == pytest.approx(4006.2)
    assert value(metrics, f"{name}_bucket", le="0.5") == 1
    assert value(metrics, f"{name}_bucket", le="5.0") == 3
    assert value(metrics, f"{name}_bucket", le=str(RECONCILE_BUCKETS[-1])) == 3
    assert value(metrics, f"{name}_bucket", le="+Inf") == 4


@pytest.mark.parametrize("seconds", [-1.0, math.nan, math.inf])
def test_an_impossible_duration_is_refused(seconds: float) -> None:
    with pytest.raises(ValueError, match="cannot take"):
        Metrics(process=False).observe_reconcile(seconds)


def test_actions_are_counted_by_kind_and_result() -> None:
    metrics = Metrics(process=False)
    metrics.action_done("install", "succeeded")
    metrics.action_done("install", "succeeded")
    metrics.action_done("upgrade", "failed")
    assert value(metrics, "reconciler_actions_total", kind="install", result="succeeded") == 2
    assert value(metrics, "reconciler_actions_total", kind="upgrade", result="failed") == 1
    assert (
        "reconciler_actions_total",
        frozenset({("kind", "upgrade"), ("result", "succeeded")}),
    ) not in samples(metrics)
    with pytest.raises(ValueError, match="kind and a result"):
        metrics.action_done("", "failed")


def _row(kind: str, name: str, sync: str) -> ObjectStatus:
    return ObjectStatus(kind, name, "web1", "p1", "10.3.6", sync)


def _status(**syncs: str) -> dict[str, object]:
    """A real `status` document (the one `/api/status` serves) with sites of the given states."""
    report = StatusReport(
        revision="abc",
        sites=tuple(_row("Site", name.replace("_", "."), s) for name, s in syncs.items()),
        platforms=(_row("Platform", "p1", "Synced"),),
        servers=(ObservedServer(name="web1", reachable=True),),
        unmanaged=(_row("Site", "stray.example", "Unmanaged"),),
    )
    view = StatusView(
        report,
        health={"a.example": Health("Healthy"), "b.example": Health("Degraded", "HTTP 500")},
        last={("Site", "c.example"): LastAction("upgrade", "failed", "updatedb", "2025-01-01")},
    )
    return status_json(view)


def test_objects_are_counted_from_the_status_document_and_drop_to_zero() -> None:
    metrics = Metrics(process=False)
    metrics.set_objects(
        _status(a_example="Synced", b_example="Synced", c_example="OutOfSync", d_example="Missing")
    )

    def objects(kind: str, sync: str, health: str) -> float:
        return value(metrics, "reconciler_objects", kind=kind, sync=sync, health=health)

    assert objects("Site", "Synced", "Healthy") == 1
    assert objects("Site", "Synced", "Degraded") == 1
    assert objects("Site", "OutOfSync", "Failed") == 1
    assert objects("Site", "Missing", "Unknown") == 1
    assert objects("Site", "Unmanaged", "Unknown") == 1
    assert objects("Platform", "Synced", "Healthy") == 1

    metrics.set_objects(_status(a_example="Synced", b_example="Synced"))
    assert objects("Site", "OutOfSync", "Failed") == 0
    assert objects("Site", "Missing", "Unknown") == 0
    assert objects("Site", "Synced", "Healthy") == 1


def test_a_status_without_lists_counts_nothing() -> None:
    metrics = Metrics(process=False)
    metrics.set_objects({"revision": None, "sites": None})
    assert not [k for k in samples(metrics) if k[0] == "reconciler_objects"]


def test_last_sync_time_per_server_in_unix_seconds() -> None:
    metrics = Metrics(process=False)
    when = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
    metrics.server_synced("web1", when)
    metrics.server_synced("web2", 1_700_000_000.5)
    name = "reconciler_server_last_sync_timestamp_seconds"
    assert value(metrics, name, server="web1") == when.timestamp()
    later = datetime(2025, 3, 1, 14, 30, tzinfo=timezone(timedelta(hours=2)))
    metrics.server_synced("web1", later)
    assert value(metrics, name, server="web1") == when.timestamp() + 30 * 60
    assert value(metrics, name, server="web2") == 1_700_000_000.5
    with pytest.raises(ValueError, match="aware"):
        metrics.server_synced("web1", datetime(2025, 3, 1))  # naive: the point


def test_queue_depth_moves_both_ways() -> None:
    metrics = Metrics(process=False)
    metrics.set_queue_depth(12)
    assert value(metrics, "reconciler_queue_depth") == 12
    metrics.set_queue_depth(0)
    assert value(metrics, "reconciler_queue_depth") == 0
    with pytest.raises(ValueError, match="cannot hold"):
        metrics.set_queue_depth(-1)


def test_each_instance_has_its_own_registry_and_the_global_one_is_untouched() -> None:
    one, two = Metrics(process=False), Metrics(process=False)
    one.action_done("install", "succeeded")
    one.set_queue_depth(3)
    assert value(two, "reconciler_queue_depth") == 0
    assert not [k for k in samples(two) if k[0] == "reconciler_actions_total"]
    assert b"reconciler_" not in generate_latest(REGISTRY)
