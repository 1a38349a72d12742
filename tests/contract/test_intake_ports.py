"""Intake's ports (services/intake/ports.py), run against the in-memory fakes and Postgres.

What the use cases rely on: a submission id is stored once, with its answer; storing it first
goes alone and is durable at once, storing it after a load joins the transaction; details held
by one unit of work are skipped by another; instance states, attempts and the cursor follow the
domain's rules; one poller holds the turn at a time.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.intake.adapters.memory import InMemoryIntakeUnitOfWork, InMemoryPollerTurn, IntakeTables
from services.intake.adapters.postgres import PostgresIntakeUnitOfWork
from services.intake.adapters.postgres_oep import PostgresPollerTurn
from services.intake.domain.open_eplatform import InstanceState, TrackedInstance
from services.intake.domain.submissions import (
    DocumentInfo,
    EncryptedDetails,
    EncryptedDocument,
    NewSubmission,
    StoredSubmission,
)
from services.intake.ports import PollerTurn
from shared.events import TOPIC_RECEIVED, OutboxRow, outbox_row
from tests.conftest import migrated_pool
from tests.intake_fakes import new_submission
from tests.wire import received_event

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


@dataclass
class Backend:
    unit_of_work: Callable[[], Any]
    turn: Callable[[], PollerTurn]
    published: Callable[[], Awaitable[list[uuid.UUID]]]
    referrals: Callable[[], Awaitable[int]]
    forget_portal_key: Callable[[str], Awaitable[None]]  # as migration 003 leaves an older row


@pytest.fixture(params=["memory", "postgres"])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    if request.param == "memory":
        tables, turn = IntakeTables(), InMemoryPollerTurn()

        async def memory_outbox() -> list[uuid.UUID]:
            return [row[0] for row in tables.outbox]

        async def memory_referrals() -> int:
            return len(tables.referrals)

        async def memory_forget(reference: str) -> None:
            tables.by_portal_key = {k: r for k, r in tables.by_portal_key.items() if r != reference}

        yield Backend(
            lambda: InMemoryIntakeUnitOfWork(tables),
            lambda: turn,
            memory_outbox,
            memory_referrals,
            memory_forget,
        )
        return
    server = request.getfixturevalue("postgres_server")
    async with migrated_pool(server, "services.intake.migrations", schema="intake") as pool:

        async def postgres_outbox() -> list[uuid.UUID]:
            return [r["event_id"] for r in await pool.fetch("SELECT event_id FROM outbox ORDER BY id")]

        async def postgres_referrals() -> int:
            count: int = await pool.fetchval("SELECT count(*) FROM referrals")
            return count

        async def postgres_forget(reference: str) -> None:
            await pool.execute("UPDATE submissions SET portal_key = NULL WHERE submission_id = $1", reference)

        yield Backend(
            lambda: PostgresIntakeUnitOfWork(pool),
            lambda: PostgresPollerTurn(pool),
            postgres_outbox,
            postgres_referrals,
            postgres_forget,
        )


def events_of(submission: NewSubmission) -> list[OutboxRow]:
    """The submission's events, with ids derived from its referral ids (the same every time)."""
    return [
        outbox_row(
            TOPIC_RECEIVED, received_event(r.referral_id).model_copy(update={"event_id": _id(r.referral_id)})
        )
        for r in submission.referrals
    ]


def _id(referral_id: str) -> uuid.UUID:
    return uuid.uuid5(uuid.NAMESPACE_URL, referral_id)


async def add_alone(backend: Backend, submission: NewSubmission) -> StoredSubmission | None:
    async with backend.unit_of_work() as uow:
        stored = await uow.submissions.add(submission, events_of(submission))
        await uow.commit()
    return stored


# Submissions


