"""The Kafka edge: each consumed topic's events, decoded to their wire models, become the
occurrences and acknowledgements the use case takes (a single event is a run of one)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from services.notifications.domain.review import AccessSummary, Finding
from services.notifications.domain.routing import Acknowledgement, Occurrence
from services.notifications.domain.unit import Unit
from services.notifications.domain.workplace import (
    ConsultationFacts,
    IncidentFacts,
    OverloadFacts,
    WorkplaceFacts,
)
from services.notifications.handlers.events import record_events
from services.notifications.ports import NotificationsUnitOfWork
from shared.clock import Clock
from shared.events import (
    EVENT_TYPES,
    TOPIC_ACCESS,
    TOPIC_ASSIGNED,
    TOPIC_DEADLINES,
    TOPIC_RECEIVED,
    TOPIC_ROTATION,
    TOPIC_UPDATED,
    TOPIC_WORKPLACE,
    AccessReview,
    BreakGlassUsed,
    ConsultationEvent,
    DeadlineEvent,
    Envelope,
    IncidentRecorded,
    OverloadFlag,
    ReferralAssigned,
    ReferralReceived,
    ReferralUpdated,
    RotationHandover,
    WireModel,
)
from shared.runtime import Runtime

Input = Occurrence | Acknowledgement


def received(event: Envelope[ReferralReceived]) -> list[Input]:
    """A new referral: intake (and, when acute out of hours, the out-of-hours service) is told."""
    d = event.data
    return [Occurrence(event.event_id, event.event_type, d.family_key, event.occurred_at, d.referral_id,
                       acute=d.acute_danger, at=d.received_at)]  # fmt: skip


def assigned(event: Envelope[ReferralAssigned]) -> list[Input]:
    """An assignment or reassignment, with the due times it set."""
    d = event.data
    due = (("protection_assessment", d.deadlines.protection_assessment_due),
           ("preliminary_assessment", d.deadlines.preliminary_assessment_due))  # fmt: skip
    return [Occurrence(
        event.event_id, event.event_type, d.family_key, event.occurred_at, d.referral_id, team=d.team,
        caseworker=d.caseworker, mentor=d.mentor, acute=d.acute_danger,
        deadlines=tuple((name, at) for name, at in due if at is not None),
    )]  # fmt: skip


def updated(event: Envelope[ReferralUpdated]) -> list[Input]:
    """Only an acknowledgement matters here: it stops escalation."""
    if event.event_type != "referral.acknowledged":
        return []
    return [Acknowledgement(event.data.referral_id, event.data.at)]


def deadline(event: Envelope[DeadlineEvent]) -> list[Input]:
    """A deadline approaching or breached."""
    d = event.data
    return [Occurrence(
        event.event_id, event.event_type, d.family_key, event.occurred_at, d.referral_id, team=d.team,
        caseworker=d.caseworker, deadlines=((d.deadline, d.due_at),),
    )]  # fmt: skip


def handover(event: Envelope[RotationHandover]) -> list[Input]:
    """Another team is on duty: its channel is told."""
    d = event.data
    return [Occurrence(event.event_id, event.event_type, d.family_key, event.occurred_at,
                       team=d.to_team, other_team=d.from_team, at=d.at)]  # fmt: skip


def access(event: Envelope[WireModel]) -> list[Input]:
    """Break-the-glass (the manager is alerted at once) or the monthly access review; any other
    access event tells nobody."""
    d = event.data
    if isinstance(d, BreakGlassUsed):
        return [Occurrence(event.event_id, event.event_type, d.family_key, event.occurred_at, d.referral_id,
                           team=d.team, staff=d.staff, at=d.at, until=d.expires_at)]  # fmt: skip
    if isinstance(d, AccessReview):
        findings = tuple(Finding(f.kind, f.staff, f.count, f.referral_ids) for f in d.findings)
        anchor = None if d.chain_seq is None or d.chain_hash is None else (d.chain_seq, d.chain_hash)
        review = AccessSummary(d.month, d.entries, findings, anchor)
        return [Occurrence(event.event_id, event.event_type, d.family_key, event.occurred_at, review=review)]
    return []


def workplace(event: Envelope[WireModel]) -> list[Input]:
    """An overload flag, a consultation or an incident (issue 22): ids, codes and times only, the
    events have no free text. `staff` is whoever raised it (the `requester` route)."""
    d = event.data
    facts: WorkplaceFacts
    team: str | None
    if isinstance(d, OverloadFlag):
        facts = OverloadFacts(d.flag_id, d.staff, d.raised_at, d.escalate_at, d.action, d.responded_by,
                              d.responded_at, d.capacity_factor, d.until, d.reassigned)  # fmt: skip
        team, staff, key = d.team, d.staff, d.family_key
    elif isinstance(d, ConsultationEvent):
        referral = str(d.referral_id) if d.referral_id else None
        facts = ConsultationFacts(d.consultation_id, d.slot, d.requester, d.starts_at, d.ends_at,
                                  d.sequence, referral, d.cancelled_by)  # fmt: skip
        team, staff, key = d.team, d.requester, d.family_key
    elif isinstance(d, IncidentRecorded):
        referral = str(d.referral_id) if d.referral_id else None
        facts = IncidentFacts(d.incident_id, d.occurred_on, d.type, d.channel, d.requester, referral)
        team, staff, key = d.team, d.requester, d.family_key
    else:
        return []
    return [Occurrence(event.event_id, event.event_type, key, event.occurred_at, team=team, staff=staff,
                       workplace=facts)]  # fmt: skip


TRANSLATIONS: dict[str, tuple[type[Any], Callable[[Any], list[Input]]]] = {
    TOPIC_RECEIVED: (ReferralReceived, received),
    TOPIC_ASSIGNED: (ReferralAssigned, assigned),
    TOPIC_UPDATED: (ReferralUpdated, updated),
    TOPIC_DEADLINES: (DeadlineEvent, deadline),
    TOPIC_ROTATION: (RotationHandover, handover),
    # Two event models share the topic; the envelope's event type says which (parse_event checks it).
    TOPIC_ACCESS: (WireModel, access),
    TOPIC_WORKPLACE: (WireModel, workplace),
}
CONSUMED = tuple(TRANSLATIONS)


def inputs(events: Sequence[Envelope[Any]]) -> list[Input]:
    """Any consumed events (of any topics, in order) as the use case's inputs."""
    return [i for event in events for i in TRANSLATIONS[_topic(event)][1](event)]


def _topic(event: Envelope[Any]) -> str:
    topic = EVENT_TYPES[event.event_type][0]
    if topic not in TRANSLATIONS:
        raise TypeError(f"notifications does not consume {event.event_type}")
    return topic


def subscribe(runtime: Runtime[Any], unit: Unit, clock: Clock) -> None:
    """Register every consumed topic: its run of events is one call of the use case."""
    for topic, (model, translate) in TRANSLATIONS.items():
        runtime.subscribe(topic, model, _edge(translate, unit, clock))


def _edge(
    translate: Callable[[Any], list[Input]], unit: Unit, clock: Clock
) -> Callable[[NotificationsUnitOfWork, Sequence[Envelope[Any]]], Awaitable[None]]:
    async def handle(uow: NotificationsUnitOfWork, events: Sequence[Envelope[Any]]) -> None:
        await record_events(uow, [i for event in events for i in translate(event)], unit, clock)

    return handle
