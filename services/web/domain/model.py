"""What the web app knows: the signed-in user and what the staff APIs return, as frozen values."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal

DeadlineState = Literal["ok", "approaching", "breached", "met", "stopped"]
STAFF_ROLES = ("caseworker", "intake", "manager", "head_of_unit")


@dataclass(frozen=True)
class User:
    """The signed-in member of staff: id and roles from the identity provider's claims."""

    staff_id: str
    roles: frozenset[str]

    def has_any(self, *roles: str) -> bool:
        """Whether the user holds at least one of `roles`."""
        return bool(self.roles & set(roles))


@dataclass(frozen=True)
class Caller:
    """A user with the bearer token that the staff APIs accept for them."""

    user: User
    token: str


@dataclass(frozen=True)
class Deadline:
    """One legal clock of a referral."""

    name: str
    due_at: datetime
    met_at: datetime | None
    state: DeadlineState


@dataclass(frozen=True)
class QueueItem:
    """A referral in a work queue: ids, codes, flags and times, never a client detail."""

    referral_id: str
    team: str
    caseworker: str
    status: str
    categories: tuple[str, ...]
    acute: bool
    received_at: datetime
    deadlines: tuple[Deadline, ...]
    deadline_state: Literal["ok", "approaching", "breached"]
    next_due_at: datetime | None
    registered: bool


@dataclass(frozen=True)
class ReferralState:
    """Assignment state of one referral (assignment's GET /v1/referrals/{id})."""

    referral_id: str
    team: str
    caseworker: str
    mentor: str | None
    reason: str
    explanation: str
    status: str
    deadlines: tuple[Deadline, ...]
    registered: bool


@dataclass(frozen=True)
class Absence:
    """Days on which a caseworker gets no new referrals."""

    starts_on: date
    ends_on: date
    kind: str


@dataclass(frozen=True)
class WorkloadRow:
    """One caseworker's weighted load against capacity, in cases."""

    staff_id: str
    team: str
    open_cases: int
    weighted_load: float
    capacity: float
    mentor: str | None = None
    absences: tuple[Absence, ...] = field(default=())
    new_hire: bool = False
    mentees: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class OnDuty:
    """The team on duty at an instant, and whether an override put it there."""

    team: str
    period_start: datetime
    period_end: datetime
    source: str


@dataclass(frozen=True)
class SentReview:
    """A monthly access-log review intake sent to the head of unit: figures and the chain anchor
    (None for a review sent before intake kept them)."""

    month: str
    sent_at: datetime
    entries: int | None = None
    findings: tuple[tuple[str, int], ...] | None = None
    chain_seq: int | None = None
    chain_hash: str | None = None


@dataclass(frozen=True)
class AccessLogRow:
    """One row of intake's access log as the review page shows it (no child key, no hash)."""

    at: datetime
    staff: str
    role: str
    relation: str
    referral_id: str
    action: str
    outcome: str
    reason: str | None


class ClaimsRejected(ValueError):
    """The identity provider's claims do not name a member of staff with a known role shape."""


def user_from_claims(claims: dict[str, object], staff_id_claim: str, roles_claim: str) -> User:
    """The user named by the ID token: `roles_claim` may be a dotted path (Keycloak's
    `realm_access.roles`); roles outside the staff roles are dropped."""
    staff_id = claims.get(staff_id_claim)
    if not isinstance(staff_id, str) or not staff_id:
        raise ClaimsRejected(f"claim {staff_id_claim!r} is missing")
    value: object = claims
    for part in roles_claim.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    roles = value if isinstance(value, list) else []
    return User(staff_id=staff_id, roles=frozenset(r for r in roles if r in STAFF_ROLES))


@dataclass(frozen=True)
class CalendarFeed:
    """One of the caller's calendar subscription links, as assignment lists it (never its URL)."""

    id: int
    created_at: datetime
    expires_at: datetime
    last_used_at: datetime | None
    active: bool
