"""Domain types of assignment: frozen dataclasses, standard library only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time


@dataclass(frozen=True)
class RotationPlan:
    """Teams on duty in turn, `period_days` each, handing over at `handover` local time."""

    order: tuple[str, ...]
    period_days: int
    anchor_date: date  # local date of the first handover; order[0] starts then
    handover: time


@dataclass(frozen=True)
class OnDuty:
    """The team on duty for an instant and the period it belongs to (local, aware datetimes)."""

    team: str
    period_start: datetime
    period_end: datetime
    source: str  # "rotation" or "override"


@dataclass(frozen=True)
class OfficeCalendar:
    """Office hours on office days; `holidays` are the dates treated as public holidays."""

    start: time
    end: time
    protection_cutoff: time
    holidays: frozenset[date]

    def is_office_day(self, day: date) -> bool:
        """Monday to Friday and not a public holiday or a day treated as one."""
        return day.weekday() < 5 and day not in self.holidays


@dataclass(frozen=True)
class Candidate:
    """A caseworker who could take the referral, with their current load."""

    staff_id: str
    open_cases: int
    last_assigned_at: datetime | None
    mentor: str | None = None


@dataclass(frozen=True)
class Choice:
    """The caseworker chosen and a short explanation a manager can read."""

    staff_id: str
    mentor: str | None
    explanation: str


@dataclass(frozen=True)
class Deadlines:
    """Legal due times of a referral (UTC-aware datetimes)."""

    protection_assessment_due: datetime
    preliminary_assessment_due: datetime
    preliminary_due_on_non_office_day: bool
