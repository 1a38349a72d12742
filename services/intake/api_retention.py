"""Staff endpoints of retention (issue 23, CONTRACTS.md §2a): legal holds on a referral or its
child, and the register extract. Bearer tokens as the staff API (`shared/staff_auth.py`).

The personal number of a register extract travels in the body, never the URL, and a 422 names
the field, never its value.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from services.intake.domain.personal_numbers import InvalidPersonalNumber, normalise_personal_number
from services.intake.domain.retention import HoldScope
from services.intake.handlers import register_extract as extract
from services.intake.handlers import retention
from services.intake.ports import Hold, IntakeUnitOfWork
from shared.clock import Clock
from shared.http import ApiProblem, problem_responses
from shared.staff_auth import Principal

_bearer = HTTPBearer(auto_error=False, description="JWT with claims `sub` and `roles`")
ReferralId = Annotated[str, Path(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:\-]+$")]
_NO_CONTROLS = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"

router = APIRouter(tags=["retention"])


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
    """The person's personal identity or coordination number (10 or 12 digits)."""

    personal_number: str = Field(min_length=10, max_length=13)

    @field_validator("personal_number")
    @classmethod
    def _valid(cls, value: str, info: ValidationInfo) -> str:
        try:
            return normalise_personal_number(value, date.today())
        except InvalidPersonalNumber:
            raise ValueError("not a valid personal identity or coordination number") from None


def _api(request: Request) -> RetentionApi:
    api: RetentionApi = request.app.state.retention
    return api


async def _principal(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    return await _api(request).authenticate(credentials)


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
    responses=problem_responses(401, 403, 422),
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
    responses=problem_responses(401, 403, 422),
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
        answer = await extract.register_extract(_api(request).extracting, asker, body.personal_number)
    except extract.ExtractRefused:
        raise ApiProblem(403, "Forbidden", "only the head of unit takes a register extract") from None
    return JSONResponse(answer, headers={"Cache-Control": "no-store"})
