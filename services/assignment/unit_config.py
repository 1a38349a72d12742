"""Translate the validated unit config file into assignment's domain types."""

from __future__ import annotations

from datetime import date, timedelta
from zoneinfo import ZoneInfo

import holidays

from services.assignment.domain.model import OfficeCalendar, RotationPlan
from shared.unit_config import UnitConfig

HOLIDAY_YEARS = range(2020, 2041)


def swedish_holidays(years: range = HOLIDAY_YEARS) -> frozenset[date]:
    """Swedish public holidays plus the days treated as such (Midsummer, Christmas, New Year's Eve)."""
    days = set(holidays.country_holidays("SE", years=list(years)).keys())
    for year in years:
        days.add(date(year, 12, 24))
        days.add(date(year, 12, 31))
        # Midsummer Eve is the Friday between 19 and 25 June.
        june19 = date(year, 6, 19)
        days.add(june19 + timedelta(days=(4 - june19.weekday()) % 7))
    return frozenset(days)


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
