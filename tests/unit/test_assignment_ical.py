"""The rotation's iCalendar feed (services/assignment/api/ical.py): RFC 5545 as the `icalendar`
package reads it back, every content line folded at 75 octets (§3.1), CRLF line ends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from icalendar import Calendar

from services.assignment.api.ical import calendar_ics
from services.assignment.domain.model import OnDuty

TZ = ZoneInfo("Europe/Stockholm")
START = datetime(2026, 1, 5, 8, tzinfo=TZ)
LONG_NAME = "Barn- och ungdomsenheten för skyddsbedömningar, Södra Älvsborg grupp Ö"  # 70 characters
PERIODS = [
    OnDuty("team-a", START, START + timedelta(days=14), "rotation"),
    OnDuty("team-b", START + timedelta(days=14), START + timedelta(days=15), "override"),
]


def feed() -> bytes:
    return calendar_ics(PERIODS, {"team-a": LONG_NAME, "team-b": "Team B"}, datetime(2026, 1, 1, tzinfo=UTC))


def test_the_fixture_team_name_is_seventy_characters_and_not_ascii():
    assert len(LONG_NAME) == 70 and not LONG_NAME.isascii()


def test_the_feed_reads_back_with_icalendar_with_a_seventy_character_team_name():
    calendar = Calendar.from_ical(feed())
    assert str(calendar["VERSION"]) == "2.0" and str(calendar["PRODID"]).startswith("-//referral-router")
    events = list(calendar.walk("VEVENT"))
    assert [str(e["SUMMARY"]) for e in events] == [f"{LONG_NAME} on duty", "Team B on duty (override)"]
    assert [e.decoded("DTSTART") for e in events] == [p.period_start for p in PERIODS]
    assert [e.decoded("DTEND") for e in events] == [p.period_end for p in PERIODS]
    assert events[0].decoded("DTSTART").tzinfo is not None
    assert len({str(e["UID"]) for e in events}) == 2


def test_every_line_is_crlf_terminated_and_folded_at_75_octets_without_splitting_a_character():
    raw = feed()
    assert raw.endswith(b"\r\n")
    assert b"\n" not in raw.replace(b"\r\n", b"") and b"\r" not in raw.replace(b"\r\n", b"")
    lines = raw.split(b"\r\n")[:-1]
    assert max(len(line) for line in lines) <= 75
    for line in lines:
        line.decode("utf-8")  # a fold inside a multi-byte character would not decode
    assert any(line.startswith(b" ") for line in lines)  # the long SUMMARY was folded
    unfolded = raw.replace(b"\r\n ", b"").decode()
    escaped = LONG_NAME.replace(",", "\\,")
    assert f"SUMMARY:{escaped} on duty\r\n" in unfolded


def test_times_are_utc_and_text_is_escaped():
    periods = [OnDuty("team-a", START, START + timedelta(days=14), "rotation")]
    raw = calendar_ics(periods, {"team-a": "Team A; nights, weekends"}, datetime(2026, 1, 1, tzinfo=UTC))
    unfolded = raw.replace(b"\r\n ", b"").decode()
    assert "DTSTART:20260105T070000Z" in unfolded and "DTEND:20260119T070000Z" in unfolded
    assert "SUMMARY:Team A\\; nights\\, weekends on duty" in unfolded
