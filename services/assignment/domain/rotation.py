"""Which team is on duty at an instant, computed in local wall-clock time.

Handover happens at a local time (08:00 in Stockholm), so the arithmetic is on local dates, not
on UTC durations: a 14-day period that spans a daylight-saving change is 14 local days long.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from itertools import pairwise

from services.assignment.domain.errors import InvalidScheduleRange
from services.assignment.domain.model import OfficeCalendar, OnDuty, Override, RotationPlan


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


def on_duty(plan: RotationPlan, overrides: Sequence[Override], at: datetime, tz: tzinfo) -> OnDuty:
    """The team on duty at `at`: the latest override covering it wins, else the rotation."""
    covering = [o for o in overrides if o.covers(at)]
    if covering:
        chosen = covering[-1]
        return OnDuty(chosen.team, chosen.starts_at.astimezone(tz), chosen.ends_at.astimezone(tz), "override")
    return on_duty_team(plan, at, tz)


def schedule(
    plan: RotationPlan, overrides: Sequence[Override], start: datetime, end: datetime, tz: tzinfo
) -> list[OnDuty]:
    """The on-duty periods that overlap [start, end), overrides cut into the rotation."""
    cuts = {start, end}
    moment = on_duty_team(plan, start, tz).period_end
    while moment < end:
        cuts.add(moment)
        moment = on_duty_team(plan, moment, tz).period_end
    for o in overrides:
        cuts.update(t for t in (o.starts_at, o.ends_at) if start < t < end)
    points = sorted(cuts)
    periods: list[OnDuty] = []
    for lo, hi in pairwise(points):
        duty = on_duty(plan, overrides, lo, tz)
        if periods and periods[-1].team == duty.team and periods[-1].source == duty.source:
            periods[-1] = OnDuty(duty.team, periods[-1].period_start, hi.astimezone(tz), duty.source)
        else:
            periods.append(OnDuty(duty.team, lo.astimezone(tz), hi.astimezone(tz), duty.source))
    return _with_full_rotation_bounds(plan, periods, tz)


def _with_full_rotation_bounds(plan: RotationPlan, periods: list[OnDuty], tz: tzinfo) -> list[OnDuty]:
    """Rotation periods clipped only by the query window get their real start and end back."""
    if not periods:
        return periods
    for i in (0, len(periods) - 1):
        p = periods[i]
        if p.source == "rotation":
            full = on_duty_team(plan, p.period_start if i else p.period_end - timedelta(seconds=1), tz)
            start = full.period_start if i == 0 else p.period_start
            end = full.period_end if i == len(periods) - 1 else p.period_end
            periods[i] = OnDuty(p.team, start, end, p.source)
    return periods


def handovers(
    plan: RotationPlan, overrides: Sequence[Override], start: datetime, end: datetime, tz: tzinfo
) -> list[tuple[str, str, datetime]]:
    """(from team, to team, at) for every change of team on duty in (start, end]."""
    periods = schedule(plan, overrides, start, end + timedelta(seconds=1), tz)
    found = []
    for before, after in pairwise(periods):
        if before.team != after.team and start < after.period_start <= end:
            found.append((before.team, after.team, after.period_start))
    return found


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


HANDOVER_LOOKBACK = timedelta(days=1)
"""How far back a scan looks for handovers: one missed while nobody ran is still announced."""
HANDOVER_LOOKAHEAD = timedelta(days=366)
OVERRIDE_HORIZON = timedelta(days=400)
"""Overrides further than this from now cannot touch the handovers a scan announces."""


@dataclass(frozen=True)
class Handover:
    """The team on duty changes at `at`; `next_at` is the change after it, if within a year."""

    from_team: str
    to_team: str
    at: datetime
    next_at: datetime | None


def recent_handovers(
    plan: RotationPlan, overrides: Sequence[Override], now: datetime, tz: tzinfo
) -> list[Handover]:
    """Every change of team on duty in the day up to `now`, each with the change that follows."""
    found = []
    for from_team, to_team, at in handovers(plan, overrides, now - HANDOVER_LOOKBACK, now, tz):
        ahead = handovers(plan, overrides, at, at + HANDOVER_LOOKAHEAD, tz)
        found.append(Handover(from_team, to_team, at, ahead[0][2] if ahead else None))
    return found


def standing_handover(
    plan: RotationPlan, overrides: Sequence[Override], now: datetime, tz: tzinfo
) -> Handover | None:
    """The change of team that put today's team on duty, when it lies further back than a scan
    looks (HANDOVER_LOOKBACK), within a year; None when a scan announces it itself or the team
    has held for over a year."""
    changes = handovers(plan, overrides, now - HANDOVER_LOOKAHEAD, now, tz)
    if not changes or changes[-1][2] > now - HANDOVER_LOOKBACK:
        return None
    from_team, to_team, at = changes[-1]
    ahead = handovers(plan, overrides, at, at + HANDOVER_LOOKAHEAD, tz)
    return Handover(from_team, to_team, at, ahead[0][2] if ahead else None)


MAX_SCHEDULE_DAYS = 400


def schedule_window(start: date, end: date, tz: tzinfo) -> tuple[datetime, datetime]:
    """The instants from the start of day `start` to the end of day `end`, local time; a reversed
    range or one longer than MAX_SCHEDULE_DAYS is refused (InvalidScheduleRange)."""
    if not start <= end <= start + timedelta(days=MAX_SCHEDULE_DAYS):
        raise InvalidScheduleRange(MAX_SCHEDULE_DAYS)
    return datetime.combine(start, time(0), tz), datetime.combine(end + timedelta(days=1), time(0), tz)
