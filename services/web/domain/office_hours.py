"""Which instant's team on duty takes a referral that arrives now (DOMAIN.md §3).

The same rule as assignment's `assignment_instant`; the web app holds its own copy because
services never import each other (import-linter). Assignment exposing the answer in its API
would remove the copy (docs/WEB.md).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo


@dataclass(frozen=True)
class OfficePolicy:
    """The unit's assignment policy and office hours (Monday to Friday except `holidays`)."""

    policy: str
    start: time
    end: time
    holidays: Collection[date]
    tz: tzinfo

    def is_office_day(self, day: date) -> bool:
        """Monday to Friday and not a holiday."""
        return day.weekday() < 5 and day not in self.holidays


def assignment_instant(policy: OfficePolicy, arrived_at: datetime) -> datetime:
    """Under `next_office_hours`, `arrived_at` inside office hours or the next office day's start;
    under `received_at`, `arrived_at` itself."""
    if policy.policy != "next_office_hours":
        return arrived_at
    local = arrived_at.astimezone(policy.tz)
    if policy.is_office_day(local.date()) and policy.start <= local.time() < policy.end:
        return arrived_at
    day = local.date() if local.time() < policy.start else local.date() + timedelta(days=1)
    while not policy.is_office_day(day):
        day += timedelta(days=1)
    return datetime.combine(day, policy.start, policy.tz)
