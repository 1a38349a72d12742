"""The escalation scheduler: due escalations become deliveries, exactly once per level."""

from __future__ import annotations

import asyncio
import logging

import asyncpg

from services.notifications import escalations
from services.notifications.domain import Notice
from services.notifications.handlers import create_for
from services.notifications.routing import NotificationContext, Target
from shared.db import TRANSIENT_DB_ERRORS

log = logging.getLogger(__name__)


async def escalate_due(pool: asyncpg.Pool, ctx: NotificationContext) -> int:
    """Notify the next level of every due escalation; return how many levels were notified."""
    after = ctx.config.notifications.escalation.after
    async with pool.acquire() as conn, conn.transaction():
        rows = await escalations.take_due(conn, ctx.clock.now())
        for row in rows:
            team = ctx.config.team(row["team"])
            to = team.manager.id if row["level"] == 0 and team else ctx.config.head_of_unit.id
            notice = Notice(
                "escalation", ctx.link(row["referral_id"]), row["referral_id"],
                team.name if team else row["team"], acute=True, at=row["since"],
            )  # fmt: skip
            await create_for(
                conn, ctx, notice, Target(to, "email"),
                source_event_id=escalations.level_event_id(row), family_key=row["family_key"],
            )  # fmt: skip
            await escalations.advance(conn, row["referral_id"], after)
    return len(rows)


async def run_escalations(pool: asyncpg.Pool, ctx: NotificationContext) -> None:
    """Forever: escalate what is due, then wait; a database outage only delays it."""
    interval = ctx.config.notifications.escalation.scan_interval_s
    while True:
        try:
            await escalate_due(pool, ctx)
        except TRANSIENT_DB_ERRORS as exc:
            log.warning("escalation scheduler waiting for the database", extra={"error": type(exc).__name__})
        await asyncio.sleep(interval)
