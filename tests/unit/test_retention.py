"""Backup retention as a pure function: tables of cases, and a simulated year with time injected.

The year test takes a backup every 6 hours for 365 days and prunes after each one, as a
controller does; what is left is compared with the set computed here independently (the last
backup time of each period from calendar arithmetic, not by grouping backups), its size with
inclusion-exclusion over the three tiers, and with pruning once at the end.
"""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.manifests.models import BackupKeep
from reconciler.plan.retention import Dated, apply_retention, day_key, month_key, week_key

SITE = "shop.example.com"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def bid(when: datetime, n: int = 0) -> str:
    return f"{SITE}-{when.strftime('%Y%m%dT%H%M%SZ')}" + (f"-{n}" if n else "")


def dated(*times: str) -> list[Dated]:
    return [Dated(bid(at(t)), at(t)) for t in times]


def keep(daily: int = 0, weekly: int = 0, monthly: int = 0) -> BackupKeep:
    return BackupKeep(daily=daily, weekly=weekly, monthly=monthly)


def kept_times(entries: list[Dated], policy: BackupKeep, now: str, **kw: bool) -> list[str]:
    result = apply_retention(entries, policy, at(now), **kw)
    by_id = {e.id: e for e in entries}
    assert set(result.kept) | set(result.pruned) == set(by_id)
    assert not set(result.kept) & set(result.pruned)
    times = [by_id[i].time for i in result.kept]
    return sorted(t.strftime("%Y-%m-%dT%H:%M") for t in times if t is not None)


CASES = [
    pytest.param(
        ["2024-05-01T01:00", "2024-05-01T07:00", "2024-05-01T13:00"],
        keep(daily=1),
        "2024-05-01T14:00",
        ["2024-05-01T13:00"],
        id="several a day: the newest",
    ),
    pytest.param(
        ["2024-04-28T23:00", "2024-04-29T10:00", "2024-04-30T10:00", "2024-05-01T00:30"],
        keep(daily=3),
        "2024-05-01T12:00",
        ["2024-04-29T10:00", "2024-04-30T10:00", "2024-05-01T00:30"],
        id="last 3 days, today included",
    ),
    pytest.param(
        ["2024-04-29T10:00", "2024-04-30T23:59"],
        keep(daily=3),
        "2024-05-01T12:00",
        ["2024-04-29T10:00", "2024-04-30T23:59"],
        id="a day without a backup keeps nothing extra",
    ),
    pytest.param(
        ["2020-12-27T12:00", "2020-12-31T12:00", "2021-01-03T12:00", "2021-01-04T12:00"],
        keep(weekly=2),
        "2021-01-06T12:00",
        ["2021-01-03T12:00", "2021-01-04T12:00"],
        id="ISO week 2020-W53 runs into January",
    ),
    pytest.param(
        ["2024-12-29T12:00", "2024-12-30T12:00", "2025-01-01T12:00"],
        keep(weekly=1),
        "2025-01-02T12:00",
        ["2025-01-01T12:00"],
        id="ISO week 2025-W01 starts in December",
    ),
    pytest.param(
        ["2024-12-29T12:00", "2024-12-30T12:00", "2025-01-01T12:00"],
        keep(weekly=2),
        "2025-01-02T12:00",
        ["2024-12-29T12:00", "2025-01-01T12:00"],
        id="the week before 2025-W01 is 2024-W52",
    ),
    pytest.param(
        ["2024-01-31T12:00", "2024-02-01T12:00", "2024-02-29T23:00", "2024-03-01T00:00"],
        keep(monthly=2),
        "2024-03-01T00:00",
        ["2024-02-29T23:00", "2024-03-01T00:00"],
        id="leap February, now on March 1st",
    ),
    pytest.param(
        ["2022-12-31T12:00", "2023-01-31T12:00", "2023-02-28T12:00", "2023-03-31T12:00"],
        keep(monthly=3),
        "2023-03-31T13:00",
        ["2023-01-31T12:00", "2023-02-28T12:00", "2023-03-31T12:00"],
        id="31, 28 and 31 days, across a year",
    ),
    pytest.param(
        ["2024-04-30T12:00", "2024-05-31T23:59"],
        keep(monthly=1),
        "2024-05-31T23:59",
        ["2024-05-31T23:59"],
        id="the current month only",
    ),
    pytest.param(
        ["2024-04-30T12:00", "2024-05-01T12:00", "2024-05-02T12:00"],
        keep(daily=1, weekly=1, monthly=2),
        "2024-05-02T13:00",
        ["2024-04-30T12:00", "2024-05-02T12:00"],
        id="one backup kept for several tiers",
    ),
    pytest.param(
        ["2024-05-01T12:00", "2024-05-02T12:00"],
        keep(),
        "2024-05-02T13:00",
        [],
        id="keep 0 everywhere prunes everything",
    ),
    pytest.param(
        ["2024-05-02T13:00", "2024-05-02T13:00:01"],
        keep(daily=1),
        "2024-05-02T13:00",
        ["2024-05-02T13:00", "2024-05-02T13:00"],
        id="a backup newer than now is kept and does not stand in for today",
    ),
]


