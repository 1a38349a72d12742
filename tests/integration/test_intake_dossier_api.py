"""Intake's dossier endpoints over HTTP on real Postgres and a real Kafka-protocol broker, with a
real HTTP server standing in for assignment's staff API (CONTRACTS.md §2a, issue 19).

The projection comes from events on the broker; when it is behind, intake asks the stand-in
with the reader's own token; when that cannot be asked, the reader gets 503 and the log a
refusal. Personal details never reach the logs or the outbox."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import SecretStr

from referral_router.devinfra.procs import free_port
from referral_router.stack import DEV_JWT_SECRET
from referral_router.tokens import dev_token
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
class StandIn:
    """Assignment's staff API, served by uvicorn on 127.0.0.1: a state per referral."""

    port: int
    states: dict[str, dict[str, Any]] = field(default_factory=dict)
    tokens: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextlib.asynccontextmanager
async def assignment_stand_in() -> AsyncIterator[StandIn]:
    stand_in = StandIn(free_port())
    app = FastAPI()

    @app.get("/v1/referrals/{referral_id}")
    async def referral(referral_id: str, request: Request) -> JSONResponse:
        stand_in.tokens.append(request.headers.get("authorization", ""))
        state = stand_in.states.get(referral_id)
        if state is None:
            return JSONResponse({"title": "Not found", "status": 404}, status_code=404)
        return JSONResponse(state)

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=stand_in.port, log_config=None))
    task = asyncio.create_task(server.serve())
    await eventually(lambda: asyncio.sleep(0, server.started), bool, timeout_s=10, interval_s=0.05)
    try:
        yield stand_in
    finally:
        server.should_exit = True
        await task


def state(referral_id: str, caseworker: str = "cw-a5", team: str = "team-a") -> dict[str, Any]:
    """What assignment's GET /v1/referrals/{id} answers for a referral just assigned."""
    due = {"due_at": datetime.now(UTC).isoformat(), "met_at": None}
    return {
        "referral_id": referral_id, "team": team, "caseworker": caseworker, "mentor": None,
        "status": "assigned", "deadlines": {"protection_assessment": due, "preliminary_assessment": due,
        "investigation": None, "reporter_feedback": None}, "protection_outcome": None,
    }  # fmt: skip


def bearer(staff: str, *roles: str) -> dict[str, str]:
    return {"authorization": f"Bearer {dev_token(staff, list(roles))}"}


@pytest.fixture
async def stand_in() -> AsyncIterator[StandIn]:
    async with assignment_stand_in() as running:
        yield running


@pytest.fixture
async def intake(database_url, kafka_broker, topic_prefix, stand_in):
    settings = intake_settings(
        database_url, kafka_broker, topic_prefix,
        auth=AuthSettings(jwt_secret=SecretStr(DEV_JWT_SECRET)),
        assignment=AssignmentApiSettings(url=stand_in.url, timeout_s=1.0),
    )  # fmt: skip
    async with running_intake(settings) as client:
        yield client


async def referral(intake: httpx.AsyncClient, **kwargs: Any) -> tuple[str, dict[str, Any]]:
    body = submission(**kwargs)
    answer = await post(intake, body)
    assert answer.status_code == 202, answer.text
    return answer.json()["referrals"][0]["referral_id"], body


async def log_rows(database_url: str) -> list[tuple[str, str, str, str]]:
    conn = await intake_db(database_url)
    try:
        rows = await conn.fetch("SELECT staff, action, relation, outcome FROM access_log ORDER BY seq")
        return [tuple(r) for r in rows]
    finally:
        await conn.close()


async def outbox_payloads(database_url: str) -> list[bytes]:
    conn = await intake_db(database_url)
    try:
        return [bytes(r["payload"]) for r in await conn.fetch("SELECT payload FROM outbox ORDER BY id")]
    finally:
        await conn.close()


async def test_a_caseworker_who_clicks_before_the_event_arrived_reads_on_assignments_state(
    intake, stand_in, database_url
):
    rid, body = await referral(intake)
    stand_in.states[rid] = state(rid, "cw-a5")
    headers = bearer("cw-a5", "caseworker")

    answer = await intake.get(f"/v1/referrals/{rid}/dossier", headers=headers)

    assert answer.status_code == 200, answer.text
    assert answer.json()["child"] == body["children"][0]
    assert answer.headers["cache-control"] == "no-store"
    assert stand_in.tokens == [headers["authorization"]]
    assert await log_rows(database_url) == [("cw-a5", "read", "assigned", "allowed")]


async def test_when_assignment_cannot_be_asked_the_reader_gets_503_and_the_log_a_refusal(
    database_url, kafka_broker, topic_prefix
):
    settings = intake_settings(
        database_url, kafka_broker, topic_prefix,
        auth=AuthSettings(jwt_secret=SecretStr(DEV_JWT_SECRET)),
        assignment=AssignmentApiSettings(url=f"http://127.0.0.1:{free_port()}", timeout_s=0.5),
    )  # fmt: skip
    async with running_intake(settings) as intake:
        rid, _ = await referral(intake)
        answer = await intake.get(f"/v1/referrals/{rid}/dossier", headers=bearer("cw-a5", "caseworker"))

    assert answer.status_code == 503
    assert answer.headers["retry-after"] and answer.headers["content-type"] == "application/problem+json"
    assert "child" not in answer.text
    assert await log_rows(database_url) == [("cw-a5", "denied", "none", "denied")]


