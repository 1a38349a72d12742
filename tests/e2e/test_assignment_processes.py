"""Two assignment processes in one consumer group, and the staff API over HTTP (issue 4, 4 and 6)."""

from __future__ import annotations

import random
import time
import uuid
import warnings
from collections import Counter
from dataclasses import replace
from datetime import datetime, timedelta

import httpx
import jwt
import pytest

from referral_router.devinfra.procs import free_port
from referral_router.stack import DEV_JWT_SECRET, ServiceConfig, ServiceProcesses
from services.assignment.domain.decide import Situation, decide
from services.assignment.domain.model import Availability, Load, PriorCase, Referral
from services.assignment.domain.rotation import on_duty_team
from services.assignment.domain.selection import continuity_match
from shared.events import TOPIC_RECEIVED, encode_event, event_key
from tests.assignment_support import UNIT, local, received
from tests.conftest import create_database, drop_database
from tests.e2e.conftest import free_ports
from tests.helpers import eventually, produce

REFERRALS = 1000
pytestmark = pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")


def token(sub: str, *roles: str) -> str:
    now = int(time.time())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jwt.warnings.InsecureKeyLengthWarning)  # the dev secret is short
        return jwt.encode({"sub": sub, "roles": list(roles), "iat": now, "exp": now + 3600}, DEV_JWT_SECRET)


class TwoAssignments:
    def __init__(
        self, first: ServiceProcesses, second: ServiceProcesses, prefix: str, url: str, bootstrap: str
    ):
        self.first, self.second, self.prefix, self.database_url, self.bootstrap = (
            first,
            second,
            prefix,
            url,
            bootstrap,
        )

    def url(self, path: str) -> str:
        return self.first.url("assignment", path)


@pytest.fixture(scope="module")
async def assignments(postgres_server, kafka_broker, tmp_path_factory):
    name = f"asg_{uuid.uuid4().hex[:10]}"
    database_url = await create_database(postgres_server, name)
    prefix = f"a{uuid.uuid4().hex[:8]}."
    secrets = {"key_id": "k", "key": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=", "pepper": "p"}
    env = {"AUTH__JWT_SECRET": DEV_JWT_SECRET, "OUTBOX__POLL_INTERVAL_S": "0.5", **kafka_broker.service_env()}
    ports = free_ports()
    configs = [
        ServiceConfig(
            database_url,
            kafka_broker.bootstrap,
            kafka_broker.flavour,
            p,
            secrets,
            topic_prefix=prefix,
            extra_env=env,
        )
        for p in (ports, replace(ports, assignment=free_port()))
    ]
    procs = [ServiceProcesses(c, tmp_path_factory.mktemp(f"assignment-{i}")) for i, c in enumerate(configs)]
    for p in procs:
        p.start("assignment")
    try:
        yield TwoAssignments(procs[0], procs[1], prefix, database_url, kafka_broker.bootstrap)
    finally:
        for p in procs:
            p.stop_all()
        await drop_database(postgres_server, name)


def synthetic_referrals(rng: random.Random, count: int, tag: str) -> list:
    events, families = [], []
    for n in range(count):
        at = local(2026, 10, 5, 8, 30) + timedelta(days=rng.randrange(12), minutes=rng.randrange(8 * 60))
        roll = rng.random()
        if families and roll < 0.15:  # a sibling of an earlier referral
            child, family = f"c-{tag}{n}", rng.choice(families)[1]
        elif families and roll < 0.2:  # the same child again
            child, family = rng.choice(families)
        else:
            child, family = f"c-{tag}{n}", f"f-{tag}{n}"
        families.append((child, family))
        cats = (rng.choice(["neglect", "violence", "sexual_abuse", "other", "violence_witnessed"]),)
        events.append(
            received(
                f"R-{tag}{n}", at=at, child=child, family=family, categories=cats, acute=rng.random() < 0.1
            )
        )
    return events


async def handled(procs: ServiceProcesses) -> float:
    async with httpx.AsyncClient() as client:
        text = (await client.get(procs.url("assignment", "/metrics"))).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("events_handled_total{") and 'outcome="handled"' in line and "received" in line
    )


