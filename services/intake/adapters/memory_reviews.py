"""In-memory fake of the review store (ports.ReviewStore) and an intake unit of work with it.

As in Postgres (tests/contract/test_intake_review_ports.py): a month is claimed once, with its
event; a claim another open unit of work holds makes this one answer False (Postgres would wait
for that one's commit and then answer False; the fake cannot wait), and is released when that
unit of work ends without committing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType

from services.intake.adapters.memory import InMemoryIntakeUnitOfWork, IntakeTables
from shared.events import OutboxRow


@dataclass
class ReviewTables(IntakeTables):
    """Intake's tables with `access_reviews` (month -> sent_at)."""

    access_reviews: dict[str, datetime] = field(default_factory=dict)
    # Months claimed by an open unit of work (its primary key entry): shared, never copied.
    claimed: dict[str, int] = field(default_factory=dict)


class InMemoryReviewStore:
    """The months whose review was sent, over the fake tables."""

    def __init__(self, work: ReviewTables, claimed: dict[str, int], holder: int) -> None:
        self._tables, self._claimed, self._holder = work, claimed, holder

    async def sent(self, month: str) -> bool:
        """Whether the month is recorded (committed, or claimed in this unit of work)."""
        return month in self._tables.access_reviews

    async def claim(self, month: str, sent_at: datetime, event: OutboxRow) -> bool:
        """The month and its event, unless recorded or claimed by another open unit of work."""
        if month in self._tables.access_reviews or self._claimed.get(month, self._holder) != self._holder:
            return False
        self._claimed[month] = self._holder
        self._tables.access_reviews[month] = sent_at
        self._tables.outbox.append(event)
        return True


class InMemoryReviewUnitOfWork(InMemoryIntakeUnitOfWork):
    """Intake's fake unit of work with the review's months; instances over the same tables share them."""

    def __init__(self, committed: ReviewTables) -> None:
        super().__init__(committed)
        self._review_tables = committed

    @property
    def reviews(self) -> InMemoryReviewStore:
        """The months whose review was sent, in this unit of work."""
        work = self.tables
        assert isinstance(work, ReviewTables)
        return InMemoryReviewStore(work, self._review_tables.claimed, self._holder)

    async def commit(self) -> None:
        """Commit, keeping the open claims of other units of work."""
        claimed = self._review_tables.claimed
        await super().commit()
        self._review_tables.claimed = claimed

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        claimed = self._review_tables.claimed
        for month in [m for m, holder in claimed.items() if holder == self._holder]:
            del claimed[month]
        await super().__aexit__(exc_type, exc, tb)
