"""Helpers for assignment tests (no tests here): received events, a migrated pool, one assignment."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from services.assignment.adapters.memory import InMemoryAssignmentUnitOfWork
from services.assignment.adapters.memory_stores import AssignmentTables
from services.assignment.adapters.postgres import PostgresAssignmentUnitOfWork
from services.assignment.domain.batch import NewAssignment, ReceivedReferral
from services.assignment.domain.cases import Case
from services.assignment.domain.model import Deadlines, Decision, OnDuty, Referral
from services.assignment.domain.unit import Unit
from services.assignment.domain.workload import Absence
from services.assignment.handlers.assign import ReferralMessage, assign_referrals, assigned_event
from services.assignment.subscribers import referral_message
from services.assignment.unit_from_config import unit_from_config
from shared import db
from shared.clock import FixedClock
from shared.events import Envelope, ReferralReceived, new_envelope
from shared.settings import DatabaseSettings
from shared.unit_config import load_unit_config

TZ = ZoneInfo("Europe/Stockholm")
T0 = datetime(2026, 10, 5, 8, 0, tzinfo=UTC)
T0_DAY = T0.date()
EXAMPLE_CONFIG = load_unit_config(Path("deploy/config/unit.example.yaml"))
UNIT = unit_from_config(EXAMPLE_CONFIG)


def received(
    referral_id: str,
    *,
    at: datetime,
    child: str | None = None,
    family: str | None = None,
    categories: tuple[str, ...] = ("neglect",),
    acute: bool = False,
    feedback: bool = False,
    interpreter: bool = False,
) -> Envelope[ReferralReceived]:
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
        interpreter_needed=interpreter,
    )
    return new_envelope("referral.received", data, producer="test", correlation_id=f"s-{referral_id}")


async def migrated_pool(database_url: str, *, size: int | None = None) -> asyncpg.Pool:
    """A pool on the database with assignment's migrations applied (`size`: fixed pool size)."""
    settings = DatabaseSettings(url=database_url)
    if size is not None:
        settings = DatabaseSettings(url=database_url, min_pool_size=size, max_pool_size=size)
    pool = await db.create_pool(settings, "assignment")
    await db.apply_migrations(pool, "assignment", "services.assignment.migrations")
    return pool


async def assign_batch(pool: asyncpg.Pool, events: Sequence[Envelope[Any]], unit: Unit = UNIT) -> None:
    """The events as one batch in a unit of work of their own, as the consumer hands them over."""
    async with PostgresAssignmentUnitOfWork(pool) as uow:
        await assign_referrals(uow, unit, [referral_message(e) for e in events])
        await uow.commit()


async def assign(pool: asyncpg.Pool, envelope: Envelope[Any], unit: Unit = UNIT) -> asyncpg.Record:
    """One referral assigned (a batch of one); its stored row."""
    await assign_batch(pool, [envelope], unit)
    row = await pool.fetchrow("SELECT * FROM assignments WHERE referral_id = $1", envelope.data.referral_id)
    assert row is not None
    return row


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=TZ)


class Fakes:
    """Assignment's stores in memory with a clock: what the use-case tests run on."""

    def __init__(self, now: datetime, unit: Unit = UNIT) -> None:
        self.tables = AssignmentTables()
        self.clock = FixedClock(now)
        self.unit = unit

    def uow(self) -> InMemoryAssignmentUnitOfWork:
        """A new unit of work over the fake tables."""
        return InMemoryAssignmentUnitOfWork(self.tables, self.clock)

    async def assign(self, *events: Envelope[Any], unit: Unit | None = None) -> InMemoryAssignmentUnitOfWork:
        """The events as one batch, in a unit of work the test commits as the consumer would."""
        uow = self.uow()
        async with uow:
            await assign_referrals(uow, unit or self.unit, [referral_message(e) for e in events])
            await uow.commit()
        return uow

    def case(self, referral_id: str) -> Case:
        """The committed case of a referral."""
        return self.tables.assignments[referral_id].case

    def events(self) -> list[dict[str, Any]]:
        """Every event in the outbox, decoded, in order."""
        return [json.loads(payload) for _, _, _, payload in self.tables.outbox]

    def absent(self, staff_id: str, first: date, last: date) -> None:
        """Record an absence, as the staff API would have."""
        row_id = len(self.tables.absences) + 1
        self.tables.absences.append((row_id, Absence(staff_id, first, last, "leave"), "mgr-a"))


def new_assignment(
    referral_id: str,
    caseworker: str = "cw-a1",
    *,
    team: str = "team-a",
    child: str | None = None,
    family: str | None = None,
    weight: int = 100,
    day: date = T0_DAY,
    received_at: datetime = T0,
    feedback: bool = False,
) -> tuple[NewAssignment, Any]:
    """A fresh assignment and its event, as the batch use case stores them."""
    referral = Referral(referral_id, child or f"c-{referral_id}", family or f"f-{referral_id}", ("neglect",))
    received = ReceivedReferral(referral, received_at, protected_identity=False, feedback_requested=feedback)
    duty = OnDuty(team, T0 - timedelta(days=7), T0 + timedelta(days=7), "rotation")
    deadlines = Deadlines(received_at + timedelta(hours=8), received_at + timedelta(days=14), False)
    decision = Decision(team, caseworker, None, "rotation", f"team {team} on duty")
    a = NewAssignment(received, decision, duty, day, weight, deadlines)
    return a, assigned_event(a, ReferralMessage(received, str(uuid.uuid4()), "corr"))