async def test_two_processes_assign_each_of_a_thousand_referrals_once_from_fresh_loads(assignments):
    rng = random.Random(4)
    events = synthetic_referrals(rng, REFERRALS, "x")
    topic = f"{assignments.prefix}{TOPIC_RECEIVED}"
    records = [(event_key(e), encode_event(e)) for e in events]
    sent = 0
    # Warm up until both members of the group have handled something: then they share the topic.
    while sent < 200 and (await handled(assignments.first) == 0 or await handled(assignments.second) == 0):
        await produce(assignments.bootstrap, topic, records[sent : sent + 20])
        sent += 20
        await eventually(lambda: _total(assignments), lambda n, s=sent: n >= s, timeout_s=60)
    await produce(assignments.bootstrap, topic, records[sent:])
    conn = await _connect(assignments)
    try:
        await eventually(
            lambda: conn.fetchval("SELECT count(*) FROM assignments"), lambda n: n == REFERRALS, 180
        )
        rows = await conn.fetch("SELECT * FROM assignments ORDER BY seq")
        published = await conn.fetch(
            "SELECT r FROM (SELECT convert_from(payload, 'UTF8')::jsonb->'data'->>'referral_id' AS r"
            " FROM outbox) o WHERE r IS NOT NULL"  # not the rotation's events (issue 25: on duty at start)
        )
    finally:
        await conn.close()
    assert await handled(assignments.first) > 0 and await handled(assignments.second) > 0
    assert Counter(r["r"] for r in published) == Counter(e.data.referral_id for e in events)
    mismatches = replay_serially(rows)
    assert mismatches == [], mismatches[:5]


async def _total(assignments) -> int:
    conn = await _connect(assignments)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM assignments"))
    finally:
        await conn.close()


async def _connect(assignments):
    import asyncpg

    return await asyncpg.connect(assignments.database_url, server_settings={"search_path": "assignment"})


def replay_serially(rows) -> list[str]:
    """Decide every referral again, in commit order, from the loads a serial run would have seen."""
    mismatches, earlier = [], []
    for row in rows:
        referral = Referral(
            row["referral_id"], row["child_key"], row["family_key"], tuple(row["categories"]),
            row["acute_danger"], row["interpreter_needed"],
        )  # fmt: skip
        instant, day = UNIT.assignment_moment(row["received_at"])
        prior = [
            PriorCase(r["caseworker"], r["team"], r["child_key"], r["family_key"], None) for r in earlier
        ]
        match = continuity_match(referral, prior[::-1], instant, UNIT.rules.continuity_days)
        loads = _loads([r for r in earlier if r["team"] == row["team"]], day)
        duty = on_duty_team(UNIT.plan, instant, UNIT.tz)
        situation = Situation(referral, duty, match, UNIT.staff, loads, Availability(), day)
        decision = decide(situation, UNIT.rules, UNIT.weights)
        if (decision.team, decision.staff_id) != (row["team"], row["caseworker"]):
            mismatches.append(f"{row['referral_id']}: serial {decision.staff_id}, stored {row['caseworker']}")
        earlier.append(row)
    return mismatches


def _loads(rows, day) -> dict[str, Load]:
    loads: dict[str, Load] = {}
    for r in rows:
        old = loads.get(r["caseworker"], Load())
        last = max(filter(None, [old.last_assigned_at, r["assigned_at"]]))
        today = old.assigned_today + (r["assigned_day"] == day)
        loads[r["caseworker"]] = Load(old.weighted + r["weight_hundredths"], old.open_cases + 1, last, today)
    return loads


# --- the staff API over HTTP ------------------------------------------------------------------

