"""What assignment's use cases need from storage: its stores and the unit of work holding them.

Protocols only. `adapters/postgres*.py` implements them on one transaction, `adapters/memory*.py`
in memory for the use-case tests; `tests/contract/test_assignment_ports.py` holds both to the
same contract.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import date, datetime
from typing import Protocol

from services.assignment.domain.batch import FactsQuery, NewAssignment, ReferralFacts
from services.assignment.domain.calendar_feeds import CalendarFeed
from services.assignment.domain.cases import Case, Extension
from services.assignment.domain.consultations import Consultation
from services.assignment.domain.deadlines import Alert, OpenDeadline
from services.assignment.domain.incidents import Incident
from services.assignment.domain.model import Load, Override
from services.assignment.domain.outcome import OutcomeData
from services.assignment.domain.overload import OverloadFlag
from services.assignment.domain.queues import QueueEntry, QueueQuery
from services.assignment.domain.registration import Registration
from services.assignment.domain.rotation import Handover
from services.assignment.domain.safety import SafetyFlagChange
from services.assignment.domain.workload import Absence
from shared.events import OutboxRow
from shared.ports import ConsumingUnitOfWork


class AssignmentStore(Protocol):
    """Assignments and the loads they add up to (the trigger of migration 003 keeps the loads)."""

    async def read_before_lock(self, queries: Sequence[FactsQuery]) -> list[ReferralFacts]:
        """What each referral's decision reads before any lock, for all of them in one go."""
        ...

    async def lock_teams(self, teams: Collection[str]) -> None:
        """Hold the teams' locks to the end of the unit of work, all at once, in one order:
        every writer of assignments takes them before it moves a load."""
        ...

    async def team_loads(self, team: str, day: date, caseworkers: Sequence[str]) -> dict[str, Load]:
        """Each named caseworker's load in the team on `day` (the empty `Load` without cases)."""
        ...

    async def add(self, assignments: Sequence[tuple[NewAssignment, OutboxRow]]) -> None:
        """Store each assignment with its event; one whose referral has an assignment already is
        skipped, event and all."""
        ...

    async def open_loads(self) -> dict[str, Load]:
        """Every caseworker's open cases and weighted load over all teams, as decisions read them
        (`last_assigned_at` and `assigned_today` are not filled in)."""
        ...


class CaseStore(Protocol):
    """Cases: the assignments as the staff API and the case lifecycle see them."""

    async def get(self, referral_id: str) -> Case | None:
        """The case, or None."""
        ...

    async def get_for_update(self, referral_id: str) -> Case | None:
        """The case, locked against other writers to the end of the unit of work, or None."""
        ...

    async def save(self, before: Case, after: Case) -> None:
        """Store what changed from `before` to `after` (and nothing else)."""
        ...

    async def add_extension(self, extension: Extension) -> None:
        """Keep a decision to extend an investigation."""
        ...

    async def register(self, registrations: Sequence[Registration]) -> None:
        """Keep each referral's first registration, assigned yet or not, and mark its case
        registered (now, or when it is assigned); a later registration changes nothing."""
        ...


class WorkQueues(Protocol):
    """The staff's work queues: a read of assignments, ordered and paged by the domain's rules."""

    async def page(self, query: QueueQuery) -> list[QueueEntry]:
        """Exactly `query.page(every stored case)`: matching entries by key after `query.after`,
        at most `query.limit`, in one query."""
        ...


class OverrideStore(Protocol):
    """Managers' overrides of the rotation."""

    async def between(self, start: datetime, end: datetime) -> list[Override]:
        """Overrides overlapping [start, end], oldest first (later ones win)."""
        ...

    async def add(self, override: Override, created_by: str) -> int:
        """Store an override; its id."""
        ...


class AbsenceStore(Protocol):
    """Staff absences."""

    async def add(self, absence: Absence, created_by: str) -> int:
        """Store an absence; its id."""
        ...

    async def ending_on_or_after(self, day: date) -> list[Absence]:
        """Absences not over before `day`, by first day."""
        ...

    async def end_early(self, staff_id: str, back_on: date) -> int:
        """Cut each of the person's absences that runs on `back_on` and began before it to end
        the day before (domain `ended_early`); how many were cut."""
        ...


class ScheduledEventStore(Protocol):
    """Deadline alerts and rotation handovers, each emitted once however many scans run."""

    async def open_deadlines(self, due_by: datetime) -> list[OpenDeadline]:
        """Every legal clock still running and due by `due_by`, with the alerts it had."""
        ...

    async def add_alert(self, deadline: OpenDeadline, alert: Alert) -> bool:
        """Record the alert as emitted; False when it was already (another scan's)."""
        ...

    async def add_handover(self, handover: Handover) -> bool:
        """Record the handover as announced; False when it was already."""
        ...


class CalendarFeedStore(Protocol):
    """Calendar subscription links: their token hashes, owners, expiry, use and revocation."""

    async def add(
        self, staff_id: str, token_hash: str, created_at: datetime, expires_at: datetime
    ) -> CalendarFeed:
        """Store a new feed; it, with its id."""
        ...

    async def by_hash(self, token_hash: str) -> CalendarFeed | None:
        """The feed whose token has this hash (revoked and expired ones too), or None."""
        ...

    async def get(self, feed_id: int) -> CalendarFeed | None:
        """The feed with this id, or None."""
        ...

    async def of_staff(self, staff_id: str) -> list[CalendarFeed]:
        """The person's feeds, revoked and expired ones too, oldest first."""
        ...

    async def revoke(self, feed_id: int, at: datetime) -> None:
        """Mark the feed revoked at `at`, unless it was already (the first revocation stays)."""
        ...

    async def mark_used(self, feed_id: int, at: datetime) -> None:
        """Record that the feed was read at `at`."""
        ...


