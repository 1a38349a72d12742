"""Domain exceptions as problem details: the one place they meet HTTP."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from services.assignment.domain.consultations import InvalidTopic
from services.assignment.domain.errors import (
    AlreadyTheCaseworker,
    AssignmentRefused,
    CaseNotFound,
    ExtensionNotLater,
    ExtensionTooLong,
    FeedNotFound,
    ImplausibleTime,
    InvalidAbsenceDates,
    InvalidIncident,
    InvalidOverrideWindow,
    InvalidQuarter,
    InvalidQueueFilter,
    InvalidScheduleRange,
    InvalidTransition,
    NoFeedbackDue,
    NoRunningAbsence,
    NotPermitted,
    TimeOutOfRange,
    UnknownCaseworker,
    UnknownReferral,
    UnknownStaff,
    UnknownTeam,
)
from services.assignment.domain.meetings import AlreadyCancelled, ConsultationNotFound, NoFreeBooking
from services.assignment.domain.overload import (
    FlagAlreadyAnswered,
    FlagAlreadyOpen,
    FlagNotFound,
    InvalidOverloadResponse,
    NotACaseworker,
)
from shared.http import problem

PROBLEMS: dict[type[AssignmentRefused], tuple[int, str]] = {
    CaseNotFound: (404, "Not found"),
    FeedNotFound: (404, "Not found"),
    UnknownStaff: (404, "Not found"),
    NotPermitted: (403, "Forbidden"),
    InvalidTransition: (409, "Conflict"),
    NoFeedbackDue: (409, "Conflict"),
    AlreadyTheCaseworker: (409, "Conflict"),
    TimeOutOfRange: (422, "Invalid time"),
    ImplausibleTime: (422, "Invalid time"),
    ExtensionNotLater: (422, "Invalid extension"),
    ExtensionTooLong: (422, "Invalid extension"),
    UnknownCaseworker: (422, "Unknown caseworker"),
    UnknownTeam: (422, "Unknown team"),
    InvalidOverrideWindow: (422, "Invalid window"),
    InvalidAbsenceDates: (422, "Invalid dates"),
    NoRunningAbsence: (409, "Conflict"),
    InvalidScheduleRange: (422, "Invalid range"),
    InvalidQueueFilter: (422, "Invalid filter"),
    InvalidIncident: (422, "Invalid incident"),
    InvalidQuarter: (422, "Invalid quarter"),
    UnknownReferral: (422, "Unknown referral"),
    NoFreeBooking: (409, "No free time"),
    ConsultationNotFound: (404, "Not found"),
    AlreadyCancelled: (409, "Conflict"),
    InvalidTopic: (422, "Invalid topic"),
    FlagNotFound: (404, "Not found"),
    FlagAlreadyAnswered: (409, "Conflict"),
    FlagAlreadyOpen: (409, "Conflict"),
    InvalidOverloadResponse: (422, "Invalid request"),
    NotACaseworker: (422, "Not a caseworker"),
}


def add_domain_problem_handlers(app: FastAPI) -> None:
    """Answer every domain refusal as problem details (messages name fields, teams, staff ids)."""

    async def on_refused(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, AssignmentRefused)
        if isinstance(exc, InvalidOverloadResponse):  # a field path, like a validation error
            errors: list[dict[str, object]] = [{"loc": ["body", exc.field], "msg": str(exc)}]
            return problem(422, "Invalid request", detail=str(exc), errors=errors)
        if isinstance(exc, FlagAlreadyOpen):  # the open one's id, so a client can show it
            return JSONResponse(
                {"type": "about:blank", "title": "Conflict", "status": 409, "detail": str(exc),
                 "flag_id": exc.flag_id},
                status_code=409, media_type="application/problem+json",
            )  # fmt: skip
        status, title = PROBLEMS.get(type(exc), (422, "Refused"))
        return problem(status, title, detail=str(exc))

    app.add_exception_handler(AssignmentRefused, on_refused)
