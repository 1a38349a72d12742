"""Send claimed deliveries and record what became of them (DESIGN.md §2 state machine).

A digest is one message for many rows: all of them are recorded with the one outcome.

Just before a message can reach the other side, the sender hands it over (`HandOvers`): the
moment is committed on its rows first. Whatever happens to a message that was never handed
over, it certainly was not sent, and it is tried again; only a handed-over message whose fate
is not known becomes `unknown`.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import timedelta
from typing import Any

import asyncpg

from services.notifications import postgres
from services.notifications.domain import digest_card, digest_message
from services.notifications.ports import Ambiguous, Outgoing, Permanent, Retryable, Sender
from services.notifications.routing import NotificationContext
from shared.db import TRANSIENT_DB_ERRORS, Conn
from shared.events import TOPIC_NOTIFICATIONS, NotificationOutcome, new_envelope, outbox_row

log = logging.getLogger(__name__)
PRODUCER = "notifications"
MAX_BACKOFF_S = 300.0
# How long a known outcome waits for the database to come back before it is left to the reaper.
RECORD_PATIENCE_S = 60.0


def address(row: asyncpg.Record, ctx: NotificationContext) -> str:
    """Where a delivery goes: the person's email, or the team's webhook URL (a secret)."""
    if row["channel"] == "teams":
        team = ctx.config.team(row["recipient"])
        if team is None or not team.teams_webhook:
            raise Permanent("team has no Teams webhook in the unit config")
        return team.teams_webhook
    person = ctx.config.person(row["recipient"])
    if person is None:
        raise Permanent("recipient is not in the unit config")
    return str(person.email)


def outgoing(rows: Sequence[asyncpg.Record], ctx: NotificationContext) -> Outgoing:
    """The message for one delivery, or one digest for several held ones."""
    first = rows[0]
    if len(rows) == 1 and not first["held"]:
        card = json.loads(first["card"]) if first["card"] else None
        return Outgoing(first["subject"], first["body_text"], first["body_html"], card)
    subjects = [r["subject"] for r in rows]
    link = ctx.link(None)
    if first["channel"] == "teams":
        return Outgoing(subjects[0], "", None, digest_card(subjects, link, ctx.language))
    person = ctx.config.person(first["recipient"])
    message = digest_message(subjects, person.name if person else first["recipient"], link, ctx.language)
    return Outgoing(message.subject, message.text, message.html)


async def deliver(
    pool: asyncpg.Pool,
    rows: Sequence[asyncpg.Record],
    senders: Mapping[str, Sender],
    ctx: NotificationContext,
) -> str:
    """Send claimed deliveries (one, or a digest of many) as one message; record the outcome."""
    return (await deliver_many(pool, [rows], senders, ctx))[0]


async def deliver_many(
    pool: asyncpg.Pool,
    messages: Sequence[Sequence[asyncpg.Record]],
    senders: Mapping[str, Sender],
    ctx: NotificationContext,
) -> list[str]:
    """Send several claimed messages concurrently; record every final outcome in one transaction.

    One transaction (and one relay wake-up) for a whole batch instead of one per message. A crash
    between the sends and the commit leaves the rows `sending`, handed over; the reaper makes them
    `unknown`, exactly as for a crash during a single send.
    """
    handovers = HandOvers(pool)
    sends = (attempt(rows, senders, ctx, handovers.of(rows)) for rows in messages)
    results = await asyncio.gather(*sends, return_exceptions=True)
    done = [(rows, r) for rows, r in zip(messages, results, strict=True) if not isinstance(r, BaseException)]
    final = [(rows, status, error) for rows, (status, error, _) in done if status != "retry"]
    if final:
        await _through_outage(lambda: record_outcomes(pool, final))
    for rows, (status, _, retryable) in done:
        if status == "retry" and retryable is not None:
            await _through_outage(functools.partial(_retry, pool, rows, retryable, ctx))
    for result in results:
        if isinstance(result, BaseException):
            raise result  # a bug, not an outcome: its rows stay `sending` until the reaper
    return [r[0] for r in results if not isinstance(r, BaseException)]


class NotHandedOver(Retryable):
    """The hand-over could not be recorded, or the claim was taken back: nothing was sent."""


class HandOver:
    """One message's hand-over: records its rows through `HandOvers`, remembers that it did."""

    def __init__(self, owner: HandOvers, claims: list[postgres.Claim]) -> None:
        self._owner = owner
        self._claims = claims
        self.done = False

    async def __call__(self) -> None:
        await self._owner.record(self._claims)
        self.done = True


