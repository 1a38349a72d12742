"""Issue 19 through the real thing: the notifications service as a process, the session's broker
and Postgres, an SMTP sink (aiosmtpd) and a Teams sink (HTTP). Break-the-glass alerts, the
monthly access review and registration deadlines arrive where the unit file routes them, once
each, and carry no break-the-glass reason and no client data."""

from __future__ import annotations

import json
import sys
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import yaml

from referral_router.devinfra.procs import spawn, stop_process, wait_for_http
from referral_router.stack import REPO, ServiceConfig, ServiceProcesses
from shared.events import (
    TOPIC_ACCESS,
    TOPIC_DEADLETTER,
    TOPIC_DEADLINES,
    TOPIC_NOTIFICATIONS,
    encode_event,
    event_key,
)
from tests.conftest import create_database, drop_database
from tests.e2e.conftest import free_ports
from tests.e2e.test_intake_no_personal_data import NEEDLES, SECRETS
from tests.helpers import eventually, produce, read_topic
from tests.notifications_support import break_glass, registration_due, review

LINK = "https://socialtjanst.example.se/referrals/{referral_id}"
# A reason as someone might type it when breaking the glass: it stays in intake's access log.
REASON = "Ringde om Zandra Hemligsdotter 070-123 45 67, misstänkt skyddsbehov"
SECRETS_E2E = {"key_id": "e2e-1", "key": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=", "pepper": "p"}


@dataclass
class Sinks:
    services: ServiceProcesses
    prefix: str
    bootstrap: str
    database_url: str
    smtp_http: str
    teams_http: str

    async def publish(self, topic: str, envelopes: list[Any], *, raw: list[bytes] = ()) -> None:
        values = [(event_key(e), encode_event(e)) for e in envelopes] + [(b"f-raw", r) for r in raw]
        await produce(self.bootstrap, f"{self.prefix}{topic}", values)

    async def deliveries(self, where: str, *args: Any) -> list[dict]:
        conn = await asyncpg.connect(self.database_url, server_settings={"search_path": "notifications"})
        try:
            return [dict(r) for r in await conn.fetch(f"SELECT * FROM deliveries WHERE {where}", *args)]
        finally:
            await conn.close()

    async def sent(self, source_event_id: uuid.UUID, count: int) -> list[dict]:
        """The event's deliveries once `count` of them are sent."""
        return await eventually(
            lambda: self.deliveries("source_event_id = $1", source_event_id),
            lambda rs: len(rs) == count and all(r["status"] == "sent" for r in rs),
            timeout_s=60,
        )

    async def emails(self, subject: str) -> list[dict]:
        async with httpx.AsyncClient() as client:
            return [
                m for m in (await client.get(f"{self.smtp_http}/messages")).json() if m["subject"] == subject
            ]

    async def cards(self, webhook: str) -> list[dict]:
        async with httpx.AsyncClient() as client:
            return (await client.get(f"{self.teams_http}/messages", params={"team": webhook})).json()

    async def everything(self) -> list[str]:
        async with httpx.AsyncClient() as client:
            mails = (await client.get(f"{self.smtp_http}/messages")).json()
            cards = (await client.get(f"{self.teams_http}/messages")).json()
        return [json.dumps(m, ensure_ascii=False) for m in mails] + [
            json.dumps(c, ensure_ascii=False) for c in cards
        ]


def unit_file(path: Path, teams_port: int) -> Path:
    """The example unit; the manager of team B and the head of unit have Teams chats of their own."""
    raw = yaml.safe_load((REPO / "deploy/config/unit.example.yaml").read_text("utf-8"))
    for team in raw["teams"]:
        team["teams_webhook"] = f"http://127.0.0.1:{teams_port}/webhook/{team['id']}"
    raw["notifications"] = {
        "quiet_hours": {"enabled": False},
        "staff_webhooks": {s: f"http://127.0.0.1:{teams_port}/webhook/staff-{s}" for s in ("mgr-b", "head")},
    }
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), "utf-8")
    return path


