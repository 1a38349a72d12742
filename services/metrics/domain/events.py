"""The events as the metrics see them: what each topic's wire event means for the read models."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class ReferralReceived:
    """A referral was received."""

    referral_id: str
    kind: str
    channel: str
    reporter_type: str
    reporter_mandatory: bool
    acute_danger: bool
    received_at: datetime


@dataclass(frozen=True, slots=True)
class ReferralAssigned:
    """A referral was assigned or reassigned (`assigned_at`: when the event occurred)."""

    event_id: uuid.UUID
    referral_id: str
    team: str
    caseworker: str
    reason: str
    received_at: datetime
    assigned_at: datetime
    weight: float | None
    protection_assessment_due: datetime | None
    preliminary_assessment_due: datetime | None


@dataclass(frozen=True, slots=True)
class CaseActed:
    """A lifecycle action on a case (`action`: its event type, e.g. `referral.decided`)."""

    action: str
    referral_id: str
    status: str
    at: datetime
    investigation_due: datetime | None
    feedback_due: datetime | None


@dataclass(frozen=True, slots=True)
class DeadlineAlerted:
    """A legal clock is approaching its due time, or has breached it."""

    referral_id: str
    deadline: str
    due_at: datetime
    team: str
    breached: bool


@dataclass(frozen=True, slots=True)
class DutyHandedOver:
    """Another team took over duty."""

    at: datetime
    from_team: str
    to_team: str
    next_at: datetime | None


@dataclass(frozen=True, slots=True)
class DeliverySettled:
    """What became of one notification delivery (`outcome`: sent, failed or unknown)."""

    event_id: uuid.UUID
    channel: str
    outcome: str


@dataclass(frozen=True, slots=True)
class ReferralRegistered:
    """Intake registered the referral in the system of record: its registration clock is met."""

    referral_id: str
    at: datetime


@dataclass(frozen=True, slots=True)
class ReporterFeedbackNews:
    """Intake recorded a mandatory reporter's request (`sent` False) or gave them the feedback they
    asked for (`sent` True: the feedback clock is met)."""

    referral_id: str
    sent: bool
    at: datetime


@dataclass(frozen=True, slots=True)
class OverloadNews:
    """An overload flag raised, escalated or answered (issue 22); `response_seconds` when answered."""

    flag_id: uuid.UUID
    team: str
    escalated: bool
    response_seconds: float | None


@dataclass(frozen=True, slots=True)
class ConsultationNews:
    """A consultation booked, reminded of or cancelled (issue 22)."""

    consultation_id: uuid.UUID
    team: str
    booked: bool
    cancelled: bool


@dataclass(frozen=True, slots=True)
class IncidentNews:
    """A threat, violence or harassment against staff recorded (issue 22); team None: no team."""

    incident_id: uuid.UUID
    type: str
    team: str | None


MetricsEvent = (
    ReferralReceived
    | ReferralAssigned
    | CaseActed
    | ReferralRegistered
    | ReporterFeedbackNews
    | DeadlineAlerted
    | DutyHandedOver
    | DeliverySettled
    | OverloadNews
    | ConsultationNews
    | IncidentNews
)
