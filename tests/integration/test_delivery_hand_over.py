"""Hand-over (services/notifications/delivery.py `HandOvers`): the moment a message is about to
leave is committed on its row first, and decides what a failure in doubt means. Before it,
nothing can have left: the delivery is tried again. After it, the delivery is `unknown`."""

from __future__ import annotations

import httpx
import pytest

from services.notifications import postgres
from services.notifications.delivery import deliver_many, reap_abandoned
from services.notifications.email import SmtpSender, SmtpSettings
from services.notifications.main import notification_context
from services.notifications.ports import HandOver, Outgoing, nothing_to_record
from shared.clock import SystemClock
from tests.integration.test_delivery_outcomes import claimed, pool
from tests.integration.test_notifications_scheduling import smtp_sink, unit_config

__all__ = ["pool", "smtp_sink"]  # the fixtures, used here
PEOPLE = ["cw-a1", "cw-a2", "cw-a3", "cw-a4", "cw-b1", "cw-b2", "cw-b3", "cw-b4", "cw-c1", "cw-c2"]


@pytest.mark.parametrize(
    ("held", "status", "handed_over"),
    [("rcpt", "retry", False), ("data", "unknown", True)],
    ids=["relay slow at RCPT: retried", "relay slow at DATA: unknown"],
)
async def test_a_send_that_times_out_is_retried_before_its_hand_over_and_unknown_after(
    pool, smtp_sink, held, status, handed_over
):
    smtp_port, http = smtp_sink
    async with httpx.AsyncClient() as client:
        await client.post(f"{http}/control", json={"delay_s": 5, "delay_stage": held})
    try:
        rows = await claimed(pool, ["cw-a1"])
        sender = SmtpSender(SmtpSettings(port=smtp_port, starttls=False, timeout_s=1))
        ctx = notification_context(unit_config(), SystemClock())

        assert await deliver_many(pool, [rows], {"email": sender}, ctx) == [status]
    finally:
        async with httpx.AsyncClient() as client:
            await client.post(f"{http}/control", json={"delay_s": 0})

    row = await pool.fetchrow("SELECT * FROM deliveries")
    assert (row["handed_over_at"] is not None) == handed_over
    assert row["status"] == ("pending" if status == "retry" else "unknown")


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


async def test_a_batch_is_handed_over_with_one_commit_before_any_message_leaves(pool, monkeypatch):
    rows = await claimed(pool, PEOPLE)
    statements: list[int] = []
    hand_over = postgres.hand_over

    async def counted(pool_, claims):
        statements.append(len(claims))
        return await hand_over(pool_, claims)

    monkeypatch.setattr(postgres, "hand_over", counted)
    ctx = notification_context(unit_config(), SystemClock())
    channel = RecordingChannel(pool, {str(ctx.config.person(p).email): p for p in PEOPLE})  # type: ignore[union-attr]

    assert await deliver_many(pool, [[r] for r in rows], {"email": channel}, ctx) == ["sent"] * len(PEOPLE)
    assert statements == [len(PEOPLE)]
    assert channel.committed_before_leaving == [True] * len(PEOPLE)


async def test_a_worker_whose_claim_was_taken_back_sends_nothing_and_leaves_the_new_claim_alone(pool):
    """A worker stalled past its lease: the reaper put the delivery back and another worker
    claimed it. When the stalled one reaches its hand-over, it is refused and nothing is sent."""
    [stale] = await claimed(pool, ["cw-a1"])
    await pool.execute("UPDATE deliveries SET claimed_until = now() - interval '1 s'")
    ctx = notification_context(unit_config(), SystemClock())
    assert await reap_abandoned(pool, ctx) == 1
    [current] = await postgres.claim_email(pool, SystemClock().now(), 10, 60)
    channel = RecordingChannel(pool, {str(ctx.config.person("cw-a1").email): "cw-a1"})  # type: ignore[union-attr]

    assert await deliver_many(pool, [[stale]], {"email": channel}, ctx) == ["retry"]

    assert channel.committed_before_leaving == []  # its send stopped at the hand-over
    row = await pool.fetchrow("SELECT * FROM deliveries")
    assert (row["status"], row["attempts"], row["handed_over_at"]) == ("sending", current["attempts"], None)
