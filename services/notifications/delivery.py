"""Send claimed deliveries and record what became of them (DESIGN.md §2 state machine).

A digest is one message for many rows: all of them are recorded with the one outcome.
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
from shared.events import TOPIC_NOTIFICATIONS, NotificationOutcome, new_envelope
from shared.outbox import outbox_row

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
    between the sends and the commit leaves the rows `sending`; the reaper makes them `unknown`,
    exactly as for a crash during a single send.
    """
    sends = (attempt(rows, senders, ctx) for rows in messages)
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
            raise result  # a bug, not an outcome: its row stays `sending` until the reaper
    return [r[0] for r in results if not isinstance(r, BaseException)]


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
    rows: Sequence[asyncpg.Record], senders: Mapping[str, Sender], ctx: NotificationContext
) -> tuple[str, str | None, Retryable | None]:
    """Send one message; classify it as (status, error, the retryable failure if it is retried)."""
    first = rows[0]
    try:
        await senders[first["channel"]].send(address(first, ctx), outgoing(rows, ctx))
    except Retryable as exc:
        if first["attempts"] < ctx.max_attempts:
            return "retry", str(exc), exc
        return "failed", str(exc), None
    except Permanent as exc:
        return "failed", str(exc), None
    except Ambiguous as exc:
        return "unknown", str(exc), None
    return "sent", None, None


async def _retry(
    pool: asyncpg.Pool, rows: Sequence[asyncpg.Record], exc: Retryable, ctx: NotificationContext
) -> None:
    """Exponential backoff with jitter, or exactly what Retry-After asked for."""
    attempts = rows[0]["attempts"]
    delay = exc.retry_after_s
    if delay is None:
        delay = min(MAX_BACKOFF_S, 2.0**attempts) * random.uniform(0.5, 1.0)
    now = ctx.clock.now()
    await postgres.retry_later(pool, [r["id"] for r in rows], now + timedelta(seconds=delay), str(exc))
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

    Only rows still `sending` change: a claim reaped as `unknown` while its send was slow keeps
    `unknown` (a person checks it) and gets no second outcome event.
    """
    await postgres.finish_all(
        conn,
        [
            (row["id"], status, error, outbox_row(TOPIC_NOTIFICATIONS, _outcome_event(row, status)))
            for row, status, error in outcomes
        ],
    )


async def mark_abandoned_unknown(pool: asyncpg.Pool, ctx: NotificationContext) -> int:
    """Deliveries whose sender died mid-send become `unknown`; they are never resent."""
    async with pool.acquire() as conn, conn.transaction():
        rows = await postgres.expired_claims(conn, ctx.clock.now())
        await finish_rows(conn, [(row, "unknown", "sender stopped while sending") for row in rows])
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
