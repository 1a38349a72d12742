"""In-memory fakes of intake's stores and unit of work, for use-case tests (no Postgres).

They keep what the use cases rely on from Postgres (tests/contract/test_intake_ports.py proves
it): a submission id is stored once; a submission stored as a unit of work's first step is
durable at once and ends what that unit of work may do (`postgres_session.py`); details held by
one unit of work are skipped by another; the instance states and the cursor follow the domain's
rules; one poller holds the turn at a time.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Self

from services.intake.adapters.memory_dossier import (
    AppendTurn,
    Grant,
    InMemoryAccessLogStore,
    InMemoryAccessProjectionStore,
    InMemoryDossierStore,
)
from services.intake.adapters.memory_feedback import FeedbackTables, InMemoryFeedbackStore
from services.intake.adapters.memory_oep import InMemoryOepInstanceStore, InMemoryPollerTurn, InstanceRow
from services.intake.adapters.memory_retention import InMemoryDataKeyStore, InMemoryRetentionStore
from services.intake.adapters.memory_reviews import InMemoryReviewStore
from services.intake.adapters.memory_statistics import InMemoryStatisticsStore
from services.intake.domain.access_log import LoggedEntry
from services.intake.domain.access_review import SentReview
from services.intake.domain.dossier import Projection, ReferralFacts, Registration
from services.intake.domain.statistics import StatisticsRecord
from services.intake.domain.submissions import (
    DataKey,
    EncryptedDetails,
    EncryptedDocument,
    NewSubmission,
    StoredSubmission,
)
from services.intake.ports import Erasure, Hold
from shared.crypto import DATA_KEY_ID
from shared.events import OutboxRow
from shared.memory import InMemoryInbox, InMemoryOutbox, InMemoryUnitOfWork, Tables

__all__ = ["InMemoryIntakeUnitOfWork", "InMemoryPollerTurn", "IntakeTables"]
_ALONE = "this unit of work stored a submission alone (already durable): it takes no other statement"


@dataclass
class IntakeTables(Tables):
    """Intake's committed state: submissions, details, referrals, the poller's state, the dossier's
    tables, the access log, the months reviewed (and the inbox and outbox)."""

    submissions: dict[str, StoredSubmission] = field(default_factory=dict)  # by reference
    client_of: dict[str, str] = field(default_factory=dict)  # reference -> portal client
    by_portal_key: dict[bytes, str] = field(default_factory=dict)  # -> reference
    details: dict[str, EncryptedDetails] = field(default_factory=dict)
    documents: dict[tuple[str, int], EncryptedDocument] = field(default_factory=dict)  # (reference, n)
    referrals: dict[str, str] = field(default_factory=dict)  # referral id -> submission id
    oep_instances: dict[int, InstanceRow] = field(default_factory=dict)
    oep_cursors: dict[str, datetime] = field(default_factory=dict)
    # Details held by an open unit of work (FOR UPDATE): shared by all, never part of a copy.
    held_details: dict[str, int] = field(default_factory=dict)
    held_documents: dict[tuple[str, int], int] = field(default_factory=dict)
    held_data_keys: dict[str, int] = field(default_factory=dict)
    referral_facts: dict[str, ReferralFacts] = field(default_factory=dict)
    projections: dict[str, Projection] = field(default_factory=dict)
    registrations: dict[str, Registration] = field(default_factory=dict)
    grants: list[Grant] = field(default_factory=list)
    access_log: list[LoggedEntry] = field(default_factory=list)
    access_reviews: dict[str, SentReview] = field(default_factory=dict)  # month -> the review sent
    statistics: dict[str, StatisticsRecord] = field(default_factory=dict)  # by referral id
    # Months claimed by an open unit of work (the primary key entry): shared, never part of a copy.
    claimed_months: dict[str, int] = field(default_factory=dict)
    feedback: FeedbackTables = field(default_factory=FeedbackTables)
    data_keys: dict[str, DataKey] = field(default_factory=dict)  # by submission id
    legal_holds: list[Hold] = field(default_factory=list)
    retention_log: dict[str, Erasure] = field(default_factory=dict)  # by referral id
    kinds: dict[str, str] = field(default_factory=dict)  # referral id -> kind


# The access log's append turn of each fake database (the advisory lock), by the tables' identity.
_APPEND_TURNS: dict[int, AppendTurn] = {}


class _Steps:
    """Whether the unit of work's transaction began, or one statement went alone."""

    def __init__(self) -> None:
        self.begun = False
        self.alone = False

    def in_transaction(self) -> None:
        if self.alone:
            raise RuntimeError(_ALONE)
        self.begun = True

    def for_one_statement(self) -> None:
        if self.alone:
            raise RuntimeError(_ALONE)
        self.alone = not self.begun


