"""Reassigning named referrals away from a caseworker who flagged overload (issue 22).

The manager's answer `reassign` names open referrals of the flagged person; each goes to a
teammate chosen by the usual selection (most spare capacity, then longest wait), never to the
flagged person, nor to anyone away, excluded, flagged themself or not yet cleared for the kind.
What a referral is about is not on the case row, so a new hire in their restricted months is
treated as not cleared for any of them. Each move adds the case to the chosen load before the
next is chosen, as a batch of assignments does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import date

from services.assignment.domain.cases import Case
from services.assignment.domain.model import Availability, Load, Referral
from services.assignment.domain.overload import InvalidOverloadResponse, OverloadFlag
from services.assignment.domain.selection import NoCandidate, candidates_for, select_caseworker
from services.assignment.domain.unit import Unit


def relief_moves(
    flag: OverloadFlag,
    cases: Sequence[Case],
    unit: Unit,
    loads: Mapping[str, Load],
    availability: Availability,
    day: date,
    by: str,
) -> list[Case]:
    """Each case after its move to a teammate of the flagged person (reason `manual`); refused
    (field `referral_ids`) when nobody else in the team can take one."""
    members = [w for w in unit.staff if w.team == flag.team]
    away = replace(availability, excluded=availability.excluded | {flag.staff_id})
    current = dict(loads)
    moved = []
    for case in cases:
        referral = Referral(
            case.referral_id, "", case.family_key, tuple(sorted(unit.rules.restricted_categories)),
            case.acute_danger,
        )  # fmt: skip
        found = candidates_for(referral, members, unit.staff, current, away, day, unit.rules)
        try:
            choice = select_caseworker(found, case.weight)
        except NoCandidate:
            raise InvalidOverloadResponse(
                "referral_ids", f"nobody else in team {flag.team} can take {case.referral_id} today"
            ) from None
        worker = unit.caseworker(choice.staff_id)
        assert worker is not None  # chosen among the unit's caseworkers
        before = current.get(choice.staff_id, Load())
        current[choice.staff_id] = replace(
            before, weighted=before.weighted + case.weight, open_cases=before.open_cases + 1
        )
        why = f"relief after an overload flag: reassigned by {by} from {case.caseworker}"
        after = replace(case, team=flag.team, caseworker=choice.staff_id, mentor=choice.mentor)
        moved.append(replace(after, reason="manual", explanation=f"{why}; {choice.explanation}"[:500]))
    return moved
