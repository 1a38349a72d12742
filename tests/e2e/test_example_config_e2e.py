"""The example unit file as people copy it, with the services as separate processes (issue 25).

An acute referral sent on a Saturday evening reaches the out-of-hours service (email) and the
team's Teams channel (card) within a minute, and its protection assessment is due within the
configured hour, not at Monday noon. Saturday evening does not depend on today's weekday: the
referral's `submitted_at` is the last Saturday 19:30, and assignment's and notifications'
clocks are set to that evening with `DEV_CLOCK__*` (the dev stack's accelerated clock). The
unit file is used unmodified: `DEV_TEAMS_PORT` alone points its Teams webhooks at this test's
sink.
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from referral_router.devinfra.procs import spawn, stop_process, wait_for_http
from referral_router.stack import REPO, Ports, ServiceConfig, ServiceProcesses
from services.assignment.domain.rotation import on_duty_team
from services.assignment.unit_from_config import unit_from_config
from shared.clock import STOCKHOLM
from shared.events import TOPIC_ASSIGNED, TOPIC_DEADLINES
from shared.unit_config import load_unit_config
from tests.conftest import create_database, drop_database
from tests.e2e.conftest import free_ports
from tests.factories import encode, submission
from tests.helpers import eventually, read_topic, signed_headers

EXAMPLE = REPO / "deploy" / "config" / "unit.example.yaml"
SECRETS = {"key_id": "ex-1", "key": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=", "pepper": "ex-pepper"}
OUT_OF_HOURS = "socialjour@kommun.example"


def last_saturday_evening(now: datetime) -> datetime:
    """The latest Saturday 19:30 in Stockholm that lies at least an hour before `now`."""
    local = now.astimezone(STOCKHOLM)
    day = local.date() - timedelta(days=(local.weekday() - 5) % 7)
    evening = datetime(day.year, day.month, day.day, 19, 30, tzinfo=STOCKHOLM)
    return evening if evening <= now - timedelta(hours=1) else evening - timedelta(days=7)


@dataclass
class ExampleStack:
    services: ServiceProcesses
    ports: Ports
    bootstrap: str
    prefix: str
    saturday: datetime

    async def listing(self, port: int) -> list[dict[str, Any]]:
        async with httpx.AsyncClient(timeout=5) as client:
            listed: list[dict[str, Any]] = (await client.get(f"http://127.0.0.1:{port}/messages")).json()
            return listed


@pytest.fixture(scope="module")
async def example(postgres_server, kafka_broker, tmp_path_factory) -> AsyncIterator[ExampleStack]:
    log_dir = tmp_path_factory.mktemp("example-e2e")
    database_url = await create_database(postgres_server, f"ex_{uuid.uuid4().hex[:10]}")
    ports = free_ports()
    smtp_argv = [sys.executable, "-m", "referral_router.devinfra.smtp_sink",
                 "--smtp-port", str(ports.smtp), "--http-port", str(ports.smtp_http)]  # fmt: skip
    teams_argv = [sys.executable, "-m", "referral_router.devinfra.teams_sink", "--port", str(ports.teams)]
    sinks = [
        spawn("smtp-sink", smtp_argv, log_dir / "smtp-sink.log", cwd=REPO),
        spawn("teams-sink", teams_argv, log_dir / "teams-sink.log", cwd=REPO),
    ]
    now = datetime.now(UTC)
    saturday = last_saturday_evening(now)
    config = ServiceConfig(
        database_url=database_url, bootstrap=kafka_broker.bootstrap, flavour=kafka_broker.flavour,
        ports=ports, secrets=SECRETS, unit_config=EXAMPLE, topic_prefix=f"x{uuid.uuid4().hex[:8]}.",
        extra_env={
            "OUTBOX__POLL_INTERVAL_S": "0.3", "WORKER__POLL_INTERVAL_S": "0.3",
            # The services' clock: that Saturday evening, a few seconds after the referral.
            "DEV_CLOCK__START": (saturday + timedelta(seconds=5)).isoformat(),
            "DEV_CLOCK__SINCE": now.isoformat(),
            **kafka_broker.service_env(),
        },
    )  # fmt: skip
    services = ServiceProcesses(config, log_dir)
    try:
        wait_for_http(f"http://127.0.0.1:{ports.smtp_http}/healthz", 20, proc=sinks[0])
        wait_for_http(f"http://127.0.0.1:{ports.teams}/healthz", 20, proc=sinks[1])
        services.start_all()
        yield ExampleStack(services, ports, kafka_broker.bootstrap, config.topic_prefix, saturday)
    finally:
        services.stop_all()
        for sink in sinks:
            stop_process(sink)
        await drop_database(postgres_server, database_url.rsplit("/", 1)[1])


async def events_about(stack: ExampleStack, topic: str, referral_id: str, expect: int) -> list[dict]:
    records = await read_topic(stack.bootstrap, f"{stack.prefix}{topic}", expect=expect, timeout_s=60)
    return [v for _, v, _, _ in records if v["data"]["referral_id"] == referral_id]


async def test_an_acute_referral_on_saturday_evening_reaches_out_of_hours_and_the_team_channel_at_once(
    example,
):
    body = submission(acute=True, submitted_at=example.saturday)
    raw = encode(body)
    posted = time.monotonic()
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.post(
            example.services.url("intake", "/v1/referrals"), content=raw, headers=signed_headers(raw)
        )
    assert response.status_code == 202, response.text
    [referral_id] = [r["referral_id"] for r in response.json()["referrals"]]

    # Which team takes it, by the unit's own rules: the team on duty at Monday's office start.
    unit = unit_from_config(load_unit_config(EXAMPLE))
    team = on_duty_team(unit.plan, unit.assignment_moment(example.saturday)[0], unit.tz).team

    def reached(mails: list[dict]) -> bool:
        return any(OUT_OF_HOURS in m["rcpt_tos"] and referral_id in m["subject"] for m in mails)

    mails = await eventually(lambda: example.listing(example.ports.smtp_http), reached, timeout_s=60)
    to_out_of_hours = time.monotonic() - posted

    def carded(cards: list[dict]) -> bool:
        return any(c["team"] == team and referral_id in json.dumps(c["body"]) for c in cards)

    cards = await eventually(lambda: example.listing(example.ports.teams), carded, timeout_s=60)
    to_team = time.monotonic() - posted
    print(f"out-of-hours email after {to_out_of_hours:.1f} s, {team} card after {to_team:.1f} s")

    # The intake group is told too, and nothing personal reaches email subjects or cards.
    about = [m for m in mails if referral_id in m["subject"]]
    assert {"in-1@kommun.example", "in-4@kommun.example"} <= {r for m in about for r in m["rcpt_tos"]}
    needles = [body["children"][0]["name"], body["children"][0]["personal_number"],
               body["concern"]["description"], body["reporter"]["name"]]  # fmt: skip
    texts = [m["subject"] for m in about] + [json.dumps(c, ensure_ascii=False) for c in cards]
    assert [n for n in needles for t in texts if n in t] == []

    # The protection assessment is due within the configured hour of receipt, not Monday noon.
    [assigned] = await events_about(example, TOPIC_ASSIGNED, referral_id, expect=1)
    assert assigned["data"]["team"] == team
    due = datetime.fromisoformat(assigned["data"]["deadlines"]["protection_assessment_due"])
    assert due - example.saturday == timedelta(hours=1)

    # The deadline scan runs on the services' (Saturday evening) clock: the two-hour reminder is
    # due at once and the deadline is not yet breached. On the real clock, days later, only
    # `breached` would be sent (a reminder after the due time is dropped).
    deadlines = await events_about(example, TOPIC_DEADLINES, referral_id, expect=1)
    kinds = {(e["event_type"], e["data"]["deadline"]) for e in deadlines}
    assert ("deadline.approaching", "protection_assessment") in kinds
    assert ("deadline.breached", "protection_assessment") not in kinds
