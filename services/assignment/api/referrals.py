"""Staff API, referral part: assignment state and the case lifecycle actions (CONTRACTS.md §3)."""

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
from services.assignment.domain.cases import Actor, CaseAction
from services.assignment.handlers import cases
from shared.staff_auth import ROLES, Principal, require

router = APIRouter(prefix="/v1/referrals", tags=["referrals"])


def _actor(caller: Principal) -> Actor:
    return Actor(caller.sub, caller.roles)


async def _act(
    api: Api, referral_id: str, name: str, caller: Principal, at: datetime, **fields: Any
) -> dict[str, Any]:
    action = CaseAction(name, _actor(caller), at, **fields)
    case = await cases.act_on_case(api.unit_of_work(), api.unit, referral_id, action, api.clock.now())
    return referral_state(case)


@router.get("/{referral_id}")
async def get_referral(api: Api, referral_id: ReferralId, caller: Caller) -> dict[str, Any]:
    require(caller, ROLES)
    return referral_state(await cases.case_state(api.unit_of_work(), referral_id))


@router.post("/{referral_id}/acknowledge")
async def acknowledge(api: Api, referral_id: ReferralId, caller: Caller) -> dict[str, Any]:
    # A caseworker may acknowledge only their own case (the domain checks whose it is).
    require(caller, frozenset({"intake", "manager", "caseworker"}))
    return await _act(api, referral_id, "acknowledge", caller, api.clock.now())


@router.post("/{referral_id}/protection-assessment")
async def protection(
    api: Api, referral_id: ReferralId, body: ProtectionBody, caller: Caller
) -> dict[str, Any]:
    require(caller, frozenset({"intake", "caseworker", "manager"}))
    return await _act(api, referral_id, "protection_assessment", caller, body.at, outcome=body.outcome)


@router.post("/{referral_id}/decision")
async def decision(api: Api, referral_id: ReferralId, body: DecisionBody, caller: Caller) -> dict[str, Any]:
    require(caller, frozenset({"caseworker", "manager"}))
    return await _act(api, referral_id, "decision", caller, body.at, decision=body.decision)


@router.post("/{referral_id}/reassign")
async def reassign(api: Api, referral_id: ReferralId, body: ReassignBody, caller: Caller) -> dict[str, Any]:
    require(caller, frozenset({"manager", "head_of_unit"}))
    fields = {"caseworker": body.caseworker, "reason": body.reason}
    return await _act(api, referral_id, "reassign", caller, api.clock.now(), **fields)


@router.post("/{referral_id}/extend")
async def extend(api: Api, referral_id: ReferralId, body: ExtendBody, caller: Caller) -> dict[str, Any]:
    require(caller, frozenset({"manager"}))
    return await _act(
        api, referral_id, "extend", caller, api.clock.now(), until=body.until, reason=body.reason
    )


@router.post("/{referral_id}/feedback")
async def feedback(api: Api, referral_id: ReferralId, body: AtBody, caller: Caller) -> dict[str, Any]:
    require(caller, frozenset({"caseworker", "manager"}))
    now = api.clock.now()
    return referral_state(await cases.record_feedback(api.unit_of_work(), referral_id, body.at, now))


@router.post("/{referral_id}/close")
async def close(api: Api, referral_id: ReferralId, body: AtBody, caller: Caller) -> dict[str, Any]:
    require(caller, frozenset({"caseworker", "manager"}))
    return await _act(api, referral_id, "close", caller, body.at)
