"""Use case of the outcome report: read the period's records through the port, compute in the
domain (domain/outcome.py). Read only: nothing is written, nothing published."""

from __future__ import annotations

import asyncio
from datetime import date, datetime

from services.assignment.domain.outcome import (
    OutcomeReport,
    PointInTime,
    check_period,
    outcome_report,
    point_in_time,
    point_in_time_window,
    window,
)
from services.assignment.domain.unit import Unit
from services.assignment.ports import AssignmentUnitOfWork


async def build_outcome_report(
    uow: AssignmentUnitOfWork, unit: Unit, start: date, end: date, change_date: date | None, now: datetime
) -> OutcomeReport:
    """The report of [start, end] as of `now`; InvalidReportPeriod before any read when the
    period or change date cannot be used."""
    check_period(start, end, change_date)
    async with uow:
        data = await uow.outcome.read(*window(start, end, unit.tz))
    # Up to a second of arithmetic for three busy years: off the event loop.
    return await asyncio.to_thread(outcome_report, data, unit.roster, unit.tz, start, end, change_date, now)


async def current_outcome_figures(uow: AssignmentUnitOfWork, unit: Unit, now: datetime) -> PointInTime:
    """The point-in-time figures of /metrics (the last 90 days, now, the last full month)."""
    first, last = point_in_time_window(now, unit.tz)
    async with uow:
        data = await uow.outcome.read(*window(first, last, unit.tz))
    return point_in_time(data, unit.roster, unit.tz, now)
