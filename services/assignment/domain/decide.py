"""The whole assignment decision for one referral: continuity, then team on duty, then selection."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from services.assignment.domain.model import (
    Availability,
    CapacityRules,
    Caseworker,
    Decision,
    Load,
    OnDuty,
    PriorCase,
    Referral,
    WeightRules,
)
from services.assignment.domain.selection import candidates_for, select_caseworker
from services.assignment.domain.workload import is_new_hire


@dataclass(frozen=True)
class Situation:
    """Everything the decision depends on, loaded under the team's lock."""

    referral: Referral
    duty: OnDuty
    match: PriorCase | None
    staff: Sequence[Caseworker]
    loads: Mapping[str, Load]
    availability: Availability
    day: date


def target_team(duty: OnDuty, match: PriorCase | None) -> str:
    """Continuity keeps a child or family with the earlier case's team; otherwise the team on duty."""
    return match.team if match is not None else duty.team


def decide(s: Situation, rules: CapacityRules, weights: WeightRules) -> Decision:
    """Team, caseworker, mentor, reason and a short explanation; raises NoCandidate if nobody can."""
    r = s.referral
    team = target_team(s.duty, s.match)
    members = [w for w in s.staff if w.team == team]
    if s.match is not None and _available(s.match.caseworker, members, s.availability):
        worker = next(w for w in members if w.staff_id == s.match.caseworker)
        mentor = worker.mentor if is_new_hire(worker, s.day, rules) else None
        state = "an open case" if s.match.closed_at is None else "a recently closed case"
        whose = "the same child" if s.match.child_key == r.child_key else "the same family"
        return Decision(
            team, worker.staff_id, mentor, "continuity", f"continuity: {state} about {whose} is theirs"
        )
    weight = weights.weight(r.categories, r.acute_danger, r.interpreter_needed)
    candidates = candidates_for(r, members, s.staff, s.loads, s.availability, s.day, rules)
    choice = select_caseworker(candidates, weight)
    if s.match is not None:
        reason, why = (
            "continuity",
            f"team {team} has the earlier case about this family, its caseworker is away",
        )
    else:
        reason = "override" if s.duty.source == "override" else "rotation"
        why = f"team {team} on duty ({s.duty.source})"
    return Decision(team, choice.staff_id, choice.mentor, reason, f"{why}; {choice.explanation}"[:500])


def _available(staff_id: str, members: Sequence[Caseworker], availability: Availability) -> bool:
    return (
        any(w.staff_id == staff_id for w in members)
        and staff_id not in availability.absent
        and staff_id not in availability.excluded
    )
