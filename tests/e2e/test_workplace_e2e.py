"""The working environment end to end, with the services as separate processes (issue 22).

An overload flag (Show 2):

A caseworker of the team that takes new referrals flags "I am at my limit". Their manager gets an
email and a card in their own Teams chat (the example unit file's `staff_webhooks`, pointed at
this test's sink by `DEV_TEAMS_PORT`), never in the team channel. While the flag is open, new
referrals go to everybody else in the team; the manager relieves the caseworker (half capacity
for a week) and, carrying nothing while every colleague carries a case, the caseworker gets the
next referral. The caseworker is told of the answer. Neither the note nor any client detail
reaches a message.

A partner's consultation: booked through assignment, the invitation (METHOD:REQUEST) reaches the
partner's inbox from notifications, and the cancellation (METHOD:CANCEL) follows with the same
UID and a higher SEQUENCE. An incident: the manager and occupational health are emailed, with
no client detail.
"""

from __future__ import annotations

import email
import email.policy
import json
import sys
import time
import uuid
import warnings
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import icalendar
import jwt
import pytest

from referral_router.devinfra.procs import spawn, stop_process, wait_for_http
from referral_router.stack import DEV_JWT_SECRET, REPO, Ports, ServiceConfig, ServiceProcesses
from services.assignment.domain.rotation import on_duty_team
from services.assignment.unit_from_config import unit_from_config
from shared.unit_config import Team, load_unit_config
from tests.conftest import create_database, drop_database
from tests.e2e.conftest import free_ports
from tests.factories import encode, submission
from tests.helpers import eventually, signed_headers

EXAMPLE = REPO / "deploy" / "config" / "unit.example.yaml"
SECRETS = {"key_id": "ov-1", "key": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=", "pepper": "ov-pepper"}
NOTE = "Orkar inte fler ärenden den här veckan"  # the caseworker's own words: never in a message
pytestmark = pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")


def token(sub: str, *roles: str) -> str:
    now = int(time.time())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jwt.warnings.InsecureKeyLengthWarning)  # the dev secret is short
        return jwt.encode({"sub": sub, "roles": list(roles), "iat": now, "exp": now + 3600}, DEV_JWT_SECRET)


@dataclass
class OverloadStack:
    services: ServiceProcesses
    ports: Ports
    team: Team  # the team new referrals go to now

    async def listing(self, port: int) -> list[dict[str, Any]]:
        async with httpx.AsyncClient(timeout=5) as client:
            listed: list[dict[str, Any]] = (await client.get(f"http://127.0.0.1:{port}/messages")).json()
            return listed

    async def call(self, method: str, path: str, bearer: str, body: Any = None) -> httpx.Response:
        async with httpx.AsyncClient(timeout=10) as client:
            return await client.request(
                method,
                self.services.url("assignment", path),
                json=body,
                headers={"authorization": f"Bearer {bearer}"},
            )

    async def refer(self, body: dict[str, Any] | None = None) -> str:
        """One portal referral (by default about a new child); its referral id."""
        raw = encode(body or submission())
        async with httpx.AsyncClient(timeout=10) as client:
            response = await client.post(
                self.services.url("intake", "/v1/referrals"), content=raw, headers=signed_headers(raw)
            )
        assert response.status_code == 202, response.text
        [referral_id] = [r["referral_id"] for r in response.json()["referrals"]]
        return str(referral_id)

    async def caseworker_of(self, referral_id: str) -> str:
        head = token("head", "head_of_unit")

        async def state() -> dict[str, Any]:
            response = await self.call("GET", f"/v1/referrals/{referral_id}", head)
            return response.json() if response.status_code == 200 else {}

        assigned = await eventually(state, lambda s: bool(s.get("caseworker")), timeout_s=60)
        return str(assigned["caseworker"])


