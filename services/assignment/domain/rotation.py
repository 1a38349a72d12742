"""Which team is on duty at an instant, computed in local wall-clock time.

Handover happens at a local time (08:00 in Stockholm), so the arithmetic is on local dates, not
on UTC durations: a 14-day period that spans a daylight-saving change is 14 local days long.
"""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo

from services.assignment.domain.model import OfficeCalendar, OnDuty, RotationPlan


def on_duty_team(plan: RotationPlan, at: datetime, tz: tzinfo) -> OnDuty:
    """The team the rotation puts on duty at the aware instant `at`."""
    local = at.astimezone(tz)
    days = (local.date() - plan.anchor_date).days
    if local.time() < plan.handover:
        days -= 1  # before today's handover moment the previous day's team still holds
    index = days // plan.period_days
    start_date = plan.anchor_date + timedelta(days=index * plan.period_days)
    start = datetime.combine(start_date, plan.handover, tz)
    end = datetime.combine(start_date + timedelta(days=plan.period_days), plan.handover, tz)
    return OnDuty(plan.order[index % len(plan.order)], start, end, "rotation")


def next_office_moment(at: datetime, calendar: OfficeCalendar, tz: tzinfo) -> datetime:
    """`at` itself inside office hours, else the start of the next office-hours day."""
    local = at.astimezone(tz)
    if calendar.is_office_day(local.date()) and calendar.start <= local.time() < calendar.end:
        return at
    day = local.date() if local.time() < calendar.start else local.date() + timedelta(days=1)
    while not calendar.is_office_day(day):
        day += timedelta(days=1)
    return datetime.combine(day, calendar.start, tz)


def assignment_instant(policy: str, received_at: datetime, calendar: OfficeCalendar, tz: tzinfo) -> datetime:
    """The instant whose team on duty takes a referral, under the configured policy."""
    if policy == "next_office_hours":
        return next_office_moment(received_at, calendar, tz)
    return received_at