MANAGER = token("mgr-a", "manager")
AT = "2026-10-06T10:00:00+02:00"
ABSENCE = {"starts_on": "2027-01-01", "ends_on": "2027-01-02", "kind": "sick"}
ENDPOINTS = [
    ("GET", "/v1/rotation/on-duty", None),
    ("GET", "/v1/rotation/schedule?from=2026-01-01&to=2026-02-01", None),
    ("GET", "/v1/rotation/calendar.ics", None),
    ("POST", "/v1/rotation/overrides", {"team": "team-a", "starts_at": "2027-01-01T08:00:00+01:00",
                                        "ends_at": "2027-01-02T08:00:00+01:00", "reason": "x"}),
    ("POST", "/v1/staff/cw-a1/absences", ABSENCE),
    ("GET", "/v1/referrals/R-x0", None),
    ("POST", "/v1/referrals/R-x0/acknowledge", None),
    ("POST", "/v1/referrals/R-x0/protection-assessment",
     {"outcome": "no_immediate_need", "at": "2026-10-06T10:00:00+02:00"}),
    ("POST", "/v1/referrals/R-x0/decision", {"decision": "no_investigation", "at": AT}),
    ("POST", "/v1/referrals/R-x0/reassign", {"caseworker": "cw-a2", "reason": "x"}),
    ("POST", "/v1/referrals/R-x0/extend", {"until": "2027-05-01", "reason": "x"}),
    ("POST", "/v1/referrals/R-x0/close", {"at": "2026-10-06T10:00:00+02:00"}),
    ("GET", "/v1/workload", None),
    ("GET", "/v1/workload?staff=me", None),
    ("GET", "/v1/rotation/arriving", None),
    ("POST", "/v1/staff/cw-a1/absences/end", {"back_on": "2027-01-02"}),
    ("GET", "/v1/referrals?assignee=me&deadline=breached", None),
    ("POST", "/v1/rotation/calendar-feeds", None),
    ("GET", "/v1/rotation/calendar-feeds", None),
    ("DELETE", "/v1/rotation/calendar-feeds/1", None),
    ("GET", "/v1/meeting-slots", None),
    ("POST", "/v1/consultations", {"topic": "x"}),
    ("GET", "/v1/consultations?mine=true", None),
    ("DELETE", "/v1/consultations/00000000-0000-4000-8000-000000000001", None),
    ("POST", "/v1/staff/cw-b1/overload-flags", {}),
    ("POST", "/v1/overload-flags/00000000-0000-0000-0000-000000000001/response",
     {"action": "keep", "comment": "x"}),
    ("GET", "/v1/overload-flags", None),
    ("POST", "/v1/incidents", {"occurred_on": "2026-01-05", "type": "threat", "channel": "phone"}),
    ("GET", "/v1/incidents", None),
    ("GET", "/v1/incidents/summary?quarter=2026Q1", None),
    ("PUT", "/v1/referrals/00000000-0000-4000-8000-000000000001/safety-flag",
     {"flag": "two_staff_home_visits"}),
    ("DELETE", "/v1/referrals/00000000-0000-4000-8000-000000000001/safety-flag", None),
    ("GET", "/v1/outcome-report?from=2026-01-01&to=2026-06-30", None),
]  # fmt: skip
# Answered without a bearer token: the calendar subscription feed, whose URL holds its own secret
# (tests/unit/test_assignment_calendar_feeds.py: 404 for a malformed, unknown, revoked or expired one).
PUBLIC_ENDPOINTS = [("GET", "/v1/rotation/calendar/{token}.ics")]


async def call(assignments, method: str, path: str, body=None, bearer: str | None = None) -> httpx.Response:
    headers = {"authorization": f"Bearer {bearer}"} if bearer else {}
    async with httpx.AsyncClient(timeout=10) as client:
        return await client.request(method, assignments.url(path), json=body, headers=headers)


async def test_every_endpoint_answers_401_without_a_valid_token_and_403_without_the_role(assignments):
    forged = jwt.encode(
        {"sub": "mgr-a", "roles": ["manager"], "exp": int(time.time()) + 60}, "not-the-secret"
    )
    no_roles = token("cw-b1")  # a member of staff with none of the roles
    for method, path, body in ENDPOINTS:
        for bearer in (None, forged):
            response = await call(assignments, method, path, body, bearer)
            assert response.status_code == 401, (method, path, response.text)
            assert response.headers["content-type"] == "application/problem+json"
        response = await call(assignments, method, path, body, no_roles)
        assert response.status_code == 403, (method, path, response.text)


