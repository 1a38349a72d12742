"""What the web app knows: the signed-in user and what the staff APIs return, as frozen values."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal

DeadlineState = Literal["ok", "approaching", "breached", "met", "stopped"]
STAFF_ROLES = ("caseworker", "intake", "manager", "head_of_unit", "partner")
UNIT_ROLES = ("caseworker", "intake", "manager", "head_of_unit")
"""The roles of the unit's own staff; `partner` (colleagues elsewhere in social services) is not one."""


@dataclass(frozen=True)
class User:
    """The signed-in member of staff: id and roles from the identity provider's claims."""

    staff_id: str
    roles: frozenset[str]

    def has_any(self, *roles: str) -> bool:
        """Whether the user holds at least one of `roles`."""
        return bool(self.roles & set(roles))

    @property
    def partner_only(self) -> bool:
        """A colleague from elsewhere in social services: they may only book consultations."""
        return "partner" in self.roles and not self.has_any(*UNIT_ROLES)


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
    safety_flag: str | None = None


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
    safety_flag: str | None = None


@dataclass(frozen=True)
class Overload:
    """A caseworker's overload flag as the workload row shows it: open (awaiting the manager) or
    relieved until a day."""

    flag_id: str
    state: str  # "open" | "relieved"
    until: datetime | None = None


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
    overload: Overload | None = None


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


@dataclass(frozen=True)
class RaisedFlag:
    """What assignment answers when a caseworker flags that they are at their limit."""

    flag_id: str
    raised_at: datetime
    escalate_at: datetime | None


@dataclass(frozen=True)
class OverloadFlag:
    """One overload flag with the manager's response, if any (assignment's GET /v1/overload-flags)."""

    flag_id: str
    staff: str
    team: str
    note: str | None
    raised_at: datetime
    escalate_at: datetime
    escalated_at: datetime | None = None
    action: str | None = None  # relieve | reassign | keep
    responded_by: str | None = None
    responded_at: datetime | None = None
    response_seconds: float | None = None
    comment: str | None = None
    capacity_factor: float | None = None
    until: datetime | None = None
    reassigned: int | None = None


@dataclass(frozen=True)
class Booking:
    """One bookable time inside a consultation slot; who booked it only for those who may know."""

    starts_at: datetime
    ends_at: datetime
    booked: bool
    consultation_id: str | None = None
    requester: str | None = None


@dataclass(frozen=True)
class MeetingSlot:
    """One occurrence of a fixed recurring meeting time from the unit file."""

    slot: str
    kind: str  # consultation | meeting | handover
    title: str
    counterpart: str | None
    teams: tuple[str, ...]
    starts_at: datetime
    ends_at: datetime
    bookings: tuple[Booking, ...] = ()


@dataclass(frozen=True)
class Consultation:
    """A booked consultation; the topic is free text that stays in assignment's API."""

    consultation_id: str
    slot: str
    team: str
    starts_at: datetime
    ends_at: datetime
    topic: str = ""
    referral_id: str | None = None
    requester: str = ""
    cancelled_at: datetime | None = None


@dataclass(frozen=True)
class Incident:
    """A recorded threat, act of violence or harassment against staff: codes only, no names."""

    incident_id: str
    occurred_on: date
    type: str
    channel: str
    team: str | None
    recorded_by: str
    referral_id: str | None
    recorded_at: datetime


@dataclass(frozen=True)
class IncidentSummary:
    """A quarter's incidents counted by type, team and channel (for occupational health)."""

    quarter: str
    start: date
    end: date
    total: int
    by_type: tuple[tuple[str, int], ...]
    by_team: tuple[tuple[str, tuple[tuple[str, int], ...]], ...]
    by_channel: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class MonthValue:
    """One month's value of a measure, for the unit (team None) or one team."""

    month: str
    team: str | None
    value: float | None


@dataclass(frozen=True)
class Measure:
    """One measure of the outcome report: monthly values and the before/after comparison."""

    id: str
    title_sv: str
    title_en: str
    unit: str  # days | share | count | per_fte | ratio
    monthly: tuple[MonthValue, ...]
    before: float | None
    after: float | None
    whole: float | None


@dataclass(frozen=True)
class OutcomeReport:
    """Assignment's GET /v1/outcome-report."""

    start: date
    end: date
    change_date: date | None
    generated_at: datetime
    measures: tuple[Measure, ...]
