"""Synthetic events for the metrics tests (no tests here): random sequences over every projected
topic, one referral's lifecycle, fifty events of ten referrals; opaque ids only.

`project_each` and `project_runs` fold a sequence into any unit of work with read models, event
by event (runs of one) or run by run as the consumer hands them over.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from services.metrics.handlers import project
from services.metrics.ports import MetricsUnitOfWork
from services.metrics.subscribers import TOPICS
from shared.events import (
    TOPIC_ASSIGNED,
    TOPIC_DEADLINES,
    TOPIC_FEEDBACK,
    TOPIC_NOTIFICATIONS,
    TOPIC_RECEIVED,
    TOPIC_REGISTERED,
    TOPIC_ROTATION,
    TOPIC_UPDATED,
    TOPIC_WORKPLACE,
    ConsultationEvent,
    DeadlineEvent,
    Deadlines,
    Envelope,
    IncidentRecorded,
    NotificationOutcome,
    OverloadFlag,
    ReferralAssigned,
    ReferralReceived,
    ReferralRegistered,
    ReferralUpdated,
    ReporterFeedback,
    RotationHandover,
    new_envelope,
)

T0 = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)
METRICS_TABLES = (
    "received",
    "assigned",
    "assignment_events",
    "cases",
    "deadline_states",
    "breaches",
    "handovers",
    "notification_outcomes",
    "overload_flags",
    "consultations",
    "incidents",
)
Event = tuple[str, Envelope[Any]]


def at(rng: random.Random) -> datetime:
    """One of a few instants, so that events often tie or arrive out of time order."""
    return T0 + timedelta(hours=rng.choice((0, 1, 2, 3)))


def maybe_at(rng: random.Random) -> datetime | None:
    return rng.choice((None, at(rng) + timedelta(days=rng.choice((1, 7, 90)))))


def _received(rng: random.Random, rid: str, team: str) -> tuple[str, Any]:
    return "referral.received", ReferralReceived(
        referral_id=rid,
        submission_id=f"s-{rid}",
        kind=rng.choice(("report", "application")),
        channel=rng.choice(("e_service", "phone")),
        received_at=at(rng),
        reporter_type=rng.choice(("school", "police", "neighbour")),
        reporter_mandatory=rng.random() < 0.5,
        feedback_requested=False,
        categories=("neglect",),
        acute_danger=rng.random() < 0.3,
        protected_identity=False,
        child_key=f"c{rid}",
        family_key=f"f{rid}",
    )


def _assigned(rng: random.Random, rid: str, team: str) -> tuple[str, Any]:
    reason = rng.choice(("rotation", "continuity", "manual"))
    return "referral.reassigned" if reason == "manual" else "referral.assigned", ReferralAssigned(
        referral_id=rid,
        family_key=f"f{rid}",
        team=team,
        caseworker=rng.choice(("cw-1", "cw-2", "cw-3")),
        reason=reason,
        explanation="test",
        received_at=at(rng),
        weight=rng.choice((None, 1.5, 3.0)),
        deadlines=Deadlines(
            protection_assessment_due=maybe_at(rng), preliminary_assessment_due=maybe_at(rng)
        ),
    )


UPDATES = (
    ("referral.acknowledged", "acknowledged"),
    ("referral.protection_assessed", "protection_assessed"),
    ("referral.decided", "investigation"),
    ("referral.decided", "closed"),
    ("investigation.extended", "investigation"),
    ("investigation.closed", "closed"),
    ("investigation.closed", "investigation"),
)


def _updated(rng: random.Random, rid: str, team: str) -> tuple[str, Any]:
    event_type, status = rng.choice(UPDATES)
    return event_type, ReferralUpdated(
        referral_id=rid,
        family_key=f"f{rid}",
        status=status,
        at=at(rng),
        investigation_due=maybe_at(rng),
        feedback_due=maybe_at(rng),
    )


def _deadline(rng: random.Random, rid: str, team: str) -> tuple[str, Any]:
    return rng.choice(("deadline.approaching", "deadline.breached")), DeadlineEvent(
        referral_id=rid,
        family_key=f"f{rid}",
        team=team,
        due_at=at(rng) + timedelta(days=1),
        deadline=rng.choice(
            (
                "protection_assessment",
                "preliminary_assessment",
                "investigation",
                "reporter_feedback",
                "registration",
            )
        ),
    )


def _registered(rng: random.Random, rid: str, team: str) -> tuple[str, Any]:
    return "referral.registered", ReferralRegistered(
        referral_id=rid, family_key=f"f{rid}", registered_at=at(rng), by="in-1"
    )


def _feedback(rng: random.Random, rid: str, team: str) -> tuple[str, Any]:
    return rng.choice(("reporter_feedback.requested", "reporter_feedback.sent")), ReporterFeedback(
        referral_id=rid, family_key=f"f{rid}", at=at(rng), by="in-1", channel=rng.choice(("email", "letter"))
    )


def _handover(rng: random.Random, rid: str, team: str) -> tuple[str, Any]:
    return "rotation.handover", RotationHandover(
        from_team=team, to_team=rng.choice(("team-b", "team-c")), at=at(rng), next_handover_at=maybe_at(rng)
    )


def _notification(rng: random.Random, rid: str, team: str) -> tuple[str, Any]:
    return rng.choice(
        ("notification.sent", "notification.failed", "notification.unknown")
    ), NotificationOutcome(
        family_key=f"f{rid}",
        source_event_id=uuid.uuid4(),
        channel=rng.choice(("email", "teams")),
        recipient="cw-1",
        attempts=1,
    )


# A few fixed ids, so that a flag or a consultation is often seen more than once.
WORKPLACE_IDS = tuple(uuid.UUID(int=n) for n in range(1, 4))


def _workplace(rng: random.Random, rid: str, team: str) -> tuple[str, Any]:
    some_id, when = rng.choice(WORKPLACE_IDS), at(rng)
    pick = rng.random()
    if pick < 0.4:
        kind = rng.choice(("overload.flagged", "overload.escalated", "overload.responded"))
        answered = kind == "overload.responded"
        return kind, OverloadFlag(
            family_key="cw-1", flag_id=some_id, staff="cw-1", team=team, raised_at=T0,
            action="keep" if answered else None, responded_by="mgr-a" if answered else None,
            responded_at=when if answered else None,
        )  # fmt: skip
    if pick < 0.8:
        kind = rng.choice(("consultation.booked", "consultation.reminder", "consultation.cancelled"))
        return kind, ConsultationEvent(
            family_key=str(some_id), consultation_id=some_id, slot="open-care", team=team,
            requester="partner-1", starts_at=when, ends_at=when + timedelta(minutes=30),
        )  # fmt: skip
    iid = uuid.uuid4()
    return "incident.recorded", IncidentRecorded(
        family_key=str(iid), incident_id=iid, occurred_on=when.date(), requester="cw-1",
        type=rng.choice(("threat", "violence", "harassment")), channel="phone", team=rng.choice((team, None)),
    )  # fmt: skip


BUILDERS = {
    TOPIC_RECEIVED: _received,
    TOPIC_ASSIGNED: _assigned,
    TOPIC_UPDATED: _updated,
    TOPIC_REGISTERED: _registered,
    TOPIC_FEEDBACK: _feedback,
    TOPIC_DEADLINES: _deadline,
    TOPIC_ROTATION: _handover,
    TOPIC_NOTIFICATIONS: _notification,
    TOPIC_WORKPLACE: _workplace,
}


def random_event(rng: random.Random, topic: str) -> Envelope[Any]:
    """A synthetic event of `topic` about one of three referrals (opaque ids only)."""
    rid = rng.choice(("R1", "R2", "R3"))
    event_type, data = BUILDERS[topic](rng, rid, rng.choice(("team-a", "team-b")))
    occurred = at(rng) + timedelta(minutes=5)
    return new_envelope(event_type, data, producer="test", correlation_id=rid, occurred_at=occurred)


def random_events(rng: random.Random, count: int) -> list[Event]:
    """Events of all projected topics; a topic often repeats, so runs of several events form."""
    topics = list(TOPICS)
    events: list[Event] = []
    topic = rng.choice(topics)
    for _ in range(count):
        if rng.random() > 0.7:
            topic = rng.choice(topics)
        events.append((topic, random_event(rng, topic)))
    return events


def runs_by_topic(events: Sequence[Event]) -> list[tuple[str, list[Envelope[Any]]]]:
    """Consecutive events of one topic, as `shared.consumer` hands them to a run handler."""
    runs: list[tuple[str, list[Envelope[Any]]]] = []
    for topic, envelope in events:
        if runs and runs[-1][0] == topic:
            runs[-1][1].append(envelope)
        else:
            runs.append((topic, [envelope]))
    return runs


async def project_each(uow: MetricsUnitOfWork, events: Sequence[Event]) -> None:
    """The events one at a time (each a run of one), in one unit of work."""
    async with uow:
        for topic, envelope in events:
            await project(uow, [TOPICS[topic][1](envelope)])
        await uow.commit()


async def project_runs(uow: MetricsUnitOfWork, events: Sequence[Event]) -> None:
    """The events as the consumer hands them over: runs of one topic, in one unit of work."""
    async with uow:
        for topic, run in runs_by_topic(events):
            await project(uow, [TOPICS[topic][1](e) for e in run])
        await uow.commit()


def batch_of_fifty() -> list[Event]:
    """Ten referrals' received, assigned, decided, approaching and notified events, by topic."""
    rng = random.Random(50)
    events: list[Event] = []
    for topic in (TOPIC_RECEIVED, TOPIC_ASSIGNED, TOPIC_UPDATED, TOPIC_DEADLINES, TOPIC_NOTIFICATIONS):
        for n in range(10):
            envelope = random_event(rng, topic)
            data = envelope.data
            if topic == TOPIC_ASSIGNED:
                data = data.model_copy(
                    update={
                        "deadlines": Deadlines(protection_assessment_due=T0, preliminary_assessment_due=T0)
                    }
                )
            if topic == TOPIC_UPDATED:
                envelope = envelope.model_copy(update={"event_type": "referral.decided"})
                data = data.model_copy(
                    update={"status": "investigation", "investigation_due": T0, "feedback_due": None}
                )
            if topic == TOPIC_DEADLINES:
                envelope = envelope.model_copy(update={"event_type": "deadline.approaching"})
            if hasattr(data, "referral_id"):
                data = data.model_copy(update={"referral_id": f"R{n}"})
            events.append((topic, envelope.model_copy(update={"data": data})))
    return events


