"""A team's loads read in flat cost (issue 7): the same `Load` per caseworker as an aggregate over
every row of the team, but from index probes that do not grow with the closed history."""

from __future__ import annotations

import json
import random
from datetime import UTC, date, datetime, timedelta

import pytest

from services.assignment.adapters.postgres_assignments import (
    BEFORE_LOCK_SQL,
    TEAM_LOADS_SQL,
    PostgresAssignmentStore,
)
from services.assignment.domain.model import Load
from tests.assignment_support import migrated_pool

# What team_loads computed before: every row of the team, open or closed, aggregated.
ORACLE = (
    "SELECT caseworker,"
    " coalesce(sum(weight_hundredths) FILTER (WHERE status <> 'closed'), 0) AS weighted,"
    " count(*) FILTER (WHERE status <> 'closed') AS open_cases,"
    " max(assigned_at) AS last_at,"
    " count(*) FILTER (WHERE assigned_day = $2) AS today"
    " FROM assignments WHERE team = $1 GROUP BY caseworker"
)
DAY = date(2026, 10, 14)
STAFF = [f"cw-{i}" for i in range(1, 7)]


@pytest.fixture
async def pool(database_url):
    pool = await migrated_pool(database_url)
    yield pool
    await pool.close()


async def add_cases(pool, rows: list[tuple[str, str, str, int, datetime]]) -> None:
    """(team, caseworker, status, weight in hundredths, assigned_at) rows, everything else filled in."""
    start = await pool.fetchval("SELECT count(*) FROM assignments")
    t0 = datetime(2026, 10, 1, tzinfo=UTC)
    await pool.executemany(
        "INSERT INTO assignments (referral_id, family_key, child_key, team, caseworker, reason, explanation,"
        " source, period_start, received_at, assigned_at, status, acute_danger, protected_identity,"
        " protection_due, preliminary_due, assigned_day, weight_hundredths)"
        " VALUES ($1, $1, $1, $2, $3, 'rotation', 'x', 'rotation', $4, $5, $5, $6, false, false,"
        " $5, $5, $7, $8)",
        [
            (f"R-{start + n}", team, cw, t0, at, status, at.date(), weight)
            for n, (team, cw, status, weight, at) in enumerate(rows)
        ],
    )  # fmt: skip


async def oracle(pool, team: str, day: date) -> dict[str, Load]:
    return {
        r["caseworker"]: Load(r["weighted"], r["open_cases"], r["last_at"], r["today"])
        for r in await pool.fetch(ORACLE, team, day)
    }


async def team_loads(pool, team: str, day: date, caseworkers: list[str]) -> dict[str, Load]:
    async with pool.acquire() as conn:
        return await PostgresAssignmentStore(conn).team_loads(team, day, caseworkers)


@pytest.mark.parametrize("seed", range(4))
async def test_loads_equal_the_aggregate_over_the_whole_history(pool, seed):
    rng = random.Random(seed)
    rows = []
    for _ in range(400):
        at = datetime(2026, 9, 1, 8, tzinfo=UTC) + timedelta(minutes=rng.randrange(60 * 24 * 60))
        status = rng.choice(["assigned", "acknowledged", "investigating", "closed", "closed"])
        # cw-5 has only closed cases in team-a; cw-6 has none there (only in team-b)
        cw = rng.choice(STAFF[:4]) if rng.random() < 0.9 else "cw-5"
        team = "team-b" if cw == "cw-6" or rng.random() < 0.2 else "team-a"
        rows.append(
            (team, cw, "closed" if cw == "cw-5" else status, rng.choice([50, 100, 125, 150, 200]), at)
        )
    rows.append(("team-b", "cw-6", "assigned", 100, datetime(2026, 10, 14, 9, tzinfo=UTC)))
    await add_cases(pool, rows)
    # the lifecycle and reassignments change cases in place; the trigger must follow every change
    ids = [r["referral_id"] for r in await pool.fetch("SELECT referral_id FROM assignments ORDER BY seq")]
    for rid in rng.sample(ids, 120):
        change = rng.choice(["close", "close", "reassign", "move team", "weight", "day", "reopen", "delete"])
        sql = {
            "close": "UPDATE assignments SET status = 'closed', closed_at = now() WHERE referral_id = $1",
            "reassign": f"UPDATE assignments SET caseworker = '{rng.choice(STAFF)}' WHERE referral_id = $1",
            "move team": "UPDATE assignments SET team = 'team-b' WHERE referral_id = $1",
            "weight": "UPDATE assignments SET weight_hundredths = weight_hundredths + 50"
            " WHERE referral_id = $1",
            "day": "UPDATE assignments SET assigned_day = DATE '2026-10-14' WHERE referral_id = $1",
            "reopen": "UPDATE assignments SET status = 'investigating' WHERE referral_id = $1",
            "delete": "DELETE FROM assignments WHERE referral_id = $1",
        }[change]
        await pool.execute(sql, rid)

    for team in ("team-a", "team-b"):
        for day in (DAY, date(2026, 9, 1), date(2026, 10, 30)):
            ours = await team_loads(pool, team, day, STAFF)
            expected = await oracle(pool, team, day)
            assert set(ours) == set(STAFF)
            # exactly: the trigger and the aggregate add the same integers
            assert ours == {cw: expected.get(cw, Load()) for cw in STAFF}