@pytest.fixture(scope="module")
async def sinks(postgres_server, kafka_broker, tmp_path_factory) -> AsyncIterator[Sinks]:
    log_dir = tmp_path_factory.mktemp("notify-access")
    database_url = await create_database(postgres_server, f"e2e_{uuid.uuid4().hex[:10]}")
    ports = free_ports()
    smtp = spawn("smtp-sink", [sys.executable, "-m", "referral_router.devinfra.smtp_sink", "--smtp-port",
                               str(ports.smtp), "--http-port", str(ports.smtp_http)],
                 log_dir / "smtp-sink.log", cwd=REPO)  # fmt: skip
    teams = spawn("teams-sink", [sys.executable, "-m", "referral_router.devinfra.teams_sink", "--port",
                                 str(ports.teams)], log_dir / "teams-sink.log", cwd=REPO)  # fmt: skip
    config = ServiceConfig(
        database_url=database_url, bootstrap=kafka_broker.bootstrap, flavour=kafka_broker.flavour,
        ports=ports, secrets=SECRETS_E2E, unit_config=unit_file(log_dir / "unit.yaml", ports.teams),
        topic_prefix=f"a{uuid.uuid4().hex[:8]}.",
        extra_env={"WORKER__POLL_INTERVAL_S": "0.3", "OUTBOX__POLL_INTERVAL_S": "0.3",
                   "LINKS__REFERRAL_URL": LINK, **kafka_broker.service_env()},
    )  # fmt: skip
    services = ServiceProcesses(config, log_dir)
    try:
        wait_for_http(f"http://127.0.0.1:{ports.smtp_http}/healthz", 20, proc=smtp)
        wait_for_http(f"http://127.0.0.1:{ports.teams}/healthz", 20, proc=teams)
        services.start("notifications")
        yield Sinks(services, config.topic_prefix, kafka_broker.bootstrap, database_url,
                    f"http://127.0.0.1:{ports.smtp_http}", f"http://127.0.0.1:{ports.teams}")  # fmt: skip
    finally:
        services.stop_all()
        for proc in (smtp, teams):
            stop_process(proc)
        await drop_database(postgres_server, database_url.rsplit("/", 1)[1])


async def test_break_glass_reaches_the_managers_email_and_chat_once_even_when_delivered_twice(sinks):
    event = break_glass(f"R-{uuid.uuid4().hex[:6]}", datetime.now(UTC), staff="cw-a1")
    ref = event.data.referral_id
    marker = break_glass(ref, datetime.now(UTC), staff="cw-a2")  # same key: handled after the repeat
    await sinks.publish(TOPIC_ACCESS, [event, event])
    await sinks.publish(TOPIC_ACCESS, [marker])
    await sinks.sent(marker.event_id, 2)

    rows = await sinks.sent(event.event_id, 2)
    assert {(r["recipient"], r["channel"]) for r in rows} == {("mgr-b", "email"), ("staff:mgr-b", "teams")}
    subject = f"Nödåtkomst använd: {ref}"
    mails = await sinks.emails(subject)
    assert Counter(m["rcpt_tos"][0] for m in mails) == {"mgr-b@kommun.example": 2}  # event and marker
    mine = [m for m in mails if "Astrid Berg (cw-a1)" in m["text"]]
    assert len(mine) == 1 and f"https://socialtjanst.example.se/referrals/{ref}" in mine[0]["text"]
    assert "Skälet finns i åtkomstloggen." in mine[0]["text"]
    cards = [
        c
        for c in await sinks.cards("staff-mgr-b")
        if "Astrid Berg (cw-a1)" in json.dumps(c, ensure_ascii=False)
    ]
    assert len(cards) == 1
    assert cards[0]["body"]["attachments"][0]["content"]["actions"][0]["url"].endswith(f"/referrals/{ref}")
    assert await sinks.cards("team-b") == []  # never in the team's channel


