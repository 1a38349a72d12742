"""In-memory fakes of assignment's stores, behaving as the Postgres adapters do for everything
the use cases rely on (one assignment per referral, loads as the trigger keeps them, earlier
cases newest first, each alert and handover once); `tests/contract` holds them to it."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from services.assignment.domain.batch import PRIOR_LIMIT, FactsQuery, NewAssignment, ReferralFacts
from services.assignment.domain.calendar_feeds import CalendarFeed
from services.assignment.domain.cases import Case, Extension
from services.assignment.domain.consultations import Consultation
from services.assignment.domain.day_to_day import ended_early
from services.assignment.domain.deadlines import Alert, OpenDeadline
from services.assignment.domain.incidents import Incident
from services.assignment.domain.model import Load, Override, PriorCase
from services.assignment.domain.overload import OverloadFlag, capacity_factors, paused
from services.assignment.domain.registration import Registration
from services.assignment.domain.rotation import Handover
from services.assignment.domain.safety import SafetyFlagChange
from services.assignment.domain.workload import Absence
from shared.events import OutboxRow
from shared.memory import Tables


@dataclass(frozen=True)
class StoredAssignment:
    """A row of `assignments`: the case and what only assigning reads."""

    case: Case
    child_key: str
    assigned_day: date | None
    assigned_at: datetime
    seq: int
    categories: tuple[str, ...] = ()


@dataclass
class AssignmentTables(Tables):
    """Assignment's committed state in memory."""

    assignments: dict[str, StoredAssignment] = field(default_factory=dict)
    overrides: list[tuple[int, Override, str]] = field(default_factory=list)  # id, override, by
    absences: list[tuple[int, Absence, str]] = field(default_factory=list)
    extensions: list[Extension] = field(default_factory=list)
    alerts: set[tuple[str, str, str, datetime]] = field(default_factory=set)
    handovers: dict[datetime, Handover] = field(default_factory=dict)
    team_locks: set[str] = field(default_factory=set)
    registrations: dict[str, Registration] = field(default_factory=dict)
    calendar_feeds: dict[int, tuple[str, CalendarFeed]] = field(default_factory=dict)  # id: hash, feed
    incidents: dict[uuid.UUID, Incident] = field(default_factory=dict)
    safety_flag_changes: list[SafetyFlagChange] = field(default_factory=list)
    consultations: dict[str, Consultation] = field(default_factory=dict)
    overload_flags: dict[str, OverloadFlag] = field(default_factory=dict)
    last_id: int = 0

    def next_id(self) -> int:
        """The next value of the one sequence the fakes draw ids and `seq` from."""
        self.last_id += 1
        return self.last_id


