"""Postgres adapter for assignment: team locks, loads, continuity, availability and assignments."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from services.assignment.domain.model import Decision, Load, OnDuty, Override, PriorCase
from shared.db import Conn
from shared.events import ReferralAssigned, ReferralReceived


async def lock_team(conn: Conn, team: str) -> None:
    """Hold the team's row lock until the transaction ends, so loads read next are not stale."""
    # One round trip: DO UPDATE locks the existing row as FOR UPDATE would (and creates it once).
    await conn.execute(
        "INSERT INTO team_locks (team) VALUES ($1) ON CONFLICT (team) DO UPDATE SET team = EXCLUDED.team",
        team,
    )


async def team_loads(conn: Conn, team: str, day: date) -> dict[str, Load]:
    """Weighted open load, open count, last assignment and today's count per caseworker."""
    rows = await conn.fetch(
        "SELECT caseworker,"
        " coalesce(sum(weight) FILTER (WHERE status <> 'closed'), 0) AS weighted,"
        " count(*) FILTER (WHERE status <> 'closed') AS open_cases,"
        " max(assigned_at) AS last_at,"
        " count(*) FILTER (WHERE assigned_day = $2) AS today"
        " FROM assignments WHERE team = $1 GROUP BY caseworker",
        team,
        day,
    )
    return {
        r["caseworker"]: Load(float(r["weighted"]), r["open_cases"], r["last_at"], r["today"]) for r in rows
    }


async def prior_cases(conn: Conn, child_key: str, family_key: str) -> list[PriorCase]:
    """Earlier cases about the same child or family, newest first."""
    rows = await conn.fetch(
        "SELECT caseworker, team, child_key, family_key, closed_at FROM assignments"
        " WHERE child_key = $1 OR family_key = $2 ORDER BY seq DESC LIMIT 50",
        child_key,
        family_key,
    )
    return [
        PriorCase(r["caseworker"], r["team"], r["child_key"], r["family_key"], r["closed_at"]) for r in rows
    ]


async def overrides_between(conn: Conn, start: datetime, end: datetime) -> list[Override]:
    """Overrides overlapping [start, end], oldest first (later ones win)."""
    rows = await conn.fetch(
        "SELECT team, starts_at, ends_at, reason FROM rotation_overrides"
        " WHERE starts_at <= $2 AND ends_at > $1 ORDER BY id",
        start,
        end,
    )
    return [Override(r["team"], r["starts_at"], r["ends_at"], r["reason"]) for r in rows]


async def absent_and_returning(
    conn: Conn, day: date, return_days: int
) -> tuple[frozenset[str], frozenset[str]]:
    """Who is absent on `day`, and who came back from an absence within `return_days`."""
    rows = await conn.fetch(
        "SELECT staff_id, bool_or(starts_on <= $1 AND ends_on >= $1) AS absent,"
        " bool_or(ends_on < $1 AND ends_on >= $2) AS returning"
        " FROM absences WHERE ends_on >= $2 AND starts_on <= $1 GROUP BY staff_id",
        day,
        day - timedelta(days=return_days),
    )
    absent = frozenset(r["staff_id"] for r in rows if r["absent"])
    return absent, frozenset(r["staff_id"] for r in rows if r["returning"] and not r["absent"])


@dataclass(frozen=True)
class NewAssignment:
    """Everything stored about a fresh assignment."""

    received: ReferralReceived
    assigned: ReferralAssigned
    decision: Decision
    duty: OnDuty
    day: date
    weight: float


async def insert_assignment(conn: Conn, a: NewAssignment) -> bool:
    """Store the assignment; False when the referral already had one."""
    r, d = a.received, a.assigned.deadlines
    inserted = await conn.fetchval(
        "INSERT INTO assignments (referral_id, family_key, child_key, team, caseworker, mentor,"
        " reason, explanation, source, period_start, period_end, received_at, acute_danger,"
        " protected_identity, protection_due, preliminary_due, assigned_day, categories,"
        " interpreter_needed, weight, feedback_requested)"
        " VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21)"
        " ON CONFLICT (referral_id) DO NOTHING RETURNING 1",
        r.referral_id,
        r.family_key,
        r.child_key,
        a.decision.team,
        a.decision.staff_id,
        a.decision.mentor,
        a.decision.reason,
        a.assigned.explanation,
        a.duty.source,
        a.duty.period_start,
        a.duty.period_end,
        r.received_at,
        r.acute_danger,
        r.protected_identity,
        d.protection_assessment_due,
        d.preliminary_assessment_due,
        a.day,
        list(r.categories),
        r.interpreter_needed,
        a.weight,
        r.feedback_requested,
    )
    return inserted is not None


async def is_assigned(conn: Conn, referral_id: str) -> bool:
    """Whether the referral already has an assignment."""
    return bool(await conn.fetchval("SELECT 1 FROM assignments WHERE referral_id = $1", referral_id))
