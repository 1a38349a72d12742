"""Feedback to mandatory reporters over HTTP on real Postgres, a real Kafka-protocol broker and a
real SMTP server (aiosmtpd), issue 23: a decision event on the broker makes the feedback owed, the
timer emails it once, `reporter_feedback.sent` is published; a later request and a letter go
through the staff endpoints; bad input is problem details; nothing personal reaches the subject,
the events or the logs."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from pydantic import SecretStr
from pypdf import PdfReader

from referral_router.devinfra.procs import free_port
from referral_router.stack import DEV_JWT_SECRET
from referral_router.tokens import dev_token
from services.intake.adapters.feedback_mail import FeedbackSettings
from services.intake.main import AssignmentApiSettings
from shared.events import (
    TOPIC_ASSIGNED,
    TOPIC_UPDATED,
    Deadlines,
    ReferralAssigned,
    ReferralUpdated,
    encode_event,
    event_key,
    new_envelope,
)
from shared.staff_auth import AuthSettings
from tests.factories import submission
from tests.helpers import eventually, produce
from tests.integration.intake_support import intake_db, intake_settings, post, running_intake


@dataclass
class Inbox:
    """What the SMTP server received."""

    messages: list[tuple[list[str], EmailMessage]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # aiosmtpd's hook name
        parsed = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append((list(envelope.rcpt_tos), parsed))
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[int, Inbox]]:
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, inbox
    finally:
        controller.stop()


@pytest.fixture
async def intake(database_url, kafka_broker, topic_prefix, smtp):
    settings = intake_settings(
        database_url, kafka_broker, topic_prefix,
        auth=AuthSettings(jwt_secret=SecretStr(DEV_JWT_SECRET)),
        # Nothing answers there: the projection (from the broker) is what grants access here.
        assignment=AssignmentApiSettings(url=f"http://127.0.0.1:{free_port()}", timeout_s=0.5),
        feedback=FeedbackSettings(smtp_port=smtp[0], starttls=False, interval_s=0.2),
    )  # fmt: skip
    async with running_intake(settings) as client:
        yield client


def bearer(staff: str, *roles: str) -> dict[str, str]:
    return {"authorization": f"Bearer {dev_token(staff, list(roles))}"}


async def referral(intake: httpx.AsyncClient, **reporter: Any) -> tuple[str, dict[str, Any]]:
    body = submission()
    body["reporter"] |= reporter
    answer = await post(intake, body)
    assert answer.status_code == 202, answer.text
    return answer.json()["referrals"][0]["referral_id"], body


async def assign_and_decide(broker: Any, prefix: str, rid: str, decision: str | None, *, owed: bool) -> None:
    """assignment's events for the referral: assigned to cw-a5 in team-a, then (if given) decided."""
    now = datetime.now(UTC)
    assigned = ReferralAssigned(
        referral_id=rid, family_key=f"fam-{rid}", team="team-a", caseworker="cw-a5", mentor=None,
        reason="rotation", explanation="team on duty", received_at=now,
        deadlines=Deadlines(preliminary_assessment_due=now + timedelta(days=14)),
    )  # fmt: skip
    a = new_envelope("referral.assigned", assigned, producer="assignment", correlation_id=rid)
    await produce(broker.bootstrap, prefix + TOPIC_ASSIGNED, [(event_key(a), encode_event(a))])
    if decision is not None:
        decided = ReferralUpdated(
            referral_id=rid, family_key=f"fam-{rid}", status="closed", at=now, by="cw-a5", decision=decision,
            feedback_due=now + timedelta(days=7) if owed else None,
        )  # fmt: skip
        d = new_envelope("referral.decided", decided, producer="assignment", correlation_id=rid)
        await produce(broker.bootstrap, prefix + TOPIC_UPDATED, [(event_key(d), encode_event(d))])


async def access_rows(database_url: str, rid: str) -> list[tuple[str, str, str]]:
    conn = await intake_db(database_url)
    try:
        rows = await conn.fetch(
            "SELECT staff, action, outcome FROM access_log WHERE referral_id = $1 ORDER BY seq", rid
        )
        return [tuple(r) for r in rows]
    finally:
        await conn.close()


async def feedback_events(database_url: str) -> list[dict[str, Any]]:
    """The published `referrals.feedback.v1` events in intake's outbox."""
    conn = await intake_db(database_url)
    try:
        rows = await conn.fetch(
            "SELECT payload FROM outbox"
            " WHERE topic LIKE '%referrals.feedback.v1' AND published_at IS NOT NULL ORDER BY id"
        )
        return [json.loads(r["payload"]) for r in rows]
    finally:
        await conn.close()


async def test_a_decision_on_the_broker_sends_the_email_once_with_nothing_about_the_child_in_the_subject(
    intake, smtp, database_url, kafka_broker, topic_prefix, caplog
):
    caplog.set_level(logging.DEBUG)
    _, inbox = smtp
    rid, body = await referral(intake)
    await assign_and_decide(kafka_broker, topic_prefix, rid, "open_investigation", owed=True)

    await eventually(lambda: feedback_events(database_url), lambda events: len(events) == 1, timeout_s=60)
    [(to, message)] = inbox.messages
    assert to == [body["reporter"]["email"]]
    assert message["Subject"] == "Återkoppling från socialtjänsten"
    text = message.get_content()
    assert "Socialtjänsten har beslutat att inleda en utredning." in text and rid in text
    child = body["children"][0]
    personal = [
        child["name"],
        child["personal_number"],
        body["guardians"][0]["name"],
        body["concern"]["description"],
    ]
    for value in personal:
        assert value not in text and value not in message["Subject"]
    [event] = await feedback_events(database_url)
    assert (event["event_type"], event["data"]["by"], event["data"]["channel"]) == (
        "reporter_feedback.sent", "system", "email",
    )  # fmt: skip
    published = json.dumps(event)
    # The test's own SMTP server (aiosmtpd, logger "mail.log") logs the envelope; ours must not.
    logged = "\n".join(r.getMessage() + str(r.__dict__) for r in caplog.records if r.name != "mail.log")
    for value in [*personal, body["reporter"]["email"], body["reporter"]["name"]]:
        assert value not in published and value not in logged


