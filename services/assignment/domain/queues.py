"""Work queues (issue 19): whose referrals someone may list, each referral's clocks and their state,
and the order and pages of a queue. No client details: ids, codes, flags and times only.

Who sees what, by position and role, as in domain/access.py (a grant counts only with its role):

| Role | Position (unit file) | Sees |
|---|---|---|
| caseworker | anyone | the referrals assigned to them and those they mentor |
| intake | member of the intake group | every open referral: not closed, or not yet registered |
| manager | a team's manager | their team's referrals |
| head_of_unit | the head of unit | every referral |

Several roles add up. Asking for a queue outside what one's grants cover is refused
(`NotPermitted`): someone else's (`assignee=<staff>`) unless one sees all open referrals or
every referral, manages that person's team or mentors them; another team's (`team=`) unless one
sees them all or manages it (a caseworker may name their own team). Filters narrow what the
grants allow and are combined with AND.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from services.assignment.domain.access import Actor
from services.assignment.domain.cases import Case
from services.assignment.domain.errors import InvalidQueueFilter, NotPermitted
from services.assignment.domain.unit import Unit

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
STATES = ("ok", "approaching", "breached")
NO_DUE = datetime(9999, 12, 31, tzinfo=UTC)
"""The ordering key of a referral with no clock running: after every real due time."""
ME = "me"


@dataclass(frozen=True)
class Clock:
    """One of a referral's deadlines: when it is due, whether it still runs, when it was met."""

    name: str
    due_at: datetime
    running: bool
    met_at: datetime | None

    def state(self, now: datetime, leads: tuple[timedelta, ...]) -> str:
        """`breached` at or after the due time, `approaching` from the longest reminder lead before
        it (the first reminder), `ok` before; `met` once it stopped (`stopped` without being met,
        as a protection assessment on a case closed without one)."""
        if not self.running:
            return "met" if self.met_at is not None else "stopped"
        if now >= self.due_at:
            return "breached"
        return "approaching" if leads and now >= self.due_at - max(leads) else "ok"


def clocks(case: Case) -> tuple[Clock, ...]:
    """The case's deadlines, each running exactly when the deadline scan watches it
    (adapters/postgres_schedules.py) and migration 006's `next_due` counts it."""
    found = (
        ("protection_assessment", case.protection_due, case.protection_assessed_at,
         case.protection_assessed_at is None and case.closed_at is None),
        ("preliminary_assessment", case.preliminary_due, case.decided_at, case.decided_at is None),
        ("investigation", case.investigation_due, case.closed_at, case.closed_at is None),
        ("reporter_feedback", case.feedback_due, case.feedback_sent_at, case.feedback_sent_at is None),
        ("registration", case.registration_due, case.registered_at, case.registered_at is None),
    )  # fmt: skip
    return tuple(Clock(name, due, running, met) for name, due, met, running in found if due is not None)


@dataclass(frozen=True)
class QueueEntry:
    """A referral as a work queue lists it."""

    case: Case
    categories: tuple[str, ...]

    @property
    def clocks(self) -> tuple[Clock, ...]:
        """Its deadlines (domain `clocks`)."""
        return clocks(self.case)

    @property
    def next_due(self) -> datetime:
        """The earliest due time among the clocks still running (NO_DUE when none runs)."""
        return min((c.due_at for c in self.clocks if c.running), default=NO_DUE)

    @property
    def key(self) -> tuple[datetime, str]:
        """Most urgent first: a breached clock is due before any other, so by the earliest due
        time still running, then referral id (stable, and the keyset cursor's position)."""
        return self.next_due, self.case.referral_id

    @property
    def open(self) -> bool:
        """Still work for someone: not closed, or still to register (a case assigned before the
        registration clock existed has none, and its history stays out of the intake queue)."""
        c = self.case
        return c.status != "closed" or (c.registered_at is None and c.registration_due is not None)

    def state(self, now: datetime, reminders: Mapping[str, tuple[timedelta, ...]]) -> str:
        """The worst state among its running clocks; `ok` when none is approaching or breached."""
        states = {c.state(now, reminders.get(c.name, ())) for c in self.clocks}
        return next((s for s in ("breached", "approaching") if s in states), "ok")


@dataclass(frozen=True)
class Scope:
    """What someone's grants let them list (module docstring)."""

    everything: bool = False
    all_open: bool = False
    teams: frozenset[str] = frozenset()
    own: str | None = None  # assigned to them or mentored by them

    def sees(self, entry: QueueEntry) -> bool:
        """Whether the grants cover the referral."""
        c = entry.case
        mine = self.own is not None and self.own in (c.caseworker, c.mentor)
        return self.everything or (self.all_open and entry.open) or c.team in self.teams or mine


