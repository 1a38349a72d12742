"""Timer edge of assignment: the scan loops for deadline alerts and rotation handovers, and for
unanswered overload flags (issue 22).

Only the loop, its sleep and its failures live here; the work is `handlers.scheduled`.
"""

from __future__ import annotations

import asyncio
import logging

import asyncpg

from services.assignment.domain.unit import Unit
from services.assignment.handlers.overload import emit_escalations
from services.assignment.handlers.scheduled import UnitsOfWork, announce_on_duty, emit_scheduled_events
from shared.clock import Clock
from shared.db import TRANSIENT_DB_ERRORS
from shared.logging import Throttle

log = logging.getLogger(__name__)
LOG_INTERVAL_S = 10.0
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
