"""Hand-over (services/notifications/handlers/hand_overs.py `HandOvers`): the moment a message is about to
leave is committed on its row first, and decides what a failure in doubt means. Before it,
nothing can have left: the delivery is tried again. After it, the delivery is `unknown`."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from services.notifications.adapters.postgres_deliveries import PostgresDeliveryLedger
from services.notifications.adapters.smtp import SmtpSender, SmtpSettings
from services.notifications.domain.outgoing import Outgoing
from services.notifications.ports import HandOver, nothing_to_record
from shared.clock import SystemClock
from tests.integration.test_delivery_outcomes import claimed_in, pool, reaper, uow_of
from tests.integration.test_notifications_scheduling import smtp_sink
from tests.notifications_support import courier, example_unit

__all__ = ["pool", "smtp_sink"]  # the fixtures, used here
PEOPLE = ["cw-a1", "cw-a2", "cw-a3", "cw-a4", "cw-b1", "cw-b2", "cw-b3", "cw-b4", "cw-c1", "cw-c2"]


@pytest.mark.parametrize(
    ("held", "status", "handed_over"),
    [("rcpt", "pending", False), ("data", "unknown", True)],
    ids=["relay slow at RCPT: retried", "relay slow at DATA: unknown"],
)
async def test_a_send_that_times_out_is_retried_before_its_hand_over_and_unknown_after(
    pool, smtp_sink, held, status, handed_over
):
    smtp_port, http = smtp_sink
    async with httpx.AsyncClient() as client:
        await client.post(f"{http}/control", json={"delay_s": 5, "delay_stage": held})
    try:
        rows = await claimed_in(pool, ["cw-a1"])
        sender = SmtpSender(SmtpSettings(port=smtp_port, starttls=False, timeout_s=1))
        sending = courier(PostgresDeliveryLedger(pool), uow_of(pool), {"email": sender}, example_unit())

        assert await sending.send([rows]) == [status]
    finally:
        async with httpx.AsyncClient() as client:
            await client.post(f"{http}/control", json={"delay_s": 0})

    row = await pool.fetchrow("SELECT * FROM deliveries")
    assert (row["handed_over_at"] is not None) == handed_over
    assert row["status"] == status


class RecordingChannel:
    """Hands over at once, as twenty concurrent sends reaching DATA together would, and notes
    whether its row's hand-over was committed (seen from another connection) when it "sends"."""

    def __init__(self, pool, people: dict[str, str]) -> None:
        self.pool = pool
        self.people = people  # staff id by email address
        self.committed_before_leaving: list[bool] = []

    async def send(self, address: str, message: Outgoing, hand_over: HandOver = nothing_to_record) -> None:
        await hand_over()
        seen = await self.pool.fetchval(
            "SELECT handed_over_at IS NOT NULL FROM deliveries WHERE recipient = $1", self.people[address]
        )
        self.committed_before_leaving.append(seen)


class CountedLedger(PostgresDeliveryLedger):
    """Notes how many claims each hand-over statement carried."""

    statements: list[int]

    async def hand_over(self, claims):
        self.statements.append(len(claims))
        return await super().hand_over(claims)


async def test_a_batch_is_handed_over_with_one_commit_before_any_message_leaves(pool):
    rows = await claimed_in(pool, PEOPLE)
    ledger = CountedLedger(pool)
    ledger.statements = statements = []
    unit = example_unit()
    channel = RecordingChannel(pool, {unit.people[p].email: p for p in PEOPLE})
    sending = courier(ledger, uow_of(pool), {"email": channel}, unit)

    assert await sending.send([[r] for r in rows]) == ["sent"] * len(PEOPLE)
    assert statements == [len(PEOPLE)]
    assert channel.committed_before_leaving == [True] * len(PEOPLE)


async def test_a_worker_whose_claim_was_taken_back_sends_nothing_and_leaves_the_new_claim_alone(pool):
    """A worker stalled past its lease: the reaper put the delivery back and another worker
    claimed it. When the stalled one reaches its hand-over, it is refused and nothing is sent."""
    ledger = PostgresDeliveryLedger(pool)
    [stale] = await claimed_in(pool, ["cw-a1"])
    await pool.execute("UPDATE deliveries SET claimed_until = now() - interval '1 s'")
    assert await reaper(pool).reap_abandoned() == 1
    [current] = await ledger.claim_email(SystemClock().now(), 10, timedelta(seconds=60))
    unit = example_unit()
    channel = RecordingChannel(pool, {unit.people["cw-a1"].email: "cw-a1"})
    sending = courier(ledger, uow_of(pool), {"email": channel}, unit)

    assert await sending.send([[stale]]) == ["pending"]

    assert channel.committed_before_leaving == []  # its send stopped at the hand-over
    row = await pool.fetchrow("SELECT * FROM deliveries")
    assert (row["status"], row["attempts"], row["handed_over_at"]) == ("sending", current.claim.attempt, None)
