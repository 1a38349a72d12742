"""Work queues in Postgres: one query per page, in the order of an index (migration 006).

Every filter and grant is a condition on `assignments`; a page is a seek to the cursor's position
in (`next_due`, `referral_id`) and a LIMIT: no query per referral. Referral ids are compared in
byte order (COLLATE "C"), as Python compares them, whatever the database's collation.
"""

from __future__ import annotations

from typing import Any

from services.assignment.adapters.postgres_cases import SELECT_CASE
from services.assignment.domain.cases import Case
from services.assignment.domain.queues import QueueEntry, QueueQuery
from shared.db import Conn

# Each clock: its due column and when it still runs, as the deadline scan and `next_due` have them.
CLOCKS = (
    ("protection_assessment", "protection_due", "protection_assessed_at IS NULL AND closed_at IS NULL"),
    ("preliminary_assessment", "preliminary_due", "decided_at IS NULL"),
    ("investigation", "investigation_due", "closed_at IS NULL"),
    ("reporter_feedback", "feedback_due", "feedback_sent_at IS NULL"),
    ("registration", "registration_due", "registered_at IS NULL"),
)
ORDER = 'next_due, referral_id COLLATE "C"'


class _Params:
    """Numbered parameters as a statement is built."""

    def __init__(self) -> None:
        self.values: list[Any] = []

    def __call__(self, value: Any, cast: str) -> str:
        self.values.append(value)
        return f"${len(self.values)}::{cast}"


class PostgresWorkQueues:
    """Work queues on one connection, in its transaction."""

    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    async def page(self, query: QueueQuery) -> list[QueueEntry]:
        """The page the query asks for, in one statement."""
        sql, params = page_sql(query)
        rows = await self._conn.fetch(sql, *params)
        return [_entry(r) for r in rows]


def page_sql(q: QueueQuery) -> tuple[str, list[Any]]:
    """The statement and its parameters for one page of a queue."""
    p = _Params()
    where = [_grants(q, p)]
    if q.mine is not None:
        me = p(q.mine, "text")
        where.append(f"(caseworker = {me} OR mentor = {me})")
    for column, value in (("caseworker", q.caseworker), ("team", q.team), ("status", q.status)):
        if value is not None:
            where.append(f"{column} = {p(value, 'text')}")
    if q.open is not None:
        where.append("status <> 'closed'" if q.open else "status = 'closed'")
    if q.registered is not None:
        where.append(f"registered_at IS {'NOT ' if q.registered else ''}NULL")
    if q.deadline is not None:
        where.append(_state_is(q, p))
    if q.after is not None:
        due, referral_id = p(q.after[0], "timestamptz"), p(q.after[1], "text")
        where.append(f'(next_due, referral_id COLLATE "C") > ({due}, {referral_id})')
    sql = (
        f"{SELECT_CASE}, categories FROM assignments WHERE {' AND '.join(where)}"
        f" ORDER BY {ORDER} LIMIT {p(q.limit, 'int')}"
    )
    return sql, p.values


def _grants(q: QueueQuery, p: _Params) -> str:
    s = q.scope
    if s.everything:
        return "true"
    grants = []
    if s.all_open:
        grants.append("(status <> 'closed' OR (registered_at IS NULL AND registration_due IS NOT NULL))")
    if len(s.teams) == 1:  # a manager's one team: an equality the team index serves best
        grants.append(f"team = {p(next(iter(s.teams)), 'text')}")
    elif s.teams:
        grants.append(f"team = ANY({p(sorted(s.teams), 'text[]')})")
    if s.own is not None:
        own = p(s.own, "text")
        grants.append(f"(caseworker = {own} OR mentor = {own})")
    return "(" + (" OR ".join(grants) or "false") + ")"


def _state_is(q: QueueQuery, p: _Params) -> str:
    """The referral's worst clock state is `q.deadline` (domain QueueEntry.state): breached when
    the earliest running due time has passed, approaching when a running clock is within its
    longest reminder lead, else ok."""
    now = p(q.now, "timestamptz")
    if q.deadline == "breached":
        return f"next_due <= {now}"
    near = [
        f"coalesce(({running}) AND {due} <= {now} + {p(max(leads), 'interval')}, false)"
        for name, due, running in CLOCKS
        if (leads := q.reminders.get(name))
    ]
    approaching = "(" + (" OR ".join(near) or "false") + ")"
    return f"next_due > {now} AND {'' if q.deadline == 'approaching' else 'NOT '}{approaching}"


def _entry(row: Any) -> QueueEntry:
    fields = dict(row)
    categories = tuple(fields.pop("categories"))
    return QueueEntry(Case(**fields), categories)
