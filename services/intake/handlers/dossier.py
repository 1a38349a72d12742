"""The dossier's use cases: reading it, downloading an attachment, revealing a protected child's
whereabouts, breaking the glass, registering the referral (CONTRACTS.md §2a).

Every read, export, attachment, reveal, break-the-glass and refused attempt is written to the
access log and committed before anything is decided for the caller: no row, no data. Details and
documents are decrypted only after that commit.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from services.intake.domain.access_log import AccessAction, AccessEntry, AccessRelation, Outcome
from services.intake.domain.dossier import (
    AccessRefused,
    AttachmentMissing,
    AttachmentWithheld,
    ReferralErased,
    Registration,
    RegistrationConflict,
    Tracked,
    attachment_withheld,
    dossier,
    erased_dossier,
    standing,
    whereabouts,
    without_masked,
)
from services.intake.domain.dossier_access import (
    Organisation,
    Reader,
    dossier_relation,
    may_register,
    worth_a_fresher_look,
)
from services.intake.domain.submissions import (
    DataKey,
    DocumentInfo,
    document_associated_data,
    document_name_associated_data,
)
from services.intake.handlers.sealing import open_row
from services.intake.ports import (
    AssignmentState,
    AssignmentUnreachable,
    DossierPrinter,
    Erasure,
    IntakeUnitOfWork,
)
from shared.clock import Clock
from shared.crypto import Cipher
from shared.events import (
    TOPIC_ACCESS,
    TOPIC_REGISTERED,
    BreakGlassUsed,
    ReferralRegistered,
    new_envelope,
    outbox_row,
)

PRODUCER = "intake"


class AssignmentUnavailable(Exception):
    """Assignment could not be asked for a fresher state: the attempt was logged as refused."""


@dataclass(frozen=True)
class Dossiers:
    """What the dossier's use cases need; `main.py` builds it."""

    unit_of_work: Callable[[], IntakeUnitOfWork]
    org: Organisation
    cipher: Cipher
    assignment: AssignmentState
    clock: Clock
    grant_hours: float = 4.0


@dataclass(frozen=True)
class Attempt:
    """One request about a referral: who, from where, which request, with which token."""

    reader: Reader
    referral_id: str
    bearer_token: str
    client_addr: str | None
    request_id: str | None


async def read_dossier(deps: Dossiers, attempt: Attempt) -> dict[str, Any]:
    """The dossier, masked for a protected child; AccessRefused after logging a refusal. The
    dossier of an erased referral says so (when, by which rule) and holds no personal detail."""
    opened = await _open(deps, attempt, AccessAction.READ, None, erased_answers=True)
    if opened.erased is not None:
        return erased_dossier(opened.tracked, opened.erased.erased_at, opened.erased.rule)
    return dossier(opened.form, opened.tracked, revealed=False, attachments=opened.attachments)


@dataclass(frozen=True)
class Attachment:
    """One attachment's content as served, with its metadata."""

    info: DocumentInfo
    content: bytes


async def download_attachment(deps: Dossiers, attempt: Attempt, n: int) -> Attachment:
    """Attachment `n` of the referral's submission, decrypted: the dossier's access rule, an
    `attachment` row committed first. AccessRefused (logged as denied) whether or not it exists;
    AttachmentWithheld (logged as denied) when it is not served for this referral
    (`attachment_withheld`); AttachmentMissing (logged: the reader may look) when there is none."""
    now = deps.clock.now()
    async with deps.unit_of_work() as uow:
        tracked = await uow.dossiers.find(attempt.referral_id, attempt.reader.staff_id, now)
        sid = tracked.referral.submission_id if tracked else None
        document = await uow.dossiers.document(sid, n) if sid else None
        key = await uow.data_keys.get(sid) if sid else None
        erased = await uow.retention.erasure(attempt.referral_id) if tracked else None
    relation, tracked = await _relation(deps, attempt, tracked, now, None)
    allowed = relation is not AccessRelation.NONE and tracked is not None
    why = attachment_withheld(tracked.referral) if allowed and tracked is not None else None
    action = AccessAction.ATTACHMENT if allowed and why is None else AccessAction.DENIED
    await _log(deps, attempt, tracked, action, relation, None, now)
    if not allowed or tracked is None:
        raise AccessRefused(attempt.referral_id)
    if why is not None:
        raise AttachmentWithheld(why)
    if erased is not None:
        raise ReferralErased(attempt.referral_id, erased.erased_at, erased.rule)
    if document is None:
        raise AttachmentMissing(attempt.referral_id)
    associated = document_associated_data(document.submission_id, document.info.n)
    content = open_row(deps.cipher, key, document.key_id, document.ciphertext, associated)
    names = (
        {}
        if document.name_ciphertext is None
        else {document.info.n: (document.key_id, document.name_ciphertext)}
    )
    info = _named([document.info], names, deps.cipher, key, document.submission_id)[0]
    return Attachment(info, content)


