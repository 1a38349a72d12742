"""Staff endpoints of retention (issue 23, CONTRACTS.md §2a): legal holds on a referral or its
child, and the register extract. Bearer tokens as the staff API (`shared/staff_auth.py`).

The personal number of a register extract travels in the body, never the URL, and a 422 names
the field, never its value.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field

from services.intake.domain.personal_numbers import InvalidPersonalNumber, normalise_personal_number
from services.intake.domain.retention import HoldScope
from services.intake.handlers import register_extract as extract
from services.intake.handlers import retention
from services.intake.ports import Hold, IntakeUnitOfWork
from shared.clock import Clock
from shared.http import ApiProblem, ProblemDetails, problem_responses
from shared.staff_auth import Principal

_bearer = HTTPBearer(auto_error=False, description="JWT with claims `sub` and `roles`")
ReferralId = Annotated[str, Path(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:\-]+$")]
_NO_CONTROLS = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"


class _AuthenticatedFirst(APIRoute):
    """A route that authenticates the caller before FastAPI reads the body (as the dossier's do,
    `api_dossier.py`): without a valid token it is 401 even when the body is not JSON at all."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def authenticated_first(request: Request) -> Response:
            request.state.principal = await _api(request).authenticate(await _bearer(request))
            return await handler(request)

        return authenticated_first


router = APIRouter(tags=["retention"], route_class=_AuthenticatedFirst)


@dataclass(frozen=True)
class RetentionApi:
    """Set on `app.state.retention` by the composition root."""

    unit_of_work: Callable[[], IntakeUnitOfWork]
    extracting: extract.Extracting
    clock: Clock
    authenticate: Callable[[HTTPAuthorizationCredentials | None], Awaitable[Principal]]


class _Body(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class HoldBody(_Body):
    """A legal hold: on this referral only, or on every referral about its child."""

    scope: HoldScope = HoldScope.REFERRAL
    reason: str = Field(min_length=10, max_length=500, pattern=_NO_CONTROLS)


class ExtractBody(_Body):
    """The person's personal identity or coordination number (10 or 12 digits, with or without
    separator); its check digit is checked once the caller is known to be the head of unit."""

    personal_number: str = Field(min_length=10, max_length=13, pattern=r"^[0-9]{6,8}[-+]?[0-9]{4}$")


def _normalised(number: str) -> str:
    """The 12-digit form, or a 422 naming the field (never its value)."""
    try:
        return normalise_personal_number(number, date.today())
    except InvalidPersonalNumber:
        error = {
            "loc": ("body", "personal_number"),
            "msg": "not a valid personal identity or coordination number",
        }
        raise RequestValidationError([{**error, "type": "value_error"}]) from None


# A body that is not JSON at all (FastAPI's own answer, as problem details).
_NOT_JSON: dict[int | str, dict[str, Any]] = {
    400: {
        "model": ProblemDetails,
        "description": "The body is not JSON.",
        "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/ProblemDetails"}}},
    }
}


def _api(request: Request) -> RetentionApi:
    api: RetentionApi = request.app.state.retention
    return api


async def _principal(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    """The caller, authenticated by the route first; a dependency so OpenAPI names the scheme."""
    principal: Principal | None = getattr(request.state, "principal", None)
    return principal if principal is not None else await _api(request).authenticate(credentials)


Caller = Annotated[Principal, Depends(_principal)]


def _hold_json(hold: Hold) -> dict[str, Any]:
    return {
        "scope": hold.scope.value,
        "referral_id": hold.referral_id,
        "set_by": hold.set_by,
        "set_at": hold.set_at.isoformat(),
        "lifted_by": hold.lifted_by,
        "lifted_at": hold.lifted_at.isoformat() if hold.lifted_at else None,
    }


_REFUSED = "only a manager or the head of unit sets or lifts a legal hold on a referral intake holds"


@router.post(
    "/v1/referrals/{referral_id}/legal-hold",
    status_code=201,
    responses={**problem_responses(401, 403, 422), **_NOT_JSON},
    summary="Hold a referral (or every referral about its child) from erasure",
)
async def post_legal_hold(
    request: Request, caller: Caller, referral_id: ReferralId, body: HoldBody
) -> JSONResponse:
    """Set (idempotent: the active hold is answered again); kept with who and when, never erased."""
    api = _api(request)
    asked = retention.HoldRequest(caller.sub, frozenset(caller.roles), referral_id, body.scope)
    try:
        hold = await retention.set_hold(api.unit_of_work, api.clock, asked, body.reason)
    except retention.HoldRefused:
        raise ApiProblem(403, "Forbidden", _REFUSED) from None
    return JSONResponse(_hold_json(hold), status_code=201)


@router.delete(
    "/v1/referrals/{referral_id}/legal-hold",
    responses=problem_responses(401, 403, 404, 422),
    summary="Lift a legal hold",
)
async def delete_legal_hold(
    request: Request,
    caller: Caller,
    referral_id: ReferralId,
    scope: Annotated[HoldScope, Query()] = HoldScope.REFERRAL,
) -> dict[str, Any]:
    """Lift the active hold of that scope set through the referral; 404 when none is active."""
    api = _api(request)
    asked = retention.HoldRequest(caller.sub, frozenset(caller.roles), referral_id, scope)
    try:
        lifted = await retention.lift_hold(api.unit_of_work, api.clock, asked)
    except retention.HoldRefused:
        raise ApiProblem(403, "Forbidden", _REFUSED) from None
    if lifted is None:
        raise ApiProblem(404, "Not Found", "no active legal hold of that scope on this referral")
    return _hold_json(lifted)


@router.post(
    "/v1/register-extract",
    responses={**problem_responses(401, 403, 422), **_NOT_JSON},
    summary="What intake holds about a person (head of unit; logged)",
)
async def post_register_extract(request: Request, caller: Caller, body: ExtractBody) -> JSONResponse:
    """Referrals about the person (as child, or as the guardian who keyed the family), dates, what
    was erased when and by which rule; every lookup is access-logged before the answer."""
    given = request.headers.get("x-request-id", "")
    request_id = (
        given if 0 < len(given) <= 128 and given.isascii() and given.isprintable() else str(uuid.uuid4())
    )
    client = request.client.host if request.client else None
    asker = extract.Asker(caller.sub, frozenset(caller.roles), client, request_id)
    try:
        if not extract.may_extract(asker):  # refused (and logged) before the number is looked at
            await extract.refuse(_api(request).extracting, asker)
        number = _normalised(body.personal_number)
        answer = await extract.register_extract(_api(request).extracting, asker, number)
    except extract.ExtractRefused:
        raise ApiProblem(403, "Forbidden", "only the head of unit takes a register extract") from None
    return JSONResponse(answer, headers={"Cache-Control": "no-store"})