@pytest.fixture(scope="module")
async def stack(postgres_server, kafka_broker, tmp_path_factory) -> AsyncIterator[OverloadStack]:
    log_dir = tmp_path_factory.mktemp("overload-e2e")
    database_url = await create_database(postgres_server, f"ov_{uuid.uuid4().hex[:10]}")
    ports = free_ports()
    smtp_argv = [sys.executable, "-m", "referral_router.devinfra.smtp_sink",
                 "--smtp-port", str(ports.smtp), "--http-port", str(ports.smtp_http)]  # fmt: skip
    teams_argv = [sys.executable, "-m", "referral_router.devinfra.teams_sink", "--port", str(ports.teams)]
    sinks = [
        spawn("smtp-sink", smtp_argv, log_dir / "smtp-sink.log", cwd=REPO),
        spawn("teams-sink", teams_argv, log_dir / "teams-sink.log", cwd=REPO),
    ]
    config = ServiceConfig(
        database_url=database_url, bootstrap=kafka_broker.bootstrap, flavour=kafka_broker.flavour,
        ports=ports, secrets=SECRETS, unit_config=EXAMPLE, topic_prefix=f"o{uuid.uuid4().hex[:8]}.",
        extra_env={"OUTBOX__POLL_INTERVAL_S": "0.3", "WORKER__POLL_INTERVAL_S": "0.3"},
    )  # fmt: skip
    services = ServiceProcesses(config, log_dir)
    unit_config = load_unit_config(EXAMPLE)
    unit = unit_from_config(unit_config)
    team_id = on_duty_team(unit.plan, unit.assignment_moment(datetime.now(UTC))[0], unit.tz).team
    team = unit_config.team(team_id)
    assert team is not None
    try:
        wait_for_http(f"http://127.0.0.1:{ports.smtp_http}/healthz", 20, proc=sinks[0])
        wait_for_http(f"http://127.0.0.1:{ports.teams}/healthz", 20, proc=sinks[1])
        services.start_all()
        yield OverloadStack(services, ports, team)
    finally:
        services.stop_all()
        for sink in sinks:
            stop_process(sink)
        await drop_database(postgres_server, database_url.rsplit("/", 1)[1])


async def test_a_flag_reaches_the_manager_holds_new_referrals_off_and_relief_lets_them_resume(stack):
    team, manager = stack.team, stack.team.manager
    caseworkers = [m for m in team.members if m.role == "caseworker"]
    flagged = caseworkers[1]  # not a mentor, not a new hire: an ordinary full-time caseworker
    assert flagged.mentor is None and flagged.hire_date is None
    others = {m.id for m in caseworkers} - {flagged.id}

    # 1. The caseworker flags; a second open flag is refused and names the first.
    raised = await stack.call(
        "POST", f"/v1/staff/{flagged.id}/overload-flags", token(flagged.id, "caseworker"), {"note": NOTE}
    )
    assert raised.status_code == 201, raised.text
    flag_id = raised.json()["flag_id"]
    again = await stack.call(
        "POST", f"/v1/staff/{flagged.id}/overload-flags", token(flagged.id, "caseworker"), {}
    )
    assert again.status_code == 409 and flag_id in again.text

    # 2. The manager is told at once: an email and a card in their own chat, not the team's.
    def mailed_to(address: str):
        return lambda mails: any(address in m["rcpt_tos"] for m in mails)

    mails = await eventually(
        lambda: stack.listing(stack.ports.smtp_http), mailed_to(manager.email), timeout_s=60
    )
    cards = await eventually(
        lambda: stack.listing(stack.ports.teams),
        lambda cs: any(c["team"] == manager.id for c in cs),
        timeout_s=60,
    )
    assert [c for c in cards if c["team"] == team.id] == []
    to_manager = [m for m in mails if manager.email in m["rcpt_tos"]]
    assert flagged.name in json.dumps(to_manager, ensure_ascii=False)

    # 3. While the flag is open, one new referral for each colleague: none goes to the flagged one.
    held = [await stack.caseworker_of(await stack.refer()) for _ in others]
    assert flagged.id not in held
    assert set(held) == others  # nobody else was left out: each colleague now carries one

    # 4. The manager relieves: half capacity for a week.
    until = (datetime.now(UTC) + timedelta(days=7)).isoformat()
    answer = {
        "action": "relieve",
        "capacity_factor": 0.5,
        "until": until,
        "comment": "Halv belastning en vecka",
    }
    answered = await stack.call(
        "POST", f"/v1/overload-flags/{flag_id}/response", token(manager.id, "manager"), answer
    )
    assert answered.status_code == 200, answered.text
    listed = await stack.call("GET", f"/v1/overload-flags?team={team.id}", token(manager.id, "manager"))
    [flag] = [f for f in listed.json()["flags"] if f["flag_id"] == flag_id]
    assert flag["action"] == "relieve" and flag["response_seconds"] is not None

    # 5. Assignments resume: carrying nothing, the relieved caseworker takes the next referral.
    assert await stack.caseworker_of(await stack.refer()) == flagged.id

    # 6. The caseworker hears the answer; the note, their own words, went nowhere.
    mails = await eventually(
        lambda: stack.listing(stack.ports.smtp_http), mailed_to(flagged.email), timeout_s=60
    )
    cards = await stack.listing(stack.ports.teams)
    texts = [json.dumps(m, ensure_ascii=False) for m in mails] + [
        json.dumps(c, ensure_ascii=False) for c in cards
    ]
    assert [t for t in texts if NOTE in t] == []