async def export_dossier(deps: Dossiers, attempt: Attempt, printer: DossierPrinter) -> bytes:
    """The printable dossier (for the system of record): the same access rule as a read, logged
    as an export before it is rendered; always masked for a protected child (a reveal is for the
    screen, never for a copy that leaves the system), the masked values dropped."""
    opened = await _open(deps, attempt, AccessAction.EXPORT, None)
    answer = dossier(opened.form, opened.tracked, revealed=False, attachments=opened.attachments)
    return await printer(without_masked(answer), attempt.reader.staff_id, deps.clock.now())


async def reveal(deps: Dossiers, attempt: Attempt, reason: str) -> dict[str, Any]:
    """A protected child's masked fields, for one who may read the dossier; logged with the reason."""
    opened = await _open(deps, attempt, AccessAction.REVEAL, reason)
    return {
        "referral_id": opened.tracked.referral.referral_id,
        "revealed": whereabouts(opened.form, opened.tracked),
    }


@dataclass(frozen=True)
class _Opened:
    tracked: Tracked
    form: dict[str, Any]
    attachments: list[DocumentInfo]
    erased: Erasure | None = None


async def _open(
    deps: Dossiers, attempt: Attempt, action: AccessAction, reason: str | None, erased_answers: bool = False
) -> _Opened:
    """Load, decide, log (committed), then decrypt. An erased referral is refused like any other
    to those who may not read it; to those who may it is ReferralErased, or (`erased_answers`) an
    `_Opened` that says so and holds nothing."""
    now = deps.clock.now()
    loaded = await _load(deps, attempt, now)
    relation, tracked = await _relation(deps, attempt, loaded.tracked, now, reason)
    present = loaded.details is not None or loaded.erased is not None
    allowed = relation is not AccessRelation.NONE and tracked is not None and present
    await _log(deps, attempt, tracked, action if allowed else AccessAction.DENIED, relation, reason, now)
    if not allowed or tracked is None:
        raise AccessRefused(attempt.referral_id)
    if loaded.erased is not None:
        if erased_answers:
            return _Opened(tracked, {}, [], loaded.erased)
        raise ReferralErased(attempt.referral_id, loaded.erased.erased_at, loaded.erased.rule)
    assert loaded.details is not None  # present and not erased
    key_id, ciphertext = loaded.details
    associated = tracked.referral.submission_id.encode()
    plain = open_row(deps.cipher, loaded.key, key_id, ciphertext, associated)
    sid = tracked.referral.submission_id
    attachments = _named(loaded.attachments, loaded.names, deps.cipher, loaded.key, sid)
    return _Opened(tracked, json.loads(plain), attachments)


def _named(
    infos: list[DocumentInfo],
    names: dict[int, tuple[str, bytes]],
    cipher: Cipher,
    key: DataKey | None,
    submission_id: str,
) -> list[DocumentInfo]:
    """The documents' metadata with the file names the reporter gave them, decrypted (only ever
    after the access was logged)."""
    named = []
    for info in infos:
        if info.n in names:
            key_id, blob = names[info.n]
            bound = document_name_associated_data(submission_id, info.n)
            info = replace(info, file_name=open_row(cipher, key, key_id, blob, bound).decode())
        named.append(info)
    return named


@dataclass(frozen=True)
class _Loaded:
    tracked: Tracked | None
    details: tuple[str, bytes] | None = None
    key: DataKey | None = None
    erased: Erasure | None = None
    attachments: list[DocumentInfo] = field(default_factory=list)
    names: dict[int, tuple[str, bytes]] = field(default_factory=dict)


async def _load(deps: Dossiers, attempt: Attempt, now: datetime) -> _Loaded:
    async with deps.unit_of_work() as uow:
        tracked = await uow.dossiers.find(attempt.referral_id, attempt.reader.staff_id, now)
        if tracked is None:
            return _Loaded(None)
        sid = tracked.referral.submission_id
        return _Loaded(
            tracked,
            await uow.dossiers.details_of(sid),
            await uow.data_keys.get(sid),
            await uow.retention.erasure(attempt.referral_id),
            await uow.dossiers.documents_of(sid),
            await uow.dossiers.document_names_of(sid),
        )


async def _relation(
    deps: Dossiers, attempt: Attempt, tracked: Tracked | None, now: datetime, reason: str | None
) -> tuple[AccessRelation, Tracked | None]:
    """The rule on the projection; when it refuses someone a newer assignment could admit, the
    rule again on assignment's own state (shown in the dossier, never stored: the events will
    bring it). The referral as decided on comes back with the relation."""
    relation = dossier_relation(attempt.reader, standing(tracked), deps.org, now)
    if tracked is None or not worth_a_fresher_look(attempt.reader, relation):
        return relation, tracked
    try:
        fresher = await deps.assignment.current(attempt.referral_id, attempt.bearer_token)
    except AssignmentUnreachable as exc:
        await _log(deps, attempt, tracked, AccessAction.DENIED, AccessRelation.NONE, reason, now)
        raise AssignmentUnavailable(attempt.referral_id) from exc
    if fresher is None:
        return relation, tracked
    relation = dossier_relation(attempt.reader, standing(tracked, fresher), deps.org, now)
    if tracked.projection is not None and tracked.projection.protection_assessed:
        fresher = replace(fresher, protection_assessed=True)  # never undone
    return relation, replace(tracked, projection=fresher)


