"""Receiving a submission: what intake routes by, what it stores, and how it answers a resubmission.

A portal's submission id is received once per portal client. The same id again with an identical
body gets the original answer (the portal retried after a timeout or a 503); with another body it
is a conflict. The portal's id never leaves intake, and is stored only as a keyed digest
(`portal_key`): a portal that puts a name or a number in its ids (people do) leaks nothing.
Everything that travels names the submission by intake's own opaque id, its `reference`.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from services.intake.domain.referrals import Child, Referral
from services.intake.domain.reporting import Channel, Kind, is_mandatory_reporter
from services.intake.domain.statistics import StatisticsRecord


class SubmissionConflict(Exception):
    """The portal's submission id was used before, by the same client, with a different body."""


@dataclass(frozen=True)
class Submission:
    """One submitted form as intake routes it: codes, flags and the children's numbers.

    The personal details themselves (the body as sent) travel beside it, only to be encrypted.
    """

    portal_id: str  # the portal's submission id: compared (as a digest), never stored or sent on
    kind: Kind
    channel: Channel
    submitted_at: datetime
    reporter_type: str
    feedback_requested: bool
    categories: tuple[str, ...]
    acute_danger: bool
    interpreter_needed: bool
    children: tuple[Child, ...]
    guardian_numbers: tuple[str, ...]

    @property
    def received_at(self) -> datetime:
        """The legal receipt time: the portal's `submitted_at`, in UTC."""
        return self.submitted_at.astimezone(UTC)

    @property
    def reporter_mandatory(self) -> bool:
        """Whether the reporter is a mandatory reporter."""
        return is_mandatory_reporter(self.reporter_type)


@dataclass(frozen=True)
class ReferralReceipt:
    """One child's referral as the portal is told of it."""

    referral_id: str
    child_index: int


@dataclass(frozen=True)
class Receipt:
    """The answer to a submission: intake's reference for it, when it was received, one referral
    per child."""

    reference: str
    received_at: datetime
    referrals: tuple[ReferralReceipt, ...]


@dataclass(frozen=True)
class Received:
    """What receiving a submission came to: stored now, or an identical resubmission answered again."""

    receipt: Receipt
    repeated: bool


@dataclass(frozen=True)
class EncryptedDetails:
    """A submission's personal details (the body as sent), encrypted under the key `key_id`."""

    submission_id: str  # intake's reference
    key_id: str
    ciphertext: bytes


@dataclass(frozen=True)
class Document:
    """A document kept with a submission, before encryption: the original portal document.

    `name` is a fixed label intake chooses (never a file name a user gave: it is stored in the
    clear), `media_type` its type as served; `file_name` the name the reporter gave the file, if
    any: it may name the child, so it is only ever stored encrypted (`document_name_associated_data`)."""

    name: str
    media_type: str
    content: bytes
    file_name: str | None = None


# The original FlowInstance XML of an Open ePlatform submission, as fetched (issue 19).
ORIGINAL_OEP_NAME = "Originaldokument (Open ePlatform).xml"
ORIGINAL_OEP_MEDIA_TYPE = "application/xml"


def original_oep_document(raw: bytes) -> Document:
    """The instance's XML exactly as the portal sent it (its encoding declared inside)."""
    return Document(ORIGINAL_OEP_NAME, ORIGINAL_OEP_MEDIA_TYPE, raw)


OEP_PDF_NAME = "Ärendet som PDF (Open ePlatform).pdf"


def attachment_document(n: int, media_type: str, content: bytes, file_name: str | None = None) -> Document:
    """The `n`th file uploaded with an instance. Its label is ours ("Bilaga n"): the name the
    reporter gave the file (`file_name`, blank taken as none) may name the child, so it is kept
    apart from the label and stored only encrypted."""
    given = file_name.strip() if file_name else ""
    return Document(f"Bilaga {n}", media_type, content, given or None)


def oep_pdf_document(content: bytes) -> Document:
    """The instance as the portal renders it to PDF."""
    return Document(OEP_PDF_NAME, "application/pdf", content)


@dataclass(frozen=True)
class DocumentInfo:
    """A stored document's metadata: its number within the submission (1, 2, …), fixed label,
    media type and size in bytes (no personal data), and `file_name`, the name the reporter gave
    the file: never stored in the clear, set only once decrypted for a reader allowed to see it."""

    n: int
    name: str
    media_type: str
    size: int
    file_name: str | None = None


@dataclass(frozen=True)
class EncryptedDocument:
    """A stored document: its metadata and its content encrypted under the key `key_id`, bound
    to the submission and the document's number (`document_associated_data`)."""

    submission_id: str
    info: DocumentInfo
    key_id: str
    ciphertext: bytes
    name_ciphertext: bytes | None = None  # the file name the reporter gave, under the same key


def document_associated_data(submission_id: str, n: int) -> bytes:
    """What a document's ciphertext is bound to: its submission and its place there, so it can
    neither pass for the submission's details nor for another document."""
    return f"{submission_id}:document:{n}".encode()


def document_name_associated_data(submission_id: str, n: int) -> bytes:
    """What a document's encrypted file name is bound to: its submission and the document's
    number, apart from the content's binding (a name cannot pass for content, nor the reverse)."""
    return f"{submission_id}:document:{n}:name".encode()


@dataclass(frozen=True)
class DataKey:
    """A submission's own data key, wrapped by a key-encryption key (`key_id`); once destroyed
    (crypto-shredding) only the time it was destroyed is left."""

    submission_id: str
    key_id: str | None
    wrapped: bytes | None
    destroyed_at: datetime | None = None

    @property
    def destroyed(self) -> bool:
        """Whether the key, and with it everything sealed under it, is gone."""
        return self.wrapped is None


@dataclass(frozen=True)
class NewSubmission:
    """Everything stored for a first-time submission (no personal data outside `details`)."""

    portal_key: bytes  # keyed digest of the portal client and its submission id
    client_id: str
    body_digest: bytes
    kind: Kind
    acute_danger: bool
    details: EncryptedDetails
    referrals: tuple[Referral, ...]
    receipt: Receipt
    documents: tuple[EncryptedDocument, ...] = ()
    statistics: tuple[StatisticsRecord, ...] = ()  # one per referral, stored in the same statement
    data_key: DataKey | None = None  # the wrapped key `details` and `documents` are sealed under

    @property
    def submission_id(self) -> str:
        """Intake's reference for the submission."""
        return self.receipt.reference

    @property
    def received_at(self) -> datetime:
        """The legal receipt time."""
        return self.receipt.received_at


@dataclass(frozen=True)
class StoredSubmission:
    """A submission already stored: the keyed digest of its body and the answer given the first time."""

    body_digest: bytes
    receipt: Receipt


def receipt_for(submission: Submission, reference: str, referrals: Sequence[Referral]) -> Receipt:
    """The answer for a newly received submission: one referral per child, in the children's order."""
    return Receipt(
        reference,
        submission.received_at,
        tuple(ReferralReceipt(r.referral_id, r.child_index) for r in referrals),
    )


def answer_again(stored: StoredSubmission, body_digest: bytes) -> Receipt:
    """The original answer when the body is the one stored; SubmissionConflict when it differs."""
    if not hmac.compare_digest(stored.body_digest, body_digest):
        raise SubmissionConflict(stored.receipt.reference)
    return stored.receipt
