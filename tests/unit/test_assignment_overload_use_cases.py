"""Overload flags as use cases on the in-memory fakes: a flag keeps new referrals away (but not
the same child's open case), the answers, escalation once, who sees what, and no note anywhere
outside the API."""

from __future__ import annotations

import dataclasses
import json
from datetime import date, datetime, timedelta

import pytest

from services.assignment.domain.access import Actor
from services.assignment.domain.errors import NotPermitted
from services.assignment.domain.overload import (
    FlagAlreadyAnswered,
    FlagAlreadyOpen,
    FlagNotFound,
    InvalidOverloadResponse,
    NotACaseworker,
    OverloadResponse,
)
from services.assignment.handlers.overload import emit_escalations, flags_for, raise_flag, respond
from tests.assignment_support import UNIT, Fakes, local, received

MONDAY = local(2026, 10, 5, 10, 0)  # team-b on duty
TEAM_B = tuple(w for w in UNIT.staff if w.staff_id in {"cw-b1", "cw-b2", "cw-b3"})
SMALL = dataclasses.replace(UNIT, staff=(*TEAM_B, *(w for w in UNIT.staff if w.team != "team-b")))
NOTE = "Synthetic note: too many home visits this week"
MGR_B = Actor("mgr-b", frozenset({"manager"}))
HEAD = Actor("head", frozenset({"head_of_unit"}))


def me(staff_id: str) -> Actor:
    return Actor(staff_id, frozenset({"caseworker"}))


async def flagged(fakes: Fakes, staff_id: str = "cw-b1", at: datetime = MONDAY) -> str:
    flag = await raise_flag(fakes.uow(), fakes.unit, staff_id, NOTE, me(staff_id), at)
    return flag.flag_id


def answer_by(by: Actor, action: str, at: datetime = MONDAY, **fields: object) -> OverloadResponse:
    return OverloadResponse(action, "Synthetic comment", by, at, **fields)  # type: ignore[arg-type]


async def assign_new(fakes: Fakes, *ids: str, at: datetime = MONDAY, **kw: str) -> list[str]:
    for referral_id in ids:
        fakes.clock.set(at)
        await fakes.assign(received(referral_id, at=at, **kw))
    return [fakes.case(r).caseworker for r in ids]


def events(fakes: Fakes, event_type: str) -> list[dict[str, object]]:
    return [e for e in fakes.events() if e["event_type"] == event_type]


async def test_a_flag_keeps_new_referrals_away_but_not_the_same_childs_open_case() -> None:
    fakes = Fakes(MONDAY, SMALL)
    [first] = await assign_new(fakes, "R-1", child="child-1", family="fam-1")
    await flagged(fakes, first)
    others = await assign_new(fakes, "R-2", "R-3", "R-4", "R-5", "R-6", "R-7")
    assert first not in others and set(others) == {w.staff_id for w in TEAM_B} - {first}
    await fakes.assign(received("R-8", at=MONDAY, child="child-2", family="fam-1"))  # a sibling
    assert fakes.case("R-8").caseworker != first
    assert "flagged overload" in fakes.case("R-8").explanation
    await fakes.assign(received("R-9", at=MONDAY, child="child-1", family="fam-1"))  # the same child
    assert (fakes.case("R-9").caseworker, fakes.case("R-9").reason) == (first, "continuity")


async def test_when_everyone_in_the_team_has_flagged_the_manager_gets_the_referral() -> None:
    fakes = Fakes(MONDAY, SMALL)
    for w in TEAM_B:
        await flagged(fakes, w.staff_id)
    assert await assign_new(fakes, "R-1") == ["mgr-b"]


async def test_a_relief_scales_capacity_until_it_ends_and_then_full_capacity_is_back() -> None:
    fakes = Fakes(MONDAY, SMALL)
    # Give everyone in the team 3 cases: a relief of 0.2 (3 of 15) leaves cw-b1 no room.
    await assign_new(fakes, *(f"R-{i}" for i in range(9)))
    assert {fakes.case(f"R-{i}").caseworker for i in range(9)} == {"cw-b1", "cw-b2", "cw-b3"}
    flag_id = await flagged(fakes, "cw-b1")
    until = local(2026, 10, 7, 8)  # team-b is on duty to 12 October
    await respond(
        fakes.uow(), fakes.unit, flag_id, answer_by(MGR_B, "relieve", capacity_factor=0.2, until=until)
    )
    during = await assign_new(fakes, *(f"D-{i}" for i in range(6)))
    assert "cw-b1" not in during  # over its relieved capacity while teammates have room
    after = await assign_new(fakes, *(f"A-{i}" for i in range(3)), at=until + timedelta(hours=1))
    assert "cw-b1" in after  # full capacity: the least loaded again
    [flag] = await flags_for(fakes.uow(), fakes.unit, MGR_B, "team-b", None, False)
    assert (flag.action, flag.capacity_factor, flag.relief_until) == ("relieve", 0.2, until)


