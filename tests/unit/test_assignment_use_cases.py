"""The assignment use case (a batch of received referrals) on the in-memory fakes: no Postgres.

Continuity, capacity, absences and the back-from-leave cap, nobody free (the manager), overrides,
conflicts of interest, repeats, one lock and one loads read per team and day, and the Kafka edge.
"""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from services.assignment import subscribers
from services.assignment.adapters.memory_stores import InMemoryAssignmentStore
from services.assignment.domain.errors import UnknownTeam
from services.assignment.domain.model import Override
from services.assignment.domain.workload import Absence
from services.assignment.unit_from_config import unit_from_config
from shared.events import TOPIC_RECEIVED, TOPIC_REGISTERED, Envelope, ReferralRegistered, new_envelope
from shared.records import PoisonMessage
from tests.assignment_support import EXAMPLE_CONFIG, UNIT, Fakes, local, new_assignment, received

MONDAY = local(2026, 10, 5, 10, 0)  # team-b on duty (28 September to 12 October)


async def absent(fakes: Fakes, staff: list[str], first: date, last: date) -> None:
    async with fakes.uow() as uow:
        for s in staff:
            await uow.absences.add(Absence(s, first, last, "sick"), "test")
        await uow.commit()


async def test_a_referral_goes_to_the_team_on_duty_with_its_period_and_an_assigned_event() -> None:
    fakes = Fakes(MONDAY)
    event = received("R-1", at=MONDAY, categories=("violence",), acute=True)
    await fakes.assign(event)
    case = fakes.case("R-1")
    assert (case.team, case.reason, case.source) == ("team-b", "rotation", "rotation")
    assert (case.period_start, case.period_end) == (local(2026, 9, 28, 8, 0), local(2026, 10, 12, 8, 0))
    assert "team team-b on duty" in case.explanation and "most spare capacity" in case.explanation
    assert case.weight == 175  # violence 1.25 + acute 0.5, in hundredths
    [published] = fakes.events()
    assert published["event_type"] == "referral.assigned"
    assert published["causation_id"] == str(event.event_id) and published["correlation_id"] == "s-R-1"
    assert published["data"]["caseworker"] == case.caseworker and published["data"]["weight"] == 1.75


async def test_siblings_in_one_batch_and_a_repeat_later_stay_with_the_same_caseworker() -> None:
    fakes = Fakes(MONDAY)
    others = [received(f"R-x{n}", at=MONDAY) for n in range(6)]
    await fakes.assign(
        received("R-1", at=MONDAY, child="c-1", family="f-1"),
        *others,
        received("R-2", at=MONDAY, child="c-2", family="f-1"),
    )
    first, sibling = fakes.case("R-1"), fakes.case("R-2")
    assert (sibling.caseworker, sibling.reason) == (first.caseworker, "continuity")
    later = local(2026, 11, 10, 10, 0)  # another team is on duty by then
    fakes.clock.set(later)
    await fakes.assign(received("R-3", at=later, child="c-1", family="f-9"))
    repeat = fakes.case("R-3")
    assert (repeat.team, repeat.caseworker, repeat.reason) == (first.team, first.caseworker, "continuity")


async def test_a_sibling_goes_to_a_teammate_when_the_caseworker_is_full_and_a_child_never_does() -> None:
    fakes = Fakes(MONDAY)
    # cw-b2 (capacity 20 cases) has the family's open case and 19.5 cases' load besides.
    earlier = [new_assignment("R-1", "cw-b2", team="team-b", child="c-1", family="f-1")]
    earlier += [new_assignment(f"R-f{n}", "cw-b2", team="team-b", weight=150) for n in range(13)]
    async with fakes.uow() as uow:
        await uow.assignments.add(earlier)
        await uow.commit()
    await fakes.assign(
        received("R-sib", at=MONDAY, child="c-2", family="f-1"),
        received("R-same", at=MONDAY, child="c-1", family="f-1"),
        received("R-sib2", at=MONDAY, child="c-3", family="f-1", categories=("other",)),  # 0.75 fits
    )
    sibling, same_child, light = fakes.case("R-sib"), fakes.case("R-same"), fakes.case("R-sib2")
    assert (sibling.team, sibling.reason) == ("team-b", "continuity") and sibling.caseworker != "cw-b2"
    assert "its caseworker cw-b2 is at capacity" in sibling.explanation
    assert (same_child.caseworker, same_child.reason) == ("cw-b2", "continuity")  # now over capacity
    assert light.caseworker != "cw-b2"  # 20.0 + 0.75 does not fit either, after the same child's case