CLOCK_DAYS = {
    "protection_assessment": 1,
    "preliminary_assessment": 14,
    "investigation": 120,
    "reporter_feedback": 21,
    "registration": 1,
}


def lifecycle(rng: random.Random, rid: str) -> dict[str, list[Envelope[Any]]]:
    """One referral's events by topic, with times as they happen: receipt, assignment (and maybe
    a reassignment), then actions and deadline events later, each topic in its own order."""
    at_hour = iter(range(1, 10))

    # Each clock has one due time, whichever event names it.
    due = {name: T0 + timedelta(days=days) for name, days in CLOCK_DAYS.items()}

    def envelope(topic: str) -> Envelope[Any]:
        event_type, data = BUILDERS[topic](rng, rid, "team-a")
        if topic in (TOPIC_RECEIVED, TOPIC_ASSIGNED):
            data = data.model_copy(update={"received_at": T0})
        if topic == TOPIC_ASSIGNED:
            clocks = Deadlines(
                protection_assessment_due=due["protection_assessment"],
                preliminary_assessment_due=due["preliminary_assessment"],
            )
            data = data.model_copy(update={"deadlines": clocks})
        if topic == TOPIC_UPDATED:
            data = data.model_copy(
                update={
                    "at": T0 + timedelta(hours=next(at_hour)),
                    "investigation_due": data.investigation_due and due["investigation"],
                    "feedback_due": data.feedback_due and due["reporter_feedback"],
                }
            )
        if topic == TOPIC_DEADLINES:
            data = data.model_copy(update={"due_at": due[data.deadline]})
        if topic == TOPIC_ASSIGNED and event_type == "referral.reassigned":
            event_type = "referral.assigned"  # the first assignment; a reassignment may follow
        return new_envelope(event_type, data, producer="test", correlation_id=rid, occurred_at=T0)

    by_topic = {TOPIC_RECEIVED: [envelope(TOPIC_RECEIVED)], TOPIC_ASSIGNED: [envelope(TOPIC_ASSIGNED)]}
    if rng.random() < 0.5:
        by_topic[TOPIC_ASSIGNED].append(
            envelope(TOPIC_ASSIGNED).model_copy(update={"event_type": "referral.reassigned"})
        )
    by_topic[TOPIC_UPDATED] = [envelope(TOPIC_UPDATED) for _ in range(rng.randint(1, 3))]
    by_topic[TOPIC_DEADLINES] = [envelope(TOPIC_DEADLINES) for _ in range(rng.randint(0, 2))]
    by_topic[TOPIC_REGISTERED] = [envelope(TOPIC_REGISTERED) for _ in range(rng.randint(0, 1))]
    return by_topic


def interleaved(rng: random.Random, by_topic: dict[str, list[Envelope[Any]]]) -> list[Event]:
    """The events in a random order across topics, each topic's own order kept (as Kafka does)."""
    queues = {topic: list(events) for topic, events in by_topic.items() if events}
    out: list[Event] = []
    while queues:
        topic = rng.choice(sorted(queues))
        out.append((topic, queues[topic].pop(0)))
        if not queues[topic]:
            del queues[topic]
    return out