async def rows_read(pool, sql: str, *args) -> int:
    """Rows the statement's scans produced or filtered out: its work, independent of timing."""
    plan = json.loads(await pool.fetchval(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}", *args))[0]["Plan"]

    def walk(node) -> int:
        own = 0
        if "Scan" in node["Node Type"]:
            loops = node.get("Actual Loops", 1)
            own = round(node["Actual Rows"] * loops) + node.get("Rows Removed by Filter", 0)
        return own + sum(walk(child) for child in node.get("Plans", []))

    return walk(plan)


async def test_the_cost_of_reading_loads_grows_neither_with_open_cases_nor_with_history(pool):
    at = datetime(2026, 10, 14, 9, tzinfo=UTC)
    old = datetime(2025, 1, 1, tzinfo=UTC)
    sizes = {}
    for per_caseworker in (15, 400):  # open cases each, all assigned on the day read; 20x closed
        have = await pool.fetchval("SELECT count(*) FROM assignments WHERE caseworker = 'cw-1'") // 21
        more = per_caseworker - have
        await add_cases(pool, [("team-a", cw, "assigned", 100, at) for cw in STAFF for _ in range(more)])
        await add_cases(
            pool,
            [("team-a", STAFF[n % 6], "closed", 100, old + timedelta(hours=n)) for n in range(20 * 6 * more)],
        )
        await pool.execute("ANALYZE assignments")
        ours = await rows_read(pool, TEAM_LOADS_SQL, "team-a", DAY, STAFF)
        sizes[per_caseworker] = (ours, await rows_read(pool, ORACLE, "team-a", DAY))
        assert await team_loads(pool, "team-a", DAY, STAFF) == await oracle(pool, "team-a", DAY)

    (ours_small, oracle_small), (ours_big, oracle_big) = sizes[15], sizes[400]
    # ours: a few rows per caseworker of the team (its summary rows, one index probe), at both sizes;
    # the aggregate read every case: 27x more cases, 27x more rows
    assert max(ours_small, ours_big) <= 10 * len(STAFF), sizes
    assert oracle_big >= 20 * oracle_small, sizes


async def test_a_plan_cached_on_an_empty_table_still_reads_earlier_cases_by_index(pool):
    """Services cache one generic plan per statement (shared.db) for the connection's life. The
    read before the lock must look earlier cases up by index even when that plan was made on an
    empty table (a new installation, the benchmark), and stay so as the table grows: a plan
    that scans `assignments` would cost more with every case until the next ANALYZE."""
    async with pool.acquire() as conn:
        assert await conn.fetchval("SHOW plan_cache_mode") == "force_generic_plan"
        await conn.execute(
            f"PREPARE before_lock(text, timestamptz, text, text, date, date) AS {BEFORE_LOCK_SQL}"
        )
        execute = (
            "EXPLAIN EXECUTE before_lock('R-new', now(), 'c-new', 'f-new', current_date, current_date - 5)"
        )
        empty = "\n".join(r[0] for r in await conn.fetch(execute))
        await add_cases(pool, [("team-a", "cw-1", "assigned", 100, datetime(2026, 10, 2, tzinfo=UTC))] * 500)
        grown = "\n".join(r[0] for r in await conn.fetch(execute))
    for plan in (empty, grown):
        assert "Seq Scan on assignments" not in plan
        assert "Index Scan using assignments_child" in plan and "Index Scan using assignments_family" in plan
