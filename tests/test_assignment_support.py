"""Helpers for assignment tests (no tests here): received events, a migrated pool, one assignment."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import asyncpg

from services.assignment.handlers import AssignmentContext, assign_referral
from shared import db
from shared.events import ReferralReceived, new_envelope
from shared.settings import DatabaseSettings
from shared.unit_config import load_unit_config

TZ = ZoneInfo("Europe/Stockholm")
CTX = AssignmentContext.from_config(load_unit_config(Path("deploy/config/unit.example.yaml")))


def received(
    referral_id: str,
    *,
    at: datetime,
    child: str | None = None,
    family: str | None = None,
    categories: tuple[str, ...] = ("neglect",),
    acute: bool = False,
    feedback: bool = False,
):
    data = ReferralReceived(
        referral_id=referral_id,
        submission_id=f"s-{referral_id}",
        kind="report",
        channel="e_service",
        received_at=at,
        reporter_type="school",
        reporter_mandatory=True,
        feedback_requested=feedback,
        categories=categories,
        acute_danger=acute,
        protected_identity=False,
        child_key=child or f"c-{referral_id}",
        family_key=family or f"f-{referral_id}",
    )
    return new_envelope("referral.received", data, producer="test", correlation_id=f"s-{referral_id}")


async def migrated_pool(database_url: str) -> asyncpg.Pool:
    pool = await db.create_pool(DatabaseSettings(url=database_url), "assignment")
    await db.apply_migrations(pool, "assignment", "services.assignment.migrations")
    return pool


async def assign(pool: asyncpg.Pool, envelope, ctx: AssignmentContext = CTX) -> asyncpg.Record:
    async with pool.acquire() as conn, conn.transaction():
        await assign_referral(conn, envelope, ctx)
    row = await pool.fetchrow("SELECT * FROM assignments WHERE referral_id = $1", envelope.data.referral_id)
    assert row is not None
    return row


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=TZ)
