"""How events are grouped for metrics. Standard library only."""

from __future__ import annotations

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


def reporter_group(reporter_type: str, mandatory: bool) -> str:
    """A bounded label for a reporter type: the big groups, then other mandatory or private."""
    return REPORTER_GROUPS.get(reporter_type, "other_mandatory" if mandatory else "private")