async def test_the_projection_follows_assignments_events_on_the_broker(
    intake, stand_in, database_url, kafka_broker, topic_prefix
):
    rid, _ = await referral(intake)
    assigned = ReferralAssigned(
        referral_id=rid, family_key="fam-1", team="team-a", caseworker="cw-a5", mentor="cw-a1",
        reason="rotation", explanation="team on duty", received_at=datetime.now(UTC),
        deadlines=Deadlines(preliminary_assessment_due=datetime.now(UTC) + timedelta(days=14)),
    )  # fmt: skip
    event = new_envelope("referral.assigned", assigned, producer="assignment", correlation_id=rid)
    await produce(
        kafka_broker.bootstrap, topic_prefix + TOPIC_ASSIGNED, [(event_key(event), encode_event(event))]
    )

    async def mentor_reads() -> int:
        return (
            await intake.get(f"/v1/referrals/{rid}/dossier", headers=bearer("cw-a1", "caseworker"))
        ).status_code

    # The stand-in knows nothing of it: only the projection can let the mentor in.
    await eventually(mentor_reads, lambda status: status == 200, timeout_s=30)
    in_1 = bearer("in-1", "intake")
    assert (await intake.get(f"/v1/referrals/{rid}/dossier", headers=in_1)).status_code == 200

    registered = await intake.post(
        f"/v1/referrals/{rid}/registration",
        json={"system_case_number": "BoU 2026/117", "registered_at": datetime.now(UTC).isoformat()},
        headers=in_1,
    )
    assert registered.status_code == 200, registered.text
    assessed = ReferralUpdated(
        referral_id=rid, family_key="fam-1", status="protection_assessed", at=datetime.now(UTC),
        outcome="no_immediate_need",
    )  # fmt: skip
    update = new_envelope("referral.protection_assessed", assessed, producer="assignment", correlation_id=rid)
    await produce(
        kafka_broker.bootstrap, topic_prefix + TOPIC_UPDATED, [(event_key(update), encode_event(update))]
    )

    async def intake_reads() -> int:
        return (await intake.get(f"/v1/referrals/{rid}/dossier", headers=in_1)).status_code

    await eventually(intake_reads, lambda status: status == 403, timeout_s=30)
    rows = await log_rows(database_url)
    assert ("in-1", "read", "intake", "allowed") in rows and rows[-1] == ("in-1", "denied", "none", "denied")
    assert ("cw-a1", "read", "mentor", "allowed") in rows


async def test_a_refusal_reads_the_same_for_an_unknown_and_an_existing_referral(intake, database_url):
    rid, _ = await referral(intake)
    partner = bearer("cw-c2", "caseworker")

    existing = await intake.get(f"/v1/referrals/{rid}/dossier", headers=partner)
    unknown = await intake.get("/v1/referrals/R-NOSUCHREF000/dossier", headers=partner)

    assert existing.status_code == unknown.status_code == 403
    assert existing.json() == unknown.json()
    assert existing.headers["content-type"] == "application/problem+json"
    assert [r[1:] for r in await log_rows(database_url)] == [("denied", "none", "denied")] * 2
    assert (await intake.get(f"/v1/referrals/{rid}/dossier")).status_code == 401


async def test_break_the_glass_then_read_and_registration_over_http_with_nothing_personal_in_logs_or_events(
    intake, database_url, caplog
):
    caplog.set_level(logging.DEBUG)
    rid, body = await referral(intake)
    reason = "Polisen ringer om Kalle i natt"
    cw_c3 = bearer("cw-c3", "caseworker")

    glass = await intake.post(f"/v1/referrals/{rid}/break-glass", json={"reason": reason}, headers=cw_c3)
    read = await intake.get(f"/v1/referrals/{rid}/dossier", headers=cw_c3)
    short = await intake.post(f"/v1/referrals/{rid}/break-glass", json={"reason": "kort"}, headers=cw_c3)
    mgr_a = bearer("mgr-a", "manager")
    now = datetime.now(UTC).isoformat()
    register = f"/v1/referrals/{rid}/registration"
    refused = await intake.post(
        register, json={"system_case_number": "A-1", "registered_at": now}, headers=mgr_a
    )
    head = bearer("head", "head_of_unit")
    first = await intake.post(
        register, json={"system_case_number": "A-1", "registered_at": now}, headers=head
    )
    again = await intake.post(
        register, json={"system_case_number": "A-1", "registered_at": now}, headers=head
    )
    other = await intake.post(
        register, json={"system_case_number": "A-2", "registered_at": now}, headers=head
    )
    bad = await intake.post(register, json={"system_case_number": "<b>x", "registered_at": now}, headers=head)

    assert glass.status_code == 201 and "expires_at" in glass.json()
    assert read.status_code == 200 and read.json()["reporter"] == body["reporter"]
    assert short.status_code == 422
    assert refused.status_code == 403  # not yet assigned: no team, so no team manager
    assert (first.status_code, again.status_code, other.status_code, bad.status_code) == (200, 200, 409, 422)
    assert await log_rows(database_url) == [
        ("cw-c3", "break_glass", "break_glass", "allowed"),
        ("cw-c3", "read", "break_glass", "allowed"),
    ]
    personal = [reason, body["reporter"]["name"], body["reporter"]["phone"], body["reporter"]["email"],
                body["children"][0]["name"], body["children"][0]["personal_number"],
                body["guardians"][0]["name"], body["concern"]["description"], "Kalle"]  # fmt: skip
    assert caplog.records  # the service's logging was captured
    logged = "\n".join(f"{r.getMessage()} {json.dumps(r.__dict__, default=str)}" for r in caplog.records)
    events = b"\n".join(await outbox_payloads(database_url)).decode()
    assert '"access.break_glass"' in events and '"referral.registered"' in events
    for text in personal:
        assert text not in logged, text
        assert text not in events, text