class IncidentStore(Protocol):
    """Threats and violence against staff: codes and ids, no text (issue 22)."""

    async def add(self, incident: Incident) -> None:
        """Store a new incident."""
        ...

    async def between(self, first: date, last: date) -> list[Incident]:
        """Incidents that occurred from `first` to `last` (both included), by day, then by when
        they were recorded, then by id."""
        ...


class SafetyFlagStore(Protocol):
    """Referrals' safety flags: the current one on the case, and every change."""

    async def change(self, change: SafetyFlagChange) -> bool:
        """Set the case's flag to `change.safety_flag` and keep the change; False (nothing
        stored) when the referral has no assignment."""
        ...

    async def history(self, referral_id: str) -> list[SafetyFlagChange]:
        """Every change of the referral's flag, oldest first."""
        ...


class ConsultationStore(Protocol):
    """Consultations booked in the fixed meeting times: one live consultation per team and start."""

    async def add(self, consultation: Consultation) -> bool:
        """Store the consultation; False (nothing stored, the transaction still usable) when the
        team has a live one at that start already, committed by another request."""
        ...

    async def get(self, consultation_id: str) -> Consultation | None:
        """The consultation, cancelled or not, or None."""
        ...

    async def get_for_update(self, consultation_id: str) -> Consultation | None:
        """The consultation, locked against other writers to the end of the unit of work, or None."""
        ...

    async def save_cancellation(self, consultation: Consultation) -> None:
        """Store the consultation's cancellation (`cancelled_at`, `cancelled_by`, `sequence`)."""
        ...

    async def live_starts(self, team: str, start: datetime, end: datetime) -> set[datetime]:
        """The starts in [start, end) of the team's consultations not cancelled."""
        ...

    async def between(self, start: datetime, end: datetime) -> list[Consultation]:
        """Every consultation starting in [start, end), cancelled ones too, by start then team."""
        ...

    async def of_requester(self, requester: str) -> list[Consultation]:
        """The consultations `requester` booked, cancelled ones too, by start."""
        ...

    async def reminders_due(self, now: datetime, until: datetime) -> list[Consultation]:
        """Live consultations never reminded of that start in (now, until], by start."""
        ...

    async def mark_reminded(self, consultation_id: str, at: datetime) -> bool:
        """Record the reminder; False when it was recorded already (another scan's)."""


class OverloadFlagStore(Protocol):
    """Overload flags and their answers (issue 22); at most one open flag per person."""

    async def add(self, flag: OverloadFlag) -> bool:
        """Store a new open flag; False (nothing stored) when the person has an open one."""
        ...

    async def get(self, flag_id: str) -> OverloadFlag | None:
        """The flag, or None."""
        ...

    async def get_for_update(self, flag_id: str) -> OverloadFlag | None:
        """The flag, locked against other writers to the end of the unit of work, or None."""
        ...

    async def open_of(self, staff_id: str) -> OverloadFlag | None:
        """The person's open flag, if any."""
        ...

    async def answer(self, flag: OverloadFlag) -> bool:
        """Store the answer of an open flag; False when it was answered already."""
        ...

    async def listed(
        self, team: str | None = None, staff_id: str | None = None, open_only: bool | None = None
    ) -> list[OverloadFlag]:
        """Flags matching every filter given (`open_only` False: the answered ones), newest
        raised first."""
        ...

    async def in_effect(self, at: datetime) -> list[OverloadFlag]:
        """Open flags and reliefs still running at `at`."""
        ...

    async def due_for_escalation(self, now: datetime) -> list[OverloadFlag]:
        """Open flags whose escalation time has come and that were not escalated yet."""
        ...

    async def mark_escalated(self, flag_id: str, at: datetime) -> bool:
        """Mark an open flag escalated at `at`; False when it was already, or is answered."""


class OutcomeRecords(Protocol):
    """What the outcome report reads (domain/outcome.py): never a name, a note or client data."""

    async def read(self, start: datetime, end: datetime) -> OutcomeData:
        """Cases received before `end` and not closed before `start`; absences overlapping the
        local days of [start, end); overload flags raised and incidents that occurred in it (none
        while their tables, issue 22's migrations 008 and 010, do not exist)."""
        ...


class AssignmentUnitOfWork(ConsumingUnitOfWork, Protocol):
    """One transaction over assignment's stores, its inbox and its outbox."""

    @property
    def assignments(self) -> AssignmentStore: ...

    @property
    def cases(self) -> CaseStore: ...

    @property
    def overrides(self) -> OverrideStore: ...

    @property
    def absences(self) -> AbsenceStore: ...

    @property
    def scheduled(self) -> ScheduledEventStore: ...

    @property
    def queues(self) -> WorkQueues: ...

    @property
    def calendar_feeds(self) -> CalendarFeedStore: ...

    @property
    def incidents(self) -> IncidentStore: ...

    @property
    def safety_flags(self) -> SafetyFlagStore: ...

    @property
    def consultations(self) -> ConsultationStore: ...

    @property
    def overload_flags(self) -> OverloadFlagStore: ...

    @property
    def outcome(self) -> OutcomeRecords: ...
