"""A consultation's invitation as iCalendar (RFC 5545) for iTIP over email (RFC 5546/6047).

Written with the `icalendar` package: one VEVENT whose UID is the consultation's (stable across
the booking, the reminder and the cancel), SEQUENCE from the event, DTSTART/DTEND in the unit's
zone with TZID and a VTIMEZONE generated from the zoneinfo database, ORGANIZER the team's
manager, ATTENDEE the person who booked, SUMMARY the meeting slot's title (never the topic).
"""

from __future__ import annotations

from datetime import UTC, timedelta
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event, vCalAddress

from services.notifications.domain.workplace import Invitation

PRODID = "-//referral-router//consultations//EN"
# The VTIMEZONE covers this much either side of the meeting: its rules, not thirty years of them.
TZ_MARGIN = timedelta(days=400)


def invitation_ics(entry: Invitation) -> str:
    """The VCALENDAR with METHOD and one VEVENT, CRLF line ends, lines folded at 75 octets."""
    zone = ZoneInfo(entry.tzid)
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", entry.method)
    event = Event()
    event.add("uid", entry.uid)
    event.add("sequence", entry.sequence)
    event.add("dtstamp", entry.stamp.astimezone(UTC))
    event.add("dtstart", entry.starts_at.astimezone(zone))
    event.add("dtend", entry.ends_at.astimezone(zone))
    event.add("summary", entry.summary)
    if entry.description:
        event.add("location", entry.description)
    event.add("status", "CANCELLED" if entry.method == "CANCEL" else "CONFIRMED")
    event.add("transp", "OPAQUE")
    event.add("organizer", _address(entry.organizer_email, entry.organizer_name))
    attendee = _address(entry.attendee_email, entry.attendee_name)
    attendee.params["ROLE"] = "REQ-PARTICIPANT"
    attendee.params["PARTSTAT"] = "ACCEPTED"
    attendee.params["RSVP"] = "FALSE"
    event.add("attendee", attendee)
    calendar.add_component(event)
    day = entry.starts_at.date()
    calendar.add_missing_timezones(first_date=day - TZ_MARGIN, last_date=day + TZ_MARGIN)
    text: str = calendar.to_ical().decode("utf-8")
    return text


def _address(email: str, name: str) -> vCalAddress:
    address = vCalAddress(f"mailto:{email}")
    address.params["CN"] = name
    return address
