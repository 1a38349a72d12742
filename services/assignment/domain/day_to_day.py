"""Day-to-day changes to the unit kept in the database: overrides of the rotation and absences."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

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


def may_end_absence(unit: Unit, staff_id: str, actor: str, roles: frozenset[str]) -> bool:
    """Whether `actor` may end `staff_id`'s absence early: the person themself, the manager of
    their team, or the head of unit."""
    if actor == staff_id or "head_of_unit" in roles:
        return True
    worker = unit.caseworker(staff_id)
    team = unit.team(worker.team) if worker is not None else None
    return "manager" in roles and team is not None and team.manager == actor


def ended_early(absence: Absence, back_on: date) -> Absence | None:
    """The absence cut to end the day before `back_on`, if it runs on that day and began before
    it; None when it does not (one that begins on `back_on` or later is left alone)."""
    if absence.starts_on < back_on <= absence.ends_on:
        return replace(absence, ends_on=back_on - timedelta(days=1))
    return None
