"""Fixed recurring meeting times and the consultations booked in them (issue 22).

The unit file names recurring slots in the rotation's local time: a slot at 13:00 is at 13:00 in
Stockholm summer and winter alike, so occurrences are built from local dates and wall-clock
times, never by adding UTC weeks. Weekly slots fall away on days that are no office days (public
holidays and the days treated as such); a handover meeting follows the rotation instead, on each
day the team on duty changes, for the team handing over and the team taking over.

A consultation slot is cut into bookings of `booking_minutes`; one team has at most one live
consultation per booking start (the partial unique index of migration 009 holds it under
concurrent requests). Pure rules; handovers, bookings and time come in as arguments.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo

from services.assignment.domain.errors import AssignmentRefused
from services.assignment.domain.model import OfficeCalendar

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
BOOKING_LEAD = timedelta(hours=1)
"""A booking starts at least this long after it is made: time to read the invitation and come."""


class NoFreeBooking(AssignmentRefused):
    """Every booking of the team's consultation slots within the horizon is taken (or none exist)."""

    def __init__(self, horizon_days: int) -> None:
        super().__init__(f"no free consultation time for the team within {horizon_days} days")


class ConsultationNotFound(AssignmentRefused):
    """No consultation with this id."""

    def __init__(self) -> None:
        super().__init__("no such consultation")


class AlreadyCancelled(AssignmentRefused):
    """A consultation is cancelled once."""

    def __init__(self) -> None:
        super().__init__("the consultation is already cancelled")


@dataclass(frozen=True)
class Slot:
    """A recurring meeting time from the unit file; `teams` empty means every team."""

    id: str
    title: str
    kind: str  # "consultation", "meeting" or "handover"
    start: time
    end: time
    weekday: int | None = None  # Monday 0; None for a handover meeting
    teams: tuple[str, ...] = ()
    booking_minutes: int | None = None
    counterpart: str | None = None

    def serves(self, team: str) -> bool:
        """Whether the slot is one of `team`'s."""
        return not self.teams or team in self.teams


@dataclass(frozen=True)
class MeetingRules:
    """The unit file's meeting slots and how consultations in them are booked and reminded."""

    slots: tuple[Slot, ...] = ()
    horizon_days: int = 28
    reminder: timedelta = timedelta(days=1)
    partners: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Occurrence:
    """One meeting of a slot: the teams it is for, and when."""

    slot: Slot
    teams: tuple[str, ...]
    starts_at: datetime
    ends_at: datetime

    @property
    def uid(self) -> str:
        """A stable identity: the slot and its local date (a slot meets at most once a day)."""
        return f"{self.slot.id}-{self.starts_at.strftime('%Y%m%d')}"


@dataclass(frozen=True)
class Booking:
    """One bookable consultation time inside a consultation slot's occurrence."""

    slot: str
    starts_at: datetime
    ends_at: datetime


def _local_days(start: datetime, end: datetime, tz: tzinfo) -> Iterator[date]:
    day, last = start.astimezone(tz).date(), end.astimezone(tz).date()
    while day <= last:
        yield day
        day += timedelta(days=1)


def weekly_occurrences(
    slot: Slot, teams: Sequence[str], start: datetime, end: datetime, calendar: OfficeCalendar, tz: tzinfo
) -> list[Occurrence]:
    """The slot's meetings starting in [start, end) on office days, at its local times."""
    found = []
    for day in _local_days(start, end, tz):
        if day.weekday() != slot.weekday or not calendar.is_office_day(day):
            continue
        begins = datetime.combine(day, slot.start, tz)
        if start <= begins < end:
            found.append(
                Occurrence(slot, slot.teams or tuple(teams), begins, datetime.combine(day, slot.end, tz))
            )
    return found


def handover_occurrences(
    slot: Slot, changes: Sequence[tuple[str, str, datetime]], start: datetime, end: datetime, tz: tzinfo
) -> list[Occurrence]:
    """The handover meeting on each day the team on duty changes, for both teams."""
    found = []
    for from_team, to_team, at in changes:
        day = at.astimezone(tz).date()
        begins = datetime.combine(day, slot.start, tz)
        if start <= begins < end:
            found.append(Occurrence(slot, (from_team, to_team), begins, datetime.combine(day, slot.end, tz)))
    return found


def occurrences(
    rules: MeetingRules,
    teams: Sequence[str],
    changes: Sequence[tuple[str, str, datetime]],
    start: datetime,
    end: datetime,
    calendar: OfficeCalendar,
    tz: tzinfo,
) -> list[Occurrence]:
    """Every slot's meetings starting in [start, end), by start then slot; `changes` are the
    rotation's (from team, to team, at) in and around the window (domain/rotation.handovers)."""
    found: list[Occurrence] = []
    for slot in rules.slots:
        if slot.kind == "handover":
            found += handover_occurrences(slot, changes, start, end, tz)
        else:
            found += weekly_occurrences(slot, teams, start, end, calendar, tz)
    return sorted(found, key=lambda o: (o.starts_at, o.slot.id))


def of_team(found: Sequence[Occurrence], team: str) -> list[Occurrence]:
    """The occurrences that are `team`'s."""
    return [o for o in found if team in o.teams]


def bookings(occurrence: Occurrence) -> list[Booking]:
    """A consultation occurrence cut into `booking_minutes` bookings (a remainder too short for
    one is left out); none for other kinds."""
    minutes = occurrence.slot.booking_minutes
    if occurrence.slot.kind != "consultation" or not minutes:
        return []
    step, found, at = timedelta(minutes=minutes), [], occurrence.starts_at
    while at + step <= occurrence.ends_at:
        found.append(Booking(occurrence.slot.id, at, at + step))
        at += step
    return found


def free_bookings(
    rules: MeetingRules,
    team: str,
    now: datetime,
    booked: Collection[datetime],
    calendar: OfficeCalendar,
    tz: tzinfo,
) -> list[Booking]:
    """The team's free consultation bookings, earliest first: starting at least BOOKING_LEAD after
    `now`, within `horizon_days` of it, not in `booked` (the starts of the team's live ones)."""
    start, end = now + BOOKING_LEAD, now + timedelta(days=rules.horizon_days)
    taken = {b.astimezone(tz) for b in booked}
    free = []
    for slot in rules.slots:
        if slot.kind != "consultation" or not slot.serves(team):
            continue
        # From a day earlier: an occurrence that began before `start` may still hold later bookings.
        for occurrence in weekly_occurrences(slot, [team], start - timedelta(days=1), end, calendar, tz):
            free += [
                b for b in bookings(occurrence) if start <= b.starts_at <= end and b.starts_at not in taken
            ]
    return sorted(free, key=lambda b: (b.starts_at, b.slot))


def next_free_booking(
    rules: MeetingRules,
    team: str,
    now: datetime,
    booked: Collection[datetime],
    calendar: OfficeCalendar,
    tz: tzinfo,
) -> Booking:
    """The earliest free booking of `free_bookings`; NoFreeBooking when there is none."""
    free = free_bookings(rules, team, now, booked, calendar, tz)
    if not free:
        raise NoFreeBooking(rules.horizon_days)
    return free[0]
