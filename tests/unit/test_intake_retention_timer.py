"""The daily retention run inside the service (`timers.retain_daily`), on the in-memory fakes: not
before `run_at` (Stockholm time), once a day, and a failed run is tried again."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, time, timedelta
from typing import Any

import asyncpg
import pytest

from services.intake import timers
from services.intake.adapters.memory import InMemoryIntakeUnitOfWork, IntakeTables
from services.intake.domain.dossier import Registration
from services.intake.domain.retention import RetentionPlan
from services.intake.handlers.retention import Retaining
from tests.dossier_support import form, store_referral
from tests.helpers import eventually
from tests.intake_fakes import keys

BEFORE = datetime(2026, 12, 7, 1, 59, tzinfo=UTC)  # 02:59 in Stockholm
AFTER = datetime(2026, 12, 7, 2, 1, tzinfo=UTC)  # 03:01


class CountingClock:
    """A clock that moves only when told, and counts how often it was read (each look reads it)."""

    def __init__(self, at: datetime) -> None:
        self.at, self.reads = at, 0

    def now(self) -> datetime:
        self.reads += 1
        return self.at


async def due_referral(tables: IntakeTables, seed: int) -> str:
    def uow() -> InMemoryIntakeUnitOfWork:
        return InMemoryIntakeUnitOfWork(tables)

    [rid] = await store_referral(uow, form(seed=seed))
    registered = BEFORE - timedelta(days=40)
    async with uow() as work:
        await work.dossiers.register(rid, Registration(f"SoL-{seed}", registered, "in-1", registered))
        await work.commit()
    return rid


async def reads_past(clock: CountingClock, n: int) -> None:
    start = clock.reads
    await eventually(lambda: _reads(clock), lambda r: r >= start + n, timeout_s=10, interval_s=0.01)


async def _reads(clock: CountingClock) -> int:
    return clock.reads


@pytest.fixture
async def running() -> Any:
    tables, clock = IntakeTables(), CountingClock(BEFORE)
    retaining = Retaining(lambda: InMemoryIntakeUnitOfWork(tables), RetentionPlan(30), keys().cipher, clock)
    task = asyncio.create_task(timers.retain_daily(retaining, time(3, 0), 0.001))
    try:
        yield tables, clock
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_it_runs_not_before_run_at_then_once_that_day_and_again_the_next(running):
    tables, clock = running
    first = await due_referral(tables, 1)
    await reads_past(clock, 5)
    assert tables.retention_log == {}  # 02:59: not yet

    clock.at = AFTER
    await eventually(lambda: _log(tables), lambda log: first in log, timeout_s=10, interval_s=0.01)
    second = await due_referral(tables, 2)
    await reads_past(clock, 5)
    assert second not in tables.retention_log  # once a day

    clock.at = AFTER + timedelta(days=1)
    await eventually(lambda: _log(tables), lambda log: second in log, timeout_s=10, interval_s=0.01)


async def _log(tables: IntakeTables) -> dict[str, Any]:
    return dict(tables.retention_log)


class FailingOnce(InMemoryIntakeUnitOfWork):
    failures = 1

    async def commit(self) -> None:
        if FailingOnce.failures:
            FailingOnce.failures -= 1
            raise asyncpg.PostgresConnectionError("connection lost")
        await super().commit()


async def test_a_failed_run_erases_nothing_and_is_tried_again_at_the_next_look():
    tables, clock = IntakeTables(), CountingClock(AFTER)
    rid = await due_referral(tables, 3)
    retaining = Retaining(lambda: FailingOnce(tables), RetentionPlan(30), keys().cipher, clock)
    task = asyncio.create_task(timers.retain_daily(retaining, time(3, 0), 0.001))
    try:
        await eventually(lambda: _log(tables), lambda log: rid in log, timeout_s=10, interval_s=0.01)
    finally:
        task.cancel()
    assert FailingOnce.failures == 0
    [key] = tables.data_keys.values()
    assert key.wrapped is None and len(tables.retention_log) == 1
