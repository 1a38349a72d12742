"""Assignment's `OutcomeRecords` port against the in-memory fake and Postgres: which cases and
absences a period reads, with every clock the report needs; and, in Postgres, the overload flags
and incidents of issue 22's other migrations, read when their tables exist and skipped while
they do not."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import date, timedelta
from typing import Any

import pytest

from services.assignment.adapters.memory import InMemoryAssignmentUnitOfWork
from services.assignment.adapters.memory_stores import AssignmentTables
from services.assignment.adapters.postgres import PostgresAssignmentUnitOfWork
from services.assignment.domain.outcome import AbsenceRecord, CaseRecord, FlagRecord, IncidentRecord
from services.assignment.domain.workload import Absence
from shared.clock import FixedClock
from tests.assignment_support import T0, TZ, new_assignment
from tests.conftest import migrated_pool

START, END = T0 - timedelta(days=30), T0 + timedelta(days=30)


@pytest.fixture(params=["memory", "postgres"])
async def uow(request: pytest.FixtureRequest) -> AsyncIterator[Callable[[], Any]]:
    if request.param == "memory":
        tables = AssignmentTables()
        yield lambda: InMemoryAssignmentUnitOfWork(tables, FixedClock(T0))
        return
    server = request.getfixturevalue("postgres_server")
    async with migrated_pool(server, "services.assignment.migrations", "assignment") as pool:
        yield lambda: PostgresAssignmentUnitOfWork(pool)


async def store(uow: Callable[[], Any], rid: str, received_days: int, **changes: Any) -> None:
    a = new_assignment(rid, "cw-a1", received_at=T0 + timedelta(days=received_days))
    async with uow() as u:
        await u.assignments.add([a])
        if changes:
            before = await u.cases.get(rid)
            await u.cases.save(before, dataclasses.replace(before, **changes))
        await u.commit()


async def test_a_period_reads_the_cases_that_touch_it_with_their_clocks(uow: Callable[[], Any]) -> None:
    closed_before = T0 - timedelta(days=31)
    await store(uow, "r-closed-before", -200, status="closed", closed_at=closed_before)
    await store(uow, "r-open", -10)
    await store(uow, "r-later", 40)
    opened = (T0 - timedelta(days=90)).date()
    await store(
        uow,
        "r-done",
        -100,
        protection_assessed_at=T0 - timedelta(days=100),
        decided_at=T0 - timedelta(days=90),
        decision="investigate",
        investigation_opened_on=opened,
        status="closed",
        closed_at=T0 + timedelta(days=5),
    )
    async with uow() as u:
        data = await u.outcome.read(START, END)
    assert [c.referral_id for c in data.cases] == ["r-done", "r-open"]
    done = data.cases[0]
    assert done == CaseRecord(
        "r-done",
        "team-a",
        "cw-a1",
        T0 - timedelta(days=100),
        T0 - timedelta(days=100) + timedelta(hours=8),
        T0 - timedelta(days=100),
        T0 - timedelta(days=100) + timedelta(days=14),
        T0 - timedelta(days=90),
        opened,
        T0 + timedelta(days=5),
    )
    assert data.cases[1].decided_at is None and data.cases[1].closed_at is None


async def test_a_period_reads_the_absences_that_overlap_its_days(uow: Callable[[], Any]) -> None:
    first, last = START.astimezone(TZ).date(), END.astimezone(TZ).date()
    async with uow() as u:
        await u.absences.add(
            Absence("cw-a1", first - timedelta(days=5), first - timedelta(days=1), "sick"), "m"
        )
        await u.absences.add(Absence("cw-a1", first - timedelta(days=2), first, "sick"), "m")
        await u.absences.add(Absence("cw-a2", last, last + timedelta(days=3), "leave"), "m")
        await u.commit()
    async with uow() as u:
        data = await u.outcome.read(START.astimezone(TZ), END.astimezone(TZ))
    assert data.absences == (
        AbsenceRecord("cw-a1", first - timedelta(days=2), first, "sick"),
        AbsenceRecord("cw-a2", last, last + timedelta(days=3), "leave"),
    )
    assert data.flags == () and data.incidents == ()  # no such tables (yet) on this schema


async def test_postgres_reads_flags_and_incidents_once_their_tables_exist(postgres_server: Any) -> None:
    async with migrated_pool(postgres_server, "services.assignment.migrations", "assignment") as pool:
        async with pool.acquire() as conn:
            # The agreed shapes (issue 22 migrations 008 and 010, made by other engineers).
            await conn.execute(
                "CREATE TABLE overload_flags (flag_id uuid PRIMARY KEY, staff_id text, team text, note text,"
                " raised_at timestamptz, escalate_at timestamptz, escalated_at timestamptz, action text,"
                " responded_by text, responded_at timestamptz, comment text, capacity_factor numeric,"
                " relief_until timestamptz, reassigned int)"
            )
            await conn.execute(
                "CREATE TABLE incidents (incident_id uuid PRIMARY KEY, occurred_on date, type text,"
                " channel text, team text, recorded_by text, referral_id uuid, recorded_at timestamptz)"
            )
            for at, team in ((T0, "team-a"), (END + timedelta(seconds=1), "team-b")):
                await conn.execute(
                    "INSERT INTO overload_flags (flag_id, staff_id, team, note, raised_at)"
                    " VALUES ($1, 'cw-a1', $2, 'a synthetic note', $3)",
                    uuid.uuid4(),
                    team,
                    at,
                )
            for day, team in ((T0.date(), None), (date(2020, 1, 1), "team-a")):
                await conn.execute(
                    "INSERT INTO incidents VALUES ($1, $2, 'threat', 'phone', $3, 'cw-a1', NULL, $4)",
                    uuid.uuid4(),
                    day,
                    team,
                    T0,
                )
        async with PostgresAssignmentUnitOfWork(pool) as u:
            data = await u.outcome.read(START.astimezone(TZ), END.astimezone(TZ))
    assert data.flags == (FlagRecord(T0, "team-a"),)
    assert data.incidents == (IncidentRecord(T0.date(), "threat", None),)
