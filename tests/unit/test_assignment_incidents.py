"""Rules of threats and violence (issue 22): the day an incident may have occurred, the team it
counts for, who sees which, quarters, and the quarterly summary's counts (hand-computed)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

import pytest

from services.assignment.domain.access import Actor
from services.assignment.domain.errors import InvalidIncident, InvalidQuarter, NotPermitted
from services.assignment.domain.incidents import (
    Incident,
    Quarter,
    check_occurred_on,
    list_scope,
    parse_quarter,
    recorders_team,
    summarize,
    summary_csv_rows,
    summary_markdown,
    summary_teams,
)
from tests.assignment_support import UNIT

ORG = UNIT.organisation
AT = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)
CW_A, CW_B, MGR_A, HEAD = (
    Actor("cw-a1", frozenset({"caseworker"})),
    Actor("cw-b1", frozenset({"caseworker"})),
    Actor("mgr-a", frozenset({"manager"})),
    Actor("head", frozenset({"head_of_unit"})),
)


def incident(n: int, day: date, kind: str, channel: str, team: str | None, by: str = "cw-a1") -> Incident:
    return Incident(uuid.UUID(int=n), day, kind, channel, team, by, None, AT)


@pytest.mark.parametrize(
    ("text", "first", "last"),
    [
        ("2026Q1", date(2026, 1, 1), date(2026, 3, 31)),
        ("2026Q2", date(2026, 4, 1), date(2026, 6, 30)),
        ("2026Q3", date(2026, 7, 1), date(2026, 9, 30)),
        ("2026Q4", date(2026, 10, 1), date(2026, 12, 31)),
        ("2028Q1", date(2028, 1, 1), date(2028, 3, 31)),  # a leap year: 29 February inside
    ],
)
def test_a_quarter_runs_from_its_first_to_its_last_day(text: str, first: date, last: date) -> None:
    q = parse_quarter(text)
    assert (q.first_day, q.last_day, str(q)) == (first, last, text)


@pytest.mark.parametrize(
    "text", ["2026Q0", "2026Q5", "2026q3", "26Q3", "2026-Q3", "Q3", "", "2026Q3 ", "1999Q4"]
)
def test_anything_but_a_year_and_a_quarter_is_refused_with_a_message_naming_the_field(text: str) -> None:
    with pytest.raises(InvalidQuarter, match="`quarter`"):
        parse_quarter(text)


@pytest.mark.parametrize(
    ("day", "ok"),
    [
        (date(2026, 10, 1), True),
        (date(2026, 10, 2), False),  # tomorrow
        (date(2025, 10, 1), True),  # a year back to the day
        (date(2025, 9, 30), False),
    ],
)
def test_an_incident_occurred_within_the_last_year_and_not_in_the_future(day: date, ok: bool) -> None:
    if ok:
        check_occurred_on(day, date(2026, 10, 1))
    else:
        with pytest.raises(InvalidIncident, match="`occurred_on`"):
            check_occurred_on(day, date(2026, 10, 1))


def test_a_year_back_from_29_february_is_28_february() -> None:
    check_occurred_on(date(2027, 2, 28), date(2028, 2, 29))
    with pytest.raises(InvalidIncident):
        check_occurred_on(date(2027, 2, 27), date(2028, 2, 29))


def test_an_incident_counts_for_the_recorders_own_team_or_none() -> None:
    assert [recorders_team(s, ORG) for s in ("cw-a1", "cw-b6", "mgr-c", "in-1", "head")] == [
        "team-a",
        "team-b",
        "team-c",
        None,
        None,
    ]


def test_the_head_sees_every_team_a_manager_their_team_anyone_their_own() -> None:
    mine = incident(1, date(2026, 9, 1), "threat", "phone", "team-b", by="mgr-a")
    a = incident(2, date(2026, 9, 1), "threat", "phone", "team-a", by="cw-a2")
    b = incident(3, date(2026, 9, 1), "threat", "phone", "team-b", by="cw-b1")
    unit_wide = incident(4, date(2026, 9, 1), "threat", "phone", None, by="in-1")
    every = [mine, a, b, unit_wide]
    assert [i for i in every if list_scope(HEAD, ORG, None).shows(i)] == every
    assert [i for i in every if list_scope(MGR_A, ORG, None).shows(i)] == [mine, a]
    assert [i for i in every if list_scope(CW_B, ORG, None).shows(i)] == [b]
    assert [i for i in every if list_scope(CW_A, ORG, None).shows(i)] == []
    with pytest.raises(NotPermitted):
        list_scope(MGR_A, ORG, "team-b")
    with pytest.raises(NotPermitted):
        list_scope(CW_A, ORG, "team-a")
    # The manager's role is needed: the manager's staff id with a caseworker's role sees only their own.
    assert [
        i for i in every if list_scope(Actor("mgr-a", frozenset({"caseworker"})), ORG, None).shows(i)
    ] == [mine]


def test_the_summary_is_the_head_of_units_for_all_or_one_team_and_a_managers_for_their_own() -> None:
    assert summary_teams(HEAD, ORG, None) is None
    assert summary_teams(HEAD, ORG, "team-b") == {"team-b"}
    assert summary_teams(MGR_A, ORG, None) == {"team-a"}
    for actor, team in ((MGR_A, "team-b"), (CW_A, None), (Actor("in-1", frozenset({"intake"})), None)):
        with pytest.raises(NotPermitted):
            summary_teams(actor, ORG, team)


# A hand-counted quarter (2026Q3) and incidents just outside it.
Q3 = [
    incident(1, date(2026, 7, 1), "threat", "phone", "team-a"),
    incident(2, date(2026, 7, 15), "threat", "home_visit", "team-a"),
    incident(3, date(2026, 8, 3), "violence", "home_visit", "team-a"),
    incident(4, date(2026, 8, 20), "harassment", "social_media", "team-b"),
    incident(5, date(2026, 9, 2), "threat", "phone", "team-b"),
    incident(6, date(2026, 9, 30), "threat", "in_person", None, by="in-1"),
]
OUTSIDE = [
    incident(7, date(2026, 6, 30), "violence", "in_person", "team-a"),
    incident(8, date(2026, 10, 1), "violence", "in_person", "team-b"),
]


def test_the_quarterly_summary_counts_by_type_team_and_channel() -> None:
    s = summarize(OUTSIDE[:1] + Q3 + OUTSIDE[1:], Quarter(2026, 3))
    assert s.total == 6
    assert s.by_type == {"threat": 4, "violence": 1, "harassment": 1}
    assert s.by_team == {
        "no_team": {"threat": 1},
        "team-a": {"threat": 2, "violence": 1},
        "team-b": {"harassment": 1, "threat": 1},
    }
    assert s.by_channel == {"home_visit": 2, "in_person": 1, "phone": 2, "social_media": 1}


def test_a_managers_summary_counts_their_team_only_and_an_empty_quarter_counts_zero() -> None:
    s = summarize(Q3, Quarter(2026, 3), frozenset({"team-b"}))
    assert (s.total, s.by_type, s.by_team) == (
        2,
        {"threat": 1, "violence": 0, "harassment": 1},
        {"team-b": {"harassment": 1, "threat": 1}},
    )
    empty = summarize(Q3, Quarter(2026, 1))
    assert (empty.total, empty.by_type, empty.by_team, empty.by_channel) == (
        0,
        {"threat": 0, "violence": 0, "harassment": 0},
        {},
        {},
    )


def test_the_markdown_and_csv_carry_counts_and_no_staff_or_referral_id() -> None:
    s = summarize(Q3, Quarter(2026, 3))
    md = summary_markdown(s)
    assert "| team-a | 2 | 1 | 0 | 3 |" in md
    assert "| All | 4 | 1 | 1 | 6 |" in md
    assert "| Team | Hot | Våld | Trakasserier | Totalt |" in summary_markdown(s, swedish=True)
    rows = summary_csv_rows(s)
    assert ["2026Q3", "team-b", "harassment", "1"] in rows
    assert ["2026Q3", "all", "threat", "4"] in rows
    text = md + repr(rows)
    for leak in ("cw-a1", "in-1", str(uuid.UUID(int=1))):
        assert leak not in text
