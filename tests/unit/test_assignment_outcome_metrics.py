"""The outcome figures on assignment's /metrics: computed through the port from the stored
records, shown per team at most (never a staff id), NaN while a figure is undefined."""

from __future__ import annotations

import dataclasses
import math
from datetime import date

from prometheus_client import REGISTRY, generate_latest

from services.assignment.handlers.outcome import current_outcome_figures
from services.assignment.timers import set_outcome_gauges
from tests.assignment_support import Fakes, local, new_assignment

NOW = local(2026, 10, 5, 10, 0)


async def test_the_figures_come_from_the_stored_records_and_name_no_one() -> None:
    fakes = Fakes(NOW)
    async with fakes.uow() as u:
        await u.assignments.add([new_assignment("r-1", "cw-a1", received_at=local(2026, 6, 1, 10, 0))])
        case = await u.cases.get("r-1")
        done = dataclasses.replace(
            case,
            decided_at=local(2026, 6, 10, 10, 0),
            decision="investigate",
            investigation_opened_on=date(2026, 6, 10),
            status="closed",
            closed_at=local(2026, 9, 1, 10, 0),
        )
        await u.cases.save(case, done)
        await u.commit()
    figures = await current_outcome_figures(fakes.uow(), fakes.unit, NOW)
    set_outcome_gauges(figures)
    # 10 Jun → 1 Sep = 20 + 31 + 31 + 1 = 83 days; its limit (10 Oct) is not yet due.
    assert REGISTRY.get_sample_value("outcome_investigation_lead_time_days", {"quantile": "0.5"}) == 83.0
    assert REGISTRY.get_sample_value("outcome_investigation_lead_time_days", {"quantile": "0.9"}) == 83.0
    assert math.isnan(REGISTRY.get_sample_value("outcome_investigations_within_limit_ratio") or 0.0)
    assert REGISTRY.get_sample_value("outcome_caseload_per_fte", {"team": "team-a"}) == 0.0
    assert REGISTRY.get_sample_value("outcome_sick_leave_days_per_fte") == 0.0
    text = generate_latest().decode()
    outcome_lines = [line for line in text.splitlines() if line.startswith("outcome_")]
    assert outcome_lines and not any(
        "cw-" in line or "mgr-" in line or "r-1" in line for line in outcome_lines
    )
