"""Migration 005 on a database that has run on 001-004: weights and loads become exact hundredths.

Existing assignments keep their weights (now in hundredths), the loads are the exact sums of their
open cases, the daily counts stay, and the trigger goes on keeping the loads from there.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from importlib import resources

import pytest

from shared import db
from shared.settings import DatabaseSettings

MIGRATIONS = "services.assignment.migrations"
T0 = datetime(2026, 10, 1, 9, tzinfo=UTC)


@pytest.fixture
async def pool(database_url):
    pool = await db.create_pool(DatabaseSettings(url=database_url), "assignment")
    yield pool
    await pool.close()


async def migrate_up_to(pool, last: str) -> list[str]:
    """Apply the numbered files up to `last` as the service did then, recording them as applied."""
    files = sorted(f for f in resources.files(MIGRATIONS).iterdir() if f.name.endswith(".sql"))
    done = [f.name for f in files if f.name <= last]
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("CREATE SCHEMA assignment")
        await conn.execute("SET LOCAL search_path = assignment")
        for f in files:
            if f.name in done:
                await conn.execute(f.read_text("utf-8"))
        await conn.execute(
            "CREATE TABLE schema_migrations (version text PRIMARY KEY, applied_at timestamptz)"
        )
        await conn.executemany("INSERT INTO schema_migrations (version) VALUES ($1)", [(n,) for n in done])
    return done


async def add_cases(pool, rows: list[tuple[str, str, str, float, date]]) -> None:
    """(team, caseworker, status, weight in cases, assigned day) as version 004 stored them."""
    await pool.executemany(
        "INSERT INTO assignments (referral_id, family_key, child_key, team, caseworker, reason, explanation,"
        " source, period_start, received_at, status, acute_danger, protected_identity, protection_due,"
        " preliminary_due, assigned_day, weight)"
        " VALUES ($1, $1, $1, $2, $3, 'rotation', 'x', 'rotation', $4, $4, $5, false, false, $4, $4, $6, $7)",
        [
            (f"R-{n}", team, cw, T0, status, day, weight)
            for n, (team, cw, status, weight, day) in enumerate(rows)
        ],
    )


async def loads_recounted(pool) -> list[tuple[str, str, int, int]]:
    rows = await pool.fetch(
        "SELECT team, caseworker, sum(weight_hundredths) AS w, count(*) AS n FROM assignments"
        " WHERE status <> 'closed' GROUP BY 1, 2 ORDER BY 1, 2"
    )
    return [(r["team"], r["caseworker"], r["w"], r["n"]) for r in rows]


async def loads_kept(pool) -> list[tuple[str, str, int, int]]:
    rows = await pool.fetch(
        "SELECT team, caseworker, weighted_hundredths, open_cases FROM caseworker_loads"
        " WHERE open_cases > 0 ORDER BY 1, 2"
    )
    return [tuple(r) for r in rows]


async def test_existing_weights_and_loads_become_exact_hundredths_and_the_trigger_keeps_them(pool) -> None:
    assert await migrate_up_to(pool, "004_open_clock_indexes.sql") == [
        "001_assignments.sql",
        "002_lifecycle_and_rotation.sql",
        "003_flat_cost_loads.sql",
        "004_open_clock_indexes.sql",
    ]
    day = date(2026, 10, 1)
    weights = [1.0, 1.25, 0.75, 2.25, 1.5, 0.5, 1.75, 2.0]
    rows = [
        ("team-a" if n % 3 else "team-b", f"cw-{n % 4}", "closed" if n % 5 == 0 else "assigned",
         weights[n % len(weights)], day + timedelta(days=n % 2))
        for n in range(40)
    ]  # fmt: skip
    await add_cases(pool, rows)
    await pool.execute("UPDATE assignments SET status = 'closed' WHERE referral_id IN ('R-3', 'R-7')")
    days_before = [tuple(r) for r in await pool.fetch("SELECT * FROM caseworker_days ORDER BY 1, 2, 3")]

    # 006 (issue 19) follows on the same rows: no registration clock for them, a queue key for each.
    assert await db.apply_migrations(pool, "assignment", MIGRATIONS) == [
        "005_loads_in_hundredths.sql",
        "006_registration_and_queues.sql",
        "007_calendar_feeds.sql",  # issue 20: a new table, nothing on these rows
        "008_overload_flags.sql",  # issue 22: a new table, nothing on these rows
        "009_consultations.sql",  # issue 22: a new table, nothing on these rows
        "010_incidents_and_safety_flags.sql",  # issue 22: new tables; no safety flag on these rows
        "012_referral_ids_are_text.sql",  # issue 22: intake's referral ids are text, not UUIDs
    ]
    assert await pool.fetchval("SELECT count(*) FROM assignments WHERE safety_flag IS NOT NULL") == 0
    assert await pool.fetchval("SELECT count(*) FROM assignments WHERE registration_due IS NOT NULL") == 0
    running = await pool.fetchval(
        "SELECT count(*) FROM assignments WHERE closed_at IS NULL AND decided_at IS NULL"
    )
    assert running > 0
    by_earliest_clock = await pool.fetchval(
        "SELECT count(*) FROM assignments WHERE next_due = least(protection_due, preliminary_due)"
        " AND protection_assessed_at IS NULL AND decided_at IS NULL AND closed_at IS NULL"
    )
    assert by_earliest_clock == running

    stored = {r["referral_id"]: r["weight_hundredths"] for r in await pool.fetch("SELECT * FROM assignments")}
    assert stored == {f"R-{n}": round(weights[n % len(weights)] * 100) for n in range(40)}
    assert await loads_kept(pool) == await loads_recounted(pool)
    assert sum(w for _, _, w, _ in await loads_kept(pool)) == sum(
        round(w * 100)
        for n, (_, _, status, w, _) in enumerate(rows)
        if status != "closed" and n not in (3, 7)
    )
    assert [
        tuple(r) for r in await pool.fetch("SELECT * FROM caseworker_days ORDER BY 1, 2, 3")
    ] == days_before
    types = await pool.fetch(
        "SELECT table_name, column_name, data_type FROM information_schema.columns"
        " WHERE table_schema = 'assignment'"
        " AND column_name IN ('weight_hundredths', 'weighted_hundredths') ORDER BY 1"
    )
    assert [tuple(r) for r in types] == [
        ("assignments", "weight_hundredths", "integer"),
        ("caseworker_loads", "weighted_hundredths", "bigint"),
    ]

    # From here on the trigger keeps the loads in hundredths, through every kind of change.
    await pool.execute(
        "INSERT INTO assignments (referral_id, family_key, child_key, team, caseworker, reason,"
        " explanation, source, period_start, received_at, acute_danger, protected_identity, protection_due,"
        " preliminary_due, assigned_day, weight_hundredths) VALUES ('R-new', 'f', 'c', 'team-a', 'cw-1',"
        " 'rotation', 'x', 'rotation', $1, $1, false, false, $1, $1, $2, 175)",
        T0,
        day,
    )
    await pool.execute("UPDATE assignments SET status = 'closed' WHERE referral_id = 'R-1'")
    await pool.execute(
        "UPDATE assignments SET team = 'team-b', caseworker = 'cw-9' WHERE referral_id = 'R-2'"
    )
    await pool.execute("UPDATE assignments SET weight_hundredths = 225 WHERE referral_id = 'R-4'")
    await pool.execute("DELETE FROM assignments WHERE referral_id = 'R-6'")
    assert await loads_kept(pool) == await loads_recounted(pool)
