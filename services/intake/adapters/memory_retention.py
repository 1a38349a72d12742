"""In-memory fakes of the data-key and retention stores (tests/contract/test_intake_retention_ports.py
runs the same tests on them and on Postgres)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Protocol

from services.intake.domain.dossier import ReferralFacts, Registration
from services.intake.domain.retention import HoldScope
from services.intake.domain.submissions import DataKey, EncryptedDetails, EncryptedDocument, StoredSubmission
from services.intake.ports import Erasure, HeldAbout, Hold, RetentionFacts
from shared.crypto import DATA_KEY_ID


class RetentionTables(Protocol):
    """The fake tables these stores work on (intake's `IntakeTables`)."""

    submissions: dict[str, StoredSubmission]
    details: dict[str, EncryptedDetails]
    documents: dict[tuple[str, int], EncryptedDocument]
    referral_facts: dict[str, ReferralFacts]
    registrations: dict[str, Registration]
    data_keys: dict[str, DataKey]
    legal_holds: list[Hold]
    retention_log: dict[str, Erasure]
    kinds: dict[str, str]


class InMemoryDataKeyStore:
    """Data keys over the fake tables; keys held by one unit of work are skipped by another."""

    def __init__(
        self, tables: RetentionTables, begin: Callable[[], None], held: dict[str, int], holder: int
    ) -> None:
        self._tables, self._begin, self._held, self._holder = tables, begin, held, holder

    async def get(self, submission_id: str) -> DataKey | None:
        """The key, if any."""
        self._begin()
        return self._tables.data_keys.get(submission_id)

    async def add(self, keys: Sequence[DataKey]) -> None:
        """A key already stored wins."""
        self._begin()
        for key in keys:
            self._tables.data_keys.setdefault(key.submission_id, key)

    async def not_under(self, key_id: str, limit: int) -> list[DataKey]:
        """Live keys under another key-encryption key and not held by another unit of work, by
        submission id, now held."""
        self._begin()
        keys = sorted(self._tables.data_keys.items())
        free = [
            k
            for sid, k in keys
            if k.wrapped is not None
            and k.key_id != key_id
            and self._held.get(sid, self._holder) == self._holder
        ][:limit]
        self._held.update((k.submission_id, self._holder) for k in free)
        return free

    async def rewrap(self, keys: Sequence[DataKey]) -> None:
        """A key destroyed meanwhile stays destroyed."""
        self._begin()
        for key in keys:
            stored = self._tables.data_keys.get(key.submission_id)
            if stored is not None and stored.wrapped is not None:
                self._tables.data_keys[key.submission_id] = key


class InMemoryRetentionStore:
    """Holds, the erasure and the retention log over the fake tables."""

    def __init__(self, tables: RetentionTables, begin: Callable[[], None]) -> None:
        self._tables, self._begin = tables, begin

    def _held(self, facts: ReferralFacts) -> bool:
        return any(
            h.lifted_at is None
            and (
                h.referral_id == facts.referral_id
                if h.scope is HoldScope.REFERRAL
                else h.child_key == facts.child_key
            )
            for h in self._tables.legal_holds
        )

    def _registered_at(self, referral_id: str) -> datetime | None:
        registration = self._tables.registrations.get(referral_id)
        return None if registration is None else registration.registered_at

    async def weigh(self) -> list[RetentionFacts]:
        """Every referral not in the log, by id."""
        self._begin()
        t = self._tables
        facts = [f for rid, f in sorted(t.referral_facts.items()) if rid not in t.retention_log]
        return [self._facts(f) for f in facts]

    def _facts(self, f: ReferralFacts) -> RetentionFacts:
        registered_at = self._registered_at(f.referral_id)
        return RetentionFacts(
            f.referral_id, f.submission_id, f.child_index, f.child_key, registered_at, self._held(f)
        )

    async def erase(self, erasures: Sequence[Erasure], at: datetime) -> None:
        """Keys destroyed, legacy ciphertext and digests gone, log rows written."""
        if not erasures:
            return
        self._begin()
        t = self._tables
        for sid in {e.submission_id for e in erasures}:
            before = t.data_keys.get(sid)
            destroyed_at = before.destroyed_at if before and before.destroyed_at else at
            t.data_keys[sid] = DataKey(sid, None, None, destroyed_at)
            if sid in t.details and t.details[sid].key_id != DATA_KEY_ID:
                del t.details[sid]
            for place in [p for p, d in t.documents.items() if p[0] == sid and d.key_id != DATA_KEY_ID]:
                del t.documents[place]
            if sid in t.submissions:
                t.submissions[sid] = replace(t.submissions[sid], body_digest=b"")
        for erasure in erasures:
            t.retention_log.setdefault(erasure.referral_id, erasure)

    async def erasure(self, referral_id: str) -> Erasure | None:
        """The log row, if any."""
        self._begin()
        return self._tables.retention_log.get(referral_id)

    def _active(self, scope: HoldScope, referral_id: str) -> int | None:
        holds = self._tables.legal_holds
        return next(
            (
                i
                for i, h in enumerate(holds)
                if h.scope is scope and h.referral_id == referral_id and h.lifted_at is None
            ),
            None,
        )

    async def set_hold(self, hold: Hold) -> Hold:
        """The active one stays."""
        self._begin()
        active = self._active(hold.scope, hold.referral_id)
        if active is not None:
            return self._tables.legal_holds[active]
        self._tables.legal_holds.append(hold)
        return hold

    async def lift_hold(self, scope: HoldScope, referral_id: str, by: str, at: datetime) -> Hold | None:
        """Mark the active one lifted."""
        self._begin()
        active = self._active(scope, referral_id)
        if active is None:
            return None
        lifted = replace(self._tables.legal_holds[active], lifted_by=by, lifted_at=at)
        self._tables.legal_holds[active] = lifted
        return lifted

    async def about(self, child_key: str, family_key: str) -> list[HeldAbout]:
        """By receipt time, then id."""
        self._begin()
        t = self._tables
        about = [self._about(f, child_key, family_key) for f in t.referral_facts.values()]
        found = [h for h in about if h is not None]
        return sorted(found, key=lambda h: (h.received_at, h.referral_id))

    def _about(self, f: ReferralFacts, child_key: str, family_key: str) -> HeldAbout | None:
        if f.child_key != child_key and f.family_key != family_key:
            return None
        t = self._tables
        role = "child" if f.child_key == child_key else "guardian"
        registered_at, erasure = self._registered_at(f.referral_id), t.retention_log.get(f.referral_id)
        return HeldAbout(
            f.referral_id, role, t.kinds[f.referral_id], f.received_at, registered_at, erasure, self._held(f)
        )
