"""Receiving a submission once, with one referral event per child; reading and re-encrypting the
stored personal details."""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from services.intake.domain.open_eplatform import raw_associated_data
from services.intake.domain.referrals import Referral, split_into_referrals
from services.intake.domain.submissions import (
    Document,
    DocumentInfo,
    EncryptedDetails,
    EncryptedDocument,
    NewSubmission,
    Receipt,
    Received,
    Submission,
    answer_again,
    document_associated_data,
    document_name_associated_data,
    receipt_for,
)
from services.intake.handlers.sealing import DataKeyRing, open_row
from services.intake.handlers.statistics import statistics_records
from services.intake.ports import IntakeUnitOfWork
from shared.clock import Clock
from shared.crypto import DATA_KEY_ID, Cipher, pseudonym
from shared.events import TOPIC_RECEIVED, ReferralReceived, new_envelope, outbox_row

log = logging.getLogger(__name__)
PRODUCER = "intake"
_ID_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32: no I, L, O, U


@dataclass(frozen=True)
class IntakeSecrets:
    """The cipher for personal details and the pepper for pseudonymous keys."""

    cipher: Cipher
    pepper: bytes

    def digest(self, raw: bytes) -> bytes:
        """A keyed digest of a body, so the database holds no plain hash of personal data."""
        return hmac.new(self.pepper, raw, hashlib.sha256).digest()

    def portal_key(self, client_id: str, portal_id: str) -> bytes:
        """A keyed digest of a portal client's submission id: how a resubmission is recognised
        without keeping the portal's id, per client (two portals may use the same ids)."""
        return self.digest(b"portal-submission\x00" + client_id.encode() + b"\x00" + portal_id.encode())


def new_referral_id() -> str:
    """An opaque, unique referral id such as `R-7Q2K9M3XH4TB`."""
    return "R-" + _opaque()


def new_submission_reference() -> str:
    """Intake's own opaque id of a submission, such as `S-4D8RJ2X0QW6N`: what travels instead of
    the portal's id."""
    return "S-" + _opaque()


def _opaque() -> str:
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(12))


async def receive_submission(
    uow: IntakeUnitOfWork,
    submission: Submission,
    details: bytes,
    client_id: str,
    keys: IntakeSecrets,
    clock: Clock,
    documents: Sequence[Document] = (),
) -> Received:
    """Store a submission once, its details (and documents) encrypted, with one referral event per child.

    An identical resubmission gets the original answer (`repeated`) and stores nothing; another
    body under the same id raises SubmissionConflict.
    """
    async with uow:
        received = await store_submission(uow, submission, details, client_id, keys, clock, documents)
        await uow.commit()
    return received


async def store_submission(
    uow: IntakeUnitOfWork,
    submission: Submission,
    details: bytes,
    client_id: str,
    keys: IntakeSecrets,
    clock: Clock,
    documents: Sequence[Document] = (),
) -> Received:
    """`receive_submission`'s work inside a unit of work the caller holds (the Open ePlatform
    import records the instance's state in the same one). `documents` (the original portal
    document) are encrypted like the details and stored in the same statement, numbered from 1."""
    referrals = _referrals(submission, keys)
    receipt = receipt_for(submission, new_submission_reference(), referrals)
    digest = keys.digest(details)
    ring = DataKeyRing.new(keys.cipher, receipt.reference)
    key_id, ciphertext = ring.seal(details, receipt.reference.encode())
    new = NewSubmission(
        portal_key=keys.portal_key(client_id, submission.portal_id),
        client_id=client_id,
        body_digest=digest,
        kind=submission.kind,
        acute_danger=submission.acute_danger,
        details=EncryptedDetails(receipt.reference, key_id, ciphertext),
        referrals=tuple(referrals),
        receipt=receipt,
        documents=tuple(_encrypted(receipt.reference, n, d, ring) for n, d in enumerate(documents, 1)),
        data_key=ring.stored,
        statistics=statistics_records(submission, referrals),
    )
    now = clock.now()
    events = [outbox_row(TOPIC_RECEIVED, _received_event(submission, receipt, r, now)) for r in referrals]
    stored = await uow.submissions.add(new, events)
    if stored is None:
        return Received(receipt, repeated=False)
    return Received(answer_again(stored, digest), repeated=True)


def _encrypted(submission_id: str, n: int, document: Document, ring: DataKeyRing) -> EncryptedDocument:
    key_id, blob = ring.seal(document.content, document_associated_data(submission_id, n))
    info = DocumentInfo(n, document.name, document.media_type, len(document.content))
    name = None
    if document.file_name is not None:  # sealed under the same key as the content, bound apart
        _, name = ring.seal(document.file_name.encode(), document_name_associated_data(submission_id, n))
    return EncryptedDocument(submission_id, info, key_id, blob, name)


def _referrals(submission: Submission, keys: IntakeSecrets) -> list[Referral]:
    return split_into_referrals(
        submission.children,
        submission.guardian_numbers,
        new_id=new_referral_id,
        key_of=lambda purpose, number: pseudonym(keys.pepper, purpose, number),
        random_key=lambda purpose: f"{purpose[0]}r{uuid.uuid4().hex[:30]}",
    )


def _received_event(submission: Submission, receipt: Receipt, referral: Referral, now: datetime) -> Any:
    data = ReferralReceived(
        referral_id=referral.referral_id,
        submission_id=receipt.reference,
        kind=submission.kind,
        channel=submission.channel,
        received_at=submission.received_at,
        reporter_type=submission.reporter_type,
        reporter_mandatory=submission.reporter_mandatory,
        feedback_requested=submission.feedback_requested,
        categories=submission.categories,
        acute_danger=submission.acute_danger,
        protected_identity=referral.protected_identity,
        interpreter_needed=submission.interpreter_needed,
        child_key=referral.child_key,
        family_key=referral.family_key,
        sibling_referral_ids=referral.sibling_referral_ids,
    )
    return new_envelope(
        "referral.received", data, producer=PRODUCER, correlation_id=receipt.reference, occurred_at=now
    )