@pytest.mark.parametrize(("times", "policy", "now", "expected"), CASES)
def test_retention_cases(
    times: list[str], policy: BackupKeep, now: str, expected: list[str]
) -> None:
    assert kept_times(dated(*times), policy, now) == expected


def test_same_second_backups_keep_the_later_suffix() -> None:
    when = at("2024-05-01T10:00:00")
    entries = [Dated(bid(when, n), when) for n in (2, 0, 10, 1)]
    result = apply_retention(entries, keep(daily=1), at("2024-05-01T11:00"))
    assert list(result.kept) == [bid(when, 10)]
    assert result.pruned == (bid(when), bid(when, 1), bid(when, 2))


def test_reasons_name_the_periods() -> None:
    entries = dated("2024-05-01T12:00", "2024-04-30T12:00")
    result = apply_retention(entries, keep(daily=2, weekly=1, monthly=2), at("2024-05-01T13:00"))
    assert result.kept[entries[0].id] == ("daily 2024-05-01", "weekly 2024-W18", "monthly 2024-05")
    assert result.kept[entries[1].id] == ("daily 2024-04-30", "monthly 2024-04")


def test_last_backup_of_a_deleted_site_is_never_pruned() -> None:
    entries = dated("2023-01-01T00:00", "2023-02-01T00:00")
    now = "2024-05-01T00:00"
    assert kept_times(entries, keep(daily=7, weekly=4, monthly=6), now) == []
    assert kept_times(entries, keep(), now, last_backup=True) == ["2023-02-01T00:00"]
    result = apply_retention(entries, keep(), at(now), last_backup=True)
    assert result.kept == {entries[1].id: ("last backup",)}
    assert apply_retention([], keep(), at(now), last_backup=True).kept == {}


def test_unreadable_times_are_kept_and_ids_count_once() -> None:
    foreign = Dated("manual-copy", None)
    entries = [*dated("2024-05-01T12:00", "2024-04-01T12:00"), foreign]
    twice = [*entries, Dated(entries[1].id, entries[1].time)]
    result = apply_retention(twice, keep(daily=1), at("2024-05-01T13:00"))
    assert result.kept == {
        entries[0].id: ("daily 2024-05-01",),
        "manual-copy": ("time unreadable",),
    }
    assert result.pruned == (entries[1].id,)


def test_times_must_be_aware_and_keys_are_utc() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        apply_retention(dated("2024-05-01T12:00"), keep(daily=1), datetime(2024, 5, 1, 13))
    late = datetime.fromisoformat("2021-01-03T23:30:00-05:00")  # 2021-01-04 04:30 UTC
    assert (day_key(late), week_key(late), month_key(late)) == ("2021-01-04", "2021-W01", "2021-01")


# ---------------------------------------------------------------------------------- a year


