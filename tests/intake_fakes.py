"""Intake test doubles (no tests here): submissions as the use cases get them, secrets, a clock,
and a fake Open ePlatform portal that records its calls and can fail or "crash" on any of them."""

from __future__ import annotations

import base64
import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from services.intake.domain.open_eplatform import InstanceRejected
from services.intake.domain.referrals import Referral
from services.intake.domain.submissions import (
    EncryptedDetails,
    NewSubmission,
    Receipt,
    ReferralReceipt,
    Submission,
)
from services.intake.handlers.submissions import IntakeSecrets
from services.intake.ports import PortalForm
from services.intake.schemas import Submission as SubmissionBody
from services.intake.schemas import validation_context
from shared.clock import FixedClock
from shared.crypto import Cipher
from tests.factories import encode
from tests.factories import submission as submission_body

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
KEY_1, KEY_2 = bytes(range(32)), bytes(range(32, 64))
KEY_1_TEXT = base64.b64encode(KEY_1).decode()


def keys(current: str = "k1", **extra: bytes) -> IntakeSecrets:
    """The cipher (k1, and any extra keys) and pepper the tests use."""
    return IntakeSecrets(Cipher({"k1": KEY_1, **extra}, current), b"test-pepper")


def clock() -> FixedClock:
    """A clock at NOW."""
    return FixedClock(NOW)


def as_received(body: dict[str, Any]) -> tuple[Submission, bytes]:
    """A portal body as the use case gets it: validated, translated, and the raw bytes beside it."""
    raw = encode(body)
    return SubmissionBody.model_validate_json(raw, context=validation_context(NOW)).to_domain(), raw


def portal_submission(rng: random.Random | None = None, **kwargs: Any) -> tuple[Submission, bytes]:
    """A valid school report (synthetic data) as the use case gets it."""
    kwargs.setdefault("submitted_at", datetime(2026, 11, 20, 9, 30, tzinfo=UTC))
    return as_received(submission_body(rng, **kwargs))


def new_submission(
    submission_id: str | None = None,
    *,
    reference: str | None = None,
    children: int = 1,
    body_digest: bytes = b"digest-1",
    key_id: str = "k1",
) -> NewSubmission:
    """What the submission store is given for a first-time submission (invented opaque values):
    `submission_id` is the portal's (its key is derived from it), `reference` intake's (by
    default the same text, so tests can name both at once)."""
    portal_id = submission_id or f"S-{uuid.uuid4().hex[:10]}"
    sid = reference or portal_id
    referrals = tuple(
        Referral(f"R-{uuid.uuid4().hex[:12]}", i, f"c{sid}{i}", f"f{sid}", False, ()) for i in range(children)
    )
    receipt = Receipt(sid, NOW, tuple(ReferralReceipt(r.referral_id, r.child_index) for r in referrals))
    details = EncryptedDetails(sid, key_id, b"nonce+ciphertext of " + sid.encode())
    portal_key = b"portal-key-of-" + portal_id.encode()
    return NewSubmission(portal_key, "dev-portal", body_digest, "report", False, details, referrals, receipt)


def portal_form(flow_instance_id: int, first_submitted: datetime, children: int = 1) -> PortalForm:
    """An Open ePlatform instance already read as a submission."""
    submission, raw = portal_submission(
        random.Random(flow_instance_id), children=children, submission_id=f"oep-{flow_instance_id}",
        submitted_at=first_submitted,
    )  # fmt: skip
    return PortalForm(flow_instance_id, first_submitted, submission, raw)


class ProcessKilled(BaseException):
    """Stands for a SIGKILL: nothing catches it, the round stops where it was."""


