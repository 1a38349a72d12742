"""The monthly access-log review (issue 19): last month's rows → findings → `access.review`.

Due from office start on the first office day of a month (domain/access_review.py); sent once per
month however many intake instances run or restart: the month's row in `access_reviews` and the
event's outbox row commit together (ports.ReviewStore.claim). The event id is derived from the
month and the moment it was claimed: the same claim gives the same id, while a review sent again
on purpose (its row deleted, RUNBOOK) is a new event that consumers do not drop as a duplicate.

A month that ended before the log's first row is not reviewed: intake was not yet in use, so there
is nothing to review and nothing to tell the head of unit (a fresh installation does not open with
a review of the month before it went live).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Set
from dataclasses import dataclass
from datetime import date, datetime

from services.intake.domain.access_review import (
    Finding,
    ReviewRules,
    SentReview,
    findings_by_kind,
    month_bounds,
    month_due_for_review,
    review_findings,
)
from services.intake.ports import ReviewUnitOfWork
from shared.events import TOPIC_ACCESS, AccessReview, OutboxRow, ReviewFinding, new_envelope, outbox_row

PRODUCER = "intake"
NAMESPACE = uuid.UUID("0c6f3d1e-5a41-4f7b-9d0e-8b1c2a7e4f53")


@dataclass(frozen=True)
class AccessReviewing:
    """What the review needs: units of work, the head of unit (from the unit file), the rules and
    the holiday calendar."""

    unit_of_work: Callable[[], ReviewUnitOfWork]
    head_of_unit: str
    rules: ReviewRules
    holidays: Set[date]


async def send_due_review(reviewing: AccessReviewing, now: datetime) -> str | None:
    """Send the review due at `now` unless it was sent; the month this call sent, else None."""
    month = month_due_for_review(now, reviewing.rules, reviewing.holidays)
    if month is None:
        return None
    async with reviewing.unit_of_work() as uow:
        if await uow.reviews.sent(month):
            return None
        start, end = month_bounds(month, reviewing.rules.tz)
        first = await uow.access_log.chain(0, 1)
        if not first or first[0].entry.at >= end:
            return None
        rows = await uow.access_log.between(start, end)
        findings = review_findings(rows, reviewing.rules, reviewing.holidays)
        head = await uow.access_log.head()
        review = AccessReview(
            month=month,
            head_of_unit=reviewing.head_of_unit,
            entries=len(rows),
            findings=tuple(_wire(f) for f in findings),
            chain_seq=None if head is None else head.seq,
            chain_hash=None if head is None else head.hash.hex(),
        )
        sent = SentReview(
            month, now, len(rows), findings_by_kind(findings), review.chain_seq, review.chain_hash
        )
        claimed = await uow.reviews.claim(sent, review_event(review, now))
        await uow.commit()
    return month if claimed else None


def review_event(review: AccessReview, now: datetime) -> OutboxRow:
    """The `access.review` outbox row, its event id derived from the month and `now`."""
    envelope = new_envelope(
        "access.review",
        review,
        producer=PRODUCER,
        correlation_id=f"access-review:{review.month}",
        occurred_at=now,
    )
    return outbox_row(
        TOPIC_ACCESS, envelope.model_copy(update={"event_id": review_event_id(review.month, now)})
    )


def review_event_id(month: str, sent_at: datetime) -> uuid.UUID:
    """The event id of a month's review sent at `sent_at`."""
    return uuid.uuid5(NAMESPACE, f"access.review/{month}/{sent_at.isoformat()}")


def _wire(finding: Finding) -> ReviewFinding:
    return ReviewFinding(
        kind=finding.kind, staff=finding.staff, count=finding.count, referral_ids=finding.referral_ids
    )
