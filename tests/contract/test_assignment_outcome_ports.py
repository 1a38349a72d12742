"""Assignment's `OutcomeRecords` port against the in-memory fake and Postgres: which cases and
absences a period reads, with every clock the report needs, and the overload flags and incidents
stored through their own stores (migrations 008 and 010)."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import pytest

from services.assignment.domain.incidents import Incident
from services.assignment.domain.outcome import AbsenceRecord, CaseRecord, FlagRecord, IncidentRecord
from services.assignment.domain.overload import OverloadFlag
from services.assignment.domain.workload import Absence
from tests.assignment_support import T0, TZ, new_assignment

START, END = T0 - timedelta(days=30), T0 + timedelta(days=30)


@pytest.fixture
def uow(assignment_uow: Callable[[], Any]) -> Callable[[], Any]:
    """Assignment units of work on the fake and on Postgres (tests/contract/conftest.py)."""
    return assignment_uow


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
    assert data.flags == () and data.incidents == ()  # none were raised or recorded


async def test_a_period_reads_the_flags_raised_and_incidents_occurred_in_it(uow: Callable[[], Any]) -> None:
    flags = [("cw-a1", "team-a", T0), ("cw-b1", "team-b", END + timedelta(seconds=1))]
    incidents = [(T0.date(), None), (date(2020, 1, 1), "team-a")]
    async with uow() as u:
        for staff, team, at in flags:
            flag = OverloadFlag(
                str(uuid.uuid4()), staff, team, "a synthetic note", at, at + timedelta(hours=4)
            )
            assert await u.overload_flags.add(flag)
        for day, team in incidents:
            await u.incidents.add(Incident(uuid.uuid4(), day, "threat", "phone", team, "cw-a1", None, T0))
        await u.commit()
    async with uow() as u:
        data = await u.outcome.read(START.astimezone(TZ), END.astimezone(TZ))
    assert data.flags == (FlagRecord(T0, "team-a"),)
    assert data.incidents == (IncidentRecord(T0.date(), "threat", None),)
