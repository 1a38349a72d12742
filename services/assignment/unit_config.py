"""Translate the validated unit config file into assignment's domain types."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from services.assignment.domain.model import (
    CapacityRules,
    Caseworker,
    DeadlineRules,
    OfficeCalendar,
    RotationPlan,
    WeightRules,
)
from shared.office_days import swedish_holidays
from shared.unit_config import UnitConfig


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
        Caseworker(m.id, team.id, m.employment_rate, m.hire_date, m.mentor)
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
    """Case weights by category, acute danger and interpreter need."""
    w = config.assignment.caseload.weights
    return WeightRules(w.default, dict(w.categories), w.acute_danger, w.interpreter)


def deadline_rules(config: UnitConfig) -> DeadlineRules:
    """Legal clocks and reminder lead times."""
    d = config.deadlines
    return DeadlineRules(
        same_day_due=d.protection_same_day_due,
        next_day_due=d.protection_next_day_due,
        preliminary_days=d.preliminary_days,
        investigation_months=d.investigation_months,
        feedback_days=d.feedback_days,
        reminders={str(name): leads for name, leads in d.reminders.items()},
    )
