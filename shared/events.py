"""Wire contracts: the event envelope and every v1 event of CONTRACTS.md §4.

These models travel on Kafka. They carry no personal details: opaque ids, codes, flags and
pseudonymous keys only. Handlers translate them to domain types at the edge.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter

TOPIC_RECEIVED = "referrals.received.v1"
TOPIC_ASSIGNED = "referrals.assigned.v1"
TOPIC_UPDATED = "referrals.updated.v1"
TOPIC_DEADLINES = "deadlines.v1"
TOPIC_ROTATION = "rotation.v1"
TOPIC_NOTIFICATIONS = "notifications.v1"
TOPIC_DEADLETTER = "deadletter.v1"
# Issue 19: intake's registration of a referral in the system of record, and its access events.
TOPIC_REGISTERED = "referrals.registered.v1"
TOPIC_ACCESS = "access.v1"
# Issue 23: a mandatory reporter's request for feedback recorded after the report, and the
# feedback sent (by email or a letter); intake produces them, assignment's feedback clock follows.
TOPIC_FEEDBACK = "referrals.feedback.v1"
# Issue 22: the working environment (overload flags, consultations, threats and violence).
TOPIC_WORKPLACE = "workplace.v1"
ALL_TOPICS = (
    TOPIC_RECEIVED,
    TOPIC_ASSIGNED,
    TOPIC_UPDATED,
    TOPIC_REGISTERED,
    TOPIC_ACCESS,
    TOPIC_FEEDBACK,
    TOPIC_DEADLINES,
    TOPIC_ROTATION,
    TOPIC_WORKPLACE,
    TOPIC_NOTIFICATIONS,
    TOPIC_DEADLETTER,
)

Kind = Literal["report", "application"]
Channel = Literal["e_service", "phone", "letter", "email", "sdk", "visit"]
AssignmentReason = Literal["rotation", "continuity", "override", "manual"]
DeadlineName = Literal[
    "protection_assessment", "preliminary_assessment", "investigation", "reporter_feedback", "registration"
]
NotificationChannel = Literal["email", "teams"]
# Opaque identifiers and pseudonymous keys: short, no whitespace, nothing that could hold free text.
OpaqueId = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:\-]+$")]


class WireModel(BaseModel):
    """Base of every wire model: immutable, unknown fields rejected."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class ReferralReceived(WireModel):
    """`referral.received`: intake stored a referral for one child."""

    referral_id: OpaqueId
    submission_id: OpaqueId
    kind: Kind
    channel: Channel
    received_at: AwareDatetime
    reporter_type: str = Field(pattern=r"^[a-z_]{1,40}$")
    reporter_mandatory: bool
    feedback_requested: bool
    categories: tuple[Annotated[str, Field(pattern=r"^[a-z_]{1,40}$")], ...] = Field(min_length=1)
    acute_danger: bool
    protected_identity: bool
    interpreter_needed: bool = False
    child_key: OpaqueId
    family_key: OpaqueId
    sibling_referral_ids: tuple[OpaqueId, ...] = ()


class Deadlines(WireModel):
    """Due times attached to an assignment."""

    protection_assessment_due: AwareDatetime | None = None
    preliminary_assessment_due: AwareDatetime | None = None


class ReferralAssigned(WireModel):
    """`referral.assigned` / `referral.reassigned`: a team and caseworker took the referral."""

    referral_id: OpaqueId
    family_key: OpaqueId
    team: OpaqueId
    caseworker: OpaqueId
    mentor: OpaqueId | None = None
    reason: AssignmentReason
    explanation: str = Field(max_length=500)
    period_start: AwareDatetime | None = None
    # Added in issue 4 (optional, additive): the period's end and whether it came from the
    # rotation or a manager's override.
    period_end: AwareDatetime | None = None
    source: str | None = Field(default=None, pattern=r"^(rotation|override|manual)$")
    acute_danger: bool = False
    protected_identity: bool = False
    received_at: AwareDatetime
    deadlines: Deadlines
    # The case's weight in the caseworker's load (categories, acute, interpreter); 1 when absent.
    weight: float | None = Field(default=None, gt=0, le=100)


