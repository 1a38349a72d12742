"""The unit as assignment sees it: teams, rotation, calendar, caseworkers and rules.

Built once at start-up from the unit file (`services/assignment/unit_from_config.py`); the
service's use cases and the offline simulation take the same `Unit`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo

from services.assignment.domain.access import Organisation
from services.assignment.domain.meetings import MeetingRules
from services.assignment.domain.model import (
    CapacityRules,
    Caseworker,
    DeadlineRules,
    OfficeCalendar,
    Referral,
    RotationPlan,
    WeightRules,
)
from services.assignment.domain.outcome import Roster
from services.assignment.domain.rotation import assignment_instant


@dataclass(frozen=True)
class Team:
    """A team: its id, its display name and the manager who takes what nobody in it can."""

    id: str
    name: str
    manager: str


@dataclass(frozen=True)
class ConflictOfInterest:
    """A staff member who must never handle referrals with this child or family key."""

    staff_id: str
    key: str


@dataclass(frozen=True)
class Unit:
    """Everything assignment decides with that comes from the unit file, not the database."""

    name: str
    teams: tuple[Team, ...]
    plan: RotationPlan
    calendar: OfficeCalendar
    tz: tzinfo
    policy: str  # "next_office_hours" or "received_at": which instant's team on duty takes a referral
    staff: tuple[Caseworker, ...] = ()
    people: frozenset[str] = frozenset()  # every staff id in the unit file, caseworkers or not
    rules: CapacityRules = field(default_factory=CapacityRules)
    weights: WeightRules = field(default_factory=WeightRules)
    deadlines: DeadlineRules = field(default_factory=DeadlineRules)
    conflicts: tuple[ConflictOfInterest, ...] = ()
    head_of_unit: str = ""
    intake_group: frozenset[str] = frozenset()
    meetings: MeetingRules = field(default_factory=MeetingRules)  # fixed meeting times (issue 22)
    overload_escalate_hours: float = 4.0  # office hours an overload flag may stay unanswered
    roster: Roster = field(default_factory=Roster)  # the outcome report's view of the unit's people

    @property
    def organisation(self) -> Organisation:
        """Who holds the positions that give relations to a referral (domain/access.py)."""
        return Organisation(
            managers={t.id: t.manager for t in self.teams},
            head_of_unit=self.head_of_unit,
            intake_group=self.intake_group,
            teams={w.staff_id: w.team for w in self.staff},
        )

    def team(self, team_id: str) -> Team | None:
        """The team with this id, if the unit has it."""
        return next((t for t in self.teams if t.id == team_id), None)

    def caseworker(self, staff_id: str) -> Caseworker | None:
        """The caseworker with this staff id, if there is one."""
        return next((w for w in self.staff if w.staff_id == staff_id), None)

    def members(self, team_id: str) -> list[str]:
        """The staff ids of the team's caseworkers, in the unit file's order."""
        return [w.staff_id for w in self.staff if w.team == team_id]

    def excluded_for(self, referral: Referral) -> frozenset[str]:
        """Staff with a conflict of interest on the referral's child or family."""
        keys = (referral.child_key, referral.family_key)
        return frozenset(c.staff_id for c in self.conflicts if c.key in keys)

    def assignment_moment(self, received_at: datetime) -> tuple[datetime, date]:
        """The instant whose team on duty takes a referral received at `received_at` (the
        policy: at once, or at the next office hours), and its local day (whose loads count)."""
        instant = assignment_instant(self.policy, received_at, self.calendar, self.tz)
        return instant, instant.astimezone(self.tz).date()

    def local_day(self, at: datetime) -> date:
        """The unit's calendar day at the instant `at`."""
        return at.astimezone(self.tz).date()
