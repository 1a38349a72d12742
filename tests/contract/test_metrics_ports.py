"""The metrics service's ports (services/metrics/ports.py), run against the in-memory fakes and Postgres.

What the projections rely on: a run of events leaves exactly the rows of its events one at a
time (Postgres sends each statement once per run); the rows do not depend on the order between
topics; the unit of work commits them or nothing; the figures are read from those rows. And the
fake leaves the same rows and gives the same figures as Postgres for the same events.
"""

from __future__ import annotations

import dataclasses
import random
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from services.metrics.adapters.memory import InMemoryFiguresReader, InMemoryMetricsUnitOfWork, MetricsTables
from services.metrics.adapters.postgres import PostgresMetricsUnitOfWork
from services.metrics.adapters.postgres_figures import PostgresFiguresReader
from services.metrics.domain.events import CaseActed, ReferralAssigned
from services.metrics.domain.figures import Figures
from services.metrics.handlers import project
from services.metrics.ports import FiguresReader
from services.metrics.subscribers import TOPICS
from shared.events import TOPIC_ASSIGNED, TOPIC_DEADLINES, TOPIC_RECEIVED, TOPIC_REGISTERED, TOPIC_UPDATED
from shared.memory import Tables
from tests.conftest import migrated_pool
from tests.metrics_events import (
    METRICS_TABLES,
    T0,
    interleaved,
    lifecycle,
    project_each,
    project_runs,
    random_events,
    runs_by_topic,
)

Rows = dict[str, list[tuple[Any, ...]]]


@dataclass
class ReadModelStore:
    """One database of read models: a unit of work on it, its figures, and every row in it."""

    unit_of_work: Callable[[], Any]
    reader: FiguresReader
    rows: Callable[[], Awaitable[Rows]]
    clear: Callable[[], Awaitable[None]]


def _sorted(rows: Any) -> list[tuple[Any, ...]]:
    return sorted((tuple(r) for r in rows), key=repr)


@asynccontextmanager
async def in_memory() -> AsyncIterator[ReadModelStore]:
    tables = MetricsTables()

    async def rows() -> Rows:
        return {
            t: _sorted(dataclasses.astuple(r) for r in getattr(tables, t).values()) for t in METRICS_TABLES
        }

    async def clear() -> None:
        for t in METRICS_TABLES:
            getattr(tables, t).clear()

    yield ReadModelStore(
        lambda: InMemoryMetricsUnitOfWork(tables), InMemoryFiguresReader(tables), rows, clear
    )


@asynccontextmanager
async def in_postgres(server: str) -> AsyncIterator[ReadModelStore]:
    async with migrated_pool(server, "services.metrics.migrations", schema="metrics") as pool:

        async def rows() -> Rows:
            return {t: _sorted(await pool.fetch(f"SELECT * FROM {t}")) for t in METRICS_TABLES}

        async def clear() -> None:
            await pool.execute("TRUNCATE " + ", ".join(METRICS_TABLES))

        yield ReadModelStore(
            lambda: PostgresMetricsUnitOfWork(pool), PostgresFiguresReader(pool), rows, clear
        )


@pytest.fixture(params=["memory", "postgres"])
async def stores(request: pytest.FixtureRequest) -> AsyncIterator[Callable[[], Awaitable[ReadModelStore]]]:
    """A maker of fresh, empty read-model databases of one kind."""
    async with AsyncExitStack() as stack:

        async def fresh() -> ReadModelStore:
            if request.param == "memory":
                return await stack.enter_async_context(in_memory())
            return await stack.enter_async_context(in_postgres(request.getfixturevalue("postgres_server")))

        yield fresh


async def test_every_read_model_is_listed_so_the_comparisons_see_every_row(postgres_server):
    assert {f.name for f in dataclasses.fields(MetricsTables)} - {
        f.name for f in dataclasses.fields(Tables)
    } == set(METRICS_TABLES)
    async with migrated_pool(postgres_server, "services.metrics.migrations", schema="metrics") as pool:
        tables = await pool.fetch(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'metrics'"
            " AND table_name NOT IN ('inbox', 'outbox', 'schema_migrations')"
        )
    assert sorted(r["table_name"] for r in tables) == sorted(METRICS_TABLES)


@pytest.mark.parametrize("seed", range(8))
async def test_a_run_leaves_the_same_rows_as_its_events_one_at_a_time(stores, seed: int):
    events = random_events(random.Random(seed), 120)
    assert max(len(r) for _, r in runs_by_topic(events)) > 1
    each, run = await stores(), await stores()

    await project_each(each.unit_of_work(), events)
    await project_runs(run.unit_of_work(), events)

    expected = await each.rows()
    assert sum(len(rows) for rows in expected.values()) > 0
    assert await run.rows() == expected


@pytest.mark.parametrize("seed", range(4))
async def test_changes_of_every_topic_at_once_leave_the_same_rows_as_one_at_a_time(stores, seed: int):
    """The port does not rely on runs of one topic: mixed changes (a case's owner and its status
    in any order) still leave the rows of their events one at a time."""
    events = random_events(random.Random(200 + seed), 120)
    each, mixed = await stores(), await stores()
    await project_each(each.unit_of_work(), events)
    async with mixed.unit_of_work() as uow:
        await project(uow, [TOPICS[topic][1](envelope) for topic, envelope in events])
        await uow.commit()
    assert await mixed.rows() == await each.rows()


