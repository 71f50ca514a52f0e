"""When each site's cron and scheduled backups run: pure, from an injected "now".

A site's `cron.interval` of N seconds runs at the times `k*N + offset` (seconds since the epoch),
where `offset` is a stable hash of the site's name modulo N: each site once per interval, the
sites of one interval spread evenly over it, and the same times after a restart (nothing to
remember). `interval: 0` never runs. `backups.schedule` works alike: `hourly`, `daily`,
`weekly` are intervals spread the same way (with a hash of their own, so a site's backup and its
cron do not line up), `monthly` runs once per UTC calendar month at a spread offset within its
first 28 days, and a cron expression runs as written, in UTC (the operator chose its minute).

`Timetable` keeps the next time of every key (a site) and answers which are due.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from reconciler.controller.cronexpr import CronExpression, parse_cron

__all__ = [
    "CronExpressionSchedule",
    "EverySchedule",
    "MonthlySchedule",
    "Schedule",
    "Timetable",
    "backup_schedule",
    "cron_schedule",
    "stable_offset",
]

_NAMED = {"hourly": 3600, "daily": 86400, "weekly": 7 * 86400}
_MONTH_SPREAD = 28 * 86400


def stable_offset(name: str, purpose: str, modulo: int) -> int:
    """A number in `[0, modulo)` from `name` alone: the same in every process and release."""
    digest = hashlib.sha256(f"{purpose}:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % modulo


class Schedule:
    """A sequence of times (seconds since the epoch)."""

    def next_after(self, now: float) -> float | None:
        """The first time strictly after `now` (None: never)."""
        raise NotImplementedError


@dataclass(frozen=True)
class EverySchedule(Schedule):
    """Every `interval` seconds, at `offset` into each interval."""

    interval: int
    offset: int

    def next_after(self, now: float) -> float | None:
        k = (now - self.offset) // self.interval + 1
        return float(k * self.interval + self.offset)


@dataclass(frozen=True)
class MonthlySchedule(Schedule):
    """Once per UTC calendar month, `offset` seconds after its start."""

    offset: int

    def next_after(self, now: float) -> float | None:
        moment = datetime.fromtimestamp(now, UTC)
        year, month = moment.year, moment.month
        for _ in range(2):
            start = datetime(year, month, 1, tzinfo=UTC).timestamp() + self.offset
            if start > now:
                return start
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        raise AssertionError("unreachable: next month's start is after now")


@dataclass(frozen=True)
class CronExpressionSchedule(Schedule):
    expression: CronExpression

    def next_after(self, now: float) -> float | None:
        found = self.expression.next_after(datetime.fromtimestamp(now, UTC))
        return found.timestamp() if found is not None else None


def cron_schedule(site: str, interval: int) -> Schedule | None:
    """When `drush core:cron` runs for `site` with `cron.interval` of `interval` seconds."""
    if interval <= 0:
        return None
    return EverySchedule(interval, stable_offset(site, "cron", interval))


def backup_schedule(site: str, text: str) -> Schedule:
    """When `site`'s scheduled backup runs (`ValueError` for an expression that is not one)."""
    if text in _NAMED:
        interval = _NAMED[text]
        return EverySchedule(interval, stable_offset(site, "backup", interval))
    if text == "monthly":
        return MonthlySchedule(stable_offset(site, "backup", _MONTH_SPREAD))
    return CronExpressionSchedule(parse_cron(text))


class Timetable:
    """The next time of each key, kept across calls while its schedule stays the same."""

    def __init__(self) -> None:
        self._schedules: dict[str, Schedule] = {}
        self._next: dict[str, float] = {}

    def update(self, schedules: Mapping[str, Schedule | None], now: float) -> None:
        """Take the schedules wanted now: a new (or changed) one starts with its next time after
        `now`; keys no longer given (or given None) are dropped."""
        for key in list(self._schedules):
            if schedules.get(key) is None:
                del self._schedules[key]
                self._next.pop(key, None)
        for key, schedule in schedules.items():
            if schedule is None or self._schedules.get(key) == schedule:
                continue
            self._schedules[key] = schedule
            found = schedule.next_after(now)
            if found is None:
                self._next.pop(key, None)
            else:
                self._next[key] = found

    def planned(self, key: str) -> float | None:
        return self._next.get(key)

    def due(self, now: float) -> list[str]:
        """Keys whose time has come, earliest first."""
        return sorted((k for k, t in self._next.items() if t <= now), key=lambda k: self._next[k])

    def ran(self, key: str, now: float) -> None:
        """`key` ran (or was tried) at `now`: its next time is the first one after `now`."""
        schedule = self._schedules.get(key)
        found = schedule.next_after(now) if schedule is not None else None
        if found is None:
            self._next.pop(key, None)
        else:
            self._next[key] = found

    def postpone(self, key: str, now: float, wait: float) -> None:
        """`key` was due at `now` but could not run: try again after `wait` seconds, or at its
        next time when that comes first."""
        schedule = self._schedules.get(key)
        if key not in self._next or schedule is None:
            return
        found = schedule.next_after(now)
        self._next[key] = now + wait if found is None else min(now + wait, found)

    def next_wakeup(self) -> float | None:
        return min(self._next.values()) if self._next else None
