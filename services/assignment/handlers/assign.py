"""Use case: assign a batch of received referrals to teams and caseworkers, fairly.

Runs in the unit of work the consumer opened for a fetched batch (the inbox rows commit with the
assignments). A single referral is a batch of one: there is no other path.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC

from services.assignment.domain.batch import (
    AssignmentBatch,
    NewAssignment,
    Pending,
    ReceivedReferral,
    facts_query,
    teams_a_batch_may_need,
)
from services.assignment.domain.model import as_cases
from services.assignment.domain.unit import Unit
from services.assignment.ports import AssignmentStore, AssignmentUnitOfWork
from shared.events import TOPIC_ASSIGNED, Deadlines, OutboxRow, ReferralAssigned, new_envelope, outbox_row

PRODUCER = "assignment"


@dataclass(frozen=True)
class ReferralMessage:
    """A received referral and the ids of the event that brought it, for the events it causes."""

    referral: ReceivedReferral
    event_id: str
    correlation_id: str


async def assign_referrals(
    uow: AssignmentUnitOfWork, unit: Unit, messages: Sequence[ReferralMessage]
) -> None:
    """Read what the batch needs once, decide each referral in order, store them all at once.

    One pipelined read of every referral's facts, every team's lock in one statement (before
    any decision: all writers lock in one order, so none deadlock), a team's loads once per day
    decided in, and one pipelined insert of every assignment with its event. The domain carries
    forward what each decision changed, so each sees what a fresh read would have returned.
    """
    store = uow.assignments
    referrals = [m.referral for m in messages]
    queries = [facts_query(unit, r) for r in referrals]
    facts = await store.read_before_lock(queries)
    locked = teams_a_batch_may_need(unit, referrals, queries, facts)
    await store.lock_teams(locked)
    batch = AssignmentBatch(unit)
    decided: list[tuple[NewAssignment, ReferralMessage]] = []
    for message, query, known in zip(messages, queries, facts, strict=True):
        pending = batch.prepare(message.referral, query, known)
        if pending is None:
            continue  # assigned already, by an earlier event about the same referral
        if batch.needs_loads(pending):
            await _read_loads(store, unit, batch, pending, locked)
        decided.append((batch.decide(pending), message))
    await store.add([(a, assigned_event(a, message)) for a, message in decided])


async def _read_loads(
    store: AssignmentStore, unit: Unit, batch: AssignmentBatch, pending: Pending, locked: set[str]
) -> None:
    if pending.team not in locked:  # a safety net: teams_a_batch_may_need names every team
        await store.lock_teams([pending.team])
        locked.add(pending.team)
    loads = await store.team_loads(pending.team, pending.day, unit.members(pending.team))
    batch.add_stored_loads(pending.team, pending.day, loads)


def assigned_event(a: NewAssignment, cause: ReferralMessage) -> OutboxRow:
    """The referral.assigned event of an assignment, caused by the referral's received event."""
    r, d, duty = a.received, a.decision, a.duty
    data = ReferralAssigned(
        referral_id=r.referral_id,
        family_key=r.referral.family_key,
        team=d.team,
        caseworker=d.staff_id,
        mentor=d.mentor,
        reason=d.reason,
        explanation=d.explanation,
        period_start=duty.period_start.astimezone(UTC),
        period_end=duty.period_end.astimezone(UTC),
        source=duty.source,
        acute_danger=r.referral.acute_danger,
        protected_identity=r.protected_identity,
        received_at=r.received_at,
        deadlines=Deadlines(
            protection_assessment_due=a.deadlines.protection_assessment_due.astimezone(UTC),
            preliminary_assessment_due=a.deadlines.preliminary_assessment_due.astimezone(UTC),
        ),
        weight=as_cases(a.weight),
    )
    envelope = new_envelope(
        "referral.assigned", data, producer=PRODUCER, correlation_id=cause.correlation_id,
        causation_id=cause.event_id,
    )  # fmt: skip
    return outbox_row(TOPIC_ASSIGNED, envelope)
