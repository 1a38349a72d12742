"""Notifications end to end: intake, assignment and notifications as processes, a STARTTLS + AUTH
SMTP sink and a Teams sink (issue 5, points 1, 2 and 4)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import sys
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from referral_router.devinfra.procs import spawn, stop_process, wait_for_http
from referral_router.stack import REPO, ServiceConfig, ServiceProcesses
from shared.events import (
    TOPIC_ASSIGNED,
    TOPIC_DEADLINES,
    TOPIC_RECEIVED,
    TOPIC_ROTATION,
    DeadlineEvent,
    ReferralAssigned,
    RotationHandover,
    encode_event,
    event_key,
    new_envelope,
)
from tests.conftest import create_database, drop_database
from tests.e2e.conftest import free_ports
from tests.e2e.test_intake_no_personal_data import NEEDLES, SECRETS, leaky_submission
from tests.factories import encode, submission
from tests.helpers import eventually, produce, read_topic, signed_headers

SMTP_USER, SMTP_PASSWORD = "router", "synthetic-smtp-password"
REPLY_TO = "mottagningen@kommun.example"
E2E_SECRETS = {
    "key_id": "e2e-1",
    "key": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
    "pepper": "e2e-pepper",
}
CATEGORY_CODES = ("sexual_abuse", "honour_related", "neglect")
KINDS = {"referral.received", "referral.assigned", "referral.reassigned", "deadline.approaching",
         "deadline.breached", "rotation.handover", "escalation"}  # fmt: skip


@dataclass
class NotifyStack:
    services: ServiceProcesses
    config: ServiceConfig
    prefix: str
    bootstrap: str
    smtp_argv: list[str]
    smtp_http: str
    teams_http: str
    log_dir: Path
    procs: dict[str, Any]

    def topic(self, name: str) -> str:
        return f"{self.prefix}{name}"

    async def deliveries(self, where: str = "true", *args: Any) -> list[dict]:
        import asyncpg

        conn = await asyncpg.connect(
            self.config.database_url, server_settings={"search_path": "notifications"}
        )
        try:
            return [dict(r) for r in await conn.fetch(f"SELECT * FROM deliveries WHERE {where}", *args)]
        finally:
            await conn.close()

    async def emails(self) -> list[dict]:
        async with httpx.AsyncClient() as client:
            return (await client.get(f"{self.smtp_http}/messages")).json()

    async def cards(self) -> list[dict]:
        async with httpx.AsyncClient() as client:
            return (await client.get(f"{self.teams_http}/messages")).json()

    def start_smtp(self) -> None:
        self.procs["smtp"] = spawn("smtp-sink", self.smtp_argv, self.log_dir / "smtp-sink.log", cwd=REPO)
        wait_for_http(f"{self.smtp_http}/healthz", 20, proc=self.procs["smtp"])

    def stop_smtp(self) -> None:
        stop_process(self.procs.pop("smtp"))


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1, so the service verifies the relay against it as its CA."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "smtp-sink.localhost")])
    now = dt.datetime.now(dt.UTC)
    san = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1)).add_extension(san, critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    key_path.write_bytes(pem)
    return cert_path, key_path


def unit_config_copy(path: Path, teams_port: int, notifications: dict[str, Any]) -> Path:
    """The example unit config with webhooks pointing at the Teams sink."""
    raw = yaml.safe_load((REPO / "deploy/config/unit.example.yaml").read_text("utf-8"))
    for team in raw["teams"]:
        team["teams_webhook"] = f"http://127.0.0.1:{teams_port}/webhook/{team['id']}"
    raw["notifications"] = notifications
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), "utf-8")
    return path


async def start_notify_stack(
    postgres_server: str,
    broker,
    log_dir: Path,
    *,
    tls: bool,
    notifications: dict[str, Any],
    env: dict[str, str],
) -> NotifyStack:
    database_url = await create_database(postgres_server, f"e2e_{uuid.uuid4().hex[:10]}")
    ports = free_ports()
    smtp_env = {"SMTP__STARTTLS": "false"}
    smtp_argv = [sys.executable, "-m", "referral_router.devinfra.smtp_sink", "--smtp-port", str(ports.smtp),
                 "--http-port", str(ports.smtp_http)]  # fmt: skip
    if tls:
        cert, key = self_signed(log_dir)
        smtp_argv += ["--require-starttls", "--cert", str(cert), "--key", str(key),
                      "--auth-user", SMTP_USER, "--auth-password", SMTP_PASSWORD]  # fmt: skip
        smtp_env = {"SMTP__STARTTLS": "true", "SMTP__CA_FILE": str(cert), "SMTP__USERNAME": SMTP_USER,
                    "SMTP__PASSWORD": SMTP_PASSWORD, "SMTP__REPLY_TO": REPLY_TO}  # fmt: skip
    teams_argv = [sys.executable, "-m", "referral_router.devinfra.teams_sink", "--port", str(ports.teams)]
    teams = spawn("teams-sink", teams_argv, log_dir / "teams-sink.log", cwd=REPO)
    config = ServiceConfig(
        database_url=database_url, bootstrap=broker.bootstrap, flavour=broker.flavour, ports=ports,
        secrets=E2E_SECRETS,
        unit_config=unit_config_copy(log_dir / "unit.yaml", ports.teams, notifications),
        topic_prefix=f"n{uuid.uuid4().hex[:8]}.",
        extra_env={"OUTBOX__POLL_INTERVAL_S": "0.3", "WORKER__POLL_INTERVAL_S": "0.3",
                   **broker.service_env(), **smtp_env, **env},
    )  # fmt: skip
    stack = NotifyStack(
        ServiceProcesses(config, log_dir), config, config.topic_prefix, broker.bootstrap, smtp_argv,
        f"http://127.0.0.1:{ports.smtp_http}", f"http://127.0.0.1:{ports.teams}", log_dir, {"teams": teams},
    )  # fmt: skip
    wait_for_http(f"{stack.teams_http}/healthz", 20, proc=teams)
    stack.start_smtp()
    stack.services.start_all()
    return stack


async def stop_notify_stack(stack: NotifyStack, postgres_server: str) -> None:
    stack.services.stop_all()
    for proc in stack.procs.values():
        stop_process(proc)
    await drop_database(postgres_server, stack.config.database_url.rsplit("/", 1)[1])


FULL_ROUTES = {
    "quiet_hours": {"enabled": False},  # the suite runs at every hour; quiet hours: integration tests
    "escalation": {"after": "PT2S", "scan_interval_s": 0.5},
}


@pytest.fixture(scope="module")
async def notify(postgres_server, kafka_broker, tmp_path_factory) -> AsyncIterator[NotifyStack]:
    log_dir = tmp_path_factory.mktemp("notify-e2e")
    stack = await start_notify_stack(
        postgres_server, kafka_broker, log_dir, tls=True, notifications=FULL_ROUTES, env={}
    )
    try:
        yield stack
    finally:
        await stop_notify_stack(stack, postgres_server)


async def post(stack: NotifyStack, body: dict) -> list[str]:
    raw = encode(body)
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.post(
            stack.services.url("intake", "/v1/referrals"), content=raw, headers=signed_headers(raw)
        )
    assert response.status_code == 202, response.text
    return [r["referral_id"] for r in response.json()["referrals"]]


async def settled(
    stack: NotifyStack, referral_ids: list[str], minimum: int, timeout_s: float = 60
) -> list[dict]:
    """Wait until these referrals have at least `minimum` deliveries and none is still pending."""

    async def probe() -> list[dict]:
        return await stack.deliveries("referral_id = ANY($1::text[])", referral_ids)

    def done(rows: list[dict]) -> bool:
        return len(rows) >= minimum and all(r["status"] in ("sent", "failed", "unknown") for r in rows)

    return await eventually(probe, done, timeout_s=timeout_s)


async def assigned_events(stack: NotifyStack, referral_ids: list[str]) -> list[dict]:
    records = await read_topic(stack.bootstrap, stack.topic(TOPIC_ASSIGNED), expect=len(referral_ids))
    return [v for _, v, _, _ in records if v["data"]["referral_id"] in referral_ids]


async def publish(stack: NotifyStack, topic: str, envelopes: list[Any]) -> None:
    await produce(stack.bootstrap, stack.topic(topic), [(event_key(e), encode_event(e)) for e in envelopes])


def follow_ups(assigned: dict) -> list[tuple[str, Any]]:
    """Reassignment and deadline events about an assigned referral, as assignment would send them."""
    data = ReferralAssigned.model_validate(assigned["data"])
    other = "cw-b3" if data.caseworker != "cw-b3" else "cw-b4"
    moved = data.model_copy(update={"caseworker": other, "reason": "manual", "mentor": None})
    due = data.deadlines.protection_assessment_due or data.received_at
    deadline = DeadlineEvent(referral_id=data.referral_id, family_key=data.family_key, team=data.team,
                             caseworker=other, deadline="protection_assessment", due_at=due)  # fmt: skip
    common = {"producer": "assignment", "correlation_id": data.referral_id}
    return [
        (TOPIC_ASSIGNED, new_envelope("referral.reassigned", moved, **common)),
        (TOPIC_DEADLINES, new_envelope("deadline.approaching", deadline, **common)),
        (TOPIC_DEADLINES, new_envelope("deadline.breached", deadline, **common)),
    ]


def leaked(texts: list[str]) -> list[str]:
    return [n for n in (*NEEDLES, SECRETS["description"], *CATEGORY_CODES) for t in texts if n in t]


async def test_no_personal_detail_concern_or_category_reaches_any_email_or_card_for_any_event(notify):
    protected = leaky_submission()
    protected["children"][0]["protected_identity"] = True
    protected["concern"].update(categories=["sexual_abuse", "honour_related"], acute_danger=True)
    ids = await post(notify, leaky_submission()) + await post(notify, protected)
    await settled(notify, ids, minimum=len(ids) * 5)
    events = [e for a in await assigned_events(notify, ids) for e in follow_ups(a)]
    for topic in (TOPIC_ASSIGNED, TOPIC_DEADLINES):
        await publish(notify, topic, [e for t, e in events if t == topic])
    handover = RotationHandover(from_team="team-a", to_team="team-b", at=dt.datetime.now(dt.UTC))
    await publish(
        notify,
        TOPIC_ROTATION,
        [new_envelope("rotation.handover", handover, producer="assignment", correlation_id="r")],
    )

    rows = await eventually(
        lambda: notify.deliveries(),
        lambda rs: {r["kind"] for r in rs} >= KINDS and all(r["status"] == "sent" for r in rs),
        timeout_s=90,
    )
    mails, cards = await notify.emails(), await notify.cards()
    texts = [m["subject"] + m["text"] + (m["html"] or "") for m in mails] + [
        json.dumps(c, ensure_ascii=False) for c in cards
    ]
    assert leaked(texts) == []
    assert {r["kind"] for r in rows if r["channel"] == "email"} == KINDS - {"rotation.handover"}
    assert {"referral.assigned", "referral.reassigned", "rotation.handover"} <= {
        r["kind"] for r in rows if r["channel"] == "teams"
    }
    subjects = {r["subject"] for r in rows}
    assert subjects <= {m["subject"] for m in mails} | {
        c["body"]["attachments"][0]["content"]["body"][0]["text"] for c in cards
    }


async def test_each_recipient_gets_one_message_per_event_over_starttls_and_auth_even_when_events_repeat(
    notify,
):
    [referral_id] = await post(notify, submission())
    first = await settled(notify, [referral_id], minimum=6)
    received = await read_topic(notify.bootstrap, notify.topic(TOPIC_RECEIVED), expect=1)
    again = [
        (k, json.dumps(v).encode()) for k, v, _, _ in received if v["data"]["referral_id"] == referral_id
    ]
    again += [
        (a["data"]["family_key"].encode(), json.dumps(a).encode())
        for a in await assigned_events(notify, [referral_id])
    ]
    await produce(notify.bootstrap, notify.topic(TOPIC_RECEIVED), again[:1])
    await produce(notify.bootstrap, notify.topic(TOPIC_ASSIGNED), again[1:])
    [marker] = await post(notify, submission())  # handled after the repeats, on the same path
    await settled(notify, [marker], minimum=6)

    rows = await notify.deliveries("referral_id = $1", referral_id)
    assert len(rows) == len(first) and all(r["status"] == "sent" for r in rows)
    mails = [m for m in await notify.emails() if referral_id in m["subject"]]
    per_recipient = Counter((tuple(m["rcpt_tos"]), m["subject"]) for m in mails)
    assert set(per_recipient.values()) == {1}
    assert {"in-1@kommun.example", "in-4@kommun.example"} <= {m["rcpt_tos"][0] for m in mails}
    assert all(m["tls"] and m["auth_user"] == SMTP_USER and m["html"] for m in mails)
    assert all(m["headers"]["Reply-To"] == REPLY_TO for m in mails)
    cards = [c for c in await notify.cards() if referral_id in json.dumps(c["body"])]
    assert len(cards) == 1


async def test_messages_queued_while_the_smtp_server_is_down_are_each_delivered_once_when_it_returns(notify):
    notify.stop_smtp()
    try:
        ids = await post(notify, submission()) + await post(notify, submission())

        async def waiting() -> list[dict]:
            return await notify.deliveries("referral_id = ANY($1::text[]) AND channel = 'email'", ids)

        await eventually(
            waiting,
            lambda rs: len(rs) >= 10 and all(r["attempts"] >= 1 and r["status"] == "pending" for r in rs),
        )
    finally:
        notify.start_smtp()
    rows = await settled(notify, ids, minimum=12)
    emails = [r for r in rows if r["channel"] == "email"]
    assert all(r["status"] == "sent" for r in emails) and all(r["attempts"] >= 2 for r in emails)
    mails = [m for m in await notify.emails() if any(i in m["subject"] for i in ids)]
    assert Counter((m["rcpt_tos"][0], m["subject"]) for m in mails) == Counter(
        (f"{r['recipient']}@kommun.example", r["subject"]) for r in emails
    )


async def test_a_teams_webhook_answering_429_with_retry_after_gets_the_card_once_after_backing_off(notify):
    await eventually(lambda: notify.deliveries("status IN ('pending', 'sending')"), lambda rs: rs == [])
    before = len(await notify.cards())
    async with httpx.AsyncClient() as client:
        armed = await client.post(
            f"{notify.teams_http}/control", json={"status": 429, "retry_after": 1, "count": 2}
        )
        armed.raise_for_status()
    handover = RotationHandover(from_team="team-b", to_team="team-c", at=dt.datetime.now(dt.UTC))
    event = new_envelope("rotation.handover", handover, producer="assignment", correlation_id="rotation")
    await publish(notify, TOPIC_ROTATION, [event])

    [row] = await eventually(
        lambda: notify.deliveries("source_event_id = $1", event.event_id),
        lambda rs: len(rs) == 1 and rs[0]["status"] == "sent",
    )
    assert row["attempts"] == 3  # two answers of 429, each waited out, then 202
    cards = await notify.cards()
    assert len(cards) == before + 1 and cards[-1]["team"] == "team-c"
