"""Deadline alerts and rotation handovers as use cases on the in-memory fakes: each exactly once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.assignment.domain.access import Actor
from services.assignment.domain.cases import CaseAction
from services.assignment.domain.registration import Registration
from services.assignment.handlers.cases import act_on_case
from services.assignment.handlers.registration import record_registrations
from services.assignment.handlers.scheduled import (
    announce_on_duty,
    emit_deadline_alerts,
    emit_scheduled_events,
    event_id,
)
from tests.assignment_support import Fakes, local, received

MANAGER = Actor("head", frozenset({"head_of_unit"}))  # may act on any referral


def deadline_events(fakes: Fakes) -> list[tuple[str, str, int | None]]:
    return [
        (e["event_type"], e["data"]["deadline"], e["data"]["lead_seconds"])
        for e in fakes.events()
        if e["event_type"].startswith("deadline.")
    ]


async def scan(fakes: Fakes) -> int:
    return await emit_scheduled_events(fakes.uow, fakes.unit, fakes.clock.now())


async def register(fakes: Fakes, *referral_ids: str, by: str = "in-1") -> None:
    """Intake registered the referrals now, as the consumer of `referrals.registered.v1` would:
    their registration clocks stop, so a test sees the statutory clocks alone."""
    uow = fakes.uow()
    async with uow:
        now = fakes.clock.now()
        await record_registrations(uow, [Registration(r, now, by) for r in referral_ids])
        await uow.commit()


async def test_reminders_and_breaches_are_emitted_once_however_often_scans_run() -> None:
    """(Scans of two instances at the same moment are the Postgres integration test's.)"""
    received_at = local(2026, 10, 20, 10, 0)  # protection due 17:00, preliminary 3 Nov 23:59:59
    fakes = Fakes(received_at)
    await fakes.assign(received("R-1", at=received_at))
    await register(fakes, "R-1")
    preliminary_due = local(2026, 11, 3, 23, 59, 59)
    steps = [
        local(2026, 10, 20, 15, 0),  # two hours before the protection assessment is due
        local(2026, 10, 20, 17, 0),  # protection assessment breached
        preliminary_due - timedelta(days=3),
        preliminary_due - timedelta(days=1),
    ]
    for moment in steps:
        fakes.clock.set(moment)
        assert await scan(fakes) == 1
        assert await scan(fakes) == 0  # another instance, or the next scan: nothing new
    decided = preliminary_due - timedelta(hours=5)
    await act_on_case(
        fakes.uow(),
        fakes.unit,
        "R-1",
        CaseAction("decision", MANAGER, decided, decision="no_investigation"),
        decided,
    )
    fakes.clock.set(preliminary_due + timedelta(days=2))
    await scan(fakes)
    assert deadline_events(fakes) == [
        ("deadline.approaching", "protection_assessment", 7200),
        ("deadline.breached", "protection_assessment", None),
        ("deadline.approaching", "preliminary_assessment", 259200),
        ("deadline.approaching", "preliminary_assessment", 86400),
    ]


async def test_a_deadline_passed_while_nobody_scanned_is_breached_once_without_late_reminders() -> None:
    fakes = Fakes(local(2026, 10, 20, 10, 0))
    await fakes.assign(received("R-1", at=local(2026, 10, 20, 10, 0)))
    fakes.clock.set(local(2026, 11, 4, 0, 0))
    await scan(fakes)
    fakes.clock.set(local(2026, 11, 20))
    await scan(fakes)
    events = deadline_events(fakes)
    assert events.count(("deadline.breached", "preliminary_assessment", None)) == 1
    assert not [e for e in events if e[0] == "deadline.approaching"]


async def test_an_alert_has_a_deterministic_event_id_so_a_second_emission_would_collide() -> None:
    fakes = Fakes(local(2026, 10, 20, 10, 0))
    await fakes.assign(received("R-1", at=local(2026, 10, 20, 10, 0)))
    await register(fakes, "R-1")
    fakes.clock.set(local(2026, 10, 20, 15, 0))
    await scan(fakes)
    [row] = [r for r in fakes.tables.outbox if r[1] == "deadlines.v1"]
    due = local(2026, 10, 20, 17, 0).astimezone(UTC).isoformat()
    assert row[0] == event_id("R-1", "protection_assessment", due, "approaching:7200")


async def test_a_scan_opens_a_unit_of_work_only_for_a_clock_with_an_alert_due() -> None:
    received_at = local(2026, 10, 20, 10, 0)  # protection assessment due 17:00, reminder 15:00
    fakes = Fakes(received_at)
    await fakes.assign(*[received(f"R-{n}", at=received_at) for n in range(30)])
    await register(fakes, *[f"R-{n}" for n in range(30)])
    opened: list[object] = []

    def counted():
        uow = fakes.uow()
        opened.append(uow)
        return uow

    fakes.clock.set(received_at + timedelta(minutes=5))
    assert await emit_deadline_alerts(counted, fakes.unit, fakes.clock.now()) == 0
    assert len(opened) == 1  # the one read of every open clock
    opened.clear()
    fakes.clock.set(local(2026, 10, 20, 15, 0))
    assert await emit_deadline_alerts(counted, fakes.unit, fakes.clock.now()) == 30
    assert len(opened) == 31


async def test_a_handover_is_emitted_once_per_boundary_with_the_next_one() -> None:
    fakes = Fakes(local(2026, 1, 19, 8, 0, 30))
    assert [await scan(fakes) for _ in range(3)] == [1, 0, 0]
    fakes.clock.set(local(2026, 1, 19, 12, 0))
    await scan(fakes)
    [handover] = [e for e in fakes.events() if e["event_type"] == "rotation.handover"]
    assert (handover["data"]["from_team"], handover["data"]["to_team"]) == ("team-a", "team-b")
    assert handover["data"]["next_handover_at"].startswith("2026-02-02T07:00:00")
    [row] = fakes.tables.outbox
    assert row[0] == event_id("handover", local(2026, 1, 19, 8, 0).astimezone(UTC).isoformat())


async def test_a_start_days_after_the_handover_announces_the_team_on_duty_once_and_tells_nobody() -> None:
    fakes = Fakes(local(2026, 1, 27, 10, 0))  # team-b took over on 19 January at 08:00
    assert await announce_on_duty(fakes.uow(), fakes.unit, fakes.clock.now()) == 1
    assert await announce_on_duty(fakes.uow(), fakes.unit, fakes.clock.now()) == 0  # a restart
    [event] = fakes.events()
    assert event["event_type"] == "rotation.on_duty"  # not a handover: no card days late
    assert (event["data"]["from_team"], event["data"]["to_team"]) == ("team-a", "team-b")
    assert datetime.fromisoformat(event["data"]["at"]) == local(2026, 1, 19, 8, 0)
    assert datetime.fromisoformat(event["data"]["next_handover_at"]) == local(2026, 2, 2, 8, 0)
    assert await scan(fakes) == 0  # the scans that follow announce nothing more for this period


async def test_a_start_within_a_day_of_the_handover_leaves_it_to_the_scan_as_a_real_handover() -> None:
    fakes = Fakes(local(2026, 1, 19, 9, 0))
    assert await announce_on_duty(fakes.uow(), fakes.unit, fakes.clock.now()) == 0
    assert await scan(fakes) == 1
    assert [e["event_type"] for e in fakes.events()] == ["rotation.handover"]


# --- registration (issue 19) ---------------------------------------------------------------------


async def test_an_unregistered_referral_gets_a_registration_reminder_and_breach_for_no_caseworker() -> None:
    received_at = local(2026, 10, 20, 10, 0)  # a Tuesday: registration due 16:00, reminder 14:00
    fakes = Fakes(received_at)
    await fakes.assign(received("R-1", at=received_at))
    fakes.clock.set(local(2026, 10, 20, 14, 0))
    await scan(fakes)
    fakes.clock.set(local(2026, 10, 20, 16, 0))
    await scan(fakes)
    registration = [e for e in fakes.events() if e["data"].get("deadline") == "registration"]
    assert [(e["event_type"], e["data"]["lead_seconds"]) for e in registration] == [
        ("deadline.approaching", 7200),
        ("deadline.breached", None),
    ]
    due = local(2026, 10, 20, 16, 0).astimezone(UTC)
    for event in registration:
        assert event["data"]["caseworker"] is None  # the intake group registers
        assert event["data"]["team"] == fakes.case("R-1").team
        assert datetime.fromisoformat(event["data"]["due_at"]) == due


async def test_registration_stops_the_registration_reminders_and_breach() -> None:
    received_at = local(2026, 10, 20, 10, 0)
    fakes = Fakes(received_at)
    await fakes.assign(received("R-1", at=received_at))
    fakes.clock.set(local(2026, 10, 20, 11, 0))
    await register(fakes, "R-1")
    fakes.clock.set(local(2026, 10, 20, 14, 0))
    await scan(fakes)
    fakes.clock.set(local(2026, 10, 21, 9, 0))
    await scan(fakes)
    assert not [e for e in fakes.events() if e["data"].get("deadline") == "registration"]
    case = fakes.case("R-1")
    assert (case.registered_at, case.registered_by) == (local(2026, 10, 20, 11, 0), "in-1")


async def test_a_registration_handled_before_the_assignment_is_kept_for_it() -> None:
    received_at = local(2026, 10, 20, 10, 0)
    fakes = Fakes(received_at)
    await register(fakes, "R-1", by="in-2")  # on its own topic: no order with referrals.received
    await register(fakes, "R-1", by="in-3")  # a second registration changes nothing
    await fakes.assign(received("R-1", at=received_at))
    case = fakes.case("R-1")
    assert (case.registered_at, case.registered_by) == (received_at, "in-2")
    fakes.clock.set(local(2026, 10, 21, 9, 0))
    await scan(fakes)
    assert not [e for e in fakes.events() if e["data"].get("deadline") == "registration"]