class ReferralUpdated(WireModel):
    """`referrals.updated.v1` events: acknowledged, assessed, decided, extended, closed."""

    referral_id: OpaqueId
    family_key: OpaqueId
    status: str = Field(pattern=r"^[a-z_]{1,40}$")
    at: AwareDatetime
    by: OpaqueId | None = None
    outcome: str | None = Field(default=None, pattern=r"^[a-z_]{1,40}$")
    decision: str | None = Field(default=None, pattern=r"^[a-z_]{1,40}$")
    until: date | None = None
    # Added in issue 4 (optional, additive): the due times the action set.
    investigation_due: AwareDatetime | None = None
    feedback_due: AwareDatetime | None = None


class DeadlineEvent(WireModel):
    """`deadline.approaching` / `deadline.breached`."""

    referral_id: OpaqueId
    family_key: OpaqueId
    deadline: DeadlineName
    due_at: AwareDatetime
    team: OpaqueId
    caseworker: OpaqueId | None = None
    # Added in issue 4 (optional, additive): which reminder this is (seconds before the due time).
    lead_seconds: int | None = Field(default=None, ge=0)


class ReporterFeedback(WireModel):
    """`reporter_feedback.requested` / `reporter_feedback.sent` (issue 23): a mandatory reporter
    asked for feedback after the report, or was given it. Who the reporter is, and what they
    were told, stay in intake: only times, the channel and a staff id travel."""

    referral_id: OpaqueId
    family_key: OpaqueId
    at: AwareDatetime
    by: OpaqueId
    channel: Literal["email", "letter"]


class ReferralRegistered(WireModel):
    """`referral.registered` (issue 19): the intake group recorded the referral in the unit's case
    management system of record. The system's case number stays in intake."""

    referral_id: OpaqueId
    family_key: OpaqueId
    registered_at: AwareDatetime
    by: OpaqueId


class BreakGlassUsed(WireModel):
    """`access.break_glass` (issue 19): someone without a relation to the referral opened it with a
    stated reason. The reason stays in intake's access log; the team's manager is alerted."""

    referral_id: OpaqueId
    family_key: OpaqueId
    team: OpaqueId | None = None
    staff: OpaqueId
    at: AwareDatetime
    expires_at: AwareDatetime


ReviewFindingKind = Literal[
    "break_glass", "denied", "outside_assignments", "outside_office_hours", "unusual_volume"
]


class ReviewFinding(WireModel):
    """One finding of the monthly access-log review: a staff id, what stood out, how often, where."""

    kind: ReviewFindingKind
    staff: OpaqueId
    count: int = Field(ge=1)
    referral_ids: tuple[OpaqueId, ...] = Field(default=(), max_length=50)