async def test_keep_lets_assignments_resume_at_full_capacity() -> None:
    fakes = Fakes(MONDAY, SMALL)
    flag_id = await flagged(fakes, "cw-b1")
    assert "cw-b1" not in await assign_new(fakes, "R-1", "R-2")
    await respond(fakes.uow(), fakes.unit, flag_id, answer_by(HEAD, "keep"))
    assert await assign_new(fakes, "R-3") == ["cw-b1"]  # the least loaded, at full capacity


async def test_reassign_moves_the_named_referrals_to_teammates_with_the_usual_event() -> None:
    fakes = Fakes(MONDAY, SMALL)
    await assign_new(fakes, *(f"R-{i}" for i in range(6)))
    mine = [f"R-{i}" for i in range(6) if fakes.case(f"R-{i}").caseworker == "cw-b1"]
    assert len(mine) == 2
    flag_id = await flagged(fakes, "cw-b1")
    answered = await respond(
        fakes.uow(), fakes.unit, flag_id, answer_by(MGR_B, "reassign", referral_ids=tuple(mine))
    )
    assert answered.reassigned == 2
    for referral_id in mine:
        case = fakes.case(referral_id)
        assert case.caseworker in {"cw-b2", "cw-b3"} and case.team == "team-b" and case.reason == "manual"
        assert case.explanation.startswith("relief after an overload flag: reassigned by mgr-b from cw-b1")
    moved = events(fakes, "referral.reassigned")
    assert sorted(e["data"]["referral_id"] for e in moved) == sorted(mine)  # type: ignore[index]
    assert {e["data"]["reason"] for e in moved} == {"manual"}  # type: ignore[index]
    [responded] = events(fakes, "overload.responded")
    assert responded["data"]["reassigned"] == 2  # type: ignore[index]


async def test_reassign_refuses_referrals_that_are_not_the_flagged_persons_and_stores_nothing() -> None:
    fakes = Fakes(MONDAY, SMALL)
    await assign_new(fakes, "R-0", "R-1", "R-2")
    theirs = next(f"R-{i}" for i in range(3) if fakes.case(f"R-{i}").caseworker != "cw-b1")
    flag_id = await flagged(fakes, "cw-b1")
    before = list(fakes.tables.outbox)
    with pytest.raises(InvalidOverloadResponse, match="referral_ids"):
        await respond(fakes.uow(), fakes.unit, flag_id, answer_by(MGR_B, "reassign", referral_ids=(theirs,)))
    assert fakes.tables.outbox == before
    assert fakes.tables.overload_flags[flag_id].open


async def test_only_the_person_themself_a_caseworker_raises_one_flag_at_a_time() -> None:
    fakes = Fakes(MONDAY, SMALL)
    with pytest.raises(NotPermitted):
        await raise_flag(fakes.uow(), fakes.unit, "cw-b1", None, MGR_B, MONDAY)
    with pytest.raises(NotACaseworker):
        await raise_flag(fakes.uow(), fakes.unit, "mgr-b", None, MGR_B, MONDAY)
    first = await flagged(fakes, "cw-b1")
    with pytest.raises(FlagAlreadyOpen) as second:
        await flagged(fakes, "cw-b1")
    assert second.value.flag_id == first
    assert len(fakes.tables.overload_flags) == 1


async def test_someone_past_their_last_day_gets_no_new_referrals_and_cannot_flag() -> None:
    left = dataclasses.replace(TEAM_B[0], left_on=date(2026, 10, 2))
    unit = dataclasses.replace(SMALL, staff=(left, *SMALL.staff[1:]))
    fakes = Fakes(MONDAY, unit)
    assert left.staff_id not in await assign_new(fakes, "R-1", "R-2", "R-3", "R-4")
    with pytest.raises(NotACaseworker):
        await raise_flag(fakes.uow(), unit, left.staff_id, None, me(left.staff_id), MONDAY)