@dataclass
class FakePortal:
    """An Open ePlatform installation: families' instance lists, forms, and the calls made to it.

    `fail[(op, id)]` is an exception raised (once) for that call: PortalUnavailable, CallbackFault
    or ProcessKilled, before a callback is made and while an instance is being fetched;
    `listed_from` records the dates asked for.
    """

    families: dict[str, list[int]] = field(default_factory=dict)
    forms: dict[int, PortalForm | InstanceRejected] = field(default_factory=dict)
    calls: list[tuple[str, int, str]] = field(default_factory=list)
    fail: dict[tuple[str, int], BaseException] = field(default_factory=dict)
    listed_from: list[date] = field(default_factory=list)
    listed_to: list[date | None] = field(default_factory=list)

    def add(self, family: str, form: PortalForm | InstanceRejected, flow_instance_id: int) -> None:
        self.families.setdefault(family, []).append(flow_instance_id)
        self.forms[flow_instance_id] = form

    def made(self, op: str) -> list[tuple[int, str]]:
        return [(iid, arg) for call, iid, arg in self.calls if call == op]

    def _maybe_fail(self, op: str, iid: int) -> None:
        exc = self.fail.pop((op, iid), None)
        if exc is not None:
            raise exc

    async def list_instances(self, family_id: str, from_date: date, to_date: date | None = None) -> list[int]:
        self._maybe_fail("getinstances", 0)
        self.listed_from.append(from_date)
        self.listed_to.append(to_date)
        return list(self.families.get(family_id, []))

    async def fetch_form(self, flow_instance_id: int) -> PortalForm:
        self.calls.append(("getinstance", flow_instance_id, ""))  # the request reached the portal
        self._maybe_fail("getinstance", flow_instance_id)
        form = self.forms[flow_instance_id]
        if isinstance(form, InstanceRejected):
            raise InstanceRejected(
                form.reason, form.first_submitted, raw=form.raw, charset=form.charset, gone=form.gone
            )
        return form

    async def read_form(self, flow_instance_id: int, raw: bytes, charset: str | None) -> PortalForm:
        """A kept document read again: whatever `forms` holds for the instance now (a test
        replaces an InstanceRejected with a form to stand for a fixed mapping)."""
        self.calls.append(("read_form", flow_instance_id, raw.decode(charset or "utf-8")))
        form = self.forms[flow_instance_id]
        if isinstance(form, InstanceRejected):
            raise InstanceRejected(form.reason, form.first_submitted, raw=raw, charset=charset)
        return form

    async def confirm_delivery(self, flow_instance_id: int, external_id: str, system: str) -> None:
        self._maybe_fail("confirmDelivery", flow_instance_id)
        self.calls.append(("confirmDelivery", flow_instance_id, f"{external_id}|{system}"))

    async def set_status(self, flow_instance_id: int, status_alias: str) -> None:
        self._maybe_fail("setStatus", flow_instance_id)
        self.calls.append(("setStatus", flow_instance_id, status_alias))


def ids_of(calls: Sequence[tuple[int, str]]) -> list[int]:
    """The instance ids of recorded calls, in order."""
    return [iid for iid, _ in calls]


def as_legacy(tables: Any, cipher: Cipher) -> None:
    """Turn every submission in the fake tables into one stored before data keys (migration 010):
    details and documents under the global key `cipher.current`, no data key."""
    from dataclasses import replace

    from services.intake.domain.submissions import document_associated_data, document_name_associated_data
    from services.intake.handlers.sealing import open_row

    for sid, details in list(tables.details.items()):
        key = tables.data_keys.get(sid)
        plain = open_row(cipher, key, details.key_id, details.ciphertext, sid.encode())
        key_id, blob = cipher.encrypt(plain, sid.encode())
        tables.details[sid] = EncryptedDetails(sid, key_id, blob)
    for (sid, n), document in list(tables.documents.items()):
        associated = document_associated_data(sid, n)
        plain = open_row(cipher, tables.data_keys.get(sid), document.key_id, document.ciphertext, associated)
        key_id, blob = cipher.encrypt(plain, associated)
        name = document.name_ciphertext
        if name is not None:  # the file name the reporter gave, moved with its content
            bound = document_name_associated_data(sid, n)
            _, name = cipher.encrypt(
                open_row(cipher, tables.data_keys.get(sid), document.key_id, name, bound), bound
            )
        tables.documents[(sid, n)] = replace(document, key_id=key_id, ciphertext=blob, name_ciphertext=name)
    tables.data_keys.clear()