async def _log(
    deps: Dossiers,
    attempt: Attempt,
    tracked: Tracked | None,
    action: AccessAction,
    relation: AccessRelation,
    reason: str | None,
    now: datetime,
) -> None:
    async with deps.unit_of_work() as uow:
        await uow.access_log.append(access_entry(attempt, tracked, action, relation, reason, now))
        await uow.commit()


def access_entry(
    attempt: Attempt,
    tracked: Tracked | None,
    action: AccessAction,
    relation: AccessRelation,
    reason: str | None,
    now: datetime,
) -> AccessEntry:
    denied = action is AccessAction.DENIED
    return AccessEntry(
        at=now,
        staff=attempt.reader.staff_id,
        role=",".join(sorted(attempt.reader.roles)),
        relation=AccessRelation.NONE if denied else relation,
        referral_id=attempt.referral_id,
        child_key=tracked.referral.child_key if tracked else None,
        action=action,
        reason=reason,
        outcome=Outcome.DENIED if denied else Outcome.ALLOWED,
        client_addr=attempt.client_addr,
        request_id=attempt.request_id,
    )


async def break_glass(deps: Dossiers, attempt: Attempt, reason: str) -> datetime:
    """A grant for the reader to read the referral for `grant_hours`, logged with the reason and
    announced (`access.break_glass`, ids only) in the same unit of work; its expiry."""
    now = deps.clock.now()
    expires = now + timedelta(hours=deps.grant_hours)
    staff = bool(attempt.reader.roles & {"caseworker", "intake", "manager", "head_of_unit"})
    async with deps.unit_of_work() as uow:
        tracked = await uow.dossiers.find(attempt.referral_id, attempt.reader.staff_id, now)
        if tracked is None or not staff:
            await uow.access_log.append(
                access_entry(attempt, tracked, AccessAction.DENIED, AccessRelation.NONE, reason, now)
            )
            await uow.commit()
            raise AccessRefused(attempt.referral_id)
        await uow.dossiers.grant(attempt.referral_id, attempt.reader.staff_id, now, expires)
        await uow.access_log.append(
            access_entry(attempt, tracked, AccessAction.BREAK_GLASS, AccessRelation.BREAK_GLASS, reason, now)
        )
        await uow.outbox.add([_break_glass_event(tracked, attempt.reader.staff_id, now, expires)])
        await uow.commit()
    return expires


def _break_glass_event(tracked: Tracked, staff: str, now: datetime, expires: datetime) -> Any:
    projection = tracked.projection
    team = projection.assignment.team if projection and projection.assignment else None
    ref = tracked.referral
    data = BreakGlassUsed(
        referral_id=ref.referral_id, family_key=ref.family_key, team=team, staff=staff, at=now,
        expires_at=expires,
    )  # fmt: skip
    envelope = new_envelope(
        "access.break_glass", data, producer=PRODUCER, correlation_id=ref.referral_id, occurred_at=now
    )
    return outbox_row(TOPIC_ACCESS, envelope)


@dataclass(frozen=True)
class Registered:
    """The referral's registration and whether this request recorded it."""

    registration: Registration
    new: bool


async def register(deps: Dossiers, attempt: Attempt, case_number: str, registered_at: datetime) -> Registered:
    """Record the referral's case number in the system of record (once: the same number again is
    answered as before, another is RegistrationConflict) and announce `referral.registered`. A
    manager the projection does not (yet) show as the team's is checked on assignment's state."""
    now, reader, referral_id = deps.clock.now(), attempt.reader, attempt.referral_id
    async with deps.unit_of_work() as uow:
        tracked = await uow.dossiers.find(referral_id, reader.staff_id, now)
    if tracked is None or not await _may_register(deps, attempt, tracked):
        raise AccessRefused(referral_id)
    async with deps.unit_of_work() as uow:
        mine = Registration(case_number, registered_at, reader.staff_id, now)
        stored = await uow.dossiers.register(referral_id, mine)
        if stored.system_case_number != case_number:
            raise RegistrationConflict(referral_id)
        new = stored == mine and tracked.registration is None
        if new:
            data = ReferralRegistered(
                referral_id=referral_id, family_key=tracked.referral.family_key,
                registered_at=registered_at, by=reader.staff_id,
            )  # fmt: skip
            envelope = new_envelope(
                "referral.registered", data, producer=PRODUCER, correlation_id=referral_id, occurred_at=now
            )
            await uow.outbox.add([outbox_row(TOPIC_REGISTERED, envelope)])
        await uow.commit()
    return Registered(stored, new)


async def _may_register(deps: Dossiers, attempt: Attempt, tracked: Tracked) -> bool:
    if may_register(attempt.reader, standing(tracked), deps.org):
        return True
    if "manager" not in attempt.reader.roles:
        return False
    try:
        fresher = await deps.assignment.current(attempt.referral_id, attempt.bearer_token)
    except AssignmentUnreachable as exc:
        raise AssignmentUnavailable(attempt.referral_id) from exc
    return fresher is not None and may_register(attempt.reader, standing(tracked, fresher), deps.org)
