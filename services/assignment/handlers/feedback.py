"""Use case: intake's news about feedback to a mandatory reporter (`referrals.feedback.v1`).

A request recorded after the report starts the feedback clock (or makes it due at once after the
decision); feedback sent stops it: the deadline scan reads only clocks without `feedback_sent_at`,
so no reminder or breach follows. Runs in the unit of work the consumer opened for the batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from services.assignment.domain.cases import feedback_requested_later, feedback_sent
from services.assignment.domain.errors import CaseNotFound
from services.assignment.domain.unit import Unit
from services.assignment.ports import AssignmentUnitOfWork


@dataclass(frozen=True)
class FeedbackNews:
    """`kind` is "requested" or "sent"; `at` when it happened."""

    referral_id: str
    kind: str
    at: datetime


async def record_feedback_news(uow: AssignmentUnitOfWork, unit: Unit, news: Sequence[FeedbackNews]) -> None:
    """Apply each request or sending to its case, in order; CaseNotFound or a domain refusal
    means intake and assignment disagree (the Kafka edge dead-letters it)."""
    for item in news:
        case = await uow.cases.get_for_update(item.referral_id)
        if case is None:
            raise CaseNotFound
        if item.kind == "requested":
            after = feedback_requested_later(case, item.at, unit)
        else:
            after = feedback_sent(case, item.at)
        await uow.cases.save(case, after)
