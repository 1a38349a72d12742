"""The retention job (`referral-router retention [--dry-run]`, and daily in the service): weigh
every referral not yet erased against the unit's plan, and erase the received copies due by
destroying their submissions' data keys, with a retention log row per referral; the legal holds
(set and lifted by a manager or the head of unit).

A dry run weighs exactly as the real run does, in the same kind of unit of work, and commits
nothing: run at the same instant it lists exactly what the real run erases.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from services.intake.domain.personal_numbers import InvalidPersonalNumber, normalise_personal_number
from services.intake.domain.retention import (
    Decision,
    HoldScope,
    Keep,
    RetentionCase,
    RetentionPlan,
    day_of_birth,
    decide_all,
    in_research_sample,
    to_erase,
)
from services.intake.handlers.sealing import open_row
from services.intake.ports import Erasure, Hold, IntakeUnitOfWork, RetentionFacts
from shared.clock import Clock
from shared.crypto import Cipher

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Retaining:
    """What the retention job needs; `main.py` builds it."""

    unit_of_work: Callable[[], IntakeUnitOfWork]
    plan: RetentionPlan
    cipher: Cipher
    clock: Clock


@dataclass(frozen=True)
class RetentionReport:
    """What a run erased (or, dry, would erase) and how many referrals it kept, by reason."""

    run_id: str
    at: datetime
    dry_run: bool
    erased: tuple[Erasure, ...]
    kept: dict[Keep, int]


async def run_retention(deps: Retaining, dry_run: bool) -> RetentionReport:
    """Weigh every referral not yet erased; unless `dry_run`, erase the due ones in one unit of
    work (keys destroyed, log written, committed together)."""
    now, run_id = deps.clock.now(), ("dry-" if dry_run else "") + uuid.uuid4().hex[:12]
    async with deps.unit_of_work() as uow:
        facts = await uow.retention.weigh()
        decisions = await _decisions(uow, deps, facts, now)
        by_id = {f.referral_id: f for f in facts}
        erasures = tuple(_erasure(d, by_id[d.referral_id], now, run_id) for d in to_erase(decisions))
        if not dry_run:
            await uow.retention.erase(erasures, now)
            await uow.commit()
    kept = Counter(d.kept for d in decisions if d.kept is not None)
    report = RetentionReport(run_id, now, dry_run, erasures, dict(kept))
    log.info(
        "retention run",
        extra={
            "run_id": run_id,
            "dry_run": dry_run,
            "erased": len(erasures),
            "kept": len(decisions) - len(erasures),
        },
    )
    return report


async def _decisions(
    uow: IntakeUnitOfWork, deps: Retaining, facts: Sequence[RetentionFacts], now: datetime
) -> list[Decision]:
    """The plan's verdicts; the research sample is looked up (by decrypting the child's number or
    birth date) only for referrals that would otherwise be erased."""
    cases = [
        RetentionCase(f.referral_id, f.submission_id, f.registered_at, f.legal_hold, False) for f in facts
    ]
    first = decide_all(cases, deps.plan, now)
    if not deps.plan.research_sample_days:
        return first
    due = {d.referral_id for d in first if d.erase}
    sample = {f.referral_id for f in facts if f.referral_id in due and await _in_sample(uow, deps, f, now)}
    cases = [
        RetentionCase(c.referral_id, c.submission_id, c.registered_at, c.legal_hold, c.referral_id in sample)
        for c in cases
    ]
    return decide_all(cases, deps.plan, now)


async def _in_sample(uow: IntakeUnitOfWork, deps: Retaining, facts: RetentionFacts, now: datetime) -> bool:
    details = await uow.submissions.details(facts.submission_id)
    if details is None:
        return False
    key = await uow.data_keys.get(facts.submission_id)
    body = json.loads(
        open_row(deps.cipher, key, details.key_id, details.ciphertext, facts.submission_id.encode())
    )
    children: list[Any] = body.get("children") or []
    child = children[facts.child_index] if facts.child_index < len(children) else {}
    return in_research_sample(_day_of_birth(child, now.date()), deps.plan)


def _day_of_birth(child: dict[str, Any], today: date) -> int | None:
    number = None
    if child.get("personal_number"):
        try:
            number = normalise_personal_number(str(child["personal_number"]), today)
        except InvalidPersonalNumber:
            number = None
    born = child.get("birth_date")
    return day_of_birth(number, date.fromisoformat(born) if isinstance(born, str) else None)


def _erasure(decision: Decision, facts: RetentionFacts, now: datetime, run_id: str) -> Erasure:
    assert decision.rule is not None  # an erasing decision names its rule
    return Erasure(decision.referral_id, decision.submission_id, facts.child_key, now, decision.rule, run_id)


class HoldRefused(Exception):
    """Only a manager or the head of unit sets or lifts a legal hold (or the referral is unknown)."""


HOLDERS = frozenset({"manager", "head_of_unit"})


@dataclass(frozen=True)
class HoldRequest:
    """Who asks to set or lift which hold, through which referral."""

    staff: str
    roles: frozenset[str]
    referral_id: str
    scope: HoldScope


async def set_hold(
    unit_of_work: Callable[[], IntakeUnitOfWork], clock: Clock, request: HoldRequest, reason: str
) -> Hold:
    """Set a legal hold on the referral or its child (the active one if set already); HoldRefused."""
    if not request.roles & HOLDERS:
        raise HoldRefused(request.referral_id)
    now = clock.now()
    async with unit_of_work() as uow:
        tracked = await uow.dossiers.find(request.referral_id, request.staff, now)
        if tracked is None:
            raise HoldRefused(request.referral_id)
        hold = Hold(
            request.scope, request.referral_id, tracked.referral.child_key, reason, request.staff, now
        )
        stored = await uow.retention.set_hold(hold)
        await uow.commit()
    log.info("legal hold set", extra={"scope": request.scope.value, "by": request.staff})
    return stored


async def lift_hold(
    unit_of_work: Callable[[], IntakeUnitOfWork], clock: Clock, request: HoldRequest
) -> Hold | None:
    """Lift the active hold of that scope set through the referral; None when none was active."""
    if not request.roles & HOLDERS:
        raise HoldRefused(request.referral_id)
    async with unit_of_work() as uow:
        lifted = await uow.retention.lift_hold(request.scope, request.referral_id, request.staff, clock.now())
        await uow.commit()
    log.info(
        "legal hold lifted",
        extra={"scope": request.scope.value, "by": request.staff, "found": lifted is not None},
    )
    return lifted
