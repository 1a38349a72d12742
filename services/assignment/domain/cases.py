"""A case after assignment: the staff's actions on it, their rules and what each one changes.

`act` checks an action against the case (who may, when, in which status) and returns the case
as it is afterwards; it raises a domain exception (`domain/errors.py`) for anything refused.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta

from services.assignment.domain.access import Action, Actor, Parties, authorize
from services.assignment.domain.deadlines import (
    END_OF_DAY,
    add_months,
    feedback_at_once,
    investigation_due,
    reporter_feedback_due,
)
from services.assignment.domain.errors import (
    AlreadyTheCaseworker,
    ExtensionNotLater,
    ExtensionTooLong,
    NoFeedbackDue,
    TimeOutOfRange,
    UnknownCaseworker,
)
from services.assignment.domain.lifecycle import after_action
from services.assignment.domain.model import Hundredths
from services.assignment.domain.unit import Unit
from services.assignment.domain.workload import is_new_hire

FUTURE_SLACK = timedelta(minutes=5)
"""How far ahead of the service's clock an action's time may lie (clocks differ a little)."""


@dataclass(frozen=True)
class Case:
    """An assigned referral: who has it, why, its status and its legal clocks (no client data)."""

    referral_id: str
    family_key: str
    team: str
    caseworker: str
    mentor: str | None
    reason: str
    explanation: str
    source: str
    period_start: datetime
    period_end: datetime | None
    received_at: datetime
    acute_danger: bool
    protected_identity: bool
    weight: Hundredths
    feedback_requested: bool
    protection_due: datetime
    preliminary_due: datetime
    status: str = "assigned"
    acknowledged_at: datetime | None = None
    protection_assessed_at: datetime | None = None
    protection_outcome: str | None = None
    decided_at: datetime | None = None
    decision: str | None = None
    investigation_opened_on: date | None = None
    investigation_due: datetime | None = None
    feedback_due: datetime | None = None
    feedback_sent_at: datetime | None = None
    closed_at: datetime | None = None
    registration_due: datetime | None = None  # None for cases assigned before issue 19
    registered_at: datetime | None = None
    registered_by: str | None = None
    safety_flag: str | None = None  # issue 22: "two_staff_home_visits"; kept through reassignment

    @property
    def parties(self) -> Parties:
        """Who the case belongs to now (for who may act on it)."""
        return Parties(self.team, self.caseworker, self.mentor)


@dataclass(frozen=True)
class CaseAction:
    """A staff member's action on a case: `name` and the fields that action takes."""

    name: str  # acknowledge | protection_assessment | decision | reassign | extend | close
    by: Actor
    at: datetime
    outcome: str | None = None
    decision: str | None = None
    until: date | None = None
    caseworker: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class Extension:
    """A decision to extend an investigation (20 kap. 3 §), kept beside the case."""

    referral_id: str
    decided_on: date
    decided_by: str
    new_due: datetime
    reason: str


@dataclass(frozen=True)
class CaseChange:
    """A case before and after an action, the teams whose loads it may move, any extension."""

    before: Case
    after: Case
    teams: frozenset[str]
    extension: Extension | None = None


def act(case: Case, action: CaseAction, unit: Unit, now: datetime) -> CaseChange:
    """The case after `action`, or the domain exception that refuses it.

    Checked in this order: a reassignment's caseworker exists, the actor's relation to the case
    allows the action (domain/access.py), when it happened, whether the status allows it, then
    the action's own rules (not the same caseworker, a later due date within the limit).
    """
    if action.name == "reassign" and unit.caseworker(action.caseworker or "") is None:
        raise UnknownCaseworker
    authorize(
        action.by, Action(action.name), case.parties, unit.organisation, to_caseworker=action.caseworker
    )
    if action.at > now + FUTURE_SLACK or action.at < case.received_at:
        raise TimeOutOfRange("`at` must lie between receipt and now")
    status = after_action(case.status, action.name, action.decision)
    if action.name == "reassign":
        after = _reassigned(case, action, unit)
        return CaseChange(case, after, frozenset({case.team, after.team}))
    after = _after(case, action, status, unit)
    extension = None
    if action.name == "extend":
        assert after.investigation_due is not None  # an investigation is open (after_action)
        extension = Extension(
            case.referral_id, unit.local_day(action.at), action.by.staff_id, after.investigation_due,
            action.reason or "",
        )  # fmt: skip
    return CaseChange(case, after, frozenset({case.team}), extension)


