"""The web app's StaffApi port: one suite run on the in-memory fake and on the HTTP adapter against
the real assignment service (its app with real Postgres and Kafka, HS256 staff tokens)."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator
from datetime import date, timedelta
from typing import Any

import httpx
import jwt
import pytest

from services.assignment.main import AssignmentSettings, create_app
from services.web.adapters.http_staff_api import HttpStaffApi
from services.web.adapters.memory import FakeStaffApi
from services.web.domain.model import Caller, Deadline, OnDuty, QueueItem, User, WorkloadRow
from services.web.ports import StaffApi, UpstreamDenied, UpstreamRejected, UpstreamUnauthorized
from shared.clock import FixedClock
from shared.settings import DatabaseSettings, KafkaSettings
from shared.staff_auth import AuthSettings
from tests.assignment_support import assign_batch, local, migrated_pool, received
from tests.conftest import create_database, drop_database

NOW = local(2026, 10, 20, 10, 0)  # a Tuesday in office hours
SECRET = "contract-secret"


@dataclasses.dataclass
class World:
    """A staff API with one referral assigned, and how to call it as someone."""

    api: StaffApi
    referral_id: str
    team: str
    caseworker: str
    manager: str
    issued: set[str]

    def caller(self, staff_id: str, *roles: str) -> Caller:
        token = jwt.encode(
            {"sub": staff_id, "roles": list(roles), "exp": NOW + timedelta(days=3650)},
            SECRET,
            algorithm="HS256",
        )
        self.issued.add(token)
        return Caller(User(staff_id, frozenset(roles)), token)

    def assignee(self) -> Caller:
        return self.caller(self.caseworker, "caseworker")


def _fake_world() -> World:
    item = QueueItem(
        referral_id="R-CONTRACT",
        team="team-a",
        caseworker="cw-a1",
        status="assigned",
        categories=("neglect",),
        acute=False,
        received_at=NOW,
        deadlines=(Deadline("protection_assessment", NOW + timedelta(hours=24), None, "ok"),),
        deadline_state="ok",
        next_due_at=NOW + timedelta(hours=24),
        registered=False,
    )
    issued: set[str] = set()
    api = FakeStaffApi(
        queue={item.referral_id: item},
        workloads=[WorkloadRow("cw-a1", "team-a", 1, 1.0, 6.0), WorkloadRow("cw-b1", "team-b", 0, 0.0, 6.0)],
        duties=[OnDuty("team-a", NOW - timedelta(days=1), NOW + timedelta(days=13), "rotation")],
        teams={"mgr-a": "team-a"},
        valid_tokens=issued,
    )
    return World(api, item.referral_id, "team-a", "cw-a1", "mgr-a", issued)


@pytest.fixture(params=["fake", pytest.param("http", marks=pytest.mark.kafka)])
async def world(request: pytest.FixtureRequest) -> AsyncIterator[World]:
    if request.param == "fake":
        yield _fake_world()
        return
    kafka_broker = request.getfixturevalue("kafka_broker")
    server = request.getfixturevalue("postgres_server")
    name = f"web_contract_{uuid.uuid4().hex[:12]}"
    database_url = await create_database(server, name)
    try:
        async for world in _http_world(kafka_broker, request.getfixturevalue("topic_prefix"), database_url):
            yield world
    finally:
        await drop_database(server, name)


async def _http_world(kafka_broker: Any, topic_prefix: str, database_url: str) -> AsyncIterator[World]:
    settings = AssignmentSettings(
        kafka=KafkaSettings(
            bootstrap_servers=kafka_broker.bootstrap,
            flavour=kafka_broker.flavour,
            topic_prefix=topic_prefix,
            partitions=1,
            session_timeout_ms=2000 if kafka_broker.flavour == "tansu" else 10_000,
        ),
        database=DatabaseSettings(url=database_url),
        auth=AuthSettings(jwt_secret=SECRET),
        public_url="http://assignment.test/",
    )
    pool = await migrated_pool(settings.database.url.get_secret_value())
    await assign_batch(pool, [received("R-CONTRACT", at=NOW)])
    row = await pool.fetchrow("SELECT team, caseworker FROM assignments WHERE referral_id = 'R-CONTRACT'")
    await pool.close()
    assert row is not None
    app = create_app(settings, FixedClock(NOW))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://assignment") as client:
            world = World(
                HttpStaffApi(client, client), "R-CONTRACT", row["team"], row["caseworker"], "", set()
            )
            world.manager = f"mgr-{row['team'][-1]}"
            yield world


async def test_the_assigned_caseworker_finds_the_referral_in_their_queue_with_its_clocks(
    world: World,
) -> None:
    items = await world.api.work_queue(world.assignee(), {"assignee": "me"})
    (item,) = [i for i in items if i.referral_id == world.referral_id]
    assert (item.team, item.caseworker, item.status, item.registered) == (
        world.team,
        world.caseworker,
        "assigned",
        False,
    )
    assert "protection_assessment" in {d.name for d in item.deadlines}
    assert item.deadline_state in ("ok", "approaching", "breached")


async def test_another_caseworkers_queue_does_not_hold_it(world: World) -> None:
    other = "cw-c6" if world.caseworker != "cw-c6" else "cw-c5"
    items = await world.api.work_queue(world.caller(other, "caseworker"), {"assignee": "me"})
    assert world.referral_id not in {i.referral_id for i in items}


async def test_any_staff_role_reads_the_assignment_state_but_an_unknown_referral_is_refused(
    world: World,
) -> None:
    state = await world.api.referral(world.caller("in-1", "intake"), world.referral_id)
    assert (state.team, state.caseworker, state.status) == (world.team, world.caseworker, "assigned")
    with pytest.raises(UpstreamDenied):
        await world.api.referral(world.caller("in-1", "intake"), "R-NO-SUCH")


async def test_acknowledging_moves_the_status_on(world: World) -> None:
    await world.api.act(world.assignee(), world.referral_id, "acknowledge", {})
    state = await world.api.referral(world.assignee(), world.referral_id)
    assert state.status == "acknowledged"


async def test_a_closed_referral_leaves_the_open_queue_and_stays_in_the_history(world: World) -> None:
    me, at = world.assignee(), {"at": NOW.isoformat()}
    await world.api.act(me, world.referral_id, "decision", {"decision": "no_investigation"} | at)  # closes
    assert await world.api.work_queue(me, {"assignee": "me", "open": "true"}) == []
    history = await world.api.work_queue(me, {"assignee": "me"})
    assert [(i.referral_id, i.status) for i in history] == [(world.referral_id, "closed")]


async def test_a_decision_needs_the_caseworker_or_manager_role(world: World) -> None:
    body = {"decision": "open_investigation", "at": NOW.isoformat()}
    with pytest.raises(UpstreamDenied):
        await world.api.act(world.caller("in-1", "intake"), world.referral_id, "decision", body)


async def test_the_manager_sees_the_teams_workload_and_a_caseworker_does_not(world: World) -> None:
    rows = await world.api.workload(world.caller(world.manager, "manager"))
    mine = [r for r in rows if r.staff_id == world.caseworker]
    assert mine and mine[0].capacity > 0 and mine[0].open_cases == 1
    with pytest.raises(UpstreamDenied):
        await world.api.workload(world.assignee())


async def test_an_absence_shows_on_the_board_and_one_that_ends_before_it_starts_is_rejected(
    world: World,
) -> None:
    manager = world.caller(world.manager, "manager")
    await world.api.add_absence(manager, world.caseworker, date(2026, 10, 26), date(2026, 10, 28), "course")
    rows = await world.api.workload(manager)
    (row,) = [r for r in rows if r.staff_id == world.caseworker]
    assert [(a.starts_on, a.ends_on, a.kind) for a in row.absences] == [
        (date(2026, 10, 26), date(2026, 10, 28), "course")
    ]
    with pytest.raises(UpstreamRejected):
        await world.api.add_absence(
            manager, world.caseworker, date(2026, 10, 28), date(2026, 10, 26), "leave"
        )


async def test_the_person_ends_their_absence_early_and_another_teams_manager_may_not(world: World) -> None:
    manager = world.caller(world.manager, "manager")
    await world.api.add_absence(manager, world.caseworker, date(2026, 10, 26), date(2026, 10, 30), "sick")
    other_team = "mgr-b" if world.manager != "mgr-b" else "mgr-c"
    with pytest.raises(UpstreamDenied):
        await world.api.end_absence(world.caller(other_team, "manager"), world.caseworker, date(2026, 10, 28))
    await world.api.end_absence(world.assignee(), world.caseworker, date(2026, 10, 28))
    (row,) = [r for r in await world.api.workload(manager) if r.staff_id == world.caseworker]
    assert [(a.starts_on, a.ends_on) for a in row.absences] == [(date(2026, 10, 26), date(2026, 10, 27))]
    with pytest.raises(UpstreamRejected):
        await world.api.end_absence(world.assignee(), world.caseworker, date(2026, 10, 28))


async def test_an_override_shows_in_the_schedule_and_only_a_manager_may_make_one(world: World) -> None:
    starts, ends = local(2026, 10, 22, 8, 0), local(2026, 10, 23, 8, 0)
    with pytest.raises(UpstreamDenied):
        await world.api.add_override(world.assignee(), "team-c", starts, ends, "course")
    with pytest.raises(UpstreamRejected):
        await world.api.add_override(world.caller(world.manager, "manager"), "team-c", ends, starts, "course")
    await world.api.add_override(world.caller(world.manager, "manager"), "team-c", starts, ends, "course")
    periods = await world.api.schedule(world.assignee(), date(2026, 10, 20), date(2026, 10, 27))
    assert OnDuty("team-c", starts, ends, "override") in periods
    assert any(p.source == "rotation" and p.period_start <= NOW < p.period_end for p in periods)


async def test_the_team_on_duty_covers_now(world: World) -> None:
    duty = await world.api.on_duty(world.assignee(), NOW)
    assert duty.team.startswith("team-") and duty.period_start <= NOW < duty.period_end


async def test_a_referral_arriving_in_office_hours_goes_to_the_team_on_duty_now(world: World) -> None:
    caller = world.assignee()
    assert await world.api.arriving(caller, NOW) == await world.api.on_duty(caller, NOW)


async def test_a_caseworker_reads_their_own_load_and_someone_without_caseload_gets_none(world: World) -> None:
    own = await world.api.own_workload(world.assignee())
    assert own is not None and (own.staff_id, own.open_cases) == (world.caseworker, 1)
    assert await world.api.own_workload(world.caller("in-1", "intake")) is None


async def test_a_calendar_link_is_made_listed_without_its_url_and_revoked(world: World) -> None:
    someone_else = "cw-a2" if world.caseworker != "cw-a2" else "cw-a3"
    mine, other = world.assignee(), world.caller(someone_else, "caseworker")
    url = await world.api.create_calendar_feed(mine)
    assert url.startswith("http://assignment.test/v1/rotation/calendar/") and url.endswith(".ics")
    assert url != await world.api.create_calendar_feed(mine)
    first, second = await world.api.calendar_feeds(mine)
    assert first.active and second.active and first.id < second.id and first.last_used_at is None
    assert first.expires_at - first.created_at == timedelta(days=365)
    assert await world.api.calendar_feeds(other) == []
    with pytest.raises(UpstreamDenied):
        await world.api.revoke_calendar_feed(other, first.id)
    with pytest.raises(UpstreamDenied):
        await world.api.revoke_calendar_feed(mine, 10**9)
    await world.api.revoke_calendar_feed(world.caller(world.manager, "manager"), first.id)
    await world.api.revoke_calendar_feed(mine, second.id)
    assert [f.active for f in await world.api.calendar_feeds(mine)] == [False, False]


async def test_a_token_the_api_does_not_accept_asks_for_a_new_sign_in(world: World) -> None:
    forged = Caller(User(world.caseworker, frozenset({"caseworker"})), "not-a-token")
    with pytest.raises(UpstreamUnauthorized):
        await world.api.work_queue(forged, {"assignee": "me"})
