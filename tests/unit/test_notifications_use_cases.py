"""Notification use cases on the in-memory stores: events become deliveries (routing, quiet hours,
once per event x recipient x channel), acknowledgements stop escalation, escalation levels are
told exactly once. No Postgres, no broker."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

import pytest

from services.notifications.adapters.memory import InMemoryNotificationsUnitOfWork
from services.notifications.adapters.memory_tables import NotificationTables
from services.notifications.domain.routing import Acknowledgement
from services.notifications.handlers.escalations import escalate_due
from services.notifications.handlers.events import record_events
from services.notifications.subscribers import handover, inputs, updated
from shared.clock import FixedClock
from shared.events import ReferralUpdated, RotationHandover, new_envelope
from tests.notifications_support import (
    FRIDAY_18,
    MONDAY_08,
    MONDAY_10,
    acknowledged,
    assigned,
    breached,
    consume,
    example_unit,
    received,
    utc,
)


@pytest.fixture
def tables() -> NotificationTables:
    return NotificationTables()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(utc(MONDAY_10))


def uow_of(tables: NotificationTables):
    return lambda: InMemoryNotificationsUnitOfWork(tables)


async def handle(tables, clock, *events, unit=None) -> None:
    await consume(uow_of(tables), events, unit or example_unit(), clock)


def deliveries(tables: NotificationTables) -> list:
    return [row.new for _, row in sorted(tables.deliveries.items())]


async def test_an_assignment_tells_the_caseworker_the_mentor_and_the_team_channel_at_once(tables, clock):
    await handle(tables, clock, assigned("R-1", MONDAY_10, acute=False, caseworker="cw-b5"))

    found = deliveries(tables)
    assert [(d.recipient, d.channel, d.held) for d in found] == [
        ("cw-b5", "email", False), ("cw-b1", "email", False), ("team-b", "teams", False),
    ]  # fmt: skip
    assert all(d.not_before == clock.now() and d.kind == "referral.assigned" for d in found)
    email, card = found[0], found[2]
    assert email.subject == "Nytt ärende: R-1" and "Karin Lund" in email.body_text  # the caseworker's name
    assert card.subject == "Nytt ärende: R-1" and json.loads(card.card or "")["type"] == "message"
    assert tables.webhook_slots.keys() == {"team-b"}  # its pace is kept from the first message


async def test_the_same_event_twice_makes_one_delivery_per_recipient_and_channel(tables, clock):
    event = breached("R-10", MONDAY_10)
    await handle(tables, clock, event)
    await handle(tables, clock, event, event)

    assert [(d.recipient, d.subject) for d in deliveries(tables)] == [
        ("cw-b2", "Tidsfrist överskriden – skyddsbedömning: R-10"),
        ("mgr-b", "Tidsfrist överskriden – skyddsbedömning: R-10"),
    ]


async def test_non_acute_news_after_friday_close_is_held_for_the_monday_eight_digest(tables, clock):
    clock.set(utc(FRIDAY_18))
    await handle(tables, clock, assigned("R-5", FRIDAY_18, acute=False))

    assert {(d.held, d.not_before) for d in deliveries(tables)} == {(True, MONDAY_08)}


async def test_without_quiet_hours_nothing_is_held(tables, clock):
    clock.set(utc(FRIDAY_18))
    await handle(tables, clock, assigned("R-5", FRIDAY_18, acute=False), unit=example_unit(quiet_hours={}))

    assert {(d.held, d.not_before) for d in deliveries(tables)} == {(False, utc(FRIDAY_18))}


async def test_an_acute_referral_outside_office_hours_is_not_held_and_reaches_the_out_of_hours_service(
    tables, clock
):
    clock.set(utc(FRIDAY_18))
    await handle(tables, clock, assigned("R-7", FRIDAY_18, acute=True, caseworker="cw-b5"))
    await handle(tables, clock, received("R-8", FRIDAY_18, acute=True))

    found = deliveries(tables)
    assert not any(d.held for d in found)
    assert {"socialjour", "cw-b5", "cw-b1", "team-b"} <= {d.recipient for d in found}


async def test_an_acute_referral_in_office_hours_goes_to_intake_but_not_the_out_of_hours_service(
    tables, clock
):
    await handle(tables, clock, received("R-9", MONDAY_10, acute=True))

    assert sorted(d.recipient for d in deliveries(tables)) == ["in-1", "in-2", "in-3", "in-4"]


async def test_a_rotation_handover_tells_the_incoming_teams_channel_who_it_takes_over_from(tables, clock):
    data = RotationHandover(from_team="team-a", to_team="team-b", at=clock.now())
    await handle(tables, clock, new_envelope("rotation.handover", data, producer="t", correlation_id="r"))

    [card] = deliveries(tables)
    assert (card.recipient, card.channel, card.referral_id) == ("team-b", "teams", None)
    assert card.subject == "Överlämning: Team B har mottagningen" and "Team A" in (card.card or "")


async def test_updates_other_than_an_acknowledgement_tell_nobody_and_change_nothing(tables, clock):
    data = ReferralUpdated(referral_id="R-1", family_key="f-1", status="decided", at=clock.now())
    decided = new_envelope("referral.decided", data, producer="t", correlation_id="R-1")
    assert updated(decided) == []
    await handle(tables, clock, decided)
    assert tables.deliveries == {} and tables.acknowledged == {}


def test_the_edge_translates_each_event_to_ids_codes_and_times_only():
    at = MONDAY_10
    [ack] = inputs([acknowledged("R-1", at)])
    assert ack == Acknowledgement("R-1", at)
    data = RotationHandover(from_team="team-a", to_team="team-b", at=at)
    [occurrence] = handover(new_envelope("rotation.handover", data, producer="t", correlation_id="r"))
    assert (occurrence.team, occurrence.other_team, occurrence.at) == ("team-b", "team-a", at)
    [assignment] = inputs([assigned("R-2", at, acute=True)])
    assert (assignment.caseworker, assignment.acute, assignment.deadlines) == (
        "cw-b2", True, (("protection_assessment", at + timedelta(hours=7)),),
    )  # fmt: skip


async def escalate_at(tables, clock, at) -> int:
    clock.set(utc(at))
    return await escalate_due(uow_of(tables), example_unit(), clock)


def escalations_to(tables) -> list[str]:
    return [d.recipient for d in deliveries(tables) if d.kind == "escalation"]


async def test_an_unacknowledged_acute_referral_goes_to_the_manager_at_30_minutes_then_the_head_at_60(
    tables, clock
):
    await handle(tables, clock, assigned("R-1", MONDAY_10, acute=True))

    assert await escalate_at(tables, clock, MONDAY_10 + timedelta(minutes=29, seconds=59)) == 0
    assert await escalate_at(tables, clock, MONDAY_10 + timedelta(minutes=30)) == 1
    assert await escalate_at(tables, clock, MONDAY_10 + timedelta(minutes=30)) == 0
    assert escalations_to(tables) == ["mgr-b"]
    assert await escalate_at(tables, clock, MONDAY_10 + timedelta(minutes=59, seconds=59)) == 0
    assert await escalate_at(tables, clock, MONDAY_10 + timedelta(minutes=60)) == 1
    assert await escalate_at(tables, clock, MONDAY_10 + timedelta(days=1)) == 0
    assert escalations_to(tables) == ["mgr-b", "head"]
    head = next(d for d in deliveries(tables) if d.recipient == "head")
    assert (head.subject, head.held) == ("AKUT: Akut ärende ej kvitterat: R-1", False)


async def test_a_level_told_again_after_a_lost_commit_makes_no_second_delivery(tables, clock):
    await handle(tables, clock, assigned("R-1", MONDAY_10, acute=True))
    await escalate_at(tables, clock, MONDAY_10 + timedelta(minutes=30))
    # As if the advance had been lost while the manager's delivery was kept: level 0 is due again.
    tables.escalations = {k: replace(v, level=0) for k, v in tables.escalations.items()}

    assert await escalate_at(tables, clock, MONDAY_10 + timedelta(minutes=60)) == 1  # told "again"
    assert escalations_to(tables) == ["mgr-b"]  # under the same source id: still one delivery


async def test_an_acknowledged_acute_referral_is_never_escalated(tables, clock):
    await handle(tables, clock, assigned("R-2", MONDAY_10, acute=True))
    await handle(tables, clock, acknowledged("R-2", MONDAY_10 + timedelta(minutes=10)))

    assert await escalate_at(tables, clock, MONDAY_10 + timedelta(hours=3)) == 0
    assert escalations_to(tables) == [] and tables.escalations == {}


async def test_an_acknowledgement_that_arrives_before_the_assignment_still_stops_escalation(tables, clock):
    await handle(tables, clock, acknowledged("R-3", MONDAY_10), assigned("R-3", MONDAY_10, acute=True))

    assert await escalate_at(tables, clock, MONDAY_10 + timedelta(hours=3)) == 0


async def test_a_non_acute_referral_is_never_escalated(tables, clock):
    await handle(tables, clock, assigned("R-4", MONDAY_10, acute=False))

    assert await escalate_at(tables, clock, MONDAY_10 + timedelta(hours=3)) == 0


async def test_a_run_writes_escalations_in_event_order_and_its_deliveries_at_the_end(tables, clock):
    """Assignment, acknowledgement, reassignment of one acute referral in one run: the watch the
    first started is stopped by the second and never restarted by the third."""
    again = assigned("R-5", MONDAY_10, acute=True)
    again = again.model_copy(update={"event_type": "referral.reassigned"})
    async with InMemoryNotificationsUnitOfWork(tables) as uow:
        run = inputs([assigned("R-5", MONDAY_10, acute=True), acknowledged("R-5", MONDAY_10), again])
        await record_events(uow, run, example_unit(), clock)
        await uow.commit()

    assert tables.escalations == {} and set(tables.acknowledged) == {"R-5"}
    assert {d.kind for d in deliveries(tables)} == {"referral.assigned", "referral.reassigned"}