class AccessReview(WireModel):
    """`access.review` (issue 19): last month's access-log review, for the head of unit. Staff ids,
    counts and referral references only, never client data."""

    family_key: OpaqueId = "access-review"
    month: str = Field(pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$")
    head_of_unit: OpaqueId
    entries: int = Field(ge=0)
    findings: tuple[ReviewFinding, ...] = Field(default=(), max_length=500)
    # The newest row of the whole access log when the review was made, and its hash: kept outside
    # intake's database (this event, the head of unit's mail), it lets `verify-access-log --anchor`
    # find a log rewritten from some row on, or cut short, which the chain alone cannot show.
    chain_seq: int | None = Field(default=None, ge=1)
    chain_hash: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")


class RotationHandover(WireModel):
    """`rotation.handover`: the team on duty changed; `rotation.on_duty`: who has been since `at`."""

    family_key: OpaqueId = "rotation"
    from_team: OpaqueId
    to_team: OpaqueId
    at: AwareDatetime
    next_handover_at: AwareDatetime | None = None


OverloadAction = Literal["relieve", "reassign", "keep"]


class OverloadFlag(WireModel):
    """`overload.flagged` / `overload.escalated` / `overload.responded` (issue 22).

    The person's optional note is free text and stays in assignment's API: it is not carried
    here, nor in any email or card (someone at their limit may well name a client in it).
    """

    family_key: OpaqueId  # the flagged staff id: one person's flags keep their order
    flag_id: uuid.UUID
    staff: OpaqueId
    team: OpaqueId
    raised_at: AwareDatetime
    escalate_at: AwareDatetime | None = None  # unanswered by then, the head of unit is told
    action: OverloadAction | None = None  # overload.responded
    responded_by: OpaqueId | None = None
    responded_at: AwareDatetime | None = None
    capacity_factor: float | None = Field(default=None, gt=0, le=1)  # relieve
    until: AwareDatetime | None = None  # relieve: the reduced capacity lasts until then
    reassigned: int | None = Field(default=None, ge=0)  # reassign: how many referrals moved


class ConsultationEvent(WireModel):
    """`consultation.booked` / `.reminder` / `.cancelled` (issue 22).

    The topic the booker typed is free text and stays in assignment's API. `sequence` is the
    iCalendar SEQUENCE of the invitation (0 when booked, higher for each later version), and
    `consultation_id` gives its stable UID.
    """

    family_key: OpaqueId  # the consultation id
    consultation_id: uuid.UUID
    slot: OpaqueId  # the meeting slot's id in the unit config
    team: OpaqueId
    requester: OpaqueId  # who booked: a partner or a member of staff
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    referral_id: OpaqueId | None = None  # intake's referral id (`R-…`), not a UUID
    sequence: int = Field(default=0, ge=0)
    cancelled_by: OpaqueId | None = None


IncidentType = Literal["threat", "violence", "harassment"]
IncidentChannel = Literal["in_person", "home_visit", "phone", "email", "letter", "social_media", "other"]


class IncidentRecorded(WireModel):
    """`incident.recorded`: a threat, violence or harassment against staff (issue 22). No names."""

    family_key: OpaqueId  # the incident id
    incident_id: uuid.UUID
    occurred_on: date
    type: IncidentType
    channel: IncidentChannel
    team: OpaqueId | None = None  # the recording person's team; None: intake or the head of unit
    requester: OpaqueId  # who recorded it
    referral_id: OpaqueId | None = None  # intake's referral id (`R-…`), not a UUID


class NotificationOutcome(WireModel):
    """`notification.sent` / `.failed` / `.unknown`: what became of one delivery."""

    family_key: OpaqueId
    source_event_id: uuid.UUID
    channel: NotificationChannel
    recipient: OpaqueId
    attempts: int = Field(ge=0)
    kind: str | None = Field(default=None, pattern=r"^[a-z_.]{1,60}$")


class DeadLetter(WireModel):
    """`deadletter`: a message that could not be handled. No copy of a payload that may hold PII."""

    family_key: str = Field(default="deadletter", max_length=256)
    topic: str
    partition: int
    offset: int
    consumer: str
    error: str = Field(max_length=2000)


DataT = TypeVar("DataT", bound=WireModel)


class Envelope(WireModel, Generic[DataT]):
    """The envelope every message value carries (CONTRACTS.md §4)."""

    event_id: uuid.UUID
    event_type: str = Field(pattern=r"^[a-z_]+(\.[a-z_]+)?$")
    event_version: Literal[1] = 1
    occurred_at: AwareDatetime
    producer: str = Field(max_length=64)
    correlation_id: str = Field(max_length=128)
    causation_id: str | None = Field(default=None, max_length=128)
    data: DataT


EVENT_TYPES: dict[str, tuple[str, type[WireModel]]] = {
    "referral.received": (TOPIC_RECEIVED, ReferralReceived),
    "referral.assigned": (TOPIC_ASSIGNED, ReferralAssigned),
    "referral.reassigned": (TOPIC_ASSIGNED, ReferralAssigned),
    "referral.acknowledged": (TOPIC_UPDATED, ReferralUpdated),
    "referral.protection_assessed": (TOPIC_UPDATED, ReferralUpdated),
    "referral.decided": (TOPIC_UPDATED, ReferralUpdated),
    "investigation.extended": (TOPIC_UPDATED, ReferralUpdated),
    "investigation.closed": (TOPIC_UPDATED, ReferralUpdated),
    "referral.registered": (TOPIC_REGISTERED, ReferralRegistered),
    "reporter_feedback.requested": (TOPIC_FEEDBACK, ReporterFeedback),
    "reporter_feedback.sent": (TOPIC_FEEDBACK, ReporterFeedback),
    "access.break_glass": (TOPIC_ACCESS, BreakGlassUsed),
    "access.review": (TOPIC_ACCESS, AccessReview),
    "deadline.approaching": (TOPIC_DEADLINES, DeadlineEvent),
    "deadline.breached": (TOPIC_DEADLINES, DeadlineEvent),
    "rotation.handover": (TOPIC_ROTATION, RotationHandover),
    # Issue 25: who has been on duty since when, announced at start when no handover of the
    # current period was (a fresh installation): for metrics, not a change to tell staff about.
    "rotation.on_duty": (TOPIC_ROTATION, RotationHandover),
    "overload.flagged": (TOPIC_WORKPLACE, OverloadFlag),
    "overload.escalated": (TOPIC_WORKPLACE, OverloadFlag),
    "overload.responded": (TOPIC_WORKPLACE, OverloadFlag),
    "consultation.booked": (TOPIC_WORKPLACE, ConsultationEvent),
    "consultation.reminder": (TOPIC_WORKPLACE, ConsultationEvent),
    "consultation.cancelled": (TOPIC_WORKPLACE, ConsultationEvent),
    "incident.recorded": (TOPIC_WORKPLACE, IncidentRecorded),
    "notification.sent": (TOPIC_NOTIFICATIONS, NotificationOutcome),
    "notification.failed": (TOPIC_NOTIFICATIONS, NotificationOutcome),
    "notification.unknown": (TOPIC_NOTIFICATIONS, NotificationOutcome),
    "deadletter": (TOPIC_DEADLETTER, DeadLetter),
}


class ContractViolation(ValueError):
    """A message that does not satisfy the contract: it goes to the dead-letter topic."""


def new_envelope(
    event_type: str,
    data: WireModel,
    *,
    producer: str,
    correlation_id: str,
    causation_id: str | None = None,
    occurred_at: datetime | None = None,
) -> Envelope[Any]:
    """Wrap event data in a fresh envelope with a new event id."""
    expected = EVENT_TYPES[event_type][1]
    if not isinstance(data, expected):
        raise TypeError(f"{event_type} carries {expected.__name__}, not {type(data).__name__}")
    concrete: Any = Envelope[type(data)]  # type: ignore[misc]
    return concrete(  # type: ignore[no-any-return]
        event_id=uuid.uuid4(),
        event_type=event_type,
        occurred_at=occurred_at or datetime.now(UTC),
        producer=producer,
        correlation_id=correlation_id,
        causation_id=causation_id,
        data=data,
    )


_ADAPTERS: dict[str, TypeAdapter[Any]] = {
    name: TypeAdapter(Envelope.__class_getitem__(model))  # type: ignore[arg-type]
    for name, (_, model) in EVENT_TYPES.items()
}
_HEAD = TypeAdapter(dict[str, Any])


def parse_event(raw: bytes, *, topic: str | None = None) -> Envelope[Any]:
    """Parse and validate a message value; raise ContractViolation when it breaks the contract."""
    try:
        head = _HEAD.validate_json(raw)
    except ValueError as exc:
        raise ContractViolation(f"not a JSON object: {_brief(exc)}") from None
    event_type = head.get("event_type")
    if not isinstance(event_type, str) or event_type not in _ADAPTERS:
        raise ContractViolation(f"unknown event_type {str(event_type)[:60]!r}")
    if topic is not None and not topic.endswith(EVENT_TYPES[event_type][0]):
        raise ContractViolation(f"event_type {event_type} does not belong on topic {topic}")
    try:
        return _ADAPTERS[event_type].validate_python(head)  # type: ignore[no-any-return]
    except ValueError as exc:
        raise ContractViolation(f"invalid {event_type}: {_brief(exc)}") from None


def decode_event(raw: bytes, topic: str, model: type[DataT]) -> Envelope[DataT]:
    """A message value of `topic` as its typed envelope; ContractViolation when it is not one."""
    envelope = parse_event(raw, topic=topic)
    if not isinstance(envelope.data, model):
        raise ContractViolation(f"{envelope.event_type} does not carry {model.__name__}")
    return envelope


def _brief(exc: ValueError) -> str:
    """Error text without echoing input values, which may hold personal data."""
    errors = getattr(exc, "errors", None)
    if callable(errors):
        parts = [f"{'.'.join(str(p) for p in e['loc'])}: {e['type']}" for e in errors()[:5]]
        return "; ".join(parts)
    return type(exc).__name__


def encode_event(envelope: Envelope[Any]) -> bytes:
    """Serialise an envelope to the JSON bytes of a message value."""
    return envelope.model_dump_json().encode()


def event_key(envelope: Envelope[Any]) -> bytes:
    """The message key: `data.family_key`, so a family's events keep their order."""
    return str(envelope.data.family_key).encode()


OutboxRow = tuple[uuid.UUID, str, bytes, bytes]
"""An outbox row's event_id, topic, key and payload: an event as the outbox stores it."""


def outbox_row(topic: str, envelope: Envelope[Any]) -> OutboxRow:
    """The outbox row that publishes `envelope` on the contract topic `topic`."""
    return envelope.event_id, topic, event_key(envelope), encode_event(envelope)