async def test_nobody_absent_gets_a_referral_and_an_empty_team_goes_to_its_manager() -> None:
    fakes = Fakes(MONDAY)
    await absent(fakes, [f"cw-b{i}" for i in range(1, 6)], MONDAY.date(), MONDAY.date())
    await fakes.assign(*[received(f"R-{n}", at=MONDAY) for n in range(3)])
    assert {fakes.case(f"R-{n}").caseworker for n in range(3)} == {"cw-b6"}
    await absent(fakes, ["cw-b6"], MONDAY.date(), MONDAY.date())
    await fakes.assign(received("R-9", at=MONDAY))
    fallback = fakes.case("R-9")
    assert (fallback.team, fallback.caseworker) == ("team-b", "mgr-b")
    assert "nobody in team team-b" in fallback.explanation


async def test_a_continuity_referral_nobody_in_its_team_can_take_goes_to_that_teams_manager() -> None:
    fakes = Fakes(local(2026, 9, 22, 10, 0))  # team-a on duty
    await fakes.assign(received("R-1", at=local(2026, 9, 22, 10, 0), child="c-1", family="f-1"))
    assert fakes.case("R-1").team == "team-a"
    fakes.clock.set(MONDAY)
    await absent(fakes, [f"cw-a{i}" for i in range(1, 7)], MONDAY.date(), MONDAY.date())
    await fakes.assign(received("R-2", at=MONDAY, child="c-2", family="f-1"))  # team-b on duty now
    assert (fakes.case("R-2").team, fakes.case("R-2").caseworker) == ("team-a", "mgr-a")


async def test_someone_back_from_leave_gets_at_most_the_daily_limit_within_a_batch_and_across() -> None:
    fakes = Fakes(MONDAY)
    await absent(fakes, ["cw-b2"], MONDAY.date() - timedelta(days=10), MONDAY.date() - timedelta(days=1))
    await fakes.assign(*[received(f"R-{n}", at=MONDAY) for n in range(4)])  # cw-b2 has the least load
    await fakes.assign(*[received(f"R-{n}", at=MONDAY) for n in range(4, 12)])
    taken = [n for n in range(12) if fakes.case(f"R-{n}").caseworker == "cw-b2"]
    assert len(taken) == UNIT.rules.return_max_per_day
    tomorrow = MONDAY + timedelta(days=1)
    fakes.clock.set(tomorrow)
    await fakes.assign(*[received(f"R-t{n}", at=tomorrow) for n in range(6)])
    assert sum(fakes.case(f"R-t{n}").caseworker == "cw-b2" for n in range(6)) == 2


async def test_an_override_beats_the_rotation() -> None:
    fakes = Fakes(MONDAY)
    async with fakes.uow() as uow:
        await uow.overrides.add(
            Override("team-c", MONDAY - timedelta(hours=1), MONDAY + timedelta(hours=1)), "m"
        )
        await uow.commit()
    await fakes.assign(received("R-1", at=MONDAY))
    case = fakes.case("R-1")
    assert (case.team, case.reason, case.source) == ("team-c", "override", "override")


async def test_nobody_with_a_conflict_of_interest_gets_the_referral() -> None:
    conflicts = [{"staff_id": f"cw-b{i}", "key": "f-1"} for i in range(1, 5)]
    assignment = EXAMPLE_CONFIG.assignment.model_validate(
        {**EXAMPLE_CONFIG.assignment.model_dump(), "conflicts_of_interest": conflicts}
    )
    unit = unit_from_config(EXAMPLE_CONFIG.model_copy(update={"assignment": assignment}))
    fakes = Fakes(MONDAY, unit)
    await fakes.assign(*[received(f"R-{n}", at=MONDAY, child=f"c-{n}", family="f-1") for n in range(2)])
    assert {fakes.case(f"R-{n}").caseworker for n in range(2)} <= {"cw-b5", "cw-b6"}


