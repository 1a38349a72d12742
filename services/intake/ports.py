"""What intake's use cases need: submissions, Open ePlatform state, the portal itself, a unit of work.

Protocols only: the Postgres adapters are in `adapters/postgres.py` and `adapters/postgres_oep.py`,
the in-memory fakes in `adapters/memory.py`, the Open ePlatform client in `adapters/oep_client.py`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol

from services.intake.domain.access_log import AccessEntry, LoggedEntry
from services.intake.domain.access_review import SentReview
from services.intake.domain.dossier import Assigned, Projection, Registration, Tracked, Updated
from services.intake.domain.feedback import Decided, FeedbackRequest, Sending
from services.intake.domain.open_eplatform import InstanceState, KeptRaw, TrackedInstance
from services.intake.domain.retention import HoldScope
from services.intake.domain.statistics import CaseProgress, StatisticsRecord
from services.intake.domain.submissions import (
    DataKey,
    Document,
    DocumentInfo,
    EncryptedDetails,
    EncryptedDocument,
    NewSubmission,
    StoredSubmission,
    Submission,
)
from shared.events import OutboxRow
from shared.ports import ConsumingUnitOfWork, UnitOfWork


class SubmissionStore(Protocol):
    """Submissions with their referrals, their encrypted details and their events."""

    async def add(self, submission: NewSubmission, events: Sequence[OutboxRow]) -> StoredSubmission | None:
        """Store a new submission, its details, referrals and events, unless its portal key is
        taken: then store nothing and return what is stored under it (a concurrent twin finds the
        first once it is committed).

        It is one atomic step. As the first thing a unit of work does it goes alone, durable at
        once, and that unit of work takes nothing more; after a load it joins the transaction.
        """
        ...

    async def details(self, submission_id: str) -> EncryptedDetails | None:
        """The encrypted details of a submission (by intake's reference), if it was stored."""
        ...

    async def without_portal_key(self) -> list[tuple[str, str]]:
        """(reference, client id) of every submission stored before portal keys were kept."""
        ...

    async def set_portal_keys(self, keys: Sequence[tuple[str, bytes]]) -> None:
        """Give those submissions (by reference) their portal keys."""
        ...

    async def details_not_under(self, key_id: str, limit: int) -> list[EncryptedDetails]:
        """Up to `limit` details encrypted under another global key than `key_id` (not under a data
        key), in submission id order,
        held for this unit of work; those another unit of work holds are skipped, not waited for."""
        ...

    async def replace_details(self, details: Sequence[EncryptedDetails]) -> None:
        """Store the details anew (re-encrypted under another key)."""
        ...

    async def documents_not_under(self, key_id: str, limit: int) -> list[EncryptedDocument]:
        """Up to `limit` documents encrypted under another global key than `key_id` (not under a
        data key), in (submission id,
        n) order, held for this unit of work; those another unit of work holds are skipped."""
        ...

    async def replace_documents(self, documents: Sequence[EncryptedDocument]) -> None:
        """Store the documents' ciphertexts anew (re-encrypted under another key)."""
        ...


@dataclass(frozen=True)
class AccessLogQuery:
    """Which log rows to list: every given filter must hold; `after_seq` pages on."""

    staff: str | None = None
    referral_id: str | None = None
    child_key: str | None = None
    teams: frozenset[str] | None = None  # a manager sees rows of their team's referrals only
    start: datetime | None = None
    end: datetime | None = None
    after_seq: int = 0
    limit: int = 100


class AccessLogStore(Protocol):
    """The append-only, hash-chained access log (issue 19)."""

    async def append(self, entry: AccessEntry) -> LoggedEntry:
        """Chain the entry after the last one and store it, in this unit of work (which must be
        committed before any personal detail is returned)."""
        ...

    async def query(self, query: AccessLogQuery) -> list[LoggedEntry]:
        """Rows matching the query, in chain order, from `after_seq` on, at most `limit`."""
        ...

    async def between(self, start: datetime, end: datetime) -> list[LoggedEntry]:
        """Every row with start <= at < end, in chain order (the monthly review)."""
        ...

    async def chain(self, after_seq: int, limit: int) -> list[LoggedEntry]:
        """Rows in chain order after `after_seq` (verify-access-log walks the whole chain)."""
        ...

    async def head(self) -> LoggedEntry | None:
        """The newest row of the chain, if any (the monthly review anchors it outside the database)."""
        ...


class DossierPrinter(Protocol):
    """Renders a dossier, as `GET …/dossier` answers it (masked), to a printable document."""

    async def __call__(self, dossier: Mapping[str, Any], printed_by: str, printed_at: datetime) -> bytes:
        """The document, printed by staff id `printed_by` at `printed_at`."""
        ...


class AccessLogUnavailable(Exception):
    """The access log could not be written: nothing may be returned (no row, no data)."""


class DossierStore(Protocol):
    """What intake holds about a referral besides its details: registration and grants."""

    async def find(self, referral_id: str, staff: str, now: datetime) -> Tracked | None:
        """The referral's facts, projection, registration and `staff`'s latest unexpired
        break-the-glass grant, in one load; None when intake has no such referral."""
        ...

    async def details_of(self, submission_id: str) -> tuple[str, bytes] | None:
        """(key id, ciphertext) of the submission's details."""
        ...

    async def documents_of(self, submission_id: str) -> list[DocumentInfo]:
        """The metadata of the submission's documents, by n."""
        ...

    async def document_names_of(self, submission_id: str) -> dict[int, tuple[str, bytes]]:
        """n -> (key id, ciphertext) of the file names the reporter gave the submission's documents
        (bound by `document_name_associated_data`), for those that have one."""
        ...

    async def document(self, submission_id: str, n: int) -> EncryptedDocument | None:
        """The submission's document number `n`, encrypted."""
        ...

    async def register(self, referral_id: str, registration: Registration) -> Registration:
        """Record the registration unless one is stored; return the stored one (this or the first)."""
        ...

    async def grant(self, referral_id: str, staff: str, granted_at: datetime, expires_at: datetime) -> None:
        """Store a break-the-glass grant."""
        ...


class AccessProjectionStore(Protocol):
    """Who each referral belongs to, from `referrals.assigned.v1` and `referrals.updated.v1`."""

    async def assigned(self, changes: Sequence[Assigned]) -> None:
        """Apply assignments in order (a reassignment replaces team, caseworker and mentor)."""
        ...

    async def updated(self, changes: Sequence[Updated]) -> None:
        """Apply status changes in order; a protection assessment, once made, stays made."""
        ...

    async def get(self, referral_id: str) -> Projection | None:
        """The referral's projection, if any event about it arrived."""
        ...


class FeedbackStore(Protocol):
    """Feedback to mandatory reporters (issue 23): decisions, requests and sendings. A request and
    a decision about one referral serialise on it, so whichever comes second sees the first."""

    async def hold(self, referral_id: str) -> None:
        """Hold the referral's feedback turn to the end of the unit of work."""
        ...

    async def decided(self, decided: Decided) -> None:
        """Keep the referral's decision (the first one: a decision is made once)."""
        ...

    async def decision(self, referral_id: str) -> Decided | None:
        """The referral's decision, if assignment announced one."""
        ...

    async def add_request(self, request: FeedbackRequest, recorded_at: datetime) -> FeedbackRequest:
        """Keep the request unless one is stored; the stored one (this or the first)."""
        ...

    async def request(self, referral_id: str) -> FeedbackRequest | None:
        """The request staff recorded, if any."""
        ...

    async def owe(self, sending: Sending) -> bool:
        """Keep a sending unless the referral has one; whether this one was kept."""
        ...

    async def sending(self, referral_id: str) -> Sending | None:
        """The referral's sending, if feedback is owed."""
        ...

    async def claim_due(self, now: datetime, limit: int) -> list[Sending]:
        """Up to `limit` pending sendings due by `now`, oldest first, moved to `sending`; rows
        another unit of work holds are skipped."""
        ...

    async def save(self, sending: Sending) -> None:
        """Store the sending's state as it is now."""
        ...


class AssignmentUnreachable(Exception):
    """Assignment's staff API did not answer in time (or answered 5xx)."""


class AssignmentState(Protocol):
    """Assignment's own, freshest state of a referral (its staff API), asked as the reader."""

    async def current(self, referral_id: str, bearer_token: str) -> Projection | None:
        """The state, or None when assignment has no such referral (or refuses to say);
        AssignmentUnreachable when it cannot be asked."""
        ...


class OepInstanceStore(Protocol):
    """The Open ePlatform poller's state: one row per instance, one cursor per e-service family."""

    async def state_of(self, flow_instance_id: int) -> InstanceState | None:
        """The instance's state, or None if it was never seen."""
        ...

    async def record_stored(
        self,
        flow_instance_id: int,
        family_id: str,
        first_submitted: datetime,
        submission_id: str,
        referral_ids: Sequence[str],
    ) -> None:
        """Mark the instance stored, in the unit of work that stored its submission."""
        ...

    async def record_failure(
        self,
        flow_instance_id: int,
        family_id: str,
        reason: str,
        max_attempts: int,
        first_submitted: datetime | None,
    ) -> tuple[InstanceState, int]:
        """Count a failed attempt at an instance still to be imported; return (state, attempts)."""
        ...

    async def advance(
        self, flow_instance_id: int, from_state: InstanceState, to_state: InstanceState
    ) -> None:
        """Move an instance on after a callback succeeded, only if it is still in `from_state`."""
        ...

    async def awaiting_callback(self, flow_instance_id: int | None = None) -> list[TrackedInstance]:
        """Instances whose callbacks are not all made (all, or only the one given), by id."""
        ...

    async def cursor(self, family_id: str) -> datetime | None:
        """The instant the family was last polled up to, if ever."""
        ...

    async def move_cursor(self, family_id: str, floor: datetime | None = None) -> None:
        """Move the family's cursor by `domain.open_eplatform.cursor_after` over its instances
        (and `floor`, the end of a window listed with toDate)."""
        ...

    async def keep_raw(
        self, flow_instance_id: int, charset: str | None, key_id: str, ciphertext: bytes, size: int
    ) -> None:
        """Keep (or replace) the encrypted raw document of an instance that has a row."""
        ...

    async def raw_of(self, flow_instance_id: int | None = None) -> list[KeptRaw]:
        """Kept raw documents of instances still to be re-mapped (state in REMAPPABLE): all of
        them, or the one given, by id."""
        ...

    async def raw_not_under(self, key_id: str, limit: int) -> list[KeptRaw]:
        """Up to `limit` kept raw documents (of any state) not encrypted under `key_id`, held by this
        unit of work until it ends (others skip them), for re-encryption through `keep_raw`."""
        ...

    async def record_gone(
        self, flow_instance_id: int, family_id: str | None, reason: str
    ) -> InstanceState | None:
        """Mark an instance gone (not done yet) and return the state it had; no more attempts.
        `family_id` may be None for an instance that has a row (LookupError otherwise)."""
        ...


class PortalUnavailable(Exception):
    """The portal did not answer usefully (network, 5xx): try the whole round again later."""


class CallbackFault(Exception):
    """The callback service refused a call with a SOAP fault such as StatusNotFound; the message
    keeps the fault's text. `instance_gone`: the portal no longer knows the instance."""

    def __init__(self, message: str, instance_gone: bool = False) -> None:
        super().__init__(message)
        self.instance_gone = instance_gone


@dataclass(frozen=True)
class PortalForm:
    """An instance as a submission: the form mapped and validated, and its details to encrypt."""

    flow_instance_id: int
    first_submitted: datetime
    submission: Submission
    details: bytes
    original: bytes | None = None  # the instance's XML as fetched, byte for byte
    attachments: tuple[Document, ...] = ()  # uploaded files, then the instance's PDF


class OpenEPlatform(Protocol):
    """One Open ePlatform installation: its REST API and its callback service (DOMAIN.md §4)."""

    async def list_instances(self, family_id: str, from_date: date, to_date: date | None = None) -> list[int]:
        """Ids of the family's instances submitted from `from_date` (to `to_date`, both included);
        PortalUnavailable, also when the portal answers with something else than a list."""
        ...

    async def fetch_form(self, flow_instance_id: int) -> PortalForm:
        """One instance as a submission; InstanceRejected when it cannot be taken (gone, unreadable,
        unmappable, invalid), PortalUnavailable when the portal does not answer."""
        ...

    async def read_form(self, flow_instance_id: int, raw: bytes, charset: str | None) -> PortalForm:
        """A kept raw document as a submission through the current mapping, its attachments
        fetched again; InstanceRejected, PortalUnavailable as `fetch_form`."""
        ...

    async def confirm_delivery(self, flow_instance_id: int, external_id: str, system: str) -> None:
        """Tell the portal the instance was delivered, with our ids; CallbackFault, PortalUnavailable."""
        ...

    async def set_status(self, flow_instance_id: int, status_alias: str) -> None:
        """Set the instance's status by the portal's alias; CallbackFault, PortalUnavailable."""
        ...


class PollerTurn(Protocol):
    """One poller works at a time, however many intake instances run."""

    def hold(self) -> AbstractAsyncContextManager[bool]:
        """Hold the turn for one round if no other poller holds it; yields whether this one does."""
        ...


class ReviewStore(Protocol):
    """Which months' access-log reviews were sent: each once, however many intake instances run."""

    async def sent(self, month: str) -> bool:
        """Whether the review of `month` ("YYYY-MM") was sent (committed)."""
        ...

    async def claim(self, review: SentReview, event: OutboxRow) -> bool:
        """Record the review of `review.month` as sent (with its figures) and its event for the
        outbox, in this unit of work, unless it already is; whether this one did. A concurrent claim
        is waited for: once it commits, this one stores nothing and answers False."""
        ...

    async def recent(self, before: str | None, limit: int) -> list[SentReview]:
        """Up to `limit` sent reviews, latest month first, of months before `before` ("YYYY-MM";
        None: from the latest)."""
        ...


class StatisticsStore(Protocol):
    """The non-personal statistics records (issue 23); each is written with its referral, by
    `SubmissionStore.add`."""

    async def decided(self, changes: Sequence[CaseProgress]) -> None:
        """Apply protection assessments and decisions in order (`domain.statistics.projected`); a
        change about a referral without a record (stored before the records were kept) is skipped."""
        ...

    async def received_between(self, start: datetime, end: datetime) -> list[StatisticsRecord]:
        """Every record with start <= received_at < end, by receipt; StatisticsNotKept when the
        database has no such records at all."""
        ...


class StatisticsNotKept(Exception):
    """The database holds no statistics records (intake's migration 011 has not run there)."""


class StatisticsUnitOfWork(UnitOfWork, Protocol):
    """One transaction over the statistics records: the narrow view the export needs."""

    @property
    def statistics(self) -> StatisticsStore: ...


class DataKeyStore(Protocol):
    """Each submission's data key, wrapped by a key-encryption key (issue 23)."""

    async def get(self, submission_id: str) -> DataKey | None:
        """The submission's data key (destroyed or not); None for a submission without one (its
        rows are still under a global key, from before data keys)."""
        ...

    async def add(self, keys: Sequence[DataKey]) -> None:
        """Store data keys for submissions that have none; one already stored is kept (then `get`
        it: two re-encryptions at once agree on the first)."""
        ...

    async def not_under(self, key_id: str, limit: int) -> list[DataKey]:
        """Up to `limit` live data keys wrapped by another key than `key_id`, held for this unit of
        work; those another unit of work holds are skipped."""
        ...

    async def rewrap(self, keys: Sequence[DataKey]) -> None:
        """Store the data keys wrapped anew (under another key-encryption key)."""
        ...


@dataclass(frozen=True)
class Hold:
    """A legal hold as set: on one referral, or on every referral about its child."""

    scope: HoldScope
    referral_id: str
    child_key: str
    reason: str
    set_by: str
    set_at: datetime
    lifted_by: str | None = None
    lifted_at: datetime | None = None


@dataclass(frozen=True)
class RetentionFacts:
    """A referral not yet erased, as the retention job weighs it: ids, times, holds."""

    referral_id: str
    submission_id: str
    child_index: int
    child_key: str
    registered_at: datetime | None
    legal_hold: bool


@dataclass(frozen=True)
class Erasure:
    """One referral's entry in the retention log: what was erased, when, by which rule."""

    referral_id: str
    submission_id: str
    child_key: str
    erased_at: datetime
    rule: str
    run_id: str


@dataclass(frozen=True)
class HeldAbout:
    """One referral as the register extract lists it: the person's role in it, dates, erasure."""

    referral_id: str
    role: str  # "child" | "guardian"
    kind: str
    received_at: datetime
    registered_at: datetime | None
    erasure: Erasure | None
    legal_hold: bool


class RetentionStore(Protocol):
    """Legal holds, the referrals retention weighs, the erasure itself and its log."""

    async def weigh(self) -> list[RetentionFacts]:
        """Every referral not yet erased, by referral id; holds are locked against change until
        this unit of work ends, so what was weighed is what is erased."""
        ...

    async def erase(self, erasures: Sequence[Erasure], at: datetime) -> None:
        """Destroy the data keys of the erasures' submissions (and delete ciphertext still under a
        global key, and the body's keyed digest), and log each referral: one step."""
        ...

    async def erasure(self, referral_id: str) -> Erasure | None:
        """The referral's retention log entry, if it was erased."""
        ...

    async def set_hold(self, hold: Hold) -> Hold:
        """Set the hold unless one of its scope is active on the referral; the active one."""
        ...

    async def lift_hold(self, scope: HoldScope, referral_id: str, by: str, at: datetime) -> Hold | None:
        """Lift the active hold of that scope set through the referral; None when none is active."""
        ...

    async def about(self, child_key: str, family_key: str) -> list[HeldAbout]:
        """Every referral about the child (by `child_key`) or naming the guardian (by
        `family_key`), erased or not, by receipt time."""
        ...


class AccessLogUnitOfWork(UnitOfWork, Protocol):
    """One transaction over the access log (`GET /v1/access-log` reads it); the narrow view of
    `IntakeUnitOfWork` that the log's queries need."""

    @property
    def access_log(self) -> AccessLogStore: ...


class ReviewUnitOfWork(AccessLogUnitOfWork, Protocol):
    """One transaction of the monthly access-log review: the log to read, the months sent (the
    narrow view of `IntakeUnitOfWork` the review needs)."""

    @property
    def reviews(self) -> ReviewStore: ...


class IntakeUnitOfWork(ConsumingUnitOfWork, Protocol):
    """One transaction over intake's stores, its inbox (the access projection's events) and outbox."""

    @property
    def submissions(self) -> SubmissionStore: ...

    @property
    def oep_instances(self) -> OepInstanceStore: ...

    @property
    def dossiers(self) -> DossierStore: ...

    @property
    def access_projection(self) -> AccessProjectionStore: ...

    @property
    def access_log(self) -> AccessLogStore: ...

    @property
    def reviews(self) -> ReviewStore: ...

    @property
    def feedback(self) -> FeedbackStore: ...

    @property
    def statistics(self) -> StatisticsStore: ...

    @property
    def data_keys(self) -> DataKeyStore: ...

    @property
    def retention(self) -> RetentionStore: ...


class FeedbackNotSent(Exception):
    """The relay certainly did not take the feedback email; `retry` whether it is worth trying
    again (a 4xx or no connection) or not (a 5xx: staff send a letter instead)."""

    def __init__(self, reason: str, *, retry: bool) -> None:
        super().__init__(reason)
        self.retry = retry


class FeedbackMaybeSent(Exception):
    """The connection was lost after the message may have reached the relay: never resent."""


class FeedbackMailer(Protocol):
    """Sends one feedback email to a reporter's (organisation's) address."""

    async def send(self, to: str, subject: str, body: str) -> None:
        """Hand the message to the relay; FeedbackNotSent or FeedbackMaybeSent when it failed."""
        ...
