"""Choosing a caseworker: continuity first, then the most spare weighted capacity in the team.

Order of the rules (issue 4): (1) an open or recently closed case about the same child or
family keeps its team, and its caseworker if at work — always for the same child's open case,
otherwise only while the case fits their spare capacity or nobody else in the team has room
(see `decide`); (2) candidates are team members employed that day, not absent, not excluded,
without an open overload flag (issue 22) and allowed the referral's kind; (3) the one with most
spare capacity relative to their capacity (a relief after a flag scales it); (4) ties go to
whoever was assigned least recently.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

from services.assignment.domain.model import (
    Availability,
    Candidate,
    CapacityRules,
    Caseworker,
    Choice,
    Hundredths,
    Load,
    PriorCase,
    Referral,
    as_cases,
)
from services.assignment.domain.workload import (
    active_mentors,
    allowed_for_new_hire,
    capacity,
    employed_on,
    is_new_hire,
)

_NEVER = datetime.min.replace(tzinfo=UTC)


class NoCandidate(Exception):
    """Nobody in the team can take the referral."""


def continuity_candidates(
    referral: Referral, prior: Sequence[PriorCase], now: datetime, window_days: int
) -> list[PriorCase]:
    """The earlier cases `continuity_match` chooses among: the child's or family's cases open at
    `now`, or closed within the continuity window.

    Open means open at `now`: a case whose `closed_at` lies after `now` (a replayed or late
    referral, or the simulation's planned closing) was still open then and is returned as open.
    """
    related = [
        replace(p, closed_at=None) if p.closed_at is not None and p.closed_at > now else p
        for p in prior
        if referral.child_key == p.child_key or referral.family_key == p.family_key
    ]
    window = timedelta(days=window_days)
    return [p for p in related if p.closed_at is None or now - p.closed_at <= window]


def continuity_match(
    referral: Referral, prior: Sequence[PriorCase], now: datetime, window_days: int
) -> PriorCase | None:
    """The earlier case this referral should follow: an open one first (the child's own before a
    sibling's), else the latest closed within the window (`continuity_candidates`)."""
    candidates = continuity_candidates(referral, prior, now, window_days)
    open_cases = [p for p in candidates if p.closed_at is None]
    if open_cases:
        same_child = [p for p in open_cases if p.child_key == referral.child_key]
        return (same_child or open_cases)[0]
    return max(candidates, key=lambda p: p.closed_at or _NEVER, default=None)


def candidates_for(
    referral: Referral,
    team: Sequence[Caseworker],
    everyone: Sequence[Caseworker],
    loads: Mapping[str, Load],
    availability: Availability,
    day: date,
    rules: CapacityRules,
) -> list[Candidate]:
    """Members who may take this referral today, with load and capacity (a relief after an
    overload flag scales the capacity)."""
    mentors = active_mentors(everyone, day, rules)
    found = []
    for w in team:
        load = loads.get(w.staff_id, Load())
        if (
            not employed_on(w, day)
            or w.staff_id in availability.absent
            or w.staff_id in availability.excluded
            or w.staff_id in availability.paused
            or not allowed_for_new_hire(w, referral, day, rules)
            or (w.staff_id in availability.returning and load.assigned_today >= rules.return_max_per_day)
        ):
            continue
        mentor = w.mentor if is_new_hire(w, day, rules) else None
        cap = relieved_capacity(capacity(w, day, rules, mentors), w.staff_id, availability)
        found.append(
            Candidate(w.staff_id, load.open_cases, load.last_assigned_at, mentor, load.weighted, cap)
        )
    return found


def relieved_capacity(full: Hundredths, staff_id: str, availability: Availability) -> Hundredths:
    """Capacity under a running relief after an overload flag: the full one times its factor."""
    return round(full * availability.capacity_factors.get(staff_id, 1.0))


def select_caseworker(candidates: Sequence[Candidate], weight: Hundredths = 100) -> Choice:
    """Most spare capacity relative to capacity, preferring those the case fits; then longest wait.

    Anyone the case fits without exceeding their capacity is preferred over anyone it does not,
    so nobody is pushed over capacity while a teammate still has room.
    """
    if not candidates:
        raise NoCandidate("no available caseworker in the team")

    def key(c: Candidate) -> tuple[bool, float, datetime, str]:
        fits = c.spare >= weight
        usage = round(c.weighted_load / c.capacity, 6) if c.capacity > 0 else float("inf")
        return (not fits, usage, c.last_assigned_at or _NEVER, c.staff_id)

    best = min(candidates, key=key)
    others = [c for c in candidates if c is not best]
    load, cap = as_cases(best.weighted_load), as_cases(best.capacity)
    explanation = f"most spare capacity in the team: load {load:.1f} of {cap:.1f}" + (
        f"; {len(others)} others at {_usage_range(others)}" if others else "; the only one available"
    )
    if best.mentor:
        explanation += f"; new hire, mentor {best.mentor}"
    return Choice(best.staff_id, best.mentor, explanation)


def _usage_range(others: Sequence[Candidate]) -> str:
    usages = [c.weighted_load / c.capacity for c in others if c.capacity > 0]
    if not usages:
        return "no capacity"
    return f"{min(usages):.0%}-{max(usages):.0%} of capacity"
