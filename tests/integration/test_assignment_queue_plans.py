"""Work queues in Postgres (issue 19): each kind of queue is read through an index in its order."""

from __future__ import annotations

import pytest

from services.assignment.adapters.postgres_queues import page_sql
from services.assignment.domain.access import Actor
from services.assignment.domain.queues import QueueFilter, queue_query
from tests.assignment_support import UNIT, assign_batch, local, migrated_pool, received

MONDAY = local(2026, 10, 5, 10, 0)


@pytest.fixture
async def pool(database_url):
    pool = await migrated_pool(database_url)
    yield pool
    await pool.close()


async def plan(pool, who: Actor, filters: QueueFilter, *, after: bool = False) -> str:
    q = queue_query(who, UNIT, filters, (MONDAY, "R-5") if after else None, 50, MONDAY)
    sql, params = page_sql(q)
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SET LOCAL enable_seqscan = off")
        return "\n".join(r[0] for r in await conn.fetch(f"EXPLAIN {sql}", *params))


@pytest.mark.parametrize(
    ("who", "filters", "index"),
    [
        (Actor("head", frozenset({"head_of_unit"})), QueueFilter(), "assignments_queue "),
        (
            Actor("head", frozenset({"head_of_unit"})),
            QueueFilter(assignee="cw-b2"),
            "assignments_queue_caseworker",
        ),
        (Actor("mgr-b", frozenset({"manager"})), QueueFilter(), "assignments_queue_team"),
        (Actor("in-1", frozenset({"intake"})), QueueFilter(team="team-b"), "assignments_queue_team"),
    ],
)
async def test_a_queue_is_an_index_scan_in_the_queues_order_without_a_sort(pool, who, filters, index) -> None:
    await assign_batch(pool, [received(f"R-{n}", at=MONDAY) for n in range(20)])
    await pool.execute("ANALYZE assignments")
    for after in (False, True):
        found = await plan(pool, who, filters, after=after)
        assert f"Index Scan using {index}" in found, found
        assert "Sort" not in found and "Seq Scan" not in found, found


async def test_a_caseworkers_own_and_mentored_queue_reads_both_indexes(pool) -> None:
    found = await plan(pool, Actor("cw-b1", frozenset({"caseworker"})), QueueFilter())
    assert "assignments_queue_caseworker" in found and "assignments_queue_mentor" in found, found
    assert "Seq Scan" not in found, found
