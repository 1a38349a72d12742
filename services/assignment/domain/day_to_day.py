"""Day-to-day changes to the unit kept in the database: overrides of the rotation and absences."""

from __future__ import annotations

from datetime import timedelta

from services.assignment.domain.errors import (
    InvalidAbsenceDates,
    InvalidOverrideWindow,
    UnknownStaff,
    UnknownTeam,
)
from services.assignment.domain.model import Override
from services.assignment.domain.unit import Unit
from services.assignment.domain.workload import Absence

LONGEST_ABSENCE = timedelta(days=3660)


def check_override(unit: Unit, override: Override) -> Override:
    """The override, if it names a team of the unit and ends after it starts."""
    if unit.team(override.team) is None:
        raise UnknownTeam(override.team)
    if override.ends_at <= override.starts_at:
        raise InvalidOverrideWindow
    return override


def check_absence(unit: Unit, absence: Absence) -> Absence:
    """The absence, if it is of someone in the unit and ends on or after its first day, within
    ten years."""
    if absence.staff_id not in unit.people:
        raise UnknownStaff
    if not absence.starts_on <= absence.ends_on <= absence.starts_on + LONGEST_ABSENCE:
        raise InvalidAbsenceDates
    return absence