async def test_submissions_without_a_portal_key_are_found_and_given_one(backend):
    await add_alone(backend, new_submission("S-keyed"))
    async with backend.unit_of_work() as uow:
        assert await uow.submissions.without_portal_key() == []
    await backend.forget_portal_key("S-keyed")

    async with backend.unit_of_work() as uow:
        assert await uow.submissions.without_portal_key() == [("S-keyed", "dev-portal")]
        await uow.submissions.set_portal_keys([("S-keyed", b"portal-key-of-S-keyed")])
        await uow.commit()
    async with backend.unit_of_work() as uow:
        assert await uow.submissions.without_portal_key() == []
    assert await add_alone(backend, new_submission("S-keyed", reference="S-other")) is not None


async def test_a_submission_id_is_stored_once_and_then_gives_back_the_first_digest_and_answer(backend):
    first = new_submission("S-1", children=2, body_digest=b"first")
    assert await add_alone(backend, first) is None
    twin = new_submission("S-1", reference="S-1b", children=3, body_digest=b"second")

    stored = await add_alone(backend, twin)

    assert stored == StoredSubmission(b"first", first.receipt)
    assert await backend.published() == [e[0] for e in events_of(first)]
    assert await backend.referrals() == 2


async def test_the_answer_comes_back_as_given_with_its_time_and_the_referrals_in_order(backend):
    first = new_submission("S-2", children=4)
    receipt = replace(first.receipt, received_at=datetime(2026, 3, 29, 1, 30, 0, 123456, tzinfo=UTC))
    await add_alone(backend, replace(first, receipt=receipt))

    stored = await add_alone(backend, new_submission("S-2", reference="S-2b"))
    assert stored is not None and stored.receipt == receipt


async def test_concurrent_twins_store_one_submission_and_the_others_find_it(backend):
    twins = [new_submission("S-3", reference=f"S-3{i}", children=2, body_digest=b"same") for i in range(5)]
    results = await asyncio.gather(*(add_alone(backend, t) for t in twins))

    assert results.count(None) == 1
    winner = twins[results.index(None)]
    assert [r for r in results if r is not None] == [StoredSubmission(b"same", winner.receipt)] * 4
    assert await backend.published() == [e[0] for e in events_of(winner)]


async def test_a_submission_stored_first_is_durable_at_once_and_its_unit_of_work_takes_nothing_more(backend):
    submission = new_submission("S-4")
    async with backend.unit_of_work() as uow:
        assert await uow.submissions.add(submission, events_of(submission)) is None
        with pytest.raises(RuntimeError, match="alone"):
            await uow.oep_instances.state_of(1)
        with pytest.raises(RuntimeError, match="alone"):
            await uow.submissions.add(new_submission("S-5"), [])
        # Left without a commit: a lone statement needs none.

    assert await add_alone(backend, new_submission("S-4")) == StoredSubmission(
        b"digest-1", submission.receipt
    )
    assert await backend.published() == [e[0] for e in events_of(submission)]


async def test_a_submission_stored_after_a_load_joins_the_transaction_and_goes_without_a_commit(backend):
    submission = new_submission("S-6")
    async with backend.unit_of_work() as uow:
        assert await uow.oep_instances.state_of(6) is None
        await uow.submissions.add(submission, events_of(submission))
        await uow.oep_instances.record_stored(6, "101", T0, "S-6", ["R-x"])

    async with backend.unit_of_work() as uow:
        assert await uow.oep_instances.state_of(6) is None
    assert await backend.published() == []
    assert await add_alone(backend, submission) is None  # nothing of it was kept


async def test_a_submission_and_its_instance_state_commit_together(backend):
    submission = new_submission("oep-7", children=2)
    ids = [r.referral_id for r in submission.referrals]
    async with backend.unit_of_work() as uow:
        assert await uow.oep_instances.state_of(7) is None
        assert await uow.submissions.add(submission, events_of(submission)) is None
        await uow.oep_instances.record_stored(7, "101", T0, "oep-7", ids)
        await uow.commit()

    async with backend.unit_of_work() as uow:
        assert await uow.oep_instances.state_of(7) is InstanceState.STORED
        assert await uow.oep_instances.awaiting_callback(7) == [
            TrackedInstance(7, InstanceState.STORED, tuple(ids))
        ]
    assert len(await backend.published()) == 2


