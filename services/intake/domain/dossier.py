"""A referral's dossier: what intake knows of it besides its details, the child's part of the
stored form, and what is masked for a child with protected identity (DOMAIN.md §6).

Pure: the decrypted form comes in as parsed JSON; nothing here decrypts, stores or logs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.intake.domain.dossier_access import Assignment, Standing
from services.intake.domain.submissions import DocumentInfo

# The whereabouts of a child with protected identity: masked until revealed (issue 19). The
# reporter's organisation is among them: a reporter from the child's school names the school.
MASKED_PATHS = ("child.school", "concern.child_location", "reporter.organisation")


class AccessRefused(Exception):
    """The reader has no need-to-know relation to the referral (or it does not exist: the same)."""


class AttachmentWithheld(Exception):
    """The reader may read the dossier, but this attachment is not served to anyone (see
    `attachment_withheld`); the refusal is logged."""


class AttachmentMissing(Exception):
    """The reader may read the dossier, and it has no attachment with that number."""


class RegistrationConflict(Exception):
    """The referral was registered earlier under another case number."""


@dataclass(frozen=True)
class ReferralFacts:
    """A referral as intake stored it: ids, keys and flags, no personal details."""

    referral_id: str
    submission_id: str
    child_index: int
    child_key: str
    family_key: str
    received_at: datetime
    protected_identity: bool
    sibling_referral_ids: tuple[str, ...]


@dataclass(frozen=True)
class Projection:
    """The referral's assignment state as last learned from assignment (or asked of it)."""

    assignment: Assignment | None
    status: str | None
    protection_assessed: bool
    protection_assessment_due: datetime | None = None
    preliminary_assessment_due: datetime | None = None
    investigation_due: datetime | None = None
    feedback_due: datetime | None = None


@dataclass(frozen=True)
class Registration:
    """The referral's record in the unit's case management system of record."""

    system_case_number: str
    registered_at: datetime
    registered_by: str
    recorded_at: datetime


@dataclass(frozen=True)
class Tracked:
    """Everything intake holds about a referral that decides who may read it."""

    referral: ReferralFacts
    projection: Projection | None
    registration: Registration | None
    grant_until: datetime | None  # the reader's latest break-the-glass grant, if any


@dataclass(frozen=True)
class Assigned:
    """A `referral.assigned`/`referral.reassigned` as the projection takes it."""

    referral_id: str
    team: str
    caseworker: str
    mentor: str | None
    protection_assessment_due: datetime | None
    preliminary_assessment_due: datetime | None


@dataclass(frozen=True)
class Updated:
    """A `referrals.updated.v1` event as the projection takes it."""

    referral_id: str
    status: str
    protection_assessed: bool
    investigation_due: datetime | None
    feedback_due: datetime | None
    decision: str | None = None  # set by `referral.decided` only
    at: datetime | None = None


def standing(tracked: Tracked | None, fresher: Projection | None = None) -> Standing:
    """The referral's standing for the reader; `fresher` (assignment's own state) beats the
    projection where it says more."""
    projection = fresher or (tracked.projection if tracked else None)
    assessed = bool(projection and projection.protection_assessed)
    if tracked is not None and tracked.projection is not None:
        assessed = assessed or tracked.projection.protection_assessed  # never undone
    return Standing(
        assignment=projection.assignment if projection else None,
        protection_assessed=assessed,
        registered=tracked is not None and tracked.registration is not None,
        grant_until=tracked.grant_until if tracked else None,
    )


def dossier(
    form: Mapping[str, Any],
    tracked: Tracked,
    *,
    revealed: bool,
    attachments: Sequence[DocumentInfo] = (),
) -> dict[str, Any]:
    """The referral as received for its child: the child, guardians, reporter, concern, siblings'
    referral ids (never their details), the attachments' metadata, assignment state, deadlines and
    registration; a protected child's whereabouts masked (`masked` lists the paths) unless
    `revealed`."""
    ref = tracked.referral
    child = dict(form["children"][ref.child_index])
    concern = dict(form["concern"])
    reporter = dict(form["reporter"])
    masked: list[str] = []
    if ref.protected_identity and not revealed:
        child["school"], concern["child_location"], reporter["organisation"] = None, None, None
        masked = list(MASKED_PATHS)
    return {
        "referral_id": ref.referral_id,
        "reference": ref.submission_id,
        "kind": form["kind"],
        "channel": form["channel"],
        "received_at": ref.received_at.isoformat(),
        "child": child,
        "guardians": [dict(g) for g in form.get("guardians", [])],
        "reporter": reporter,
        "concern": concern,
        "attachments": [_attachment(a) for a in attachments],
        "sibling_referral_ids": list(ref.sibling_referral_ids),
        "assignment": _assignment(tracked.projection),
        "deadlines": _deadlines(tracked.projection),
        "registration": _registration(tracked.registration),
        "masked": masked,
    }


