"""Postgres adapter for assignment: team locks, loads, continuity, availability and assignments."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from services.assignment.domain.model import Decision, Load, OnDuty, Override, PriorCase
from shared.db import Conn
from shared.events import OutboxRow, ReferralAssigned, ReferralReceived
from shared.outbox import insert_if


async def lock_teams(conn: Conn, teams: Collection[str]) -> None:
    """Hold the teams' row locks until the transaction ends, so loads read next are not stale.

    Every writer of `assignments` (which moves the loads the trigger keeps) takes the locks of
    the teams it touches first, all in one statement and in one order: a transaction holding
    several can then never wait for one that waits for it (no deadlock between assignment
    instances, or between a run and a manager's reassignment), and no two writers ever contend
    for a team's rows in `caseworker_loads` in different orders.
    """
    # One round trip: DO UPDATE locks each existing row as FOR UPDATE would (and creates it once),
    # in the order of the SELECT (byte order, whatever the database's collation).
    await conn.execute(
        'INSERT INTO team_locks (team) SELECT t FROM unnest($1::text[]) AS t ORDER BY t COLLATE "C"'
        " ON CONFLICT (team) DO UPDATE SET team = EXCLUDED.team",
        sorted(set(teams)),
    )


TEAM_LOADS_SQL = (
    "SELECT c.id AS caseworker, coalesce(l.weighted, 0) AS weighted,"
    " coalesce(l.open_cases, 0) AS open_cases, coalesce(d.assigned, 0) AS today, m.last_at"
    " FROM unnest($3::text[]) AS c(id)"
    " LEFT JOIN LATERAL (SELECT weighted, open_cases FROM caseworker_loads"
    "   WHERE team = $1 AND caseworker = c.id) l ON true"
    " LEFT JOIN LATERAL (SELECT assigned FROM caseworker_days"
    "   WHERE team = $1 AND caseworker = c.id AND day = $2) d ON true"
    " CROSS JOIN LATERAL (SELECT max(assigned_at) AS last_at FROM assignments"
    "   WHERE team = $1 AND caseworker = c.id) m"
)


async def team_loads(conn: Conn, team: str, day: date, caseworkers: Sequence[str]) -> dict[str, Load]:
    """Weighted open load, open count, last assignment and today's count of each caseworker named.

    One row of `caseworker_loads` and `caseworker_days` (kept by a trigger, migration 003) and
    one index probe per caseworker: the cost grows neither with open cases nor with history
    (an aggregate over every row of the team did: years of cases in production, thousands in
    a benchmark). A caseworker without cases gets the empty `Load`.
    """
    return {cw: load.as_load() for cw, load in (await exact_team_loads(conn, team, day, caseworkers)).items()}


@dataclass(frozen=True)
class ExactLoad:
    """A caseworker's load as stored: the weighted sum exact (numeric), as the trigger keeps it,
    so that loads carried forward in memory (`handlers.assign_run`) equal a fresh read."""

    weighted: Decimal
    open_cases: int
    last_assigned_at: datetime | None
    assigned_today: int

    def as_load(self) -> Load:
        """The domain's view; float(Decimal) rounds as Postgres's numeric::float8 does."""
        return Load(float(self.weighted), self.open_cases, self.last_assigned_at, self.assigned_today)


def as_numeric(weight: float) -> Decimal:
    """`weight::numeric` as Postgres computes it (15 significant digits), as the trigger adds it."""
    return Decimal(f"{weight:.15g}")


async def exact_team_loads(
    conn: Conn, team: str, day: date, caseworkers: Sequence[str]
) -> dict[str, ExactLoad]:
    """`team_loads` with the weighted sum as stored."""
    rows = await conn.fetch(TEAM_LOADS_SQL, team, day, list(caseworkers))
    return {
        r["caseworker"]: ExactLoad(r["weighted"], r["open_cases"], r["last_at"], r["today"]) for r in rows
    }


@dataclass(frozen=True)
class Before:
    """What assigning a referral reads before its team is locked, in one round trip."""

    assigned: bool
    overrides: list[Override]
    prior: list[PriorCase]
    absent: frozenset[str]
    returning: frozenset[str]
    now: datetime  # the transaction's start, which new assignments get as assigned_at


BeforeArgs = tuple[str, datetime, str, str, date, int]
"""referral id, assignment instant, child key, family key, assignment day, return days."""


async def read_before_lock(
    conn: Conn, referral_id: str, instant: datetime, child_key: str, family_key: str, day: date,
    return_days: int,
) -> Before:  # fmt: skip
    """Whether it is assigned already, the overrides at `instant`, earlier cases of the child or
    family, and who is absent or back from an absence on `day`: none of it depends on the team's
    lock (assignment never writes overrides or absences; prior cases only pick the team)."""
    row = await conn.fetchrow(
        _BEFORE_SQL, *_before_params((referral_id, instant, child_key, family_key, day, return_days))
    )
    assert row is not None
    return _before(row)


async def read_before_lock_many(conn: Conn, referrals: Sequence[BeforeArgs]) -> list[Before]:
    """`read_before_lock` for several referrals in one round trip (asyncpg pipelines fetchmany)."""
    rows = await conn.fetchmany(_BEFORE_SQL, [_before_params(r) for r in referrals])
    assert len(rows) == len(referrals)  # one row per execution
    return [_before(row) for row in rows]


def _before_params(args: BeforeArgs) -> tuple[Any, ...]:
    referral_id, instant, child_key, family_key, day, return_days = args
    return referral_id, instant, child_key, family_key, day, day - timedelta(days=return_days)


def _before(row: Any) -> Before:
    absent, returning = _absence_sets(row["absences"])
    return Before(
        row["assigned"],
        [Override(*r) for r in row["overrides"]],
        [PriorCase(*r) for r in row["prior"]],
        absent,
        returning,
        row["now"],
    )


# Earlier cases read per referral, newest first.
PRIOR_LIMIT = 50
# Row constructors, so the one-round-trip read above can take them as arrays of records.
# The child's cases, then the family's other cases: two plain index lookups. As one `child_key
# = $3 OR family_key = $4`, a plan cached while the table was nearly empty (a new installation,
# the benchmark) scanned the whole table on every call until the next ANALYZE: 84 blocks per
# referral after 3,000 assignments (bench.costs), growing with every case.
_PRIOR = (
    "SELECT ROW(caseworker, team, child_key, family_key, closed_at) FROM ("
    " SELECT caseworker, team, child_key, family_key, closed_at, seq FROM assignments"
    "  WHERE child_key = {child}"
    " UNION ALL SELECT caseworker, team, child_key, family_key, closed_at, seq FROM assignments"
    "  WHERE family_key = {family} AND child_key <> {child}"
    ") AS p ORDER BY seq DESC LIMIT " + str(PRIOR_LIMIT)
)
_OVERRIDES = (
    "SELECT ROW(team, starts_at, ends_at, reason) FROM rotation_overrides"
    " WHERE starts_at <= {end} AND ends_at > {start} ORDER BY id"
)
_ABSENCES = (
    "SELECT ROW(staff_id, bool_or(starts_on <= {day} AND ends_on >= {day}),"
    " bool_or(ends_on < {day} AND ends_on >= {since}))"
    " FROM absences WHERE ends_on >= {since} AND starts_on <= {day} GROUP BY staff_id"
)


async def overrides_between(conn: Conn, start: datetime, end: datetime) -> list[Override]:
    """Overrides overlapping [start, end], oldest first (later ones win)."""
    rows = await conn.fetchval(f"SELECT ARRAY({_OVERRIDES.format(start='$1', end='$2')})", start, end)
    return [Override(*r) for r in rows]


_BEFORE_SQL = (
    "SELECT EXISTS (SELECT 1 FROM assignments WHERE referral_id = $1) AS assigned,"
    f" ARRAY({_OVERRIDES.format(start='$2', end='$2')}) AS overrides,"
    f" ARRAY({_PRIOR.format(child='$3', family='$4')}) AS prior,"
    f" ARRAY({_ABSENCES.format(day='$5', since='$6')}) AS absences, now() AS now"
)


def _absence_sets(rows: Sequence[Any]) -> tuple[frozenset[str], frozenset[str]]:
    absent = frozenset(staff for staff, away, _ in rows if away)
    return absent, frozenset(staff for staff, away, back in rows if back and not away)


@dataclass(frozen=True)
class NewAssignment:
    """Everything stored about a fresh assignment."""

    received: ReferralReceived
    assigned: ReferralAssigned
    decision: Decision
    duty: OnDuty
    day: date
    weight: float


_INSERT_ASSIGNMENT = insert_if(
    "INSERT INTO assignments (referral_id, family_key, child_key, team, caseworker, mentor,"
    " reason, explanation, source, period_start, period_end, received_at, acute_danger,"
    " protected_identity, protection_due, preliminary_due, assigned_day, categories,"
    " interpreter_needed, weight, feedback_requested)"
    " VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21)"
    " ON CONFLICT (referral_id) DO NOTHING RETURNING 1",
    22,
)


async def insert_assignment(conn: Conn, a: NewAssignment, event: OutboxRow) -> bool:
    """Store the assignment and, only if the referral had none, its event; False when it had."""
    # A row (the wake-up) only when the assignment was inserted.
    inserted = await conn.fetch(_INSERT_ASSIGNMENT, *_insert_params(a, event))
    return bool(inserted)


def _insert_params(a: NewAssignment, event: OutboxRow) -> tuple[Any, ...]:
    r, d = a.received, a.assigned.deadlines
    return (
        r.referral_id, r.family_key, r.child_key, a.decision.team, a.decision.staff_id,
        a.decision.mentor, a.decision.reason, a.assigned.explanation, a.duty.source,
        a.duty.period_start, a.duty.period_end, r.received_at, r.acute_danger, r.protected_identity,
        d.protection_assessment_due, d.preliminary_assessment_due, a.day, list(r.categories),
        r.interpreter_needed, a.weight, r.feedback_requested, *event,
    )  # fmt: skip


async def insert_assignments(conn: Conn, rows: Sequence[tuple[NewAssignment, OutboxRow]]) -> None:
    """`insert_assignment` for several, in one round trip (asyncpg pipelines executemany)."""
    await conn.executemany(_INSERT_ASSIGNMENT, [_insert_params(a, event) for a, event in rows])
