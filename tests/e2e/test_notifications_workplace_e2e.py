"""Issue 22 through the real thing: workplace.v1 events on the session's broker → the
notifications service as a process → an SMTP sink (aiosmtpd) and a Teams sink (HTTP). Overload
flags reach the manager's email and own chat, incidents the manager and occupational health, a
booking's invitation and its cancel the partner (parsed back with icalendar), once each even when
delivered twice; a note smuggled into an event is dead-lettered and appears nowhere, logs included."""

from __future__ import annotations

import email
import email.policy
import json
import sys
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import icalendar
import pytest
import yaml

from referral_router.devinfra.procs import spawn, stop_process, wait_for_http
from referral_router.stack import REPO, ServiceConfig, ServiceProcesses
from shared.events import TOPIC_DEADLETTER, TOPIC_NOTIFICATIONS, TOPIC_WORKPLACE, encode_event
from tests.conftest import create_database, drop_database
from tests.e2e.conftest import free_ports
from tests.e2e.test_intake_no_personal_data import NEEDLES
from tests.e2e.test_notifications_access_e2e import SECRETS_E2E, Sinks
from tests.helpers import eventually, read_topic
from tests.workplace_support import NOTE, TOPIC, TZ, consultation, incident, overload


def unit_file(path: Path, teams_port: int) -> Path:
    """The example unit with its teams' channels and the managers' and head's own chats on the sink."""
    raw = yaml.safe_load((REPO / "deploy/config/unit.example.yaml").read_text("utf-8"))
    for team in raw["teams"]:
        team["teams_webhook"] = f"http://127.0.0.1:{teams_port}/webhook/{team['id']}"
    own = ("mgr-a", "mgr-b", "head")
    raw["notifications"] = {
        "quiet_hours": {"enabled": False},
        "staff_webhooks": {s: f"http://127.0.0.1:{teams_port}/webhook/staff-{s}" for s in own},
    }
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), "utf-8")
    return path


@pytest.fixture(scope="module")
async def sinks(postgres_server, kafka_broker, tmp_path_factory) -> AsyncIterator[Sinks]:
    log_dir = tmp_path_factory.mktemp("notify-workplace")
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
        topic_prefix=f"w{uuid.uuid4().hex[:8]}.",
        extra_env={"WORKER__POLL_INTERVAL_S": "0.3", "OUTBOX__POLL_INTERVAL_S": "0.3", "LOG__LEVEL": "DEBUG"},
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


def card_texts(cards: list[dict]) -> list[str]:
    return [b["text"] for c in cards for b in c["body"]["attachments"][0]["content"]["body"] if "text" in b]


async def test_a_flag_reaches_the_managers_email_and_chat_once_even_when_delivered_twice(sinks):
    raised = datetime.now(UTC)
    flag = overload(staff="cw-a3", raised_at=raised, escalate_at=raised + timedelta(hours=4))
    marker = overload(staff="cw-a3", raised_at=raised)  # same key: handled after the repeat
    await sinks.publish(TOPIC_WORKPLACE, [flag, flag])
    await sinks.publish(TOPIC_WORKPLACE, [marker])
    await sinks.sent(marker.event_id, 2)
    rows = await sinks.sent(flag.event_id, 2)
    assert {(r["recipient"], r["channel"]) for r in rows} == {("mgr-a", "email"), ("staff:mgr-a", "teams")}
    name = "Cecilia Nord"
    mails = await sinks.emails(f"Signal om hög arbetsbelastning: {name}")
    assert Counter(m["rcpt_tos"][0] for m in mails) == {"mgr-a@kommun.example": 2}  # the flag and the marker
    due = (raised + timedelta(hours=4)).astimezone(TZ).strftime("%Y-%m-%d %H:%M")
    assert sum(f"Svara senast {due}" in m["text"] for m in mails) >= 1
    cards = card_texts(await sinks.cards("staff-mgr-a"))
    assert cards.count(f"Signal om hög arbetsbelastning: {name}") == 2
    assert await sinks.cards("team-a") == []  # never in the team's channel


