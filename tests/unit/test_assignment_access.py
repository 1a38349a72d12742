"""Who may act on a referral (services/assignment/domain/access.py): every cell of the table."""

from __future__ import annotations

import pytest

from services.assignment.domain.access import (
    RULES,
    Action,
    Actor,
    Organisation,
    Parties,
    Relation,
    authorize,
    relations,
)
from services.assignment.domain.errors import NotPermitted

ORG = Organisation(
    managers={"team-a": "mgr-a", "team-b": "mgr-b"},
    head_of_unit="head",
    intake_group=frozenset({"in-1"}),
    teams={"cw-a1": "team-a", "cw-a2": "team-a", "cw-a6": "team-a", "cw-b1": "team-b"},
)
CASE = Parties(team="team-a", caseworker="cw-a6", mentor="cw-a1")
# One person per relation, holding the role that goes with it.
HOLDERS = {
    Relation.ASSIGNED: Actor("cw-a6", frozenset({"caseworker"})),
    Relation.MENTOR: Actor("cw-a1", frozenset({"caseworker"})),
    Relation.TEAM_MANAGER: Actor("mgr-a", frozenset({"manager"})),
    Relation.HEAD_OF_UNIT: Actor("head", frozenset({"head_of_unit"})),
    Relation.INTAKE: Actor("in-1", frozenset({"intake"})),
}
# The table in the module's docstring and docs/ARCHITECTURE.md, written out once more.
TABLE = {
    Action.ACKNOWLEDGE: "AMTHI",
    Action.PROTECTION_ASSESSMENT: "AMTHI",
    Action.DECISION: "AMTH",
    Action.CLOSE: "AMTH",
    Action.EXTEND: "TH",
    Action.REASSIGN: "TH",
    Action.SAFETY_FLAG: "ATHI",
}
LETTER = {
    Relation.ASSIGNED: "A",
    Relation.MENTOR: "M",
    Relation.TEAM_MANAGER: "T",
    Relation.HEAD_OF_UNIT: "H",
    Relation.INTAKE: "I",
}


def test_the_rules_are_the_table() -> None:
    assert {a: "".join(LETTER[r] for r in HOLDERS if r in RULES[a]) for a in Action} == TABLE


@pytest.mark.parametrize("action", list(Action))
@pytest.mark.parametrize("relation", list(Relation))
def test_each_relation_may_do_exactly_what_the_table_says(action: Action, relation: Relation) -> None:
    actor = HOLDERS[relation]
    target = "cw-a2" if action is Action.REASSIGN else None

    if LETTER[relation] in TABLE[action]:
        assert authorize(actor, action, CASE, ORG, to_caseworker=target) == relation
    else:
        with pytest.raises(NotPermitted):
            authorize(actor, action, CASE, ORG, to_caseworker=target)


@pytest.mark.parametrize("action", list(Action))
@pytest.mark.parametrize(
    "outsider",
    [
        Actor("cw-b1", frozenset({"caseworker"})),  # a caseworker of another team
        Actor("mgr-b", frozenset({"manager"})),  # another team's manager
        Actor("cw-a2", frozenset({"caseworker"})),  # a teammate who is neither assignee nor mentor
        Actor("mgr-b", frozenset({"manager", "caseworker", "intake"})),  # many roles, no relation
    ],
)
def test_a_role_without_a_relation_may_do_nothing_but_intake_steps_with_intake(
    action: Action, outsider: Actor
) -> None:
    with pytest.raises(NotPermitted):
        authorize(outsider, action, CASE, ORG, to_caseworker="cw-a2")


@pytest.mark.parametrize("relation", list(Relation))
def test_a_relation_without_its_role_counts_for_nothing(relation: Relation) -> None:
    holder = HOLDERS[relation]
    other_roles = frozenset({"caseworker", "manager", "head_of_unit", "intake"}) - holder.roles

    assert relation not in relations(Actor(holder.staff_id, other_roles), CASE, ORG)
    assert relations(Actor(holder.staff_id, frozenset()), CASE, ORG) == frozenset()


def test_a_team_manager_reassigns_within_the_team_and_only_the_head_of_unit_across_teams() -> None:
    manager, head = HOLDERS[Relation.TEAM_MANAGER], HOLDERS[Relation.HEAD_OF_UNIT]

    assert authorize(manager, Action.REASSIGN, CASE, ORG, to_caseworker="cw-a2") == Relation.TEAM_MANAGER
    with pytest.raises(NotPermitted):
        authorize(manager, Action.REASSIGN, CASE, ORG, to_caseworker="cw-b1")
    with pytest.raises(NotPermitted):
        authorize(manager, Action.REASSIGN, CASE, ORG, to_caseworker="nobody")
    assert authorize(head, Action.REASSIGN, CASE, ORG, to_caseworker="cw-b1") == Relation.HEAD_OF_UNIT


def test_a_referral_without_a_mentor_has_no_mentor_relation() -> None:
    unmentored = Parties(team="team-a", caseworker="cw-a6", mentor=None)

    assert relations(HOLDERS[Relation.MENTOR], unmentored, ORG) == frozenset()
