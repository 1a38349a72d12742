"""Assignment's one code path: a batch of referrals assigned at once leaves the same rows and events.

The consumer hands consecutive new `referral.received` events of a fetched batch to
`assign_referrals`, which reads, locks and loads once and inserts once, the domain carrying
forward in memory what each decision changed. These tests assign random runs one referral at a
time (batches of one, each reading afresh: the oracle) in one database and by runs in another,
from the same history, and compare every assignment, every load the trigger keeps and every
event, field by field.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import date, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from services.assignment.adapters.postgres import PostgresAssignmentUnitOfWork
from services.assignment.adapters.postgres_assignments import PostgresAssignmentStore
from services.assignment.domain.batch import AssignmentBatch
from services.assignment.domain.unit import Unit
from services.assignment.handlers.assign import assign_referrals
from services.assignment.subscribers import referral_message
from services.assignment.unit_from_config import unit_from_config
from shared.events import Envelope
from tests.assignment_support import EXAMPLE_CONFIG, UNIT, assign_batch, local, migrated_pool, received
from tests.conftest import create_database, drop_database
from tests.helpers import random_runs

CATEGORIES = ("neglect", "violence", "sexual_abuse", "honour_related", "other", "substance_abuse")
RUN_DAY = local(2026, 10, 6, 0, 0)  # a Tuesday: team-b on duty
ASSIGNMENT_COLUMNS = (
    "referral_id, family_key, child_key, team, caseworker, mentor, reason, explanation, source,"
    " period_start, period_end, received_at, status, acute_danger, protected_identity, protection_due,"
    " preliminary_due, assigned_day, categories, interpreter_needed, weight_hundredths, feedback_requested"
)


@pytest.fixture
async def pools(postgres_server: str) -> AsyncIterator[tuple[asyncpg.Pool, asyncpg.Pool]]:
    """Two migrated databases: one assigned referral by referral, one run by run."""
    names = [f"t_{uuid.uuid4().hex[:12]}" for _ in range(2)]
    pools = [await migrated_pool(await create_database(postgres_server, name)) for name in names]
    try:
        yield pools[0], pools[1]
    finally:
        for pool in pools:
            await pool.close()
        for name in names:
            await drop_database(postgres_server, name)


def unit_with_conflicts(keys: Sequence[str]) -> Unit:
    """The example unit with conflicts of interest on some of the scenario's keys."""
    config = EXAMPLE_CONFIG
    conflicts = [
        {"staff_id": staff, "key": key} for staff, key in zip(("cw-b1", "cw-a2", "cw-b4"), keys, strict=True)
    ]
    assignment = config.assignment.model_validate(
        {**config.assignment.model_dump(), "conflicts_of_interest": conflicts}
    )
    return unit_from_config(config.model_copy(update={"assignment": assignment}))


def referral(rng: random.Random, rid: str, at: datetime, people: int) -> Envelope[Any]:
    """A referral about one of `people` children, in one of fewer families (siblings, repeats)."""
    child = rng.randrange(people)
    return received(
        rid,
        at=at,
        child=f"c{child}",
        family=f"f{child // 3}",
        categories=tuple(rng.sample(CATEGORIES, rng.choice((1, 1, 2)))),
        acute=rng.random() < 0.1,
    )


def scenario(seed: int) -> tuple[list[Envelope[Any]], list[Envelope[Any]], list[tuple[str, date, date]]]:
    """History (assigned earlier, some closed later), the run, and absences (staff, from, to)."""
    rng = random.Random(seed)
    people = rng.choice((150, 300, 600))
    history = [
        referral(rng, f"H{n}", local(2026, 9, 1, 9, 0) + timedelta(hours=rng.randrange(24 * 33)), people)
        for n in range(rng.randrange(20, 60))
    ]
    history.sort(key=lambda e: e.data.received_at)
    run: list[Envelope[Any]] = []
    for n in range(rng.randrange(40, 120)):
        # Mostly the run's day, some in the evening (next office hours: the next day's loads).
        at = RUN_DAY + timedelta(hours=rng.choice((8, 9, 10, 11, 13, 14, 15, 16, 19, 22)), minutes=n)
        if run and rng.random() < 0.08:
            again = rng.choice(run).data  # the same referral again, as another event
            run.append(received(again.referral_id, at=again.received_at, child=again.child_key,
                                family=again.family_key, categories=tuple(again.categories)))  # fmt: skip
        else:
            run.append(referral(rng, f"R{n}", at, people))
    staff = [w.staff_id for w in UNIT.staff]
    absences = [(s, date(2026, 10, 5), date(2026, 10, 9)) for s in rng.sample(staff, 3)]
    absences += [(s, date(2026, 9, 21), date(2026, 10, 2)) for s in rng.sample(staff, 3)]  # back
    return history, run, absences


async def prepare(pool: asyncpg.Pool, history: list[Envelope[Any]], absences, closing_seed: int) -> None:
    """The same history in a database: assignments one by one, some closed, absences."""
    for event in history:
        await assign_batch(pool, [event])
    rng = random.Random(closing_seed)
    for event in history:
        if rng.random() < 0.4:
            closed = event.data.received_at + timedelta(days=rng.randrange(1, 10))
            await pool.execute(
                "UPDATE assignments SET status = 'closed', closed_at = $2 WHERE referral_id = $1",
                event.data.referral_id,
                closed,
            )
    await pool.executemany(
        "INSERT INTO absences (staff_id, starts_on, ends_on, kind, created_by)"
        " VALUES ($1, $2, $3, 'leave', 't')",
        absences,
    )


