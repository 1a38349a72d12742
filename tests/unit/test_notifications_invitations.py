"""A consultation's email as the relay gets it (issue 22, show 3): the strict email parser takes
it, and two independent iCalendar libraries (`icalendar` and `vobject`) read the same invitation
and cancellation back — METHOD, UID stable across booking, reminder and cancel, SEQUENCE rising on
the cancel, TZID Europe/Stockholm with a VTIMEZONE that gives the right UTC offset in summer and
in winter."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import icalendar
import pytest
import vobject

from services.notifications.domain.delivery import Claim
from services.notifications.domain.outgoing import ClaimedDelivery, message_for
from services.notifications.domain.routing import deliveries_for
from services.notifications.subscribers import inputs
from tests.notifications_support import example_unit
from tests.unit.test_email_compose import SENDER, parsed
from tests.workplace_support import TOPIC, TZ, consultation

BOOKED_AT = datetime(2026, 3, 2, 10, 0, tzinfo=TZ)
SUMMER = datetime(2026, 7, 7, 13, 30, tzinfo=TZ)  # CEST, UTC+2
WINTER = datetime(2026, 12, 1, 13, 30, tzinfo=TZ)  # CET, UTC+1
KINDS = ("consultation.booked", "consultation.reminder", "consultation.cancelled")


def raw_email(event) -> bytes:
    """The email to the person who booked, as composed for the relay."""
    unit = example_unit()
    [mail] = [d for o in inputs([event]) for d in deliveries_for(o, unit, BOOKED_AT) if d.channel == "email"]
    claimed = ClaimedDelivery(
        Claim(1, 1), mail.source_event_id, mail.recipient, mail.channel, mail.kind, mail.referral_id,
        mail.family_key, mail.subject, mail.body_text, mail.body_html, mail.card, invitation=mail.invitation,
    )  # fmt: skip
    return SENDER.compose("partner-1@kommun.example", message_for([claimed], unit))


def calendar_parts(message: EmailMessage) -> list[tuple[str, str, str]]:
    """Every text/calendar part: (where it sits, its method parameter, its text)."""
    found = []
    for part in message.walk():
        if part.get_content_type() == "text/calendar":
            where = "attachment" if part.get_filename() else "alternative"
            found.append((where, part.get_param("method"), part.get_content().replace("\r\n", "\n")))
    return found


def versions(start: datetime) -> dict[str, tuple[EmailMessage, str]]:
    """The booking, reminder and cancel of one consultation: strictly parsed email and its iCalendar."""
    cid, out = uuid.uuid4(), {}
    for kind in KINDS:
        sequence = 1 if kind == "consultation.cancelled" else 0
        event = consultation(kind, starts_at=start, consultation_id=cid, sequence=sequence, at=BOOKED_AT)
        message = parsed(raw_email(event))
        parts = calendar_parts(message)
        assert [w for w, _, _ in parts] == ["alternative", "attachment"]
        assert parts[0][1:] == parts[1][1:]  # the same invitation both ways
        out[kind] = (message, parts[0][2])
    return out


@pytest.mark.parametrize(("start", "offset"), [(SUMMER, timedelta(hours=2)), (WINTER, timedelta(hours=1))])
def test_icalendar_reads_the_invitation_reminder_and_cancel(start, offset):
    read = {k: icalendar.Calendar.from_ical(ics) for k, (_, ics) in versions(start).items()}
    events = {k: c.walk("VEVENT")[0] for k, c in read.items()}
    assert [str(c["METHOD"]) for c in read.values()] == ["REQUEST", "REQUEST", "CANCEL"]
    assert len({str(e["UID"]) for e in events.values()}) == 1
    assert str(events["consultation.booked"]["UID"]).endswith("@referral-router")
    assert [int(e["SEQUENCE"]) for e in events.values()] == [0, 0, 1]
    assert [str(e["STATUS"]) for e in events.values()] == ["CONFIRMED", "CONFIRMED", "CANCELLED"]
    for calendar, event in zip(read.values(), events.values(), strict=True):
        assert event["DTSTART"].params["TZID"] == "Europe/Stockholm"
        assert event["DTEND"].params["TZID"] == "Europe/Stockholm"
        [zone] = calendar.walk("VTIMEZONE")
        assert str(zone["TZID"]) == "Europe/Stockholm"
        # The offset from the calendar's own VTIMEZONE (not the machine's zoneinfo).
        local = event.decoded("DTSTART").replace(tzinfo=None)
        assert zone.to_tz().utcoffset(local) == offset
        assert event.decoded("DTSTART").astimezone(UTC) == start.astimezone(UTC)
        assert event.decoded("DTEND") - event.decoded("DTSTART") == timedelta(minutes=30)
        assert str(event["SUMMARY"]) == "Konsultation med öppenvården"
        assert str(event["ORGANIZER"]) == "mailto:mgr-b@kommun.example"
        assert str(event["ATTENDEE"]) == "mailto:partner-1@kommun.example"
        assert event["ATTENDEE"].params["CN"] == "Öppenvården (exempel)"


@pytest.mark.parametrize(("start", "offset"), [(SUMMER, timedelta(hours=2)), (WINTER, timedelta(hours=1))])
def test_vobject_reads_the_same(start, offset):
    read = {k: vobject.readOne(ics) for k, (_, ics) in versions(start).items()}
    assert [c.method.value for c in read.values()] == ["REQUEST", "REQUEST", "CANCEL"]
    assert len({c.vevent.uid.value for c in read.values()}) == 1
    assert [int(c.vevent.sequence.value) for c in read.values()] == [0, 0, 1]
    for (_, ics), calendar in zip(versions(start).values(), read.values(), strict=True):
        assert vobject.readOne(ics, transform=False).vevent.dtstart.params["TZID"] == ["Europe/Stockholm"]
        assert calendar.vtimezone.tzid.value == "Europe/Stockholm"
        # The zone of the time read is the file's own VTIMEZONE, named by its TZID.
        zone = calendar.vevent.dtstart.value.tzinfo
        assert vobject.icalendar.TimezoneComponent.pickTzid(zone) == "Europe/Stockholm"
        # vobject builds the zone from the VTIMEZONE in the file.
        starts = calendar.vevent.dtstart.value
        assert starts.utcoffset() == offset
        assert starts.astimezone(UTC) == start.astimezone(UTC)
        assert calendar.vevent.organizer.value == "mailto:mgr-b@kommun.example"


def test_the_email_says_it_plainly_and_never_carries_the_topic():
    message, ics = versions(WINTER)["consultation.cancelled"]
    assert message["Subject"] == "Konsultation avbokad: Konsultation med öppenvården 2026-12-01 13:30"
    text = message.get_body(("plain",))
    assert text is not None
    assert "Konsultationen 2026-12-01 13:30–14:00 med Team B är avbokad." in text.get_content()
    assert message.get_content_type() == "multipart/mixed"
    for needle in (TOPIC, "Hemligsdotter", "Storgatan"):
        assert needle not in message.as_string() and needle not in ics
