"""Threats and violence and the safety flag through the real assignment service (issue 22): its
app on real Postgres and a Kafka-protocol broker. A recorded incident's `incident.recorded`
reaches workplace.v1 through the outbox (once, codes and ids only); the safety flag is stored on
the case's row and read back by the dossier and the queue; the quarterly summary command reads
the same database in a process of its own."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import jwt
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from services.assignment.main import AssignmentSettings, create_app
from shared.clock import FixedClock
from shared.events import TOPIC_WORKPLACE
from shared.settings import DatabaseSettings, KafkaSettings
from shared.staff_auth import AuthSettings
from tests.assignment_support import assign_batch, local, migrated_pool, received
from tests.helpers import eventually, read_topic

SECRET = "incidents-test-secret-of-32-bytes!!"
MONDAY = local(2026, 10, 5, 10, 0)  # team-b on duty
REFERRAL = "R-2026ABCDEFGH"  # intake's ids are opaque text, stored as such


@pytest.fixture
def settings(kafka_broker, topic_prefix, database_url) -> AssignmentSettings:
    return AssignmentSettings(
        kafka=KafkaSettings(
            bootstrap_servers=kafka_broker.bootstrap,
            flavour=kafka_broker.flavour,
            topic_prefix=topic_prefix,
            partitions=2,
        ),
        database=DatabaseSettings(url=database_url),
        auth=AuthSettings(jwt_secret=SecretStr(SECRET)),
    )


@pytest.fixture
async def pool(database_url) -> AsyncIterator[asyncpg.Pool]:
    pool = await migrated_pool(database_url)
    yield pool
    await pool.close()


@contextlib.asynccontextmanager
async def assignment_service(settings: AssignmentSettings) -> AsyncIterator[httpx.AsyncClient]:
    app: FastAPI = create_app(settings, FixedClock(MONDAY))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://assignment") as client:
            yield client


def bearer(staff: str, *roles: str) -> dict[str, str]:
    claims = {"sub": staff, "roles": list(roles), "exp": int(time.time()) + 600}
    return {"authorization": f"Bearer {jwt.encode(claims, SECRET, algorithm='HS256')}"}


async def test_an_incident_reaches_workplace_v1_through_the_outbox_and_the_summary_counts_it(
    settings: AssignmentSettings, pool: asyncpg.Pool, database_url: str
) -> None:
    async with assignment_service(settings) as client:
        await assign_batch(pool, [received(REFERRAL, at=MONDAY)])
        body = {
            "occurred_on": "2026-10-02",
            "type": "violence",
            "channel": "home_visit",
            "referral_id": REFERRAL,
        }
        response = await client.post("/v1/incidents", json=body, headers=bearer("cw-b1", "caseworker"))
        assert response.status_code == 201, response.text
        incident_id = response.json()["incident_id"]
        records = await read_topic(
            settings.kafka.bootstrap_servers, settings.kafka.topic(TOPIC_WORKPLACE), expect=1
        )
        await eventually(
            lambda: pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL"), lambda n: n == 0
        )
        listed = await client.get("/v1/incidents", headers=bearer("mgr-b", "manager"))
        # A relay that sent the row but died before marking it sends it again: the same event id,
        # which consumers' inboxes drop (the notifications engineer's consumer is the reader).
        await pool.execute(
            "UPDATE outbox SET published_at = NULL; SELECT pg_notify('outbox_' || current_schema(), '')"
        )
        again = await read_topic(
            settings.kafka.bootstrap_servers, settings.kafka.topic(TOPIC_WORKPLACE), expect=2
        )
    [(key, value, _, _)] = [r for r in records if r[1]["event_type"] == "incident.recorded"]
    assert [r[1]["event_id"] for r in again] == [value["event_id"]] * 2
    assert key == incident_id.encode()
    assert value["producer"] == "assignment"
    assert value["data"] == {
        "family_key": incident_id,
        "incident_id": incident_id,
        "occurred_on": "2026-10-02",
        "type": "violence",
        "channel": "home_visit",
        "team": "team-b",
        "requester": "cw-b1",
        "referral_id": REFERRAL,
    }
    assert [i["incident_id"] for i in listed.json()["incidents"]] == [incident_id]
    row = await pool.fetchrow("SELECT team, recorded_by, referral_id FROM incidents")
    assert (row["team"], row["recorded_by"], row["referral_id"]) == ("team-b", "cw-b1", REFERRAL)

    summary = run_summary(database_url, "2026Q4")
    assert "| team-b | 0 | 1 | 0 | 1 |" in summary.stdout, summary.stdout
    assert "| home_visit | 1 |" in summary.stdout
    assert "cw-b1" not in summary.stdout and REFERRAL not in summary.stdout
    bad = run_summary(database_url, "2026Q5")
    assert bad.returncode == 2 and "`quarter`" in bad.stderr


def run_summary(database_url: str, quarter: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE__URL": database_url, "PYTHONPATH": os.getcwd()}
    command = [
        sys.executable,
        "-m",
        "referral_router.cli",
        "incidents-summary",
        "--quarter",
        quarter,
        "--lang",
        "en",
    ]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)


async def test_a_safety_flag_is_kept_on_the_case_and_shown_in_the_dossier_and_the_queue(
    settings: AssignmentSettings, pool: asyncpg.Pool
) -> None:
    flag = {"flag": "two_staff_home_visits"}
    async with assignment_service(settings) as client:
        await assign_batch(pool, [received(REFERRAL, at=MONDAY)])
        other_team = await client.put(
            f"/v1/referrals/{REFERRAL}/safety-flag", json=flag, headers=bearer("cw-a1", "caseworker")
        )
        partner = await client.put(
            f"/v1/referrals/{REFERRAL}/safety-flag", json=flag, headers=bearer("partner-1", "partner")
        )
        put = await client.put(
            f"/v1/referrals/{REFERRAL}/safety-flag", json=flag, headers=bearer("cw-b1", "caseworker")
        )
        dossier: dict[str, Any] = (
            await client.get(f"/v1/referrals/{REFERRAL}", headers=bearer("in-1", "intake"))
        ).json()
        queue = (await client.get("/v1/referrals?team=team-b", headers=bearer("mgr-b", "manager"))).json()
    assert (other_team.status_code, partner.status_code, put.status_code) == (403, 403, 200)
    assert dossier["safety_flag"] == "two_staff_home_visits"
    assert [(i["referral_id"], i["safety_flag"]) for i in queue["items"]] == [
        (REFERRAL, "two_staff_home_visits")
    ]
    changes = await pool.fetch("SELECT safety_flag, set_by, set_at FROM safety_flag_changes")
    assert [tuple(c) for c in changes] == [("two_staff_home_visits", "cw-b1", MONDAY)]
