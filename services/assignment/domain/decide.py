"""The whole assignment decision for one referral: continuity, then team on duty, then selection.

Continuity (a domain decision, issue 4): a referral with an earlier case about the same child or
family (open, or closed within `continuity_days`) goes to that case's team. Inside the team:

- **Same child, open case**: it always goes to that case's caseworker when they are at work (not
  absent, not excluded), whatever their load. It joins the ongoing work; splitting one child's
  case between two caseworkers is worse than an uneven load.
- **Anything else** (an open case about a sibling or another child of the family, or a case
  closed within the window): it goes to that caseworker when they are at work and either the new
  case fits their spare capacity (spare >= weight) or nobody else in the team who may take it has
  room for it. Otherwise it is chosen by spare capacity like any referral, still in that team and
  with reason "continuity", so nobody is pushed over capacity while a teammate has room.
- When the caseworker is away, the team's selection chooses, with reason "continuity".
- A caseworker with an open overload flag (domain/overload.py) still gets the same child's open
  case, and nothing else: otherwise the team's selection chooses, without them.

When nobody in the team can take the referral (everyone absent, excluded or restricted), the
team's manager gets it to distribute (`decide_or_manager`): the team continuity chose, else the
team on duty.

Explanations name teams and staff ids, never anything about the child or family.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from services.assignment.domain.errors import UnknownTeam
from services.assignment.domain.model import (
    Availability,
    Candidate,
    CapacityRules,
    Caseworker,
    Decision,
    Hundredths,
    Load,
    OnDuty,
    PriorCase,
    Referral,
    WeightRules,
    as_cases,
)
from services.assignment.domain.selection import (
    NoCandidate,
    candidates_for,
    relieved_capacity,
    select_caseworker,
)
from services.assignment.domain.unit import Unit
from services.assignment.domain.workload import active_mentors, capacity, employed_on, is_new_hire


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
    weight = weights.weight(r.categories, r.acute_danger, r.interpreter_needed)
    candidates = candidates_for(r, members, s.staff, s.loads, s.availability, s.day, rules)
    why = ""
    if s.match is not None:
        kept = _continuity(s, s.match, members, candidates, weight, rules)
        if isinstance(kept, Decision):
            return kept
        why = kept
    choice = select_caseworker(candidates, weight)
    if s.match is not None:
        reason = "continuity"
    else:
        reason = "override" if s.duty.source == "override" else "rotation"
        why = f"team {team} on duty ({s.duty.source})"
    return Decision(team, choice.staff_id, choice.mentor, reason, f"{why}; {choice.explanation}"[:500])


def _continuity(
    s: Situation,
    match: PriorCase,
    members: Sequence[Caseworker],
    candidates: Sequence[Candidate],
    weight: Hundredths,
    rules: CapacityRules,
) -> Decision | str:
    """The continuity decision, or why the team's selection chooses instead (for the explanation)."""
    r = s.referral
    team, staff_id = match.team, match.caseworker
    earlier = "the same child's open case" if match.child_key == r.child_key else "the family's earlier case"
    if match.closed_at is not None and match.child_key == r.child_key:
        earlier = "the same child's earlier case"
    if not _available(staff_id, members, s.availability, s.day):
        return f"team {team} has {earlier}; its caseworker is away"
    same_child_open = match.closed_at is None and match.child_key == r.child_key
    if staff_id in s.availability.paused and not same_child_open:
        return f"team {team} has {earlier}; its caseworker has flagged overload"
    worker = next(w for w in members if w.staff_id == staff_id)
    load = s.loads.get(staff_id, Load()).weighted
    full = capacity(worker, s.day, rules, active_mentors(s.staff, s.day, rules))
    cap = relieved_capacity(full, staff_id, s.availability)
    fits = cap - load >= weight
    room_elsewhere = any(c.spare >= weight for c in candidates if c.staff_id != staff_id)
    if not (same_child_open or fits or not room_elsewhere):
        return f"team {team} has {earlier}; its caseworker {staff_id} is at capacity"
    state = "an open case" if match.closed_at is None else "a recently closed case"
    whose = "the same child" if match.child_key == r.child_key else "the same family"
    why = f"continuity: {state} about {whose} is theirs; load {as_cases(load):.1f} of {as_cases(cap):.1f}"
    if not (same_child_open or fits):
        why += "; nobody else in the team has room"
    mentor = worker.mentor if is_new_hire(worker, s.day, rules) else None
    return Decision(team, staff_id, mentor, "continuity", why[:500])


def _available(staff_id: str, members: Sequence[Caseworker], availability: Availability, day: date) -> bool:
    return (
        any(w.staff_id == staff_id and employed_on(w, day) for w in members)
        and staff_id not in availability.absent
        and staff_id not in availability.excluded
    )


def decide_or_manager(s: Situation, unit: Unit) -> Decision:
    """`decide`; when nobody in the team can take the referral, its manager, who distributes it.

    The team is the one the referral went to: the earlier case's team under continuity, else
    the team on duty. A team the unit does not have (a rotation or an earlier case naming a
    team since removed from the unit file) raises UnknownTeam: nobody can take that referral.
    """
    try:
        return decide(s, unit.rules, unit.weights)
    except NoCandidate:
        team_id = target_team(s.duty, s.match)
        team = unit.team(team_id)
        if team is None:
            raise UnknownTeam(team_id) from None
        why = f"nobody in team {team_id} can take it today (absent, excluded, restricted): the manager"
        reason = "override" if s.duty.source == "override" else "rotation"
        return Decision(team_id, team.manager, None, reason, why)
