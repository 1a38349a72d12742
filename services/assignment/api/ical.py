"""RFC 5545 iCalendar feed of on-duty periods, for subscribing from Outlook.

Written with the `icalendar` package, which escapes text and folds every content line at 75
octets (RFC 5545 §3.1) without splitting a UTF-8 character: a long team name in `SUMMARY` or
`UID` stays one valid line to any reader.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from icalendar import Calendar, Event

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


def calendar_ics(periods: Sequence[OnDuty], names: Mapping[str, str], generated_at: datetime) -> bytes:
    """A VCALENDAR with one VEVENT per on-duty period: UTC times, CRLF line ends, folded lines."""
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("x-wr-calname", "On duty")
    for period in periods:
        calendar.add_component(_event(period, names.get(period.team, period.team), generated_at))
    ics: bytes = calendar.to_ical()
    return ics
