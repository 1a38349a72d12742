"""Feedback to mandatory reporters in intake (issue 23): who is owed it (never a private or
anonymous reporter), the text of each outcome, and the use cases on the in-memory fakes: owed on
the decision, a later request, the email sent once, a letter recorded by staff, the refusals."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from services.intake.adapters.memory import InMemoryIntakeUnitOfWork, IntakeTables
from services.intake.domain.dossier import AccessRefused, Updated
from services.intake.domain.feedback import (
    NotOwedFeedback,
    UnknownOutcome,
    feedback_recipient,
    feedback_text,
)
from services.intake.handlers.access_projection import project_updates
from services.intake.handlers.feedback import NoFeedbackOwed, record_sent, request_feedback
from services.intake.handlers.feedback_sending import FeedbackSending, send_due_feedback
from services.intake.ports import FeedbackMaybeSent, FeedbackNotSent
from shared.events import TOPIC_FEEDBACK, parse_event
from tests.dossier_support import attempt, dossiers, form, project, store_referral
from tests.intake_fakes import NOW, keys

TZ = ZoneInfo("Europe/Stockholm")
DECIDED = NOW - timedelta(hours=1)
CASEWORKER = ("cw-a5", "caseworker")

# --- the domain: who is owed feedback, and the text ---------------------------------------------


@pytest.mark.parametrize(
    "reporter",
    [
        {"type": "private_person", "anonymous": False, "name": "Ada", "email": "ada@example.se"},
        {"type": "relative", "anonymous": False, "name": "Bo", "email": "bo@example.se"},
        {"type": "private_person", "anonymous": True},
        {"type": "guardian", "anonymous": False, "name": "Cy", "email": "cy@example.se"},
        {"type": "child_self", "anonymous": False},
        {"type": "school", "anonymous": True, "email": "x@skola.example"},  # cannot be: refused anyway
        {},
    ],
)
def test_no_private_or_anonymous_reporter_is_ever_a_recipient_of_feedback(reporter):
    with pytest.raises(NotOwedFeedback):
        feedback_recipient({**reporter, "feedback_requested": True})


def test_a_mandatory_reporter_is_a_recipient_at_the_organisation_address_they_gave():
    r = feedback_recipient(
        {"type": "police", "anonymous": False, "name": "N", "organisation": "O", "email": "e@p.se"}
    )
    assert (r.name, r.organisation, r.email) == ("N", "O", "e@p.se")


SV = {
    "open_investigation": "Socialtjänsten har beslutat att inleda en utredning.",
    "no_investigation": "Socialtjänsten har beslutat att inte inleda en utredning.",
    "joined_ongoing": "Det pågår redan en utredning. Anmälan har lagts till i den.",
}
EN = {
    "open_investigation": "Social services have decided to open an investigation.",
    "no_investigation": "Social services have decided not to open an investigation.",
    "joined_ongoing": "An investigation is already under way. The report has been added to it.",
}


@pytest.mark.parametrize("decision", sorted(SV))
def test_the_swedish_text_of_each_outcome_says_the_outcome_the_report_date_and_reference_only(decision):
    text = feedback_text(decision, date(2026, 11, 20), "R-7Q2K9M", "sv")
    assert text.subject == "Återkoppling från socialtjänsten"
    assert text.paragraphs[0] == (
        "Ni har bett om återkoppling på den orosanmälan som kom in till socialtjänsten 2026-11-20 "
        "(vår referens R-7Q2K9M)."
    )
    assert text.paragraphs[1] == SV[decision]
    assert "19 kap. 6 § socialtjänstlagen (2025:400)" in text.paragraphs[2]
    others = [SV[d] for d in SV if d != decision]
    assert not any(o in " ".join(text.paragraphs) for o in others)


@pytest.mark.parametrize("decision", sorted(EN))
def test_the_english_text_of_each_outcome(decision):
    text = feedback_text(decision, date(2026, 11, 20), "R-1", "en")
    assert text.subject == "Feedback from social services" and text.paragraphs[1] == EN[decision]


def test_no_text_is_made_for_an_outcome_the_law_does_not_name():
    with pytest.raises(UnknownOutcome):
        feedback_text("closed", date(2026, 11, 20), "R-1")


# --- the use cases ------------------------------------------------------------------------------


@dataclass
class FakeMailer:
    """Records each message; fails as told (one failure per call, in order)."""

    sent: list[tuple[str, str, str]] = field(default_factory=list)
    failures: list[Exception] = field(default_factory=list)

    async def send(self, to: str, subject: str, body: str) -> None:
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append((to, subject, body))


@pytest.fixture
def tables() -> IntakeTables:
    return IntakeTables()


def uow_of(tables: IntakeTables) -> Any:
    return lambda: InMemoryIntakeUnitOfWork(tables)


async def decided(uow: Any, rid: str, decision: str, *, owed_by_report: bool) -> None:
    due = DECIDED + timedelta(days=7) if owed_by_report else None
    async with uow() as u:
        await project_updates(u, [Updated(rid, "closed", True, None, due, decision, DECIDED)])
        await u.commit()


def sending_deps(uow: Any, mailer: FakeMailer, language: str = "sv") -> FeedbackSending:
    return FeedbackSending(uow, keys().cipher, mailer, TZ, language)  # type: ignore[arg-type]


def feedback_events(tables: IntakeTables) -> list[dict[str, Any]]:
    return [json.loads(value) for _, topic, _, value in tables.outbox if topic == TOPIC_FEEDBACK]


async def setup(tables: IntakeTables, body: dict[str, Any]) -> tuple[Any, str]:
    uow = uow_of(tables)
    [rid] = await store_referral(uow, body)
    await project(uow, rid)
    return uow, rid


async def test_a_request_with_the_report_is_answered_by_email_once_after_the_decision(tables):
    body = form()
    uow, rid = await setup(tables, body)
    mailer = FakeMailer()
    assert await send_due_feedback(sending_deps(uow, mailer), NOW) == {}  # nothing decided yet
    await decided(uow, rid, "no_investigation", owed_by_report=True)
    assert await send_due_feedback(sending_deps(uow, mailer), NOW) == {"sent": 1}
    assert await send_due_feedback(sending_deps(uow, mailer), NOW + timedelta(hours=1)) == {}
    [(to, subject, text)] = mailer.sent
    assert to == body["reporter"]["email"] and subject == "Återkoppling från socialtjänsten"
    assert SV["no_investigation"] in text and rid in text and "2026-11-22" in text
    child, guardian = body["children"][0], body["guardians"][0]
    for secret in (child["name"], child["personal_number"], guardian["name"], body["concern"]["description"]):
        assert secret not in text and secret not in subject
    [event] = feedback_events(tables)
    assert event["event_type"] == "reporter_feedback.sent"
    data = event["data"]
    assert sorted(data) == ["at", "by", "channel", "family_key", "referral_id"]
    assert (data["referral_id"], data["by"], data["channel"]) == (rid, "system", "email")
    parse_event(json.dumps(event).encode(), topic=TOPIC_FEEDBACK)  # the contract holds
    assert body["reporter"]["email"] not in json.dumps(event) and body["reporter"]["name"] not in json.dumps(
        event
    )


async def test_a_request_recorded_after_the_decision_is_owed_at_once_and_announced(tables):
    body = form()
    body["reporter"]["feedback_requested"] = False
    uow, rid = await setup(tables, body)
    await decided(uow, rid, "open_investigation", owed_by_report=False)
    mailer = FakeMailer()
    assert await send_due_feedback(sending_deps(uow, mailer), NOW) == {}  # nobody asked
    deps = dossiers(uow)
    done = await request_feedback(deps, attempt(*CASEWORKER, referral_id=rid), NOW, "email")
    assert done.new and done.sending is not None and done.sending.state == "pending"
    again = await request_feedback(deps, attempt(*CASEWORKER, referral_id=rid), NOW, "letter")
    assert not again.new and again.request.channel == "email"  # the first request counts
    same = await request_feedback(deps, attempt(*CASEWORKER, referral_id=rid), NOW, "email")
    assert not same.new  # the same request again is no news either
    assert [e["event_type"] for e in feedback_events(tables)] == ["reporter_feedback.requested"]
    assert await send_due_feedback(sending_deps(uow, mailer, "en"), NOW) == {"sent": 1}
    assert EN["open_investigation"] in mailer.sent[0][2]


async def test_a_request_before_the_decision_waits_for_it(tables):
    body = form()
    body["reporter"]["feedback_requested"] = False
    uow, rid = await setup(tables, body)
    done = await request_feedback(dossiers(uow), attempt(*CASEWORKER, referral_id=rid), NOW, "email")
    assert done.sending is None
    await decided(uow, rid, "joined_ongoing", owed_by_report=False)  # assignment had not heard yet
    mailer = FakeMailer()
    assert await send_due_feedback(sending_deps(uow, mailer), NOW) == {"sent": 1}
    assert SV["joined_ongoing"] in mailer.sent[0][2]


@pytest.mark.parametrize(("reporter_type", "anonymous"), [("private_person", False), ("relative", True)])
async def test_a_private_or_anonymous_reporter_gets_no_feedback_by_any_path(tables, reporter_type, anonymous):
    body = form()
    body["reporter"] |= {"type": reporter_type, "anonymous": anonymous}
    if anonymous:
        body["reporter"] = {"type": reporter_type, "anonymous": True, "feedback_requested": True}
    uow, rid = await setup(tables, body)
    with pytest.raises(NotOwedFeedback):
        await request_feedback(dossiers(uow), attempt(*CASEWORKER, referral_id=rid), NOW, "email")
    assert tables.feedback.requests == {} and feedback_events(tables) == []
    await decided(uow, rid, "no_investigation", owed_by_report=True)  # even if assignment said so
    mailer = FakeMailer()
    assert await send_due_feedback(sending_deps(uow, mailer), NOW) == {"failed": 1}
    assert mailer.sent == [] and feedback_events(tables) == []
    assert tables.feedback.sendings[rid].error == "not_owed"


async def test_a_letter_waits_for_staff_and_their_record_stops_the_clock(tables):
    body = form()
    body["reporter"]["email"] = None
    uow, rid = await setup(tables, body)
    await decided(uow, rid, "open_investigation", owed_by_report=True)
    mailer = FakeMailer()
    assert await send_due_feedback(sending_deps(uow, mailer), NOW) == {"letter": 1}
    assert mailer.sent == []
    with pytest.raises(AccessRefused):
        await record_sent(dossiers(uow), attempt("cw-b2", "caseworker", referral_id=rid), NOW, "letter")
    assert tables.access_log[-1].entry.action.value == "denied"
    sent = await record_sent(dossiers(uow), attempt("mgr-a", "manager", referral_id=rid), NOW, "letter")
    assert (sent.state, sent.sent_at, sent.sent_by, sent.channel) == ("sent", NOW, "mgr-a", "letter")
    later = NOW + timedelta(minutes=1)
    again = await record_sent(dossiers(uow), attempt(*CASEWORKER, referral_id=rid), later, "letter")
    assert again.sent_by == "mgr-a"
    assert [(e["event_type"], e["data"]["by"]) for e in feedback_events(tables)] == [
        ("reporter_feedback.sent", "mgr-a")
    ]


async def test_recording_a_sending_where_none_is_owed_is_refused(tables):
    uow, rid = await setup(tables, form())
    with pytest.raises(NoFeedbackOwed):
        await record_sent(dossiers(uow), attempt(*CASEWORKER, referral_id=rid), NOW, "letter")


async def test_a_refused_connection_is_retried_later_and_a_lost_one_is_never_resent(tables):
    uow, rid = await setup(tables, form())
    await decided(uow, rid, "no_investigation", owed_by_report=True)
    mailer = FakeMailer(failures=[FeedbackNotSent("cannot connect", retry=True), FeedbackMaybeSent("lost")])
    assert await send_due_feedback(sending_deps(uow, mailer), NOW) == {"pending": 1}
    assert tables.feedback.sendings[rid].next_attempt_at == NOW + timedelta(minutes=1)
    assert await send_due_feedback(sending_deps(uow, mailer), NOW + timedelta(seconds=30)) == {}
    assert await send_due_feedback(sending_deps(uow, mailer), NOW + timedelta(minutes=1)) == {"unknown": 1}
    assert await send_due_feedback(sending_deps(uow, mailer), NOW + timedelta(days=1)) == {}
    assert mailer.sent == [] and feedback_events(tables) == []


class Crash(BaseException):
    """The process dies (SIGKILL) at this point: nothing after it runs."""


@dataclass
class CrashingMailer(FakeMailer):
    """The relay takes the message, then the process dies before intake records it."""

    async def send(self, to: str, subject: str, body: str) -> None:
        await super().send(to, subject, body)
        raise Crash


async def test_a_crash_after_the_relay_took_the_email_never_sends_it_again(tables):
    uow, rid = await setup(tables, form())
    await decided(uow, rid, "no_investigation", owed_by_report=True)
    mailer = CrashingMailer()
    with pytest.raises(Crash):
        await send_due_feedback(sending_deps(uow, mailer), NOW)
    assert len(mailer.sent) == 1 and tables.feedback.sendings[rid].state == "sending"
    # The restarted timer, however often it runs, leaves it to an operator (docs/RUNBOOK.md).
    again = FakeMailer()
    for later in (NOW, NOW + timedelta(minutes=5), NOW + timedelta(days=1)):
        assert await send_due_feedback(sending_deps(uow, again), later) == {}
    assert again.sent == [] and feedback_events(tables) == []


async def test_a_crash_before_the_claim_committed_sends_it_after_the_restart(tables):
    uow, rid = await setup(tables, form())
    await decided(uow, rid, "no_investigation", owed_by_report=True)
    async with uow() as u:
        await u.feedback.claim_due(NOW, 10)  # the process dies before this commits
    mailer = FakeMailer()
    assert await send_due_feedback(sending_deps(uow, mailer), NOW) == {"sent": 1}
    assert len(mailer.sent) == 1


async def test_a_redelivered_decision_owes_the_feedback_once(tables):
    uow, rid = await setup(tables, form())
    await decided(uow, rid, "no_investigation", owed_by_report=True)
    mailer = FakeMailer()
    assert await send_due_feedback(sending_deps(uow, mailer), NOW) == {"sent": 1}
    await decided(uow, rid, "no_investigation", owed_by_report=True)  # the same event again
    assert await send_due_feedback(sending_deps(uow, mailer), NOW + timedelta(hours=1)) == {}
    assert len(mailer.sent) == 1
