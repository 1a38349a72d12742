"""Staff API, referral part: assignment state and the case lifecycle actions (CONTRACTS.md §3)."""

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal

import asyncpg
from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, ConfigDict, Field

from services.assignment import cases
from services.assignment.api_types import Day, Instant
from services.assignment.handlers import AssignmentContext
from shared.clock import Clock
from shared.http import ApiProblem
from shared.staff_auth import ROLES, Principal, require

ReferralId = Annotated[str, Path(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:\-]+$")]


class _Body(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class AtBody(_Body):
    """When the action happened."""

    at: Instant


class ProtectionBody(AtBody):
    """The outcome of the protection assessment."""

    outcome: Literal["no_immediate_need", "immediate_protection"]


class DecisionBody(AtBody):
    """The preliminary assessment's decision."""

    decision: Literal["open_investigation", "no_investigation", "joined_ongoing"]


class ReassignBody(_Body):
    """A manager moves the referral to another caseworker."""

    caseworker: str = Field(min_length=1, max_length=40)
    reason: str = Field(min_length=1, max_length=500)


class ExtendBody(_Body):
    """An extension of the investigation by decision."""

    until: Day
    reason: str = Field(min_length=1, max_length=500)


def referrals_router(
    ctx: AssignmentContext,
    pool: Callable[[], asyncpg.Pool],
    auth: Callable[..., Awaitable[Principal]],
    clock: Clock,
) -> APIRouter:
    """Routes under /v1/referrals."""
    router = APIRouter(prefix="/v1/referrals", tags=["referrals"])
    Caller = Annotated[Principal, Depends(auth)]

    async def act(action: cases.Action) -> dict[str, Any]:
        async with pool().acquire() as conn, conn.transaction():
            await cases.apply(conn, ctx, action, clock.now())
            return cases.referral_state(await cases.load_for_update(conn, action.referral_id))

    @router.get("/{referral_id}")
    async def get_referral(referral_id: ReferralId, caller: Caller) -> dict[str, Any]:
        require(caller, ROLES)
        row = await pool().fetchrow("SELECT * FROM assignments WHERE referral_id = $1", referral_id)
        if row is None:
            raise ApiProblem(404, "Not found", "no assignment for this referral")
        return cases.referral_state(row)

    @router.post("/{referral_id}/acknowledge")
    async def acknowledge(referral_id: ReferralId, caller: Caller) -> dict[str, Any]:
        if not caller.has_any(frozenset({"intake", "manager"})):
            require(caller, frozenset({"caseworker"}))
            row = await pool().fetchrow(
                "SELECT caseworker FROM assignments WHERE referral_id = $1", referral_id
            )
            if row is not None and row["caseworker"] != caller.sub:
                raise ApiProblem(403, "Forbidden", "only the assigned caseworker, intake or a manager")
        return await act(cases.Action(referral_id, "acknowledge", caller, clock.now()))

    @router.post("/{referral_id}/protection-assessment")
    async def protection(referral_id: ReferralId, body: ProtectionBody, caller: Caller) -> dict[str, Any]:
        require(caller, frozenset({"intake", "caseworker", "manager"}))
        return await act(
            cases.Action(referral_id, "protection_assessment", caller, body.at, outcome=body.outcome)
        )

    @router.post("/{referral_id}/decision")
    async def decision(referral_id: ReferralId, body: DecisionBody, caller: Caller) -> dict[str, Any]:
        require(caller, frozenset({"caseworker", "manager"}))
        return await act(cases.Action(referral_id, "decision", caller, body.at, decision=body.decision))

    @router.post("/{referral_id}/reassign")
    async def reassign(referral_id: ReferralId, body: ReassignBody, caller: Caller) -> dict[str, Any]:
        require(caller, frozenset({"manager", "head_of_unit"}))
        action = cases.Action(
            referral_id, "reassign", caller, clock.now(), caseworker=body.caseworker, reason=body.reason
        )
        return await act(action)

    @router.post("/{referral_id}/extend")
    async def extend(referral_id: ReferralId, body: ExtendBody, caller: Caller) -> dict[str, Any]:
        require(caller, frozenset({"manager"}))
        action = cases.Action(
            referral_id, "extend", caller, clock.now(), until=body.until, reason=body.reason
        )
        return await act(action)

    @router.post("/{referral_id}/feedback")
    async def feedback(referral_id: ReferralId, body: AtBody, caller: Caller) -> dict[str, Any]:
        require(caller, frozenset({"caseworker", "manager"}))
        async with pool().acquire() as conn, conn.transaction():
            await cases.record_feedback(conn, referral_id, body.at, clock.now())
            return cases.referral_state(await cases.load_for_update(conn, referral_id))

    @router.post("/{referral_id}/close")
    async def close(referral_id: ReferralId, body: AtBody, caller: Caller) -> dict[str, Any]:
        require(caller, frozenset({"caseworker", "manager"}))
        return await act(cases.Action(referral_id, "close", caller, body.at))

    return router
