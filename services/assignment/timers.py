"""Timer edge of assignment: the scan loops for deadline alerts and rotation handovers, and for
unanswered overload flags (issue 22).

Only the loop, its sleep and its failures live here; the work is `handlers.scheduled`.
"""

from __future__ import annotations

import asyncio
import logging

import asyncpg
from prometheus_client import Gauge

from services.assignment.domain.outcome import PointInTime
from services.assignment.domain.unit import Unit
from services.assignment.handlers.outcome import current_outcome_figures
from services.assignment.handlers.overload import emit_escalations
from services.assignment.handlers.scheduled import UnitsOfWork, announce_on_duty, emit_scheduled_events
from shared.clock import Clock
from shared.db import TRANSIENT_DB_ERRORS
from shared.logging import Throttle

log = logging.getLogger(__name__)
LOG_INTERVAL_S = 10.0
OUTCOME_INTERVAL_S = 900.0  # the outcome figures read 90 days of records: a slow job
_SCAN_ERRORS: tuple[type[BaseException], ...] = (*TRANSIENT_DB_ERRORS, asyncpg.PostgresError)


async def scan_for_scheduled_events(
    units_of_work: UnitsOfWork, unit: Unit, clock: Clock, interval_s: float
) -> None:
    """Emit what is due every `interval_s` until cancelled. A scan the database fails is logged
    (at most a line per LOG_INTERVAL_S) and tried again at the next interval: the next scan
    finds everything the failed one missed, since alerts are chosen by what is due, not when.
    Before the first scan, the team on duty is announced (`announce_on_duty`)."""
    throttle = Throttle(LOG_INTERVAL_S)
    announced = False
    while True:
        try:
            if not announced:  # once per start: the team on duty, for metrics
                await announce_on_duty(units_of_work(), unit, clock.now())
                announced = True
            await emit_scheduled_events(units_of_work, unit, clock.now())
        except _SCAN_ERRORS as exc:
            if throttle.allows("scan"):
                log.warning(
                    "scheduled-event scan failed, trying again",
                    extra={"error": type(exc).__name__, "suppressed": throttle.suppressed("scan")},
                )
        await asyncio.sleep(interval_s)


async def scan_for_overload_escalations(units_of_work: UnitsOfWork, clock: Clock, interval_s: float) -> None:
    """Escalate every overload flag left unanswered past its time, every `interval_s` until
    cancelled; a failed scan is logged (throttled) and the next one finds what it missed."""
    throttle = Throttle(LOG_INTERVAL_S)
    while True:
        try:
            await emit_escalations(units_of_work, clock.now())
        except _SCAN_ERRORS as exc:
            if throttle.allows("overload"):
                log.warning(
                    "overload escalation scan failed, trying again",
                    extra={"error": type(exc).__name__, "suppressed": throttle.suppressed("overload")},
                )
        await asyncio.sleep(interval_s)


# The outcome report's figures now (domain/outcome.py `point_in_time`); NaN while undefined.
# Labels are teams and quantiles only: never a staff id.
LEAD_TIME = Gauge(
    "outcome_investigation_lead_time_days",
    "Days from opening to closing of investigations closed in the last 90 days.",
    ["quantile"],
)
WITHIN_LIMIT = Gauge(
    "outcome_investigations_within_limit_ratio",
    "Share of investigations whose four months ended in the last 90 days that closed in time.",
)
PRELIMINARY = Gauge(
    "outcome_preliminary_on_time_ratio",
    "Share of preliminary assessments due in the last 90 days decided in time.",
)
PROTECTION = Gauge(
    "outcome_protection_on_time_ratio",
    "Share of protection assessments due in the last 90 days done in time.",
)
CASELOAD = Gauge(
    "outcome_caseload_per_fte", "Open investigations per FTE of caseworkers at work now.", ["team"]
)
SICK_LEAVE = Gauge("outcome_sick_leave_days_per_fte", "Sick-leave days per FTE in the last full month.")
MENTORING = Gauge(
    "outcome_mentoring_coverage_ratio", "Share of new hires within their mentoring months with a mentor."
)


def _value(v: float | None) -> float:
    return float("nan") if v is None else v


def set_outcome_gauges(figures: PointInTime) -> None:
    """Show `figures` on /metrics."""
    LEAD_TIME.labels(quantile="0.5").set(_value(figures.lead_time_median))
    LEAD_TIME.labels(quantile="0.9").set(_value(figures.lead_time_p90))
    WITHIN_LIMIT.set(_value(figures.within_limit))
    PRELIMINARY.set(_value(figures.preliminary_on_time))
    PROTECTION.set(_value(figures.protection_on_time))
    for team, value in figures.caseload_per_fte.items():
        CASELOAD.labels(team=team).set(_value(value))
    SICK_LEAVE.set(_value(figures.sick_leave_days_per_fte))
    MENTORING.set(_value(figures.mentoring_coverage))


async def refresh_outcome_metrics(
    units_of_work: UnitsOfWork, unit: Unit, clock: Clock, interval_s: float = OUTCOME_INTERVAL_S
) -> None:
    """Recompute the outcome figures every `interval_s` until cancelled; a failed read is logged
    (throttled) and tried again at the next interval, the gauges keeping their last values."""
    throttle = Throttle(LOG_INTERVAL_S)
    while True:
        try:
            set_outcome_gauges(await current_outcome_figures(units_of_work(), unit, clock.now()))
        except _SCAN_ERRORS as exc:
            if throttle.allows("outcome"):
                log.warning(
                    "outcome figures failed, trying again",
                    extra={"error": type(exc).__name__, "suppressed": throttle.suppressed("outcome")},
                )
        await asyncio.sleep(interval_s)
