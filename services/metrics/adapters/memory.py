"""In-memory fakes of the read models and the figures reader, for use-case tests (no Postgres).

The rows are the Postgres tables' rows (the same columns in the same order), changed by the
same rules as the upserts (tests/contract/test_metrics_ports.py compares them row for row).
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

from services.metrics.domain.figures import AssignmentTimes, Figures, OnDuty, ResponseTimes, Workplace
from services.metrics.domain.labels import ASSIGNMENT_BUCKETS, RESPONSE_BUCKETS
from services.metrics.domain.projection import (
    AssignmentCounted,
    BreachCounted,
    CaseOwned,
    CaseStatusSet,
    Change,
    ConsultationSeen,
    DeadlineRaised,
    FirstAssignmentRecorded,
    FlagSeen,
    HandoverRecorded,
    IncidentCounted,
    OutcomeCounted,
    ReceivedCounted,
    later_state,
)
from shared.memory import InMemoryUnitOfWork, Tables

K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True)
class CaseRow:
    """A row of `cases`: team, caseworker and weight stay None until the assignment is read."""

    referral_id: str
    team: str | None
    caseworker: str | None
    status: str
    weight: float | None
    status_at: datetime


@dataclass
class MetricsTables(Tables):
    """The read models, keyed by their primary keys (and the inbox and outbox)."""

    received: dict[str, ReceivedCounted] = field(default_factory=dict)
    assigned: dict[str, FirstAssignmentRecorded] = field(default_factory=dict)
    assignment_events: dict[uuid.UUID, AssignmentCounted] = field(default_factory=dict)
    cases: dict[str, CaseRow] = field(default_factory=dict)
    deadline_states: dict[tuple[str, str], DeadlineRaised] = field(default_factory=dict)
    breaches: dict[tuple[str, str], BreachCounted] = field(default_factory=dict)
    handovers: dict[datetime, HandoverRecorded] = field(default_factory=dict)
    notification_outcomes: dict[uuid.UUID, OutcomeCounted] = field(default_factory=dict)
    overload_flags: dict[uuid.UUID, FlagSeen] = field(default_factory=dict)
    consultations: dict[uuid.UUID, ConsultationSeen] = field(default_factory=dict)
    incidents: dict[uuid.UUID, IncidentCounted] = field(default_factory=dict)


class InMemoryReadModels:
    """The read models over the fake tables, one change at a time."""

    def __init__(self, tables: MetricsTables) -> None:
        self._tables = tables

    async def apply(self, changes: Sequence[Change]) -> None:
        """Each change in order, as its upsert does it."""
        for change in changes:
            self._apply(change)

    def _apply(self, change: Change) -> None:
        t = self._tables
        match change:
            case ReceivedCounted():
                t.received.setdefault(change.referral_id, change)
            case FirstAssignmentRecorded():
                t.assigned.setdefault(change.referral_id, change)
            case AssignmentCounted():
                t.assignment_events.setdefault(change.event_id, change)
            case CaseOwned():
                self._own(change)
            case CaseStatusSet():
                self._set_status(change)
            case DeadlineRaised():
                self._raise(change)
            case BreachCounted():
                t.breaches.setdefault((change.referral_id, change.deadline), change)
            case HandoverRecorded():
                t.handovers.setdefault(change.at, change)
            case OutcomeCounted():
                t.notification_outcomes.setdefault(change.event_id, change)
            case FlagSeen():
                self._flag(change)
            case ConsultationSeen():
                self._consultation(change)
            case IncidentCounted():
                t.incidents.setdefault(change.incident_id, change)

    def _flag(self, change: FlagSeen) -> None:
        row = self._tables.overload_flags.get(change.flag_id)
        if row is None:
            self._tables.overload_flags[change.flag_id] = change
            return
        seconds = change.response_seconds if row.response_seconds is None else row.response_seconds
        escalated = row.escalated or change.escalated
        self._tables.overload_flags[change.flag_id] = dataclasses.replace(
            row, escalated=escalated, response_seconds=seconds
        )

    def _consultation(self, change: ConsultationSeen) -> None:
        row = self._tables.consultations.get(change.consultation_id)
        self._tables.consultations[change.consultation_id] = (
            change
            if row is None
            else dataclasses.replace(
                row, booked=row.booked or change.booked, cancelled=row.cancelled or change.cancelled
            )
        )

    def _own(self, change: CaseOwned) -> None:
        row = self._tables.cases.get(change.referral_id)
        if row is None:
            row = CaseRow(change.referral_id, None, None, "assigned", None, change.received_at)
        self._tables.cases[change.referral_id] = dataclasses.replace(
            row, team=change.team, caseworker=change.caseworker, weight=change.weight
        )

    def _set_status(self, change: CaseStatusSet) -> None:
        row = self._tables.cases.get(change.referral_id)
        if row is None:
            self._tables.cases[change.referral_id] = CaseRow(
                change.referral_id, None, None, change.status, None, change.at
            )
        elif row.status_at <= change.at:
            self._tables.cases[change.referral_id] = dataclasses.replace(
                row, status=change.status, status_at=change.at
            )

    def _raise(self, change: DeadlineRaised) -> None:
        key = (change.referral_id, change.deadline)
        row = self._tables.deadline_states.get(key)
        self._tables.deadline_states[key] = change if row is None else dataclasses.replace(
            row,
            due_at=change.due_at if change.due_at is not None else row.due_at,
            team=change.team if change.team is not None else row.team,
            state=later_state(row.state, change.state),
        )  # fmt: skip


class InMemoryMetricsUnitOfWork(InMemoryUnitOfWork[MetricsTables]):
    """The consumer's unit of work over fake tables."""

    @property
    def read_models(self) -> InMemoryReadModels:
        """The read models, in this unit of work."""
        return InMemoryReadModels(self.tables)