async def one_by_one(pool: asyncpg.Pool, events: Sequence[Envelope[Any]], unit: Unit) -> None:
    """Each referral a batch of its own, each reading what the one before stored."""
    async with PostgresAssignmentUnitOfWork(pool) as uow:
        for event in events:
            await assign_referrals(uow, unit, [referral_message(event)])
        await uow.commit()


async def by_runs(pool: asyncpg.Pool, events: Sequence[Envelope[Any]], unit: Unit, rng: random.Random) -> int:
    """As the consumer does: consecutive runs of a batch, of any length, in one transaction.
    Returns the number of runs."""
    runs = list(random_runs(events, rng, (1, 3, 17, 60)))
    async with PostgresAssignmentUnitOfWork(pool) as uow:
        for run in runs:
            await assign_referrals(uow, unit, [referral_message(e) for e in run])
        await uow.commit()
    return len(runs)


async def dump(pool: asyncpg.Pool) -> dict[str, list[Any]]:
    """Assignments, the loads the trigger keeps, and the events (without their random ids)."""
    events = []
    for r in await pool.fetch("SELECT payload FROM outbox ORDER BY id"):
        envelope = json.loads(r["payload"])
        events.append((envelope["event_type"], envelope["causation_id"], envelope["data"]))
    return {
        "assignments": [
            tuple(r)
            for r in await pool.fetch(f"SELECT {ASSIGNMENT_COLUMNS} FROM assignments ORDER BY referral_id")
        ],
        "loads": [tuple(r) for r in await pool.fetch("SELECT * FROM caseworker_loads ORDER BY 1, 2")],
        "days": [tuple(r) for r in await pool.fetch("SELECT * FROM caseworker_days ORDER BY 1, 2, 3")],
        "events": events,
    }


@pytest.mark.parametrize("seed", range(6))
async def test_runs_assign_exactly_as_one_referral_at_a_time(pools, seed: int, monkeypatch):
    history, run, absences = scenario(seed)
    unit = unit_with_conflicts([run[0].data.family_key, run[1].data.child_key, run[2].data.family_key])
    each, runs = pools
    for pool in pools:
        await prepare(pool, history, absences, closing_seed=seed)

    await one_by_one(each, run, unit)
    locked: list[set[str]] = []
    lock = PostgresAssignmentStore.lock_teams

    async def recorded(self: PostgresAssignmentStore, teams: Any) -> None:
        locked.append(set(teams))
        await lock(self, teams)

    monkeypatch.setattr(PostgresAssignmentStore, "lock_teams", recorded)
    count = await by_runs(runs, run, unit, random.Random(seed))
    assert len(locked) == count
    # Each run took every team it needed at once, before deciding (no lock taken later, one at
    # a time, which could deadlock with another instance); continuity reached the other teams.
    assert set().union(*locked) > {"team-b"}

    expected = await dump(each)
    assert await dump(runs) == expected
    # The scenario exercises what the run must carry forward.
    new = [r for r in expected["assignments"] if r[0].startswith("R")]
    assert len(new) == len({e.data.referral_id for e in run}) < len(run)  # repeats were skipped
    assert len({r[4] for r in new}) > 3  # spread over caseworkers by load
    assert {"continuity", "rotation"} <= {r[6] for r in new}
    assert len({r[17] for r in new}) == 2  # two days' loads (evening referrals count tomorrow)


async def test_the_comparison_has_teeth_without_carried_loads_runs_differ(pools, monkeypatch):
    """If a run did not carry its own assignments into the loads, its decisions would differ."""
    history, run, absences = scenario(0)
    each, runs = pools
    for pool in pools:
        await prepare(pool, history, absences, closing_seed=0)
    await one_by_one(each, run, UNIT)
    monkeypatch.setattr(AssignmentBatch, "_carried", lambda self, team, cw, day, stored: stored)
    await by_runs(runs, run, UNIT, random.Random(0))

    assert (await dump(runs))["assignments"] != (await dump(each))["assignments"]


async def test_a_run_of_forty_takes_six_statements_instead_of_one_hundred_and_sixty_two(postgres_server):
    """One pipelined read, the team's lock, its loads, one pipelined insert (and BEGIN, COMMIT),
    where forty batches of one take four statements each."""
    names = [f"t_{uuid.uuid4().hex[:12]}" for _ in range(2)]
    # One connection each, so that the statements counted on it are all the unit of work sends.
    each, runs = [await migrated_pool(await create_database(postgres_server, n), size=1) for n in names]
    try:
        rng = random.Random(7)
        run = [referral(rng, f"R{n}", RUN_DAY + timedelta(hours=9, minutes=n), 10_000) for n in range(40)]
        sent: dict[str, int] = {"each": 0, "run": 0}
        for name, pool in (("each", each), ("run", runs)):
            # A first use prepares statements and reads type info.
            await assign_batch(pool, [received("W1", at=RUN_DAY), received("W2", at=RUN_DAY)])
            await assign_batch(pool, [received("W3", at=RUN_DAY)])
            async with pool.acquire() as conn:
                conn.add_query_logger(lambda _, name=name: sent.__setitem__(name, sent[name] + 1))
            if name == "each":
                await one_by_one(pool, run, UNIT)
            else:
                await assign_batch(pool, run)
        assert sent == {"each": 4 * 40 + 2, "run": 6}
        assert (await dump(runs))["assignments"] == (await dump(each))["assignments"]
    finally:
        for pool in (each, runs):
            await pool.close()
        for name in names:
            await drop_database(postgres_server, name)
