"""The outcome report as the assignment process wires it, on a real Postgres and broker: the
endpoint answers the head of unit from the stored records, and the slow timer puts the figures
on /metrics as soon as the service starts."""

from __future__ import annotations

import dataclasses
from datetime import date

import httpx
from pydantic import SecretStr

from referral_router.stack import DEV_JWT_SECRET
from referral_router.tokens import dev_token
from services.assignment.adapters.postgres import PostgresAssignmentUnitOfWork
from services.assignment.main import AssignmentSettings, create_app
from shared import db
from shared.clock import FixedClock
from shared.settings import DatabaseSettings
from shared.staff_auth import AuthSettings
from tests.assignment_support import local, new_assignment
from tests.helpers import eventually
from tests.integration.test_on_duty_at_start import kafka
from tests.metrics_sequence import samples

NOW = local(2026, 10, 21, 10, 0)


async def _store_a_closed_investigation(database: DatabaseSettings) -> None:
    pool = await db.create_pool(database, "assignment")
    try:
        await db.apply_migrations(pool, "assignment", "services.assignment.migrations")
        async with PostgresAssignmentUnitOfWork(pool) as u:
            await u.assignments.add([new_assignment("r-1", "cw-a1", received_at=local(2026, 6, 1, 10, 0))])
            case = await u.cases.get("r-1")
            done = dataclasses.replace(
                case,
                decided_at=local(2026, 6, 10, 10, 0),
                decision="investigate",
                investigation_opened_on=date(2026, 6, 10),
                status="closed",
                closed_at=local(2026, 9, 2, 10, 0),
            )
            await u.cases.save(case, done)
            await u.commit()
    finally:
        await pool.close()


def bearer(staff: str, role: str) -> dict[str, str]:
    return {"authorization": f"Bearer {dev_token(staff, [role])}"}


async def test_the_endpoint_and_the_gauges_read_the_database(
    kafka_broker, topic_prefix, database_url
) -> None:
    database = DatabaseSettings(url=SecretStr(database_url))
    await _store_a_closed_investigation(database)
    settings = AssignmentSettings(
        kafka=kafka(kafka_broker, topic_prefix),
        database=database,
        auth=AuthSettings(jwt_secret=SecretStr(DEV_JWT_SECRET)),
    )
    app = create_app(settings, FixedClock(NOW))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://assignment") as client:
            # 10 Jun → 2 Sep: 20 + 31 + 31 + 2 = 84 days, in the last 90 days of 21 October.
            shown = await eventually(
                lambda: client.get("/metrics"),
                lambda r: (
                    samples(r.text).get(("outcome_investigation_lead_time_days", (("quantile", "0.5"),)))
                    == 84.0
                ),
                timeout_s=60,
            )
            params = {"from": "2026-06-01", "to": "2026-09-30", "change_date": "2026-08-01"}
            report = await client.get(
                "/v1/outcome-report", params=params, headers=bearer("head", "head_of_unit")
            )
            refused = await client.get(
                "/v1/outcome-report", params=params, headers=bearer("mgr-a", "manager")
            )
    gauges = samples(shown.text)
    assert gauges[("outcome_caseload_per_fte", (("team", "team-a"),))] == 0.0
    assert report.status_code == 200, report.text
    lead = next(m for m in report.json()["measures"] if m["id"] == "investigation_lead_time_median")
    assert (lead["before"], lead["after"], lead["whole"]) == (None, 84.0, 84.0)
    assert refused.status_code == 403
