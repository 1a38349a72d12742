"""The access log's hash chain: how a row's hash is made and how a chain is checked (issue 19).

`hash = SHA-256(prev_hash || canonical(seq, entry))`, the first row chained to `GENESIS`. The
canonical encoding is JSON of a fixed list of every field (times in UTC with microseconds), so a
change of any field, a missing row or rows out of order breaks the chain at the first such row.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC
from enum import StrEnum

from services.intake.domain.access_log import AccessEntry, LoggedEntry

GENESIS = bytes(32)


def canonical(seq: int, entry: AccessEntry) -> bytes:
    """The bytes a row's hash covers besides its predecessor's hash: its place and every field."""
    fields = [
        seq,
        entry.at.astimezone(UTC).isoformat(timespec="microseconds"),
        entry.staff,
        entry.role,
        entry.relation.value,
        entry.referral_id,
        entry.child_key,
        entry.action.value,
        entry.reason,
        entry.outcome.value,
        entry.client_addr,
        entry.request_id,
    ]
    return json.dumps(fields, ensure_ascii=True, separators=(",", ":")).encode()


def entry_hash(prev_hash: bytes, seq: int, entry: AccessEntry) -> bytes:
    """SHA-256 over the predecessor's hash and the row's canonical encoding."""
    return hashlib.sha256(prev_hash + canonical(seq, entry)).digest()


def chained(last: LoggedEntry | None, entry: AccessEntry) -> LoggedEntry:
    """The entry as the row after `last` (or the first row of the log)."""
    seq, prev = (1, GENESIS) if last is None else (last.seq + 1, last.hash)
    return LoggedEntry(seq, entry, prev, entry_hash(prev, seq, entry))


class Break(StrEnum):
    """How the chain is broken at a row."""

    MISSING = "missing"  # the next seq is not there: rows deleted (or out of order)
    ALTERED = "altered"  # the row's content or its link to its predecessor no longer fits


@dataclass(frozen=True)
class ChainBreak:
    """The first place the chain does not hold: a seq and how (never the row's content)."""

    seq: int
    kind: Break


class ChainCheck:
    """Walks a chain in pages, in seq order, and remembers the first break."""

    def __init__(self, anchors: Mapping[int, bytes] | None = None) -> None:
        self.last_seq = 0
        self._prev = GENESIS
        self.checked = 0
        self.broken: ChainBreak | None = None
        # seq -> the hash that row had when it was anchored outside the database (the monthly
        # review's `chain_seq`/`chain_hash`): a chain rewritten from some row on, consistently,
        # still links, but no longer ends in those hashes.
        self._anchors = dict(anchors or {})

    def finish(self) -> ChainBreak | None:
        """After the last row: an anchor beyond it means rows were cut off the end."""
        if self.broken is None:
            beyond = [seq for seq in self._anchors if seq > self.last_seq]
            if beyond:
                self.broken = ChainBreak(self.last_seq + 1, Break.MISSING)
        return self.broken

    def feed(self, rows: Iterable[LoggedEntry]) -> ChainBreak | None:
        """Check the next rows; return the first break found so far, if any."""
        for row in rows:
            if self.broken is not None:
                break
            self.broken = self._check(row)
            self.last_seq, self._prev = row.seq, row.hash
            self.checked += 1
        return self.broken

    def _check(self, row: LoggedEntry) -> ChainBreak | None:
        expected = self.last_seq + 1
        if row.seq != expected:
            return ChainBreak(expected, Break.MISSING)
        if row.prev_hash != self._prev or row.hash != entry_hash(self._prev, row.seq, row.entry):
            return ChainBreak(row.seq, Break.ALTERED)
        if self._anchors.get(row.seq, row.hash) != row.hash:
            return ChainBreak(row.seq, Break.ALTERED)
        return None
