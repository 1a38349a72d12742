"""Which read-model changes each event makes, and how a change meets the row already there.

Topics have no order relative to each other, so every change is an upsert that gives the same
result whichever event of a referral arrives first: counts are kept once per event or referral,
a deadline's state only moves up (ok < approaching < breached < met), and a case's status is
the one of its latest action by the action's own time.

Each kind of change writes one read model (table), and reads no other.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from services.metrics.domain.events import (
    CaseActed,
    ConsultationNews,
    DeadlineAlerted,
    DeliverySettled,
    DutyHandedOver,
    IncidentNews,
    MetricsEvent,
    OverloadNews,
    ReferralAssigned,
    ReferralReceived,
    ReferralRegistered,
    ReporterFeedbackNews,
)
from services.metrics.domain.labels import CLOSED_STATUSES, MEETS, NO_TEAM, STATE_RANK, reporter_group

# The changes, one kind per read model (the fields are its columns, in order).


@dataclass(frozen=True, slots=True)
class ReceivedCounted:
    """`received`: a referral counted once."""

    referral_id: str
    kind: str
    channel: str
    reporter_group: str
    acute: bool
    received_at: datetime


@dataclass(frozen=True, slots=True)
class FirstAssignmentRecorded:
    """`assigned`: a referral's first assignment and how long it took (kept if already there)."""

    referral_id: str
    team: str
    caseworker: str
    reason: str
    received_at: datetime
    assigned_at: datetime
    assignment_seconds: float


@dataclass(frozen=True, slots=True)
class AssignmentCounted:
    """`assignment_events`: every assignment and reassignment, once per event."""

    event_id: uuid.UUID
    referral_id: str
    team: str
    reason: str


@dataclass(frozen=True, slots=True)
class CaseOwned:
    """`cases`: who has the case now; a new case starts as `assigned` at its receipt."""

    referral_id: str
    team: str
    caseworker: str
    weight: float
    received_at: datetime


@dataclass(frozen=True, slots=True)
class CaseStatusSet:
    """`cases`: the status of an action, unless a later action's status is already there."""

    referral_id: str
    status: str
    at: datetime


@dataclass(frozen=True, slots=True)
class DeadlineRaised:
    """`deadline_states`: a clock's state, due time and team (None keeps what is there)."""

    referral_id: str
    deadline: str
    due_at: datetime | None
    team: str | None
    state: str


@dataclass(frozen=True, slots=True)
class BreachCounted:
    """`breaches`: a clock breached, counted once per referral and clock."""

    referral_id: str
    deadline: str
    team: str


@dataclass(frozen=True, slots=True)
class HandoverRecorded:
    """`handovers`: a handover, once per instant."""

    at: datetime
    from_team: str
    to_team: str
    next_at: datetime | None


@dataclass(frozen=True, slots=True)
class OutcomeCounted:
    """`notification_outcomes`: a delivery's outcome, once per event."""

    event_id: uuid.UUID
    channel: str
    outcome: str


@dataclass(frozen=True, slots=True)
class FlagSeen:
    """`overload_flags`: one row per flag; escalated once seen escalated, the first answer's time kept."""

    flag_id: uuid.UUID
    team: str
    escalated: bool
    response_seconds: float | None


@dataclass(frozen=True, slots=True)
class ConsultationSeen:
    """`consultations`: one row per consultation; booked and cancelled once seen so."""

    consultation_id: uuid.UUID
    team: str
    booked: bool
    cancelled: bool


@dataclass(frozen=True, slots=True)
class IncidentCounted:
    """`incidents`: an incident counted once (team `none` when recorded without a team)."""

    incident_id: uuid.UUID
    type: str
    team: str


Change = (
    ReceivedCounted
    | FirstAssignmentRecorded
    | AssignmentCounted
    | CaseOwned
    | CaseStatusSet
    | DeadlineRaised
    | BreachCounted
    | HandoverRecorded
    | OutcomeCounted
    | FlagSeen
    | ConsultationSeen
    | IncidentCounted
)


def read_model_changes(event: MetricsEvent) -> list[Change]:
    """The changes an event makes to the read models, in the order they are made."""
    match event:
        case ReferralReceived():
            group = reporter_group(event.reporter_type, event.reporter_mandatory)
            return [
                ReceivedCounted(event.referral_id, event.kind, event.channel, group, event.acute_danger,
                                event.received_at)
            ]  # fmt: skip
        case ReferralAssigned():
            return _assigned(event)
        case CaseActed():
            return _acted(event)
        case ReferralRegistered():
            return [DeadlineRaised(event.referral_id, "registration", None, None, "met")]
        case ReporterFeedbackNews():
            # A request's due time is assignment's: its alerts bring it. Sending meets the clock.
            return (
                [DeadlineRaised(event.referral_id, "reporter_feedback", None, None, "met")]
                if event.sent
                else []
            )
        case DeadlineAlerted():
            state = "breached" if event.breached else "approaching"
            raised = DeadlineRaised(event.referral_id, event.deadline, event.due_at, event.team, state)
            breach = [BreachCounted(event.referral_id, event.deadline, event.team)] if event.breached else []
            return [raised, *breach]
        case DutyHandedOver():
            return [HandoverRecorded(event.at, event.from_team, event.to_team, event.next_at)]
        case DeliverySettled():
            return [OutcomeCounted(event.event_id, event.channel, event.outcome)]
        case OverloadNews():
            return [FlagSeen(event.flag_id, event.team, event.escalated, event.response_seconds)]
        case ConsultationNews():
            return [ConsultationSeen(event.consultation_id, event.team, event.booked, event.cancelled)]
        case IncidentNews():
            return [IncidentCounted(event.incident_id, event.type, event.team or NO_TEAM)]


def _assigned(event: ReferralAssigned) -> list[Change]:
    """Counters, the case's owner, and its first two clocks."""
    seconds = max(0.0, (event.assigned_at - event.received_at).total_seconds())
    clocks = (
        ("protection_assessment", event.protection_assessment_due),
        ("preliminary_assessment", event.preliminary_assessment_due),
    )
    return [
        FirstAssignmentRecorded(event.referral_id, event.team, event.caseworker, event.reason,
                                event.received_at, event.assigned_at, seconds),
        AssignmentCounted(event.event_id, event.referral_id, event.team, event.reason),
        # The case's status starts at receipt, so any later action (by its own `at`) overrides it.
        CaseOwned(event.referral_id, event.team, event.caseworker, event.weight or 1.0, event.received_at),
        *(DeadlineRaised(event.referral_id, name, due, event.team, "ok")
          for name, due in clocks if due is not None),
    ]  # fmt: skip


def _acted(event: CaseActed) -> list[Change]:
    """The case's status, the clock the action meets, then the clocks it starts."""
    changes: list[Change] = [CaseStatusSet(event.referral_id, event.status, event.at)]
    met = MEETS.get(event.action)
    if met is not None:
        changes.append(DeadlineRaised(event.referral_id, met, None, None, "met"))
    if event.investigation_due is not None and event.status not in CLOSED_STATUSES:
        changes.append(
            DeadlineRaised(event.referral_id, "investigation", event.investigation_due, None, "ok")
        )
    if event.feedback_due is not None:
        changes.append(DeadlineRaised(event.referral_id, "reporter_feedback", event.feedback_due, None, "ok"))
    return changes


def later_state(current: str, new: str) -> str:
    """A deadline's state only moves up: ok < approaching < breached < met."""
    return new if STATE_RANK[new] > STATE_RANK[current] else current
