"""RFC 5545 iCalendar feed of on-duty periods and fixed meeting times, for subscribing from Outlook.

On-duty periods are written in UTC; the fixed meetings (issue 22) in local time with
TZID=Europe/Stockholm (the rotation's zone) and a VTIMEZONE, so a meeting at 13:00 stays at
13:00 across daylight-saving changes in any reader. A meeting's UID is its slot and local date:
stable across regenerations of the feed. A consultation slot is one event per occurrence, not
per booking (bookings are the invitations the notifications service sends).

Written with the `icalendar` package, which escapes text and folds every content line at 75
octets (RFC 5545 §3.1) without splitting a UTF-8 character: a long team name in `SUMMARY` or
`UID` stays one valid line to any reader.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from icalendar import Calendar, Event

from services.assignment.domain.meetings import Occurrence
from services.assignment.domain.model import OnDuty

PRODID = "-//referral-router//rotation//EN"


def _stamp(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _event(period: OnDuty, name: str, generated_at: datetime) -> Event:
    suffix = " (override)" if period.source == "override" else ""
    event = Event()
    event.add("uid", f"{period.team}-{_stamp(period.period_start)}-{period.source}@referral-router")
    event.add("dtstamp", generated_at.astimezone(UTC))
    event.add("dtstart", period.period_start.astimezone(UTC))
    event.add("dtend", period.period_end.astimezone(UTC))
    event.add("summary", f"{name} on duty{suffix}")
    event.add("transp", "TRANSPARENT")
    return event


def _meeting(occurrence: Occurrence, names: Mapping[str, str], generated_at: datetime) -> Event:
    slot = occurrence.slot
    event = Event()
    event.add("uid", f"meeting-{occurrence.uid}@referral-router")
    event.add("dtstamp", generated_at.astimezone(UTC))
    event.add("dtstart", occurrence.starts_at)
    event.add("dtend", occurrence.ends_at)
    event.add("summary", slot.title)
    teams = ", ".join(names.get(t, t) for t in occurrence.teams)
    event.add("description", f"{slot.counterpart} – {teams}" if slot.counterpart else teams)
    event.add("categories", [slot.kind])
    return event


def calendar_ics(
    periods: Sequence[OnDuty],
    names: Mapping[str, str],
    generated_at: datetime,
    meetings: Sequence[Occurrence] = (),
) -> bytes:
    """A VCALENDAR with one VEVENT per on-duty period (UTC) and per fixed meeting (local time
    with its VTIMEZONE): CRLF line ends, folded lines."""
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("x-wr-calname", "On duty")
    for period in periods:
        calendar.add_component(_event(period, names.get(period.team, period.team), generated_at))
    for occurrence in meetings:
        calendar.add_component(_meeting(occurrence, names, generated_at))
    if meetings:
        calendar.add_missing_timezones()
    ics: bytes = calendar.to_ical()
    return ics
