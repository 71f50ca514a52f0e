"""`Store.recent_runs`: the latest runs, newest first, with their action counts (the dashboard's
"recent runs"). Runs on both stores: a SQLite file, and PostgreSQL (the server on this machine,
a fresh schema per test; marked `integration`)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from reconciler.journal import RunSummary
from reconciler.journal.recent import MAX_RECENT_RUNS
from unit.journals import Backend, journal_backend


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.integration)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    with journal_backend(request.param, tmp_path) as found:
        yield found


class Clock:
    """A clock moving one second a call, so every timestamp differs."""

    def __init__(self) -> None:
        self.now = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


def test_recent_runs_newest_first_with_counts(backend: Backend) -> None:
    with backend.open(clock=Clock()) as store:
        assert store.recent_runs(10) == ()
        first = store.begin_run("a" * 40, "{}", "controller")
        ok = store.record_action_start(first, "site.install:a", "site.install", "Site", "a", "w")
        store.record_action_end(ok, "succeeded")
        bad = store.record_action_start(first, "site.install:b", "site.install", "Site", "b", "w")
        store.record_action_end(bad, "failed", "drush said no")
        store.add_action(first, "site.install:c", "site.install", "Site", "c", "w")
        store.end_run(first, "failed")
        second = store.begin_run("b" * 40, "{}", "cron")
        store.end_run(second, "succeeded")
        third = store.begin_run("c" * 40, "{}", "plan")  # still running

        runs = store.recent_runs(10)
        assert [run.id for run in runs] == [third, second, first]
        assert runs[2] == RunSummary(
            id=first,
            revision="a" * 40,
            trigger="controller",
            status="failed",
            started_at="2024-05-01T12:00:02.000000Z",
            ended_at=runs[2].ended_at,
            actions=3,
            failed=1,
        )
        assert runs[2].ended_at is not None and runs[2].ended_at > runs[2].started_at
        assert (runs[1].trigger, runs[1].status, runs[1].actions, runs[1].failed) == (
            "cron",
            "succeeded",
            0,
            0,
        )
        assert (runs[0].status, runs[0].ended_at) == ("running", None)
        assert runs[0].to_json() == {
            "id": third,
            "revision": "c" * 40,
            "trigger": "plan",
            "status": "running",
            "startedAt": runs[0].started_at,
            "endedAt": None,
            "actions": 0,
            "failed": 0,
        }
        assert [run.id for run in store.recent_runs(2)] == [third, second]
        assert store.recent_runs(0) == ()


def test_recent_runs_limit_is_checked(backend: Backend) -> None:
    with backend.open() as store:
        for bad in (-1, MAX_RECENT_RUNS + 1):
            with pytest.raises(ValueError, match="recent runs"):
                store.recent_runs(bad)
        assert store.recent_runs(MAX_RECENT_RUNS) == ()