def _expected(
    start: datetime, end: datetime, policy: BackupKeep, offset: timedelta
) -> tuple[set[datetime], set[datetime], set[datetime]]:
    """The newest backup time of each period in the window, by calendar arithmetic: the last
    backup of a day is at `offset` + 18 h, of a week on its Sunday, of a month on its last day;
    in the current period, `end` itself. Periods ending before `start` hold no backup."""

    def last_of(day: date) -> datetime | None:
        when = datetime(day.year, day.month, day.day, tzinfo=UTC) + offset + timedelta(hours=18)
        when = min(when, end)
        return when if when >= start else None

    today = end.date()
    days = {last_of(today - timedelta(days=k)) for k in range(policy.daily)}
    monday = today - timedelta(days=today.weekday())
    weeks = {last_of(monday - timedelta(weeks=k) + timedelta(days=6)) for k in range(policy.weekly)}
    months = set()
    year, month = today.year, today.month
    for _ in range(policy.monthly):
        months.add(last_of(date(year, month, calendar.monthrange(year, month)[1])))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return (
        {t for t in days if t is not None},
        {t for t in weeks if t is not None},
        {t for t in months if t is not None},
    )


@pytest.mark.parametrize(
    ("first", "policy"),
    [
        ("2020-06-01T00:00", BackupKeep()),
        ("2020-06-01T05:00", keep(daily=3, weekly=2, monthly=13)),
        ("2023-11-15T01:00", keep(daily=10, weekly=8, monthly=3)),
        ("2024-02-10T02:00", keep(daily=0, weekly=60, monthly=0)),
    ],
)
def test_a_simulated_year_of_backups_every_6_hours(first: str, policy: BackupKeep) -> None:
    start = at(first)
    offset = start - datetime(start.year, start.month, start.day, tzinfo=UTC)
    every = [start + timedelta(hours=6 * i) for i in range(365 * 4)]
    end = every[-1]
    held: list[Dated] = []
    for when in every:  # a backup, then the prune a controller runs after it
        held.append(Dated(bid(when), when))
        result = apply_retention(held, policy, when)
        held = [entry for entry in held if entry.id in result.kept]
        assert len(held) <= policy.daily + policy.weekly + policy.monthly
    remaining = {entry.time for entry in held}
    days, weeks, months = _expected(start, end, policy, offset)
    assert remaining == days | weeks | months
    overlaps = len(days & weeks) + len(days & months) + len(weeks & months)
    assert len(remaining) == len(days) + len(weeks) + len(months) - overlaps + len(
        days & weeks & months
    )
    once = apply_retention([Dated(bid(t), t) for t in every], policy, end)
    assert set(once.kept) == {entry.id for entry in held}
    assert len(once.pruned) == len(every) - len(held)


def test_the_default_policy_on_a_year_of_daily_backups() -> None:
    """Daily backups at noon for 2023, default keep (7 days, 4 weeks, 6 months): 7 + 4 + 6
    periods, less the backup of 2023-12-31 counted in all three."""
    every = [at("2023-01-01T12:00") + timedelta(days=i) for i in range(365)]
    result = apply_retention([Dated(bid(t), t) for t in every], BackupKeep(), every[-1])
    # 2023-12-31 is a Sunday: the last 7 days are one ISO week (W52), the newest of that week
    # and of December is the same backup.
    assert len(result.kept) == 7 + 4 + 6 - 1 - 1 - 1 + 1


@settings(max_examples=200, deadline=None)
@given(
    gaps=st.lists(st.integers(min_value=0, max_value=3 * 86400), min_size=1, max_size=60),
    daily=st.integers(min_value=0, max_value=9),
    weekly=st.integers(min_value=0, max_value=6),
    monthly=st.integers(min_value=0, max_value=4),
)
def test_pruning_after_each_backup_equals_pruning_once(
    gaps: list[int], daily: int, weekly: int, monthly: int
) -> None:
    policy = keep(daily=daily, weekly=weekly, monthly=monthly)
    when = at("2020-12-20T00:00")
    every = []
    for n, gap in enumerate(gaps):
        when += timedelta(seconds=gap)
        every.append(Dated(bid(when, n), when))
    held: list[Dated] = []
    for entry in every:
        held.append(entry)
        assert entry.time is not None
        kept = apply_retention(held, policy, entry.time).kept
        held = [e for e in held if e.id in kept]
    last = every[-1].time
    assert last is not None
    assert {e.id for e in held} == set(apply_retention(every, policy, last).kept)