async def adopt_legacy_submissions(uow: IntakeUnitOfWork, keys: IntakeSecrets) -> int:
    """Give every submission stored before intake kept portal ids as digests its `portal_key`, so
    a resubmission of it is still recognised (its reference stays the portal's id: that id has
    travelled in its events already). Run once at start-up; returns how many it found."""
    async with uow:
        legacy = await uow.submissions.without_portal_key()
        await uow.submissions.set_portal_keys([(ref, keys.portal_key(client, ref)) for ref, client in legacy])
        await uow.commit()
    if legacy:
        log.info("portal keys given to submissions stored before them", extra={"submissions": len(legacy)})
    return len(legacy)


async def read_details(uow: IntakeUnitOfWork, submission_id: str, cipher: Cipher) -> bytes | None:
    """The decrypted details of a submission (the body as sent), under its data key or whichever
    configured key wrote them before data keys; `submission_id` is intake's reference.
    DataKeyDestroyed once the submission was erased."""
    async with uow:
        stored = await uow.submissions.details(submission_id)
        key = await uow.data_keys.get(submission_id)
    if stored is None:
        return None
    return open_row(cipher, key, stored.key_id, stored.ciphertext, submission_id.encode())


async def reencrypt_batch(uow: IntakeUnitOfWork, cipher: Cipher, batch_size: int) -> int:
    """Move up to `batch_size` details and documents still under a global key onto their
    submission's data key (made now if it has none), re-wrap up to `batch_size` data keys not
    under the current key-encryption key, and re-encrypt up to `batch_size` kept raw Open ePlatform
    documents (no submission yet, so under the global key) not under the current key; return how
    many rows.

    The rows are held until the commit, so two runs at once share the work instead of colliding.
    """
    async with uow:
        # Every row still under a global key, the current one included, moves onto a data key.
        held = await uow.submissions.details_not_under(DATA_KEY_ID, batch_size)
        documents = await uow.submissions.documents_not_under(DATA_KEY_ID, batch_size)
        sids = {d.submission_id for d in held} | {d.submission_id for d in documents}
        rings = await _rings(uow, cipher, sids)
        await uow.submissions.replace_details([_onto_data_key(d, cipher, rings) for d in held])
        await uow.submissions.replace_documents(
            [_document_onto_data_key(d, cipher, rings) for d in documents]
        )
        keys = await uow.data_keys.not_under(cipher.current, batch_size)
        await uow.data_keys.rewrap([DataKeyRing.of(cipher, k).rewrapped(cipher) for k in keys])
        raws = await uow.oep_instances.raw_not_under(cipher.current, batch_size)
        for raw in raws:  # the kept raw Open ePlatform documents of failed instances
            associated = raw_associated_data(raw.flow_instance_id)
            plain = cipher.decrypt(raw.key_id, raw.ciphertext, associated)
            key_id, blob = cipher.encrypt(plain, associated)
            await uow.oep_instances.keep_raw(raw.flow_instance_id, raw.charset, key_id, blob, len(plain))
        await uow.commit()
    return len(held) + len(documents) + len(keys) + len(raws)


async def _rings(uow: IntakeUnitOfWork, cipher: Cipher, submission_ids: set[str]) -> dict[str, DataKeyRing]:
    """The submissions' data keys, made (and stored) for those that have none yet."""
    stored = {sid: await uow.data_keys.get(sid) for sid in sorted(submission_ids)}
    await uow.data_keys.add(
        [DataKeyRing.new(cipher, sid).stored for sid, key in stored.items() if key is None]
    )
    rings: dict[str, DataKeyRing] = {}
    for sid in sorted(submission_ids):
        key = await uow.data_keys.get(sid)
        assert key is not None  # added above, or by a concurrent run whose key won
        rings[sid] = DataKeyRing.of(cipher, key)
    return rings


def _onto_data_key(
    details: EncryptedDetails, cipher: Cipher, rings: dict[str, DataKeyRing]
) -> EncryptedDetails:
    associated = details.submission_id.encode()
    plain = cipher.decrypt(details.key_id, details.ciphertext, associated)
    key_id, blob = rings[details.submission_id].seal(plain, associated)
    return EncryptedDetails(details.submission_id, key_id, blob)


def _document_onto_data_key(
    document: EncryptedDocument, cipher: Cipher, rings: dict[str, DataKeyRing]
) -> EncryptedDocument:
    sid, n, ring = document.submission_id, document.info.n, rings[document.submission_id]
    associated = document_associated_data(sid, n)
    plain = cipher.decrypt(document.key_id, document.ciphertext, associated)
    key_id, blob = ring.seal(plain, associated)
    name = document.name_ciphertext
    if name is not None:  # a name sealed under the same global key moves with its content
        bound = document_name_associated_data(sid, n)
        _, name = ring.seal(cipher.decrypt(document.key_id, name, bound), bound)
    return replace(document, key_id=key_id, ciphertext=blob, name_ciphertext=name)


async def reencrypt_all(
    unit_of_work: Callable[[], IntakeUnitOfWork], cipher: Cipher, batch_size: int = 200
) -> int:
    """Re-encrypt in batches until no detail and no document is left under a global key and no
    data key is wrapped by an old key; return how many rows."""
    total = 0
    while True:
        done = await reencrypt_batch(unit_of_work(), cipher, batch_size)
        total += done
        if done == 0:
            return total
        log.info("re-encrypted a batch", extra={"rows": done, "total": total})
