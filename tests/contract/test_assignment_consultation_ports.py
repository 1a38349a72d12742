"""Assignment's `ConsultationStore` port, run against the in-memory fake and Postgres: one live
consultation per team and start (a clash is refused without spoiling the unit of work), a
cancelled time is free again, lists by window and requester, the reminder recorded once, and
nothing without a commit."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from services.assignment.domain.consultations import Consultation
from tests.assignment_support import T0

START = T0 + timedelta(days=1)


@pytest.fixture
def uow(assignment_uow: Callable[[], Any]) -> Callable[[], Any]:
    """Assignment units of work on the fake and on Postgres (tests/contract/conftest.py)."""
    return assignment_uow


def consultation(
    team: str = "team-a", at: timedelta = timedelta(0), requester: str = "partner-1"
) -> Consultation:
    return Consultation(
        str(uuid.uuid4()), "open-care", team, START + at, START + at + timedelta(minutes=30),
        requester, "Ämne", str(uuid.uuid4()), T0,
    )  # fmt: skip


async def add(uow: Callable[[], Any], c: Consultation, commit: bool = True) -> bool:
    async with uow() as u:
        stored: bool = await u.consultations.add(c)
        if commit:
            await u.commit()
    return stored


async def test_a_team_has_one_live_consultation_per_start_and_a_clash_leaves_the_work_usable(
    uow: Callable[[], Any],
) -> None:
    first = consultation()
    assert await add(uow, first)
    clash, other_team, later = consultation(), consultation("team-b"), consultation(at=timedelta(minutes=30))
    async with uow() as u:
        assert not await u.consultations.add(clash)
        assert await u.consultations.add(later)  # the same transaction goes on after the clash
        await u.commit()
    assert await add(uow, other_team)
    async with uow() as u:
        assert await u.consultations.get(first.consultation_id) == first
        assert await u.consultations.get(clash.consultation_id) is None
        assert await u.consultations.live_starts("team-a", START, START + timedelta(hours=1)) == {
            first.starts_at, later.starts_at
        }  # fmt: skip
        assert await u.consultations.live_starts("team-a", START, START + timedelta(minutes=30)) == {START}
        listed = await u.consultations.between(START, START + timedelta(days=1))
        assert [c.consultation_id for c in listed] == [
            first.consultation_id,
            other_team.consultation_id,
            later.consultation_id,
        ]


async def test_a_cancelled_time_is_free_again(uow: Callable[[], Any]) -> None:
    first = consultation()
    await add(uow, first)
    cancelled = dataclasses.replace(first, cancelled_at=T0, cancelled_by="mgr-a", sequence=1)
    async with uow() as u:
        assert await u.consultations.get_for_update(first.consultation_id) == first
        await u.consultations.save_cancellation(cancelled)
        await u.commit()
    assert await add(uow, consultation())
    async with uow() as u:
        assert await u.consultations.get(first.consultation_id) == cancelled
        assert len(await u.consultations.live_starts("team-a", START, START + timedelta(hours=1))) == 1
        assert len(await u.consultations.between(START, START + timedelta(hours=1))) == 2


async def test_a_requesters_consultations_come_by_start(uow: Callable[[], Any]) -> None:
    late, early = consultation(at=timedelta(hours=1)), consultation()
    await add(uow, late)
    await add(uow, early)
    await add(uow, consultation("team-b", requester="partner-2"))
    async with uow() as u:
        assert await u.consultations.of_requester("partner-1") == [early, late]
        assert await u.consultations.of_requester("nobody") == []


async def test_a_reminder_is_due_once_for_a_live_consultation_within_the_lead(uow: Callable[[], Any]) -> None:
    soon, far, gone = consultation(), consultation(at=timedelta(days=3)), consultation("team-b")
    for c in (soon, far, gone):
        await add(uow, c)
    async with uow() as u:
        await u.consultations.save_cancellation(
            dataclasses.replace(gone, cancelled_at=T0, cancelled_by="x", sequence=1)
        )
        due = await u.consultations.reminders_due(T0, T0 + timedelta(days=1))
        assert due == [soon]
        assert await u.consultations.mark_reminded(soon.consultation_id, T0)
        assert not await u.consultations.mark_reminded(soon.consultation_id, T0 + timedelta(hours=1))
        await u.commit()
    async with uow() as u:
        assert await u.consultations.reminders_due(T0, T0 + timedelta(days=1)) == []
        assert (await u.consultations.get(soon.consultation_id)).reminded_at == T0
        assert await u.consultations.reminders_due(START, START + timedelta(days=1)) == []  # started already


async def test_nothing_is_stored_without_a_commit(uow: Callable[[], Any]) -> None:
    c = consultation()
    await add(uow, c, commit=False)
    async with uow() as u:
        assert await u.consultations.get(c.consultation_id) is None
    assert await add(uow, consultation())