async def test_a_later_request_by_letter_is_recorded_and_its_sending_recorded_by_staff(
    intake, smtp, database_url, kafka_broker, topic_prefix
):
    rid, body = await referral(intake, feedback_requested=False)
    await assign_and_decide(kafka_broker, topic_prefix, rid, "no_investigation", owed=False)
    cw = bearer("cw-a5", "caseworker")
    now = datetime.now(UTC).isoformat()

    async def request() -> httpx.Response:
        return await intake.post(
            f"/v1/referrals/{rid}/feedback-requests",
            json={"requested_at": now, "channel": "letter"},
            headers=cw,
        )

    # The decision may not be projected yet; once it is, the feedback is owed at once.
    first = await eventually(request, lambda r: r.status_code in (200, 201), timeout_s=60)
    assert first.json()["recorded_by"] == "cw-a5"

    async def feedback_state() -> Any:
        return (await request()).json()["feedback"]

    await eventually(feedback_state, lambda f: f is not None and f["state"] == "letter", timeout_s=60)
    assert smtp[1].messages == []  # a letter is not emailed
    letter = await intake.get(f"/v1/referrals/{rid}/feedback-letter.pdf", headers=cw)
    assert letter.status_code == 200 and letter.headers["content-type"] == "application/pdf"
    pdf = PdfReader(io.BytesIO(letter.content))
    printed = pdf.pages[0].extract_text()
    assert "Socialtjänsten har beslutat att inte inleda en utredning." in printed
    assert body["reporter"]["name"] in printed and body["children"][0]["name"] not in printed
    assert pdf.metadata.title == rid
    assert (
        await intake.get(f"/v1/referrals/{rid}/feedback-letter.pdf", headers=bearer("cw-b2", "caseworker"))
    ).status_code == 403
    rows = await access_rows(database_url, rid)
    assert rows[-2:] == [("cw-a5", "export", "allowed"), ("cw-b2", "denied", "denied")]
    # Each request was logged first: refused while the assignment was not yet projected, then read.
    assert {(r[0], r[1]) for r in rows[:-2]} <= {("cw-a5", "read"), ("cw-a5", "denied")} and rows[-3][
        1
    ] == "read"
    sent = await intake.post(
        f"/v1/referrals/{rid}/feedback-sent", json={"sent_at": now, "channel": "letter"},
        headers=bearer("mgr-a", "manager"),
    )  # fmt: skip
    assert sent.status_code == 200, sent.text
    assert (sent.json()["feedback"]["state"], sent.json()["feedback"]["sent_by"]) == ("sent", "mgr-a")
    events = await eventually(lambda: feedback_events(database_url), lambda e: len(e) == 2, timeout_s=60)
    assert [e["event_type"] for e in events] == ["reporter_feedback.requested", "reporter_feedback.sent"]


async def test_every_refusal_is_problem_details_and_stores_nothing(
    intake, database_url, kafka_broker, topic_prefix
):
    rid, _ = await referral(intake, type="private_person", feedback_requested=True)
    await assign_and_decide(kafka_broker, topic_prefix, rid, None, owed=False)
    now = datetime.now(UTC)
    url = f"/v1/referrals/{rid}/feedback-requests"
    cw = bearer("cw-a5", "caseworker")

    async def private() -> httpx.Response:
        return await intake.post(url, json={"requested_at": now.isoformat(), "channel": "email"}, headers=cw)

    refused = await eventually(private, lambda r: r.status_code != 403, timeout_s=60)  # once projected
    assert refused.status_code == 409 and "mandatory reporter" in refused.json()["detail"]
    cases = [
        ({"requested_at": "2026-11-20T10:00:00", "channel": "email"}, cw, 422, ["body", "requested_at"]),
        ({"requested_at": now.isoformat(), "channel": "fax"}, cw, 422, ["body", "channel"]),
        ({"requested_at": now.isoformat()}, cw, 422, ["body", "channel"]),
        ({"requested_at": now.isoformat(), "channel": "email", "x": 1}, cw, 422, ["body", "x"]),
        (
            {"requested_at": (now + timedelta(days=1)).isoformat(), "channel": "email"},
            cw,
            422,
            ["body", "requested_at"],
        ),
        ({"requested_at": now.isoformat(), "channel": "email"}, bearer("cw-b2", "caseworker"), 403, None),
        ({"requested_at": now.isoformat(), "channel": "email"}, bearer("head", "head_of_unit"), 403, None),
    ]
    for payload, headers, status, loc in cases:
        answer = await intake.post(url, json=payload, headers=headers)
        assert answer.status_code == status, (payload, answer.text)
        assert answer.headers["content-type"] == "application/problem+json"
        if loc is not None:
            assert loc in [e["loc"] for e in answer.json()["errors"]]
    assert (
        await intake.post(url, json={"requested_at": now.isoformat(), "channel": "email"})
    ).status_code == 401
    sent = await intake.post(
        f"/v1/referrals/{rid}/feedback-sent",
        json={"sent_at": now.isoformat(), "channel": "letter"},
        headers=cw,
    )
    assert sent.status_code == 409
    conn = await intake_db(database_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM feedback_requests") == 0
        assert await conn.fetchval("SELECT count(*) FROM feedback_sendings") == 0
    finally:
        await conn.close()