async def test_the_manager_of_another_team_may_not_answer_and_an_answer_comes_once() -> None:
    fakes = Fakes(MONDAY, SMALL)
    flag_id = await flagged(fakes, "cw-b1")
    with pytest.raises(NotPermitted):
        await respond(
            fakes.uow(), fakes.unit, flag_id, answer_by(Actor("mgr-a", frozenset({"manager"})), "keep")
        )
    with pytest.raises(NotPermitted):
        await respond(fakes.uow(), fakes.unit, flag_id, answer_by(me("cw-b1"), "keep"))
    await respond(fakes.uow(), fakes.unit, flag_id, answer_by(MGR_B, "keep"))
    with pytest.raises(FlagAlreadyAnswered):
        await respond(fakes.uow(), fakes.unit, flag_id, answer_by(HEAD, "keep"))
    with pytest.raises(FlagNotFound):
        await respond(
            fakes.uow(), fakes.unit, "00000000-0000-0000-0000-000000000000", answer_by(HEAD, "keep")
        )


async def test_an_unanswered_flag_escalates_once_across_scans_and_an_answered_one_never() -> None:
    fakes = Fakes(MONDAY, SMALL)
    flag_id = await flagged(fakes, "cw-b1")  # Monday 10:00 + 4 office hours = 14:00
    answered_id = await flagged(fakes, "cw-b2")
    await respond(fakes.uow(), fakes.unit, answered_id, answer_by(MGR_B, "keep"))
    assert await emit_escalations(fakes.uow, local(2026, 10, 5, 13, 59)) == 0
    assert await emit_escalations(fakes.uow, local(2026, 10, 5, 14, 0)) == 1
    assert await emit_escalations(fakes.uow, local(2026, 10, 5, 15, 0)) == 0
    [escalated] = events(fakes, "overload.escalated")
    assert escalated["data"]["flag_id"] == flag_id  # type: ignore[index]
    assert fakes.tables.overload_flags[flag_id].escalated_at == local(2026, 10, 5, 14, 0)


async def test_flags_are_listed_for_their_team_manager_the_head_and_the_person_only() -> None:
    fakes = Fakes(MONDAY, SMALL)
    await flagged(fakes, "cw-b1")
    await flagged(fakes, "cw-a1")
    assert [f.staff_id for f in await flags_for(fakes.uow(), fakes.unit, MGR_B, None, None, False)] == [
        "cw-b1"
    ]
    assert len(await flags_for(fakes.uow(), fakes.unit, HEAD, None, True, False)) == 2
    assert await flags_for(fakes.uow(), fakes.unit, HEAD, None, False, False) == []
    with pytest.raises(NotPermitted):
        await flags_for(fakes.uow(), fakes.unit, MGR_B, "team-a", None, False)
    with pytest.raises(NotPermitted):
        await flags_for(fakes.uow(), fakes.unit, me("cw-b2"), None, None, False)
    own = await flags_for(fakes.uow(), fakes.unit, me("cw-b1"), None, None, True)
    assert [(f.staff_id, f.note) for f in own] == [("cw-b1", NOTE)]
    assert await flags_for(fakes.uow(), fakes.unit, me("cw-b2"), None, None, True) == []


async def test_no_event_carries_the_note_or_the_comment() -> None:
    fakes = Fakes(MONDAY, SMALL)
    await assign_new(fakes, "R-0", "R-1", "R-2")
    flag_id = await flagged(fakes, "cw-b1")
    mine = tuple(f"R-{i}" for i in range(3) if fakes.case(f"R-{i}").caseworker == "cw-b1")
    await respond(fakes.uow(), fakes.unit, flag_id, answer_by(MGR_B, "reassign", referral_ids=mine))
    await flagged(fakes, "cw-b2")
    assert await emit_escalations(fakes.uow, MONDAY + timedelta(days=7)) == 1
    payloads = [payload for _, _, _, payload in fakes.tables.outbox]
    kinds = {json.loads(p)["event_type"] for p in payloads}
    assert kinds >= {"overload.flagged", "overload.responded", "overload.escalated", "referral.reassigned"}
    assert not [p for p in payloads if b"Synthetic" in p]