class HandOvers:
    """Commits hand-overs for a batch of concurrent sends: those that reach the point together
    share one commit (a group commit), so a batch of twenty costs a few commits, not twenty.

    A send waits for its own commit before its message may leave. If the database cannot be
    reached, or the reaper took a claim back meanwhile (a stalled worker), `NotHandedOver` stops
    the send.
    """

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._queue: list[tuple[list[postgres.Claim], asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None

    def of(self, rows: Sequence[asyncpg.Record]) -> HandOver:
        """The hand-over of one message (a digest's covers all its rows)."""
        return HandOver(self, claims(rows))

    async def record(self, claims: list[postgres.Claim]) -> None:
        """Return once the claims' hand-over is committed; raise `NotHandedOver` if it is not."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append((claims, waiter))
        if self._writer is None:
            self._writer = asyncio.create_task(self._write())
        await waiter

    async def _write(self) -> None:
        try:
            while self._queue:
                await asyncio.sleep(0)  # sends that reach the point in this turn of the loop join
                batch, self._queue = self._queue, []
                failure: Exception | None = None
                held: set[int] = set()
                try:
                    held = await postgres.hand_over(self._pool, [c for claims, _ in batch for c in claims])
                except TRANSIENT_DB_ERRORS as exc:
                    failure = NotHandedOver(f"hand-over not recorded: {type(exc).__name__}")
                except Exception as exc:  # noqa: BLE001 - a bug: each send raises it and sends nothing
                    failure = exc
                for claims, waiter in batch:
                    if waiter.done():  # its send was cancelled (a timeout) meanwhile
                        continue
                    if all(i in held for i, _ in claims):
                        waiter.set_result(None)
                    else:
                        waiter.set_exception(
                            failure or NotHandedOver("the claim was taken back before sending")
                        )
        finally:
            self._writer = None


async def _through_outage(write: Callable[[], Awaitable[None]]) -> None:
    """Record an outcome the worker already knows, waiting out a short database outage.

    Giving up at once would leave the rows `sending` for the reaper to call `unknown`: a message
    that did leave would raise a false alarm, and one refused before DATA would never be retried
    (the chaos run saw Postgres restarts turn deliveries `unknown`). Every write only touches rows still
    `sending`, so a write that comes after a reap changes nothing.
    """
    delay, deadline = 0.2, time.monotonic() + RECORD_PATIENCE_S
    while True:
        try:
            await write()
            return
        except TRANSIENT_DB_ERRORS as exc:
            if time.monotonic() + delay > deadline:
                raise
            log.warning(
                "recording delivery outcomes waits for the database", extra={"error": type(exc).__name__}
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)


async def attempt(
    rows: Sequence[asyncpg.Record],
    senders: Mapping[str, Sender],
    ctx: NotificationContext,
    handed: HandOver,
) -> tuple[str, str | None, Retryable | None]:
    """Send one message; classify it as (status, error, the retryable failure if it is retried).

    A send that ends in doubt (a timeout, a lost connection) before its hand-over certainly sent
    nothing: it is retried like any other failure before the message left.
    """
    first = rows[0]
    try:
        await senders[first["channel"]].send(address(first, ctx), outgoing(rows, ctx), hand_over=handed)
    except Retryable as exc:
        return _retry_or_fail(first, exc, ctx)
    except Permanent as exc:
        return "failed", str(exc), None
    except Ambiguous as exc:
        if not handed.done:
            return _retry_or_fail(first, Retryable(f"{exc}, before the message was handed over"), ctx)
        return "unknown", str(exc), None
    return "sent", None, None


def _retry_or_fail(
    first: asyncpg.Record, exc: Retryable, ctx: NotificationContext
) -> tuple[str, str | None, Retryable | None]:
    if first["attempts"] < ctx.max_attempts:
        return "retry", str(exc), exc
    return "failed", str(exc), None


async def _retry(
    pool: asyncpg.Pool, rows: Sequence[asyncpg.Record], exc: Retryable, ctx: NotificationContext
) -> None:
    """Exponential backoff with jitter, or exactly what Retry-After asked for."""
    attempts = rows[0]["attempts"]
    delay = exc.retry_after_s
    if delay is None:
        delay = min(MAX_BACKOFF_S, 2.0**attempts) * random.uniform(0.5, 1.0)
    now = ctx.clock.now()
    await postgres.retry_later(pool, claims(rows), now + timedelta(seconds=delay), str(exc))
    if rows[0]["channel"] == "teams":
        async with pool.acquire() as conn:
            await postgres.set_slot(conn, rows[0]["recipient"], now, delay)


async def record_outcome(
    pool: asyncpg.Pool, rows: Sequence[asyncpg.Record], status: str, error: str | None
) -> str:
    """Store the final status of every row and publish each on notifications.v1, in one transaction."""
    await record_outcomes(pool, [(rows, status, error)])
    return status


async def record_outcomes(
    pool: asyncpg.Pool, outcomes: Sequence[tuple[Sequence[asyncpg.Record], str, str | None]]
) -> None:
    """Several messages' final statuses and outcome events, in one transaction."""
    async with pool.acquire() as conn, conn.transaction():
        await finish_rows(conn, [(row, status, error) for rows, status, error in outcomes for row in rows])
    for rows, status, error in outcomes:
        if status != "sent":
            ids = [r["id"] for r in rows]
            log.warning("delivery not sent", extra={"delivery_ids": ids, "status": status, "error": error})


async def finish_rows(conn: Conn, outcomes: Sequence[tuple[asyncpg.Record, str, str | None]]) -> None:
    """Rows' final statuses and their outcome events, in the caller's transaction.

    Only rows whose claim still holds change: a claim the reaper took while its send was slow
    keeps what the reaper made of it (a person checks an `unknown` one) and gets no second
    outcome event.
    """
    await postgres.finish_all(
        conn,
        [
            (
                (row["id"], row["attempts"]),
                status,
                error,
                outbox_row(TOPIC_NOTIFICATIONS, _outcome_event(row, status)),
            )
            for row, status, error in outcomes
        ],
    )


def claims(rows: Sequence[asyncpg.Record]) -> list[postgres.Claim]:
    """The claims the rows were returned with."""
    return [(r["id"], r["attempts"]) for r in rows]


async def reap_abandoned(pool: asyncpg.Pool, ctx: NotificationContext) -> int:
    """Claims past their lease: their sender died or stalled. One that had handed its message over
    may have sent it: `unknown`, never resent. One that had not certainly sent nothing: `pending`
    again at once (`failed` if that was its last attempt)."""
    async with pool.acquire() as conn, conn.transaction():
        rows = await postgres.expired_claims(conn, ctx.clock.now())
        unsent = [r for r in rows if r["handed_over_at"] is None]
        again = [r for r in unsent if r["attempts"] < ctx.max_attempts]
        final = [
            (r, "unknown", "sender stopped after handing the message over") for r in rows if r not in unsent
        ]
        final += [
            (r, "failed", "sender stopped before sending, on the last attempt")
            for r in unsent
            if r not in again
        ]
        await finish_rows(conn, final)
        if again:
            await postgres.retry_later(conn, claims(again), ctx.clock.now(), "sender stopped before sending")
    if again:
        log.warning(
            "claims abandoned before sending are pending again", extra={"delivery_ids": claims(again)}
        )
    return len(rows)


def _outcome_event(row: asyncpg.Record, status: str) -> Any:
    data = NotificationOutcome(
        family_key=row["family_key"],
        source_event_id=row["source_event_id"],
        channel=row["channel"],
        recipient=row["recipient"],
        attempts=row["attempts"],
        kind=row["kind"],
    )
    return new_envelope(
        f"notification.{status}",
        data,
        producer=PRODUCER,
        correlation_id=row["referral_id"] or str(row["source_event_id"]),
        causation_id=str(row["source_event_id"]),
    ).model_copy(update={"event_id": uuid.uuid5(row["source_event_id"], f"{row['id']}:{status}")})
