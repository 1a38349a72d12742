"""Who may read a referral's dossier: by relation to it, not by role alone (issue 19).

A relation counts only for someone who holds the role that goes with it, and only while the
referral's state allows it:

| Relation | Role | Holds when | Before assignment |
|---|---|---|---|
| assigned | caseworker | the referral's caseworker | - |
| mentor | caseworker | the mentor recorded with the assignment | - |
| team_manager | manager | the manager of the referral's team in the unit file | - |
| head_of_unit | head_of_unit | the unit file's head of unit | yes |
| intake | intake | an intake group member, until the referral is registered and protection-assessed | yes |
| break_glass | any staff role | an unexpired grant of their own for this referral | yes |

Anyone else is refused. The intake group's need to know ends when its work is done: the referral
is in the system of record and its protection assessment is made. A break-the-glass grant is the
emergency door, always logged and alerted, so it opens whatever the referral's state.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from services.intake.domain.access_log import AccessRelation

STAFF_ROLES = frozenset({"caseworker", "intake", "manager", "head_of_unit"})
# Roles whose relation a newer assignment (or reassignment) can give: when such a reader is
# refused, the projection may be behind assignment and a fresher state is worth asking for.
GAINED_BY_ASSIGNMENT = frozenset({"caseworker", "manager"})


@dataclass(frozen=True)
class Reader:
    """Someone signed in: a staff id and the roles their token carries."""

    staff_id: str
    roles: frozenset[str]


@dataclass(frozen=True)
class Assignment:
    """Who a referral belongs to now, as intake last learned it from assignment."""

    team: str
    caseworker: str
    mentor: str | None


@dataclass(frozen=True)
class Standing:
    """The referral's state as far as reading it goes."""

    assignment: Assignment | None  # None: not assigned (as far as intake knows)
    protection_assessed: bool
    registered: bool
    grant_until: datetime | None  # the reader's latest break-the-glass grant for it, if any


@dataclass(frozen=True)
class Organisation:
    """The unit's people in the positions that grant relations (from the unit file)."""

    managers: Mapping[str, str]  # team id -> its manager's staff id
    head_of_unit: str
    intake_group: frozenset[str]


Rule = Callable[[Reader, Standing, Organisation, datetime], bool]


def _assigned(r: Reader, s: Standing, o: Organisation, now: datetime) -> bool:
    return s.assignment is not None and s.assignment.caseworker == r.staff_id


def _mentor(r: Reader, s: Standing, o: Organisation, now: datetime) -> bool:
    return s.assignment is not None and s.assignment.mentor == r.staff_id


def _team_manager(r: Reader, s: Standing, o: Organisation, now: datetime) -> bool:
    return s.assignment is not None and o.managers.get(s.assignment.team) == r.staff_id


def _head_of_unit(r: Reader, s: Standing, o: Organisation, now: datetime) -> bool:
    return r.staff_id == o.head_of_unit


def _intake(r: Reader, s: Standing, o: Organisation, now: datetime) -> bool:
    return r.staff_id in o.intake_group and not (s.registered and s.protection_assessed)


def _break_glass(r: Reader, s: Standing, o: Organisation, now: datetime) -> bool:
    return s.grant_until is not None and now < s.grant_until


# In order: the first relation that holds is the one logged.
RULES: tuple[tuple[AccessRelation, frozenset[str], Rule], ...] = (
    (AccessRelation.ASSIGNED, frozenset({"caseworker"}), _assigned),
    (AccessRelation.MENTOR, frozenset({"caseworker"}), _mentor),
    (AccessRelation.TEAM_MANAGER, frozenset({"manager"}), _team_manager),
    (AccessRelation.HEAD_OF_UNIT, frozenset({"head_of_unit"}), _head_of_unit),
    (AccessRelation.INTAKE, frozenset({"intake"}), _intake),
    (AccessRelation.BREAK_GLASS, STAFF_ROLES, _break_glass),
)


def dossier_relation(reader: Reader, standing: Standing, org: Organisation, now: datetime) -> AccessRelation:
    """The relation that lets `reader` read the dossier, or `AccessRelation.NONE` (refused)."""
    for relation, roles, holds in RULES:
        if reader.roles & roles and holds(reader, standing, org, now):
            return relation
    return AccessRelation.NONE


def may_register(reader: Reader, standing: Standing, org: Organisation) -> bool:
    """Who records the referral in the system of record: a member of the intake group, the
    referral's team manager or the head of unit, each with their role."""
    team = standing.assignment.team if standing.assignment is not None else None
    holds = {
        "intake": reader.staff_id in org.intake_group,
        "head_of_unit": reader.staff_id == org.head_of_unit,
        "manager": team is not None and org.managers.get(team) == reader.staff_id,
    }
    return any(yes and role in reader.roles for role, yes in holds.items())


def worth_a_fresher_look(reader: Reader, relation: AccessRelation) -> bool:
    """Whether a refusal could be turned by assignment's newer state than the projection's (a
    caseworker who clicked the assignment email before intake applied the event)."""
    return relation is AccessRelation.NONE and bool(reader.roles & GAINED_BY_ASSIGNMENT)
