"""The metrics service's Kafka edge: every contract topic's events, decoded to their wire models by
the consumer, translated here to the domain's events, projected as runs (`handlers.project`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

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
from services.metrics.handlers import project
from services.metrics.ports import MetricsUnitOfWork
from shared import events as wire
from shared.events import Envelope, WireModel
from shared.runtime import Runtime

M = TypeVar("M", bound=WireModel)
Edge = Callable[[MetricsUnitOfWork, Sequence[Envelope[M]]], Awaitable[None]]


def subscribe(runtime: Runtime[Any]) -> None:
    """Project every topic the metrics read (all but the dead letters)."""
    for topic, (model, translate) in TOPICS.items():
        runtime.subscribe(topic, model, projecting(translate))


def projecting(translate: Callable[[Envelope[M]], MetricsEvent]) -> Edge[M]:
    """A topic's edge: its run of events translated, then projected in the batch's unit of work."""

    async def project_run(uow: MetricsUnitOfWork, events: Sequence[Envelope[M]]) -> None:
        await project(uow, [translate(e) for e in events])

    return project_run


def received(e: Envelope[wire.ReferralReceived]) -> ReferralReceived:
    """`referral.received` as the metrics see it."""
    d = e.data
    return ReferralReceived(
        d.referral_id, d.kind, d.channel, d.reporter_type, d.reporter_mandatory, d.acute_danger, d.received_at
    )


def assigned(e: Envelope[wire.ReferralAssigned]) -> ReferralAssigned:
    """`referral.assigned` / `referral.reassigned`: assigned when the event occurred."""
    d = e.data
    return ReferralAssigned(
        e.event_id, d.referral_id, d.team, d.caseworker, d.reason, d.received_at, e.occurred_at, d.weight,
        d.deadlines.protection_assessment_due, d.deadlines.preliminary_assessment_due,
    )  # fmt: skip


def acted(e: Envelope[wire.ReferralUpdated]) -> CaseActed:
    """A `referrals.updated.v1` action, named by its event type."""
    d = e.data
    return CaseActed(e.event_type, d.referral_id, d.status, d.at, d.investigation_due, d.feedback_due)


def registered(e: Envelope[wire.ReferralRegistered]) -> ReferralRegistered:
    """`referral.registered`: the registration clock is met."""
    return ReferralRegistered(e.data.referral_id, e.data.registered_at)


def told(e: Envelope[wire.ReporterFeedback]) -> ReporterFeedbackNews:
    """`reporter_feedback.requested` / `.sent` (issue 23)."""
    return ReporterFeedbackNews(e.data.referral_id, e.event_type == "reporter_feedback.sent", e.data.at)


def alerted(e: Envelope[wire.DeadlineEvent]) -> DeadlineAlerted:
    """`deadline.approaching` / `deadline.breached`."""
    d = e.data
    return DeadlineAlerted(d.referral_id, d.deadline, d.due_at, d.team, e.event_type == "deadline.breached")


def handed_over(e: Envelope[wire.RotationHandover]) -> DutyHandedOver:
    """`rotation.handover`."""
    d = e.data
    return DutyHandedOver(d.at, d.from_team, d.to_team, d.next_handover_at)


def settled(e: Envelope[wire.NotificationOutcome]) -> DeliverySettled:
    """`notification.sent` / `.failed` / `.unknown`: the outcome is the event type's second part."""
    return DeliverySettled(e.event_id, e.data.channel, e.event_type.removeprefix("notification."))


def workplace(e: Envelope[WireModel]) -> MetricsEvent:
    """`workplace.v1` (issue 22): a flag (with the seconds to its answer), a consultation or an
    incident, by team and never by person."""
    d = e.data
    if isinstance(d, wire.OverloadFlag):
        answered = d.responded_at if e.event_type == "overload.responded" else None
        seconds = max(0.0, (answered - d.raised_at).total_seconds()) if answered is not None else None
        return OverloadNews(d.flag_id, d.team, e.event_type == "overload.escalated", seconds)
    if isinstance(d, wire.ConsultationEvent):
        kind = e.event_type
        return ConsultationNews(
            d.consultation_id, d.team, kind == "consultation.booked", kind == "consultation.cancelled"
        )
    if isinstance(d, wire.IncidentRecorded):
        return IncidentNews(d.incident_id, d.type, d.team)
    raise TypeError(f"metrics cannot read {e.event_type} on {wire.TOPIC_WORKPLACE}")


# Topic -> its wire model and its translation to the domain's event.
TOPICS: dict[str, tuple[type[WireModel], Callable[[Envelope[Any]], MetricsEvent]]] = {
    wire.TOPIC_RECEIVED: (wire.ReferralReceived, received),
    wire.TOPIC_ASSIGNED: (wire.ReferralAssigned, assigned),
    wire.TOPIC_UPDATED: (wire.ReferralUpdated, acted),
    wire.TOPIC_REGISTERED: (wire.ReferralRegistered, registered),
    wire.TOPIC_FEEDBACK: (wire.ReporterFeedback, told),
    wire.TOPIC_DEADLINES: (wire.DeadlineEvent, alerted),
    wire.TOPIC_ROTATION: (wire.RotationHandover, handed_over),
    wire.TOPIC_NOTIFICATIONS: (wire.NotificationOutcome, settled),
    # Three event models share the topic; the envelope's event type says which.
    wire.TOPIC_WORKPLACE: (WireModel, workplace),
}