async def test_a_manager_override_changes_who_is_on_duty_and_shows_in_schedule_and_calendar(assignments):
    body = {
        "team": "team-c",
        "starts_at": "2027-03-01T08:00:00+01:00",
        "ends_at": "2027-03-03T08:00:00+01:00",
        "reason": "team-a at a course",
    }
    assert (await call(assignments, "POST", "/v1/rotation/overrides", body, MANAGER)).status_code == 201
    caseworker = token("cw-a1", "caseworker")
    refused = await call(assignments, "POST", "/v1/rotation/overrides", body, caseworker)
    assert refused.status_code == 403
    at = "/v1/rotation/on-duty?at=2027-03-02T12:00:00%2B01:00"
    assert (await call(assignments, "GET", at, bearer=caseworker)).json()["source"] == "override"
    periods = (
        await call(
            assignments, "GET", "/v1/rotation/schedule?from=2027-02-25&to=2027-03-05", bearer=caseworker
        )
    ).json()
    assert ("team-c", "override") in [(p["team"], p["source"]) for p in periods]
    ics = await call(assignments, "GET", "/v1/rotation/calendar.ics", bearer=caseworker)
    assert ics.headers["content-type"].startswith("text/calendar") and "BEGIN:VEVENT" in ics.text
    bad = await call(assignments, "POST", "/v1/rotation/overrides", {**body, "team": "team-x"}, MANAGER)
    assert bad.status_code == 422 and bad.headers["content-type"] == "application/problem+json"


async def test_a_caseworker_records_their_own_absence_but_not_a_colleagues(assignments):
    body = {"starts_on": "2027-04-01", "ends_on": "2027-04-05", "kind": "course"}
    own = token("cw-b2", "caseworker")
    assert (await call(assignments, "POST", "/v1/staff/cw-b2/absences", body, own)).status_code == 201
    assert (await call(assignments, "POST", "/v1/staff/cw-b3/absences", body, own)).status_code == 403
    workload = (await call(assignments, "GET", "/v1/workload", bearer=MANAGER)).json()
    person = next(p for p in workload["caseworkers"] if p["staff_id"] == "cw-b2")
    assert person["absences"] == [{"starts_on": "2027-04-01", "ends_on": "2027-04-05", "kind": "course"}]


async def test_a_referral_moves_through_its_lifecycle_over_http_and_bad_input_stores_nothing(assignments):
    event = received("R-life1", at=local(2026, 10, 6, 9, 0), child="c-life1", family="f-life1")
    await produce(
        assignments.bootstrap,
        f"{assignments.prefix}{TOPIC_RECEIVED}",
        [(event_key(event), encode_event(event))],
    )
    await eventually(
        lambda: call(assignments, "GET", "/v1/referrals/R-life1", bearer=MANAGER),
        lambda r: r.status_code == 200,
        timeout_s=60,
    )
    state = (await call(assignments, "GET", "/v1/referrals/R-life1", bearer=MANAGER)).json()
    assert state["status"] == "assigned" and state["explanation"]
    mine = token(state["caseworker"], "caseworker")
    other = token("cw-c6" if state["caseworker"] != "cw-c6" else "cw-c5", "caseworker")
    assert (
        await call(assignments, "POST", "/v1/referrals/R-life1/acknowledge", bearer=other)
    ).status_code == 403
    assert (await call(assignments, "POST", "/v1/referrals/R-life1/acknowledge", bearer=mine)).json()[
        "status"
    ] == "acknowledged"
    bad = await call(
        assignments, "POST", "/v1/referrals/R-life1/decision", {"decision": "maybe", "at": "x"}, mine
    )
    assert bad.status_code == 422 and {tuple(e["loc"])[-1] for e in bad.json()["errors"]} == {
        "decision",
        "at",
    }
    unchanged = (await call(assignments, "GET", "/v1/referrals/R-life1", bearer=mine)).json()
    assert (unchanged["status"], unchanged["decision"]) == ("acknowledged", None)
    at = (local(2026, 10, 20, 10, 0)).isoformat()
    opened = await call(
        assignments,
        "POST",
        "/v1/referrals/R-life1/decision",
        {"decision": "open_investigation", "at": at},
        mine,
    )
    assert opened.json()["status"] == "investigating"
    due = opened.json()["deadlines"]["investigation"]["due_at"]
    assert datetime.fromisoformat(due) == local(2027, 2, 20, 23, 59, 59)
    again = await call(
        assignments,
        "POST",
        "/v1/referrals/R-life1/decision",
        {"decision": "no_investigation", "at": at},
        mine,
    )
    assert again.status_code == 409
    assert (await call(assignments, "GET", "/v1/referrals/R-nope", bearer=mine)).status_code == 404