class InMemorySubmissionStore:
    """The submission store over the fake tables."""

    def __init__(self, work: IntakeTables, committed: IntakeTables, steps: _Steps, holder: int) -> None:
        self._tables, self._committed, self._steps, self._holder = work, committed, steps, holder
        self._held = committed.held_details

    async def add(self, submission: NewSubmission, events: Sequence[OutboxRow]) -> StoredSubmission | None:
        """Store it all unless the id is taken; then return the stored one. Alone, it reads and
        writes the committed tables at once, as a lone statement does."""
        self._steps.for_one_statement()
        tables = self._committed if self._steps.alone else self._tables
        stored = tables.by_portal_key.get(submission.portal_key)
        if stored is not None:
            return tables.submissions[stored]
        taken = [r.referral_id for r in submission.referrals if r.referral_id in tables.referrals]
        if taken:
            raise ValueError(f"referral ids already stored: {taken}")  # a primary key in Postgres
        tables.submissions[submission.submission_id] = StoredSubmission(
            submission.body_digest, submission.receipt
        )
        tables.by_portal_key[submission.portal_key] = submission.submission_id
        tables.client_of[submission.submission_id] = submission.client_id
        tables.details[submission.submission_id] = submission.details
        tables.documents.update(((d.submission_id, d.info.n), d) for d in submission.documents)
        tables.kinds.update((r.referral_id, submission.kind) for r in submission.referrals)
        if submission.data_key is not None:
            tables.data_keys[submission.submission_id] = submission.data_key
        tables.referrals.update((r.referral_id, submission.submission_id) for r in submission.referrals)
        received = submission.receipt.received_at
        tables.referral_facts.update(
            (r.referral_id, ReferralFacts(
                r.referral_id, submission.submission_id, r.child_index, r.child_key, r.family_key,
                received, r.protected_identity, r.sibling_referral_ids,
            ))
            for r in submission.referrals
        )  # fmt: skip
        tables.statistics.update((r.referral_id, r) for r in submission.statistics)
        tables.outbox.extend(events)
        return None

    async def details(self, submission_id: str) -> EncryptedDetails | None:
        """The encrypted details, if stored."""
        self._steps.in_transaction()
        return self._tables.details.get(submission_id)

    async def without_portal_key(self) -> list[tuple[str, str]]:
        """Submissions without a portal key (stored as before migration 003), by reference."""
        self._steps.in_transaction()
        keyed = set(self._tables.by_portal_key.values())
        return sorted((ref, client) for ref, client in self._tables.client_of.items() if ref not in keyed)

    async def set_portal_keys(self, keys: Sequence[tuple[str, bytes]]) -> None:
        """Give them their keys."""
        if keys:
            self._steps.in_transaction()
            self._tables.by_portal_key.update((key, ref) for ref, key in keys)

    async def details_not_under(self, key_id: str, limit: int) -> list[EncryptedDetails]:
        """The first `limit` not under `key_id` and not held by another unit of work, now held."""
        self._steps.in_transaction()
        free = [
            d
            for sid, d in sorted(self._tables.details.items())
            if d.key_id not in (key_id, DATA_KEY_ID) and self._held.get(sid, self._holder) == self._holder
        ][:limit]
        self._held.update((d.submission_id, self._holder) for d in free)
        return free

    async def replace_details(self, details: Sequence[EncryptedDetails]) -> None:
        """Store them anew."""
        if details:
            self._steps.in_transaction()
            self._tables.details.update((d.submission_id, d) for d in details)

    async def documents_not_under(self, key_id: str, limit: int) -> list[EncryptedDocument]:
        """The first `limit` not under `key_id` and not held by another unit of work, now held."""
        self._steps.in_transaction()
        held = self._committed.held_documents
        free = [
            d
            for at, d in sorted(self._tables.documents.items())
            if d.key_id not in (key_id, DATA_KEY_ID) and held.get(at, self._holder) == self._holder
        ][:limit]
        held.update(((d.submission_id, d.info.n), self._holder) for d in free)
        return free

    async def replace_documents(self, documents: Sequence[EncryptedDocument]) -> None:
        """Store them anew."""
        if documents:
            self._steps.in_transaction()
            self._tables.documents.update(((d.submission_id, d.info.n), d) for d in documents)


