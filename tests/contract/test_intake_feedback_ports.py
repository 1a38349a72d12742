"""The feedback store (services/intake/ports.py, FeedbackStore) in intake's unit of work, against
the in-memory fake and Postgres: the first decision and request are kept, a referral owes feedback
once, a due sending is claimed once (moved to `sending`), and nothing uncommitted stays."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import pytest

from services.intake.adapters.memory import InMemoryIntakeUnitOfWork, IntakeTables
from services.intake.adapters.postgres import PostgresIntakeUnitOfWork
from services.intake.domain.feedback import Decided, FeedbackRequest, Sending, marked_sent, retry_later
from tests.conftest import migrated_pool
from tests.dossier_support import form, store_referral
from tests.intake_fakes import NOW

Backend = Callable[[], Any]


@pytest.fixture(params=["memory", "postgres"])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    if request.param == "memory":
        tables = IntakeTables()
        yield lambda: InMemoryIntakeUnitOfWork(tables)
        return
    server = request.getfixturevalue("postgres_server")
    async with migrated_pool(server, "services.intake.migrations", schema="intake") as pool:
        yield lambda: PostgresIntakeUnitOfWork(pool)


async def referrals(backend: Backend, n: int) -> list[str]:
    return [(await store_referral(backend, form(seed=i)))[0] for i in range(n)]


def pending(rid: str, due_in: timedelta = timedelta(0)) -> Sending:
    return Sending(rid, "no_investigation", NOW - timedelta(hours=1), None, "pending", 0, NOW + due_in)


async def test_the_first_decision_and_the_first_request_are_kept(backend: Backend) -> None:
    [rid] = await referrals(backend, 1)
    first = FeedbackRequest(rid, NOW, "email", "staff", "cw-a5")
    async with backend() as uow:
        assert await uow.feedback.decision(rid) is None and await uow.feedback.request(rid) is None
        await uow.feedback.decided(Decided(rid, "open_investigation", NOW))
        await uow.feedback.decided(Decided(rid, "no_investigation", NOW + timedelta(hours=1)))
        assert await uow.feedback.add_request(first, NOW) == first
        await uow.commit()
    async with backend() as uow:
        await uow.feedback.hold(rid)
        later = FeedbackRequest(rid, NOW + timedelta(hours=1), "letter", "staff", "mgr-a")
        assert await uow.feedback.add_request(later, NOW) == first
        assert await uow.feedback.decision(rid) == Decided(rid, "open_investigation", NOW)
        assert await uow.feedback.request(rid) == first


async def test_a_referral_owes_feedback_once_and_an_uncommitted_sending_leaves_nothing(
    backend: Backend,
) -> None:
    [rid] = await referrals(backend, 1)
    async with backend() as uow:
        assert await uow.feedback.owe(pending(rid))
    async with backend() as uow:
        assert await uow.feedback.sending(rid) is None  # not committed
        assert await uow.feedback.owe(pending(rid))
        assert not await uow.feedback.owe(dataclasses.replace(pending(rid), decision="joined_ongoing"))
        await uow.commit()
    async with backend() as uow:
        assert await uow.feedback.sending(rid) == pending(rid)


async def test_due_sendings_are_claimed_oldest_first_once_and_saved_as_they_end(backend: Backend) -> None:
    a, b, c = await referrals(backend, 3)
    async with backend() as uow:
        await uow.feedback.owe(pending(a, timedelta(minutes=-5)))
        await uow.feedback.owe(pending(b, timedelta(minutes=-10)))
        await uow.feedback.owe(pending(c, timedelta(minutes=5)))  # not due yet
        await uow.commit()
    async with backend() as uow:
        claimed = await uow.feedback.claim_due(NOW, 10)
        await uow.commit()
    assert [(s.referral_id, s.state) for s in claimed] == [(b, "sending"), (a, "sending")]
    async with backend() as uow:
        assert await uow.feedback.claim_due(NOW, 10) == []  # claimed ones are not due again
        await uow.feedback.save(marked_sent(claimed[0], NOW, "system"))
        await uow.feedback.save(retry_later(claimed[1], NOW, "cannot connect"))
        await uow.commit()
    async with backend() as uow:
        sent, retried = await uow.feedback.sending(b), await uow.feedback.sending(a)
        assert (sent.state, sent.sent_at, sent.sent_by) == ("sent", NOW, "system")
        assert (retried.state, retried.attempts, retried.error) == ("pending", 1, "cannot connect")
        # The retry (due a minute after NOW) comes before the one due in five.
        assert [s.referral_id for s in await uow.feedback.claim_due(NOW + timedelta(minutes=5), 2)] == [a, c]