async def test_an_incident_reaches_the_manager_and_occupational_health(sinks):
    event = incident(team="team-b", requester="cw-b3", type="harassment", channel="social_media",
                     at=datetime.now(UTC), referral_id="R-7Q2K9M3XH4TB")  # fmt: skip
    await sinks.publish(TOPIC_WORKPLACE, [event])
    rows = await sinks.sent(event.event_id, 3)
    assert {(r["recipient"], r["channel"]) for r in rows} == {
        ("mgr-b", "email"), ("staff:mgr-b", "teams"), ("fhv", "email"),
    }  # fmt: skip
    mails = [m for m in await sinks.emails("Hot eller våld mot personal registrerat: trakasserier")
             if str(event.data.referral_id) in m["text"]]  # fmt: skip
    assert sorted(m["rcpt_tos"][0] for m in mails) == ["fhv@kommun.example", "mgr-b@kommun.example"]
    assert all("trakasserier (sociala medier) den 2026-11-20, Team B." in m["text"] for m in mails)


async def test_a_booking_and_its_cancel_reach_the_partner_as_invitations_and_the_team_as_cards(sinks):
    cid, start = uuid.uuid4(), datetime(2031, 3, 4, 13, 0, tzinfo=TZ)
    booked = consultation(starts_at=start, consultation_id=cid, at=datetime.now(UTC))
    cancelled = consultation("consultation.cancelled", starts_at=start, consultation_id=cid, sequence=1,
                             at=datetime.now(UTC))  # fmt: skip
    await sinks.publish(TOPIC_WORKPLACE, [booked, booked, cancelled])
    await sinks.sent(booked.event_id, 2)
    await sinks.sent(cancelled.event_id, 2)
    subjects = ("Konsultation bokad: Konsultation med öppenvården 2031-03-04 13:00",
                "Konsultation avbokad: Konsultation med öppenvården 2031-03-04 13:00")  # fmt: skip
    read = []
    for subject in subjects:
        [mail] = await sinks.emails(subject)
        assert mail["rcpt_tos"] == ["partner-1@kommun.example"]
        message = email.message_from_string(mail["raw"], policy=email.policy.default)
        [ics] = [p.get_content() for p in message.walk() if p.get_content_type() == "text/calendar"][:1]
        read.append(icalendar.Calendar.from_ical(ics))
    methods = [str(c["METHOD"]) for c in read]
    events = [c.walk("VEVENT")[0] for c in read]
    assert methods == ["REQUEST", "CANCEL"]
    assert {str(e["UID"]) for e in events} == {f"{cid}@referral-router"}
    assert [int(e["SEQUENCE"]) for e in events] == [0, 1]
    texts = card_texts(await sinks.cards("team-b"))
    assert texts.count("Konsultation bokad: Konsultation med öppenvården 2031-03-04 13:00–13:30") == 1
    assert texts.count("Konsultation avbokad: Konsultation med öppenvården 2031-03-04 13:00–13:30") == 1


async def test_a_note_smuggled_into_an_event_is_dead_lettered_and_appears_nowhere(sinks):
    smuggled = json.loads(encode_event(overload(staff="cw-a4", raised_at=datetime.now(UTC))))
    smuggled["data"]["note"] = NOTE
    topic_smuggled = json.loads(encode_event(consultation(starts_at=datetime(2031, 3, 11, 13, 0, tzinfo=TZ))))
    topic_smuggled["data"]["topic"] = TOPIC
    clean = incident(at=datetime.now(UTC), requester="cw-a5")
    raw = [json.dumps(e, ensure_ascii=False).encode() for e in (smuggled, topic_smuggled)]
    await sinks.publish(TOPIC_WORKPLACE, [], raw=raw)
    await sinks.publish(TOPIC_WORKPLACE, [clean])
    await sinks.sent(clean.event_id, 3)
    letters = await read_topic(sinks.bootstrap, f"{sinks.prefix}{TOPIC_DEADLETTER}", expect=2)
    assert len(letters) >= 2
    for e in (smuggled, topic_smuggled):
        assert await sinks.deliveries("source_event_id = $1", uuid.UUID(e["event_id"])) == []
    await eventually(lambda: sinks.deliveries("status <> 'sent'"), lambda rs: rs == [], timeout_s=60)

    texts = await sinks.everything()
    assert any("Hot eller våld" in t for t in texts)  # the scan reads this very test's messages
    outcomes = await read_topic(sinks.bootstrap, f"{sinks.prefix}{TOPIC_NOTIFICATIONS}", expect=3)
    texts += [json.dumps(v, ensure_ascii=False) for _, v, _, _ in outcomes]
    texts += [json.dumps(v, ensure_ascii=False) for _, v, _, _ in letters]
    texts.append(sinks.services.log("notifications"))
    needles = [NOTE, TOPIC, "Hemligsdotter", "Storgatan", "070-123 45 67", *NEEDLES]
    assert [n for n in needles for t in texts if n in t] == []
