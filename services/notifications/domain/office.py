"""Office hours: Monday to Friday except public holidays, local time (DOMAIN.md §3)."""

from __future__ import annotations

from collections.abc import Set
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo


@dataclass(frozen=True)
class OfficeHours:
    """When the office is staffed; `holidays` are local dates treated as public holidays."""

    start: time
    end: time
    tz: tzinfo
    holidays: Set[date]

    def is_office_day(self, day: date) -> bool:
        """Monday to Friday and not a public holiday."""
        return day.weekday() < 5 and day not in self.holidays


def is_office_time(hours: OfficeHours, at: datetime) -> bool:
    """True when `at` falls inside office hours on an office day."""
    local = at.astimezone(hours.tz)
    return hours.is_office_day(local.date()) and hours.start <= local.time() < hours.end


def next_office_start(hours: OfficeHours, at: datetime) -> datetime:
    """The first office-hours start strictly after `at` unless `at` is inside office hours."""
    if is_office_time(hours, at):
        return at
    local = at.astimezone(hours.tz)
    day = local.date() if local.time() < hours.start else local.date() + timedelta(days=1)
    for _ in range(400):
        if hours.is_office_day(day):
            return datetime.combine(day, hours.start, hours.tz)
        day += timedelta(days=1)
    raise ValueError("no office day within 400 days: check the holiday calendar")
