"""Cron and backup schedules with an injected clock: spread, once per interval, cron syntax."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import pytest

from reconciler.controller.cronexpr import parse_cron
from reconciler.controller.schedule import (
    EverySchedule,
    MonthlySchedule,
    Timetable,
    backup_schedule,
    cron_schedule,
    stable_offset,
)


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M")


SITES = [f"site{i:03d}.example.com" for i in range(500)]


@pytest.mark.parametrize("interval", [60, 3600, 86400])
def test_500_sites_are_spread_over_the_interval_each_once(interval: int) -> None:
    start = at("2024-05-01T10:17:23")
    table = Timetable()
    table.update({s: cron_schedule(s, interval) for s in SITES}, start)
    planned = {s: table.planned(s) for s in SITES}
    times = [t for t in planned.values() if t is not None]
    assert len(times) == 500
    assert all(start < t <= start + interval for t in times)
    # spread: ten equal slices of the interval each hold about a tenth of the sites
    slices = Counter(int((t - start - 1) * 10 // interval) for t in times)
    assert sorted(slices) == list(range(10))
    assert max(slices.values()) <= 2 * 50 and min(slices.values()) >= 50 // 2
    # no second holds much more than its share
    assert max(Counter(times).values()) <= max(4, 3 * 500 // interval)
    # each once per interval: after running at its time, the next is one interval later
    for site in SITES[:50]:
        when = planned[site]
        assert when is not None
        table.ran(site, when)
        assert table.planned(site) == when + interval


def test_due_sites_over_one_simulated_hour_each_run_once() -> None:
    start = at("2024-05-01T00:00:00")
    table = Timetable()
    table.update({s: cron_schedule(s, 3600) for s in SITES}, start)
    runs: Counter[str] = Counter()
    now = start
    while now < start + 3600:
        now += 30  # the controller wakes up every 30 s here
        for site in table.due(now):
            runs[site] += 1
            table.ran(site, now)
    assert set(runs) == set(SITES) and set(runs.values()) == {1}


def test_schedules_are_stable_and_interval_zero_never_runs() -> None:
    assert cron_schedule("a.example.com", 0) is None
    assert cron_schedule("a.example.com", 3600) == cron_schedule("a.example.com", 3600)
    assert stable_offset("a.example.com", "cron", 3600) == stable_offset(
        "a.example.com", "cron", 3600
    )
    # cron and backups of one site use different offsets
    offsets = {
        (stable_offset(s, "cron", 3600), stable_offset(s, "backup", 3600)) for s in SITES[:20]
    }
    assert any(a != b for a, b in offsets)


def test_timetable_keeps_times_drops_sites_and_reschedules_changes() -> None:
    start = at("2024-05-01T00:00:00")
    table = Timetable()
    table.update({"a": EverySchedule(600, 60), "b": EverySchedule(600, 120)}, start)
    assert iso(table.planned("a") or 0) == "2024-05-01T00:01"
    assert table.next_wakeup() == start + 60
    table.update({"a": EverySchedule(600, 60), "b": EverySchedule(600, 120)}, start + 30)
    assert table.planned("a") == start + 60  # unchanged schedules keep their times
    table.update({"a": EverySchedule(600, 300), "c": None}, start + 30)
    assert table.planned("a") == start + 300 and table.planned("b") is None
    assert table.due(start + 299) == []
    assert table.due(start + 300) == ["a"]
    table.postpone("a", start + 300, 60)
    assert table.due(start + 300) == [] and table.planned("a") == start + 360
    table.ran("a", start + 360)
    assert table.planned("a") == start + 900
    table.postpone("a", start + 890, 60)  # its next time comes before the wait is over
    assert table.planned("a") == start + 900
    table.postpone("gone", start, 60)
    assert table.planned("gone") is None


@pytest.mark.parametrize(
    ("schedule", "after", "expected"),
    [
        ("15 3 * * *", "2024-05-01T00:00", "2024-05-01T03:15"),
        ("15 3 * * *", "2024-05-01T03:15", "2024-05-02T03:15"),
        ("*/20 * * * *", "2024-05-01T10:41", "2024-05-01T11:00"),
        ("0 0 1 * *", "2024-12-15T12:00", "2025-01-01T00:00"),
        ("0 12 * * mon", "2024-05-01T00:00", "2024-05-06T12:00"),  # 2024-05-01 is a Wednesday
        ("0 12 * * 0", "2024-05-01T00:00", "2024-05-05T12:00"),
        ("0 12 * * 7", "2024-05-01T00:00", "2024-05-05T12:00"),
        ("0 0 13 * fri", "2024-05-01T00:00", "2024-05-03T00:00"),  # either day field matches
        ("0 0 29 feb *", "2024-03-01T00:00", "2028-02-29T00:00"),
        ("30 1-3/2 * jan-mar *", "2024-05-01T00:00", "2025-01-01T01:30"),
        ("0,30 8 * * 1-5", "2024-05-03T08:30", "2024-05-06T08:00"),
    ],
)
def test_cron_expressions(schedule: str, after: str, expected: str) -> None:
    found = backup_schedule("a.example.com", schedule).next_after(at(after))
    assert found is not None and iso(found) == expected


def test_cron_expression_that_never_matches() -> None:
    assert parse_cron("0 0 30 2 *").next_after(datetime(2024, 1, 1, tzinfo=UTC)) is None


@pytest.mark.parametrize(
    "bad", ["* * * *", "60 * * * *", "* 24 * * *", "* * 0 * *", "*/0 * * * *", "5-1 * * * *"]
)
def test_cron_expressions_refused(bad: str) -> None:
    with pytest.raises(ValueError, match=r"."):
        parse_cron(bad)


@pytest.mark.parametrize(("name", "period"), [("hourly", 3600), ("daily", 86400)])
def test_named_backup_schedules_are_spread_intervals(name: str, period: int) -> None:
    start = at("2024-05-01T00:00:00")
    times = []
    for site in SITES[:100]:
        schedule = backup_schedule(site, name)
        first = schedule.next_after(start)
        assert first is not None and start < first <= start + period
        assert schedule.next_after(first) == first + period
        times.append(first)
    assert max(times) - min(times) > period / 2


def test_monthly_backups_once_per_calendar_month() -> None:
    schedule = backup_schedule("a.example.com", "monthly")
    assert isinstance(schedule, MonthlySchedule)
    now = at("2024-01-01T00:00:00")
    months = []
    for _ in range(14):
        found = schedule.next_after(now)
        assert found is not None
        months.append(iso(found)[:7])
        now = found
    assert months == [f"2024-{m:02d}" for m in range(1, 13)] + ["2025-01", "2025-02"]
