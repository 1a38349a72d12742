"""Retention and erasure by the unit's document management plan (DOMAIN.md §6, issue 23).

Intake keeps a working copy beside the case system of record. The plan decides, per referral,
whether the received copy (the personal details and documents) may be erased now:

- never automatically before the referral is registered in the system of record;
- a legal hold (on the referral, or on the child, whatever referral names them) keeps it;
- the research sample (people born on the days the archive authority chose, e.g. the 5th, 15th
  and 25th) keeps it where configured;
- otherwise it is erased `erase_registered_after_days` days after registration.

The details of siblings named in one report are one received copy under one data key, so a
submission is erased only when every referral in it may be: the others keep it (`sibling_kept`).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

RULE_AFTER_REGISTRATION = "received_copy_after_registration"


class Keep(enum.StrEnum):
    """Why a referral's received copy is kept for now."""

    NOT_REGISTERED = "not_registered"
    NOT_DUE = "not_due"
    LEGAL_HOLD = "legal_hold"
    RESEARCH_SAMPLE = "research_sample"
    SIBLING_KEPT = "sibling_kept"
    NO_RULE = "no_rule"


class HoldScope(enum.StrEnum):
    """What a legal hold covers: one referral, or every referral about the same child."""

    REFERRAL = "referral"
    CHILD = "child"


@dataclass(frozen=True)
class RetentionPlan:
    """The unit's document management plan, as far as this working copy goes."""

    erase_registered_after_days: int | None  # None: nothing is erased automatically
    research_sample_days: frozenset[int] = frozenset()  # days of birth held for research

    @property
    def rule(self) -> str:
        """The rule's name as the retention log records it, e.g. `received_copy_after_registration:90d`."""
        return f"{RULE_AFTER_REGISTRATION}:{self.erase_registered_after_days}d"


@dataclass(frozen=True)
class RetentionCase:
    """One referral not yet erased, as the plan sees it: facts, no content."""

    referral_id: str
    submission_id: str
    registered_at: datetime | None
    legal_hold: bool
    research_sample: bool


@dataclass(frozen=True)
class Decision:
    """The plan's verdict on one referral: erase by `rule`, or keep for `kept` (a Keep)."""

    referral_id: str
    submission_id: str
    erase: bool
    rule: str | None = None
    kept: Keep | None = None


def decide(case: RetentionCase, plan: RetentionPlan, now: datetime) -> Decision:
    """The verdict on one referral alone (siblings are weighed by `decide_all`)."""
    keep = _reason_to_keep(case, plan, now)
    if keep is not None:
        return Decision(case.referral_id, case.submission_id, erase=False, kept=keep)
    return Decision(case.referral_id, case.submission_id, erase=True, rule=plan.rule)


def _reason_to_keep(case: RetentionCase, plan: RetentionPlan, now: datetime) -> Keep | None:
    if case.registered_at is None:
        return Keep.NOT_REGISTERED
    if case.legal_hold:
        return Keep.LEGAL_HOLD
    if case.research_sample:
        return Keep.RESEARCH_SAMPLE
    if plan.erase_registered_after_days is None:
        return Keep.NO_RULE
    if now < case.registered_at + timedelta(days=plan.erase_registered_after_days):
        return Keep.NOT_DUE
    return None


def decide_all(cases: Iterable[RetentionCase], plan: RetentionPlan, now: datetime) -> list[Decision]:
    """Every referral's verdict, in referral id order; a referral whose sibling in the same
    submission is kept is kept too (`sibling_kept`): their received copy is one."""
    decisions = [decide(c, plan, now) for c in sorted(cases, key=lambda c: c.referral_id)]
    kept_submissions = {d.submission_id for d in decisions if not d.erase}
    return [
        Decision(d.referral_id, d.submission_id, erase=False, kept=Keep.SIBLING_KEPT)
        if d.erase and d.submission_id in kept_submissions
        else d
        for d in decisions
    ]


def to_erase(decisions: Sequence[Decision]) -> list[Decision]:
    """The decisions that erase, in referral id order."""
    return [d for d in decisions if d.erase]


def day_of_birth(personal_number: str | None, birth_date: date | None) -> int | None:
    """The day of the month a person was born on: from a 12-digit personal identity number (a
    coordination number's day less 60), else from a birth date; None when neither is known."""
    if personal_number is not None and len(personal_number) == 12 and personal_number.isdigit():
        day = int(personal_number[6:8])
        return day - 60 if day > 60 else day
    return birth_date.day if birth_date is not None else None


def in_research_sample(day: int | None, plan: RetentionPlan) -> bool:
    """Whether someone born on `day` belongs to the research sample the plan holds."""
    return day is not None and day in plan.research_sample_days
