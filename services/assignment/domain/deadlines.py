"""Legal due times of a referral (DOMAIN.md §3; SoL 2025:400 20 kap. 1-2 §§)."""

from __future__ import annotations

from datetime import datetime, time, timedelta, tzinfo

from services.assignment.domain.model import Deadlines, OfficeCalendar

PRELIMINARY_DAYS = 14
END_OF_DAY = time(23, 59, 59)
NEXT_DAY_NOON = time(12, 0)


def referral_deadlines(received_at: datetime, calendar: OfficeCalendar, tz: tzinfo) -> Deadlines:
    """Protection assessment and preliminary assessment due times for a received referral."""
    local = received_at.astimezone(tz)
    if calendar.is_office_day(local.date()) and local.time() < calendar.protection_cutoff:
        protection = datetime.combine(local.date(), calendar.end, tz)
    else:
        day = local.date() + timedelta(days=1)
        while not calendar.is_office_day(day):
            day += timedelta(days=1)
        protection = datetime.combine(day, NEXT_DAY_NOON, tz)
    # The 14 days are calendar days; a due date on a weekend or holiday is kept and flagged.
    due_day = local.date() + timedelta(days=PRELIMINARY_DAYS)
    preliminary = datetime.combine(due_day, END_OF_DAY, tz)
    return Deadlines(protection, preliminary, not calendar.is_office_day(due_day))