def _attachment(info: DocumentInfo) -> dict[str, Any]:
    """An attachment's metadata: intake's label, the name the reporter gave the file (None when it
    has none), type and size."""
    return {
        "n": info.n,
        "name": info.name,
        "file_name": info.file_name,
        "media_type": info.media_type,
        "size": info.size,
    }


class ReferralErased(Exception):
    """The referral's received copy was erased by the retention rules: nothing of it can be read."""

    def __init__(self, referral_id: str, erased_at: datetime, rule: str) -> None:
        super().__init__(referral_id)
        self.referral_id, self.erased_at, self.rule = referral_id, erased_at, rule


def erased_dossier(tracked: Tracked, erased_at: datetime, rule: str) -> dict[str, Any]:
    """The dossier of an erased referral: that it was erased, when and by which rule, beside the
    work record that stays (ids, dates, assignment, registration); no personal detail is left."""
    ref = tracked.referral
    return {
        "referral_id": ref.referral_id,
        "reference": ref.submission_id,
        "received_at": ref.received_at.isoformat(),
        "erased": {"erased_at": erased_at.isoformat(), "rule": rule},
        "sibling_referral_ids": list(ref.sibling_referral_ids),
        "assignment": _assignment(tracked.projection),
        "deadlines": _deadlines(tracked.projection),
        "registration": _registration(tracked.registration),
    }


def without_masked(answer: Mapping[str, Any]) -> dict[str, Any]:
    """The dossier with every path in its `masked` list (dotted, e.g. `child.school` or
    `guardians.0`) emptied, whatever value it held: what a copy leaving the system may carry."""
    copy: dict[str, Any] = _deep_copy(dict(answer))
    for path in copy.get("masked") or ():
        *parents, last = str(path).split(".")
        node: Any = copy
        for part in parents:
            node = _step(node, part)
        if isinstance(node, dict) and last in node:
            node[last] = None
        elif isinstance(node, list) and last.isdigit() and int(last) < len(node):
            node[int(last)] = None
    return copy


def _step(node: Any, part: str) -> Any:
    if isinstance(node, dict):
        return node.get(part)
    if isinstance(node, list) and part.isdigit() and int(part) < len(node):
        return node[int(part)]
    return None


def _deep_copy(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _deep_copy(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_deep_copy(v) for v in value]
    return value


def whereabouts(form: Mapping[str, Any], tracked: Tracked) -> dict[str, Any]:
    """The fields masked for a protected child, unmasked (what a reveal returns)."""
    child = form["children"][tracked.referral.child_index]
    return {
        "child.school": child.get("school"),
        "concern.child_location": form["concern"].get("child_location"),
        "reporter.organisation": form["reporter"].get("organisation"),
    }


def attachment_withheld(referral: ReferralFacts) -> str | None:
    """Why the submission's attachments are not served for this referral, or None when they are.

    Today the only attachment is the original portal document, the whole submission unmasked. It
    is withheld for a child with protected identity (it holds the whereabouts the dossier masks;
    a reveal gives those, logged with its reason) and for a submission about several children (it
    holds the siblings' details, which a dossier never shows: each sibling has its own)."""
    if referral.protected_identity:
        return "the child has protected identity: the original shows what is masked; use reveal"
    if referral.sibling_referral_ids:
        return "the submission concerns several children: the original shows the siblings' details"
    return None


def _assignment(projection: Projection | None) -> dict[str, Any] | None:
    if projection is None or projection.assignment is None:
        return None
    a = projection.assignment
    return {
        "team": a.team,
        "caseworker": a.caseworker,
        "mentor": a.mentor,
        "status": projection.status,
        "protection_assessed": projection.protection_assessed,
    }


def _deadlines(projection: Projection | None) -> dict[str, str | None]:
    names = ("protection_assessment_due", "preliminary_assessment_due", "investigation_due", "feedback_due")
    due = {n: getattr(projection, n) if projection else None for n in names}
    return {n: at.isoformat() if at else None for n, at in due.items()}


def _registration(registration: Registration | None) -> dict[str, Any] | None:
    if registration is None:
        return None
    return {
        "system_case_number": registration.system_case_number,
        "registered_at": registration.registered_at.isoformat(),
        "registered_by": registration.registered_by,
    }
