"""Intake's access ports (issue 19), run against the in-memory fakes and Postgres: the access log
(chained, gap-free, one appender at a time, filtered queries), the access projection, the
dossier store (facts, registration, grants) and the unit of work's inbox and outbox."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.intake.adapters.memory import InMemoryIntakeUnitOfWork, IntakeTables
from services.intake.adapters.postgres import PostgresIntakeUnitOfWork
from services.intake.domain.access_chain import GENESIS, ChainCheck, entry_hash
from services.intake.domain.access_log import AccessAction, AccessEntry, AccessRelation, Outcome
from services.intake.domain.dossier import Assigned, Projection, Registration, Updated
from services.intake.domain.dossier_access import Assignment
from services.intake.ports import AccessLogQuery
from shared.events import TOPIC_RECEIVED, outbox_row
from tests.conftest import migrated_pool
from tests.intake_fakes import new_submission
from tests.wire import received_event

T0 = datetime(2026, 11, 20, 9, 0, 0, 123456, tzinfo=UTC)


@pytest.fixture(params=["memory", "postgres"])
async def unit_of_work(request: pytest.FixtureRequest) -> AsyncIterator[Callable[[], Any]]:
    if request.param == "memory":
        tables = IntakeTables()
        yield lambda: InMemoryIntakeUnitOfWork(tables)
        return
    server = request.getfixturevalue("postgres_server")
    async with migrated_pool(server, "services.intake.migrations", schema="intake") as pool:
        yield lambda: PostgresIntakeUnitOfWork(pool)


def entry(n: int = 0, **changes: Any) -> AccessEntry:
    base = AccessEntry(
        at=T0 + timedelta(minutes=n), staff="cw-a1", role="caseworker", relation=AccessRelation.ASSIGNED,
        referral_id="R-1", child_key="c-1", action=AccessAction.READ, reason=None, outcome=Outcome.ALLOWED,
        client_addr="10.0.0.1", request_id=f"req-{n}",
    )  # fmt: skip
    return replace(base, **changes)


async def append(unit_of_work: Callable[[], Any], *entries: AccessEntry) -> None:
    async with unit_of_work() as uow:
        for e in entries:
            await uow.access_log.append(e)
        await uow.commit()


async def whole_log(unit_of_work: Callable[[], Any]) -> list[Any]:
    async with unit_of_work() as uow:
        return list(await uow.access_log.chain(0, 10_000))


# The access log


async def test_rows_are_chained_from_genesis_with_gap_free_seq_and_come_back_as_written(unit_of_work):
    written = [entry(0), entry(1, reason="Akut, polisen ringde", action=AccessAction.BREAK_GLASS), entry(2)]
    await append(unit_of_work, *written[:2])
    await append(unit_of_work, written[2])

    rows = await whole_log(unit_of_work)

    assert [r.seq for r in rows] == [1, 2, 3]
    assert [r.entry for r in rows] == written
    assert rows[0].prev_hash == GENESIS
    for before, row in zip([None, *rows], rows, strict=False):
        prev = GENESIS if before is None else before.hash
        assert row.prev_hash == prev and row.hash == entry_hash(prev, row.seq, row.entry)


async def test_an_append_rolled_back_leaves_no_gap(unit_of_work):
    async with unit_of_work() as uow:
        await uow.access_log.append(entry(0))  # never committed
    await append(unit_of_work, entry(1))

    assert [(r.seq, r.entry.request_id) for r in await whole_log(unit_of_work)] == [(1, "req-1")]


async def test_concurrent_appends_take_turns_and_make_one_intact_chain(unit_of_work):
    async def one(n: int) -> None:
        async with unit_of_work() as uow:
            await uow.access_log.append(entry(n))
            await asyncio.sleep(0.01)  # hold the turn a moment, as a request does up to its commit
            await uow.commit()

    await asyncio.gather(*(one(n) for n in range(8)))

    rows = await whole_log(unit_of_work)
    check = ChainCheck()
    assert check.feed(rows) is None
    assert [r.seq for r in rows] == list(range(1, 9))
    assert sorted(r.entry.request_id for r in rows) == sorted(f"req-{n}" for n in range(8))


async def test_the_log_is_queried_by_staff_referral_child_key_time_and_team_in_chain_order(unit_of_work):
    await store_referral(unit_of_work, "R-a")
    async with unit_of_work() as uow:
        await uow.access_projection.assigned([Assigned("R-a", "team-a", "cw-a1", None, None, None)])
        await uow.commit()
    await append(
        unit_of_work,
        entry(0, referral_id="R-a", staff="cw-a1"),
        entry(1, referral_id="R-b", staff="cw-b1", child_key="c-b"),
        entry(2, referral_id="R-a", staff="head"),
        entry(3, referral_id="R-a", staff="cw-a1"),
    )

    async def seqs(**filters: Any) -> list[int]:
        async with unit_of_work() as uow:
            return [r.seq for r in await uow.access_log.query(AccessLogQuery(**filters))]

    assert await seqs() == [1, 2, 3, 4]
    assert await seqs(staff="cw-a1") == [1, 4]
    assert await seqs(referral_id="R-b") == [2]
    assert await seqs(child_key="c-b") == [2]
    assert await seqs(teams=frozenset({"team-a"})) == [1, 3, 4]
    assert await seqs(teams=frozenset({"team-c"})) == []
    assert await seqs(start=T0 + timedelta(minutes=1), end=T0 + timedelta(minutes=3)) == [2, 3]
    assert await seqs(after_seq=1, limit=2) == [2, 3]
    async with unit_of_work() as uow:
        between = await uow.access_log.between(T0 + timedelta(minutes=2), T0 + timedelta(hours=1))
        assert [r.seq for r in between] == [3, 4]
        assert [r.seq for r in await uow.access_log.chain(2, 1)] == [3]


async def test_the_head_is_the_newest_row_and_none_on_an_empty_log(unit_of_work):
    async with unit_of_work() as uow:
        assert await uow.access_log.head() is None
    await append(unit_of_work, entry(0), entry(1))
    await append(unit_of_work, entry(2))

    async with unit_of_work() as uow:
        head = await uow.access_log.head()

    assert head == (await whole_log(unit_of_work))[-1]
    assert head is not None and head.seq == 3


# The access projection


async def test_the_projection_takes_assignments_and_updates_in_either_order(unit_of_work):
    due = T0 + timedelta(days=14)
    async with unit_of_work() as uow:
        await uow.access_projection.updated([Updated("R-1", "protection_assessed", True, None, None)])
        await uow.access_projection.assigned([Assigned("R-1", "team-a", "cw-a5", "cw-a1", T0, due)])
        await uow.access_projection.assigned([Assigned("R-2", "team-b", "cw-b2", None, T0, due)])
        await uow.access_projection.assigned([Assigned("R-2", "team-b", "cw-b3", None, None, None)])
        await uow.access_projection.updated([Updated("R-2", "acknowledged", False, None, None)])
        await uow.access_projection.updated([Updated("R-1", "investigating", False, due, None)])
        await uow.commit()

    async with unit_of_work() as uow:
        one, two = await uow.access_projection.get("R-1"), await uow.access_projection.get("R-2")
        assert await uow.access_projection.get("R-3") is None
    assert one == Projection(
        Assignment("team-a", "cw-a5", "cw-a1"), "investigating", True, T0, due, due, None
    )
    assert two == Projection(Assignment("team-b", "cw-b3", None), "acknowledged", False, T0, due, None, None)


# The dossier store


async def store_referral(unit_of_work: Callable[[], Any], *ids: str, children: int = 1) -> Any:
    submission = new_submission(children=children)
    if ids:
        refs = tuple(replace(r, referral_id=i) for r, i in zip(submission.referrals, ids, strict=True))
        submission = replace(submission, referrals=refs)
    async with unit_of_work() as uow:
        await uow.submissions.add(submission, [])
        await uow.commit()
    return submission


async def test_a_referral_is_found_with_its_siblings_projection_registration_and_live_grant(unit_of_work):
    submission = await store_referral(unit_of_work, "R-x", "R-y", "R-z", children=3)
    registration = Registration("BoU 2026/1", T0, "in-1", T0 + timedelta(minutes=1))
    async with unit_of_work() as uow:
        assert await uow.dossiers.find("R-x", "cw-c1", T0) is not None
        await uow.access_projection.assigned([Assigned("R-y", "team-a", "cw-a5", None, None, None)])
        assert await uow.dossiers.register("R-y", registration) == registration
        assert (
            await uow.dossiers.register("R-y", replace(registration, system_case_number="other"))
            == registration
        )
        await uow.dossiers.grant("R-y", "cw-c1", T0, T0 + timedelta(hours=1))
        await uow.dossiers.grant("R-y", "cw-c1", T0, T0 + timedelta(hours=4))
        await uow.dossiers.grant("R-y", "cw-c2", T0, T0 + timedelta(hours=8))
        await uow.commit()

    async with unit_of_work() as uow:
        found = await uow.dossiers.find("R-y", "cw-c1", T0 + timedelta(hours=2))
        expired = await uow.dossiers.find("R-y", "cw-c1", T0 + timedelta(hours=4))
        alone = await uow.dossiers.find("R-x", "cw-c1", T0)
        assert await uow.dossiers.find("R-none", "cw-c1", T0) is None
        details = await uow.dossiers.details_of(submission.details.submission_id)
    assert found is not None and expired is not None and alone is not None
    facts = found.referral
    assert (facts.referral_id, facts.submission_id, facts.child_index) == ("R-y", submission.submission_id, 1)
    assert facts.sibling_referral_ids == ("R-x", "R-z")
    assert facts.child_key == submission.referrals[1].child_key
    assert found.projection is not None and found.projection.assignment == Assignment("team-a", "cw-a5", None)
    assert found.registration == registration and found.grant_until == T0 + timedelta(hours=4)
    assert expired.grant_until is None
    assert (alone.projection, alone.registration, alone.grant_until) == (None, None, None)
    assert details == (submission.details.key_id, submission.details.ciphertext)


# Intake as a consumer


async def test_the_inbox_and_outbox_work_in_the_unit_of_work_and_commit_with_it(unit_of_work):
    event = outbox_row(TOPIC_RECEIVED, received_event("R-9"))
    async with unit_of_work() as uow:
        assert await uow.inbox.first_deliveries("intake", ["e1", "e2"]) == {"e1", "e2"}
        await uow.outbox.add([event])
    async with unit_of_work() as uow:  # the first was rolled back
        assert await uow.inbox.first_deliveries("intake", ["e1"]) == {"e1"}
        await uow.outbox.add([event])
        await uow.commit()
    async with unit_of_work() as uow:
        assert await uow.inbox.first_deliveries("intake", ["e1", "e3"]) == {"e3"}
