"""The national statistics (issue 23): a record per referral as it is stored, assessments and
decisions projected from assignment's events, and the follow-up file's rows for a period."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from services.intake.domain.referrals import Referral
from services.intake.domain.statistics import CaseProgress, StatisticsRecord, age_at_receipt
from services.intake.domain.statistics_export import (
    DEFAULT_MIN_CELL,
    StatisticsRow,
    period_bounds,
    statistics_rows,
)
from services.intake.domain.submissions import Submission
from services.intake.ports import IntakeUnitOfWork, StatisticsUnitOfWork


def statistics_records(submission: Submission, referrals: Sequence[Referral]) -> tuple[StatisticsRecord, ...]:
    """One non-personal record per referral: the submission's codes, the child's sex as given and
    age from the given birth date (never from the number, DOMAIN.md §5)."""
    return tuple(
        StatisticsRecord(
            referral_id=r.referral_id,
            received_at=submission.received_at,
            kind=submission.kind,
            channel=submission.channel,
            reporter_type=submission.reporter_type,
            categories=submission.categories,
            acute_danger=submission.acute_danger,
            sex=submission.children[r.child_index].sex,
            age=age_at_receipt(submission.children[r.child_index], submission.received_at),
        )
        for r in referrals
    )


async def project_decisions(uow: IntakeUnitOfWork, changes: Sequence[CaseProgress]) -> None:
    """Apply a run of assessments and decisions, in the consumer's unit of work."""
    await uow.statistics.decided(changes)


async def statistics_for(
    uow: StatisticsUnitOfWork, start: date, end: date, min_cell: int = DEFAULT_MIN_CELL
) -> list[StatisticsRow]:
    """The follow-up file's rows for referrals received from `start` to `end` (local dates,
    both included), small cells suppressed; InvalidPeriod for a bad period or cell size."""
    begin, until = period_bounds(start, end)
    async with uow:
        records = await uow.statistics.received_between(begin, until)
    return statistics_rows(records, min_cell)