def invitations(mails: list[dict[str, Any]], address: str) -> list[icalendar.Calendar]:
    """The iCalendar attachments of the messages sent to `address`, in arrival order."""
    found = []
    for mail in mails:
        if address not in mail["rcpt_tos"]:
            continue
        message = email.message_from_string(mail["raw"], policy=email.policy.default)
        for part in message.walk():
            if part.get_content_type() == "text/calendar" and part.get_content_disposition() == "attachment":
                found.append(icalendar.Calendar.from_ical(part.get_content()))
    return found


async def test_a_partner_books_a_consultation_gets_the_invitation_and_then_its_cancellation(stack):
    partner = token("partner-1", "partner")
    topic = "Samråd om ett nytt ärende"  # the partner's words: stay in assignment
    booked = await stack.call("POST", "/v1/consultations", partner, {"topic": topic})
    assert booked.status_code == 201, booked.text
    consultation = booked.json()
    assert consultation["team"] == stack.team.id  # a new matter: the team taking referrals now
    # A partner sees nothing else.
    assert (await stack.call("GET", "/v1/referrals?assignee=me", partner)).status_code == 403

    address = "partner-1@kommun.example"

    async def sent() -> list[icalendar.Calendar]:
        return invitations(await stack.listing(stack.ports.smtp_http), address)

    [invite] = await eventually(sent, lambda found: len(found) >= 1, timeout_s=60)
    cancelled = await stack.call("DELETE", f"/v1/consultations/{consultation['consultation_id']}", partner)
    assert cancelled.status_code == 200, cancelled.text
    found = await eventually(sent, lambda found: any(c["METHOD"] == "CANCEL" for c in found), timeout_s=60)
    cancel = next(c for c in found if c["METHOD"] == "CANCEL")

    assert invite["METHOD"] == "REQUEST"
    [first] = invite.walk("VEVENT")
    [last] = cancel.walk("VEVENT")
    assert str(first["UID"]) == str(last["UID"]) == f"{consultation['consultation_id']}@referral-router"
    assert int(last["SEQUENCE"]) > int(first["SEQUENCE"])
    assert first.decoded("DTSTART") == datetime.fromisoformat(consultation["starts_at"])
    assert first["DTSTART"].params["TZID"] == "Europe/Stockholm" and invite.walk("VTIMEZONE")
    mails = await stack.listing(stack.ports.smtp_http)
    assert [m for m in mails if topic in json.dumps(m, ensure_ascii=False)] == []


async def test_an_incident_reaches_the_manager_and_occupational_health_without_client_details(stack):
    caseworker = next(m for m in stack.team.members if m.role == "caseworker")
    referral = submission()
    referral_id = await stack.refer(referral)
    await stack.caseworker_of(referral_id)
    body = {"occurred_on": datetime.now(UTC).date().isoformat(), "type": "threat", "channel": "phone",
            "referral_id": referral_id}  # fmt: skip
    recorded = await stack.call("POST", "/v1/incidents", token(caseworker.id, "caseworker"), body)
    assert recorded.status_code == 201, recorded.text
    assert recorded.json()["team"] == stack.team.id

    def incident_mails(mails: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [m for m in mails if m["subject"].startswith("Hot eller våld mot personal")]

    def told(mails: list[dict[str, Any]]) -> bool:
        to = {r for m in incident_mails(mails) for r in m["rcpt_tos"]}
        return {stack.team.manager.email, "fhv@kommun.example"} <= to

    mails = await eventually(lambda: stack.listing(stack.ports.smtp_http), told, timeout_s=60)
    # The referral's personal details live in intake only: none of them reach these messages.
    child = referral["children"][0]
    needles = [child["name"], child["personal_number"], referral["concern"]["description"],
               referral["reporter"]["name"]]  # fmt: skip
    texts = [json.dumps(m, ensure_ascii=False) for m in incident_mails(mails)]
    assert [n for n in needles for t in texts if n in t] == []