async def test_the_access_review_reaches_the_head_of_unit_naming_exactly_its_findings(sinks):
    findings = (
        ("break_glass", "cw-a1", 2, ("R-101", "R-102")),
        ("denied", "cw-c1", 5, ()),
        ("outside_office_hours", "cw-b2", 3, ("R-103",)),
    )
    event = review("2031-01", 4321, *findings)
    await sinks.publish(TOPIC_ACCESS, [event])
    rows = await sinks.sent(event.event_id, 2)
    assert {(r["recipient"], r["channel"]) for r in rows} == {("head", "email"), ("staff:head", "teams")}

    [mail] = await sinks.emails("Granskning av åtkomstloggen 2031-01")
    assert mail["rcpt_tos"] == ["head@kommun.example"]
    findings_shown = [line for line in mail["text"].splitlines() if line.startswith("- ")]
    assert findings_shown == [
        "- Astrid Berg (cw-a1): 2 gånger – ärenden: R-101 (https://socialtjanst.example.se/referrals/R-101), "
        "R-102 (https://socialtjanst.example.se/referrals/R-102)",
        "- Maja Ström (cw-c1): 5 gånger",
        "- Hampus Dahl (cw-b2): 3 gånger – ärenden: R-103 (https://socialtjanst.example.se/referrals/R-103)",
    ]
    assert "Åtkomstloggen för 2031-01 har 4321 poster." in mail["text"]
    [card] = [c for c in await sinks.cards("staff-head") if "2031-01" in json.dumps(c, ensure_ascii=False)]
    blocks = [b["text"] for b in card["body"]["attachments"][0]["content"]["body"]]
    url = "https://socialtjanst.example.se/referrals/"
    assert [b for b in blocks if b.startswith("- ")] == [
        f"- Astrid Berg (cw-a1): 2 gånger – ärenden: [R-101]({url}R-101), [R-102]({url}R-102)",
        "- Maja Ström (cw-c1): 5 gånger",
        f"- Hampus Dahl (cw-b2): 3 gånger – ärenden: [R-103]({url}R-103)",
    ]
    assert blocks[2:7:2] == ["Nödåtkomst", "Nekade försök", "Åtkomst utanför kontorstid"]


async def test_registration_deadlines_go_to_the_intake_group_and_the_breach_also_to_the_manager(sinks):
    ref = f"R-{uuid.uuid4().hex[:6]}"
    soon = registration_due(ref, datetime.now(UTC) + timedelta(hours=1), breached=False)
    late = registration_due(ref, datetime.now(UTC), breached=True)
    await sinks.publish(TOPIC_DEADLINES, [soon, late])
    intake = {f"in-{n}" for n in range(1, 5)}
    assert {r["recipient"] for r in await sinks.sent(soon.event_id, 4)} == intake
    # The manager has a chat of their own in this unit file: the breach goes there too.
    assert {r["recipient"] for r in await sinks.sent(late.event_id, 6)} == intake | {"mgr-b", "staff:mgr-b"}
    mails = await sinks.emails(f"Tidsfrist närmar sig – registrering i verksamhetssystemet: {ref}")
    assert sorted(m["rcpt_tos"][0] for m in mails) == sorted(f"{p}@kommun.example" for p in intake)
    assert all("Registrering i verksamhetssystemet senast:" in m["text"] for m in mails)


async def test_no_break_glass_reason_or_client_detail_reaches_any_email_or_card(sinks):
    """A reason smuggled into the event breaks the contract: it is dead-lettered (without the text)
    and alerts nobody; every message the service sent holds no reason and no client detail."""
    ref = f"R-{uuid.uuid4().hex[:6]}"
    smuggled = json.loads(encode_event(break_glass(ref, datetime.now(UTC))))
    smuggled["data"]["reason"] = REASON
    clean = break_glass(ref, datetime.now(UTC), staff="cw-b1")
    await sinks.publish(TOPIC_ACCESS, [], raw=[json.dumps(smuggled, ensure_ascii=False).encode()])
    await sinks.publish(TOPIC_ACCESS, [clean, review("2031-02", 3, ("break_glass", "cw-b1", 1, (ref,)))])
    await sinks.sent(clean.event_id, 2)
    letters = await read_topic(sinks.bootstrap, f"{sinks.prefix}{TOPIC_DEADLETTER}", expect=1)
    assert letters and all(REASON not in json.dumps(v, ensure_ascii=False) for _, v, _, _ in letters)
    assert await sinks.deliveries("source_event_id = $1", uuid.UUID(smuggled["event_id"])) == []
    await eventually(lambda: sinks.deliveries("status <> 'sent'"), lambda rs: rs == [], timeout_s=60)

    texts = await sinks.everything()
    assert any(ref in t for t in texts)  # the scan reads the messages of this very test
    outcomes = await read_topic(sinks.bootstrap, f"{sinks.prefix}{TOPIC_NOTIFICATIONS}", expect=2)
    texts += [json.dumps(v, ensure_ascii=False) for _, v, _, _ in outcomes]  # Kafka is a channel too
    needles = [REASON, *NEEDLES, SECRETS["description"], "sexual_abuse", "honour_related", "neglect"]
    assert [n for n in needles for t in texts if n in t] == []
