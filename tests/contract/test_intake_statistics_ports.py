"""Intake's statistics store (issue 23), run against the in-memory fake and Postgres: a record is
stored with its submission in the same statement (and not again for a resubmission), assessments
and decisions follow `domain.statistics.projected`, and the period is half-open."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from services.intake.adapters.memory import InMemoryIntakeUnitOfWork, IntakeTables
from services.intake.adapters.postgres import PostgresIntakeUnitOfWork
from services.intake.domain.statistics import CaseProgress, StatisticsRecord
from tests.conftest import migrated_pool
from tests.intake_fakes import NOW, new_submission


@pytest.fixture(params=["memory", "postgres"])
async def unit_of_work(request: pytest.FixtureRequest) -> AsyncIterator[Callable[[], Any]]:
    if request.param == "memory":
        tables = IntakeTables()
        yield lambda: InMemoryIntakeUnitOfWork(tables)
        return
    server = request.getfixturevalue("postgres_server")
    async with migrated_pool(server, "services.intake.migrations", schema="intake") as pool:
        yield lambda: PostgresIntakeUnitOfWork(pool)


def with_records(submission: Any, **changes: Any) -> Any:
    records = tuple(
        StatisticsRecord(
            referral_id=r.referral_id, received_at=submission.received_at, kind="application",
            channel="phone", reporter_type="police", categories=("violence", "neglect"), acute_danger=True,
            sex=("girl", "boy")[r.child_index % 2], age=None if r.child_index else 7,
        )
        for r in submission.referrals
    )  # fmt: skip
    return replace(submission, statistics=tuple(replace(r, **changes) for r in records))


async def store(unit_of_work: Callable[[], Any], submission: Any) -> Any:
    async with unit_of_work() as uow:
        stored = await uow.submissions.add(submission, [])
        await uow.commit()
    return stored


async def records(unit_of_work: Callable[[], Any], hours: int = 1) -> list[StatisticsRecord]:
    async with unit_of_work() as uow:
        return list(
            await uow.statistics.received_between(NOW - timedelta(hours=hours), NOW + timedelta(hours=hours))
        )


async def test_the_records_are_stored_with_their_submission_and_not_again_for_a_resubmission(unit_of_work):
    submission = with_records(new_submission(children=2))
    assert await store(unit_of_work, submission) is None
    assert await records(unit_of_work) == sorted(submission.statistics, key=lambda r: r.referral_id)

    # The same portal id again: the stored one is returned and nothing new is stored.
    again = with_records(replace(submission, referrals=new_submission(children=2).referrals), age=3)
    assert await store(unit_of_work, again) is not None
    assert await records(unit_of_work) == sorted(submission.statistics, key=lambda r: r.referral_id)


async def test_assessments_and_decisions_follow_the_domain_rule_and_unknown_referrals_are_skipped(
    unit_of_work,
):
    submission = with_records(new_submission())
    await store(unit_of_work, submission)
    rid = submission.referrals[0].referral_id
    first, later, decision = NOW + timedelta(hours=2), NOW + timedelta(days=1), NOW + timedelta(days=10)
    async with unit_of_work() as uow:
        await uow.statistics.decided([
            CaseProgress(rid, first, True, None), CaseProgress(rid, later, True, None),
            CaseProgress("R-NOT-HERE", later, False, "no_investigation"),
            CaseProgress(rid, decision, False, "joined_ongoing"),
            CaseProgress(rid, decision + timedelta(days=1), False, None),
        ])  # fmt: skip
        await uow.commit()
    [stored] = await records(unit_of_work)
    assert (stored.protection_assessed_at, stored.decision, stored.decided_at) == (
        first,
        "joined_ongoing",
        decision,
    )


async def test_a_decision_not_committed_is_not_there(unit_of_work):
    submission = with_records(new_submission())
    await store(unit_of_work, submission)
    rid = submission.referrals[0].referral_id
    async with unit_of_work() as uow:
        await uow.statistics.decided([CaseProgress(rid, NOW, False, "open_investigation")])
    [stored] = await records(unit_of_work)
    assert stored.decision is None


async def test_the_period_includes_its_start_and_excludes_its_end(unit_of_work):
    at_start, at_end = with_records(new_submission()), with_records(new_submission())
    at_end = replace(
        at_end, statistics=tuple(replace(r, received_at=NOW + timedelta(hours=1)) for r in at_end.statistics)
    )
    await store(unit_of_work, at_start)
    await store(unit_of_work, at_end)
    async with unit_of_work() as uow:
        found = await uow.statistics.received_between(NOW, NOW + timedelta(hours=1))
    assert [r.referral_id for r in found] == [at_start.referrals[0].referral_id]
