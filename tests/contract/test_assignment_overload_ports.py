"""Assignment's `OverloadFlagStore` port, and what the batch reads of it before its locks, run
against the in-memory fake and Postgres: one open flag per person, an answer stored once and
whole, escalation marked once, the filters of the list, open flags and running reliefs."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from services.assignment.domain.batch import FactsQuery
from services.assignment.domain.overload import OverloadFlag
from tests.assignment_support import T0, T0_DAY

HOUR = timedelta(hours=1)


@pytest.fixture
def uow(assignment_uow: Callable[[], Any]) -> Callable[[], Any]:
    """Assignment units of work on the fake and on Postgres (tests/contract/conftest.py)."""
    return assignment_uow


def new(
    staff_id: str = "cw-a1", team: str = "team-a", raised: Any = T0, note: str | None = "n"
) -> OverloadFlag:
    return OverloadFlag(str(uuid.uuid4()), staff_id, team, note, raised, raised + 4 * HOUR)


def relieved(flag: OverloadFlag, factor: float, until: Any) -> OverloadFlag:
    return dataclasses.replace(
        flag, action="relieve", responded_by="mgr-a", responded_at=T0 + HOUR, comment="c",
        capacity_factor=factor, relief_until=until,
    )  # fmt: skip


async def add(uow: Callable[[], Any], flag: OverloadFlag, commit: bool = True) -> bool:
    async with uow() as u:
        added: bool = await u.overload_flags.add(flag)
        if commit:
            await u.commit()
    return added


async def test_a_flag_reads_back_by_id_and_as_the_persons_open_one(uow: Callable[[], Any]) -> None:
    flag = new()
    assert await add(uow, flag)
    async with uow() as u:
        assert await u.overload_flags.get(flag.flag_id) == flag
        assert await u.overload_flags.get_for_update(flag.flag_id) == flag
        assert await u.overload_flags.get(str(uuid.uuid4())) is None
        assert await u.overload_flags.open_of("cw-a1") == flag
        assert await u.overload_flags.open_of("cw-a2") is None


async def test_a_person_has_one_open_flag_and_a_new_one_after_the_answer(uow: Callable[[], Any]) -> None:
    first = new()
    assert await add(uow, first)
    assert not await add(uow, new(raised=T0 + HOUR))
    async with uow() as u:
        assert await u.overload_flags.listed(staff_id="cw-a1") == [first]
        assert await u.overload_flags.answer(relieved(first, 0.5, T0 + 48 * HOUR))
        await u.commit()
    assert await add(uow, new(raised=T0 + 2 * HOUR))


async def test_an_answer_is_stored_once_whole(uow: Callable[[], Any]) -> None:
    flag = new()
    await add(uow, flag)
    answer = relieved(flag, 0.5, T0 + 48 * HOUR)
    async with uow() as u:
        assert await u.overload_flags.answer(answer)
        assert not await u.overload_flags.answer(dataclasses.replace(answer, comment="later"))
        await u.commit()
    async with uow() as u:
        assert await u.overload_flags.get(flag.flag_id) == answer
        assert await u.overload_flags.open_of("cw-a1") is None


async def test_nothing_is_kept_without_a_commit(uow: Callable[[], Any]) -> None:
    flag = new()
    await add(uow, flag, commit=False)
    async with uow() as u:
        assert await u.overload_flags.get(flag.flag_id) is None


async def test_escalation_is_marked_once_on_an_open_flag_past_its_time(uow: Callable[[], Any]) -> None:
    due, later, answered = new("cw-a1"), new("cw-a2", raised=T0 + 2 * HOUR), new("cw-a3")
    for flag in (due, later, answered):
        await add(uow, flag)
    async with uow() as u:
        await u.overload_flags.answer(dataclasses.replace(relieved(answered, 1.0, T0 + 9 * HOUR)))
        await u.commit()
    at = T0 + 5 * HOUR
    async with uow() as u:
        assert [f.flag_id for f in await u.overload_flags.due_for_escalation(at)] == [due.flag_id]
        assert await u.overload_flags.mark_escalated(due.flag_id, at)
        assert not await u.overload_flags.mark_escalated(due.flag_id, at + HOUR)
        assert not await u.overload_flags.mark_escalated(answered.flag_id, at)
        await u.commit()
    async with uow() as u:
        assert await u.overload_flags.due_for_escalation(at + HOUR / 2) == []
        assert (await u.overload_flags.get(due.flag_id)).escalated_at == at
        assert [f.flag_id for f in await u.overload_flags.due_for_escalation(T0 + 7 * HOUR)] == [
            later.flag_id
        ]


async def test_the_list_filters_by_team_person_and_state_newest_first(uow: Callable[[], Any]) -> None:
    a1, a2, b1 = new("cw-a1"), new("cw-a2", raised=T0 + HOUR), new("cw-b1", "team-b", raised=T0 + 2 * HOUR)
    for flag in (a1, a2, b1):
        await add(uow, flag)
    async with uow() as u:
        await u.overload_flags.answer(relieved(a1, 0.5, T0 + 3 * HOUR))
        await u.commit()
    async with uow() as u:
        store = u.overload_flags
        assert [f.staff_id for f in await store.listed()] == ["cw-b1", "cw-a2", "cw-a1"]
        assert [f.staff_id for f in await store.listed(team="team-a")] == ["cw-a2", "cw-a1"]
        assert [f.staff_id for f in await store.listed(team="team-a", open_only=True)] == ["cw-a2"]
        assert [f.staff_id for f in await store.listed(open_only=False)] == ["cw-a1"]
        assert [f.staff_id for f in await store.listed(staff_id="cw-b1")] == ["cw-b1"]
        in_effect = {f.staff_id for f in await store.in_effect(T0 + 2 * HOUR)}
        assert in_effect == {"cw-a1", "cw-a2", "cw-b1"}
        assert {f.staff_id for f in await store.in_effect(T0 + 3 * HOUR)} == {"cw-a2", "cw-b1"}


async def test_a_batch_reads_who_is_flagged_and_each_running_relief_before_its_locks(
    uow: Callable[[], Any],
) -> None:
    open_flag, relief, ended = new("cw-a1"), new("cw-a2"), new("cw-a3")
    for flag in (open_flag, relief, ended):
        await add(uow, flag)
    async with uow() as u:
        await u.overload_flags.answer(relieved(relief, 0.25, T0 + 10 * HOUR))
        await u.overload_flags.answer(relieved(ended, 0.5, T0 + 2 * HOUR))
        await u.commit()
    query = FactsQuery("R-1", T0 + 5 * HOUR, "c-1", "f-1", T0_DAY, T0_DAY - timedelta(days=5))
    async with uow() as u:
        [facts] = await u.assignments.read_before_lock([query])
    assert facts.paused == {"cw-a1"}
    assert facts.relief == (("cw-a2", 0.25),)
