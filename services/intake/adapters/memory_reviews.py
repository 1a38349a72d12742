"""In-memory fake of the review store (ports.ReviewStore), part of intake's fake unit of work.

As in Postgres (tests/contract/test_intake_review_ports.py): a month is claimed once, with its
event; a claim another open unit of work holds makes this one answer False (Postgres would wait
for that one's commit and then answer False; the fake cannot wait), and is released when that
unit of work ends without committing.
"""

from __future__ import annotations

from collections.abc import Callable

from services.intake.domain.access_review import SentReview
from shared.events import OutboxRow


class InMemoryReviewStore:
    """The months whose review was sent (`access_reviews`: month -> the review) over the fake tables.

    `claimed` maps a month to the open unit of work that claimed it (its primary key entry): it is
    shared by every unit of work over the same tables and never part of a copy.
    """

    def __init__(
        self,
        access_reviews: dict[str, SentReview],
        outbox: list[OutboxRow],
        claimed: dict[str, int],
        holder: int,
        begin: Callable[[], None],
    ) -> None:
        self._reviews, self._outbox, self._claimed = access_reviews, outbox, claimed
        self._holder, self._begin = holder, begin

    async def sent(self, month: str) -> bool:
        """Whether the month is recorded (committed, or claimed in this unit of work)."""
        self._begin()
        return month in self._reviews

    async def claim(self, review: SentReview, event: OutboxRow) -> bool:
        """The month and its event, unless recorded or claimed by another open unit of work."""
        self._begin()
        month = review.month
        if month in self._reviews or self._claimed.get(month, self._holder) != self._holder:
            return False
        self._claimed[month] = self._holder
        self._reviews[month] = review
        self._outbox.append(event)
        return True

    async def recent(self, before: str | None, limit: int) -> list[SentReview]:
        """Latest month first, months before `before` only (committed or claimed here)."""
        self._begin()
        months = sorted((m for m in self._reviews if before is None or m < before), reverse=True)
        return [self._reviews[m] for m in months[:limit]]
