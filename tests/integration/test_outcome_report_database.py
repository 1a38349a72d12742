"""`referral-router report` from a real Postgres: the figures of stored cases and absences, and
no referral id or staff name in the files written."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from datetime import date
from pathlib import Path

import pytest
from pydantic import SecretStr

from referral_router.cli import main
from services.assignment.adapters.postgres import PostgresAssignmentUnitOfWork
from services.assignment.domain.workload import Absence
from shared import db
from shared.settings import DatabaseSettings
from tests.assignment_support import local, new_assignment


async def _store(database_url: str) -> None:
    pool = await db.create_pool(DatabaseSettings(url=SecretStr(database_url)), "assignment")
    try:
        await db.apply_migrations(pool, "assignment", "services.assignment.migrations")
        for rid, opened, closed in (
            ("r-1", date(2026, 2, 2), (2026, 4, 3)),
            ("r-2", date(2026, 2, 10), (2026, 7, 20)),
        ):
            async with PostgresAssignmentUnitOfWork(pool) as u:
                await u.assignments.add([new_assignment(rid, "cw-a1", received_at=local(2026, 1, 20, 10, 0))])
                case = await u.cases.get(rid)
                done = dataclasses.replace(
                    case,
                    decided_at=local(opened.year, opened.month, opened.day, 9, 0),
                    decision="investigate",
                    investigation_opened_on=opened,
                    status="closed",
                    closed_at=local(*closed, 15, 0),
                )
                await u.cases.save(case, done)
                await u.commit()
        async with PostgresAssignmentUnitOfWork(pool) as u:
            await u.absences.add(Absence("cw-a1", date(2026, 3, 2), date(2026, 3, 6), "sick"), "mgr-a")
            await u.commit()
    finally:
        await pool.close()


def test_the_report_of_a_database_reads_its_records(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asyncio.run(_store(database_url))
    monkeypatch.setenv("DATABASE__URL", database_url)
    args = ["report", "--from", "2026-01-01", "--to", "2026-08-31", "--change-date", "2026-05-01"]
    assert main([*args, "--out", str(tmp_path)]) == 0
    measures = {m["id"]: m for m in json.loads((tmp_path / "report.json").read_text("utf-8"))["measures"]}
    lead = measures["investigation_lead_time_median"]
    # r-1: 2 Feb → 3 Apr = 26 + 31 + 3 = 60 days (closed in April, before); r-2: 10 Feb → 20 Jul =
    # 18 + 31 + 30 + 31 + 30 + 20 = 160 days (July, after; past its limit of 10 June).
    assert (lead["before"], lead["after"]) == (60.0, 160.0)
    limit = measures["investigations_within_limit"]
    # Both limits end in June (2 Jun: r-1 closed in April, on time; 10 Jun: r-2 late) → after 1/2.
    assert (limit["before"], limit["after"]) == (None, 0.5)
    sick = [v for v in measures["sick_leave_days_per_fte"]["monthly"] if v["month"] == "2026-03"]
    assert next(v["value"] for v in sick if v["team"] is None) > 0
    written = "".join(p.read_text("utf-8") for p in tmp_path.iterdir())
    assert "r-1" not in written and "r-2" not in written and "cw-a1" not in written
    assert "Measured from assignment's database" in (tmp_path / "report.md").read_text("utf-8")
