"""Who may act on a referral: by relation to it, not by role alone (issue 24).

A role says what kind of work someone does; the relation says whether this referral is theirs
to act on. Each action is allowed to a set of relations, and a relation counts only for someone
who holds the role that goes with it:

| Action | assigned caseworker | mentor | team manager | head of unit | intake group |
|---|---|---|---|---|---|
| acknowledge | yes | yes | yes | yes | yes |
| protection assessment | yes | yes | yes | yes | yes |
| decision (preliminary assessment) | yes | yes | yes | yes | no |
| close | yes | yes | yes | yes | no |
| extend the investigation | no | no | yes | yes | no |
| reassign | no | no | yes | yes | no |
| safety flag (set or clear) | yes | no | yes | yes | yes |

- *assigned caseworker*: role `caseworker`, and the referral's caseworker;
- *mentor*: role `caseworker`, and the mentor recorded with the assignment (a new hire's);
- *team manager*: role `manager`, and the manager of the referral's team in the unit file;
- *head of unit*: role `head_of_unit`, and the unit file's head of unit;
- *intake group*: role `intake`, and a member of the unit file's intake group.

A manager reassigns within their own team; moving a referral to another team's caseworker is
the head of unit's decision. Anything not in the table is refused. Telling a reporter the
outcome is not an action here: intake records it (its own relations) and assignment's clock
follows the event.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from services.assignment.domain.errors import NotPermitted


class Action(StrEnum):
    """What someone does to a referral."""

    ACKNOWLEDGE = "acknowledge"
    PROTECTION_ASSESSMENT = "protection_assessment"
    DECISION = "decision"
    CLOSE = "close"
    EXTEND = "extend"
    REASSIGN = "reassign"
    SAFETY_FLAG = "safety_flag"


class Relation(StrEnum):
    """How someone stands to a referral."""

    ASSIGNED = "assigned"
    MENTOR = "mentor"
    TEAM_MANAGER = "team_manager"
    HEAD_OF_UNIT = "head_of_unit"
    INTAKE = "intake"


_CASEWORK = frozenset(Relation) - {Relation.INTAKE}
RULES: Mapping[Action, frozenset[Relation]] = {
    Action.ACKNOWLEDGE: frozenset(Relation),
    Action.PROTECTION_ASSESSMENT: frozenset(Relation),
    Action.DECISION: _CASEWORK,
    Action.CLOSE: _CASEWORK,
    Action.EXTEND: frozenset({Relation.TEAM_MANAGER, Relation.HEAD_OF_UNIT}),
    Action.REASSIGN: frozenset({Relation.TEAM_MANAGER, Relation.HEAD_OF_UNIT}),
    Action.SAFETY_FLAG: frozenset(Relation) - {Relation.MENTOR},
}
# The role a relation counts for.
ROLE_OF: Mapping[Relation, str] = {
    Relation.ASSIGNED: "caseworker",
    Relation.MENTOR: "caseworker",
    Relation.TEAM_MANAGER: "manager",
    Relation.HEAD_OF_UNIT: "head_of_unit",
    Relation.INTAKE: "intake",
}


@dataclass(frozen=True)
class Actor:
    """Someone signed in: a staff id and the roles their token carries."""

    staff_id: str
    roles: frozenset[str]


@dataclass(frozen=True)
class Parties:
    """Who a referral belongs to now."""

    team: str
    caseworker: str
    mentor: str | None


@dataclass(frozen=True)
class Organisation:
    """The unit's people in the positions that grant relations (from the unit file)."""

    managers: Mapping[str, str]  # team id -> its manager's staff id
    head_of_unit: str
    intake_group: frozenset[str]
    teams: Mapping[str, str]  # caseworker's staff id -> team id


def relations(actor: Actor, parties: Parties, org: Organisation) -> frozenset[Relation]:
    """Every relation the actor has to the referral, each only with its role."""
    held = {
        Relation.ASSIGNED: actor.staff_id == parties.caseworker,
        Relation.MENTOR: parties.mentor is not None and actor.staff_id == parties.mentor,
        Relation.TEAM_MANAGER: org.managers.get(parties.team) == actor.staff_id,
        Relation.HEAD_OF_UNIT: actor.staff_id == org.head_of_unit,
        Relation.INTAKE: actor.staff_id in org.intake_group,
    }
    return frozenset(r for r, yes in held.items() if yes and ROLE_OF[r] in actor.roles)


def authorize(
    actor: Actor, action: Action, parties: Parties, org: Organisation, *, to_caseworker: str | None = None
) -> Relation:
    """The relation that allows `actor` to do `action` on the referral; NotPermitted otherwise.

    `to_caseworker` is a reassignment's target: a team manager may only move the referral within
    their own team.
    """
    allowed = relations(actor, parties, org) & RULES[action]
    across_teams = to_caseworker is None or org.teams.get(to_caseworker) != parties.team
    if action is Action.REASSIGN and Relation.HEAD_OF_UNIT not in allowed and across_teams:
        allowed = frozenset()
    if not allowed:
        who = ", ".join(sorted(RULES[action]))
        raise NotPermitted(action, who + (" (within the team)" if action is Action.REASSIGN else ""))
    return min(allowed)  # a stable choice when several relations allow it