# Encrypted details


async def test_details_come_back_as_stored_and_re_encrypted_ones_replace_them(backend):
    submission = new_submission("S-8")
    await add_alone(backend, submission)
    async with backend.unit_of_work() as uow:
        assert await uow.submissions.details("S-8") == submission.details
        assert await uow.submissions.details("S-none") is None
        await uow.submissions.replace_details([EncryptedDetails("S-8", "k2", b"new blob")])
        await uow.commit()
    async with backend.unit_of_work() as uow:
        assert await uow.submissions.details("S-8") == EncryptedDetails("S-8", "k2", b"new blob")


async def test_details_under_other_keys_come_in_submission_id_order_up_to_the_limit(backend):
    for sid, key in (("S-c", "k1"), ("S-a", "k1"), ("S-d", "k2"), ("S-b", "k0")):
        await add_alone(backend, new_submission(sid, key_id=key))
    async with backend.unit_of_work() as uow:
        assert [d.submission_id for d in await uow.submissions.details_not_under("k2", 10)] == [
            "S-a", "S-b", "S-c",
        ]  # fmt: skip
    async with backend.unit_of_work() as uow:
        assert [d.submission_id for d in await uow.submissions.details_not_under("k2", 2)] == ["S-a", "S-b"]


async def test_details_one_unit_of_work_holds_are_skipped_by_another_until_it_ends(backend):
    for n in range(4):
        await add_alone(backend, new_submission(f"S-{n}"))
    async with backend.unit_of_work() as first:
        held = [d.submission_id for d in await first.submissions.details_not_under("k2", 2)]
        async with backend.unit_of_work() as second:
            others = [d.submission_id for d in await second.submissions.details_not_under("k2", 10)]
    async with backend.unit_of_work() as third:
        again = [d.submission_id for d in await third.submissions.details_not_under("k2", 10)]

    assert held == ["S-0", "S-1"] and others == ["S-2", "S-3"]
    assert again == ["S-0", "S-1", "S-2", "S-3"]


# Documents (the original portal document)


def with_documents(submission: NewSubmission, *keys: str) -> NewSubmission:
    """The submission with one document per key id given, numbered from 1."""
    sid = submission.submission_id
    documents = tuple(
        EncryptedDocument(
            sid, DocumentInfo(n, f"Dokument {n}.xml", "application/xml", 100 + n), key, b"blob %d" % n
        )
        for n, key in enumerate(keys, 1)
    )
    return replace(submission, documents=documents)


async def test_documents_are_stored_with_their_submission_and_come_back_as_stored(backend):
    submission = with_documents(new_submission("S-9"), "k1", "k1")
    await add_alone(backend, submission)
    await add_alone(backend, new_submission("S-10"))  # none: its list stays empty
    async with backend.unit_of_work() as uow:
        assert await uow.dossiers.documents_of("S-9") == [d.info for d in submission.documents]
        assert await uow.dossiers.documents_of("S-10") == []
        assert await uow.dossiers.document("S-9", 2) == submission.documents[1]
        assert await uow.dossiers.document("S-9", 3) is None
        assert await uow.dossiers.document("S-10", 1) is None


async def test_a_resubmission_stores_no_documents(backend):
    await add_alone(backend, with_documents(new_submission("S-11"), "k1"))
    again = with_documents(new_submission("S-11"), "k1", "k1")
    assert await add_alone(backend, again) is not None
    async with backend.unit_of_work() as uow:
        assert [d.n for d in await uow.dossiers.documents_of("S-11")] == [1]


