"""RFC 5545 iCalendar export of on-duty periods, for subscribing from Outlook."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from services.assignment.domain.model import OnDuty


def _stamp(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def calendar_ics(periods: Sequence[OnDuty], names: dict[str, str], generated_at: datetime) -> str:
    """A VCALENDAR with one all-period VEVENT per on-duty period (CRLF line ends, UTC times)."""
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//referral-router//rotation//EN",
        "CALSCALE:GREGORIAN",
        "X-WR-CALNAME:On duty",
    ]
    for p in periods:
        name = names.get(p.team, p.team)
        suffix = " (override)" if p.source == "override" else ""
        lines += [
            "BEGIN:VEVENT",
            f"UID:{p.team}-{_stamp(p.period_start)}-{p.source}@referral-router",
            f"DTSTAMP:{_stamp(generated_at)}",
            f"DTSTART:{_stamp(p.period_start)}",
            f"DTEND:{_stamp(p.period_end)}",
            f"SUMMARY:{_escape(name + ' on duty' + suffix)}",
            "TRANSP:TRANSPARENT",
            "END:VEVENT",
        ]
    lines.append("END:VCALENDAR")
    return "\r\n".join(lines) + "\r\n"
