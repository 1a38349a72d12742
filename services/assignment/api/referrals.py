"""Staff API, referral part: assignment state and the case lifecycle actions (CONTRACTS.md §3).

Who may act on a referral is the domain's decision, by relation (domain/access.py): routes
authenticate the caller and pass them on; a refusal comes back as 403.

Feedback to a mandatory reporter is not recorded here: intake sends it and records a letter
(`POST /v1/referrals/{id}/feedback-sent` on intake), and the case's clock follows its
`reporter_feedback.sent` event (handlers/feedback.py), so there is one path for one rule.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter

from services.assignment.api.bodies import (
    AtBody,
    DecisionBody,
    ExtendBody,
    ProtectionBody,
    ReassignBody,
    ReferralId,
    referral_state,
)
from services.assignment.api.dependencies import Api, Caller
from services.assignment.domain.access import ROLE_OF, Actor
from services.assignment.domain.cases import CaseAction
from services.assignment.handlers import cases
from shared.http import problem_responses
from shared.staff_auth import ROLES, Principal, require

router = APIRouter(prefix="/v1/referrals", tags=["referrals"])
# Roles that can have a relation allowing some action: anyone else is refused before the case is read.
ACTING = frozenset(ROLE_OF.values())
# What a case action can answer besides 200: no token, no relation, no such referral, the wrong
# status, invalid input, storage away.
ACTION_PROBLEMS = problem_responses(401, 403, 404, 409, 422, 503)


def _actor(caller: Principal) -> Actor:
    return Actor(caller.sub, caller.roles)


async def _act(
    api: Api, referral_id: str, name: str, caller: Principal, at: datetime, **fields: Any
) -> dict[str, Any]:
    require(caller, ACTING)
    action = CaseAction(name, _actor(caller), at, **fields)
    acted = await cases.act_on_case(api.unit_of_work(), api.unit, referral_id, action, api.clock.now())
    state = referral_state(acted.case)
    if acted.warnings:
        state["warnings"] = list(acted.warnings)
    return state


@router.get("/{referral_id}", responses=problem_responses(401, 403, 404, 422, 503))
async def get_referral(api: Api, referral_id: ReferralId, caller: Caller) -> dict[str, Any]:
    require(caller, ROLES)
    return referral_state(await cases.case_state(api.unit_of_work(), referral_id))


@router.post("/{referral_id}/acknowledge", responses=ACTION_PROBLEMS)
async def acknowledge(api: Api, referral_id: ReferralId, caller: Caller) -> dict[str, Any]:
    return await _act(api, referral_id, "acknowledge", caller, api.clock.now())


@router.post("/{referral_id}/protection-assessment", responses=ACTION_PROBLEMS)
async def protection(
    api: Api, referral_id: ReferralId, body: ProtectionBody, caller: Caller
) -> dict[str, Any]:
    return await _act(api, referral_id, "protection_assessment", caller, body.at, outcome=body.outcome)


@router.post("/{referral_id}/decision", responses=ACTION_PROBLEMS)
async def decision(api: Api, referral_id: ReferralId, body: DecisionBody, caller: Caller) -> dict[str, Any]:
    return await _act(api, referral_id, "decision", caller, body.at, decision=body.decision)


@router.post("/{referral_id}/reassign", responses=ACTION_PROBLEMS)
async def reassign(api: Api, referral_id: ReferralId, body: ReassignBody, caller: Caller) -> dict[str, Any]:
    fields = {"caseworker": body.caseworker, "reason": body.reason}
    return await _act(api, referral_id, "reassign", caller, api.clock.now(), **fields)


@router.post("/{referral_id}/extend", responses=ACTION_PROBLEMS)
async def extend(api: Api, referral_id: ReferralId, body: ExtendBody, caller: Caller) -> dict[str, Any]:
    return await _act(
        api, referral_id, "extend", caller, api.clock.now(), until=body.until, reason=body.reason
    )


@router.post("/{referral_id}/close", responses=ACTION_PROBLEMS)
async def close(api: Api, referral_id: ReferralId, body: AtBody, caller: Caller) -> dict[str, Any]:
    return await _act(api, referral_id, "close", caller, body.at)
