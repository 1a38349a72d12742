"""Rotation, overrides, absences and the workload view as use cases on the in-memory fakes."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from services.assignment.domain.cases import Actor, CaseAction
from services.assignment.domain.errors import (
    InvalidAbsenceDates,
    InvalidOverrideWindow,
    InvalidScheduleRange,
    UnknownStaff,
    UnknownTeam,
)
from services.assignment.domain.model import CapacityRules, Caseworker, Override
from services.assignment.domain.workload import Absence, workload_view
from services.assignment.handlers.cases import act_on_case
from services.assignment.handlers.rotation import (
    add_absence,
    add_override,
    calendar_periods,
    on_duty_at,
    schedule_between,
    workload,
)
from tests.assignment_support import Fakes, local, received

MONDAY = local(2026, 10, 5, 10, 0)  # team-b on duty


async def test_an_override_is_checked_stored_and_beats_the_rotation_in_who_is_on_duty_and_the_schedule() -> (
    None
):
    fakes = Fakes(MONDAY)
    window = (local(2027, 3, 1, 8), local(2027, 3, 3, 8))
    with pytest.raises(UnknownTeam):
        await add_override(fakes.uow(), fakes.unit, Override("team-x", *window, "r"), "mgr-a")
    with pytest.raises(InvalidOverrideWindow):
        await add_override(fakes.uow(), fakes.unit, Override("team-c", window[1], window[0], "r"), "mgr-a")
    assert fakes.tables.overrides == []
    override_id = await add_override(fakes.uow(), fakes.unit, Override("team-c", *window, "course"), "mgr-a")
    assert fakes.tables.overrides == [(override_id, Override("team-c", *window, "course"), "mgr-a")]

    duty = await on_duty_at(fakes.uow(), fakes.unit, local(2027, 3, 2, 12))
    assert (duty.team, duty.source, duty.period_start, duty.period_end) == ("team-c", "override", *window)
    assert (await on_duty_at(fakes.uow(), fakes.unit, MONDAY)).team == "team-b"
    periods = await schedule_between(fakes.uow(), fakes.unit, date(2027, 2, 25), date(2027, 3, 5))
    assert ("team-c", "override") in [(p.team, p.source) for p in periods]
    assert periods[0].period_start < local(2027, 2, 25) and periods[-1].period_end > local(2027, 3, 6)


async def test_a_schedule_must_run_forwards_over_at_most_four_hundred_days() -> None:
    fakes = Fakes(MONDAY)
    with pytest.raises(InvalidScheduleRange):
        await schedule_between(fakes.uow(), fakes.unit, date(2027, 1, 2), date(2027, 1, 1))
    with pytest.raises(InvalidScheduleRange):
        await schedule_between(fakes.uow(), fakes.unit, date(2027, 1, 1), date(2028, 2, 6))
    assert await schedule_between(fakes.uow(), fakes.unit, date(2027, 1, 1), date(2028, 2, 5))


async def test_the_calendar_lists_the_periods_from_a_month_ago_to_a_year_ahead() -> None:
    fakes = Fakes(MONDAY)
    periods = await calendar_periods(fakes.uow(), fakes.unit, MONDAY)
    assert periods[0].period_start <= MONDAY - timedelta(days=30) < periods[0].period_end
    assert periods[-1].period_start <= MONDAY + timedelta(days=365) < periods[-1].period_end
    assert len(periods) >= 365 // 14
    assert [p.team for p in periods if p.period_start <= MONDAY < p.period_end] == ["team-b"]


async def test_an_absence_of_someone_in_the_unit_is_stored_and_others_are_refused() -> None:
    fakes = Fakes(MONDAY)
    with pytest.raises(UnknownStaff):
        await add_absence(
            fakes.uow(), fakes.unit, Absence("nobody", date(2027, 1, 1), date(2027, 1, 2), "sick"), "x"
        )
    with pytest.raises(InvalidAbsenceDates):
        await add_absence(
            fakes.uow(), fakes.unit, Absence("cw-a1", date(2027, 1, 2), date(2027, 1, 1), "sick"), "x"
        )
    long = Absence("cw-a1", date(2027, 1, 1), date(2037, 1, 9), "leave")  # ten years and a week
    with pytest.raises(InvalidAbsenceDates):
        await add_absence(fakes.uow(), fakes.unit, long, "x")
    assert fakes.tables.absences == []
    absence = Absence("mgr-a", date(2027, 1, 1), date(2027, 1, 2), "course")  # a manager is in the unit too
    absence_id = await add_absence(fakes.uow(), fakes.unit, absence, "mgr-a")
    assert fakes.tables.absences == [(absence_id, absence, "mgr-a")]


async def test_the_workload_view_shows_the_loads_decisions_read_capacity_and_absences() -> None:
    fakes = Fakes(MONDAY)
    await fakes.assign(
        received("R-1", at=MONDAY, categories=("violence",), acute=True),
        received("R-2", at=MONDAY, categories=("other",)),
        received("R-3", at=MONDAY),
    )
    closed = fakes.case("R-3")
    manager = Actor("mgr-b", frozenset({"manager"}))
    await act_on_case(
        fakes.uow(),
        fakes.unit,
        "R-3",
        CaseAction("decision", manager, MONDAY, decision="no_investigation"),
        MONDAY,
    )
    await add_absence(
        fakes.uow(), fakes.unit, Absence("cw-b2", date(2026, 10, 20), date(2026, 10, 21), "leave"), "x"
    )
    await add_absence(
        fakes.uow(), fakes.unit, Absence("cw-b2", date(2026, 9, 1), date(2026, 9, 2), "sick"), "x"
    )

    rows = {r.caseworker.staff_id: r for r in await workload(fakes.uow(), fakes.unit, MONDAY)}
    assert len(rows) == 18
    async with fakes.uow() as uow:
        decided_on = await uow.assignments.open_loads()
    for staff_id, row in rows.items():
        load = decided_on.get(staff_id)
        assert (row.open_cases, row.weighted_load) == ((load.open_cases, load.weighted) if load else (0, 0))
    assert sum(r.weighted_load for r in rows.values()) == 175 + 75  # R-3 closed
    assert sum(r.open_cases for r in rows.values()) == 2
    assert rows[closed.caseworker].open_cases == (
        closed.caseworker in {fakes.case("R-1").caseworker, fakes.case("R-2").caseworker}
    )
    assert (rows["cw-b1"].capacity, rows["cw-b5"].capacity, rows["cw-b6"].capacity) == (1000, 800, 1600)
    assert [(a.starts_on, a.kind) for a in rows["cw-b2"].absences] == [(date(2026, 10, 20), "leave")]
    assert [s for s, r in rows.items() if r.new_hire] == ["cw-a5", "cw-b5", "cw-c5"]
    assert (rows["cw-b1"].mentees, rows["cw-b5"].mentees, rows["cw-b5"].caseworker.mentor) == (
        ("cw-b5",),
        (),
        "cw-b1",
    )


def test_a_mentor_of_someone_past_the_mentoring_period_mentors_nobody_and_is_not_new() -> None:
    rules = CapacityRules()
    hired = Caseworker("new", "t", 1.0, date(2024, 1, 1), "old")
    staff = [Caseworker("old", "t", 1.0), hired]
    during = {r.caseworker.staff_id: r for r in workload_view(staff, date(2025, 12, 31), rules, {}, [])}
    after = {r.caseworker.staff_id: r for r in workload_view(staff, date(2026, 1, 1), rules, {}, [])}
    assert (during["new"].new_hire, during["old"].mentees) == (True, ("new",))
    assert (after["new"].new_hire, after["old"].mentees) == (False, ())
    assert during["old"].capacity < after["old"].capacity
