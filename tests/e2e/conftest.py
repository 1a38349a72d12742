"""The four services as separate processes against the session's Postgres and broker."""

from __future__ import annotations

import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
import pytest
import yaml

from referral_router.devinfra.procs import free_port, spawn, stop_process, wait_for_http
from referral_router.stack import REPO, Ports, ServiceConfig, ServiceProcesses
from tests.conftest import Broker, create_database, drop_database


@dataclass
class RunningStack:
    services: ServiceProcesses
    ports: Ports
    broker: Broker
    topic_prefix: str
    database_url: str

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"

    async def db(self, schema: str) -> asyncpg.Connection:
        return await asyncpg.connect(self.database_url, server_settings={"search_path": schema})

    async def emails(self) -> list[dict]:
        async with httpx.AsyncClient() as client:
            return (await client.get(f"http://127.0.0.1:{self.ports.smtp_http}/messages")).json()

    async def cards(self) -> list[dict]:
        """What the Teams sink received (a stack started with `teams_sink`)."""
        async with httpx.AsyncClient() as client:
            return (await client.get(f"http://127.0.0.1:{self.ports.teams}/messages")).json()

    async def metrics_text(self) -> str:
        async with httpx.AsyncClient() as client:
            return (await client.get(self.services.url("metrics", "/metrics"))).text


def free_ports() -> Ports:
    return Ports(
        kafka=0,
        postgres=0,
        intake=free_port(),
        assignment=free_port(),
        notifications=free_port(),
        metrics=free_port(),
        smtp=free_port(),
        smtp_http=free_port(),
        teams=free_port(),
    )


# One email per referral (to its caseworker), as the thin-path tests count them; the example
# file's own routes tell the intake group, the out-of-hours service, mentors and Teams too
# (tests/e2e/test_example_config_e2e.py shows those).
THIN_ROUTES = {
    "referral.assigned": ["caseworker"],
    "deadline.approaching": ["caseworker"],
    "deadline.breached": ["caseworker", "manager"],
    "rotation.handover": ["team"],
    "registration.approaching": ["intake"],
    "registration.breached": ["intake", "manager"],
    "access.break_glass": ["manager"],
    "access.review": ["head_of_unit"],
}


def without_reminders(path: Path, teams_port: int | None = None) -> Path:
    """The example unit file without reminder lead times, and with one email per referral
    (`THIN_ROUTES`). The tests count the emails about a referral; a reminder due within its lead
    time of the moment the suite runs (a registration received at 15:00 on an office day is due
    at 16:00, two hours' lead) would add one or not depending on the hour. Deadlines and
    breaches are unchanged. With `teams_port`, each assignment is also a card in the team's
    channel on a Teams sink at that port."""
    raw = yaml.safe_load((REPO / "deploy" / "config" / "unit.example.yaml").read_text("utf-8"))
    raw["deadlines"]["reminders"] = {name: [] for name in raw["deadlines"]["reminders"]}
    raw["notifications"]["routes"] = dict(THIN_ROUTES)
    if teams_port is not None:
        for team in raw["teams"]:
            team["teams_webhook"] = f"http://127.0.0.1:{teams_port}/webhook/{team['id']}"
        raw["notifications"]["routes"]["referral.assigned"] = ["caseworker", "team"]
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), "utf-8")
    return path


async def start_stack(
    postgres_server: str, broker: Broker, log_dir: Path, teams_sink: bool = False
) -> tuple[RunningStack, list]:
    """Sinks and services on free ports, with a database and topic prefix of their own; with
    `teams_sink`, a Teams sink too and the teams' webhooks pointing at it (`RunningStack.cards`),
    its process last in the list of things to stop."""
    name = f"e2e_{uuid.uuid4().hex[:10]}"
    database_url = await create_database(postgres_server, name)
    ports = free_ports()
    sink = spawn(
        "smtp-sink",
        [
            sys.executable,
            "-m",
            "referral_router.devinfra.smtp_sink",
            "--smtp-port",
            str(ports.smtp),
            "--http-port",
            str(ports.smtp_http),
        ],
        log_dir / "smtp-sink.log",
        cwd=REPO,
    )
    wait_for_http(f"http://127.0.0.1:{ports.smtp_http}/healthz", 20)
    extra = []
    if teams_sink:
        argv = [sys.executable, "-m", "referral_router.devinfra.teams_sink", "--port", str(ports.teams)]
        extra.append(spawn("teams-sink", argv, log_dir / "teams-sink.log", cwd=REPO))
        wait_for_http(f"http://127.0.0.1:{ports.teams}/healthz", 20, proc=extra[0])
    prefix = f"e{uuid.uuid4().hex[:8]}."
    secrets = {
        "key_id": "e2e-1",
        "key": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
        "pepper": "e2e-pepper",
    }
    config = ServiceConfig(
        database_url=database_url,
        bootstrap=broker.bootstrap,
        flavour=broker.flavour,
        ports=ports,
        secrets=secrets,
        unit_config=without_reminders(log_dir / "unit.yaml", ports.teams if teams_sink else None),
        topic_prefix=prefix,
        extra_env={
            "OUTBOX__POLL_INTERVAL_S": "0.5",
            "WORKER__POLL_INTERVAL_S": "0.5",
            **broker.service_env(),
        },
    )
    services = ServiceProcesses(config, log_dir)
    services.start_all()
    return RunningStack(services, ports, broker, prefix, database_url), [sink, name, *extra]


@pytest.fixture(scope="module")
async def stack(postgres_server, kafka_broker, tmp_path_factory) -> AsyncIterator[RunningStack]:
    log_dir = tmp_path_factory.mktemp("e2e-logs")
    running, (sink, name) = await start_stack(postgres_server, kafka_broker, log_dir)
    try:
        yield running
    finally:
        running.services.stop_all()
        stop_process(sink)
        await drop_database(postgres_server, name)