async def test_a_referral_assigned_already_or_twice_in_a_batch_is_assigned_once() -> None:
    fakes = Fakes(MONDAY)
    first = received("R-1", at=MONDAY)
    await fakes.assign(first)
    again = received("R-1", at=MONDAY)  # another event about the same referral
    await fakes.assign(again, received("R-2", at=MONDAY), received("R-2", at=MONDAY))
    assert sorted(fakes.tables.assignments) == ["R-1", "R-2"]
    assert [e["data"]["referral_id"] for e in fakes.events()] == ["R-1", "R-2"]


async def test_an_evening_referral_counts_on_the_next_office_days_loads() -> None:
    fakes = Fakes(MONDAY)
    evening = local(2026, 10, 9, 19, 0)  # a Friday evening: next office hours are Monday's
    await fakes.assign(received("R-1", at=evening))
    stored = fakes.tables.assignments["R-1"]
    assert stored.assigned_day == date(2026, 10, 12)
    assert stored.case.team == "team-c"  # Monday 12 October 08:00: team-c takes over


def scenario(seed: int) -> tuple[list[Envelope[Any]], list[Envelope[Any]]]:
    """Earlier cases, then a run with siblings, repeats and the same referral twice."""
    rng = random.Random(seed)
    history = [
        received(f"H{n}", at=local(2026, 9, 1, 9) + timedelta(hours=rng.randrange(24 * 33)),
                 child=f"c{(c := rng.randrange(60))}", family=f"f{c // 3}")
        for n in range(30)
    ]  # fmt: skip
    history.sort(key=lambda e: e.data.received_at)
    run: list[Envelope[Any]] = []
    for n in range(80):
        at = local(2026, 10, 6, rng.choice((8, 9, 13, 16, 19, 22)), n % 60)
        if run and rng.random() < 0.08:
            again = rng.choice(run).data
            run.append(received(again.referral_id, at=again.received_at, child=again.child_key,
                                family=again.family_key))  # fmt: skip
        else:
            c = rng.randrange(60)
            cats = (rng.choice(("neglect", "violence", "sexual_abuse", "other")),)
            run.append(received(f"R{n}", at=at, child=f"c{c}", family=f"f{c // 3}", categories=cats,
                                acute=rng.random() < 0.1))  # fmt: skip
    return history, run


@pytest.mark.parametrize("seed", range(5))
async def test_a_batch_decides_exactly_as_the_same_referrals_one_at_a_time(seed: int) -> None:
    """The domain carries forward what each decision changed: loads, earlier cases, repeats."""
    history, run = scenario(seed)
    one_at_a_time, at_once = Fakes(local(2026, 10, 6, 8)), Fakes(local(2026, 10, 6, 8))
    for fakes in (one_at_a_time, at_once):
        await absent(fakes, ["cw-b3", "cw-a2"], date(2026, 10, 6), date(2026, 10, 8))
        await absent(fakes, ["cw-b4"], date(2026, 9, 28), date(2026, 10, 5))  # returning
        for event in history:
            await fakes.assign(event)
    for event in run:
        await one_at_a_time.assign(event)
    uow = await at_once.assign(*run)

    def decisions(fakes: Fakes) -> list[tuple[Any, ...]]:
        return sorted((s.case.referral_id, s.case.team, s.case.caseworker, s.case.reason, s.case.explanation,
                       s.assigned_day) for s in fakes.tables.assignments.values())  # fmt: skip

    assert decisions(at_once) == decisions(one_at_a_time)
    assert [e["data"] for e in at_once.events()] == [e["data"] for e in one_at_a_time.events()]
    assert len(uow.locks_taken) == 1  # every team the batch may need, at once, before deciding
    assert {"continuity", "rotation"} <= {s.case.reason for s in at_once.tables.assignments.values()}