async def test_only_staff_with_a_relation_to_a_referral_act_on_it_over_http(assignments):
    """Issue 24: a team-A caseworker recorded the protection assessment, opened and closed the
    investigation of a team-C referral, and managers reassigned other teams' referrals."""
    event = received("R-rel1", at=local(2026, 10, 6, 9, 0), child="c-rel1", family="f-rel1")
    await produce(
        assignments.bootstrap,
        f"{assignments.prefix}{TOPIC_RECEIVED}",
        [(event_key(event), encode_event(event))],
    )
    await eventually(
        lambda: call(assignments, "GET", "/v1/referrals/R-rel1", bearer=MANAGER),
        lambda r: r.status_code == 200,
        timeout_s=60,
    )
    state = (await call(assignments, "GET", "/v1/referrals/R-rel1", bearer=MANAGER)).json()
    team, caseworker = state["team"], state["caseworker"]
    other_team = next(t for t in ("team-a", "team-b", "team-c") if t != team)
    outsider = token(f"cw-{other_team[-1]}1", "caseworker")
    other_manager = token(f"mgr-{other_team[-1]}", "manager")
    at = local(2026, 10, 6, 10, 0).isoformat()
    for path, body in [
        ("protection-assessment", {"outcome": "no_immediate_need", "at": at}),
        ("decision", {"decision": "open_investigation", "at": at}),
        ("close", {"at": at}),
    ]:
        refused = await call(assignments, "POST", f"/v1/referrals/R-rel1/{path}", body, outsider)
        assert refused.status_code == 403, (path, refused.text)
    teammate = next(w.staff_id for w in UNIT.staff if w.team == team and w.staff_id != caseworker)
    move = {"caseworker": teammate, "reason": "balance"}
    assert (
        await call(assignments, "POST", "/v1/referrals/R-rel1/reassign", move, other_manager)
    ).status_code == 403
    own_manager = token(f"mgr-{team[-1]}", "manager")
    same = {"caseworker": caseworker, "reason": "again"}
    assert (
        await call(assignments, "POST", "/v1/referrals/R-rel1/reassign", same, own_manager)
    ).status_code == 409
    moved = await call(assignments, "POST", "/v1/referrals/R-rel1/reassign", move, own_manager)
    assert moved.status_code == 200 and moved.json()["caseworker"] == teammate
    decided = await call(
        assignments, "POST", "/v1/referrals/R-rel1/decision",
        {"decision": "open_investigation", "at": at}, token(teammate, "caseworker"),
    )  # fmt: skip
    assert decided.status_code == 200
    too_long = {"until": "2100-01-01", "reason": "typo"}
    refused = await call(assignments, "POST", "/v1/referrals/R-rel1/extend", too_long, own_manager)
    assert refused.status_code == 422 and "2100" not in refused.text


async def test_an_unknown_team_in_an_override_is_refused_without_echoing_it(assignments):
    body = {"team": "Anna Andersson 8211059954", "starts_at": "2027-03-01T08:00:00+01:00",
            "ends_at": "2027-03-03T08:00:00+01:00", "reason": "x"}  # fmt: skip
    refused = await call(assignments, "POST", "/v1/rotation/overrides", body, MANAGER)
    assert refused.status_code == 422
    assert "Anna" not in refused.text and "8211059954" not in refused.text


# --- schemathesis: generated requests never produce a server error ------------------------------

import schemathesis  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from schemathesis.checks import (  # noqa: E402
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

# Every answer is documented: its status, its content type and its body's schema (issue 24).
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="module")
def staff_api_schema(assignments):
    return schemathesis.openapi.from_url(assignments.url("/openapi.json"))


def test_generated_requests_to_the_staff_api_get_only_documented_answers(staff_api_schema):
    headers = {"Authorization": f"Bearer {token('head', 'head_of_unit', 'manager', 'caseworker')}"}
    operations = [result.ok() for result in staff_api_schema.get_all_operations()]
    # ENDPOINTS names GET /v1/workload twice (for managers, and ?staff=me for anyone).
    assert len(operations) == len(ENDPOINTS) - 1 + len(PUBLIC_ENDPOINTS) == 33
    for operation in operations:

        @given(operation.as_strategy())
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def never_a_server_error(case):
            case.call_and_validate(headers=headers, checks=CHECKS)

        never_a_server_error()
