"""Staff API, the safety flag on a referral (issue 22): "two staff on home visits". Who may set
or clear it is the domain's decision by relation (domain/access.py, `Action.SAFETY_FLAG`)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict

from services.assignment.api.bodies import ReferralId
from services.assignment.api.dependencies import Api, Caller
from services.assignment.domain.access import ROLE_OF, Actor
from services.assignment.domain.safety import SafetyFlagChange
from services.assignment.handlers.safety import set_safety_flag
from shared.http import problem_responses
from shared.staff_auth import require

router = APIRouter(prefix="/v1/referrals", tags=["referrals"])
ACTING = frozenset(ROLE_OF.values())
PROBLEMS = problem_responses(401, 403, 404, 422, 503)


class SafetyFlagIn(BaseModel):
    """The flag to set."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    flag: Literal["two_staff_home_visits"]


class SafetyFlagOut(BaseModel):
    """The referral's flag after the change, who made it and when."""

    model_config = ConfigDict(frozen=True)

    referral_id: str
    safety_flag: Literal["two_staff_home_visits"] | None
    set_by: str
    set_at: datetime

    @classmethod
    def of(cls, change: SafetyFlagChange) -> SafetyFlagOut:
        """The change as the API shows it."""
        return cls.model_validate(change.__dict__)


@router.put("/{referral_id}/safety-flag", response_model=SafetyFlagOut, responses=PROBLEMS)
async def set_flag(api: Api, referral_id: ReferralId, body: SafetyFlagIn, caller: Caller) -> SafetyFlagOut:
    """Flag the referral (its caseworker, the team's manager, intake, the head of unit)."""
    return await _change(api, referral_id, body.flag, caller)


@router.delete("/{referral_id}/safety-flag", response_model=SafetyFlagOut, responses=PROBLEMS)
async def clear_flag(api: Api, referral_id: ReferralId, caller: Caller) -> SafetyFlagOut:
    """Clear the referral's flag (the same people); `safety_flag` is then null."""
    return await _change(api, referral_id, None, caller)


async def _change(api: Api, referral_id: str, flag: str | None, caller: Caller) -> SafetyFlagOut:
    require(caller, ACTING)
    actor = Actor(caller.sub, caller.roles)
    change = await set_safety_flag(api.unit_of_work(), api.unit, referral_id, flag, actor, api.clock.now())
    return SafetyFlagOut.of(change)
