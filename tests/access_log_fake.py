"""A small stand-in for intake's access log (ports.AccessLogStore) until the real in-memory fake
and the Postgres adapter arrive from their branch: rows kept in a list, the queries' filters done in
Python, the rows' teams given by the test (the real adapter joins them from the access projection).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime

from services.intake.adapters.memory_reviews import InMemoryReviewUnitOfWork, ReviewTables
from services.intake.domain.access_log import AccessEntry, LoggedEntry
from services.intake.ports import AccessLogQuery


@dataclass
class FakeAccessLog:
    """The access log as a list, hash-chained with SHA-256 over the previous hash and the entry."""

    rows: list[LoggedEntry] = field(default_factory=list)
    team_of: dict[str, str] = field(default_factory=dict)  # referral id -> team

    async def append(self, entry: AccessEntry) -> LoggedEntry:
        prev = self.rows[-1].hash if self.rows else b"\0" * 32
        logged = LoggedEntry(
            len(self.rows) + 1, entry, prev, hashlib.sha256(prev + repr(entry).encode()).digest()
        )
        self.rows.append(logged)
        return logged

    async def query(self, query: AccessLogQuery) -> list[LoggedEntry]:
        def matches(row: LoggedEntry) -> bool:
            e = row.entry
            return (
                row.seq > query.after_seq
                and query.staff in (None, e.staff)
                and query.referral_id in (None, e.referral_id)
                and query.child_key in (None, e.child_key)
                and (query.teams is None or self.team_of.get(e.referral_id) in query.teams)
                and (query.start is None or e.at >= query.start)
                and (query.end is None or e.at < query.end)
            )

        return [r for r in self.rows if matches(r)][: query.limit]

    async def between(self, start: datetime, end: datetime) -> list[LoggedEntry]:
        return [r for r in self.rows if start <= r.entry.at < end]

    async def chain(self, after_seq: int, limit: int) -> list[LoggedEntry]:
        return [r for r in self.rows if r.seq > after_seq][:limit]


class ReviewUnitOfWorkWithLog(InMemoryReviewUnitOfWork):
    """The review's fake unit of work with the stand-in access log."""

    def __init__(self, committed: ReviewTables, log: FakeAccessLog) -> None:
        super().__init__(committed)
        self._log = log

    @property
    def access_log(self) -> FakeAccessLog:
        return self._log