async def test_a_batch_locks_once_and_reads_a_teams_loads_once_per_day(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reads: list[tuple[str, date]] = []
    team_loads = InMemoryAssignmentStore.team_loads

    async def counted(self: InMemoryAssignmentStore, team: str, day: date, caseworkers: Any) -> Any:
        reads.append((team, day))
        return await team_loads(self, team, day, caseworkers)

    monkeypatch.setattr(InMemoryAssignmentStore, "team_loads", counted)
    fakes = Fakes(MONDAY)
    evening = local(2026, 10, 6, 20, 0)  # counts on Wednesday's loads
    uow = await fakes.assign(*[received(f"R-{n}", at=MONDAY if n % 3 else evening) for n in range(30)])
    assert sorted(reads) == [("team-b", date(2026, 10, 5)), ("team-b", date(2026, 10, 7))]
    assert uow.locks_taken == [frozenset({"team-b"})]


async def test_a_referral_for_a_team_the_unit_lacks_is_a_poison_message_at_the_kafka_edge() -> None:
    fakes = Fakes(MONDAY)
    await fakes.assign(received("R-1", at=MONDAY, child="c-1"))
    stored = fakes.tables.assignments["R-1"]  # as if team-x had been removed from the unit file since
    gone = replace(stored.case, team="team-x", caseworker="cw-x1")
    fakes.tables.assignments["R-1"] = replace(stored, case=gone)
    with pytest.raises(UnknownTeam):
        await fakes.assign(received("R-2", at=MONDAY, child="c-1"))

    handlers: dict[str, Any] = {}

    class Runtime:
        def subscribe(self, topic: str, model: Any, handler: Any) -> None:
            handlers[topic] = handler

    subscribers.subscribe(Runtime(), UNIT)
    with pytest.raises(PoisonMessage, match="team-x"):
        async with fakes.uow() as uow:
            await handlers[TOPIC_RECEIVED](uow, [received("R-3", at=MONDAY, child="c-1")])
    assert set(fakes.tables.assignments) == {"R-1"}


@pytest.mark.parametrize(
    "received_at",
    [
        datetime(1, 1, 1, 0, 30, tzinfo=UTC),
        datetime(1970, 1, 1, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 30, tzinfo=UTC),
    ],
)
async def test_a_receipt_outside_the_years_the_unit_plans_for_is_a_poison_message_not_arithmetic(
    received_at: datetime,
) -> None:
    """Issue 24: year 1 overflowed in assignment, which re-read the record forever."""
    fakes = Fakes(MONDAY)
    handlers: dict[str, Any] = {}

    class Runtime:
        def subscribe(self, topic: str, model: Any, handler: Any) -> None:
            handlers[topic] = handler

    subscribers.subscribe(Runtime(), UNIT)
    with pytest.raises(PoisonMessage, match="received_at lies outside the years the unit plans for"):
        async with fakes.uow() as uow:
            await handlers[TOPIC_RECEIVED](uow, [received("R-1", at=received_at)])
    assert fakes.tables.assignments == {}


async def test_a_registration_at_an_implausible_time_is_a_poison_message_and_a_good_one_marks_the_case() -> (
    None
):
    fakes = Fakes(MONDAY)
    await fakes.assign(received("R-1", at=MONDAY))
    handlers: dict[str, Any] = {}

    class Runtime:
        def subscribe(self, topic: str, model: Any, handler: Any) -> None:
            handlers[topic] = handler

    subscribers.subscribe(Runtime(), UNIT)

    def registered(at: datetime) -> Any:
        data = ReferralRegistered(referral_id="R-1", family_key="f-R-1", registered_at=at, by="in-1")
        return new_envelope("referral.registered", data, producer="intake", correlation_id="R-1")

    with pytest.raises(PoisonMessage, match="registered_at lies outside the years the unit plans for"):
        async with fakes.uow() as uow:
            await handlers[TOPIC_REGISTERED](uow, [registered(datetime(1, 1, 1, 0, 30, tzinfo=UTC))])
    assert fakes.case("R-1").registered_at is None
    uow = fakes.uow()
    async with uow:
        await handlers[TOPIC_REGISTERED](uow, [registered(MONDAY)])
        await uow.commit()
    assert (fakes.case("R-1").registered_at, fakes.case("R-1").registered_by) == (MONDAY, "in-1")
