"""The staff API's request and response bodies, and the dates and instants it accepts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import Path
from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

from services.assignment.domain.cases import Case
from services.assignment.domain.model import OnDuty, as_cases
from services.assignment.domain.overload import OverloadFlag, board_state
from services.assignment.domain.queues import NO_DUE, QueueEntry
from services.assignment.domain.workload import CaseworkerWorkload

# Inside the years the unit can plan for (the holiday calendar covers them).
EARLIEST = date(2000, 1, 1)
LATEST = date(2100, 12, 31)


def _day_in_range(day: date) -> date:
    if not EARLIEST <= day <= LATEST:
        raise ValueError(f"must lie between {EARLIEST} and {LATEST}")
    return day


def _instant_in_range(at: datetime) -> datetime:
    _day_in_range(at.date())  # the wall-clock date: converting year 1 to UTC could overflow
    return at


Day = Annotated[date, AfterValidator(_day_in_range)]
Instant = Annotated[AwareDatetime, AfterValidator(_instant_in_range)]
ReferralId = Annotated[str, Path(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:\-]+$")]
# The same id in a request body: intake's opaque referral id (`R-7Q2K9M3XH4TB`), not a UUID.
ReferralRef = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:\-]+$")]


class _Body(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Period(_Body):
    """One on-duty period."""

    team: str
    period_start: datetime
    period_end: datetime
    source: Literal["rotation", "override"]

    @classmethod
    def of(cls, p: OnDuty) -> Period:
        """The period as the API shows it."""
        return cls(team=p.team, period_start=p.period_start, period_end=p.period_end, source=p.source)


class OverrideIn(_Body):
    """A manager's override of the rotation."""

    team: str = Field(min_length=1, max_length=40)
    starts_at: Instant
    ends_at: Instant
    reason: str = Field(min_length=1, max_length=500)


class AbsenceIn(_Body):
    """An absence: no new referrals on these days."""

    starts_on: Day
    ends_on: Day
    kind: Literal["leave", "sick", "course", "other"]


class AbsenceEndIn(_Body):
    """An absence ended early: the person takes referrals again from `back_on`."""

    back_on: Day


class Created(_Body):
    """The id of what was stored."""

    id: int


class AtBody(_Body):
    """When the action happened."""

    at: Instant


class ProtectionBody(AtBody):
    """The outcome of the protection assessment."""

    outcome: Literal["no_immediate_need", "immediate_protection"]


class DecisionBody(AtBody):
    """The preliminary assessment's decision."""

    decision: Literal["open_investigation", "no_investigation", "joined_ongoing"]


class ReassignBody(_Body):
    """A manager moves the referral to another caseworker."""

    caseworker: str = Field(min_length=1, max_length=40)
    reason: str = Field(min_length=1, max_length=500)


class ExtendBody(_Body):
    """An extension of the investigation by decision."""

    until: Day
    reason: str = Field(min_length=1, max_length=500)


def referral_state(case: Case) -> dict[str, Any]:
    """What GET /v1/referrals/{id} shows: assignment, status and deadlines, no client details."""
    keys = ("referral_id", "team", "caseworker", "mentor", "reason", "explanation", "status", "source")
    state: dict[str, Any] = {k: getattr(case, k) for k in keys}
    state["period"] = {"start": case.period_start, "end": case.period_end}
    state["deadlines"] = {
        "protection_assessment": _deadline(case.protection_due, case.protection_assessed_at),
        "preliminary_assessment": _deadline(case.preliminary_due, case.decided_at),
        "investigation": _deadline(case.investigation_due, case.closed_at),
        "reporter_feedback": _deadline(case.feedback_due, case.feedback_sent_at),
        "registration": _deadline(case.registration_due, case.registered_at),
    }
    state["registration"] = {
        "registered": case.registered_at is not None,
        "registered_at": case.registered_at,
        "registered_by": case.registered_by,
    }
    return state | {
        "decision": case.decision,
        "protection_outcome": case.protection_outcome,
        "safety_flag": case.safety_flag,
    }


def _deadline(due: datetime | None, met_at: datetime | None) -> dict[str, Any] | None:
    return None if due is None else {"due_at": due, "met_at": met_at}


def overload_state(flags: Sequence[OverloadFlag], staff_id: str, at: datetime) -> dict[str, object] | None:
    """A workload row's `overload`: the open flag, or a running relief (never the note)."""
    flag = board_state(flags, staff_id, at)
    if flag is None:
        return None
    state = "open" if flag.open else "relieved"
    return {"flag_id": flag.flag_id, "state": state, "until": flag.relief_until}


def workload_body(
    rows: list[CaseworkerWorkload], at: datetime, flags: Sequence[OverloadFlag] = ()
) -> dict[str, object]:
    """What GET /v1/workload returns: staff ids and figures in cases, nothing about clients."""
    people = [
        {
            "staff_id": r.caseworker.staff_id,
            "team": r.caseworker.team,
            "open_cases": r.open_cases,
            "weighted_load": round(as_cases(r.weighted_load), 2),
            "capacity": round(as_cases(r.capacity), 2),
            "employment_rate": r.caseworker.employment_rate,
            "mentor": r.caseworker.mentor,
            "new_hire": r.new_hire,
            "mentees": list(r.mentees),
            "absences": [
                {"starts_on": a.starts_on, "ends_on": a.ends_on, "kind": a.kind} for a in r.absences
            ],
            "overload": overload_state(flags, r.caseworker.staff_id, at),
        }
        for r in rows
    ]
    return {"at": at, "caseworkers": people}


ClockName = Literal[
    "protection_assessment", "preliminary_assessment", "investigation", "reporter_feedback", "registration"
]


Reminders = Mapping[str, tuple[timedelta, ...]]


class QueueDeadline(_Body):
    """One deadline of a referral in a queue, with its state at the page's `at`."""

    due_at: datetime
    met_at: datetime | None
    state: Literal["ok", "approaching", "breached", "met", "stopped"]


class QueueItem(_Body):
    """A referral in a work queue: ids, codes, flags and times only, never a client detail. No
    age band: no event assignment receives carries the child's age or birth date."""

    referral_id: str
    team: str
    caseworker: str
    mentor: str | None
    status: str
    categories: list[str]
    acute: bool
    received_at: datetime
    deadlines: dict[ClockName, QueueDeadline]
    deadline_state: Literal["ok", "approaching", "breached"]
    next_due_at: datetime | None
    registered: bool
    registered_at: datetime | None
    safety_flag: Literal["two_staff_home_visits"] | None = None

    @classmethod
    def of(cls, entry: QueueEntry, now: datetime, reminders: Reminders) -> QueueItem:
        """The entry as the API shows it, its states at `now`."""
        c = entry.case
        deadlines = {
            clock.name: QueueDeadline(
                due_at=clock.due_at,
                met_at=clock.met_at,
                state=clock.state(now, reminders.get(clock.name, ())),
            )
            for clock in entry.clocks
        }
        return cls(
            referral_id=c.referral_id, team=c.team, caseworker=c.caseworker, mentor=c.mentor,
            status=c.status, categories=list(entry.categories), acute=c.acute_danger,
            received_at=c.received_at, deadlines=deadlines,
            deadline_state=entry.state(now, reminders),
            next_due_at=None if entry.next_due == NO_DUE else entry.next_due,
            registered=c.registered_at is not None, registered_at=c.registered_at,
            safety_flag=c.safety_flag,
        )  # fmt: skip


class QueuePageOut(_Body):
    """A page of a work queue; `next_cursor` is None on the last page."""

    items: list[QueueItem]
    next_cursor: str | None
    at: datetime
