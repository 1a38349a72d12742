"""The access log's hash chain (pure): every field is covered, and a check names the first row
that was changed, is missing or is out of order, by seq."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta, timezone

import pytest

from services.intake.domain.access_chain import GENESIS, Break, ChainBreak, ChainCheck, chained, entry_hash
from services.intake.domain.access_log import AccessAction, AccessEntry, AccessRelation, LoggedEntry, Outcome

T0 = datetime(2026, 11, 20, 9, 0, 0, 5, tzinfo=UTC)
ENTRY = AccessEntry(
    at=T0, staff="cw-a1", role="caseworker", relation=AccessRelation.ASSIGNED, referral_id="R-1",
    child_key="c-1", action=AccessAction.READ, reason="Hembesök", outcome=Outcome.ALLOWED,
    client_addr="10.0.0.1", request_id="req-1",
)  # fmt: skip
OTHER = {
    "at": T0 + timedelta(microseconds=1), "staff": "cw-a2", "role": "caseworker,manager",
    "relation": AccessRelation.MENTOR, "referral_id": "R-2", "child_key": None,
    "action": AccessAction.REVEAL, "reason": None, "outcome": Outcome.DENIED, "client_addr": None,
    "request_id": "req-2",
}  # fmt: skip


def chain_of(n: int) -> list[LoggedEntry]:
    rows: list[LoggedEntry] = []
    for i in range(n):
        rows.append(chained(rows[-1] if rows else None, dataclasses.replace(ENTRY, request_id=f"req-{i}")))
    return rows


def test_every_field_and_the_seq_and_the_predecessor_are_covered_by_the_hash():
    base = entry_hash(GENESIS, 1, ENTRY)
    assert set(OTHER) == {f.name for f in dataclasses.fields(AccessEntry)}
    for name, value in OTHER.items():
        assert entry_hash(GENESIS, 1, dataclasses.replace(ENTRY, **{name: value})) != base, name
    assert entry_hash(GENESIS, 2, ENTRY) != base
    assert entry_hash(b"\x01" * 32, 1, ENTRY) != base


def test_the_same_instant_in_another_offset_hashes_the_same():
    stockholm = ENTRY.at.astimezone(timezone(timedelta(hours=1)))
    assert entry_hash(GENESIS, 1, dataclasses.replace(ENTRY, at=stockholm)) == entry_hash(GENESIS, 1, ENTRY)


def test_rows_chain_from_genesis_with_consecutive_seq():
    rows = chain_of(3)
    assert [r.seq for r in rows] == [1, 2, 3]
    assert rows[0].prev_hash == GENESIS and rows[1].prev_hash == rows[0].hash


def test_an_intact_chain_checks_in_pages():
    rows, check = chain_of(5), ChainCheck()
    assert check.feed(rows[:2]) is None and check.feed(rows[2:]) is None
    assert (check.checked, check.last_seq) == (5, 5)


def altered(rows: list[LoggedEntry], i: int) -> list[LoggedEntry]:
    changed = dataclasses.replace(rows[i], entry=dataclasses.replace(rows[i].entry, staff="cw-b9"))
    return [*rows[:i], changed, *rows[i + 1 :]]


@pytest.mark.parametrize(
    ("tamper", "expected"),
    [
        (lambda rows: altered(rows, 2), ChainBreak(3, Break.ALTERED)),
        (lambda rows: [*rows[:1], *rows[2:]], ChainBreak(2, Break.MISSING)),
        (lambda rows: rows[1:], ChainBreak(1, Break.MISSING)),
        (lambda rows: [rows[0], rows[2], rows[1], *rows[3:]], ChainBreak(2, Break.MISSING)),
        # Content swapped between two places, each keeping its seq:
        (
            lambda rows: [
                rows[0],
                dataclasses.replace(rows[2], seq=2),
                dataclasses.replace(rows[1], seq=3),
                *rows[3:],
            ],
            ChainBreak(2, Break.ALTERED),
        ),
        # A row recomputed with a fitting hash over new content still breaks its successor's link:
        (
            lambda rows: [
                rows[0],
                chained(rows[0], dataclasses.replace(rows[1].entry, staff="x")),
                *rows[2:],
            ],
            ChainBreak(3, Break.ALTERED),
        ),
    ],
    ids=["altered", "deleted", "first deleted", "reordered", "swapped contents", "rehashed one row"],
)
def test_the_first_break_is_named_by_seq(tamper, expected):
    assert ChainCheck().feed(tamper(chain_of(5))) == expected


def test_an_anchor_finds_a_chain_rewritten_consistently_from_a_row_on():
    rows = chain_of(5)
    third = chained(rows[1], dataclasses.replace(rows[2].entry, staff="cw-b9"))
    fourth = chained(third, rows[3].entry)
    forged = [*rows[:2], third, fourth, chained(fourth, rows[4].entry)]
    assert ChainCheck().feed(forged) is None  # it links: the chain alone cannot tell
    check = ChainCheck({5: rows[4].hash})
    assert check.feed(forged) == ChainBreak(5, Break.ALTERED)


def test_an_anchor_beyond_the_end_finds_rows_cut_off():
    rows = chain_of(5)
    check = ChainCheck({5: rows[4].hash})
    assert check.feed(rows[:3]) is None
    assert check.finish() == ChainBreak(4, Break.MISSING)


def test_anchors_that_hold_keep_the_chain_intact():
    rows = chain_of(5)
    check = ChainCheck({2: rows[1].hash, 5: rows[4].hash})
    assert check.feed(rows) is None and check.finish() is None
