"""What receiving a submission costs Postgres: one statement, no BEGIN or COMMIT (bench/, the
benchmark measures CPU per referral), while a use case that loads first still gets a transaction."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg

from services.intake.adapters.postgres import PostgresIntakeUnitOfWork
from services.intake.handlers.submissions import receive_submission
from tests.conftest import migrated_pool
from tests.intake_fakes import clock, keys, new_submission, portal_submission


class OneConnection:
    """A pool of one connection, so every statement of a unit of work can be counted."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    async def acquire(self) -> Any:
        return self.conn

    async def release(self, conn: Any) -> None:
        return None


async def statements(pool: asyncpg.Pool, *works: Any) -> list[list[str]]:
    """The first word of each statement each piece of work sends, after a first run of the first
    (asyncpg learns the types of a statement's parameters on a connection's first use of it)."""
    sent: list[list[str]] = []
    async with pool.acquire() as conn:
        await works[0](PostgresIntakeUnitOfWork(OneConnection(conn)))  # type: ignore[arg-type]
        for work in works:
            sent.append([])
            with conn.query_logger(lambda q: sent[-1].append(q.query.split()[0].upper())):
                await work(PostgresIntakeUnitOfWork(OneConnection(conn)))  # type: ignore[arg-type]
                await asyncio.sleep(0)  # the logger is called soon (call_soon), not at once
    return sent


async def test_receiving_a_submission_new_or_repeated_is_one_statement_without_begin_or_commit(
    postgres_server,
):
    submissions = [portal_submission(children=3) for _ in range(2)]

    def receiving(n: int) -> Any:
        async def receive(uow: PostgresIntakeUnitOfWork) -> None:
            await receive_submission(uow, *submissions[n], "dev-portal", keys(), clock())

        return receive

    async with migrated_pool(postgres_server, "services.intake.migrations", schema="intake") as pool:
        # The second submission new, then again (its answer is read back: one more, no BEGIN).
        _, new, again = await statements(pool, receiving(0), receiving(1), receiving(1))
        stored = await pool.fetchval("SELECT count(*) FROM referrals")

    assert new == ["WITH"]
    assert again == ["WITH", "SELECT"]
    assert stored == 6


async def test_a_unit_of_work_that_loads_first_stores_the_submission_inside_its_transaction(postgres_server):
    async def load_then_store(uow: PostgresIntakeUnitOfWork) -> None:
        async with uow:
            await uow.oep_instances.state_of(1)
            await uow.submissions.add(new_submission(), [])
            await uow.commit()

    async with migrated_pool(postgres_server, "services.intake.migrations", schema="intake") as pool:
        [sent] = await statements(pool, load_then_store)

    assert sent == ["BEGIN;", "SELECT", "WITH", "COMMIT;"]
