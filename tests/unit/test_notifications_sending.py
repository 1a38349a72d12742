"""The sending use cases on the in-memory stores (handlers/sending.py): claim, hand over, send,
record; every outcome; refused hand-overs; the reaper; digests; the Teams pace. No Postgres."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

import pytest

from services.notifications.adapters.memory import InMemoryNotificationsUnitOfWork
from services.notifications.adapters.memory_deliveries import InMemoryDeliveryLedger
from services.notifications.adapters.memory_tables import NotificationTables
from services.notifications.domain.delivery import Ambiguous, DeliveryState, Permanent, Retryable, Status
from services.notifications.domain.outgoing import Outgoing
from services.notifications.ports import HandOver, nothing_to_record
from shared.clock import FixedClock
from tests.notifications_support import (
    FRIDAY_18,
    MONDAY_08,
    MONDAY_10,
    add,
    assigned,
    consume,
    courier,
    example_unit,
    new_delivery,
    utc,
)

MAIL = "{}@kommun.example"


class Channel:
    """Hands every message over, then answers as told for its address (accepted by default);
    `before` answers before the hand-over. `left` is what went out."""

    def __init__(self) -> None:
        self.after: dict[str, Exception] = {}
        self.before: dict[str, Exception] = {}
        self.left: list[tuple[str, Outgoing]] = []

    async def send(self, address: str, message: Outgoing, hand_over: HandOver = nothing_to_record) -> None:
        if address in self.before:
            raise self.before[address]
        await hand_over()
        self.left.append((address, message))
        if address in self.after:
            raise self.after[address]


class CountingUnitsOfWork:
    """Opens in-memory units of work and counts them; the next `fail_commits` commits fail as if
    Postgres were away."""

    def __init__(self, tables: NotificationTables) -> None:
        self.tables = tables
        self.opened = 0
        self.fail_commits = 0

    def __call__(self) -> InMemoryNotificationsUnitOfWork:
        self.opened += 1
        owner = self

        class Flaky(InMemoryNotificationsUnitOfWork):
            async def commit(self) -> None:
                if owner.fail_commits:
                    owner.fail_commits -= 1
                    raise ConnectionError("database away")
                await super().commit()

        return Flaky(self.tables)


class DownLedger(InMemoryDeliveryLedger):
    """A ledger whose hand-overs cannot be recorded (the database is away)."""

    async def hand_over(self, claims):
        raise ConnectionError("database away")


@pytest.fixture
def tables() -> NotificationTables:
    return NotificationTables()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(utc(MONDAY_10))


@pytest.fixture
def channel() -> Channel:
    return Channel()


@pytest.fixture
def units(tables) -> CountingUnitsOfWork:
    return CountingUnitsOfWork(tables)


@pytest.fixture
def sending(tables, units, channel, clock):
    senders = {"email": channel, "teams": channel}
    return courier(InMemoryDeliveryLedger(tables), units, senders, example_unit(), clock, batch_size=20)


def last_but_one(tables, clock, attempts: int = 7) -> None:
    """Every delivery pending with `attempts` made (by default: one left of the budget of 8)."""
    for i, row in list(tables.deliveries.items()):
        tables.deliveries[i] = replace(row, state=DeliveryState(i, clock.now(), attempts=attempts))


def rows(tables, recipient: str | None = None) -> list:
    return [r.state for _, r in sorted(tables.deliveries.items()) if recipient in (None, r.new.recipient)]


def events(tables) -> list[tuple[str, str, int]]:
    found = [json.loads(payload) for _, _, _, payload in tables.outbox]
    return [(e["event_type"], e["data"]["recipient"], e["data"]["attempts"]) for e in found]


async def test_a_round_sends_due_email_and_records_each_as_sent_with_its_outcome_event(
    tables, units, channel, clock, sending
):
    await add(units, *(new_delivery(p, at=clock.now()) for p in ("cw-a1", "cw-a2", "cw-b1")))
    units.opened = 0

    assert await sending.send_due() == 3

    assert [a for a, _ in channel.left] == [MAIL.format(p) for p in ("cw-a1", "cw-a2", "cw-b1")]
    assert [(s.status, s.attempts, s.handed_over) for s in rows(tables)] == [(Status.SENT, 1, True)] * 3
    assert events(tables) == [("notification.sent", p, 1) for p in ("cw-a1", "cw-a2", "cw-b1")]
    assert units.opened == 1  # no Teams and no digest due: one unit of work records the batch


async def test_nothing_due_means_nothing_sent_and_no_unit_of_work(tables, units, clock, sending):
    await add(units, new_delivery("cw-a1", at=clock.now() + timedelta(seconds=1)))
    units.opened = 0

    assert await sending.send_due() == 0
    assert units.opened == 0


@pytest.mark.parametrize(
    ("where", "answer", "status", "wait_s"),
    [
        ("after", Retryable("451 mailbox busy"), Status.PENDING, 2.0 * 0.75),  # 2^1 s, jitter 0.5
        ("after", Retryable("429", 7.0), Status.PENDING, 7.0),  # exactly Retry-After
        ("before", Retryable("cannot connect"), Status.PENDING, 1.5),
        ("after", Permanent("550 no such user"), Status.FAILED, None),
        ("before", Permanent("address is not ASCII"), Status.FAILED, None),
        ("after", Ambiguous("connection lost mid-send"), Status.UNKNOWN, None),
        ("before", Ambiguous("timeout at RCPT"), Status.PENDING, 1.5),  # nothing can have left
    ],
    ids=[
        "refused",
        "retry-after",
        "no connection",
        "rejected",
        "rejected before",
        "in doubt",
        "in doubt before the hand-over",
    ],
)
async def test_what_each_outcome_of_a_send_leaves(
    tables, units, channel, clock, sending, where, answer, status, wait_s
):
    await add(units, new_delivery("cw-a1", at=clock.now()))
    getattr(channel, where)[MAIL.format("cw-a1")] = answer

    assert await sending.send_due() == 1

    [state] = rows(tables)
    assert (state.status, state.attempts) == (status, 1)
    assert str(state.last_error).startswith(str(answer))
    if wait_s is not None:
        assert state.next_attempt_at == clock.now() + timedelta(seconds=wait_s)
        assert events(tables) == []
    else:
        assert events(tables) == [(f"notification.{status}", "cw-a1", 1)]
    assert len(channel.left) == (1 if where == "after" else 0)


async def test_a_delivery_refused_on_its_last_attempt_fails(tables, units, channel, clock, sending):
    await add(units, new_delivery("cw-a1", at=clock.now()))
    last_but_one(tables, clock)
    channel.after[MAIL.format("cw-a1")] = Retryable("451 mailbox busy")

    await sending.send_due()

    [state] = rows(tables)
    assert (state.status, state.attempts) == (Status.FAILED, 8)
    assert events(tables) == [("notification.failed", "cw-a1", 8)]


async def test_a_retried_delivery_is_sent_again_once_its_backoff_is_over(
    tables, units, channel, clock, sending
):
    await add(units, new_delivery("cw-a1", at=clock.now()))
    channel.before[MAIL.format("cw-a1")] = Retryable("cannot connect")
    await sending.send_due()
    del channel.before[MAIL.format("cw-a1")]

    assert await sending.send_due() == 0  # still backing off
    clock.set(clock.now() + timedelta(seconds=1.5))
    assert await sending.send_due() == 1
    assert [(s.status, s.attempts) for s in rows(tables)] == [(Status.SENT, 2)]
    assert len(channel.left) == 1


async def test_nothing_leaves_when_the_hand_over_cannot_be_recorded(tables, units, channel, clock):
    await add(units, new_delivery("cw-a1", at=clock.now()), new_delivery("cw-a2", at=clock.now()))
    sending = courier(DownLedger(tables), units, {"email": channel}, example_unit(), clock)

    assert await sending.send_due() == 2

    assert channel.left == []
    assert [(s.status, s.attempts, s.handed_over) for s in rows(tables)] == [(Status.PENDING, 1, False)] * 2
    assert {s.last_error for s in rows(tables)} == {"hand-over not recorded: ConnectionError"}


async def test_a_stalled_sender_whose_claim_was_taken_back_sends_nothing_and_leaves_the_new_claim_alone(
    tables, units, channel, clock, sending
):
    ledger = InMemoryDeliveryLedger(tables)
    await add(units, new_delivery("cw-a1", at=clock.now()))
    [stale] = await ledger.claim_email(clock.now(), 10, timedelta(seconds=60))
    clock.set(clock.now() + timedelta(seconds=61))
    assert await sending.reap_abandoned() == 1
    [current] = await ledger.claim_email(clock.now(), 10, timedelta(seconds=60))

    assert await sending.send([[stale]]) == [Status.PENDING]

    assert channel.left == []
    [state] = rows(tables)
    assert (state.status, state.attempts, state.handed_over) == (Status.SENDING, current.claim.attempt, False)
    assert events(tables) == []


async def test_a_bug_in_one_send_is_raised_after_the_rest_of_the_batch_is_recorded(
    tables, units, channel, clock, sending
):
    await add(units, new_delivery("cw-a1", at=clock.now()), new_delivery("cw-a2", at=clock.now()))
    channel.after[MAIL.format("cw-a2")] = KeyError("a bug")  # type: ignore[assignment]

    with pytest.raises(KeyError):
        await sending.send_due()

    assert [(s.status, s.handed_over) for s in rows(tables)] == [(Status.SENT, True), (Status.SENDING, True)]


async def test_known_outcomes_wait_out_a_short_database_outage(tables, units, channel, clock, sending):
    await add(units, new_delivery("cw-a1", at=clock.now()))
    units.fail_commits = 2

    assert await sending.send_due() == 1

    assert [s.status for s in rows(tables)] == [Status.SENT]
    assert events(tables) == [("notification.sent", "cw-a1", 1)]


@pytest.mark.parametrize(
    ("handed_over", "attempts", "status", "event"),
    [
        (True, 1, Status.UNKNOWN, "notification.unknown"),
        (False, 1, Status.PENDING, None),
        (False, 8, Status.FAILED, "notification.failed"),
    ],
)
async def test_the_reaper_makes_an_abandoned_claim_unknown_after_its_hand_over_else_pending_or_failed(
    tables, units, clock, sending, handed_over, attempts, status, event
):
    ledger = InMemoryDeliveryLedger(tables)
    await add(units, new_delivery("cw-a1", at=clock.now()), new_delivery("cw-a2", at=clock.now()))
    last_but_one(tables, clock, attempts - 1)
    claimed = await ledger.claim_email(clock.now(), 10, timedelta(seconds=60))
    if handed_over:
        await ledger.hand_over([c.claim for c in claimed])
    clock.set(clock.now() + timedelta(seconds=60))
    assert await sending.reap_abandoned() == 0  # the lease is not over yet
    clock.set(clock.now() + timedelta(seconds=1))

    assert await sending.reap_abandoned() == 2
    assert await sending.reap_abandoned() == 0

    assert {(s.status, s.attempts) for s in rows(tables)} == {(status, attempts)}
    if status is Status.PENDING:
        assert {s.next_attempt_at for s in rows(tables)} == {clock.now()}  # at once
    assert events(tables) == ([] if event is None else [(event, p, attempts) for p in ("cw-a1", "cw-a2")])


async def test_held_messages_go_as_one_digest_per_recipient_and_channel_at_the_office_start(
    tables, units, channel, clock, sending
):
    clock.set(utc(FRIDAY_18))
    unit = example_unit()
    await consume(units, [assigned("R-5", FRIDAY_18, acute=False)], unit, clock)
    await consume(units, [assigned("R-6", FRIDAY_18 + timedelta(hours=20), acute=False)], unit, clock)
    assert await sending.send_due() == 0
    clock.set(utc(MONDAY_08))

    assert await sending.send_due() == 2  # one recipient x channel per round
    [(address, digest)] = channel.left
    assert (address, digest.subject) == (MAIL.format("cw-b2"), "Sammanfattning: 2 meddelanden")
    assert "Nytt ärende: R-5" in digest.text and "Nytt ärende: R-6" in digest.text
    assert [s.status for s in rows(tables, "cw-b2")] == [Status.SENT] * 2
    assert events(tables) == [("notification.sent", "cw-b2", 1)] * 2

    assert await sending.send_due() == 2
    card = channel.left[-1][1].card
    assert card is not None and "Sammanfattning: 2 meddelanden" in json.dumps(card, ensure_ascii=False)
    assert [s.status for s in rows(tables)] == [Status.SENT] * 4
    assert await sending.send_due() == 0


async def test_a_teams_webhook_gets_at_most_one_message_per_second_and_waits_out_a_429(
    tables, units, channel, clock, sending
):
    webhook = example_unit().teams["team-b"].webhook
    await add(units, *(new_delivery("team-b", channel="teams", at=clock.now()) for _ in range(4)))
    start = clock.now()

    assert await sending.send_due() == 1
    clock.set(start + timedelta(milliseconds=999))
    assert await sending.send_due() == 0
    clock.set(start + timedelta(seconds=1))
    channel.after[webhook or ""] = Retryable("429", 30.0)
    assert await sending.send_due() == 1
    del channel.after[webhook or ""]

    clock.set(start + timedelta(seconds=30))
    assert await sending.send_due() == 0  # the webhook asked for 30 s: none of its messages goes
    clock.set(start + timedelta(seconds=31))
    assert await sending.send_due() == 1
    # The refused card is the oldest due one again, so it goes first once the webhook is free.
    assert [(s.status, s.attempts) for s in rows(tables)] == [
        (Status.SENT, 1), (Status.SENT, 2), (Status.PENDING, 0), (Status.PENDING, 0),
    ]  # fmt: skip
