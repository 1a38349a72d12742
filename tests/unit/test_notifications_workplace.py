"""Issue 22's notices (services/notifications/domain/workplace.py and routing): who is told about
an overload flag, a consultation and an incident, on which channel, in which words, and when."""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict
from datetime import date, datetime, timedelta

import pytest

from services.notifications.domain.routing import NewDelivery, deliveries_for
from services.notifications.domain.workplace import Invitation
from services.notifications.main import unit_routes
from services.notifications.subscribers import inputs
from shared.events import ConsultationEvent, IncidentRecorded, OverloadFlag
from tests.e2e.test_intake_no_personal_data import NEEDLES
from tests.notifications_support import example_unit, unit_config
from tests.workplace_support import NOTE, TOPIC, TZ, consultation, incident, overload

WEBHOOKS = {"mgr-a": "https://flow.example/mgr-a", "head": "https://flow.example/head"}
TUESDAY_10 = datetime(2026, 11, 24, 10, 0, tzinfo=TZ)
TUESDAY_20 = datetime(2026, 11, 24, 20, 0, tzinfo=TZ)
WEDNESDAY_08 = datetime(2026, 11, 25, 8, 0, tzinfo=TZ)


def made(event, now=TUESDAY_10, **notifications) -> list[NewDelivery]:
    unit = example_unit(staff_webhooks=WEBHOOKS, **notifications)
    return [d for o in inputs([event]) for d in deliveries_for(o, unit, now)]


def targets(deliveries: list[NewDelivery]) -> set[tuple[str, str]]:
    return {(d.recipient, d.channel) for d in deliveries}


def test_a_flag_goes_to_the_managers_email_and_own_chat_never_the_team_channel():
    deliveries = made(overload(raised_at=TUESDAY_10, escalate_at=TUESDAY_10 + timedelta(hours=4)))
    assert targets(deliveries) == {("mgr-a", "email"), ("staff:mgr-a", "teams")}
    mail = next(d for d in deliveries if d.channel == "email")
    assert mail.subject == "Signal om hög arbetsbelastning: Astrid Berg"
    said = "Astrid Berg har signalerat att hen är vid sin gräns. Svara senast 2026-11-24 14:00"
    assert said in mail.body_text
    assert not mail.held and mail.not_before == TUESDAY_10
    card = json.loads(next(d for d in deliveries if d.channel == "teams").card or "{}")
    assert card["attachments"][0]["content"]["body"][0]["text"] == mail.subject


def test_a_managers_own_flag_goes_to_the_head_of_unit():
    deliveries = made(overload(staff="mgr-a", raised_at=TUESDAY_10))
    assert targets(deliveries) == {("head", "email"), ("staff:head", "teams")}


def test_escalation_goes_to_the_head_and_the_answer_to_the_person_who_flagged():
    escalated = made(overload("overload.escalated", raised_at=TUESDAY_10 - timedelta(hours=5)))
    assert targets(escalated) == {("head", "email"), ("staff:head", "teams")}
    assert escalated[0].subject == "Obesvarad signal om hög arbetsbelastning: Astrid Berg"
    answer = overload(
        "overload.responded", raised_at=TUESDAY_10 - timedelta(hours=1), action="relieve",
        responded_by="mgr-a", responded_at=TUESDAY_10, capacity_factor=0.5,
        until=datetime(2026, 12, 11, 17, 0, tzinfo=TZ),
    )  # fmt: skip
    [mail] = made(answer)
    assert (mail.recipient, mail.subject) == ("cw-a1", "Svar på din signal om arbetsbelastning")
    assert "har svarat: din kapacitet minskas till 50 % till och med 2026-12-11 17:00." in mail.body_text
    reassign = overload("overload.responded", raised_at=TUESDAY_10, action="reassign", responded_by="mgr-a",
                        responded_at=TUESDAY_10, reassigned=3)  # fmt: skip
    assert "3 ärenden fördelas om till kollegor." in made(reassign)[0].body_text


def test_english_when_the_unit_says_so():
    [mail, _] = sorted(made(overload(raised_at=TUESDAY_10), language="en"), key=lambda d: d.channel)
    assert mail.subject == "Overload flag: Astrid Berg"
    assert "Answer by 2026-11-24 14:00" in mail.body_text


def test_an_incident_goes_to_the_manager_and_occupational_health_with_type_channel_date_and_team():
    referral = "R-7Q2K9M3XH4TB"  # intake's opaque id
    deliveries = made(incident(at=TUESDAY_10, type="violence", channel="home_visit", referral_id=referral))
    assert targets(deliveries) == {("mgr-a", "email"), ("staff:mgr-a", "teams"), ("fhv", "email")}
    mail = next(d for d in deliveries if d.recipient == "fhv")
    assert mail.subject == "Hot eller våld mot personal registrerat: våld"
    assert "En händelse har registrerats: våld (hembesök) den 2026-11-20, Team A." in mail.body_text
    assert f"/v1/referrals/{referral}" in mail.body_text  # the opaque reference, as a link


