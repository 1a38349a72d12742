"""The case lifecycle use cases on the in-memory fakes: every action, and every refusal stores nothing."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from services.assignment.domain.access import Actor
from services.assignment.domain.cases import CaseAction
from services.assignment.domain.errors import (
    AlreadyTheCaseworker,
    AssignmentRefused,
    CaseNotFound,
    ExtensionNotLater,
    ExtensionTooLong,
    InvalidTransition,
    NotPermitted,
    TimeOutOfRange,
    UnknownCaseworker,
)
from services.assignment.handlers.cases import act_on_case, case_state
from tests.assignment_support import Fakes, local, received

RECEIVED = local(2026, 9, 15, 10, 0)  # a Tuesday: team-a on duty (14 to 28 September)
OPENED = local(2026, 9, 17, 11, 0)
MANAGER = Actor("mgr-a", frozenset({"manager"}))
INTAKE = Actor("in-1", frozenset({"intake"}))
HEAD = Actor("head", frozenset({"head_of_unit"}))


async def assigned(*, feedback: bool = False) -> Fakes:
    fakes = Fakes(RECEIVED)
    await fakes.assign(received("R-1", at=RECEIVED, feedback=feedback))
    return fakes


async def act(fakes: Fakes, action: CaseAction, now=None):
    return (await act_on_case(fakes.uow(), fakes.unit, "R-1", action, now or action.at)).case


def event_types(fakes: Fakes) -> list[str]:
    return [e["event_type"] for e in fakes.events()]


async def refused(fakes: Fakes, error: type[AssignmentRefused], action: CaseAction, now=None) -> None:
    """The action is refused with `error`, and nothing of it is stored."""
    before, published = fakes.case("R-1"), list(fakes.tables.outbox)
    with pytest.raises(error):
        await act(fakes, action, now)
    assert fakes.case("R-1") == before and fakes.tables.outbox == published


async def test_the_assigned_caseworker_intake_and_a_manager_may_acknowledge_but_no_other_caseworker() -> None:
    fakes = await assigned()
    mine = fakes.case("R-1").caseworker
    other = Actor("cw-a9" if mine != "cw-a9" else "cw-a8", frozenset({"caseworker"}))
    await refused(fakes, NotPermitted, CaseAction("acknowledge", other, RECEIVED))
    case = await act(fakes, CaseAction("acknowledge", Actor(mine, frozenset({"caseworker"})), RECEIVED))
    assert (case.status, case.acknowledged_at) == ("acknowledged", RECEIVED)
    later = RECEIVED + timedelta(hours=1)
    again = await act(fakes, CaseAction("acknowledge", INTAKE, later))
    assert (again.status, again.acknowledged_at) == ("acknowledged", RECEIVED)  # the first time stays
    assert event_types(fakes) == ["referral.assigned", "referral.acknowledged", "referral.acknowledged"]


async def test_a_protection_assessment_and_an_investigation_record_their_times_and_due_dates() -> None:
    fakes = await assigned(feedback=True)
    assessed = RECEIVED + timedelta(hours=2)
    case = await act(
        fakes, CaseAction("protection_assessment", MANAGER, assessed, outcome="no_immediate_need")
    )
    assert (case.status, case.protection_assessed_at, case.protection_outcome) == (
        "protection_assessed",
        assessed,
        "no_immediate_need",
    )
    case = await act(fakes, CaseAction("decision", MANAGER, OPENED, decision="open_investigation"))
    assert case.status == "investigating" and case.investigation_opened_on == date(2026, 9, 17)
    assert case.investigation_due == local(2027, 1, 17, 23, 59, 59)  # four months (20 kap. 3 §)
    assert case.feedback_due == local(2026, 9, 24, 23, 59, 59)  # a week (19 kap. 6 §)
    assert fakes.case("R-1") == case
    decided = fakes.events()[-1]
    assert decided["event_type"] == "referral.decided"
    assert decided["data"]["investigation_due"] is not None and decided["data"]["feedback_due"] is not None


async def test_a_decision_not_to_investigate_closes_the_case_and_a_second_decision_is_refused() -> None:
    fakes = await assigned()
    case = await act(fakes, CaseAction("decision", MANAGER, OPENED, decision="no_investigation"))
    assert (case.status, case.closed_at, case.investigation_due) == ("closed", OPENED, None)
    await refused(
        fakes, InvalidTransition, CaseAction("decision", MANAGER, OPENED, decision="open_investigation")
    )
    await refused(fakes, InvalidTransition, CaseAction("acknowledge", MANAGER, OPENED))


async def test_closing_or_extending_without_an_open_investigation_is_refused() -> None:
    fakes = await assigned()
    await refused(fakes, InvalidTransition, CaseAction("close", MANAGER, OPENED))
    extend = CaseAction("extend", MANAGER, OPENED, until=date(2027, 3, 1), reason="r")
    await refused(fakes, InvalidTransition, extend)


async def test_an_action_dated_before_receipt_or_in_the_future_is_refused() -> None:
    fakes = await assigned()
    before = RECEIVED - timedelta(minutes=1)
    await refused(fakes, TimeOutOfRange, CaseAction("close", MANAGER, before))
    await refused(fakes, TimeOutOfRange, CaseAction("protection_assessment", MANAGER, before, outcome="x"))
    ahead = OPENED + timedelta(minutes=6)
    await refused(
        fakes, TimeOutOfRange, CaseAction("decision", MANAGER, ahead, decision="no_investigation"), OPENED
    )
    slack = OPENED + timedelta(minutes=4)  # clocks differ a little: five minutes are allowed
    case = await act(fakes, CaseAction("decision", MANAGER, slack, decision="no_investigation"), OPENED)
    assert case.decided_at == slack


async def test_an_extension_must_move_the_due_date_later_and_is_kept_with_its_decision() -> None:
    fakes = await assigned()
    await act(fakes, CaseAction("decision", MANAGER, OPENED, decision="open_investigation"))
    when = local(2026, 12, 20, 9)
    await refused(
        fakes, ExtensionNotLater, CaseAction("extend", MANAGER, when, until=date(2026, 12, 31), reason="r")
    )
    case = await act(fakes, CaseAction("extend", MANAGER, when, until=date(2027, 2, 15), reason="r"))
    assert case.investigation_due == local(2027, 2, 15, 23, 59, 59)
    [extension] = fakes.tables.extensions
    assert (extension.decided_on, extension.decided_by, extension.new_due, extension.reason) == (
        date(2026, 12, 20),
        "mgr-a",
        local(2027, 2, 15, 23, 59, 59),
        "r",
    )
    closed = await act(fakes, CaseAction("close", MANAGER, local(2027, 1, 10, 9)))
    assert closed.status == "closed"
    assert event_types(fakes) == [
        "referral.assigned",
        "referral.decided",
        "investigation.extended",
        "investigation.closed",
    ]


async def test_a_reassignment_moves_the_case_and_its_load_names_a_new_hires_mentor_and_locks_both_teams() -> (
    None
):
    fakes = await assigned()
    first = fakes.case("R-1")
    await refused(
        fakes, UnknownCaseworker, CaseAction("reassign", MANAGER, OPENED, caseworker="mgr-b", reason="x")
    )
    # Another team's caseworker: the head of unit's decision, not the team manager's.
    await refused(
        fakes, NotPermitted, CaseAction("reassign", MANAGER, OPENED, caseworker="cw-b5", reason="x")
    )
    uow = fakes.uow()
    action = CaseAction("reassign", HEAD, OPENED, caseworker="cw-b5", reason="x")
    case = (await act_on_case(uow, fakes.unit, "R-1", action, OPENED)).case
    assert (case.team, case.caseworker, case.mentor, case.reason) == ("team-b", "cw-b5", "cw-b1", "manual")
    assert case.explanation == f"reassigned by head from {first.caseworker}"
    assert uow.locks_taken == [frozenset({"team-a", "team-b"})]
    async with fakes.uow() as read:
        loads = await read.assignments.open_loads()
    assert loads == {"cw-b5": loads["cw-b5"]} and loads["cw-b5"].weighted == first.weight
    reassigned = fakes.events()[-1]
    assert reassigned["event_type"] == "referral.reassigned"
    assert (reassigned["data"]["caseworker"], reassigned["data"]["weight"]) == ("cw-b5", 1.0)


async def test_a_referral_without_an_assignment_is_not_found_by_any_use_case() -> None:
    fakes = await assigned()
    with pytest.raises(CaseNotFound):
        await case_state(fakes.uow(), "R-none")
    with pytest.raises(CaseNotFound):
        await act_on_case(
            fakes.uow(), fakes.unit, "R-none", CaseAction("acknowledge", MANAGER, OPENED), OPENED
        )
    assert await case_state(fakes.uow(), "R-1") == fakes.case("R-1")


# Issue 24: anyone with a role could act on any referral.
async def test_only_someone_with_a_relation_to_the_referral_may_act_on_it_and_refusals_are_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    fakes = await assigned()
    team_c = Actor("cw-c1", frozenset({"caseworker"}))
    other_manager = Actor("mgr-c", frozenset({"manager"}))
    with caplog.at_level("WARNING", logger="services.assignment.handlers.cases"):
        await refused(fakes, NotPermitted, CaseAction("protection_assessment", team_c, OPENED, outcome="x"))
        await refused(
            fakes, NotPermitted, CaseAction("decision", team_c, OPENED, decision="no_investigation")
        )
        await refused(
            fakes, NotPermitted, CaseAction("reassign", other_manager, OPENED, caseworker="cw-a2", reason="x")
        )
        await refused(
            fakes, NotPermitted, CaseAction("decision", INTAKE, OPENED, decision="no_investigation")
        )
    refusals = [r for r in caplog.records if r.getMessage().startswith("action refused")]
    assert [(r.staff, r.action, r.referral_id) for r in refusals] == [  # type: ignore[attr-defined]
        ("cw-c1", "protection_assessment", "R-1"),
        ("cw-c1", "decision", "R-1"),
        ("mgr-c", "reassign", "R-1"),
        ("in-1", "decision", "R-1"),
    ]
    mentor = fakes.case("R-1").mentor
    helpers = [INTAKE, HEAD] + ([Actor(mentor, frozenset({"caseworker"}))] if mentor else [])
    for actor in helpers:
        await act(fakes, CaseAction("acknowledge", actor, OPENED))


async def test_a_manager_reassigns_within_the_team_and_to_the_same_caseworker_is_refused() -> None:
    fakes = await assigned()
    mine = fakes.case("R-1").caseworker
    await refused(
        fakes, AlreadyTheCaseworker, CaseAction("reassign", MANAGER, OPENED, caseworker=mine, reason="x")
    )
    teammate = next(w.staff_id for w in fakes.unit.staff if w.team == "team-a" and w.staff_id != mine)
    within = CaseAction("reassign", MANAGER, OPENED, caseworker=teammate, reason="x")
    acted = await act_on_case(fakes.uow(), fakes.unit, "R-1", within, OPENED)
    assert acted.case.caseworker == teammate and acted.warnings == ()
    assert event_types(fakes) == ["referral.assigned", "referral.reassigned"]


async def test_a_reassignment_to_someone_away_goes_through_with_a_warning() -> None:
    fakes = await assigned()
    mine = fakes.case("R-1").caseworker
    away = next(w.staff_id for w in fakes.unit.staff if w.team == "team-a" and w.staff_id != mine)
    fakes.absent(away, date(2026, 9, 16), date(2026, 9, 25))
    to_away = CaseAction("reassign", MANAGER, OPENED, caseworker=away, reason="x")
    acted = await act_on_case(fakes.uow(), fakes.unit, "R-1", to_away, OPENED)
    assert acted.case.caseworker == away
    assert acted.warnings == (f"{away} is away until 2026-09-25",)


async def test_an_extension_may_move_the_due_date_at_most_the_configured_months() -> None:
    fakes = await assigned()
    await act(fakes, CaseAction("decision", MANAGER, OPENED, decision="open_investigation"))  # due 2027-01-17
    when = local(2026, 12, 20, 9)
    await refused(
        fakes, ExtensionTooLong, CaseAction("extend", MANAGER, when, until=date(2100, 1, 1), reason="typo")
    )
    await refused(
        fakes, ExtensionTooLong, CaseAction("extend", MANAGER, when, until=date(2027, 7, 18), reason="r")
    )
    case = await act(fakes, CaseAction("extend", MANAGER, when, until=date(2027, 7, 17), reason="r"))
    assert case.investigation_due == local(2027, 7, 17, 23, 59, 59)
