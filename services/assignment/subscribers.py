"""Kafka edge of assignment: received referrals to the batch use case, registrations to theirs;
each record decoded at the edge."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from services.assignment.domain.batch import ReceivedReferral
from services.assignment.domain.cases import feedback_owed
from services.assignment.domain.errors import AssignmentRefused, ImplausibleTime, UnknownTeam
from services.assignment.domain.model import Referral
from services.assignment.domain.registration import Registration
from services.assignment.domain.unit import Unit
from services.assignment.handlers.assign import ReferralMessage, assign_referrals
from services.assignment.handlers.feedback import FeedbackNews, record_feedback_news
from services.assignment.handlers.registration import record_registrations
from services.assignment.ports import AssignmentUnitOfWork
from shared.events import (
    TOPIC_FEEDBACK,
    TOPIC_RECEIVED,
    TOPIC_REGISTERED,
    Envelope,
    ReferralReceived,
    ReferralRegistered,
    ReporterFeedback,
)
from shared.records import PoisonMessage
from shared.runtime import Runtime

FEEDBACK_EVENTS = {"reporter_feedback.requested": "requested", "reporter_feedback.sent": "sent"}


def subscribe(runtime: Runtime[Any], unit: Unit) -> None:
    """Assign the referrals of every fetched batch of `referrals.received.v1` as one batch, and
    record the registrations of `referrals.registered.v1`."""

    async def on_received(uow: AssignmentUnitOfWork, events: Sequence[Envelope[ReferralReceived]]) -> None:
        try:
            await assign_referrals(uow, unit, [referral_message(e) for e in events])
        except UnknownTeam as exc:
            # The rotation or an earlier case names a team the unit file no longer has: no
            # retry can assign it, so it goes to the dead letters for someone to look at.
            raise PoisonMessage(f"referral for team {exc.team!r}, which the unit config lacks") from exc
        except ImplausibleTime as exc:
            raise PoisonMessage(f"referral refused: {exc}") from exc

    runtime.subscribe(TOPIC_RECEIVED, ReferralReceived, on_received)

    async def on_registered(
        uow: AssignmentUnitOfWork, events: Sequence[Envelope[ReferralRegistered]]
    ) -> None:
        try:
            registrations = [registration(e) for e in events]
        except ImplausibleTime as exc:
            raise PoisonMessage(f"registration refused: {exc}") from exc
        await record_registrations(uow, registrations)

    runtime.subscribe(TOPIC_REGISTERED, ReferralRegistered, on_registered)

    async def on_feedback(uow: AssignmentUnitOfWork, events: Sequence[Envelope[ReporterFeedback]]) -> None:
        try:
            await record_feedback_news(uow, unit, [feedback_news(e) for e in events])
        except AssignmentRefused as exc:
            # Intake checks the case before it records anything, so a refusal here means the two
            # services disagree: no retry mends that; the dead letters show it to an operator.
            raise PoisonMessage(f"reporter feedback refused: {exc}") from exc

    runtime.subscribe(TOPIC_FEEDBACK, ReporterFeedback, on_feedback)


def referral_message(event: Envelope[ReferralReceived]) -> ReferralMessage:
    """The wire event as the use case takes it."""
    r = event.data
    referral = Referral(
        r.referral_id, r.child_key, r.family_key, tuple(r.categories), r.acute_danger, r.interpreter_needed
    )
    requested = feedback_owed(r.feedback_requested, r.reporter_mandatory)
    received = ReceivedReferral(referral, r.received_at, r.protected_identity, requested)
    return ReferralMessage(received, str(event.event_id), event.correlation_id)


def registration(event: Envelope[ReferralRegistered]) -> Registration:
    """The wire event as the use case takes it; ImplausibleTime for a time no rule covers."""
    r = event.data
    return Registration(r.referral_id, r.registered_at, r.by)


def feedback_news(event: Envelope[ReporterFeedback]) -> FeedbackNews:
    """The wire event as the use case takes it."""
    kind = FEEDBACK_EVENTS.get(event.event_type)
    if kind is None:
        raise PoisonMessage(f"unknown event type {event.event_type!r} on {TOPIC_FEEDBACK}")
    return FeedbackNews(event.data.referral_id, kind, event.data.at)
