"""Postgres statistics store: `statistics_records` in intake's schema (migration 011)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg

from services.intake.adapters.postgres_session import Session
from services.intake.domain.statistics import CaseProgress, StatisticsRecord
from services.intake.ports import StatisticsNotKept

# `domain.statistics.projected` in SQL: the first assessment's time stays; a decision replaces.
_DECIDED = """
UPDATE statistics_records SET
    protection_assessed_at = CASE WHEN $2 THEN coalesce(protection_assessed_at, $3)
                                  ELSE protection_assessed_at END,
    decision = coalesce($4, decision),
    decided_at = CASE WHEN $4::text IS NULL THEN decided_at ELSE $3 END
WHERE referral_id = $1
"""
_COLUMNS = (
    "referral_id, received_at, kind, channel, reporter_type, categories, acute_danger, sex, age,"
    " protection_assessed_at, decision, decided_at"
)


class PostgresStatisticsStore:
    """The statistics records, in this unit of work's transaction."""

    def __init__(self, session: Session) -> None:
        self._session = session

    async def decided(self, changes: Sequence[CaseProgress]) -> None:
        """One pipelined update per change, in order."""
        if changes:
            conn = await self._session.in_transaction()
            await conn.executemany(
                _DECIDED, [(c.referral_id, c.protection_assessed, c.at, c.decision) for c in changes]
            )

    async def received_between(self, start: datetime, end: datetime) -> list[StatisticsRecord]:
        """By receipt, on the index on received_at."""
        conn = await self._session.in_transaction()
        try:
            rows = await conn.fetch(
                f"SELECT {_COLUMNS} FROM statistics_records WHERE received_at >= $1 AND received_at < $2"
                " ORDER BY received_at, referral_id",
                start,
                end,
            )
        except asyncpg.UndefinedTableError:
            raise StatisticsNotKept from None
        return [record_of(r) for r in rows]


def record_of(row: Any) -> StatisticsRecord:
    """A `statistics_records` row."""
    return StatisticsRecord(
        row["referral_id"], row["received_at"], row["kind"], row["channel"], row["reporter_type"],
        tuple(row["categories"]), row["acute_danger"], row["sex"], row["age"],
        row["protection_assessed_at"], row["decision"], row["decided_at"],
    )  # fmt: skip


def insert_arguments(records: Sequence[StatisticsRecord]) -> list[list[Any]]:
    """The per-referral arrays the submission's insert unnests (categories joined by ';', split
    again in SQL: unnest flattens an array of arrays)."""
    return [
        [r.referral_id for r in records],
        [r.received_at for r in records],
        [r.kind for r in records],
        [r.channel for r in records],
        [r.reporter_type for r in records],
        [";".join(r.categories) for r in records],
        [r.acute_danger for r in records],
        [r.sex for r in records],
        [r.age for r in records],
    ]
