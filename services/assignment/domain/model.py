"""Domain types of assignment: frozen dataclasses, standard library only.

Weights, loads and capacities are whole hundredths of a case (`Hundredths`) everywhere: in these
types, in the database (the trigger that keeps `caseworker_loads`) and in the simulation. Sums of
integers are exact, so a load carried forward in memory equals a fresh read, and the service and
the simulation add the same cases to the same figure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

Hundredths = int
"""A weight, load or capacity in hundredths of a case (a case of weight 1.25 is 125)."""
HUNDREDTHS_PER_CASE = 100


def as_cases(value: Hundredths) -> float:
    """Hundredths of a case as cases, for explanations, the staff API and the wire."""
    return value / HUNDREDTHS_PER_CASE


@dataclass(frozen=True)
class RotationPlan:
    """Teams on duty in turn, `period_days` each, handing over at `handover` local time."""

    order: tuple[str, ...]
    period_days: int
    anchor_date: date  # local date of the first handover; order[0] starts then
    handover: time


@dataclass(frozen=True)
class Override:
    """A manager's decision that `team` is on duty in [starts_at, ends_at), whatever the rotation."""

    team: str
    starts_at: datetime
    ends_at: datetime
    reason: str = ""

    def covers(self, at: datetime) -> bool:
        """Whether the instant lies inside the override's window."""
        return self.starts_at <= at < self.ends_at


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
class WeightRules:
    """A case weighs its heaviest category, plus extras for acute danger and interpreter need."""

    default: Hundredths = 100
    categories: Mapping[str, Hundredths] = field(default_factory=dict)
    acute_danger: Hundredths = 50
    interpreter: Hundredths = 25

    def weight(self, categories: tuple[str, ...], acute: bool, interpreter: bool) -> Hundredths:
        """The weight of one case in a caseload."""
        base = max((self.categories.get(c, self.default) for c in categories), default=self.default)
        return base + (self.acute_danger if acute else 0) + (self.interpreter if interpreter else 0)


@dataclass(frozen=True)
class CapacityRules:
    """Caps, mentoring and new-hire rules (DOMAIN.md §1; all configurable)."""

    max_load: float = 15.0  # weighted cases at full time (capacity() turns it into hundredths)
    mentoring_months: int = 24
    mentoring_share: float = 0.5
    ramp: tuple[tuple[int, float], ...] = ((3, 0.4), (6, 0.6), (12, 0.8))  # (until month, factor)
    restricted_months: int = 6
    restricted_categories: frozenset[str] = frozenset({"sexual_abuse", "honour_related"})
    restrict_acute: bool = True
    return_days: int = 5
    return_max_per_day: int = 2
    continuity_days: int = 180


@dataclass(frozen=True)
class Caseworker:
    """A caseworker as selection sees them (from the unit config)."""

    staff_id: str
    team: str
    employment_rate: float = 1.0
    hire_date: date | None = None
    mentor: str | None = None
    left_on: date | None = None  # the last day in the unit; no new referrals after it


@dataclass(frozen=True)
class Referral:
    """What selection knows of a referral: opaque keys and codes, nothing personal."""

    referral_id: str
    child_key: str
    family_key: str
    categories: tuple[str, ...]
    acute_danger: bool = False
    interpreter_needed: bool = False


@dataclass(frozen=True)
class PriorCase:
    """An earlier case about the same child or family, open or closed at `closed_at`."""

    caseworker: str
    team: str
    child_key: str
    family_key: str
    closed_at: datetime | None


@dataclass(frozen=True)
class Load:
    """A caseworker's current weighted load and assignment history."""

    weighted: Hundredths = 0
    open_cases: int = 0
    last_assigned_at: datetime | None = None
    assigned_today: int = 0


@dataclass(frozen=True)
class Availability:
    """Who cannot take new work today, and who is easing back in after an absence."""

    absent: frozenset[str] = frozenset()
    returning: frozenset[str] = frozenset()
    excluded: frozenset[str] = frozenset()  # conflicts of interest for this referral
    # Open overload flags (issue 22): no new referrals but the same child's open case.
    paused: frozenset[str] = frozenset()
    # Reliefs answering a flag: capacity times the factor until the relief ends.
    capacity_factors: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Candidate:
    """A caseworker who could take the referral, with their load and capacity."""

    staff_id: str
    open_cases: int
    last_assigned_at: datetime | None
    mentor: str | None = None
    weighted_load: Hundredths = 0
    capacity: Hundredths = 100

    @property
    def spare(self) -> Hundredths:
        """Capacity not yet used (negative when over capacity)."""
        return self.capacity - self.weighted_load


@dataclass(frozen=True)
class Choice:
    """The caseworker chosen and a short explanation a manager can read."""

    staff_id: str
    mentor: str | None
    explanation: str


@dataclass(frozen=True)
class Decision:
    """Team, caseworker and why: the outcome of assignment for one referral."""

    team: str
    staff_id: str
    mentor: str | None
    reason: str  # rotation | continuity | override | manual
    explanation: str


@dataclass(frozen=True)
class Deadlines:
    """Legal due times of a referral (UTC-aware datetimes)."""

    protection_assessment_due: datetime
    preliminary_assessment_due: datetime
    preliminary_due_on_non_office_day: bool
    registration_due: datetime | None = None  # None only where a caller has no calendar for it


@dataclass(frozen=True)
class DeadlineRules:
    """Configurable parts of the legal clocks (DOMAIN.md §3)."""

    same_day_due: time = time(17, 0)
    next_day_due: time = time(12, 0)
    acute_protection: timedelta | None = None  # None: acute referrals follow the office-day rule
    preliminary_days: int = 14
    investigation_months: int = 4
    max_extension_months: int = 6
    feedback_days: int = 7
    registration_due: time = time(16, 0)
    registration_office_days: int = 0
    reminders: Mapping[str, tuple[timedelta, ...]] = field(default_factory=dict)
