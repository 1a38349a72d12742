"""Cases in Postgres: the `assignments` rows as the case lifecycle and the staff API see them."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from services.assignment.adapters.postgres_assignments import REGISTRATION_LOCK
from services.assignment.domain.cases import Case, Extension
from services.assignment.domain.registration import Registration
from shared.db import Conn

# Every field of a case is the column of the same name, except the weight, whose column says its unit.
_COLUMN = {f.name: f.name for f in dataclasses.fields(Case)} | {"weight": "weight_hundredths"}
SELECT_CASE = "SELECT " + ", ".join(f"{c} AS {f}" if c != f else c for f, c in _COLUMN.items())
CASE_SQL = f"{SELECT_CASE} FROM assignments WHERE referral_id = $1"
# The first registration of a referral is kept (whether or not it is assigned yet) and, if it is
# assigned, copied onto the case; the assignment's insert copies one that came first. The lock
# (postgres_assignments.REGISTRATION_LOCK) comes first, in a statement of its own, so this one's
# snapshot holds an assignment committed while it waited. Sorted, so two runs never deadlock.
LOCK_REGISTRATIONS_SQL = (
    f"SELECT count({REGISTRATION_LOCK.format(referral='r')}) FROM"
    ' (SELECT DISTINCT r COLLATE "C" AS r FROM unnest($1::text[]) AS t(r) ORDER BY 1) AS sorted'
)
REGISTER_SQL = (
    "WITH kept AS (INSERT INTO registrations (referral_id, registered_at, registered_by)"
    " VALUES ($1, $2, $3) ON CONFLICT (referral_id) DO NOTHING RETURNING *)"
    " UPDATE assignments a SET registered_at = k.registered_at, registered_by = k.registered_by"
    " FROM kept k WHERE a.referral_id = k.referral_id AND a.registered_at IS NULL"
)


class PostgresCaseStore:
    """The case store on one connection, in its transaction."""

    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    async def get(self, referral_id: str) -> Case | None:
        """The case, or None."""
        return _case(await self._conn.fetchrow(CASE_SQL, referral_id))

    async def get_for_update(self, referral_id: str) -> Case | None:
        """The case with its row locked to the end of the transaction, or None."""
        return _case(await self._conn.fetchrow(f"{CASE_SQL} FOR UPDATE", referral_id))

    async def save(self, before: Case, after: Case) -> None:
        """One UPDATE of the columns that changed. Only those: the trigger moves loads when a
        column it watches is set, and only writers holding the team's lock may move loads."""
        changed = [f for f in _COLUMN if getattr(before, f) != getattr(after, f)]
        if not changed:
            return
        sets = ", ".join(f"{_COLUMN[f]} = ${i}" for i, f in enumerate(changed, start=2))
        await self._conn.execute(
            f"UPDATE assignments SET {sets} WHERE referral_id = $1",
            before.referral_id,
            *(getattr(after, f) for f in changed),
        )

    async def register(self, registrations: Sequence[Registration]) -> None:
        """Keep each referral's first registration and mark its case: the referrals' locks, then
        every registration in one pipelined round trip."""
        await self._conn.fetchval(LOCK_REGISTRATIONS_SQL, [r.referral_id for r in registrations])
        await self._conn.executemany(
            REGISTER_SQL, [(r.referral_id, r.registered_at, r.by) for r in registrations]
        )

    async def add_extension(self, extension: Extension) -> None:
        """Keep a decision to extend an investigation."""
        await self._conn.execute(
            "INSERT INTO investigation_extensions (referral_id, decided_on, decided_by, new_due, reason)"
            " VALUES ($1, $2, $3, $4, $5)",
            *dataclasses.astuple(extension),
        )


def _case(row: Any) -> Case | None:
    return None if row is None else Case(**dict(row))
