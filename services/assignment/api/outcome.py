"""Staff API, the outcome report (issue 22, part 4): the unit's figures by month, before and
after a change date, for the head of unit (domain/outcome.py defines every figure)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from services.assignment.api.dependencies import Api, Caller
from services.assignment.domain.outcome import InvalidReportPeriod, as_json
from services.assignment.handlers.outcome import build_outcome_report
from shared.http import ApiProblem, problem, problem_responses
from shared.staff_auth import require

router = APIRouter(prefix="/v1", tags=["outcome report"])
HEAD_OF_UNIT = frozenset({"head_of_unit"})


class MonthValueOut(BaseModel):
    month: str
    team: str | None
    value: float | None


class MeasureOut(BaseModel):
    id: str
    title_sv: str
    title_en: str
    unit: Literal["days", "share", "count", "per_fte", "ratio"]
    monthly: list[MonthValueOut]
    before: float | None
    after: float | None
    whole: float | None


class OutcomeReportOut(BaseModel):
    """The agreed shape (CONTRACTS.md §3a): `from`, `to` and `change_date` as given."""

    model_config = ConfigDict(populate_by_name=True)

    start: date = Field(alias="from")
    end: date = Field(alias="to")
    change_date: date | None
    generated_at: str
    measures: list[MeasureOut]


@router.get(
    "/outcome-report",
    response_model=OutcomeReportOut,
    response_model_by_alias=True,
    responses=problem_responses(401, 403, 422, 503),
)
async def outcome_report(
    api: Api,
    caller: Caller,
    start: Annotated[date, Query(alias="from", description="first day, YYYY-MM-DD")],
    end: Annotated[date, Query(alias="to", description="last day, included")],
    change_date: Annotated[date | None, Query(description="first day of the new way of working")] = None,
) -> OutcomeReportOut | JSONResponse:
    """The unit's outcome figures for [from, to] (at most three years), monthly per team and
    before/after `change_date`. The head of unit only: the figures cover every team."""
    require(caller, HEAD_OF_UNIT)
    if api.unit.head_of_unit and caller.sub != api.unit.head_of_unit:
        raise ApiProblem(403, "Forbidden", "the head of this unit only")
    try:
        report = await build_outcome_report(
            api.unit_of_work(), api.unit, start, end, change_date, api.clock.now()
        )
    except InvalidReportPeriod as bad:
        loc = ["query", bad.field_name]
        return problem(422, "Invalid period", detail=str(bad), errors=[{"loc": loc, "msg": str(bad)}])
    return OutcomeReportOut.model_validate(as_json(report))
