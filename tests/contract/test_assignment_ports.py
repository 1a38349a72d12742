"""Assignment's ports (services/assignment/ports.py), run against the in-memory fakes and Postgres.

What the use cases rely on: one assignment per referral (its event only with it); earlier cases
of a child and family newest first, at most PRIOR_LIMIT; who is absent or returning as of a day;
loads that follow every change of a case exactly (the trigger, or the fake's sums); cases that
read back as saved; overrides and absences in order; each alert and handover recorded once.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any

import pytest

from services.assignment.adapters.memory import InMemoryAssignmentUnitOfWork
from services.assignment.adapters.memory_stores import AssignmentTables, new_case
from services.assignment.adapters.postgres import PostgresAssignmentUnitOfWork
from services.assignment.domain.access import Actor
from services.assignment.domain.batch import PRIOR_LIMIT, FactsQuery, NewAssignment
from services.assignment.domain.cases import Extension
from services.assignment.domain.deadlines import Alert
from services.assignment.domain.model import Load, Override
from services.assignment.domain.queues import QueueEntry, QueueFilter, queue_query
from services.assignment.domain.registration import Registration
from services.assignment.domain.rotation import Handover
from services.assignment.domain.workload import Absence
from shared.clock import FixedClock
from tests.assignment_support import T0, UNIT
from tests.assignment_support import new_assignment as assignment
from tests.conftest import migrated_pool

DAY = T0.date()


@dataclass
class Backend:
    unit_of_work: Callable[[], Any]
    published: Callable[[], Awaitable[list[uuid.UUID]]]
    extensions: Callable[[], Awaitable[list[Extension]]]


@pytest.fixture(params=["memory", "postgres"])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    if request.param == "memory":
        tables = AssignmentTables()
        clock = FixedClock(T0)

        async def published_in_memory() -> list[uuid.UUID]:
            return [row[0] for row in tables.outbox]

        async def extensions_in_memory() -> list[Extension]:
            return list(tables.extensions)

        yield Backend(
            lambda: InMemoryAssignmentUnitOfWork(tables, clock), published_in_memory, extensions_in_memory
        )
        return
    server = request.getfixturevalue("postgres_server")
    async with migrated_pool(server, "services.assignment.migrations", "assignment") as pool:

        async def published_in_postgres() -> list[uuid.UUID]:
            return [r["event_id"] for r in await pool.fetch("SELECT event_id FROM outbox ORDER BY id")]

        async def extensions_in_postgres() -> list[Extension]:
            rows = await pool.fetch(
                "SELECT referral_id, decided_on, decided_by, new_due, reason FROM investigation_extensions"
                " ORDER BY id"
            )
            return [Extension(*r) for r in rows]

        yield Backend(
            lambda: PostgresAssignmentUnitOfWork(pool), published_in_postgres, extensions_in_postgres
        )


def query(
    child: str = "c-x", family: str = "f-x", *, referral_id: str = "R-q", day: date = DAY
) -> FactsQuery:
    return FactsQuery(referral_id, T0, child, family, day, day - timedelta(days=5))


async def store(backend: Backend, *rows: tuple[NewAssignment, Any]) -> None:
    async with backend.unit_of_work() as uow:
        await uow.assignments.add(list(rows))
        await uow.commit()


# --- assignments -------------------------------------------------------------------------------


async def test_a_referral_is_assigned_once_and_its_event_comes_only_with_the_first(backend: Backend) -> None:
    first, first_event = assignment("R-1", "cw-a1")
    again, again_event = assignment("R-1", "cw-a2")
    also, also_event = assignment("R-1", "cw-a3")
    await store(backend, (first, first_event))
    await store(backend, (again, again_event), (also, also_event))

    async with backend.unit_of_work() as uow:
        case = await uow.cases.get("R-1")
        facts = await uow.assignments.read_before_lock([query(referral_id="R-1"), query(referral_id="R-2")])
    assert case is not None and case.caseworker == "cw-a1"
    assert [f.assigned for f in facts] == [True, False]
    assert await backend.published() == [first_event[0]]


async def test_within_one_call_the_first_assignment_of_a_referral_wins(backend: Backend) -> None:
    first, first_event = assignment("R-1", "cw-a1")
    second, second_event = assignment("R-1", "cw-a2")
    await store(backend, (first, first_event), (second, second_event))
    async with backend.unit_of_work() as uow:
        case = await uow.cases.get("R-1")
    assert case is not None and case.caseworker == "cw-a1"
    assert await backend.published() == [first_event[0]]


async def test_a_stored_assignment_reads_back_as_the_case_it_opens(backend: Backend) -> None:
    a, event = assignment("R-1", "cw-b2", team="team-b", weight=225, feedback=True)
    await store(backend, (a, event))
    async with backend.unit_of_work() as uow:
        assert await uow.cases.get("R-1") == new_case(a)
        assert await uow.cases.get_for_update("R-1") == new_case(a)
        assert await uow.cases.get("R-none") is None
        assert await uow.cases.get_for_update("R-none") is None


async def test_earlier_cases_of_the_child_and_the_family_come_newest_first(backend: Backend) -> None:
    await store(backend, assignment("R-1", "cw-a1", child="c-1", family="f-1"))
    await store(backend, assignment("R-2", "cw-a2", child="c-2", family="f-1"))
    await store(backend, assignment("R-3", "cw-b1", team="team-b", child="c-1", family="f-9"))
    await store(backend, assignment("R-4", "cw-a4", child="c-4", family="f-4"))  # unrelated
    async with backend.unit_of_work() as uow:
        [facts] = await uow.assignments.read_before_lock([query("c-1", "f-1")])
        [none] = await uow.assignments.read_before_lock([query("c-7", "f-7")])
    assert [(p.caseworker, p.team, p.child_key, p.family_key, p.closed_at) for p in facts.prior] == [
        ("cw-b1", "team-b", "c-1", "f-9", None),
        ("cw-a2", "team-a", "c-2", "f-1", None),
        ("cw-a1", "team-a", "c-1", "f-1", None),
    ]
    assert none.prior == ()


async def test_at_most_prior_limit_earlier_cases_are_read_the_newest(backend: Backend) -> None:
    rows = [assignment(f"R-{n:03}", family="f-big") for n in range(PRIOR_LIMIT + 5)]
    await store(backend, *rows)
    async with backend.unit_of_work() as uow:
        [facts] = await uow.assignments.read_before_lock([query("c-new", "f-big")])
    assert len(facts.prior) == PRIOR_LIMIT
    assert {p.child_key for p in facts.prior} == {f"c-R-{n:03}" for n in range(5, PRIOR_LIMIT + 5)}


async def test_a_closed_case_is_an_earlier_case_with_its_closing_time(backend: Backend) -> None:
    await store(backend, assignment("R-1", child="c-1"))
    closed_at = T0 + timedelta(days=3)
    async with backend.unit_of_work() as uow:
        case = await uow.cases.get_for_update("R-1")
        await uow.cases.save(case, replace(case, status="closed", closed_at=closed_at))
        await uow.commit()
    async with backend.unit_of_work() as uow:
        [facts] = await uow.assignments.read_before_lock([query("c-1", "f-x")])
    assert [p.closed_at for p in facts.prior] == [closed_at]


async def test_facts_hold_the_overrides_covering_the_instant_oldest_first(backend: Backend) -> None:
    async with backend.unit_of_work() as uow:
        await uow.overrides.add(
            Override("team-c", T0 - timedelta(hours=1), T0 + timedelta(hours=1), "a"), "m"
        )
        await uow.overrides.add(Override("team-b", T0 - timedelta(days=1), T0, "ended"), "m")
        await uow.overrides.add(Override("team-a", T0, T0 + timedelta(days=1), "b"), "m")
        await uow.commit()
    async with backend.unit_of_work() as uow:
        [facts] = await uow.assignments.read_before_lock([query()])
    assert [(o.team, o.reason) for o in facts.overrides] == [("team-c", "a"), ("team-a", "b")]


async def test_facts_name_who_is_absent_and_who_is_back_within_the_return_days(backend: Backend) -> None:
    absences = [
        Absence("cw-away", DAY - timedelta(days=2), DAY + timedelta(days=2), "sick"),
        Absence("cw-back", DAY - timedelta(days=10), DAY - timedelta(days=1), "leave"),
        Absence("cw-back-long-ago", DAY - timedelta(days=20), DAY - timedelta(days=6), "leave"),
        Absence("cw-away-again", DAY - timedelta(days=9), DAY - timedelta(days=3), "leave"),
        Absence("cw-away-again", DAY, DAY, "course"),
        Absence("cw-later", DAY + timedelta(days=1), DAY + timedelta(days=3), "course"),
        Absence("cw-back-at-edge", DAY - timedelta(days=9), DAY - timedelta(days=5), "other"),
    ]
    async with backend.unit_of_work() as uow:
        for absence in absences:
            await uow.absences.add(absence, "m")
        await uow.commit()
    async with backend.unit_of_work() as uow:
        [facts] = await uow.assignments.read_before_lock([query()])
    assert facts.absent == {"cw-away", "cw-away-again"}
    assert facts.returning == {"cw-back", "cw-back-at-edge"}


async def test_one_read_answers_each_query_in_order(backend: Backend) -> None:
    await store(backend, assignment("R-1", child="c-1"))
    async with backend.unit_of_work() as uow:
        facts = await uow.assignments.read_before_lock(
            [query("c-1", "f-1", referral_id="R-1"), query("c-2", "f-2"), query("c-1", "f-2")]
        )
    assert [(f.assigned, len(f.prior)) for f in facts] == [(True, 1), (False, 0), (False, 1)]


# --- loads ------------------------------------------------------------------------------------


async def test_a_teams_loads_follow_its_open_cases_exactly_and_show_the_unit_of_works_start(
    backend: Backend,
) -> None:
    async with backend.unit_of_work() as uow:
        await uow.assignments.add(
            [
                assignment("R-1", "cw-a1", weight=125),
                assignment("R-2", "cw-a1", weight=75, day=DAY - timedelta(days=1)),
                assignment("R-3", "cw-a2", weight=150),
                assignment("R-4", "cw-b1", team="team-b", weight=100),
            ]
        )
        [facts] = await uow.assignments.read_before_lock([query()])
        loads = await uow.assignments.team_loads("team-a", DAY, ["cw-a1", "cw-a2", "cw-a3"])
    assert loads == {
        "cw-a1": Load(200, 2, facts.now, 1),
        "cw-a2": Load(150, 1, facts.now, 1),
        "cw-a3": Load(),
    }


async def test_closing_and_reassigning_a_case_move_the_loads(backend: Backend) -> None:
    async with backend.unit_of_work() as uow:
        await uow.assignments.add(
            [assignment("R-1", "cw-a1", weight=125), assignment("R-2", "cw-a1", weight=50)]
        )
        [facts] = await uow.assignments.read_before_lock([query()])
        started = facts.now
        await uow.commit()
    async with backend.unit_of_work() as uow:
        one, two = await uow.cases.get_for_update("R-1"), await uow.cases.get_for_update("R-2")
        await uow.assignments.lock_teams({"team-a", "team-b"})
        await uow.cases.save(one, replace(one, status="closed", closed_at=T0))
        await uow.cases.save(two, replace(two, team="team-b", caseworker="cw-b3", reason="manual"))
        await uow.commit()
    async with backend.unit_of_work() as uow:
        team_a = await uow.assignments.team_loads("team-a", DAY, ["cw-a1"])
        team_b = await uow.assignments.team_loads("team-b", DAY, ["cw-b3"])
        everyone = await uow.assignments.open_loads()
    assert team_a == {"cw-a1": Load(0, 0, started, 1)}  # R-1 closed, R-2 moved; R-1 still counts today
    assert team_b == {"cw-b3": Load(50, 1, started, 1)}
    assert {cw: load for cw, load in everyone.items() if load.open_cases} == {"cw-b3": Load(50, 1)}


async def test_open_loads_add_up_a_caseworkers_open_cases_over_teams(backend: Backend) -> None:
    await store(
        backend,
        assignment("R-1", "cw-a1", weight=125),
        assignment("R-2", "cw-a1", team="team-b", weight=100),
        assignment("R-3", "cw-a2", weight=75),
    )
    async with backend.unit_of_work() as uow:
        loads = await uow.assignments.open_loads()
    assert loads == {"cw-a1": Load(225, 2), "cw-a2": Load(75, 1)}


async def test_teams_can_be_locked_whether_or_not_locked_before(backend: Backend) -> None:
    for _ in range(2):
        async with backend.unit_of_work() as uow:
            await uow.assignments.lock_teams({"team-a", "team-b"})
            await uow.assignments.lock_teams(["team-b", "team-c", "team-b"])
            await uow.assignments.lock_teams([])
            await uow.commit()


async def test_nothing_stored_without_a_commit(backend: Backend) -> None:
    async with backend.unit_of_work() as uow:
        await uow.assignments.add([assignment("R-1")])
    async with backend.unit_of_work() as uow:
        assert await uow.cases.get("R-1") is None
        assert await uow.assignments.open_loads() == {}
    assert await backend.published() == []


# --- cases ------------------------------------------------------------------------------------


async def test_a_saved_case_reads_back_with_every_change_and_an_extension_is_kept(backend: Backend) -> None:
    await store(backend, assignment("R-1", feedback=True))
    decided = T0 + timedelta(days=2)
    async with backend.unit_of_work() as uow:
        case = await uow.cases.get_for_update("R-1")
        after = replace(
            case,
            status="investigating",
            acknowledged_at=T0 + timedelta(hours=1),
            protection_assessed_at=T0 + timedelta(hours=2),
            protection_outcome="no_immediate_need",
            decided_at=decided,
            decision="open_investigation",
            investigation_opened_on=DAY + timedelta(days=2),
            investigation_due=decided + timedelta(days=120),
            feedback_due=decided + timedelta(days=7),
        )
        await uow.cases.save(case, after)
        extension = Extension("R-1", DAY + timedelta(days=100), "mgr-a", decided + timedelta(days=150), "why")
        await uow.cases.add_extension(extension)
        await uow.commit()
    async with backend.unit_of_work() as uow:
        assert await uow.cases.get("R-1") == after
    assert await backend.extensions() == [extension]


async def test_saving_a_case_unchanged_changes_nothing(backend: Backend) -> None:
    await store(backend, assignment("R-1"))
    async with backend.unit_of_work() as uow:
        case = await uow.cases.get_for_update("R-1")
        await uow.cases.save(case, case)
        await uow.commit()
    async with backend.unit_of_work() as uow:
        assert await uow.cases.get("R-1") == case


# --- overrides and absences ------------------------------------------------------------------


async def test_overrides_overlapping_a_window_come_oldest_first_with_increasing_ids(backend: Backend) -> None:
    windows = [
        Override("team-a", T0, T0 + timedelta(days=1), "1"),
        Override("team-b", T0 - timedelta(days=3), T0 - timedelta(days=2), "before"),
        Override("team-c", T0 + timedelta(hours=12), T0 + timedelta(days=3), "2"),
        Override("team-b", T0 - timedelta(days=1), T0, "ends at the start"),
    ]
    async with backend.unit_of_work() as uow:
        ids = [await uow.overrides.add(o, "mgr-a") for o in windows]
        await uow.commit()
    assert ids == sorted(ids) and len(set(ids)) == 4
    async with backend.unit_of_work() as uow:
        found = await uow.overrides.between(T0, T0 + timedelta(hours=12))
        at_an_instant = await uow.overrides.between(T0 + timedelta(hours=12), T0 + timedelta(hours=12))
    assert [o.reason for o in found] == ["1", "2"]
    assert [o.reason for o in at_an_instant] == ["1", "2"]
    assert found[0] == windows[0]


async def test_absences_not_over_before_a_day_come_by_first_day(backend: Backend) -> None:
    absences = [
        Absence("cw-a1", DAY + timedelta(days=3), DAY + timedelta(days=4), "course"),
        Absence("cw-a2", DAY - timedelta(days=5), DAY - timedelta(days=1), "sick"),
        Absence("cw-a3", DAY - timedelta(days=1), DAY, "leave"),
    ]
    async with backend.unit_of_work() as uow:
        ids = [await uow.absences.add(a, "mgr-a") for a in absences]
        await uow.commit()
    assert ids == sorted(ids) and len(set(ids)) == 3
    async with backend.unit_of_work() as uow:
        assert await uow.absences.ending_on_or_after(DAY) == [absences[2], absences[0]]


async def test_ending_early_cuts_only_the_persons_absence_running_on_the_day_back(backend: Backend) -> None:
    running = Absence("cw-a1", DAY - timedelta(days=2), DAY + timedelta(days=5), "sick")
    later = Absence("cw-a1", DAY + timedelta(days=20), DAY + timedelta(days=25), "leave")
    other = Absence("cw-a2", DAY - timedelta(days=2), DAY + timedelta(days=5), "sick")
    starting = Absence("cw-a1", DAY + timedelta(days=1), DAY + timedelta(days=3), "course")
    async with backend.unit_of_work() as uow:
        for a in (running, later, other, starting):
            await uow.absences.add(a, "mgr-a")
        await uow.commit()
    async with backend.unit_of_work() as uow:
        assert await uow.absences.end_early("cw-a1", DAY + timedelta(days=1)) == 1
        await uow.commit()
    async with backend.unit_of_work() as uow:
        assert await uow.absences.end_early("cw-a1", DAY - timedelta(days=10)) == 0
        stored = await uow.absences.ending_on_or_after(DAY - timedelta(days=30))
    assert sorted(stored, key=lambda a: (a.staff_id, a.starts_on)) == [
        Absence("cw-a1", running.starts_on, DAY, "sick"), starting, later, other,
    ]  # fmt: skip


# --- deadline alerts and handovers -----------------------------------------------------------


async def test_open_deadlines_are_the_unmet_clocks_due_by_a_time_with_their_alerts(backend: Backend) -> None:
    await store(backend, assignment("R-open"), assignment("R-assessed"), assignment("R-closed"))
    async with backend.unit_of_work() as uow:
        assessed = await uow.cases.get_for_update("R-assessed")
        await uow.cases.save(assessed, replace(assessed, protection_assessed_at=T0 + timedelta(hours=1)))
        closed = await uow.cases.get_for_update("R-closed")
        await uow.cases.save(
            closed, replace(closed, status="closed", decided_at=T0, closed_at=T0, decision="no_investigation")
        )
        await uow.commit()
    protection_due, preliminary_due = T0 + timedelta(hours=8), T0 + timedelta(days=14)
    async with backend.unit_of_work() as uow:
        soon = await uow.scheduled.open_deadlines(protection_due)
        later = await uow.scheduled.open_deadlines(preliminary_due)
        [first] = [d for d in soon if d.referral_id == "R-open"]
        assert await uow.scheduled.add_alert(first, Alert("approaching", timedelta(hours=2)))
        await uow.commit()
    assert {(d.referral_id, d.name, d.due_at) for d in soon} == {
        ("R-open", "protection_assessment", protection_due)
    }
    assert {(d.referral_id, d.name) for d in later} == {
        ("R-open", "protection_assessment"),
        ("R-open", "preliminary_assessment"),
        ("R-assessed", "preliminary_assessment"),
    }
    assert (first.team, first.caseworker, first.family_key, first.emitted) == (
        "team-a",
        "cw-a1",
        "f-R-open",
        set(),
    )
    async with backend.unit_of_work() as uow:
        [again] = await uow.scheduled.open_deadlines(protection_due)
    assert again.emitted == {"approaching:7200"}


async def test_an_alert_is_recorded_once_per_due_time(backend: Backend) -> None:
    await store(backend, assignment("R-1"))
    async with backend.unit_of_work() as uow:
        [deadline] = await uow.scheduled.open_deadlines(T0 + timedelta(hours=8))
        breached = Alert("breached", None)
        assert await uow.scheduled.add_alert(deadline, breached)
        assert not await uow.scheduled.add_alert(deadline, breached)
        await uow.commit()
    async with backend.unit_of_work() as uow:
        assert not await uow.scheduled.add_alert(deadline, breached)
        moved = replace(deadline, due_at=deadline.due_at + timedelta(days=1))  # e.g. extended
        assert await uow.scheduled.add_alert(moved, breached)


async def test_a_handover_is_recorded_once(backend: Backend) -> None:
    handover = Handover("team-a", "team-b", T0, T0 + timedelta(days=14))
    async with backend.unit_of_work() as uow:
        assert await uow.scheduled.add_handover(handover)
        assert not await uow.scheduled.add_handover(handover)
        await uow.commit()
    async with backend.unit_of_work() as uow:
        assert not await uow.scheduled.add_handover(replace(handover, from_team="team-c"))
        assert await uow.scheduled.add_handover(replace(handover, at=T0 + timedelta(days=14)))


# --- registration and work queues (issue 19) ----------------------------------------------------

H = timedelta(hours=1)


def with_registration_due(row: tuple[NewAssignment, Any], due: Any) -> tuple[NewAssignment, Any]:
    a, event = row
    return replace(a, deadlines=replace(a.deadlines, registration_due=due)), event


async def test_a_registration_marks_the_case_and_the_first_one_counts(backend: Backend) -> None:
    await store(backend, with_registration_due(assignment("R-1"), T0 + 8 * H))
    async with backend.unit_of_work() as uow:
        await uow.cases.register(
            [Registration("R-1", T0 + H, "in-1"), Registration("R-1", T0 + 2 * H, "in-2")]
        )
        await uow.commit()
    async with backend.unit_of_work() as uow:
        await uow.cases.register([Registration("R-1", T0 + 3 * H, "in-3")])
        await uow.commit()
        case = await uow.cases.get("R-1")
        clocks = await uow.scheduled.open_deadlines(T0 + timedelta(days=30))
    assert case is not None
    assert (case.registration_due, case.registered_at, case.registered_by) == (T0 + 8 * H, T0 + H, "in-1")
    assert "registration" not in {d.name for d in clocks}


async def test_a_registration_before_the_assignment_is_copied_onto_it(backend: Backend) -> None:
    async with backend.unit_of_work() as uow:
        await uow.cases.register([Registration("R-1", T0 + H, "in-1")])
        await uow.commit()
    await store(backend, with_registration_due(assignment("R-1"), T0 + 8 * H))
    async with backend.unit_of_work() as uow:
        case = await uow.cases.get("R-1")
    assert case is not None and (case.registered_at, case.registered_by) == (T0 + H, "in-1")


async def test_an_unregistered_case_has_a_registration_clock_for_no_caseworker(backend: Backend) -> None:
    await store(backend, with_registration_due(assignment("R-1", "cw-a2"), T0 + 8 * H))
    async with backend.unit_of_work() as uow:
        clocks = await uow.scheduled.open_deadlines(T0 + 8 * H)
    [registration] = [d for d in clocks if d.name == "registration"]
    assert (registration.due_at, registration.caseworker, registration.team) == (T0 + 8 * H, None, "team-a")


async def queue_cases(backend: Backend) -> list[QueueEntry]:
    """Cases in every state a queue tells apart, as they read back."""
    rows = [
        with_registration_due(assignment("R-a1", "cw-a1"), T0 + 3 * H),
        with_registration_due(assignment("R-a5", "cw-a5"), T0 + 3 * H),
        with_registration_due(assignment("R-b1", "cw-b1", team="team-b"), T0 + 9 * H),
        with_registration_due(assignment("R-b2", "cw-b2", team="team-b"), T0 - H),
        with_registration_due(assignment("R-c1", "cw-c1", team="team-c"), T0 + 3 * H),
        with_registration_due(assignment("R-c2", "cw-c2", team="team-c"), T0 + 3 * H),
        assignment("R-old", "cw-c2", team="team-c"),  # assigned before issue 19: no registration clock
    ]
    rows[1] = (replace(rows[1][0], decision=replace(rows[1][0].decision, mentor="cw-a1")), rows[1][1])
    await store(backend, *rows)
    async with backend.unit_of_work() as uow:
        for referral_id, change in (
            ("R-b1", {"status": "protection_assessed", "protection_assessed_at": T0 + H}),
            ("R-c1", {"status": "closed", "decided_at": T0 + H, "decision": "no_investigation",
                      "closed_at": T0 + H}),
            ("R-c2", {"status": "closed", "decided_at": T0 + H, "decision": "no_investigation",
                      "closed_at": T0 + H}),
            # Closed, never registered, but from before the registration clock: not intake's work.
            ("R-old", {"status": "closed", "decided_at": T0 + H, "decision": "no_investigation",
                       "closed_at": T0 + H}),
        ):  # fmt: skip
            case = await uow.cases.get_for_update(referral_id)
            await uow.cases.save(case, replace(case, **change))
        await uow.cases.register([Registration("R-c2", T0 + H, "in-1"), Registration("R-a1", T0 + H, "in-2")])
        await uow.commit()
    async with backend.unit_of_work() as uow:
        cases = [await uow.cases.get(a.received.referral_id) for a, _ in rows]
    return [QueueEntry(c, ("neglect",)) for c in cases if c is not None]


QUEUE_ASKS = [
    (Actor("head", frozenset({"head_of_unit"})), QueueFilter()),
    (Actor("head", frozenset({"head_of_unit"})), QueueFilter(open=True)),
    (Actor("head", frozenset({"head_of_unit"})), QueueFilter(open=False)),
    (Actor("head", frozenset({"head_of_unit"})), QueueFilter(deadline="breached")),
    (Actor("head", frozenset({"head_of_unit"})), QueueFilter(deadline="approaching")),
    (Actor("head", frozenset({"head_of_unit"})), QueueFilter(deadline="ok")),
    (Actor("head", frozenset({"head_of_unit"})), QueueFilter(registered=True)),
    (Actor("head", frozenset({"head_of_unit"})), QueueFilter(registered=False, status="assigned")),
    (Actor("in-1", frozenset({"intake"})), QueueFilter()),
    (Actor("in-1", frozenset({"intake"})), QueueFilter(team="team-c")),
    (Actor("mgr-b", frozenset({"manager"})), QueueFilter()),
    (Actor("mgr-c", frozenset({"manager"})), QueueFilter(open=True)),
    (Actor("cw-c2", frozenset({"caseworker"})), QueueFilter(assignee="me", open=True)),
    (Actor("mgr-b", frozenset({"manager"})), QueueFilter(assignee="cw-b2", deadline="breached")),
    (Actor("cw-a1", frozenset({"caseworker"})), QueueFilter()),  # own and mentored
    (Actor("cw-a1", frozenset({"caseworker"})), QueueFilter(assignee="cw-a5")),
    (Actor("cw-c2", frozenset({"caseworker"})), QueueFilter(assignee="me", status="closed")),
]


@pytest.mark.parametrize("at", [T0, T0 + 2 * H, T0 + 10 * H], ids=["early", "reminders", "late"])
@pytest.mark.parametrize(("who", "filters"), QUEUE_ASKS)
async def test_a_queue_page_is_the_domains_page_of_every_case(
    backend: Backend, who: Actor, filters: QueueFilter, at: Any
) -> None:
    entries = await queue_cases(backend)
    q = queue_query(who, UNIT, filters, None, 50, at)
    async with backend.unit_of_work() as uow:
        found = await uow.queues.page(q)
    assert [e.case.referral_id for e in found] == [e.case.referral_id for e in q.page(entries)]
    assert found == q.page(entries)


async def test_open_true_leaves_the_closed_history_out_and_open_false_keeps_only_it(backend: Backend) -> None:
    await queue_cases(backend)
    head = Actor("head", frozenset({"head_of_unit"}))
    found = {}
    for open_ in (None, True, False):
        q = queue_query(head, UNIT, QueueFilter(open=open_), None, 50, T0)
        async with backend.unit_of_work() as uow:
            found[open_] = {e.case.referral_id: e.case.status for e in await uow.queues.page(q)}
    assert set(found[False]) == {"R-c1", "R-c2", "R-old"}
    assert (
        "closed" not in found[True].values()
        and found[True].keys() | found[False].keys() == found[None].keys()
    )


async def test_a_queue_read_page_by_page_with_the_cursor_is_the_whole_queue_once(backend: Backend) -> None:
    entries = await queue_cases(backend)
    q = queue_query(Actor("head", frozenset({"head_of_unit"})), UNIT, QueueFilter(), None, 2, T0)
    pages = []
    async with backend.unit_of_work() as uow:
        page = await uow.queues.page(q)
        while page:
            pages.append([e.case.referral_id for e in page])
            page = await uow.queues.page(replace(q, after=page[-1].key))
    assert [len(p) for p in pages] == [2, 2, 2, 1]
    assert [r for p in pages for r in p] == [e.case.referral_id for e in q.with_limit(50).page(entries)]
    assert pages[0] == ["R-b2", "R-a5"]  # breached first; then by due time, then id
    assert pages[-1] == ["R-old"]  # closed (and registered, or from before the clock): nothing runs