async def test_documents_under_other_keys_are_held_and_re_encrypted_ones_replace_them(backend):
    await add_alone(backend, with_documents(new_submission("S-b"), "k1", "k2"))
    await add_alone(backend, with_documents(new_submission("S-a"), "k0"))
    async with backend.unit_of_work() as first:
        held = await first.submissions.documents_not_under("k2", 1)
        async with backend.unit_of_work() as second:
            others = await second.submissions.documents_not_under("k2", 10)
        assert [(d.submission_id, d.info.n) for d in held] == [("S-a", 1)]
        assert [(d.submission_id, d.info.n) for d in others] == [("S-b", 1)]
        await first.submissions.replace_documents([replace(held[0], key_id="k2", ciphertext=b"new blob")])
        await first.commit()
    async with backend.unit_of_work() as uow:
        stored = await uow.dossiers.document("S-a", 1)
        assert stored is not None and (stored.key_id, stored.ciphertext) == ("k2", b"new blob")
        assert stored.info == DocumentInfo(1, "Dokument 1.xml", "application/xml", 101)
        assert [(d.submission_id, d.info.n) for d in await uow.submissions.documents_not_under("k2", 10)] == [
            ("S-b", 1)
        ]


async def test_a_documents_encrypted_file_name_is_stored_apart_and_comes_back_by_number(backend):
    plain = with_documents(new_submission("S-12"), "dek", "dek", "dek")
    named = replace(plain.documents[1], name_ciphertext=b"sealed name 2")
    submission = replace(plain, documents=(plain.documents[0], named, plain.documents[2]))
    await add_alone(backend, submission)
    async with backend.unit_of_work() as uow:
        assert await uow.dossiers.document_names_of("S-12") == {2: ("dek", b"sealed name 2")}
        assert await uow.dossiers.document("S-12", 2) == named
        assert (await uow.dossiers.document("S-12", 1)).name_ciphertext is None  # type: ignore[union-attr]
        assert await uow.dossiers.documents_of("S-12") == [d.info for d in submission.documents]
        assert await uow.dossiers.document_names_of("S-10") == {}


async def test_a_re_encrypted_documents_file_name_moves_with_it(backend):
    plain = with_documents(new_submission("S-13"), "k1")
    await add_alone(
        backend, replace(plain, documents=(replace(plain.documents[0], name_ciphertext=b"old name"),))
    )
    async with backend.unit_of_work() as uow:
        [held] = await uow.submissions.documents_not_under("k2", 10)
        assert held.name_ciphertext == b"old name"
        await uow.submissions.replace_documents([replace(held, key_id="dek", name_ciphertext=b"new name")])
        await uow.commit()
    async with backend.unit_of_work() as uow:
        assert await uow.dossiers.document_names_of("S-13") == {1: ("dek", b"new name")}


# The Open ePlatform poller's state


async def test_failed_attempts_are_counted_and_reach_rejected_at_the_bound(backend):
    async with backend.unit_of_work() as uow:
        assert await uow.oep_instances.record_failure(1, "101", "unmappable", 3, None) == (
            InstanceState.RECEIVED, 1,
        )  # fmt: skip
        assert await uow.oep_instances.record_failure(1, "101", "unmappable", 3, T0) == (
            InstanceState.RECEIVED,
            2,
        )
        assert await uow.oep_instances.record_failure(1, "101", "unmappable", 3, None) == (
            InstanceState.REJECTED,
            3,
        )
        assert await uow.oep_instances.record_failure(2, "101", "unreadable", 1, None) == (
            InstanceState.REJECTED,
            1,
        )
        await uow.commit()
    async with backend.unit_of_work() as uow:
        assert [(i.flow_instance_id, i.state) for i in await uow.oep_instances.awaiting_callback()] == [
            (1, InstanceState.REJECTED), (2, InstanceState.REJECTED),
        ]  # fmt: skip
        with pytest.raises(LookupError):
            await uow.oep_instances.record_failure(1, "101", "again", 3, None)


async def test_an_instance_stored_after_failed_attempts_counts_them_and_awaits_its_callbacks(backend):
    submission = new_submission("oep-3")
    async with backend.unit_of_work() as uow:
        await uow.oep_instances.record_failure(3, "101", "unmappable", 5, None)
        await uow.submissions.add(submission, [])
        await uow.oep_instances.record_stored(3, "101", T0, "oep-3", ["R-1", "R-2"])
        await uow.commit()
    async with backend.unit_of_work() as uow:
        assert await uow.oep_instances.awaiting_callback() == [
            TrackedInstance(3, InstanceState.STORED, ("R-1", "R-2"))
        ]
        assert await uow.oep_instances.record_failure(4, "101", "x", 5, None) == (InstanceState.RECEIVED, 1)
        with pytest.raises(LookupError):
            await uow.oep_instances.record_failure(3, "101", "x", 5, None)