def _after(case: Case, action: CaseAction, status: str, unit: Unit) -> Case:
    after = replace(case, status=status)
    if action.name == "acknowledge":
        return replace(after, acknowledged_at=case.acknowledged_at or action.at)
    if action.name == "protection_assessment":
        return replace(after, protection_assessed_at=action.at, protection_outcome=action.outcome)
    if action.name == "decision":
        return _decided(after, action, unit)
    if action.name == "extend":
        assert action.until is not None and case.investigation_due is not None
        new_due = datetime.combine(action.until, END_OF_DAY, unit.tz).astimezone(UTC)
        if new_due <= case.investigation_due:
            raise ExtensionNotLater
        months = unit.deadlines.max_extension_months
        if action.until > add_months(unit.local_day(case.investigation_due), months):
            raise ExtensionTooLong(months)
        return replace(after, investigation_due=new_due)
    return replace(after, closed_at=action.at)  # close


def _decided(case: Case, action: CaseAction, unit: Unit) -> Case:
    after = replace(case, decided_at=action.at, decision=action.decision)
    if action.decision == "open_investigation":
        opened = unit.local_day(action.at)
        due = investigation_due(opened, unit.tz, unit.deadlines).astimezone(UTC)
        after = replace(after, investigation_opened_on=opened, investigation_due=due)
    if case.feedback_requested:
        # Asked with the report: a week from the decision, or at once when it joined an ongoing one.
        due = reporter_feedback_due(
            action.at, action.decision or "", case.received_at, unit.calendar, unit.tz, unit.deadlines
        )
        after = replace(after, feedback_due=due.astimezone(UTC))
    if after.status == "closed":
        after = replace(after, closed_at=action.at)
    return after


def _reassigned(case: Case, action: CaseAction, unit: Unit) -> Case:
    worker = unit.caseworker(action.caseworker or "")
    if worker is None:
        raise UnknownCaseworker
    if worker.staff_id == case.caseworker:
        raise AlreadyTheCaseworker
    mentor = worker.mentor if is_new_hire(worker, unit.local_day(action.at), unit.rules) else None
    explanation = f"reassigned by {action.by.staff_id} from {case.caseworker}"
    return replace(
        case,
        team=worker.team,
        caseworker=worker.staff_id,
        mentor=mentor,
        reason="manual",
        explanation=explanation,
    )


def feedback_owed(requested: bool, reporter_mandatory: bool) -> bool:
    """Whether a reporter's request starts a feedback clock: only a mandatory reporter is owed
    feedback (19 kap. 6 §); a private reporter gets a receipt, an anonymous one nothing."""
    return requested and reporter_mandatory


def feedback_requested_later(case: Case, requested_at: datetime, unit: Unit) -> Case:
    """A mandatory reporter asked for feedback after the report (recorded by intake's staff).

    Before the decision the week runs from the decision as if they had asked with the report;
    after it the feedback is owed at once. The first request counts; a repeat changes nothing.
    """
    if case.feedback_requested:
        return case
    if requested_at < case.received_at:
        raise TimeOutOfRange("`requested_at` must not lie before receipt")
    after = replace(case, feedback_requested=True)
    if case.decided_at is None:
        return after
    due = feedback_at_once(max(requested_at, case.decided_at), unit.calendar, unit.tz, unit.deadlines)
    return replace(after, feedback_due=due.astimezone(UTC))


def feedback_sent(case: Case, at: datetime) -> Case:
    """Intake told the reporter (email sent or letter recorded): the feedback clock stops, once."""
    if case.feedback_due is None:
        raise NoFeedbackDue
    return replace(case, feedback_sent_at=case.feedback_sent_at or at)
