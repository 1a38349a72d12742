"""Use cases of the case lifecycle behind the staff API: each one unit of work of its own."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from services.assignment.domain.access import Actor
from services.assignment.domain.cases import Case, CaseAction, CaseChange, act
from services.assignment.domain.errors import CaseNotFound, NotPermitted
from services.assignment.domain.model import as_cases
from services.assignment.domain.unit import Unit
from services.assignment.domain.workload import absent_on
from services.assignment.handlers.assign import PRODUCER
from services.assignment.ports import AssignmentUnitOfWork
from shared.events import (
    TOPIC_ASSIGNED,
    TOPIC_UPDATED,
    Deadlines,
    OutboxRow,
    ReferralAssigned,
    ReferralUpdated,
    new_envelope,
    outbox_row,
)

log = logging.getLogger(__name__)
T = TypeVar("T")
EVENT_TYPES = {
    "acknowledge": "referral.acknowledged",
    "protection_assessment": "referral.protection_assessed",
    "decision": "referral.decided",
    "extend": "investigation.extended",
    "close": "investigation.closed",
}


async def case_state(uow: AssignmentUnitOfWork, referral_id: str) -> Case:
    """The case as it stands; CaseNotFound if the referral has no assignment."""
    async with uow:
        case = await uow.cases.get(referral_id)
    if case is None:
        raise CaseNotFound
    return case


@dataclass(frozen=True)
class Acted:
    """The case after an action, and what the actor should know (e.g. the new caseworker is away)."""

    case: Case
    warnings: tuple[str, ...] = ()


async def act_on_case(
    uow: AssignmentUnitOfWork, unit: Unit, referral_id: str, action: CaseAction, now: datetime
) -> Acted:
    """Check the action against the case (domain), store the change and its event; the case after.

    The case's row is locked first, then its teams' locks are taken as assignment takes them:
    every change moves a caseworker's load, so the two never deadlock.
    """
    async with uow:
        case = await uow.cases.get_for_update(referral_id)
        if case is None:
            raise CaseNotFound
        change = _refusals_logged(referral_id, action.by, lambda: act(case, action, unit, now))
        await uow.assignments.lock_teams(change.teams)
        await uow.cases.save(change.before, change.after)
        if change.extension is not None:
            await uow.cases.add_extension(change.extension)
        await uow.outbox.add([case_event(change, action)])
        warnings = await _reassignment_warnings(uow, unit, change, action)
        await uow.commit()
    return Acted(change.after, warnings)


def _refusals_logged(referral_id: str, by: Actor, decide: Callable[[], T]) -> T:
    """The domain's answer; a refusal by relation is logged (who, what, which referral) and raised."""
    try:
        return decide()
    except NotPermitted as refused:
        log.warning(
            "action refused: no relation to the referral allows it",
            extra={"staff": by.staff_id, "action": refused.action, "referral_id": referral_id},
        )
        raise


async def _reassignment_warnings(
    uow: AssignmentUnitOfWork, unit: Unit, change: CaseChange, action: CaseAction
) -> tuple[str, ...]:
    """A reassignment to someone away today goes through (they may be back tomorrow), with a word."""
    if action.name != "reassign":
        return ()
    day = unit.local_day(action.at)
    away = absent_on(await uow.absences.ending_on_or_after(day), change.after.caseworker, day)
    return () if away is None else (f"{change.after.caseworker} is away until {away.ends_on.isoformat()}",)


def case_event(change: CaseChange, action: CaseAction) -> OutboxRow:
    """referral.reassigned for a reassignment; else the referrals.updated event of the action."""
    before, after = change.before, change.after
    if action.name == "reassign":
        return _reassigned_event(after)
    data = ReferralUpdated(
        referral_id=after.referral_id,
        family_key=after.family_key,
        status=after.status,
        at=action.at,
        by=action.by.staff_id,
        outcome=action.outcome,
        decision=action.decision,
        until=action.until,
        investigation_due=after.investigation_due
        if after.investigation_due != before.investigation_due
        else None,
        feedback_due=after.feedback_due if after.feedback_due != before.feedback_due else None,
    )
    envelope = new_envelope(
        EVENT_TYPES[action.name], data, producer=PRODUCER, correlation_id=after.referral_id
    )
    return outbox_row(TOPIC_UPDATED, envelope)


def _reassigned_event(case: Case) -> OutboxRow:
    data = ReferralAssigned(
        referral_id=case.referral_id,
        family_key=case.family_key,
        team=case.team,
        caseworker=case.caseworker,
        mentor=case.mentor,
        reason="manual",
        explanation=case.explanation,
        source="manual",
        acute_danger=case.acute_danger,
        protected_identity=case.protected_identity,
        received_at=case.received_at,
        deadlines=Deadlines(
            protection_assessment_due=case.protection_due, preliminary_assessment_due=case.preliminary_due
        ),
        weight=as_cases(case.weight),
    )
    envelope = new_envelope("referral.reassigned", data, producer=PRODUCER, correlation_id=case.referral_id)
    return outbox_row(TOPIC_ASSIGNED, envelope)
