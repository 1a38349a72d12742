"""Cases in Postgres: the `assignments` rows as the case lifecycle and the staff API see them."""

from __future__ import annotations

import dataclasses
from typing import Any

from services.assignment.domain.cases import Case, Extension
from shared.db import Conn

# Every field of a case is the column of the same name, except the weight, whose column says its unit.
_COLUMN = {f.name: f.name for f in dataclasses.fields(Case)} | {"weight": "weight_hundredths"}
_SELECT = "SELECT " + ", ".join(f"{c} AS {f}" if c != f else c for f, c in _COLUMN.items())
CASE_SQL = f"{_SELECT} FROM assignments WHERE referral_id = $1"


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

    async def add_extension(self, extension: Extension) -> None:
        """Keep a decision to extend an investigation."""
        await self._conn.execute(
            "INSERT INTO investigation_extensions (referral_id, decided_on, decided_by, new_due, reason)"
            " VALUES ($1, $2, $3, $4, $5)",
            *dataclasses.astuple(extension),
        )


def _case(row: Any) -> Case | None:
    return None if row is None else Case(**dict(row))