@dataclass(frozen=True)
class QueueFilter:
    """The filters of a queue, combined with AND; None leaves a filter out. `assignee` is a staff
    id or `me` (assigned to or mentored by the caller)."""

    assignee: str | None = None
    team: str | None = None
    status: str | None = None
    deadline: str | None = None
    registered: bool | None = None
    open: bool | None = None  # True: not closed; False: closed


@dataclass(frozen=True)
class QueueQuery:
    """One page of a queue: after `after` (a `QueueEntry.key`), at most `limit`, states at `now`."""

    scope: Scope
    mine: str | None  # `assignee=me`: assigned to or mentored by this staff id
    caseworker: str | None  # `assignee=<staff>`
    team: str | None
    status: str | None
    deadline: str | None
    registered: bool | None
    after: tuple[datetime, str] | None
    limit: int
    now: datetime
    reminders: Mapping[str, tuple[timedelta, ...]]
    open: bool | None = None

    def matches(self, entry: QueueEntry) -> bool:
        """Whether the entry is in the queue (grants and every filter), wherever the page starts."""
        c = entry.case
        return (
            self.scope.sees(entry)
            and (self.mine is None or self.mine in (c.caseworker, c.mentor))
            and (self.caseworker is None or c.caseworker == self.caseworker)
            and (self.team is None or c.team == self.team)
            and (self.status is None or c.status == self.status)
            and (self.open is None or (c.status != "closed") == self.open)
            and (self.registered is None or (c.registered_at is not None) == self.registered)
            and (self.deadline is None or entry.state(self.now, self.reminders) == self.deadline)
        )

    def with_limit(self, limit: int) -> QueueQuery:
        """The same query for a page of another size."""
        return replace(self, limit=limit)

    def page(self, entries: list[QueueEntry]) -> list[QueueEntry]:
        """The page of `entries` (any order) this query asks for: what an adapter must return."""
        found = sorted((e for e in entries if self.matches(e)), key=lambda e: e.key)
        return [e for e in found if self.after is None or e.key > self.after][: self.limit]


def scope_of(actor: Actor, unit: Unit) -> Scope:
    """The caller's grants (module docstring); NotPermitted when they have none."""
    org, me, roles = unit.organisation, actor.staff_id, actor.roles
    scope = Scope(
        everything="head_of_unit" in roles and me == org.head_of_unit,
        all_open="intake" in roles and me in org.intake_group,
        teams=frozenset(t for t, m in org.managers.items() if m == me) if "manager" in roles else frozenset(),
        own=me if "caseworker" in roles else None,
    )
    if not (scope.everything or scope.all_open or scope.teams or scope.own):
        raise NotPermitted("work queue", "caseworker, intake, manager, head_of_unit")
    return scope


def queue_query(
    actor: Actor,
    unit: Unit,
    filters: QueueFilter,
    after: tuple[datetime, str] | None,
    limit: int,
    now: datetime,
) -> QueueQuery:
    """The query for the caller's queue with these filters; NotPermitted when they ask for a queue
    their grants do not cover, InvalidQueueFilter for a staff id or team the unit lacks."""
    scope = scope_of(actor, unit)
    caseworker = None if filters.assignee in (None, ME, actor.staff_id) else filters.assignee
    if caseworker is not None:
        _check_assignee(scope, actor, unit, caseworker)
    if filters.team is not None:
        _check_team(scope, actor, unit, filters.team)
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidQueueFilter(f"`limit` must lie between 1 and {MAX_LIMIT}")
    return QueueQuery(
        scope, actor.staff_id if filters.assignee in (ME, actor.staff_id) else None, caseworker,
        filters.team, filters.status, filters.deadline, filters.registered, after, limit, now,
        unit.deadlines.reminders, filters.open,
    )  # fmt: skip


def _check_assignee(scope: Scope, actor: Actor, unit: Unit, staff: str) -> None:
    if staff not in unit.people:
        raise InvalidQueueFilter("`assignee` is not a staff id of the unit")
    worker = unit.caseworker(staff)
    mentored = worker is not None and scope.own is not None and worker.mentor == actor.staff_id
    managed = worker is not None and worker.team in scope.teams
    if not (scope.everything or scope.all_open or managed or mentored):
        raise NotPermitted("work queue", "their own; intake, the team's manager, the mentor, head_of_unit")


def _check_team(scope: Scope, actor: Actor, unit: Unit, team: str) -> None:
    if unit.team(team) is None:
        raise InvalidQueueFilter("`team` is not a team of the unit")
    own_team = scope.own is not None and unit.organisation.teams.get(actor.staff_id) == team
    if not (scope.everything or scope.all_open or team in scope.teams or own_team):
        raise NotPermitted("work queue", "intake, the team's manager, head_of_unit")