def test_an_incident_without_a_team_or_recorded_by_the_manager_goes_to_the_head_of_unit():
    assert targets(made(incident(team=None, at=TUESDAY_10))) == {
        ("head", "email"), ("staff:head", "teams"), ("fhv", "email"),
    }  # fmt: skip
    assert ("mgr-a", "email") not in targets(made(incident(requester="mgr-a", at=TUESDAY_10)))


def test_a_booking_sends_the_requester_an_invitation_and_the_team_a_card():
    start = datetime(2026, 12, 1, 13, 30, tzinfo=TZ)
    event = consultation(starts_at=start, at=TUESDAY_10)
    deliveries = made(event)
    assert targets(deliveries) == {("partner-1", "email"), ("team-b", "teams")}
    mail = next(d for d in deliveries if d.channel == "email")
    assert mail.subject == "Konsultation bokad: Konsultation med öppenvården 2026-12-01 13:30"
    entry = Invitation.from_json(mail.invitation or "")
    uid = f"{event.data.consultation_id}@referral-router"
    assert (entry.uid, entry.sequence, entry.method) == (uid, 0, "REQUEST")
    assert entry.organizer_email == "mgr-b@kommun.example"
    assert entry.attendee_email == "partner-1@kommun.example"
    assert entry.summary == "Konsultation med öppenvården" and entry.tzid == "Europe/Stockholm"
    card = next(d for d in deliveries if d.channel == "teams")
    assert card.invitation is None
    assert "Konsultation bokad: Konsultation med öppenvården 2026-12-01 13:30–14:00" in (card.card or "")


def test_a_cancel_is_a_cancel_with_the_same_uid():
    cid, start = uuid.uuid4(), datetime(2026, 12, 1, 13, 30, tzinfo=TZ)
    booked = made(consultation(starts_at=start, consultation_id=cid, at=TUESDAY_10))
    cancelled = made(consultation("consultation.cancelled", starts_at=start, consultation_id=cid, sequence=1,
                                  at=TUESDAY_10))  # fmt: skip
    first, last = (
        Invitation.from_json(next(d.invitation for d in ds if d.invitation)) for ds in (booked, cancelled)
    )
    assert first.uid == last.uid and (first.method, last.method) == ("REQUEST", "CANCEL")
    assert last.sequence == 1


def test_quiet_hours_hold_flags_for_the_digest_but_an_invitation_waits_alone():
    flag = made(overload(raised_at=TUESDAY_20), now=TUESDAY_20)
    assert all(d.held and d.not_before == WEDNESDAY_08 for d in flag)
    start = datetime(2026, 12, 1, 13, 0, tzinfo=TZ)
    booking = made(consultation(starts_at=start, at=TUESDAY_20), now=TUESDAY_20)
    mail = next(d for d in booking if d.channel == "email")
    assert not mail.held and mail.not_before == WEDNESDAY_08 and mail.invitation
    assert next(d for d in booking if d.channel == "teams").held


def test_a_unit_file_without_the_new_routes_still_tells_about_flags():
    config = unit_config(routes={"referral.received": ["intake"]})
    routes = unit_routes(config)
    assert routes["overload.flagged"] == ("manager",)
    assert routes["incident.recorded"] == ("manager", "occupational_health")
    assert routes["referral.received"] == ("intake",)


def test_the_events_have_no_field_for_free_text_and_refuse_one():
    models = (OverloadFlag, ConsultationEvent, IncidentRecorded)
    fields = {name for model in models for name in model.model_fields}
    assert not fields & {"note", "topic", "comment", "name", "description"}
    raw = overload(raised_at=TUESDAY_10).data.model_dump(mode="json") | {"note": NOTE}
    with pytest.raises(ValueError, match="note"):
        OverloadFlag.model_validate(raw)


@pytest.mark.parametrize("language", ["sv", "en"])
def test_no_message_or_card_holds_client_data_or_free_text(language):
    start = datetime(2026, 12, 1, 13, 30, tzinfo=TZ)
    events = [
        overload(raised_at=TUESDAY_10), overload("overload.escalated", raised_at=TUESDAY_10),
        overload("overload.responded", raised_at=TUESDAY_10, action="keep", responded_by="mgr-a",
                 responded_at=TUESDAY_10),
        *(consultation(k, starts_at=start, referral_id="R-7Q2K9M3XH4TB", at=TUESDAY_10)
          for k in ("consultation.booked", "consultation.reminder", "consultation.cancelled")),
        incident(at=TUESDAY_10, referral_id="R-7Q2K9M3XH4TB", occurred_on=date(2026, 11, 2)),
    ]  # fmt: skip
    deliveries = [d for e in events for d in made(e, language=language)]
    assert {d.kind for d in deliveries} == {e.event_type for e in events}
    words = [json.dumps(asdict(d), default=str, ensure_ascii=False) for d in deliveries]
    for needle in [*NEEDLES, NOTE, TOPIC, "Storgatan", "Hemligsdotter"]:
        assert not any(needle in w for w in words), needle