class InMemoryAssignmentStore:
    """Assignments and their loads (computed from the cases, as the trigger keeps them)."""

    def __init__(self, tables: AssignmentTables, now: datetime, locks_taken: list[frozenset[str]]) -> None:
        self._tables, self._now, self._locks_taken = tables, now, locks_taken

    async def read_before_lock(self, queries: Sequence[FactsQuery]) -> list[ReferralFacts]:
        """What each referral's decision reads before any lock."""
        return [self._facts(q) for q in queries]

    def _facts(self, q: FactsQuery) -> ReferralFacts:
        rows = sorted(self._tables.assignments.values(), key=lambda a: a.seq, reverse=True)
        prior = [
            PriorCase(a.case.caseworker, a.case.team, a.child_key, a.case.family_key, a.case.closed_at)
            for a in rows
            if a.child_key == q.child_key or a.case.family_key == q.family_key
        ]
        recent = [
            a for _, a, _ in self._tables.absences if q.returning_since <= a.ends_on and a.starts_on <= q.day
        ]
        absent = {a.staff_id for a in recent if a.starts_on <= q.day <= a.ends_on}
        returning = {a.staff_id for a in recent if a.ends_on < q.day} - absent
        return ReferralFacts(
            q.referral_id in self._tables.assignments,
            tuple(o for _, o, _ in self._tables.overrides if o.starts_at <= q.instant < o.ends_at),
            tuple(prior[:PRIOR_LIMIT]),
            frozenset(absent),
            frozenset(returning),
            self._now,
            paused(self._tables.overload_flags.values()),
            tuple(sorted(capacity_factors(self._tables.overload_flags.values(), q.instant).items())),
        )

    async def lock_teams(self, teams: Collection[str]) -> None:
        """Records the teams (a fake has nobody to wait for)."""
        self._tables.team_locks |= set(teams)
        self._locks_taken.append(frozenset(teams))

    async def team_loads(self, team: str, day: date, caseworkers: Sequence[str]) -> dict[str, Load]:
        """Each named caseworker's load in the team, from the cases."""
        return {cw: self._load(team, cw, day) for cw in caseworkers}

    def _load(self, team: str, caseworker: str, day: date | None) -> Load:
        mine = [
            a
            for a in self._tables.assignments.values()
            if (a.case.team, a.case.caseworker) == (team, caseworker)
        ]
        open_cases = [a.case for a in mine if a.case.status != "closed"]
        return Load(
            sum(c.weight for c in open_cases),
            len(open_cases),
            max((a.assigned_at for a in mine), default=None),
            sum(1 for a in mine if day is not None and a.assigned_day == day),
        )

    async def add(self, assignments: Sequence[tuple[NewAssignment, OutboxRow]]) -> None:
        """Each assignment with its event, unless its referral has one already."""
        for a, event in assignments:
            referral_id = a.received.referral_id
            if referral_id in self._tables.assignments:
                continue
            case = new_case(a)
            known = self._tables.registrations.get(referral_id)  # handled before the assignment
            if known is not None:
                case = dataclasses.replace(case, registered_at=known.registered_at, registered_by=known.by)
            self._tables.assignments[referral_id] = StoredAssignment(
                case, a.received.referral.child_key, a.day, self._now, self._tables.next_id(),
                a.received.referral.categories,
            )  # fmt: skip
            self._tables.outbox.append(event)

    async def open_loads(self) -> dict[str, Load]:
        """Open cases and weighted load by caseworker, summed over teams."""
        loads: dict[str, Load] = {}
        for a in self._tables.assignments.values():
            if a.case.status != "closed":
                old = loads.get(a.case.caseworker, Load())
                loads[a.case.caseworker] = Load(old.weighted + a.case.weight, old.open_cases + 1)
        return loads


def new_case(a: NewAssignment) -> Case:
    """The case a fresh assignment opens, as its row reads back."""
    r, d = a.received, a.decision
    return Case(
        r.referral_id, r.referral.family_key, d.team, d.staff_id, d.mentor, d.reason, d.explanation,
        a.duty.source, a.duty.period_start, a.duty.period_end, r.received_at, r.referral.acute_danger,
        r.protected_identity, a.weight, r.feedback_requested, a.deadlines.protection_assessment_due,
        a.deadlines.preliminary_assessment_due, registration_due=a.deadlines.registration_due,
    )  # fmt: skip


class InMemoryCaseStore:
    """Cases over the fake `assignments`."""

    def __init__(self, tables: AssignmentTables) -> None:
        self._tables = tables

    async def get(self, referral_id: str) -> Case | None:
        """The case, or None."""
        stored = self._tables.assignments.get(referral_id)
        return None if stored is None else stored.case

    async def get_for_update(self, referral_id: str) -> Case | None:
        """The case, or None (a fake has no other writers to lock out)."""
        return await self.get(referral_id)

    async def save(self, before: Case, after: Case) -> None:
        """The case as it is after the change."""
        stored = self._tables.assignments[before.referral_id]
        self._tables.assignments[before.referral_id] = dataclasses.replace(stored, case=after)

    async def add_extension(self, extension: Extension) -> None:
        """Keep the extension."""
        self._tables.extensions.append(extension)

    async def register(self, registrations: Sequence[Registration]) -> None:
        """Keep each first registration; mark its case if it is assigned."""
        for r in registrations:
            if r.referral_id in self._tables.registrations:
                continue
            self._tables.registrations[r.referral_id] = r
            stored = self._tables.assignments.get(r.referral_id)
            if stored is not None and stored.case.registered_at is None:
                case = dataclasses.replace(stored.case, registered_at=r.registered_at, registered_by=r.by)
                self._tables.assignments[r.referral_id] = dataclasses.replace(stored, case=case)


