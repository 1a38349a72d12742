"""A delivery whose outcome is known when Postgres goes away keeps that outcome (found by the chaos
run, issue 7): a sent message is recorded `sent` and a refused one is retried, not `unknown`."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator
from datetime import timedelta

import asyncpg
import pytest
from pydantic import SecretStr

from referral_router.devinfra.postgres import LocalPostgres
from referral_router.devinfra.procs import free_port
from services.notifications.adapters.postgres import PostgresNotificationsUnitOfWork
from services.notifications.adapters.postgres_deliveries import PostgresDeliveryLedger
from services.notifications.domain.delivery import Retryable
from services.notifications.domain.outgoing import Outgoing
from services.notifications.ports import HandOver, nothing_to_record
from shared import db
from shared.clock import SystemClock
from shared.settings import DatabaseSettings
from tests.notifications_support import add, courier, example_unit, new_delivery


@pytest.fixture
async def own_postgres(tmp_path) -> AsyncIterator[LocalPostgres]:
    """A server of this test's own: it is stopped in the middle of the test."""
    server = LocalPostgres(tmp_path / "data", free_port(), fsync=False, log_path=tmp_path / "pg.log")
    await asyncio.to_thread(server.start)
    try:
        yield server
    finally:
        await asyncio.to_thread(server.stop, "fast")


class DatabaseFailsDuringSend:
    """A channel whose sends complete while Postgres is down (it stops it, then starts it again).

    The sends run concurrently; a barrier makes every one of them reach the stop together, so
    none can slip its hand-over in before the server is down (or after it, in the other case).
    """

    def __init__(self, server: LocalPostgres, sends: int, *, down_before_hand_over: bool = False) -> None:
        self.server = server
        self.down_before_hand_over = down_before_hand_over
        self.together = asyncio.Barrier(sends)
        self.down = asyncio.Event()
        self.restarted: asyncio.Task[None] | None = None
        self.left: list[str] = []  # addresses whose message went out

    async def send(self, address: str, message: Outgoing, hand_over: HandOver = nothing_to_record) -> None:
        if not self.down_before_hand_over:
            await hand_over()  # as a real channel does before DATA, with the database still up
        if await self.together.wait() == 0:  # exactly one of the sends stops the server
            await asyncio.to_thread(self.server.stop, "fast")
            self.restarted = asyncio.create_task(self._start_later())
            self.down.set()
        await self.down.wait()
        if self.down_before_hand_over:
            await hand_over()  # cannot be recorded: raises, and nothing may go out
        self.left.append(address)
        if address.startswith("cw-a2"):
            raise Retryable("452 mailbox busy")  # refused before DATA: safe to send again

    async def _start_later(self) -> None:
        await asyncio.sleep(1.5)
        await asyncio.to_thread(self.server.start)


@pytest.mark.parametrize(
    ("down_before_hand_over", "expected"),
    [
        (False, {"cw-a1": ("sent", True), "cw-a2": ("pending", True)}),
        # The hand-over cannot be recorded: neither message goes out, both are tried again.
        (True, {"cw-a1": ("pending", False), "cw-a2": ("pending", False)}),
    ],
    ids=["down after the hand-over", "down before it"],
)
async def test_outcomes_known_while_postgres_is_down_are_recorded_when_it_is_back(
    own_postgres, down_before_hand_over, expected
):
    url = own_postgres.url()
    pool = await db.create_pool(DatabaseSettings(url=SecretStr(url)), "notifications")
    channel = DatabaseFailsDuringSend(own_postgres, 2, down_before_hand_over=down_before_hand_over)
    try:
        await db.apply_migrations(pool, "notifications", "services.notifications.migrations")
        unit_of_work = functools.partial(PostgresNotificationsUnitOfWork, pool)
        ledger = PostgresDeliveryLedger(pool)
        await add(unit_of_work, new_delivery("cw-a1"), new_delivery("cw-a2"))
        rows = await ledger.claim_email(SystemClock().now(), 10, timedelta(seconds=60))
        assert len(rows) == 2

        sending = courier(ledger, unit_of_work, {"email": channel}, example_unit())
        statuses = await sending.send([[r] for r in rows])

        assert sorted(statuses) == sorted(s for s, _ in expected.values())
        conn = await asyncpg.connect(url, server_settings={"search_path": "notifications"})
        try:
            after = {
                r["recipient"]: (r["status"], r["handed_over_at"] is not None)
                for r in await conn.fetch("SELECT * FROM deliveries")
            }
            outcomes = await conn.fetchval("SELECT count(*) FROM outbox WHERE topic = 'notifications.v1'")
        finally:
            await conn.close()
        assert after == expected
        assert outcomes == sum(s == "sent" for s, _ in expected.values())
        assert len(channel.left) == (0 if down_before_hand_over else 2)
    finally:
        if channel.restarted is not None:
            await channel.restarted
        await pool.close()