async def test_an_instance_moves_on_only_from_the_state_it_is_in(backend):
    async with backend.unit_of_work() as uow:
        assert await uow.oep_instances.state_of(5) is None
        await uow.submissions.add(new_submission("oep-5"), [])
        await uow.oep_instances.record_stored(5, "101", T0, "oep-5", ["R-5"])
        await uow.oep_instances.advance(5, InstanceState.DELIVERED, InstanceState.DONE)  # not there yet
        assert await uow.oep_instances.state_of(5) is InstanceState.STORED
        await uow.oep_instances.advance(5, InstanceState.STORED, InstanceState.DELIVERED)
        await uow.oep_instances.advance(5, InstanceState.STORED, InstanceState.DELIVERED)
        await uow.commit()
    async with backend.unit_of_work() as uow:
        assert await uow.oep_instances.state_of(5) is InstanceState.DELIVERED
        await uow.oep_instances.advance(5, InstanceState.DELIVERED, InstanceState.DONE)
        await uow.commit()
    async with backend.unit_of_work() as uow:
        assert await uow.oep_instances.awaiting_callback() == []
        assert await uow.oep_instances.awaiting_callback(5) == []


async def failure(uow: Any, iid: int, family: str, at: datetime | None, max_attempts: int = 9) -> None:
    await uow.oep_instances.record_failure(iid, family, "x", max_attempts, at)


async def stored(uow: Any, iid: int, family: str, at: datetime) -> None:
    await uow.submissions.add(new_submission(f"oep-{iid}"), [])
    await uow.oep_instances.record_stored(iid, family, at, f"oep-{iid}", [])


async def test_the_cursor_moves_to_the_newest_submission_but_never_past_one_still_retried(backend):
    later = T0 + timedelta(hours=5)
    async with backend.unit_of_work() as uow:
        await uow.oep_instances.move_cursor("101")  # nothing seen: no cursor
        assert await uow.oep_instances.cursor("101") is None
        await stored(uow, 1, "101", T0)
        await stored(uow, 2, "101", later)
        await stored(uow, 3, "202", later + timedelta(days=1))  # another family
        await uow.oep_instances.move_cursor("101")
        assert await uow.oep_instances.cursor("101") == later

        await failure(uow, 4, "101", T0 + timedelta(hours=1))
        await failure(uow, 5, "101", T0 + timedelta(hours=2))
        await uow.oep_instances.move_cursor("101")
        assert await uow.oep_instances.cursor("101") == T0 + timedelta(hours=1)

        await failure(uow, 6, "101", None)  # unreadable: its time is unknown, the cursor stays
        await uow.oep_instances.move_cursor("101")
        assert await uow.oep_instances.cursor("101") == T0 + timedelta(hours=1)

        for iid in (4, 5, 6):
            await failure(uow, iid, "101", None, max_attempts=1)  # rejected: retried no more
        await uow.oep_instances.move_cursor("101")
        assert await uow.oep_instances.cursor("101") == later
        await uow.commit()


# The poller's turn


async def test_one_poller_holds_the_turn_at_a_time(backend):
    async with backend.turn().hold() as first, backend.turn().hold() as second:
        assert (first, second) == (True, False)
    async with backend.turn().hold() as again:
        assert again