class InMemoryOverrideStore:
    """Overrides of the rotation."""

    def __init__(self, tables: AssignmentTables) -> None:
        self._tables = tables

    async def between(self, start: datetime, end: datetime) -> list[Override]:
        """Overrides overlapping [start, end], oldest first."""
        return [o for _, o, _ in self._tables.overrides if o.starts_at <= end and o.ends_at > start]

    async def add(self, override: Override, created_by: str) -> int:
        """Store an override; its id."""
        row_id = self._tables.next_id()
        self._tables.overrides.append((row_id, override, created_by))
        return row_id


class InMemoryAbsenceStore:
    """Absences."""

    def __init__(self, tables: AssignmentTables) -> None:
        self._tables = tables

    async def add(self, absence: Absence, created_by: str) -> int:
        """Store an absence; its id."""
        row_id = self._tables.next_id()
        self._tables.absences.append((row_id, absence, created_by))
        return row_id

    async def ending_on_or_after(self, day: date) -> list[Absence]:
        """Absences not over before `day`, by first day."""
        return sorted((a for _, a, _ in self._tables.absences if a.ends_on >= day), key=lambda a: a.starts_on)

    async def end_early(self, staff_id: str, back_on: date) -> int:
        """Cut the person's absences running on `back_on`; how many."""
        cut = 0
        for i, (row_id, absence, by) in enumerate(self._tables.absences):
            shorter = ended_early(absence, back_on) if absence.staff_id == staff_id else None
            if shorter is not None:
                self._tables.absences[i] = (row_id, shorter, by)
                cut += 1
        return cut


class InMemoryScheduledEventStore:
    """Deadline alerts and handovers, each recorded once."""

    def __init__(self, tables: AssignmentTables) -> None:
        self._tables = tables

    async def open_deadlines(self, due_by: datetime) -> list[OpenDeadline]:
        """Every unmet clock due by `due_by`, with the alerts it had."""
        found = []
        for a, name, due in self._clocks():
            if due is not None and due <= due_by:
                done = frozenset(
                    k for rid, d, k, at in self._tables.alerts if (rid, d, at) == (a.referral_id, name, due)
                )
                caseworker = None if name == "registration" else a.caseworker  # the intake group's
                found.append(OpenDeadline(a.referral_id, a.family_key, a.team, caseworker, name, due, done))
        return found

    def _clocks(self) -> Iterator[tuple[Case, str, datetime | None]]:
        cases = [s.case for s in sorted(self._tables.assignments.values(), key=lambda s: s.seq)]
        yield from ((c, "protection_assessment", c.protection_due) for c in cases
                    if c.protection_assessed_at is None and c.closed_at is None)  # fmt: skip
        yield from ((c, "preliminary_assessment", c.preliminary_due) for c in cases if c.decided_at is None)
        yield from ((c, "investigation", c.investigation_due) for c in cases if c.closed_at is None)
        yield from ((c, "reporter_feedback", c.feedback_due) for c in cases if c.feedback_sent_at is None)
        yield from ((c, "registration", c.registration_due) for c in cases if c.registered_at is None)

    async def add_alert(self, deadline: OpenDeadline, alert: Alert) -> bool:
        """Record the alert; False when it was already."""
        key = (deadline.referral_id, deadline.name, alert.key, deadline.due_at)
        if key in self._tables.alerts:
            return False
        self._tables.alerts.add(key)
        return True

    async def add_handover(self, handover: Handover) -> bool:
        """Record the handover; False when it was already."""
        at = handover.at.astimezone(UTC)
        if at in self._tables.handovers:
            return False
        self._tables.handovers[at] = handover
        return True
