"""Postgres adapter for assignment: team locks, loads and assignments."""

from __future__ import annotations

from collections.abc import Mapping

from services.assignment.domain.model import Candidate
from shared.db import Conn
from shared.events import ReferralAssigned, ReferralReceived
from shared.unit_config import Person


async def candidates_locked(conn: Conn, team: str, members: Mapping[str, Person]) -> list[Candidate]:
    """Lock the team for this transaction and return its members with their open loads."""
    await conn.execute("INSERT INTO team_locks (team) VALUES ($1) ON CONFLICT DO NOTHING", team)
    await conn.execute("SELECT 1 FROM team_locks WHERE team = $1 FOR UPDATE", team)
    rows = await conn.fetch(
        "SELECT caseworker, count(*) AS open_cases, max(assigned_at) AS last_at"
        " FROM assignments WHERE team = $1 AND status <> 'closed' GROUP BY caseworker",
        team,
    )
    loads = {r["caseworker"]: r for r in rows}
    return [
        Candidate(
            staff_id=person.id,
            open_cases=loads[person.id]["open_cases"] if person.id in loads else 0,
            last_assigned_at=loads[person.id]["last_at"] if person.id in loads else None,
            mentor=person.mentor,
        )
        for person in members.values()
        if person.role == "caseworker"
    ]


async def insert_assignment(
    conn: Conn, received: ReferralReceived, assigned: ReferralAssigned, source: str
) -> bool:
    """Store the assignment; False when the referral already had one."""
    deadlines = assigned.deadlines
    inserted = await conn.fetchval(
        "INSERT INTO assignments (referral_id, family_key, child_key, team, caseworker, mentor,"
        " reason, explanation, source, period_start, received_at, acute_danger,"
        " protected_identity, protection_due, preliminary_due)"
        " VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15)"
        " ON CONFLICT (referral_id) DO NOTHING RETURNING 1",
        assigned.referral_id,
        received.family_key,
        received.child_key,
        assigned.team,
        assigned.caseworker,
        assigned.mentor,
        assigned.reason,
        assigned.explanation,
        source,
        assigned.period_start,
        received.received_at,
        received.acute_danger,
        received.protected_identity,
        deadlines.protection_assessment_due,
        deadlines.preliminary_assessment_due,
    )
    return inserted is not None
