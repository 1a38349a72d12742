"""Intake's use case: store a submission once, with one referral event per child."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from services.intake.domain import ChildIn, ReferralOut, split_into_referrals
from services.intake.ports import NewSubmission
from services.intake.postgres import insert_with_events
from services.intake.schemas import Submission
from shared.crypto import Cipher, pseudonym
from shared.db import Conn
from shared.events import TOPIC_RECEIVED, ReferralReceived, new_envelope, outbox_row

PRODUCER = "intake"
_ID_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32: no I, L, O, U


class SubmissionConflict(Exception):
    """The submission id was used before with a different body."""


@dataclass(frozen=True)
class IntakeSecrets:
    """The cipher for personal details and the pepper for pseudonymous keys."""

    cipher: Cipher
    pepper: bytes

    def digest(self, raw: bytes) -> bytes:
        """A keyed digest of a body, so the database holds no plain hash of personal data."""
        return hmac.new(self.pepper, raw, hashlib.sha256).digest()


def new_referral_id() -> str:
    """An opaque, unique referral id such as `R-7Q2K9M3XH4TB`."""
    return "R-" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(12))


async def receive_submission(
    conn: Conn, submission: Submission, raw: bytes, client_id: str, keys: IntakeSecrets
) -> tuple[int, dict[str, Any]]:
    """Store the submission and its outbox rows in one transaction; return (status, body)."""
    referrals = _referrals(submission, keys)
    received_at = submission.submitted_at.astimezone(UTC)
    response = {
        "submission_id": submission.submission_id,
        "received_at": received_at.isoformat(),
        "referrals": [{"referral_id": r.referral_id, "child_index": r.child_index} for r in referrals],
    }
    key_id, ciphertext = keys.cipher.encrypt(raw, submission.submission_id.encode())
    new = NewSubmission(
        submission_id=submission.submission_id,
        client_id=client_id,
        body_digest=keys.digest(raw),
        received_at=received_at,
        kind=submission.kind,
        acute_danger=submission.concern.acute_danger,
        key_id=key_id,
        ciphertext=ciphertext,
        referrals=referrals,
        response=response,
    )
    # One atomic statement: the submission, its details, referrals and outbox rows, or nothing.
    events = [outbox_row(TOPIC_RECEIVED, _received_event(submission, r)) for r in referrals]
    existing = await insert_with_events(conn, new, events)
    if existing is not None:
        if hmac.compare_digest(existing.body_digest, new.body_digest):
            return 200, existing.response
        raise SubmissionConflict(submission.submission_id)
    return 202, response


def _referrals(submission: Submission, keys: IntakeSecrets) -> list[ReferralOut]:
    return split_into_referrals(
        [ChildIn(c.personal_number, c.protected_identity) for c in submission.children],
        [g.personal_number for g in submission.guardians if g.personal_number],
        new_id=new_referral_id,
        key_of=lambda purpose, number: pseudonym(keys.pepper, purpose, number),
        random_key=lambda purpose: f"{purpose[0]}r{uuid.uuid4().hex[:30]}",
    )


def _received_event(submission: Submission, referral: ReferralOut) -> Any:
    data = ReferralReceived(
        referral_id=referral.referral_id,
        submission_id=submission.submission_id,
        kind=submission.kind,
        channel=submission.channel,
        received_at=submission.submitted_at.astimezone(UTC),
        reporter_type=submission.reporter.type,
        reporter_mandatory=submission.reporter.mandatory,
        feedback_requested=submission.reporter.feedback_requested,
        categories=submission.concern.categories,
        acute_danger=submission.concern.acute_danger,
        protected_identity=referral.protected_identity,
        interpreter_needed=submission.concern.interpreter_language is not None,
        child_key=referral.child_key,
        family_key=referral.family_key,
        sibling_referral_ids=referral.sibling_referral_ids,
    )
    return new_envelope(
        "referral.received",
        data,
        producer=PRODUCER,
        correlation_id=submission.submission_id,
        occurred_at=datetime.now(UTC),
    )