async def test_a_status_read_before_its_assignment_in_one_go_keeps_the_status(stores):
    """The case where the order of a case's owner and status matters: the status's action is older
    than the receipt, so had the assignment come first, that status would lose."""
    owner = dict(team="team-a", caseworker="cw-1", reason="rotation", weight=2.0,
                 protection_assessment_due=None, preliminary_assessment_due=None)  # fmt: skip
    events = [
        ReferralAssigned(uuid.uuid4(), "R8", received_at=T0, assigned_at=T0, **owner),
        CaseActed("referral.decided", "R9", "investigation", T0, None, None),
        ReferralAssigned(uuid.uuid4(), "R9", received_at=T0 + timedelta(hours=3), assigned_at=T0, **owner),
    ]
    each, together = await stores(), await stores()
    async with each.unit_of_work() as uow:
        for event in events:
            await project(uow, [event])
        await uow.commit()
    async with together.unit_of_work() as uow:
        await project(uow, events)
        await uow.commit()

    rows = await each.rows()
    assert [(r[0], r[3]) for r in rows["cases"]] == [("R8", "assigned"), ("R9", "investigation")]
    assert await together.rows() == rows


async def test_the_sequences_depend_on_order_so_a_reordering_run_would_be_caught(stores):
    """The comparison above has teeth: the same events in another order give other rows."""
    each, other = await stores(), await stores()
    differs = 0
    for seed in range(8):
        events = random_events(random.Random(seed), 120)
        await each.clear()
        await other.clear()
        await project_each(each.unit_of_work(), events)
        await project_runs(other.unit_of_work(), events[::-1])
        differs += await each.rows() != await other.rows()
    assert differs > 0


@pytest.mark.parametrize("seed", range(6))
async def test_the_rows_do_not_depend_on_the_order_between_topics(stores, seed: int):
    """Topics have no order between them: a referral's status update may be read before its
    assignment (a consumer catching up reads both at once). Every interleaving that keeps each
    topic's own order must leave the same rows, and the case must end with its latest status."""
    rng = random.Random(seed)
    referrals = {f"R{n}": lifecycle(rng, f"R{n}") for n in range(4)}
    in_topic_order = [
        (topic, envelope)
        for topic in (TOPIC_RECEIVED, TOPIC_ASSIGNED, TOPIC_UPDATED, TOPIC_REGISTERED, TOPIC_DEADLINES)
        for by_topic in referrals.values()
        for envelope in by_topic.get(topic, [])
    ]
    first, other = await stores(), await stores()
    await project_each(first.unit_of_work(), in_topic_order)
    expected = await first.rows()
    latest = {rid: by_topic[TOPIC_UPDATED][-1].data.status for rid, by_topic in referrals.items()}
    assert {r[0]: r[3] for r in expected["cases"]} == latest

    for _ in range(5):
        merged = {topic: [e for t, e in in_topic_order if t == topic] for topic, _ in in_topic_order}
        await other.clear()
        await project_runs(other.unit_of_work(), interleaved(rng, merged))
        assert await other.rows() == expected


async def test_projected_rows_are_kept_only_when_the_unit_of_work_commits(stores):
    store = await stores()
    events = random_events(random.Random(7), 30)
    async with store.unit_of_work() as uow:
        for topic, run in runs_by_topic(events):
            await project(uow, [TOPICS[topic][1](e) for e in run])
    assert all(rows == [] for rows in (await store.rows()).values())


async def test_the_figures_are_read_from_the_rows(stores):
    store = await stores()
    empty = await store.reader.figures()
    assert (empty.received, empty.loads, empty.on_duty, empty.assignment_times.count) == ({}, {}, None, 0)

    await project_runs(store.unit_of_work(), random_events(random.Random(3), 200))
    figures = await store.reader.figures()
    rows = await store.rows()
    assert sum(figures.received.values()) == len(rows["received"])
    assert sum(figures.assignments.values()) == len(rows["assignment_events"])
    assert sum(figures.breaches.values()) == len(rows["breaches"])
    assert sum(figures.notifications.values()) == len(rows["notification_outcomes"])
    assert figures.assignment_times.count == len(rows["assigned"])
    assert sum(figures.open_deadlines.values()) == sum(1 for r in rows["deadline_states"] if r[4] != "met")
    latest = max(rows["handovers"])
    assert figures.on_duty is not None and figures.on_duty.team == latest[2]


def _figures(figures: Figures) -> dict[str, Any]:
    return {f.name: getattr(figures, f.name) for f in dataclasses.fields(figures)}


@pytest.mark.parametrize("seed", range(4))
async def test_the_fake_leaves_the_same_rows_and_gives_the_same_figures_as_postgres(postgres_server, seed):
    events = random_events(random.Random(100 + seed), 150)
    async with in_memory() as memory, in_postgres(postgres_server) as postgres:
        await project_runs(memory.unit_of_work(), events)
        await project_runs(postgres.unit_of_work(), events)
        assert await memory.rows() == await postgres.rows()
        assert _figures(await memory.reader.figures()) == _figures(await postgres.reader.figures())
