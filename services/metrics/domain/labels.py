"""How events are read for metrics: label groups, which actions meet which deadlines, ratios.

Standard library only.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import date

REPORTER_GROUPS: dict[str, str] = {
    "police": "police",
    "school": "school",
    "preschool": "school",
    "after_school": "school",
    "health_care": "health_care",
    "dental_care": "health_care",
    "social_services": "social_services",
    "private_person": "private",
    "relative": "private",
    "child_self": "private",
    "guardian": "private",
}

# Seconds to days: an assignment is normally immediate, but one received on a Friday evening
# under the next-office-hours policy waits for Monday.
ASSIGNMENT_BUCKETS = (1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 12 * 3600, 86400, 3 * 86400, 7 * 86400)

# Issue 22: from an overload flag to the manager's answer — minutes in a good week, days over a
# weekend or when nobody answers (the flag escalates after a few office hours).
RESPONSE_BUCKETS = (
    900,
    3600,
    2 * 3600,
    4 * 3600,
    8 * 3600,
    86400,
    2 * 86400,
    3 * 86400,
    5 * 86400,
    7 * 86400,
)
INCIDENT_TYPES = ("threat", "violence", "harassment")
NO_TEAM = "none"  # the team label of an incident recorded without a team (intake, head of unit)

DEADLINES = (
    "protection_assessment",
    "preliminary_assessment",
    "investigation",
    "reporter_feedback",
    "registration",
)
OPEN_STATES = ("ok", "approaching", "breached")
STATE_RANK = {"ok": 0, "approaching": 1, "breached": 2, "met": 3}

# The action that fulfils each legal clock (DOMAIN.md §3).
MEETS: dict[str, str] = {
    "referral.protection_assessed": "protection_assessment",
    "referral.decided": "preliminary_assessment",
    "investigation.closed": "investigation",
}
CLOSED_STATUSES = frozenset({"closed"})


def reporter_group(reporter_type: str, mandatory: bool) -> str:
    """A bounded label for a reporter type: the big groups, then other mandatory or private."""
    return REPORTER_GROUPS.get(reporter_type, "other_mandatory" if mandatory else "private")


def started(fte: Mapping[str, float], hired: Mapping[str, date], today: date) -> dict[str, float]:
    """The caseworkers who have started work by `today`: a new hire counts from the hire date.

    Absences are not known to the metrics service (no event carries them), so the ratio is among
    the caseworkers employed today.
    """
    return {person: rate for person, rate in fte.items() if hired.get(person, today) <= today}


def imbalance_ratio(loads: Mapping[str, float], fte: Mapping[str, float]) -> float | None:
    """Max ÷ min weighted load per full-time equivalent: +Inf when someone carries nothing while
    another carries something (the most uneven case), 1 when nobody carries anything (even);
    None only when the team has nobody at work to compare."""
    per_fte = [loads.get(person, 0.0) / rate for person, rate in fte.items() if rate > 0]
    if not per_fte:
        return None
    low, high = min(per_fte), max(per_fte)
    if high <= 0:
        return 1.0
    return math.inf if low <= 0 else high / low
