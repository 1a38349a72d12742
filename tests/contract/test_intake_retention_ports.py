"""Retention and the register extract (issue 23) through their use cases, against the in-memory fake
and Postgres: the same tests on both, so the fake keeps what the job relies on from the database.

Shown here: after a run the ciphertext cannot be decrypted (its data key is gone) and the dossier
says erased; a legal hold stops erasure; the dry run lists exactly what the real run then erases;
rows stored before data keys are erased too; the register extract of a child with two referrals,
one erased.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

import pytest

from referral_router.synthetic_data import check_digit
from services.intake.adapters.memory import InMemoryIntakeUnitOfWork, IntakeTables
from services.intake.adapters.postgres import PostgresIntakeUnitOfWork
from services.intake.domain.dossier import ReferralErased, Registration
from services.intake.domain.retention import HoldScope, Keep, RetentionPlan
from services.intake.domain.submissions import (
    attachment_document,
    document_name_associated_data,
    original_oep_document,
)
from services.intake.handlers import dossier
from services.intake.handlers.register_extract import Asker, Extracting, ExtractRefused, register_extract
from services.intake.handlers.retention import (
    HoldRefused,
    HoldRequest,
    Retaining,
    lift_hold,
    run_retention,
    set_hold,
)
from services.intake.handlers.sealing import open_row
from services.intake.handlers.submissions import read_details, reencrypt_all
from services.intake.ports import Erasure
from shared.clock import FixedClock
from shared.crypto import DataKeyDestroyed
from tests.conftest import migrated_pool
from tests.dossier_support import attempt, dossiers, form, project, store_referral
from tests.intake_fakes import NOW, keys

PLAN = RetentionPlan(erase_registered_after_days=30, research_sample_days=frozenset({5, 15, 25}))
LATER = NOW + timedelta(days=31)


@dataclass
class Backend:
    unit_of_work: Callable[[], Any]
    forget_data_keys: Callable[[], Awaitable[None]]  # as if stored before migration 010
    plain_rows: Callable[[str], Awaitable[list[str]]]  # a submission's rows outside ciphertext, as text


@pytest.fixture(params=["memory", "postgres"])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    if request.param == "memory":
        tables = IntakeTables()

        async def forget() -> None:
            from tests.intake_fakes import as_legacy

            as_legacy(tables, keys().cipher)

        async def memory_rows(sid: str) -> list[str]:
            return [repr(tables.submissions.get(sid)), repr(tables.data_keys.get(sid))]

        yield Backend(lambda: InMemoryIntakeUnitOfWork(tables), forget, memory_rows)
        return
    server = request.getfixturevalue("postgres_server")
    async with migrated_pool(server, "services.intake.migrations", schema="intake") as pool:

        async def forget_in_postgres() -> None:
            await _as_legacy_in_postgres(pool)

        async def postgres_rows(sid: str) -> list[str]:
            rows = await pool.fetch(
                "SELECT s.body_digest, k.key_id, k.wrapped FROM submissions s"
                " LEFT JOIN data_keys k USING (submission_id) WHERE submission_id = $1",
                sid,
            )
            return [repr(dict(r)) for r in rows]

        yield Backend(lambda: PostgresIntakeUnitOfWork(pool), forget_in_postgres, postgres_rows)


async def _as_legacy_in_postgres(pool: Any) -> None:
    from tests.integration.intake_support import as_legacy

    async with pool.acquire() as conn:
        await as_legacy(conn, keys().cipher)


def number_born_on(day: int, serial: str = "982") -> str:
    """A synthetic 12-digit personal number of a child born on 2015-04-`day`."""
    nine = f"1504{day:02d}{serial}"
    return f"20{nine}{check_digit(nine)}"


async def referral_of(
    backend: Backend, *, day: int = 12, registered_days_before_later: int | None = 31, seed: int = 7
) -> tuple[str, str]:
    """A referral of cw-a5's about a child born on `day` (registered so many days before LATER);
    (referral id, submission id)."""
    body = form(seed=seed)
    body["children"][0]["personal_number"] = number_born_on(day)
    [rid] = await store_referral(backend.unit_of_work, body, [original_oep_document(b"<FlowInstance/>")])
    await project(backend.unit_of_work, rid, assessed=True)
    async with backend.unit_of_work() as uow:
        tracked = await uow.dossiers.find(rid, "cw-a5", NOW)
        if registered_days_before_later is not None:
            at = LATER - timedelta(days=registered_days_before_later)
            await uow.dossiers.register(rid, Registration(f"SoL-{seed}", at, "in-1", at))
        await uow.commit()
    return rid, tracked.referral.submission_id


def retaining(backend: Backend, at=LATER, plan: RetentionPlan = PLAN) -> Retaining:
    return Retaining(backend.unit_of_work, plan, keys().cipher, FixedClock(at))


async def test_the_dry_run_lists_exactly_what_the_real_run_then_erases_and_nothing_is_erased_by_it(backend):
    due = [await referral_of(backend, seed=s) for s in (1, 2, 3)]
    await referral_of(backend, seed=4, registered_days_before_later=29)  # not due yet
    await referral_of(backend, seed=5, registered_days_before_later=None)  # never before registration

    dry = await run_retention(retaining(backend), dry_run=True)
    assert await read_details(backend.unit_of_work(), due[0][1], keys().cipher) is not None  # untouched
    real = await run_retention(retaining(backend), dry_run=False)

    listed = [(e.referral_id, e.submission_id, e.rule) for e in dry.erased]
    assert listed == [(e.referral_id, e.submission_id, e.rule) for e in real.erased]
    assert sorted(rid for rid, _ in due) == [e.referral_id for e in real.erased]
    assert dry.kept == real.kept == {Keep.NOT_DUE: 1, Keep.NOT_REGISTERED: 1}
    assert (await run_retention(retaining(backend), dry_run=False)).erased == ()  # nothing twice


async def test_after_the_run_the_ciphertext_cannot_be_decrypted_and_the_dossier_says_erased(backend):
    rid, sid = await referral_of(backend)
    deps = dossiers(backend.unit_of_work)
    before = await dossier.read_dossier(deps, attempt("cw-a5", "caseworker", referral_id=rid))
    assert before["child"]["personal_number"] == number_born_on(12)

    [erased] = (await run_retention(retaining(backend), dry_run=False)).erased

    async with backend.unit_of_work() as uow:
        details = await uow.submissions.details(sid)
        key = await uow.data_keys.get(sid)
    assert details is not None and details.key_id == "dek"  # the ciphertext is still there…
    assert key is not None and key.wrapped is None and key.destroyed_at == LATER  # …its key is not
    with pytest.raises(DataKeyDestroyed):
        await read_details(backend.unit_of_work(), sid, keys().cipher)
    after = await dossier.read_dossier(deps, attempt("cw-a5", "caseworker", referral_id=rid))
    assert after["erased"] == {"erased_at": LATER.isoformat(), "rule": "received_copy_after_registration:30d"}
    assert "child" not in after and after["registration"]["system_case_number"] == "SoL-7"
    with pytest.raises(ReferralErased):
        await dossier.download_attachment(deps, attempt("cw-a5", "caseworker", referral_id=rid), 1)
    with pytest.raises(ReferralErased):
        await dossier.reveal(deps, attempt("cw-a5", "caseworker", referral_id=rid), "Hembesök i dag kl 14")
    assert erased.child_key == _child_key(number_born_on(12))  # the keyed hash, never the number
    assert all(number_born_on(12) not in row for row in await backend.plain_rows(sid))


async def test_after_the_run_the_file_names_reporters_gave_cannot_be_read(backend):
    body = form(seed=7)
    body["children"][0]["personal_number"] = number_born_on(12)
    named = attachment_document(1, "application/pdf", b"%PDF-1.4", "anna_svensson_intyg.pdf")
    [rid] = await store_referral(backend.unit_of_work, body, [original_oep_document(b"<x/>"), named])
    await project(backend.unit_of_work, rid, assessed=True)
    async with backend.unit_of_work() as uow:
        sid = (await uow.dossiers.find(rid, "cw-a5", NOW)).referral.submission_id
        await uow.dossiers.register(rid, Registration("SoL-7", NOW, "in-1", NOW))
        await uow.commit()
    deps = dossiers(backend.unit_of_work)
    before = await dossier.read_dossier(deps, attempt("cw-a5", "caseworker", referral_id=rid))
    assert [a["file_name"] for a in before["attachments"]] == [None, "anna_svensson_intyg.pdf"]

    [_] = (await run_retention(retaining(backend), dry_run=False)).erased

    async with backend.unit_of_work() as uow:
        names = await uow.dossiers.document_names_of(sid)
        key = await uow.data_keys.get(sid)
        labels = [d.name for d in await uow.dossiers.documents_of(sid)]
    assert list(names) == [2] and labels == ["Originaldokument (Open ePlatform).xml", "Bilaga 1"]
    with pytest.raises(DataKeyDestroyed):
        open_row(keys().cipher, key, *names[2], document_name_associated_data(sid, 2))
    after = await dossier.read_dossier(deps, attempt("cw-a5", "caseworker", referral_id=rid))
    assert "svensson" not in repr(after)


def _child_key(number: str) -> str:
    from shared.crypto import pseudonym

    return pseudonym(keys().pepper, "child", number)


async def test_the_dossier_of_an_erased_referral_is_still_refused_to_one_without_need_to_know(backend):
    rid, _ = await referral_of(backend)
    await run_retention(retaining(backend), dry_run=False)
    with pytest.raises(dossier.AccessRefused):
        await dossier.read_dossier(
            dossiers(backend.unit_of_work), attempt("cw-b1", "caseworker", referral_id=rid)
        )


async def test_a_legal_hold_on_the_referral_or_the_child_stops_erasure_until_it_is_lifted(backend):
    held, _ = await referral_of(backend, seed=1)
    child_held, _ = await referral_of(backend, seed=2, day=3)
    clock = FixedClock(NOW)
    await set_hold(
        backend.unit_of_work,
        clock,
        HoldRequest("mgr-a", frozenset({"manager"}), held, HoldScope.REFERRAL),
        "Tvist om insatsen, behåll",
    )
    await set_hold(
        backend.unit_of_work,
        clock,
        HoldRequest("head", frozenset({"head_of_unit"}), child_held, HoldScope.CHILD),
        "JO-granskning pågår för barnet",
    )

    run = await run_retention(retaining(backend), dry_run=False)
    assert run.erased == () and run.kept == {Keep.LEGAL_HOLD: 2}
    assert await read_details(backend.unit_of_work(), (await _sid(backend, held)), keys().cipher) is not None

    lifted = await lift_hold(
        backend.unit_of_work, clock, HoldRequest("mgr-a", frozenset({"manager"}), held, HoldScope.REFERRAL)
    )
    assert lifted is not None and lifted.lifted_by == "mgr-a"
    assert [e.referral_id for e in (await run_retention(retaining(backend), dry_run=False)).erased] == [held]


async def test_only_a_manager_or_the_head_of_unit_sets_or_lifts_a_hold(backend):
    rid, _ = await referral_of(backend)
    clock = FixedClock(NOW)
    for roles in ({"caseworker"}, {"intake"}):
        with pytest.raises(HoldRefused):
            await set_hold(
                backend.unit_of_work,
                clock,
                HoldRequest("cw-a5", frozenset(roles), rid, HoldScope.REFERRAL),
                "Jag vill behålla den",
            )
    with pytest.raises(HoldRefused):
        await lift_hold(
            backend.unit_of_work,
            clock,
            HoldRequest("cw-a5", frozenset({"caseworker"}), rid, HoldScope.REFERRAL),
        )
    with pytest.raises(HoldRefused):  # a referral intake does not hold
        await set_hold(
            backend.unit_of_work,
            clock,
            HoldRequest("head", frozenset({"head_of_unit"}), "R-NONE", HoldScope.REFERRAL),
            "Finns den ens?",
        )
    assert len((await run_retention(retaining(backend), dry_run=False)).erased) == 1


async def test_the_research_sample_is_kept_and_others_born_the_same_month_are_erased(backend):
    sampled, _ = await referral_of(backend, day=15, seed=1)
    other, _ = await referral_of(backend, day=16, seed=2)
    run = await run_retention(retaining(backend), dry_run=False)
    assert [e.referral_id for e in run.erased] == [other] and run.kept == {Keep.RESEARCH_SAMPLE: 1}
    assert sampled not in [e.referral_id for e in run.erased]
    everyone = await run_retention(
        retaining(backend, plan=replace(PLAN, research_sample_days=frozenset())), dry_run=True
    )
    assert [e.referral_id for e in everyone.erased] == [sampled]


async def test_rows_stored_before_data_keys_are_erased_too_and_rekey_moves_the_others_onto_data_keys(backend):
    erase, erase_sid = await referral_of(backend, seed=1)
    keep, keep_sid = await referral_of(backend, seed=2, registered_days_before_later=None)
    await backend.forget_data_keys()
    assert await read_details(backend.unit_of_work(), keep_sid, keys().cipher) is not None  # still readable

    await run_retention(retaining(backend), dry_run=False)
    async with backend.unit_of_work() as uow:
        assert await uow.submissions.details(erase_sid) is None  # no key to destroy: deleted
        assert await uow.dossiers.document(erase_sid, 1) is None
    deps = dossiers(backend.unit_of_work)
    assert "erased" in await dossier.read_dossier(deps, attempt("cw-a5", "caseworker", referral_id=erase))

    assert (
        await reencrypt_all(backend.unit_of_work, keys().cipher) == 2
    )  # the kept one's details and document
    async with backend.unit_of_work() as uow:
        assert (await uow.submissions.details(keep_sid)).key_id == "dek"
        assert (await uow.data_keys.get(keep_sid)).wrapped is not None
    assert (await dossier.read_dossier(deps, attempt("cw-a5", "caseworker", referral_id=keep)))["child"]


async def test_the_register_extract_of_a_child_with_two_referrals_one_erased(backend):
    erased, _ = await referral_of(backend, day=12, seed=1)
    kept, _ = await referral_of(backend, day=12, seed=2, registered_days_before_later=None)
    await referral_of(backend, day=13, seed=3, registered_days_before_later=None)  # another child
    await run_retention(retaining(backend), dry_run=False)
    deps = Extracting(backend.unit_of_work, keys().pepper, FixedClock(LATER + timedelta(days=1)))
    head = Asker("head", frozenset({"head_of_unit"}), "127.0.0.1", "req-1")

    answer = await register_extract(deps, head, number_born_on(12))

    listed = {r["referral_id"]: r for r in answer["referrals"]}
    assert set(listed) == {erased, kept}
    assert listed[erased]["role"] == listed[kept]["role"] == "child"
    assert listed[erased]["erased"] == {
        "erased_at": LATER.isoformat(),
        "rule": "received_copy_after_registration:30d",
    }
    assert listed[erased]["held"] == "work record only"
    assert listed[kept]["erased"] is None and listed[kept]["registered_at"] is None
    log = await _log_rows(backend)
    assert [(r.referral_id, r.action.value, r.outcome.value, r.staff) for r in log[-2:]] == [
        (r["referral_id"], "register_extract", "allowed", "head") for r in answer["referrals"]
    ]
    assert {r.child_key for r in log[-2:]} == {_child_key(number_born_on(12))}
    assert all(number_born_on(12) not in repr(r) for r in log)


async def test_the_register_extract_is_refused_to_anyone_but_the_head_of_unit_and_the_refusal_logged(backend):
    await referral_of(backend)
    deps = Extracting(backend.unit_of_work, keys().pepper, FixedClock(LATER))
    for roles in ({"manager"}, {"caseworker"}, {"intake"}):
        with pytest.raises(ExtractRefused):
            await register_extract(deps, Asker("mgr-a", frozenset(roles), None, None), number_born_on(12))
    log = await _log_rows(backend)
    assert [(r.referral_id, r.action.value, r.child_key) for r in log[-3:]] == [("*", "denied", None)] * 3


async def test_a_register_extract_that_finds_nothing_is_logged_once(backend):
    deps = Extracting(backend.unit_of_work, keys().pepper, FixedClock(LATER))
    answer = await register_extract(
        deps, Asker("head", frozenset({"head_of_unit"}), None, None), number_born_on(20)
    )
    assert answer["referrals"] == []
    [row] = await _log_rows(backend)
    assert (row.referral_id, row.action.value, row.outcome.value) == ("*", "register_extract", "allowed")


async def _sid(backend: Backend, rid: str) -> str:
    async with backend.unit_of_work() as uow:
        tracked = await uow.dossiers.find(rid, "cw-a5", NOW)
    return tracked.referral.submission_id


async def _log_rows(backend: Backend) -> list[Any]:
    async with backend.unit_of_work() as uow:
        return [r.entry for r in await uow.access_log.chain(0, 1000)]


async def test_the_extract_finds_the_guardian_whose_number_keyed_the_family(backend):
    guardian = "198503149919"  # synthetic
    body = form(seed=9)
    body["guardians"] = [{"personal_number": guardian, "name": "Påhittad Vårdnadshavare", "informed": True}]
    [rid] = await store_referral(backend.unit_of_work, body)
    deps = Extracting(backend.unit_of_work, keys().pepper, FixedClock(LATER))
    answer = await register_extract(deps, Asker("head", frozenset({"head_of_unit"}), None, None), guardian)
    assert [(r["referral_id"], r["role"]) for r in answer["referrals"]] == [(rid, "guardian")]


async def test_data_keys_held_by_one_re_encryption_are_skipped_by_another(backend):
    sids = sorted([(await referral_of(backend, seed=s))[1] for s in (1, 2, 3)])
    async with backend.unit_of_work() as first:
        held = [k.submission_id for k in await first.data_keys.not_under("k2", 2)]
        async with backend.unit_of_work() as second:
            others = [k.submission_id for k in await second.data_keys.not_under("k2", 10)]
        assert held == sids[:2] and others == sids[2:]
    async with backend.unit_of_work() as third:
        assert [k.submission_id for k in await third.data_keys.not_under("k2", 10)] == sids
        assert await third.data_keys.not_under("k1", 10) == []  # all wrapped by k1 already


async def test_a_key_already_stored_wins_and_a_destroyed_key_stays_destroyed(backend):
    from services.intake.domain.submissions import DataKey

    (rid, sid), (_, other) = await referral_of(backend, seed=1), await referral_of(backend, seed=2)
    async with backend.unit_of_work() as uow:
        stored = await uow.data_keys.get(sid)
        await uow.data_keys.add([DataKey(sid, "k9", b"another")])
        assert await uow.data_keys.get(sid) == stored
        await uow.commit()
    async with backend.unit_of_work() as uow:
        await uow.retention.erase([Erasure(rid, sid, "c-key", LATER, "manual-test", "run-1")], LATER)
        await uow.data_keys.rewrap([DataKey(sid, "k2", b"rewrapped"), DataKey(other, "k2", b"rewrapped")])
        await uow.commit()
    async with backend.unit_of_work() as uow:
        assert (await uow.data_keys.get(sid)).wrapped is None
        assert (await uow.data_keys.get(other)).wrapped == b"rewrapped"
        assert (await uow.retention.erasure(rid)).rule == "manual-test"
