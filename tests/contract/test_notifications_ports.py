"""The notification ports' contract (services/notifications/ports.py), run against the in-memory
fakes and the Postgres adapters: what the use cases rely on, seen only through the ports.

Deliveries are unique per event x recipient x channel; a claim takes only due pending rows, oldest
first, and is durable at once; a write for a claim changes nothing once the claim no longer holds,
and only then does its outcome event go out; Teams webhooks are paced through their slots;
escalations start unless acknowledged and stop for good.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.notifications.adapters.memory import InMemoryNotificationsUnitOfWork
from services.notifications.adapters.memory_deliveries import InMemoryDeliveryLedger
from services.notifications.adapters.memory_tables import NotificationTables
from services.notifications.adapters.postgres import PostgresNotificationsUnitOfWork
from services.notifications.adapters.postgres_deliveries import PostgresDeliveryLedger
from services.notifications.domain.delivery import Finish, RetryLater, Status
from services.notifications.domain.escalation import Escalation
from services.notifications.handlers.sending import outcome_row
from services.notifications.ports import DeliveryLedger, NotificationsUnitOfWork, SlotHold
from tests.conftest import migrated_pool
from tests.notifications_support import add, in_unit_of_work, new_delivery

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
LEASE = timedelta(seconds=60)
GAP = timedelta(seconds=1)


@dataclass
class Backend:
    unit_of_work: Callable[[], NotificationsUnitOfWork]
    ledger: DeliveryLedger
    outcome_events: Callable[[], Awaitable[list[tuple[str, str]]]]

    async def run(self, work: Callable[[Any], Any]) -> Any:
        return await in_unit_of_work(self.unit_of_work, work)

    async def add(self, *deliveries: Any) -> None:
        await add(self.unit_of_work, *deliveries)

    async def statuses(self) -> dict[tuple[str, str], int]:
        return dict(await self.ledger.counts())


def _events(payloads: list[bytes]) -> list[tuple[str, str]]:
    found = [json.loads(p) for p in payloads]
    return [
        (e["event_type"], e["data"]["recipient"])
        for e in found
        if e["event_type"].startswith("notification.")
    ]


@pytest.fixture(params=["memory", "postgres"])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    if request.param == "memory":
        tables = NotificationTables()

        async def in_memory() -> list[tuple[str, str]]:
            return _events([payload for _, _, _, payload in tables.outbox])

        yield Backend(
            lambda: InMemoryNotificationsUnitOfWork(tables), InMemoryDeliveryLedger(tables), in_memory
        )
        return
    server = request.getfixturevalue("postgres_server")
    async with migrated_pool(server, "services.notifications.migrations", "notifications") as pool:

        async def in_postgres() -> list[tuple[str, str]]:
            return _events([r["payload"] for r in await pool.fetch("SELECT payload FROM outbox ORDER BY id")])

        yield Backend(
            lambda: PostgresNotificationsUnitOfWork(pool), PostgresDeliveryLedger(pool), in_postgres
        )


def email(recipient: str, *, at: datetime = NOW, held: bool = False, source: uuid.UUID | None = None) -> Any:
    return new_delivery(recipient, at=at, held=held, source=source)


def card(team: str, *, at: datetime = NOW) -> Any:
    return new_delivery(team, channel="teams", at=at)


# --- deliveries: creation and claims ----------------------------------------------------------


async def test_one_event_recipient_and_channel_keep_one_delivery_however_often_it_is_added(backend):
    source = uuid.uuid4()
    await backend.add(email("cw-a1", source=source), email("cw-a1", source=source))
    await backend.add(email("cw-a1", source=source), email("cw-a2", source=source))
    await backend.add(replace(card("cw-a1"), source_event_id=source))

    assert await backend.statuses() == {("email", "pending"): 2, ("teams", "pending"): 1}


async def test_a_consultation_email_is_claimed_with_its_invitation_and_others_without(backend):
    invite = '{"uid": "c-1@referral-router", "sequence": 2}'
    await backend.add(replace(email("partner-1"), invitation=invite), email("cw-a1"))
    claimed = {d.recipient: d.invitation for d in await backend.ledger.claim_email(NOW, 10, LEASE)}
    assert claimed == {"partner-1": invite, "cw-a1": None}


async def test_deliveries_added_in_a_unit_of_work_left_without_commit_are_not_there(backend):
    async with backend.unit_of_work() as uow:
        await uow.deliveries.add([email("cw-a1")])

    assert await backend.statuses() == {}


async def test_an_email_claim_takes_due_unheld_pending_email_oldest_first_up_to_its_limit(backend):
    await backend.add(
        email("cw-a1"), email("cw-a2", at=NOW + timedelta(seconds=1)), email("cw-a3", held=True)
    )
    await backend.add(card("team-a"), email("cw-a4"), email("cw-a5"))

    first = await backend.ledger.claim_email(NOW, 2, LEASE)
    assert [(d.recipient, d.claim.attempt, d.handed_over) for d in first] == [
        ("cw-a1", 1, False),
        ("cw-a4", 1, False),
    ]
    assert [d.recipient for d in await backend.ledger.claim_email(NOW, 10, LEASE)] == ["cw-a5"]
    assert await backend.ledger.claim_email(NOW, 10, LEASE) == []
    assert [d.recipient for d in await backend.ledger.claim_email(NOW + timedelta(seconds=1), 10, LEASE)] == [
        "cw-a2"
    ]
    assert await backend.statuses() == {
        ("email", "sending"): 4,
        ("email", "pending"): 1,
        ("teams", "pending"): 1,
    }


async def test_a_claim_returns_what_to_send_and_to_whom(backend):
    new = email("cw-a1")
    await backend.add(new)

    [claimed] = await backend.ledger.claim_email(NOW, 10, LEASE)

    assert (claimed.source_event_id, claimed.recipient, claimed.channel, claimed.kind) == (
        new.source_event_id, "cw-a1", "email", "referral.assigned",
    )  # fmt: skip
    assert (claimed.referral_id, claimed.family_key, claimed.subject, claimed.body_text) == (
        "R-cw-a1", "f-1", "Nytt ärende", "text",
    )  # fmt: skip
    assert (claimed.body_html, claimed.card, claimed.held) == (None, None, False)


async def test_the_worker_sees_whether_teams_or_digest_work_is_due(backend):
    assert await backend.ledger.due_teams_and_digest(NOW) == (False, False)
    await backend.add(email("cw-a1"), email("cw-a2", held=True, at=NOW + timedelta(hours=1)))
    assert await backend.ledger.due_teams_and_digest(NOW) == (False, False)
    assert await backend.ledger.due_teams_and_digest(NOW + timedelta(hours=1)) == (False, True)
    await backend.add(card("team-a", at=NOW + timedelta(seconds=5)))
    assert await backend.ledger.due_teams_and_digest(NOW + timedelta(seconds=5)) == (True, False)
    assert await backend.ledger.due_teams_and_digest(NOW + timedelta(hours=1)) == (True, True)


async def test_a_digest_claim_takes_every_due_held_delivery_of_the_oldest_ones_recipient_and_channel(backend):
    later = NOW + timedelta(hours=1)
    await backend.add(email("cw-b2", held=True), email("cw-a1", held=True), email("cw-b2", held=True))
    await backend.add(email("cw-b2", held=True, at=later), email("cw-b2"))

    first = await backend.run(lambda uow: uow.deliveries.claim_digest(NOW, LEASE))
    assert [(d.recipient, d.held) for d in first] == [("cw-b2", True)] * 2
    assert [d.recipient for d in await backend.run(lambda uow: uow.deliveries.claim_digest(NOW, LEASE))] == [
        "cw-a1"
    ]
    assert await backend.run(lambda uow: uow.deliveries.claim_digest(NOW, LEASE)) == []
    assert len(await backend.run(lambda uow: uow.deliveries.claim_digest(later, LEASE))) == 1


async def test_the_next_due_time_is_the_earliest_attempt_a_webhook_slot_or_a_lease_allows(backend):
    # The delivery worker sleeps until then when it is idle (issue 25), so it must not be late.
    assert await backend.ledger.next_due() is None
    await backend.add(
        email("cw-a1", at=NOW + timedelta(hours=1)), email("cw-a2", held=True, at=NOW + timedelta(hours=2))
    )
    assert await backend.ledger.next_due() == NOW + timedelta(hours=1)
    await backend.add(card("team-a", at=NOW + timedelta(minutes=5)))
    await backend.run(lambda uow: uow.webhook_slots.hold([SlotHold("team-a", NOW + timedelta(minutes=20))]))
    assert await backend.ledger.next_due() == NOW + timedelta(minutes=20)  # the card waits for its slot
    [mail] = await backend.ledger.claim_email(NOW + timedelta(hours=1), 10, LEASE)
    assert await backend.ledger.next_due() == NOW + timedelta(minutes=20)
    await backend.run(_sent(mail))
    [posted] = await backend.run(
        lambda uow: uow.deliveries.claim_teams(NOW + timedelta(minutes=20), GAP, LEASE)
    )
    assert await backend.ledger.next_due() == NOW + timedelta(minutes=20) + LEASE  # the reaper's turn
    await backend.run(_sent(posted))
    assert await backend.ledger.next_due() == NOW + timedelta(hours=2)  # only the held one is left


def _sent(claimed: Any) -> Callable[[Any], Any]:
    finish = Finish(claimed.claim, Status.SENT)
    return lambda uow: uow.deliveries.finish([(finish, outcome_row(claimed, finish))])


async def test_a_teams_claim_takes_one_message_per_free_webhook_and_moves_its_slot_on(backend):
    await backend.add(card("team-a"), card("team-a"), card("team-b"))

    def claim_teams(at: datetime) -> Callable[[Any], Any]:
        return lambda uow: uow.deliveries.claim_teams(at, GAP, LEASE)

    first = await backend.run(claim_teams(NOW))
    assert sorted(d.recipient for d in first) == ["team-a", "team-b"]
    assert await backend.run(claim_teams(NOW + GAP - timedelta(microseconds=1))) == []
    [second] = await backend.run(claim_teams(NOW + GAP))
    assert second.recipient == "team-a" and second.claim.delivery_id > min(d.claim.delivery_id for d in first)


async def test_a_webhook_held_after_a_429_gets_nothing_until_then_and_a_hold_never_shortens(backend):
    await backend.add(card("team-a"), card("team-a"))
    until = NOW + timedelta(seconds=30)
    await backend.run(lambda uow: uow.webhook_slots.hold([SlotHold("team-a", until)]))
    await backend.run(lambda uow: uow.webhook_slots.hold([SlotHold("team-a", NOW), SlotHold("team-x", NOW)]))

    def claim_teams(at: datetime) -> Callable[[Any], Any]:
        return lambda uow: uow.deliveries.claim_teams(at, GAP, LEASE)

    assert await backend.run(claim_teams(until - timedelta(microseconds=1))) == []
    assert len(await backend.run(claim_teams(until))) == 1


async def test_opening_a_webhook_slot_again_keeps_its_hold(backend):
    await backend.add(card("team-a"))
    await backend.run(lambda uow: uow.webhook_slots.hold([SlotHold("team-a", NOW + timedelta(seconds=30))]))
    await backend.run(lambda uow: uow.webhook_slots.open(["team-a"]))

    assert await backend.run(lambda uow: uow.deliveries.claim_teams(NOW, GAP, LEASE)) == []


# --- deliveries: a claim's writes --------------------------------------------------------------


async def test_a_hand_over_is_recorded_only_for_claims_that_still_hold(backend):
    await backend.add(email("cw-a1"), email("cw-a2"))
    a, b = await backend.ledger.claim_email(NOW, 10, LEASE)
    stale = replace(b.claim, attempt=b.claim.attempt - 1)

    assert await backend.ledger.hand_over([a.claim, stale]) == {a.claim.delivery_id}
    assert await backend.ledger.hand_over([a.claim]) == {a.claim.delivery_id}  # the same claim again

    abandoned = await backend.run(lambda uow: uow.deliveries.abandoned(NOW + LEASE + timedelta(seconds=1)))
    assert [(d.recipient, d.handed_over) for d in abandoned] == [("cw-a1", True), ("cw-a2", False)]


async def test_final_outcomes_change_only_claims_that_hold_and_publish_one_event_each(backend):
    await backend.add(email("cw-a1"), email("cw-a2"), email("cw-b1"))
    a, b, c = await backend.ledger.claim_email(NOW, 10, LEASE)
    late = Finish(replace(c.claim, attempt=0), Status.SENT)
    outcomes = [
        (a, Finish(a.claim, Status.SENT)),
        (b, Finish(b.claim, Status.FAILED, "550 no such user")),
        (c, late),
    ]

    await backend.run(lambda uow: uow.deliveries.finish([(f, outcome_row(d, f)) for d, f in outcomes]))
    await backend.run(lambda uow: uow.deliveries.finish([(f, outcome_row(d, f)) for d, f in outcomes]))

    assert await backend.statuses() == {("email", "sent"): 1, ("email", "failed"): 1, ("email", "sending"): 1}
    assert await backend.outcome_events() == [
        ("notification.sent", "cw-a1"),
        ("notification.failed", "cw-a2"),
    ]


async def test_a_retry_puts_a_claim_that_holds_back_to_pending_until_its_time(backend):
    await backend.add(email("cw-a1"), email("cw-a2"))
    a, b = await backend.ledger.claim_email(NOW, 10, LEASE)
    retries = [
        RetryLater(a.claim, NOW + timedelta(seconds=30), "451"),
        RetryLater(replace(b.claim, attempt=0), NOW, "late"),
    ]

    await backend.run(lambda uow: uow.deliveries.retry_later(retries))

    assert await backend.statuses() == {("email", "pending"): 1, ("email", "sending"): 1}
    assert await backend.ledger.claim_email(NOW + timedelta(seconds=29), 10, LEASE) == []
    [again] = await backend.ledger.claim_email(NOW + timedelta(seconds=30), 10, LEASE)
    assert (again.recipient, again.claim.attempt, again.handed_over) == ("cw-a1", 2, False)
    assert await backend.outcome_events() == []


async def test_a_stalled_claim_taken_back_and_claimed_again_can_change_nothing(backend):
    await backend.add(email("cw-a1"))
    [stalled] = await backend.ledger.claim_email(NOW, 10, LEASE)
    after = NOW + LEASE + timedelta(seconds=1)
    [abandoned] = await backend.run(lambda uow: uow.deliveries.abandoned(after))
    await backend.run(lambda uow: uow.deliveries.retry_later([RetryLater(abandoned.claim, after, "stopped")]))
    [current] = await backend.ledger.claim_email(after, 10, LEASE)

    assert await backend.ledger.hand_over([stalled.claim]) == set()
    finish = Finish(stalled.claim, Status.FAILED, "late")
    await backend.run(lambda uow: uow.deliveries.finish([(finish, outcome_row(stalled, finish))]))
    await backend.run(lambda uow: uow.deliveries.retry_later([RetryLater(stalled.claim, after, "late")]))

    assert await backend.statuses() == {("email", "sending"): 1}
    assert await backend.outcome_events() == []
    assert await backend.ledger.hand_over([current.claim]) == {current.claim.delivery_id}


async def test_only_claims_past_their_lease_are_abandoned(backend):
    await backend.add(email("cw-a1"))
    await backend.ledger.claim_email(NOW, 10, LEASE)
    await backend.add(email("cw-a2"))
    await backend.ledger.claim_email(NOW + timedelta(seconds=10), 10, LEASE)

    assert await backend.run(lambda uow: uow.deliveries.abandoned(NOW + LEASE)) == []
    found = await backend.run(lambda uow: uow.deliveries.abandoned(NOW + LEASE + timedelta(seconds=1)))
    assert [d.recipient for d in found] == ["cw-a1"]


# --- escalations -------------------------------------------------------------------------------


def watch(referral_id: str, due_in: timedelta = timedelta(minutes=30), level: int = 0) -> Escalation:
    return Escalation(referral_id, f"f-{referral_id}", "team-b", uuid.uuid5(uuid.NAMESPACE_URL, referral_id),
                      NOW + due_in, NOW, level)  # fmt: skip


async def test_escalations_come_due_earliest_first_up_to_a_limit_and_only_below_the_last_level(backend):
    await backend.run(
        lambda uow: _start(uow, watch("R-2", timedelta(minutes=20)), watch("R-1"), watch("R-3"))
    )
    await backend.run(lambda uow: _start(uow, watch("R-4", timedelta(0), level=2)))

    assert await backend.run(lambda uow: uow.escalations.due(NOW + timedelta(minutes=19), 10)) == []
    due = await backend.run(lambda uow: uow.escalations.due(NOW + timedelta(minutes=30), 2))
    assert [e.referral_id for e in due] == ["R-2", "R-1"]
    assert due[1] == watch("R-1")


async def test_a_watch_starts_once_and_never_after_an_acknowledgement(backend):
    await backend.run(lambda uow: uow.escalations.stop("R-1", NOW))
    await backend.run(lambda uow: _start(uow, watch("R-1"), watch("R-2"), watch("R-2", timedelta(hours=5))))

    due = await backend.run(lambda uow: uow.escalations.due(NOW + timedelta(days=1), 10))
    assert due == [watch("R-2")]


async def test_an_acknowledgement_stops_a_watch_for_good(backend):
    await backend.run(lambda uow: _start(uow, watch("R-1")))
    await backend.run(lambda uow: uow.escalations.stop("R-1", NOW))
    await backend.run(lambda uow: uow.escalations.stop("R-1", NOW))  # again: nothing more
    await backend.run(lambda uow: _start(uow, watch("R-1")))

    assert await backend.run(lambda uow: uow.escalations.due(NOW + timedelta(days=1), 10)) == []


async def test_a_saved_level_and_due_time_are_what_comes_due_next(backend):
    await backend.run(lambda uow: _start(uow, watch("R-1")))
    advanced = watch("R-1", timedelta(minutes=60), level=1)
    await backend.run(lambda uow: uow.escalations.save([advanced]))

    assert await backend.run(lambda uow: uow.escalations.due(NOW + timedelta(minutes=59), 10)) == []
    assert await backend.run(lambda uow: uow.escalations.due(NOW + timedelta(minutes=60), 10)) == [advanced]
    await backend.run(lambda uow: uow.escalations.save([watch("R-1", timedelta(minutes=90), level=2)]))
    assert await backend.run(lambda uow: uow.escalations.due(NOW + timedelta(days=1), 10)) == []


async def _start(uow: Any, *escalations: Escalation) -> None:
    for escalation in escalations:
        await uow.escalations.start(escalation)
