"""Five-field cron expressions (`minute hour day-of-month month day-of-week`), read in UTC.

Pure. Each field is `*`, a number, a range `a-b`, a step `*/n` or `a-b/n`, or a comma list of
those; months and week days may be written as names (`jan`, `mon`); week day 0 and 7 are Sunday.
As in Vixie cron, when both day-of-month and day-of-week are restricted, a day matching either
matches. `next_after` finds the next matching minute by skipping whole months, days and hours
that cannot match, so it never walks minute by minute through a year.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

__all__ = ["CronExpression", "parse_cron"]

_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_HORIZON = timedelta(days=5 * 366)
"""An expression that never matches within five years (`0 0 30 2 *`) never matches."""


def _number(text: str, names: tuple[str, ...], base: int) -> int:
    lowered = text.lower()
    if lowered in names:
        return names.index(lowered) + base
    if not text.isdigit():
        raise ValueError(f"{text!r} is not a number")
    return int(text)


def _field(text: str, low: int, high: int, names: tuple[str, ...] = (), base: int = 0) -> set[int]:
    values: set[int] = set()
    for part in text.split(","):
        spec, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if step_text and (not step_text.isdigit() or step < 1):
            raise ValueError(f"{part!r}: the step must be a positive number")
        if spec == "*":
            first, last = low, high
        elif "-" in spec:
            a, _, b = spec.partition("-")
            first, last = _number(a, names, base), _number(b, names, base)
        else:
            first = _number(spec, names, base)
            last = high if step_text else first
        if not (low <= first <= high and low <= last <= high) or first > last:
            raise ValueError(f"{part!r} is outside {low}-{high}")
        values.update(range(first, last + 1, step))
    return values


@dataclass(frozen=True)
class CronExpression:
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    """0 is Sunday (a 7 in the expression is stored as 0)."""
    any_day: bool
    any_weekday: bool
    """The day fields starting with `*`: then a day must match both (Vixie cron's rule)."""

    def _day_matches(self, moment: datetime) -> bool:
        weekday = (moment.weekday() + 1) % 7  # Python: Monday 0; cron: Sunday 0
        in_days = moment.day in self.days
        in_weekdays = weekday in self.weekdays
        if self.any_day or self.any_weekday:
            return in_days and in_weekdays
        return in_days or in_weekdays

    def next_after(self, when: datetime) -> datetime | None:
        """The first matching minute strictly after `when` (UTC), or None within five years."""
        moment = when.astimezone(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
        end = moment + _HORIZON
        while moment < end:
            if moment.month not in self.months:
                year, month = divmod(moment.year * 12 + moment.month, 12)
                moment = moment.replace(year=year, month=month + 1, day=1, hour=0, minute=0)
                continue
            if not self._day_matches(moment):
                moment = moment.replace(hour=0, minute=0) + timedelta(days=1)
                continue
            if moment.hour not in self.hours:
                moment = moment.replace(minute=0) + timedelta(hours=1)
                continue
            if moment.minute not in self.minutes:
                moment += timedelta(minutes=1)
                continue
            return moment
        return None


def parse_cron(text: str) -> CronExpression:
    """Parse a five-field expression; `ValueError` naming the field that is wrong."""
    fields = text.split()
    if len(fields) != 5:
        raise ValueError(f"{text!r}: a cron expression has five fields")
    minute, hour, day, month, weekday = fields
    weekdays = _field(weekday, 0, 7, _DAYS)
    return CronExpression(
        minutes=frozenset(_field(minute, 0, 59)),
        hours=frozenset(_field(hour, 0, 23)),
        days=frozenset(_field(day, 1, 31)),
        months=frozenset(_field(month, 1, 12, _MONTHS, 1)),
        weekdays=frozenset(d % 7 for d in weekdays),
        any_day=day.startswith("*"),
        any_weekday=weekday.startswith("*"),
    )