class InMemoryFiguresReader:
    """The figures of the committed fake tables, as the Postgres queries give them."""

    def __init__(self, tables: MetricsTables) -> None:
        self._tables = tables

    async def figures(self) -> Figures:
        """Every figure of the committed state."""
        t = self._tables
        open_cases = [c for c in t.cases.values() if c.status != "closed" and c.team is not None]
        loads: dict[tuple[str, str], float] = {}
        for case in open_cases:
            key = (case.team or "", case.caseworker or "")
            loads[key] = loads.get(key, 0.0) + (case.weight or 0.0)
        latest = max(t.handovers.values(), key=lambda h: h.at, default=None)
        return Figures(
            received=_count((r.kind, r.channel, r.reporter_group, r.acute) for r in t.received.values()),
            assignments=_count((a.team, a.reason) for a in t.assignment_events.values()),
            breaches=_count((b.deadline, b.team) for b in t.breaches.values()),
            notifications=_count((o.channel, o.outcome) for o in t.notification_outcomes.values()),
            open_cases=_count((c.team or "", c.status) for c in open_cases),
            assignment_times=_assignment_times(list(t.assigned.values())),
            open_deadlines=_count(
                (d.deadline, d.state) for d in t.deadline_states.values() if d.state != "met"
            ),
            loads=loads,
            on_duty=None if latest is None else OnDuty(latest.to_team, latest.next_at),
            workplace=_workplace(t),
        )


def _count(keys: Iterable[K]) -> dict[K, int]:
    counts: dict[K, int] = {}
    for key in keys:
        counts[key] = counts.get(key, 0) + 1
    return counts


def _assignment_times(assigned: list[FirstAssignmentRecorded]) -> AssignmentTimes:
    seconds = [a.assignment_seconds for a in assigned]
    within = tuple(sum(1 for s in seconds if s <= bucket) for bucket in ASSIGNMENT_BUCKETS)
    return AssignmentTimes(len(seconds), float(sum(seconds)), within)


def _workplace(t: MetricsTables) -> Workplace:
    flags, consultations = list(t.overload_flags.values()), list(t.consultations.values())
    answered = [f.response_seconds for f in flags if f.response_seconds is not None]
    within = tuple(sum(1 for s in answered if s <= bucket) for bucket in RESPONSE_BUCKETS)
    return Workplace(
        flags_raised=_count(f.team for f in flags),
        flags_open=_count(f.team for f in flags if f.response_seconds is None),
        flags_escalated=_count(f.team for f in flags if f.escalated),
        response_times=ResponseTimes(len(answered), float(sum(answered)), within),
        incidents=_count((i.type, i.team) for i in t.incidents.values()),
        consultations_booked=_count(c.team for c in consultations if c.booked),
        consultations_cancelled=_count(c.team for c in consultations if c.cancelled),
    )
