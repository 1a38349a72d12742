"""The web app's HTTP adapter against the real intake app (Postgres, broker, SMTP server): "feedback
sent" and the access-log review, the two intake calls the contract suite (assignment only) leaves
out. Who may do what is intake's: the adapter must turn its answers into the ports' results."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from referral_router.tokens import dev_token
from services.intake.adapters.postgres import PostgresIntakeUnitOfWork
from services.intake.domain.access_review import STOCKHOLM, ReviewRules
from services.intake.handlers.access_review import AccessReviewing, send_due_review
from services.web.adapters.http_staff_api import HttpStaffApi
from services.web.domain.model import Caller, User
from services.web.ports import UpstreamDenied, UpstreamRejected
from shared import db
from shared.office_days import swedish_holidays
from shared.settings import DatabaseSettings
from tests.helpers import eventually
from tests.integration.test_intake_reporter_feedback import (  # noqa: F401 - fixtures
    assign_and_decide,
    bearer,
    referral,
    smtp,
)
from tests.integration.test_intake_reporter_feedback import intake as intake


def caller(staff_id: str, *roles: str) -> Caller:
    return Caller(User(staff_id, frozenset(roles)), dev_token(staff_id, list(roles)))


async def test_feedback_sent_through_the_adapter_stops_the_clock_and_the_log_is_read_back(
    intake: httpx.AsyncClient, kafka_broker: object, topic_prefix: str
) -> None:
    api = HttpStaffApi(intake, intake)
    rid, _ = await referral(intake, feedback_requested=False)
    now = datetime.now(UTC)
    with pytest.raises(UpstreamDenied):  # not assigned yet: cw-a5 has no relation to it
        await api.feedback_sent(caller("cw-a5", "caseworker"), rid, now, "letter")
    await assign_and_decide(kafka_broker, topic_prefix, rid, "no_investigation", owed=False)

    async def too_early() -> str:
        try:
            await api.feedback_sent(caller("cw-a5", "caseworker"), rid, datetime.now(UTC), "letter")
        except (UpstreamDenied, UpstreamRejected) as exc:
            return type(exc).__name__ + ": " + str(exc)
        return "recorded"

    # Once projected, decided but nobody asked: a refusal the page shows beside the field.
    refused = await eventually(too_early, lambda r: r.startswith("UpstreamRejected"), timeout_s=60)
    assert "Conflict" in refused

    async def ask() -> httpx.Response:
        body = {"requested_at": now.isoformat(), "channel": "letter"}
        return await intake.post(
            f"/v1/referrals/{rid}/feedback-requests", json=body, headers=bearer("cw-a5", "caseworker")
        )

    await eventually(ask, lambda r: r.status_code in (200, 201), timeout_s=60)
    with pytest.raises(UpstreamDenied):
        await api.feedback_sent(caller("cw-b2", "caseworker"), rid, datetime.now(UTC), "letter")
    # Sent now, as the page stamps it (intake refuses a sending dated before the decision).
    await api.feedback_sent(caller("cw-a5", "caseworker"), rid, datetime.now(UTC), "letter")
    again = await ask()
    assert again.json()["feedback"]["state"] == "sent"

    rows, next_cursor = await api.read_access_log(caller("head", "head_of_unit"), {"referral": rid})
    assert next_cursor is None
    assert ("cw-b2", "denied", "denied") in [(r.staff, r.action, r.outcome) for r in rows]
    assert all(r.referral_id == rid and r.at.tzinfo is not None for r in rows)
    theirs, _ = await api.read_access_log(caller("mgr-b", "manager"), {"referral": rid})
    assert theirs == []  # team-a's referral: not team-b's manager's to review
    with pytest.raises(UpstreamDenied):
        await api.read_access_log(caller("cw-a5", "caseworker"), {})


async def test_the_head_reads_the_monthly_reviews_intake_sent_and_nobody_else_does(
    intake: httpx.AsyncClient, database_url: str
) -> None:
    api = HttpStaffApi(intake, intake)
    rid, _ = await referral(intake, feedback_requested=False)
    dossier = await intake.get(f"/v1/referrals/{rid}/dossier", headers=bearer("head", "head_of_unit"))
    assert dossier.status_code == 200  # a logged read: the month has a row to review
    assert await api.access_reviews(caller("head", "head_of_unit"), 12) == []
    pool = await db.create_pool(DatabaseSettings(url=database_url), "intake")
    try:
        reviewing = AccessReviewing(
            lambda: PostgresIntakeUnitOfWork(pool), "head", ReviewRules(), swedish_holidays()
        )
        next_month = datetime.now(STOCKHOLM).replace(day=1) + timedelta(days=40)
        due = next_month.replace(day=20, hour=12)  # after the next month's first office day
        month = await send_due_review(reviewing, due)
        head_seq = await pool.fetchval("SELECT max(seq) FROM intake.access_log")
    finally:
        await pool.close()
    assert month == datetime.now(STOCKHOLM).strftime("%Y-%m")
    (review,) = await api.access_reviews(caller("head", "head_of_unit"), 12)
    assert (review.month, review.sent_at, review.chain_seq) == (month, due, head_seq)
    assert review.entries is not None and review.entries >= 1
    assert review.chain_hash is not None and len(review.chain_hash) == 64
    assert review.findings is not None and {k for k, _ in review.findings} >= {"denied", "break_glass"}
    for other in (caller("mgr-a", "manager"), caller("cw-a5", "caseworker")):
        with pytest.raises(UpstreamDenied):
            await api.access_reviews(other, 12)
