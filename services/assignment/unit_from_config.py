"""The unit file (validated by `shared.unit_config`) as assignment's domain `Unit`.

Read once at start-up by the composition root, and by the offline simulation.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from services.assignment.domain.meetings import WEEKDAYS, MeetingRules, Slot
from services.assignment.domain.model import (
    HUNDREDTHS_PER_CASE,
    CapacityRules,
    Caseworker,
    DeadlineRules,
    Hundredths,
    OfficeCalendar,
    RotationPlan,
    WeightRules,
)
from services.assignment.domain.outcome import Roster, StaffRecord
from services.assignment.domain.unit import ConflictOfInterest, Team, Unit
from shared.office_days import swedish_holidays
from shared.unit_config import Person, UnitConfig, UnitConfigError


def unit_from_config(config: UnitConfig) -> Unit:
    """Everything assignment decides with, from the unit file; UnitConfigError if a weight is
    finer than a hundredth of a case."""
    plan, tz = rotation_plan(config)
    return Unit(
        name=config.unit,
        teams=tuple(Team(t.id, t.name, t.manager.id) for t in config.teams),
        plan=plan,
        calendar=office_calendar(config),
        tz=tz,
        policy=config.assignment_policy,
        staff=caseworkers(config),
        people=frozenset(p.id for p in config.all_people()),
        rules=capacity_rules(config),
        weights=weight_rules(config),
        deadlines=deadline_rules(config),
        conflicts=tuple(
            ConflictOfInterest(c.staff_id, c.key) for c in config.assignment.conflicts_of_interest
        ),
        head_of_unit=config.head_of_unit.id,
        intake_group=frozenset(p.id for p in config.intake_group),
        meetings=meeting_rules(config),
        overload_escalate_hours=config.working_environment.overload.escalate_after_office_hours,
        roster=outcome_roster(config),
    )


def outcome_roster(config: UnitConfig) -> Roster:
    """The unit's staff as the outcome report counts them: partners and occupational health are
    not staff of the unit; a team's manager and members carry the team's id."""
    seen: dict[str, StaffRecord] = {}
    for team in config.teams:
        for p in (team.manager, *team.members):
            seen.setdefault(p.id, _staff_record(p, team.id))
    for p in config.all_people():
        if p.role not in ("partner", "occupational_health"):
            seen.setdefault(p.id, _staff_record(p, None))
    return Roster(tuple(seen.values()), config.assignment.new_hires.mentoring_months)


def _staff_record(p: Person, team: str | None) -> StaffRecord:
    return StaffRecord(p.id, team, p.role, p.employment_rate, p.hire_date, p.left_on, p.mentor)


def rotation_plan(config: UnitConfig) -> tuple[RotationPlan, ZoneInfo]:
    """The rotation and the time zone it is kept in."""
    tz = ZoneInfo(config.rotation.timezone)
    anchor_local = config.rotation.anchor.astimezone(tz)
    plan = RotationPlan(
        order=config.rotation.order,
        period_days=config.rotation.period_days,
        anchor_date=anchor_local.date(),
        handover=config.rotation.handover_time,
    )
    return plan, tz


def office_calendar(config: UnitConfig) -> OfficeCalendar:
    """Office hours and public holidays."""
    return OfficeCalendar(
        start=config.office_hours.start,
        end=config.office_hours.end,
        protection_cutoff=config.office_hours.protection_cutoff,
        holidays=swedish_holidays(),
    )


def caseworkers(config: UnitConfig) -> tuple[Caseworker, ...]:
    """Every caseworker of every team, as selection sees them."""
    return tuple(
        Caseworker(m.id, team.id, m.employment_rate, m.hire_date, m.mentor, m.left_on)
        for team in config.teams
        for m in team.members
        if m.role == "caseworker"
    )


def capacity_rules(config: UnitConfig) -> CapacityRules:
    """Caps, mentoring, new-hire and back-from-leave rules."""
    a = config.assignment
    hires = a.new_hires
    return CapacityRules(
        max_load=a.caseload.max_load,
        mentoring_months=hires.mentoring_months,
        mentoring_share=hires.mentoring_share,
        ramp=tuple((s.until_month, s.factor) for s in hires.ramp),
        restricted_months=hires.restricted_months,
        restricted_categories=frozenset(hires.restricted_categories),
        restrict_acute=hires.restrict_acute,
        return_days=a.back_from_leave.days,
        return_max_per_day=a.back_from_leave.max_new_per_day,
        continuity_days=a.continuity_days,
    )


def weight_rules(config: UnitConfig) -> WeightRules:
    """Case weights by category, acute danger and interpreter need, in hundredths of a case."""
    w = config.assignment.caseload.weights
    field = "assignment.caseload.weights"
    return WeightRules(
        _hundredths(w.default, f"{field}.default"),
        {name: _hundredths(v, f"{field}.categories.{name}") for name, v in w.categories.items()},
        _hundredths(w.acute_danger, f"{field}.acute_danger"),
        _hundredths(w.interpreter, f"{field}.interpreter"),
    )


def _hundredths(weight: float, field: str) -> Hundredths:
    """A weight in whole hundredths; loads are exact sums of them, so a finer one is refused."""
    scaled = weight * HUNDREDTHS_PER_CASE
    if abs(scaled - round(scaled)) > 1e-6:
        raise UnitConfigError(f"{field}: a weight must be a whole number of hundredths (e.g. 1.25)")
    return round(scaled)


def deadline_rules(config: UnitConfig) -> DeadlineRules:
    """Legal clocks and reminder lead times."""
    d = config.deadlines
    return DeadlineRules(
        same_day_due=d.protection_same_day_due,
        next_day_due=d.protection_next_day_due,
        acute_protection=d.acute_protection_assessment,
        preliminary_days=d.preliminary_days,
        investigation_months=d.investigation_months,
        max_extension_months=d.max_extension_months,
        feedback_days=d.feedback_days,
        registration_due=d.registration_due,
        registration_office_days=d.registration_office_days,
        reminders={str(name): leads for name, leads in d.reminders.items()},
    )


def meeting_rules(config: UnitConfig) -> MeetingRules:
    """The fixed meeting times and the consultation booking rules (issue 22)."""
    work = config.working_environment
    slots = tuple(
        Slot(
            id=s.id,
            title=s.title,
            kind=s.kind,
            start=s.start,
            end=s.end,
            weekday=None if s.weekday is None else WEEKDAYS.index(s.weekday),
            teams=tuple(s.teams),
            booking_minutes=s.booking_minutes,
            counterpart=s.counterpart,
        )
        for s in work.meeting_slots
    )
    return MeetingRules(
        slots=slots,
        horizon_days=work.booking_horizon_days,
        reminder=work.consultation_reminder,
        partners=frozenset(p.id for p in work.partners),
    )