class InMemoryIntakeUnitOfWork(InMemoryUnitOfWork[IntakeTables]):
    """Intake's unit of work over fake tables; instances over the same tables share their state."""

    _holders = itertools.count(1)

    def __init__(self, committed: IntakeTables) -> None:
        super().__init__(committed)
        self._holder = next(self._holders)
        self._steps = _Steps()
        self._turn: AppendTurn | None = None

    @property
    def submissions(self) -> InMemorySubmissionStore:
        """Submissions, in this unit of work."""
        return InMemorySubmissionStore(self.tables, self.committed, self._steps, self._holder)

    @property
    def oep_instances(self) -> InMemoryOepInstanceStore:
        """The poller's state, in this unit of work."""
        tables = self.tables
        return InMemoryOepInstanceStore(tables.oep_instances, tables.oep_cursors, self._steps.in_transaction)

    @property
    def dossiers(self) -> InMemoryDossierStore:
        """Referral facts, registrations and grants, in this unit of work."""
        return InMemoryDossierStore(self.tables, self._steps.in_transaction)

    @property
    def access_projection(self) -> InMemoryAccessProjectionStore:
        """The access projection, in this unit of work."""
        return InMemoryAccessProjectionStore(self.tables, self._steps.in_transaction)

    @property
    def access_log(self) -> InMemoryAccessLogStore:
        """The access log, in this unit of work."""
        return InMemoryAccessLogStore(
            self.tables, self.committed, self._steps.in_transaction, self._take_turn
        )

    @property
    def reviews(self) -> InMemoryReviewStore:
        """The months whose access-log review was sent, in this unit of work."""
        tables = self.tables
        return InMemoryReviewStore(
            tables.access_reviews, tables.outbox, self.committed.claimed_months, self._holder,
            self._steps.in_transaction,
        )  # fmt: skip

    @property
    def feedback(self) -> InMemoryFeedbackStore:
        """Feedback to mandatory reporters, in this unit of work."""
        return InMemoryFeedbackStore(self.tables.feedback, self._steps.in_transaction)

    @property
    def statistics(self) -> InMemoryStatisticsStore:
        """The statistics records, in this unit of work."""
        return InMemoryStatisticsStore(self.tables.statistics, self._steps.in_transaction)

    @property
    def data_keys(self) -> InMemoryDataKeyStore:
        """Each submission's data key, in this unit of work."""
        held = self.committed.held_data_keys
        return InMemoryDataKeyStore(self.tables, self._steps.in_transaction, held, self._holder)

    @property
    def retention(self) -> InMemoryRetentionStore:
        """Legal holds, erasure and the retention log, in this unit of work."""
        return InMemoryRetentionStore(self.tables, self._steps.in_transaction)

    @property
    def inbox(self) -> InMemoryInbox:
        """The inbox, in this unit of work's transaction."""
        self._steps.in_transaction()
        return InMemoryInbox(self.tables)

    @property
    def outbox(self) -> InMemoryOutbox:
        """The outbox, in this unit of work's transaction."""
        self._steps.in_transaction()
        return InMemoryOutbox(self.tables)

    async def _take_turn(self) -> bool:
        """Take the log's append turn unless this unit of work holds it; whether it was taken now."""
        if self._turn is not None:
            return False
        turn = _APPEND_TURNS.setdefault(id(self.committed), AppendTurn())
        await turn.take()
        self._turn = turn
        return True

    async def __aenter__(self) -> Self:
        await super().__aenter__()
        self._steps = _Steps()
        self._turn = None
        return self

    async def commit(self) -> None:
        """Make the working copy the committed state, keeping every unit of work's holds; after a
        lone statement there is nothing to commit."""
        if self._steps.alone:
            self.commits += 1
            return
        c = self.committed
        held, documents, claimed, data_keys = (
            c.held_details,
            c.held_documents,
            c.claimed_months,
            c.held_data_keys,
        )
        await super().commit()
        c = self.committed
        c.held_details, c.held_documents, c.claimed_months = held, documents, claimed
        c.held_data_keys = data_keys

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        held = self.committed.held_details
        for sid in [s for s, holder in held.items() if holder == self._holder]:
            del held[sid]
        documents = self.committed.held_documents
        for at in [a for a, holder in documents.items() if holder == self._holder]:
            del documents[at]
        data_keys = self.committed.held_data_keys
        for sid in [s for s, holder in data_keys.items() if holder == self._holder]:
            del data_keys[sid]
        claimed = self.committed.claimed_months
        for month in [m for m, holder in claimed.items() if holder == self._holder]:
            del claimed[month]
        if self._turn is not None:
            self._turn.give_back()
            self._turn = None
        await super().__aexit__(exc_type, exc, tb)
