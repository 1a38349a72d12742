"""The service's assignment use case (on the fakes) and `referral-router simulate` decide alike.

The same referrals, absences and earlier cases (hence loads) go to both; every referral must get
the same team and caseworker, including continuity at capacity and nobody free, where the
simulation once handed a continuity referral to the manager of the team on duty instead of the
team the referral went to (issue 18). The loads both end with must be equal too.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from referral_router.policy_simulation import START, Case, Simulation
from services.assignment.domain.batch import NewAssignment, ReceivedReferral
from services.assignment.domain.model import Deadlines, Decision, OnDuty, Referral, as_cases
from services.assignment.domain.workload import Absence
from services.assignment.handlers.assign import ReferralMessage, assign_referrals, assigned_event
from tests.assignment_support import UNIT, Fakes

DAY = START + timedelta(days=2)  # Wednesday 7 January 2026: team-a on duty (5 to 19 January)
TEAM_C = [f"cw-c{i}" for i in range(1, 7)]


@dataclass(frozen=True)
class Span:
    staff: str
    first: date
    last: date


ABSENCES = [
    *[Span(s, DAY, DAY) for s in TEAM_C],  # nobody in team-c at work today
    Span("cw-a4", DAY - timedelta(days=1), DAY + timedelta(days=3)),
    Span("cw-a6", DAY - timedelta(days=6), DAY - timedelta(days=2)),  # back from leave: at most two a day
    *[
        Span(f"cw-a{i}", DAY + timedelta(days=1), DAY + timedelta(days=1)) for i in range(1, 7)
    ],  # nobody tomorrow
]


def earlier_cases() -> list[Case]:
    """Open cases assigned before: loads, and the earlier cases continuity follows."""
    rng = random.Random(18)
    cases = [
        # The family f-1's open case is with cw-a2, who is full: 19.5 of 20 cases.
        case("H-f1", "c-1", "f-1", "team-a", "cw-a2", 100, START),
        *[case(f"H-a2-{n}", f"c-h{n}", f"f-h{n}", "team-a", "cw-a2", 250, START) for n in range(7)],
        case("H-a2-7", "c-h7", "f-h7", "team-a", "cw-a2", 100, START),
        # The family f-9's open case is in team-c, nobody of which is at work today.
        case("H-f9", "c-90", "f-9", "team-c", "cw-c3", 100, START),
        # A child with two open cases (the first caseworker was away once): the newest one counts.
        case("H-twice-1", "c-twice", "f-twice-1", "team-a", "cw-a1", 100, START),
        case("H-twice-2", "c-twice", "f-twice-2", "team-a", "cw-a3", 100, START),
    ]
    for n in range(12):
        who = rng.choice(["cw-a1", "cw-a3", "cw-a4", "cw-a6"])
        cases.append(
            case(f"H-{n}", f"c-x{n}", f"f-x{n}", "team-a", who, rng.choice([75, 100, 125, 150]), START)
        )
    return cases


def case(rid: str, child: str, family: str, team: str, who: str, weight: int, day: date) -> Case:
    at = datetime.combine(day, datetime.min.time(), UNIT.tz) + timedelta(hours=9, minutes=len(rid))
    return Case(Referral(rid, child, family, ("neglect",)), team, who, weight, day, None, assigned_at=at)


def todays_referrals() -> list[tuple[datetime, Referral]]:
    """In order of arrival, all in office hours: repeats, siblings (also of today's), restricted kinds."""
    rng = random.Random(4)
    fixed = [
        Referral("R-sibling-at-capacity", "c-2", "f-1", ("neglect",)),
        Referral("R-same-child", "c-1", "f-1", ("neglect",)),
        Referral("R-team-c-sibling", "c-91", "f-9", ("violence",)),
        Referral("R-child-with-two-cases", "c-twice", "f-twice-3", ("neglect",)),
    ]
    today: list[Referral] = []
    for n in range(32):
        if n % 8 == 3:
            today.append(fixed[n // 8])
        elif today and rng.random() < 0.2:
            sibling = rng.choice(today)
            today.append(Referral(f"R-{n}", f"c-r{n}", sibling.family_key, ("other",)))
        else:
            cats = (rng.choice(["neglect", "violence", "sexual_abuse", "other", "honour_related"]),)
            today.append(
                Referral(f"R-{n}", f"c-r{n}", f"f-r{n}", cats, rng.random() < 0.15, rng.random() < 0.1)
            )
    start = datetime.combine(DAY, datetime.min.time(), UNIT.tz) + timedelta(hours=8)
    return [(start + timedelta(minutes=17 * n), r) for n, r in enumerate(today)] + [
        (start + timedelta(days=1, hours=2), Referral("R-tomorrow", "c-t", "f-t", ("neglect",)))
    ]


def simulation() -> Simulation:
    away: dict[date, set[str]] = {}
    for span in ABSENCES:
        for d in range((span.last - span.first).days + 1):
            away.setdefault(span.first + timedelta(days=d), set()).add(span.staff)
    return Simulation(UNIT, {d: frozenset(s) for d, s in away.items()})


async def by_service(history: list[Case], referrals: list[tuple[datetime, Referral]]) -> Fakes:
    fakes = Fakes(START)
    async with fakes.uow() as uow:
        for span in ABSENCES:
            await uow.absences.add(Absence(span.staff, span.first, span.last, "leave"), "test")
        await uow.commit()
    for c in history:  # each stored at its own time, as the service stored it
        assert c.assigned_at is not None
        fakes.clock.set(c.assigned_at)
        received = ReceivedReferral(c.referral, c.assigned_at)
        duty = OnDuty(c.team, c.assigned_at, c.assigned_at, "rotation")
        decision = Decision(c.team, c.caseworker, None, "rotation", "earlier")
        deadlines = Deadlines(c.assigned_at, c.assigned_at, False)
        stored = NewAssignment(received, decision, duty, c.assigned_on, c.weight, deadlines)
        async with fakes.uow() as uow:
            await uow.assignments.add([(stored, assigned_event(stored, ReferralMessage(received, "e", "c")))])
            await uow.commit()
    for at, referral in referrals:  # each arrives alone and is assigned at its instant
        fakes.clock.set(at)
        async with fakes.uow() as uow:
            message = ReferralMessage(ReceivedReferral(referral, at), f"e-{referral.referral_id}", "c")
            await assign_referrals(uow, UNIT, [message])
            await uow.commit()
    return fakes


async def test_the_service_and_the_simulation_decide_alike_on_the_same_referrals_absences_and_loads():
    history, referrals = earlier_cases(), todays_referrals()
    days = (DAY - START).days + 2
    outcome = simulation().run("weighted", referrals, days, seed=1, history=history)
    fakes = await by_service(history, referrals)

    simulated = [(c.referral.referral_id, c.team, c.caseworker) for c in outcome.cases]
    served = [(rid, fakes.case(rid).team, fakes.case(rid).caseworker) for rid, _, _ in simulated]
    assert len(simulated) == len(referrals)
    assert served == simulated

    # The scenario exercises what it is meant to.
    at_capacity, same_child = fakes.case("R-sibling-at-capacity"), fakes.case("R-same-child")
    assert at_capacity.reason == "continuity" and "cw-a2 is at capacity" in at_capacity.explanation
    assert (same_child.caseworker, same_child.reason) == ("cw-a2", "continuity")
    assert (fakes.case("R-team-c-sibling").team, fakes.case("R-team-c-sibling").caseworker) == (
        "team-c",
        "mgr-c",
    )
    assert fakes.case("R-child-with-two-cases").caseworker == "cw-a3"
    assert (fakes.case("R-tomorrow").team, fakes.case("R-tomorrow").caseworker) == ("team-a", "mgr-a")
    assert (
        sum(fakes.case(rid).caseworker == "cw-a6" for rid, _, _ in simulated) == 2
    )  # the back-from-leave cap
    assert {fakes.case(rid).reason for rid, _, _ in simulated} >= {"continuity", "rotation"}

    # And both end the day with the same loads, in cases.
    async with fakes.uow() as uow:
        loads = await uow.assignments.open_loads()
    today = (DAY - START).days
    for staff_id, series in outcome.daily_load.items():
        assert series[today] == as_cases(loads[staff_id].weighted if staff_id in loads else 0), staff_id
