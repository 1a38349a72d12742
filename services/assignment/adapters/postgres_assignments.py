"""Assignments in Postgres: what a batch reads before its locks, the team locks, a team's loads
and the pipelined insert of assignments with their events.

A batch of N referrals costs four round trips whatever N: one pipelined read of every referral's
facts, one statement for every team lock, one loads read per team and day it decides in, one
pipelined insert of every assignment with its outbox row.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import date
from typing import Any

from services.assignment.domain.batch import PRIOR_LIMIT, FactsQuery, NewAssignment, ReferralFacts
from services.assignment.domain.model import Load, Override, PriorCase
from shared.db import Conn
from shared.events import OutboxRow
from shared.outbox import insert_if

TEAM_LOADS_SQL = (
    "SELECT c.id AS caseworker, coalesce(l.weighted_hundredths, 0) AS weighted,"
    " coalesce(l.open_cases, 0) AS open_cases, coalesce(d.assigned, 0) AS today, m.last_at"
    " FROM unnest($3::text[]) AS c(id)"
    " LEFT JOIN LATERAL (SELECT weighted_hundredths, open_cases FROM caseworker_loads"
    "   WHERE team = $1 AND caseworker = c.id) l ON true"
    " LEFT JOIN LATERAL (SELECT assigned FROM caseworker_days"
    "   WHERE team = $1 AND caseworker = c.id AND day = $2) d ON true"
    " CROSS JOIN LATERAL (SELECT max(assigned_at) AS last_at FROM assignments"
    "   WHERE team = $1 AND caseworker = c.id) m"
)

# Row constructors, so the one-round-trip read below can take them as arrays of records.
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
OVERRIDES_SQL = (
    "SELECT ROW(team, starts_at, ends_at, reason) FROM rotation_overrides"
    " WHERE starts_at <= {end} AND ends_at > {start} ORDER BY id"
)
_ABSENCES = (
    "SELECT ROW(staff_id, bool_or(starts_on <= {day} AND ends_on >= {day}),"
    " bool_or(ends_on < {day} AND ends_on >= {since}))"
    " FROM absences WHERE ends_on >= {since} AND starts_on <= {day} GROUP BY staff_id"
)
# Open overload flags and reliefs running at the instant (issue 22): (staff, open, factor).
_OVERLOAD = (
    "SELECT ROW(staff_id, responded_at IS NULL, capacity_factor::float8) FROM overload_flags"
    " WHERE responded_at IS NULL OR (action = 'relieve' AND relief_until > {instant})"
)
REGISTRATION_LOCK = "pg_advisory_xact_lock(19, hashtext({referral}))"
"""Held to the end of the transaction by both writers of a referral's registration: the assignment
(whose insert copies a registration handled first) and the registration (which marks an
assignment stored first). Without it the two, committing at once, could each miss the other.
The two-key form: its key space is apart from the one-key locks (the outbox relay's)."""
BEFORE_LOCK_SQL = (
    "SELECT EXISTS (SELECT 1 FROM assignments WHERE referral_id = $1) AS assigned,"
    f" ARRAY({OVERRIDES_SQL.format(start='$2', end='$2')}) AS overrides,"
    f" ARRAY({_PRIOR.format(child='$3', family='$4')}) AS prior,"
    f" ARRAY({_ABSENCES.format(day='$5', since='$6')}) AS absences, now() AS now,"
    f" ARRAY({_OVERLOAD.format(instant='$2')}) AS overload"
    # Taken here, in the batch's first statement, so the insert (a later statement, a later
    # snapshot) sees a registration that committed while this waited; no round trip of its own.
    f" FROM (SELECT {REGISTRATION_LOCK.format(referral='$1')}) AS registration_lock"
)

_INSERT_ASSIGNMENT = insert_if(
    "INSERT INTO assignments (referral_id, family_key, child_key, team, caseworker, mentor,"
    " reason, explanation, source, period_start, period_end, received_at, acute_danger,"
    " protected_identity, protection_due, preliminary_due, assigned_day, categories,"
    " interpreter_needed, weight_hundredths, feedback_requested, registration_due,"
    " registered_at, registered_by)"
    " SELECT $1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21,$22,"
    # A registration handled before the assignment (it travels on another topic) is kept.
    " r.registered_at, r.registered_by FROM (SELECT 1) AS one"
    " LEFT JOIN registrations r ON r.referral_id = $1"
    " ON CONFLICT (referral_id) DO NOTHING RETURNING 1",
    23,
)


class PostgresAssignmentStore:
    """The assignment store on one connection, in its transaction."""

    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    async def read_before_lock(self, queries: Sequence[FactsQuery]) -> list[ReferralFacts]:
        """Whether each is assigned already, the overrides at its instant, earlier cases of the
        child or family, who is absent or back from an absence: one round trip (asyncpg
        pipelines fetchmany)."""
        rows = await self._conn.fetchmany(BEFORE_LOCK_SQL, [_before_params(q) for q in queries])
        assert len(rows) == len(queries)  # one row per execution
        return [_facts(row) for row in rows]

    async def lock_teams(self, teams: Collection[str]) -> None:
        """Hold the teams' row locks until the transaction ends, so loads read next are not stale.

        Every writer of `assignments` (which moves the loads the trigger keeps) takes the locks of
        the teams it touches first, all in one statement and in one order: a transaction holding
        several can then never wait for one that waits for it (no deadlock between assignment
        instances, or between a batch and a manager's reassignment), and no two writers ever
        contend for a team's rows in `caseworker_loads` in different orders.
        """
        # One round trip: DO UPDATE locks each existing row as FOR UPDATE would (and creates it
        # once), in the order of the SELECT (byte order, whatever the database's collation).
        await self._conn.execute(
            'INSERT INTO team_locks (team) SELECT t FROM unnest($1::text[]) AS t ORDER BY t COLLATE "C"'
            " ON CONFLICT (team) DO UPDATE SET team = EXCLUDED.team",
            sorted(set(teams)),
        )

    async def team_loads(self, team: str, day: date, caseworkers: Sequence[str]) -> dict[str, Load]:
        """Weighted open load, open count, last assignment and the day's count of each caseworker.

        One row of `caseworker_loads` and `caseworker_days` (kept by the trigger) and one index
        probe per caseworker: the cost grows neither with open cases nor with history (an
        aggregate over every row of the team did: years of cases in production, thousands in a
        benchmark).
        """
        rows = await self._conn.fetch(TEAM_LOADS_SQL, team, day, list(caseworkers))
        return {r["caseworker"]: Load(r["weighted"], r["open_cases"], r["last_at"], r["today"]) for r in rows}

    async def add(self, assignments: Sequence[tuple[NewAssignment, OutboxRow]]) -> None:
        """Each assignment and, only if its referral had none, its event and the relay's wake-up,
        in one statement each and one round trip (asyncpg pipelines executemany)."""
        await self._conn.executemany(
            _INSERT_ASSIGNMENT, [_insert_params(a, event) for a, event in assignments]
        )

    async def open_loads(self) -> dict[str, Load]:
        """Open cases and weighted load by caseworker, summed over teams, from `caseworker_loads`."""
        rows = await self._conn.fetch(
            "SELECT caseworker, sum(open_cases) AS open_cases, sum(weighted_hundredths) AS weighted"
            " FROM caseworker_loads GROUP BY caseworker"
        )
        return {r["caseworker"]: Load(int(r["weighted"]), int(r["open_cases"])) for r in rows}


def _before_params(q: FactsQuery) -> tuple[Any, ...]:
    return q.referral_id, q.instant, q.child_key, q.family_key, q.day, q.returning_since


def _facts(row: Any) -> ReferralFacts:
    absences = row["absences"]  # (staff id, away on the day, back from an absence since)
    return ReferralFacts(
        row["assigned"],
        tuple(Override(*r) for r in row["overrides"]),
        tuple(PriorCase(*r) for r in row["prior"]),
        frozenset(staff for staff, away, _ in absences if away),
        frozenset(staff for staff, away, back in absences if back and not away),
        row["now"],
        *_overload(row["overload"]),
    )


def _overload(rows: Any) -> tuple[frozenset[str], tuple[tuple[str, float], ...]]:
    """Who has an open flag, and each running relief's factor (the smallest if several)."""
    factors: dict[str, float] = {}
    for staff, _, factor in rows:
        if factor is not None:
            factors[staff] = min(factor, factors.get(staff, 1.0))
    return frozenset(staff for staff, is_open, _ in rows if is_open), tuple(sorted(factors.items()))


def _insert_params(a: NewAssignment, event: OutboxRow) -> tuple[Any, ...]:
    r, d = a.received.referral, a.decision
    return (
        r.referral_id, r.family_key, r.child_key, d.team, d.staff_id, d.mentor, d.reason, d.explanation,
        a.duty.source, a.duty.period_start, a.duty.period_end, a.received.received_at, r.acute_danger,
        a.received.protected_identity, a.deadlines.protection_assessment_due,
        a.deadlines.preliminary_assessment_due, a.day, list(r.categories), r.interpreter_needed, a.weight,
        a.received.feedback_requested, a.deadlines.registration_due, *event,
    )  # fmt: skip
