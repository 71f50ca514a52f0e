"""Backup retention: which of one site's backups a `backups.keep` policy keeps at a given time.

Pure: a function of the backups' ids and times, the policy and "now"; nothing here reads a clock
or a server, so a simulated year is a loop, not a year.

The rule (CONTRACT.md section 2, `Site.backups`): the newest backup of each of the last N UTC
days, ISO weeks and calendar months is kept, the rest pruned, N being `keep.daily`,
`keep.weekly` and `keep.monthly`. "The last N" counts back from the day, ISO week and month of
"now", the current one included: with `daily: 7` on a Wednesday, that Wednesday and the six days
before it. One backup may be kept for several reasons (the newest of a day is often the newest
of its week and month too); it is kept once.

Safety rules on top of the policy:

* a backup whose time cannot be read (`time` None: a file not named as our backups are) is
  never pruned: what cannot be placed in time cannot be judged;
* a backup newer than "now" (a server clock ahead of the controller's) is kept, and does not
  stand in for the newest backup of the current day;
* `last_backup=True` (a deleted site, or one no longer declared): the newest backup of all is
  kept whatever the policy says, so that a site's last backup is never pruned.

The result does not depend on when the policy was applied before: applying it after every new
backup, as a controller does, leaves exactly what applying it once at the end leaves, because
the newest backup of a period in the window is always kept while the window holds it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from reconciler.manifests.models import BackupKeep

__all__ = [
    "Dated",
    "Retention",
    "apply_retention",
    "day_key",
    "month_key",
    "week_key",
]

_SEQUENCE = re.compile(r"\d{8}T\d{6}Z-(?P<n>[1-9][0-9]*)$")


@dataclass(frozen=True)
class Dated:
    """One backup as retention sees it: its id and its UTC time (None: unreadable)."""

    id: str
    time: datetime | None


@dataclass(frozen=True)
class Retention:
    """What a policy keeps and prunes: every id given is in exactly one of the two.

    `kept` maps each kept id to the reasons it is kept (e.g. `daily 2024-05-01`, `weekly
    2024-W18`, `monthly 2024-05`, `last backup`, `time unreadable`), in the order given;
    `pruned` lists the others, oldest first."""

    kept: dict[str, tuple[str, ...]] = field(default_factory=dict)
    pruned: tuple[str, ...] = ()


def _utc(when: datetime) -> datetime:
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError("retention needs timezone-aware times")
    return when.astimezone(UTC)


def day_key(when: datetime) -> str:
    """The UTC day of `when`: `YYYY-MM-DD`."""
    return _utc(when).date().isoformat()


def week_key(when: datetime) -> str:
    """The ISO week of `when`'s UTC day: `YYYY-Www` (the ISO year: 2021-01-03 is `2020-W53`)."""
    iso = _utc(when).date().isocalendar()
    return f"{iso.year:04d}-W{iso.week:02d}"


def month_key(when: datetime) -> str:
    """The calendar month of `when`'s UTC day: `YYYY-MM`."""
    day = _utc(when).date()
    return f"{day.year:04d}-{day.month:02d}"


def _last_days(today: date, n: int) -> set[str]:
    return {(today - timedelta(days=k)).isoformat() for k in range(n)}


def _last_weeks(today: date, n: int) -> set[str]:
    monday = today - timedelta(days=today.weekday())
    keys = set()
    for k in range(n):
        iso = (monday - timedelta(weeks=k)).isocalendar()
        keys.add(f"{iso.year:04d}-W{iso.week:02d}")
    return keys


def _last_months(today: date, n: int) -> set[str]:
    index = today.year * 12 + today.month - 1
    return {f"{(i // 12):04d}-{(i % 12) + 1:02d}" for i in range(index - n + 1, index + 1)}


def _order(entry: Dated) -> tuple[datetime, int, str]:
    """Newest last: the time, then the `-N` of backups taken in the same second, then the id."""
    assert entry.time is not None
    m = _SEQUENCE.search(entry.id)
    return (_utc(entry.time), int(m.group("n")) if m else 0, entry.id)


def apply_retention(
    entries: Iterable[Dated], keep: BackupKeep, now: datetime, *, last_backup: bool = False
) -> Retention:
    """The backups of one site that `keep` keeps at `now`, and those it prunes.

    `entries` are that site's backups (an id given twice counts once: the same tarball held on
    two servers). `last_backup`: the site is deleted or no longer declared, so its newest backup
    is kept whatever the policy says."""
    now = _utc(now)
    today = now.date()
    unique: dict[str, Dated] = {}
    for entry in entries:
        unique.setdefault(entry.id, entry)
    reasons: dict[str, list[str]] = {}
    placed = []
    for entry in unique.values():
        if entry.time is None:
            reasons[entry.id] = ["time unreadable"]
        elif _utc(entry.time) > now:
            reasons[entry.id] = ["newer than now"]
        else:
            placed.append(entry)
    placed.sort(key=_order)
    tiers = (
        ("daily", day_key, _last_days(today, keep.daily)),
        ("weekly", week_key, _last_weeks(today, keep.weekly)),
        ("monthly", month_key, _last_months(today, keep.monthly)),
    )
    for tier, key_of, window in tiers:
        newest: dict[str, Dated] = {}
        for entry in placed:  # oldest first: the last one seen of a period is its newest
            assert entry.time is not None
            key = key_of(entry.time)
            if key in window:
                newest[key] = entry
        for key, entry in newest.items():
            reasons.setdefault(entry.id, []).append(f"{tier} {key}")
    if last_backup and placed and placed[-1].id not in reasons:
        reasons[placed[-1].id] = ["last backup"]
    kept = {entry.id: tuple(reasons[entry.id]) for entry in unique.values() if entry.id in reasons}
    pruned = tuple(entry.id for entry in placed if entry.id not in reasons)
    return Retention(kept=kept, pruned=pruned)