async def test_a_kept_raw_document_is_found_while_the_instance_may_be_remapped_and_dropped_once_stored(
    backend,
):
    async with backend.unit_of_work() as uow:
        await uow.oep_instances.record_failure(31, "101", "unmappable", 1, T0)
        await uow.oep_instances.keep_raw(31, "ISO-8859-1", "k1", b"sealed-1", 120)
        await uow.oep_instances.record_failure(32, "101", "unmappable", 3, None)
        await uow.oep_instances.keep_raw(32, None, "k1", b"sealed-2", 80)
        await uow.commit()
    async with backend.unit_of_work() as uow:
        kept = await uow.oep_instances.raw_of()
        assert [(k.flow_instance_id, k.family_id, k.state, k.charset, k.ciphertext) for k in kept] == [
            (31, "101", InstanceState.REJECTED, "ISO-8859-1", b"sealed-1"),
            (32, "101", InstanceState.RECEIVED, None, b"sealed-2"),
        ]
        assert [k.flow_instance_id for k in await uow.oep_instances.raw_of(32)] == [32]
    await add_alone(backend, new_submission("S-31"))
    async with backend.unit_of_work() as uow:
        await uow.oep_instances.state_of(31)
        await uow.oep_instances.record_stored(31, "101", T0, "S-31", ["R-31"])
        await uow.commit()
    async with backend.unit_of_work() as uow:
        assert [k.flow_instance_id for k in await uow.oep_instances.raw_of()] == [32]


async def test_a_gone_instance_is_not_awaited_nor_remapped_and_a_done_one_stays_done(backend):
    async with backend.unit_of_work() as uow:
        await uow.oep_instances.record_failure(41, "101", "unmappable", 3, T0)
        await uow.oep_instances.keep_raw(41, None, "k1", b"sealed", 6)
        assert await uow.oep_instances.record_gone(41, None, "not found") is InstanceState.RECEIVED
        assert await uow.oep_instances.record_gone(42, "101", "HTTP 404") is None
        with pytest.raises(LookupError):
            await uow.oep_instances.record_gone(43, None, "no row, no family")
        await uow.commit()
    async with backend.unit_of_work() as uow:
        assert await uow.oep_instances.state_of(41) is InstanceState.GONE
        assert await uow.oep_instances.state_of(42) is InstanceState.GONE
        assert await uow.oep_instances.raw_of() == []
        assert await uow.oep_instances.awaiting_callback() == []


async def test_kept_raw_documents_under_an_old_key_are_found_for_the_rekey_and_replaced(backend):
    async with backend.unit_of_work() as uow:
        await uow.oep_instances.record_failure(51, "101", "unmappable", 1, T0)
        await uow.oep_instances.keep_raw(51, None, "k1", b"old", 3)
        await uow.oep_instances.record_failure(52, "101", "unmappable", 3, None)
        await uow.oep_instances.keep_raw(52, None, "k2", b"new", 3)
        await uow.commit()
    async with backend.unit_of_work() as uow:
        [old] = await uow.oep_instances.raw_not_under("k2", 10)
        assert (old.flow_instance_id, old.key_id, old.ciphertext) == (51, "k1", b"old")
        await uow.oep_instances.keep_raw(51, None, "k2", b"rekeyed", 3)
        await uow.commit()
    async with backend.unit_of_work() as uow:
        assert await uow.oep_instances.raw_not_under("k2", 10) == []
        assert [k.ciphertext for k in await uow.oep_instances.raw_of(51)] == [b"rekeyed"]


async def test_the_end_of_a_listed_window_moves_the_cursor_past_an_empty_window_but_not_past_a_retried_one(
    backend,
):
    window_end = T0 + timedelta(days=60)
    async with backend.unit_of_work() as uow:
        await uow.oep_instances.move_cursor("101", window_end)  # nothing seen in the window
        assert await uow.oep_instances.cursor("101") == window_end
        await stored(uow, 1, "101", window_end + timedelta(days=1))
        await uow.oep_instances.move_cursor("101", window_end)  # a newer submission wins
        assert await uow.oep_instances.cursor("101") == window_end + timedelta(days=1)
        await failure(uow, 2, "202", T0)
        await uow.oep_instances.move_cursor("202", window_end)  # still retried: it holds the cursor
        assert await uow.oep_instances.cursor("202") == T0
