"""In-memory fakes of the dossier's stores and the access log (tests/contract proves they behave
as the Postgres ones): grants, registrations, the access projection, and a log that is only ever
appended to, chained by the domain's hash, one appender at a time."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Protocol

from services.intake.domain.access_chain import chained
from services.intake.domain.access_log import AccessEntry, LoggedEntry
from services.intake.domain.dossier import (
    Assigned,
    Projection,
    ReferralFacts,
    Registration,
    Tracked,
    Updated,
)
from services.intake.domain.dossier_access import Assignment
from services.intake.domain.submissions import DocumentInfo, EncryptedDetails, EncryptedDocument
from services.intake.ports import AccessLogQuery

Grant = tuple[str, str, datetime, datetime]  # referral id, staff, granted at, expires at


class DossierTables(Protocol):
    """The fake tables these stores work on (intake's `IntakeTables`)."""

    referral_facts: dict[str, ReferralFacts]
    projections: dict[str, Projection]
    registrations: dict[str, Registration]
    grants: list[Grant]
    access_log: list[LoggedEntry]
    details: dict[str, EncryptedDetails]
    documents: dict[tuple[str, int], EncryptedDocument]


class InMemoryDossierStore:
    """Referral facts, registrations and grants over the fake tables."""

    def __init__(self, tables: DossierTables, begin: Callable[[], None]) -> None:
        self._tables, self._begin = tables, begin

    async def find(self, referral_id: str, staff: str, now: datetime) -> Tracked | None:
        """The referral with its projection, registration and the reader's latest live grant."""
        self._begin()
        facts = self._tables.referral_facts.get(referral_id)
        if facts is None:
            return None
        grants = [e for r, s, _, e in self._tables.grants if r == referral_id and s == staff and e > now]
        siblings = sorted(
            (f.child_index, f.referral_id)
            for f in self._tables.referral_facts.values()
            if f.submission_id == facts.submission_id and f.referral_id != referral_id
        )  # as Postgres finds them: the other referrals of the submission
        return Tracked(
            replace(facts, sibling_referral_ids=tuple(r for _, r in siblings)),
            self._tables.projections.get(referral_id),
            self._tables.registrations.get(referral_id),
            max(grants, default=None),
        )

    async def details_of(self, submission_id: str) -> tuple[str, bytes] | None:
        """(key id, ciphertext) of the submission's details."""
        self._begin()
        details = self._tables.details.get(submission_id)
        return None if details is None else (details.key_id, details.ciphertext)

    async def documents_of(self, submission_id: str) -> list[DocumentInfo]:
        """The submission's documents' metadata, by n."""
        self._begin()
        return [d.info for (sid, _), d in sorted(self._tables.documents.items()) if sid == submission_id]

    async def document_names_of(self, submission_id: str) -> dict[int, tuple[str, bytes]]:
        """The documents' encrypted file names, where they have one."""
        self._begin()
        documents = self._tables.documents.items()
        return {
            n: (d.key_id, d.name_ciphertext)
            for (sid, n), d in documents
            if sid == submission_id and d.name_ciphertext
        }

    async def document(self, submission_id: str, n: int) -> EncryptedDocument | None:
        """One document of the submission, encrypted."""
        self._begin()
        return self._tables.documents.get((submission_id, n))

    async def register(self, referral_id: str, registration: Registration) -> Registration:
        """The first registration stays."""
        self._begin()
        return self._tables.registrations.setdefault(referral_id, registration)

    async def grant(self, referral_id: str, staff: str, granted_at: datetime, expires_at: datetime) -> None:
        """Keep the grant."""
        self._begin()
        self._tables.grants.append((referral_id, staff, granted_at, expires_at))


class InMemoryAccessProjectionStore:
    """The access projection over the fake tables, with the Postgres upserts' rules."""

    def __init__(self, tables: DossierTables, begin: Callable[[], None]) -> None:
        self._tables, self._begin = tables, begin

    async def assigned(self, changes: Sequence[Assigned]) -> None:
        """Team, caseworker and mentor replaced; status kept if one is known; due times kept if
        the event has none."""
        self._begin()
        for c in changes:
            old = self._tables.projections.get(c.referral_id) or Projection(None, None, False)
            self._tables.projections[c.referral_id] = replace(
                old,
                assignment=Assignment(c.team, c.caseworker, c.mentor),
                status=old.status or "assigned",
                protection_assessment_due=c.protection_assessment_due or old.protection_assessment_due,
                preliminary_assessment_due=c.preliminary_assessment_due or old.preliminary_assessment_due,
            )

    async def updated(self, changes: Sequence[Updated]) -> None:
        """Status replaced; an assessment once made stays made."""
        self._begin()
        for c in changes:
            old = self._tables.projections.get(c.referral_id) or Projection(None, None, False)
            self._tables.projections[c.referral_id] = replace(
                old,
                status=c.status,
                protection_assessed=old.protection_assessed or c.protection_assessed,
                investigation_due=c.investigation_due or old.investigation_due,
                feedback_due=c.feedback_due or old.feedback_due,
            )

    async def get(self, referral_id: str) -> Projection | None:
        """The projection, if any."""
        self._begin()
        return self._tables.projections.get(referral_id)


class AppendTurn:
    """One appender at a time per fake database, held until its unit of work ends (the advisory
    lock of the Postgres log)."""

    def __init__(self) -> None:
        self._lock = asyncio.Lock()

    async def take(self) -> None:
        """Wait for the turn."""
        await self._lock.acquire()

    def give_back(self) -> None:
        """End the turn."""
        self._lock.release()


class InMemoryAccessLogStore:
    """The access log over the fake tables: appended to only, never changed."""

    def __init__(
        self,
        tables: DossierTables,
        committed: DossierTables,
        begin: Callable[[], None],
        take_turn: Callable[[], Awaitable[bool]],
    ) -> None:
        self._tables, self._committed, self._begin, self._take_turn = tables, committed, begin, take_turn

    async def append(self, entry: AccessEntry) -> LoggedEntry:
        """Wait for the turn, then chain after the newest committed row (or this unit's own)."""
        self._begin()
        if await self._take_turn():  # what committed while we waited is the chain we extend
            self._tables.access_log = list(self._committed.access_log)
        log = self._tables.access_log
        row = chained(log[-1] if log else None, entry)
        log.append(row)
        return row

    async def query(self, query: AccessLogQuery) -> list[LoggedEntry]:
        """Rows matching every given filter, in chain order."""
        self._begin()
        teams = query.teams
        found = [
            r
            for r in self._tables.access_log
            if r.seq > query.after_seq
            and (query.staff is None or r.entry.staff == query.staff)
            and (query.referral_id is None or r.entry.referral_id == query.referral_id)
            and (query.child_key is None or r.entry.child_key == query.child_key)
            and (teams is None or self._team_of(r.entry.referral_id) in teams)
            and (query.start is None or r.entry.at >= query.start)
            and (query.end is None or r.entry.at < query.end)
        ]
        return found[: query.limit]

    def _team_of(self, referral_id: str) -> str | None:
        projection = self._tables.projections.get(referral_id)
        return projection.assignment.team if projection and projection.assignment else None

    async def between(self, start: datetime, end: datetime) -> list[LoggedEntry]:
        """Rows with start <= at < end."""
        self._begin()
        return [r for r in self._tables.access_log if start <= r.entry.at < end]

    async def head(self) -> LoggedEntry | None:
        """The newest row."""
        self._begin()
        log = self._tables.access_log
        return log[-1] if log else None

    async def chain(self, after_seq: int, limit: int) -> list[LoggedEntry]:
        """Rows after `after_seq`, in seq order."""
        self._begin()
        return [r for r in self._tables.access_log if r.seq > after_seq][:limit]
