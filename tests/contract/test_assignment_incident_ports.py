"""Assignment's `IncidentStore` and `SafetyFlagStore` ports (issue 22), run against the in-memory
fake and Postgres: incidents read back by the day they occurred, in one order; an id is stored
once; a safety flag lands on the case with its change kept, both or neither; nothing without a
commit."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import pytest

from services.assignment.domain.incidents import Incident
from services.assignment.domain.safety import SafetyFlagChange
from tests.assignment_support import T0, new_assignment

FLAG = "two_staff_home_visits"


@pytest.fixture
def uow(assignment_uow: Callable[[], Any]) -> Callable[[], Any]:
    """Assignment units of work on the fake and on Postgres (tests/contract/conftest.py)."""
    return assignment_uow


def incident(n: int, day: date, *, team: str | None = "team-a", minutes: int = 0) -> Incident:
    referral = f"R-{1000 + n}" if n % 2 else None
    return Incident(
        uuid.UUID(int=n), day, "threat", "phone", team, "cw-a1", referral, T0 + timedelta(minutes=minutes)
    )


async def test_incidents_read_back_by_day_then_recording_time_then_id(uow: Callable[[], Any]) -> None:
    stored = [
        incident(5, date(2026, 9, 2)),
        incident(3, date(2026, 9, 1), minutes=10),
        incident(4, date(2026, 9, 1), minutes=5, team=None),
        incident(2, date(2026, 9, 1), minutes=5),
        incident(1, date(2026, 10, 1)),
    ]
    async with uow() as u:
        for i in stored:
            await u.incidents.add(i)
        await u.commit()
    async with uow() as u:
        assert await u.incidents.between(date(2026, 9, 1), date(2026, 9, 30)) == [
            stored[3],
            stored[2],
            stored[1],
            stored[0],
        ]
        assert await u.incidents.between(date(2026, 10, 1), date(2026, 10, 1)) == [stored[4]]
        assert await u.incidents.between(date(2026, 8, 1), date(2026, 8, 31)) == []


async def test_an_incident_id_is_stored_once_and_nothing_without_a_commit(uow: Callable[[], Any]) -> None:
    async with uow() as u:
        await u.incidents.add(incident(1, date(2026, 9, 1)))
        await u.commit()
    with pytest.raises(Exception):  # noqa: B017, PT011 - the fake's ValueError, Postgres's UniqueViolation
        async with uow() as u:
            await u.incidents.add(incident(1, date(2026, 9, 2)))
    async with uow() as u:
        await u.incidents.add(incident(2, date(2026, 9, 3)))  # no commit
    async with uow() as u:
        assert [i.occurred_on for i in await u.incidents.between(date(2026, 1, 1), date(2026, 12, 31))] == [
            date(2026, 9, 1)
        ]


async def assigned(uow: Callable[[], Any], referral_id: str) -> None:
    async with uow() as u:
        await u.assignments.add([new_assignment(referral_id)])
        await u.commit()


async def test_a_flag_lands_on_the_case_with_its_change_and_clears(uow: Callable[[], Any]) -> None:
    await assigned(uow, "R-1")
    await assigned(uow, "R-2")
    changes = [
        SafetyFlagChange("R-1", FLAG, "cw-a1", T0),
        SafetyFlagChange("R-1", None, "mgr-a", T0 + timedelta(hours=1)),
        SafetyFlagChange("R-1", FLAG, "head", T0 + timedelta(hours=2)),
    ]
    for change in changes:
        async with uow() as u:
            assert await u.safety_flags.change(change) is True
            await u.commit()
        async with uow() as u:
            assert (await u.cases.get("R-1")).safety_flag == change.safety_flag
    async with uow() as u:
        assert await u.safety_flags.history("R-1") == changes
        assert await u.safety_flags.history("R-2") == []
        assert (await u.cases.get("R-2")).safety_flag is None


async def test_no_flag_without_an_assignment_or_a_commit(uow: Callable[[], Any]) -> None:
    await assigned(uow, "R-1")
    async with uow() as u:
        assert await u.safety_flags.change(SafetyFlagChange("R-none", FLAG, "head", T0)) is False
        await u.commit()
    async with uow() as u:
        assert await u.safety_flags.change(SafetyFlagChange("R-1", FLAG, "head", T0)) is True
    async with uow() as u:
        assert await u.safety_flags.history("R-none") == []
        assert await u.safety_flags.history("R-1") == []
        assert (await u.cases.get("R-1")).safety_flag is None


async def test_a_case_saved_by_another_action_keeps_its_flag(uow: Callable[[], Any]) -> None:
    await assigned(uow, "R-1")
    async with uow() as u:
        await u.safety_flags.change(SafetyFlagChange("R-1", FLAG, "cw-a1", T0))
        await u.commit()
    async with uow() as u:
        before = await u.cases.get_for_update("R-1")
        after = type(before)(**{**before.__dict__, "caseworker": "cw-a2", "status": "acknowledged"})
        await u.cases.save(before, after)
        await u.commit()
    async with uow() as u:
        case = await u.cases.get("R-1")
    assert (case.caseworker, case.safety_flag) == ("cw-a2", FLAG)
