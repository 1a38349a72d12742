"""The web app's StaffApi port: one suite run on the in-memory fake and on the HTTP adapter against
the real assignment service (its app with real Postgres and Kafka, HS256 staff tokens)."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest

from services.assignment.main import AssignmentSettings, create_app
from services.web.adapters.http_staff_api import HttpStaffApi
from services.web.adapters.memory import FakeStaffApi
from services.web.domain.model import (
    Booking,
    Caller,
    Deadline,
    Measure,
    MeetingSlot,
    OnDuty,
    OutcomeReport,
    Overload,
    QueueItem,
    User,
    WorkloadRow,
)
from services.web.domain.workenv import response_body
from services.web.ports import StaffApi, UpstreamDenied, UpstreamRejected, UpstreamUnauthorized
from shared.clock import FixedClock
from shared.settings import DatabaseSettings, KafkaSettings
from shared.staff_auth import AuthSettings
from tests.assignment_support import assign_batch, local, migrated_pool, received
from tests.conftest import create_database, drop_database

NOW = local(2026, 10, 20, 10, 0)  # a Tuesday in office hours
SECRET = "contract-secret"
REFERRAL = "R-CONTRACT1"  # intake's referral ids are opaque text (`R-…`), not UUIDs


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


def _consultation_slot(slot: str, starts: datetime, count: int, minutes: int, team: str) -> MeetingSlot:
    """One occurrence of a consultation slot as assignment expands it for one team."""
    step = timedelta(minutes=minutes)
    times = [starts + i * step for i in range(count)]
    return MeetingSlot(
        slot, "consultation", slot, None, (team,), starts, times[-1] + step,
        tuple(Booking(t, t + step, False) for t in times),
    )  # fmt: skip


def _fake_world() -> World:
    item = QueueItem(
        referral_id=REFERRAL,
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
        workloads=[
            WorkloadRow("cw-a1", "team-a", 1, 1.0, 6.0),
            WorkloadRow("cw-a2", "team-a", 0, 0.0, 6.0),
            WorkloadRow("cw-b1", "team-b", 0, 0.0, 6.0),
        ],
        duties=[OnDuty("team-a", NOW - timedelta(days=1), NOW + timedelta(days=13), "rotation")],
        teams={"mgr-a": "team-a", "mgr-b": "team-b", "mgr-c": "team-c"},
        valid_tokens=issued,
        now=lambda: NOW,
        escalate_after=timedelta(hours=4),
        slots=[_consultation_slot("open-care", local(2026, 10, 20, 13, 0), 4, 30, "team-a")],
        report=OutcomeReport(
            NOW, NOW, None, NOW, (Measure("protection_on_time", "", "", "share", (), None, None, None),)
        ),
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
    await assign_batch(pool, [received(REFERRAL, at=NOW)])
    row = await pool.fetchrow("SELECT team, caseworker FROM assignments WHERE referral_id = $1", REFERRAL)
    await pool.close()
    assert row is not None
    app = create_app(settings, FixedClock(NOW))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://assignment") as client:
            world = World(HttpStaffApi(client, client), REFERRAL, row["team"], row["caseworker"], "", set())
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


# The working environment (issue 22): overload flags, consultations, incidents, safety flag, report.


def _other_team_manager(world: World) -> Caller:
    return world.caller("mgr-b" if world.manager != "mgr-b" else "mgr-c", "manager")


async def _board_row(world: World) -> WorkloadRow:
    rows = await world.api.workload(world.caller(world.manager, "manager"))
    (row,) = [r for r in rows if r.staff_id == world.caseworker]
    return row


async def test_a_caseworker_flags_overload_once_and_their_manager_sees_it(world: World) -> None:
    me = world.assignee()
    raised = await world.api.raise_overload_flag(me, world.caseworker, "Tre akuta på en dag")
    assert (raised.raised_at, raised.escalate_at) == (NOW, local(2026, 10, 20, 14, 0))  # 4 office hours
    with pytest.raises(UpstreamRejected):
        await world.api.raise_overload_flag(me, world.caseworker, None)
    with pytest.raises(UpstreamDenied):
        await world.api.raise_overload_flag(world.caller(world.manager, "manager"), world.caseworker, None)
    (own,) = await world.api.overload_flags(me, {"staff": "me"})
    assert (own.flag_id, own.staff, own.team, own.note, own.action) == (
        raised.flag_id,
        world.caseworker,
        world.team,
        "Tre akuta på en dag",
        None,
    )
    manager = world.caller(world.manager, "manager")
    listed = await world.api.overload_flags(manager, {"team": world.team, "open": "true"})
    assert [f.flag_id for f in listed] == [raised.flag_id]
    assert await world.api.overload_flags(_other_team_manager(world), {}) == []
    for viewer in (manager, world.caller("head", "head_of_unit")):  # the flag page lists and picks
        assert raised.flag_id in {f.flag_id for f in await world.api.overload_flags(viewer, {})}
    with pytest.raises(UpstreamDenied):
        await world.api.overload_flags(me, {})
    assert (await _board_row(world)).overload == Overload(raised.flag_id, "open", None)


async def test_relieving_needs_a_factor_and_a_future_until_and_shows_on_the_board(world: World) -> None:
    raised = await world.api.raise_overload_flag(world.assignee(), world.caseworker, None)
    manager = world.caller(world.manager, "manager")
    last_day_midnight = local(2026, 10, 24, 0, 0)  # the web sends the midnight after the chosen last day
    relieve = {"action": "relieve", "capacity_factor": 0.5, "comment": "Inga nya ärenden denna vecka"}
    for body, field in [
        (relieve | {"capacity_factor": None, "until": last_day_midnight.isoformat()}, "capacity_factor"),
        (relieve, "until"),
        (relieve | {"until": (NOW - timedelta(hours=1)).isoformat()}, "until"),
        (relieve | {"until": last_day_midnight.isoformat(), "comment": " "}, "comment"),
    ]:
        with pytest.raises(UpstreamRejected) as refused:
            await world.api.respond_overload_flag(manager, raised.flag_id, body)
        assert field in refused.value.reason
    with pytest.raises(UpstreamDenied):
        await world.api.respond_overload_flag(
            _other_team_manager(world), raised.flag_id, relieve | {"until": last_day_midnight.isoformat()}
        )
    form = {"action": "relieve", "capacity_percent": "50", "until": "2026-10-23", "comment": "Inga nya"}
    answered = await world.api.respond_overload_flag(
        manager, raised.flag_id, response_body(form, NOW.date())
    )  # as the page sends it
    assert (answered.action, answered.capacity_factor, answered.until, answered.responded_by) == (
        "relieve",
        0.5,
        last_day_midnight,
        world.manager,
    )
    assert (answered.responded_at, answered.response_seconds) == (NOW, 0)
    assert (await _board_row(world)).overload == Overload(raised.flag_id, "relieved", last_day_midnight)
    with pytest.raises(UpstreamRejected):
        await world.api.respond_overload_flag(manager, raised.flag_id, {"action": "keep", "comment": "Igen"})


async def test_reassigning_moves_only_the_flagged_persons_open_referrals_and_keep_clears_the_board(
    world: World,
) -> None:
    manager = world.caller(world.manager, "manager")
    first = await world.api.raise_overload_flag(world.assignee(), world.caseworker, None)
    for ids in ([], ["00000000-0000-0000-0000-000000000bad"]):
        with pytest.raises(UpstreamRejected) as refused:
            await world.api.respond_overload_flag(
                manager, first.flag_id, {"action": "reassign", "referral_ids": ids, "comment": "Flyttar"}
            )
        assert "referral_ids" in refused.value.reason
    moved = await world.api.respond_overload_flag(
        manager,
        first.flag_id,
        {"action": "reassign", "referral_ids": [world.referral_id], "comment": "Flyttar"},
    )
    assert (moved.action, moved.reassigned) == ("reassign", 1)
    state = await world.api.referral(manager, world.referral_id)
    assert state.team == world.team and state.caseworker != world.caseworker
    second = await world.api.raise_overload_flag(world.assignee(), world.caseworker, None)
    kept = await world.api.respond_overload_flag(
        manager, second.flag_id, {"action": "keep", "comment": "Vi ses"}
    )
    assert (kept.action, kept.capacity_factor, kept.until) == ("keep", None, None)
    assert (await _board_row(world)).overload is None
    history = await world.api.overload_flags(world.assignee(), {"staff": "me"})
    assert sorted(f.action for f in history) == ["keep", "reassign"]  # same raised_at: order by id


async def test_consultations_are_booked_in_the_next_free_times_and_cancelled_by_the_booker(
    world: World,
) -> None:
    partner, me = world.caller("partner-1", "partner"), world.assignee()
    on_duty = (await world.api.on_duty(me, NOW)).team
    with pytest.raises(UpstreamRejected) as refused:
        await world.api.book_consultation(partner, "", None)
    assert "topic" in refused.value.reason
    new = await world.api.book_consultation(partner, "Samverkan kring en familj", None)
    assert (new.slot, new.team, new.starts_at, new.ends_at) == (
        "open-care",
        on_duty,
        local(2026, 10, 20, 13, 0),
        local(2026, 10, 20, 13, 30),
    )
    assert (new.topic, new.requester, new.referral_id, new.cancelled_at) == (
        "Samverkan kring en familj",
        "partner-1",
        None,
        None,
    )
    for_referral = await world.api.book_consultation(me, "Behov av stöd i skolan", world.referral_id)
    assert (for_referral.team, for_referral.starts_at, for_referral.referral_id) == (
        world.team,
        local(2026, 10, 20, 13, 30),
        world.referral_id,
    )
    assert [c.consultation_id for c in await world.api.consultations(partner)] == [new.consultation_id]
    for stranger in (world.caller("cw-b1", "caseworker"), _other_team_manager(world)):
        with pytest.raises(UpstreamDenied):
            await world.api.cancel_consultation(stranger, new.consultation_id)
    cancelled = await world.api.cancel_consultation(partner, new.consultation_id)
    assert (cancelled.consultation_id, cancelled.cancelled_at) == (new.consultation_id, NOW)
    ((mine),) = await world.api.consultations(partner)
    assert (mine.topic, mine.cancelled_at) == ("Samverkan kring en familj", NOW)
    with pytest.raises(UpstreamRejected):  # a second click: the web says it was cancelled already
        await world.api.cancel_consultation(partner, new.consultation_id)
    await world.api.cancel_consultation(world.caller(world.manager, "manager"), for_referral.consultation_id)


async def test_meeting_slots_show_free_and_booked_times_and_who_booked_only_to_staff_and_the_booker(
    world: World,
) -> None:
    partner, other_partner = world.caller("partner-1", "partner"), world.caller("partner-2", "partner")
    booked = await world.api.book_consultation(world.assignee(), "Råd om placering", world.referral_id)

    async def open_care(caller: Caller) -> MeetingSlot:
        slots = await world.api.meeting_slots(caller, world.team, date(2026, 10, 20), date(2026, 10, 20))
        (slot,) = [s for s in slots if s.slot == "open-care"]
        return slot

    staff_view = await open_care(world.caller(world.manager, "manager"))
    assert (staff_view.kind, staff_view.teams, staff_view.starts_at, staff_view.ends_at) == (
        "consultation",
        (world.team,),
        local(2026, 10, 20, 13, 0),
        local(2026, 10, 20, 15, 0),
    )
    assert [(b.starts_at, b.booked, b.consultation_id, b.requester) for b in staff_view.bookings] == [
        (local(2026, 10, 20, 13, 0), True, booked.consultation_id, world.caseworker),
        (local(2026, 10, 20, 13, 30), False, None, None),
        (local(2026, 10, 20, 14, 0), False, None, None),
        (local(2026, 10, 20, 14, 30), False, None, None),
    ]
    first = (await open_care(partner)).bookings[0]
    assert (first.booked, first.consultation_id, first.requester) == (True, None, None)
    own = await world.api.book_consultation(other_partner, "Samråd", None)
    shown = [(b.consultation_id, b.requester) for b in (await open_care(other_partner)).bookings if b.booked]
    assert shown == [(None, None), (own.consultation_id, "partner-2")]


async def test_an_incident_is_recorded_listed_by_team_and_counted_in_the_quarter(world: World) -> None:
    me, manager = world.assignee(), world.caller(world.manager, "manager")
    with pytest.raises(UpstreamRejected):
        await world.api.record_incident(me, date(2026, 10, 21), "threat", "phone", None)  # tomorrow
    incident = await world.api.record_incident(me, date(2026, 10, 19), "threat", "phone", world.referral_id)
    assert (incident.team, incident.recorded_by, incident.referral_id, incident.recorded_at) == (
        world.team,
        world.caseworker,
        world.referral_id,
        NOW,
    )
    await world.api.record_incident(manager, date(2026, 10, 1), "harassment", "email", None)
    window = {"from": "2026-10-01", "to": "2026-10-31"}
    listed = await world.api.incidents(manager, window | {"team": world.team})
    assert sorted(i.type for i in listed) == ["harassment", "threat"]
    assert [i.incident_id for i in await world.api.incidents(me, window)] == [incident.incident_id]
    assert await world.api.incidents(_other_team_manager(world), window) == []
    summary = await world.api.incident_summary(manager, "2026Q4", None)
    assert (summary.quarter, summary.start, summary.end, summary.total) == (
        "2026Q4",
        date(2026, 10, 1),
        date(2026, 12, 31),
        2,
    )
    assert summary.by_type == (("harassment", 1), ("threat", 1), ("violence", 0))  # every type
    assert summary.by_team == ((world.team, (("harassment", 1), ("threat", 1))),)
    assert summary.by_channel == (("email", 1), ("phone", 1))
    with pytest.raises(UpstreamDenied):
        await world.api.incident_summary(me, "2026Q4", None)
    for quarter in ("1999Q4", "2026Q5"):
        with pytest.raises(UpstreamRejected):
            await world.api.incident_summary(manager, quarter, None)
    with pytest.raises(UpstreamDenied):  # partners book consultations and do nothing else
        await world.api.record_incident(
            world.caller("partner-1", "partner"), date(2026, 10, 19), "threat", "phone", None
        )


async def test_the_safety_flag_is_set_by_those_related_shows_in_the_queue_and_is_cleared(
    world: World,
) -> None:
    with pytest.raises(UpstreamDenied):
        await world.api.set_safety_flag(
            world.caller("cw-b1", "caseworker"), world.referral_id, "two_staff_home_visits"
        )
    await world.api.set_safety_flag(world.assignee(), world.referral_id, "two_staff_home_visits")
    (item,) = [i for i in await world.api.work_queue(world.assignee(), {"assignee": "me"})]
    assert item.safety_flag == "two_staff_home_visits"
    await world.api.set_safety_flag(world.caller("in-1", "intake"), world.referral_id, None)
    assert (await world.api.referral(world.assignee(), world.referral_id)).safety_flag is None
    await world.api.set_safety_flag(
        world.caller(world.manager, "manager"), world.referral_id, "two_staff_home_visits"
    )
    assert (
        await world.api.referral(world.assignee(), world.referral_id)
    ).safety_flag == "two_staff_home_visits"


async def test_the_outcome_report_is_the_head_of_units_only(world: World) -> None:
    head = world.caller("head", "head_of_unit")
    report = await world.api.outcome_report(head, date(2026, 1, 1), date(2026, 10, 19), date(2026, 6, 1))
    assert (report.start, report.end, report.change_date) == (
        date(2026, 1, 1),
        date(2026, 10, 19),
        date(2026, 6, 1),
    )
    assert "protection_on_time" in {m.id for m in report.measures}
    assert {m.unit for m in report.measures} <= {"days", "share", "count", "per_fte", "ratio"}
    for start, end, change, field in [
        (date(2026, 10, 19), date(2026, 1, 1), None, "to"),
        (date(2022, 1, 1), date(2026, 1, 1), None, "to"),  # more than three years
        (date(2026, 1, 1), date(2026, 10, 19), date(2026, 12, 1), "change_date"),
    ]:
        with pytest.raises(UpstreamRejected) as refused:
            await world.api.outcome_report(head, start, end, change)
        assert field in refused.value.reason
    with pytest.raises(UpstreamDenied):
        await world.api.outcome_report(
            world.caller(world.manager, "manager"), date(2026, 1, 1), date(2026, 10, 19), None
        )


async def test_every_consultation_time_is_listed_per_team_when_no_team_is_asked(world: World) -> None:
    slots = await world.api.meeting_slots(world.assignee(), None, date(2026, 10, 20), date(2026, 10, 20))
    consultations = [s for s in slots if s.kind == "consultation"]
    assert world.team in {s.teams[0] for s in consultations}
    assert all(len(s.teams) == 1 and len(s.bookings) == 4 for s in consultations)
