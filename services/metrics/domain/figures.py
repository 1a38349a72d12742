"""The figures the read models give at one instant: what the domain metrics (CONTRACTS.md §5) show.

Counts by their label values; nothing here names a referral or a client.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime


@dataclass(frozen=True)
class Unit:
    """What the metrics need from the unit config: teams and each caseworker's FTE."""

    teams: tuple[str, ...]
    fte: Mapping[str, Mapping[str, float]]  # team -> caseworker -> employment rate
    hired: Mapping[str, date] = field(default_factory=dict)  # caseworker -> hire date, when set


@dataclass(frozen=True)
class AssignmentTimes:
    """Seconds from receipt to first assignment: how many, their sum, and how many within each
    of `labels.ASSIGNMENT_BUCKETS` (cumulative)."""

    count: int
    total_seconds: float
    within: tuple[int, ...]


@dataclass(frozen=True)
class ResponseTimes:
    """Seconds from an overload flag to the manager's answer, as `AssignmentTimes` (buckets:
    `labels.RESPONSE_BUCKETS`)."""

    count: int = 0
    total_seconds: float = 0.0
    within: tuple[int, ...] = ()


@dataclass(frozen=True)
class Workplace:
    """Issue 22's figures, by team (never by person)."""

    flags_raised: Mapping[str, int] = field(default_factory=dict)
    flags_open: Mapping[str, int] = field(default_factory=dict)  # raised, not yet answered
    flags_escalated: Mapping[str, int] = field(default_factory=dict)
    response_times: ResponseTimes = ResponseTimes()
    incidents: Mapping[tuple[str, str], int] = field(default_factory=dict)  # (type, team)
    consultations_booked: Mapping[str, int] = field(default_factory=dict)
    consultations_cancelled: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class OnDuty:
    """The latest handover: the team on duty and when the next handover is."""

    team: str
    next_handover_at: datetime | None


@dataclass(frozen=True)
class Figures:
    """One consistent reading of every read model."""

    received: Mapping[tuple[str, str, str, bool], int]  # (kind, channel, reporter group, acute)
    assignments: Mapping[tuple[str, str], int]  # (team, reason), reassignments included
    breaches: Mapping[tuple[str, str], int]  # (deadline, team)
    notifications: Mapping[tuple[str, str], int]  # (channel, outcome)
    open_cases: Mapping[tuple[str, str], int]  # (team, status) of assigned cases not closed
    assignment_times: AssignmentTimes
    open_deadlines: Mapping[tuple[str, str], int]  # (deadline, state), met ones left out
    loads: Mapping[tuple[str, str], float]  # (team, caseworker): weights of open assigned cases
    on_duty: OnDuty | None
    workplace: Workplace = Workplace()
