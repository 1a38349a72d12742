"""The names reporters gave the files they uploaded through Open ePlatform (issue 21): kept only
encrypted under the submission's data key, beside intake's neutral label; shown in the dossier, its
print and the download for a reader allowed to read it, and only after the access is logged; moved
by the rekey; unreadable once retention destroyed the data key. On the in-memory fakes."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from services.intake.adapters.dossier_print import render_dossier_pdf
from services.intake.adapters.memory import InMemoryIntakeUnitOfWork, IntakeTables
from services.intake.domain.dossier import AccessRefused
from services.intake.domain.submissions import (
    attachment_document,
    document_name_associated_data,
    original_oep_document,
)
from services.intake.handlers import dossier
from services.intake.handlers.sealing import open_row
from services.intake.handlers.submissions import reencrypt_all
from services.intake.ports import Erasure
from shared.crypto import Cipher, DataKeyDestroyed
from tests.dossier_support import attempt, dossiers, form, project, store_referral
from tests.intake_fakes import KEY_1, NOW, as_legacy
from tests.unit.test_intake_dossier_attachments import LogFirstCipher, client, last_row
from tests.unit.test_intake_dossier_edge import as_
from tests.unit.test_intake_dossier_export import RecordingPrinter
from tests.unit.test_intake_dossier_print import PRINTED_AT, text_of

FILE_NAME = "anna_svensson_intyg.pdf"
SECOND = "Läkarintyg Åsa Öberg.txt"


def test_an_uploaded_file_is_labelled_by_number_and_keeps_the_reporters_name_apart() -> None:
    document = attachment_document(2, "application/pdf", b"%PDF-1.4", FILE_NAME)
    assert (document.name, document.file_name) == ("Bilaga 2", FILE_NAME)
    assert attachment_document(1, "text/plain", b"x", "  ").file_name is None  # blank: no name
    assert attachment_document(1, "text/plain", b"x").file_name is None
    assert original_oep_document(b"<x/>").file_name is None


@pytest.fixture
def tables() -> IntakeTables:
    return IntakeTables()


def uow_of(tables: IntakeTables) -> Any:
    return lambda: InMemoryIntakeUnitOfWork(tables)


async def referral(tables: IntakeTables) -> str:
    documents = [
        original_oep_document(b"<FlowInstance/>"),
        attachment_document(1, "application/pdf", b"%PDF-1.4 intyg", FILE_NAME),
        attachment_document(2, "text/plain", b"Anteckning", SECOND),
    ]
    [rid, *_] = await store_referral(uow_of(tables), form(), documents)
    await project(uow_of(tables), rid)
    return rid


def listed(answer: dict[str, Any]) -> list[tuple[int, str, str | None]]:
    return [(a["n"], a["name"], a["file_name"]) for a in answer["attachments"]]


EXPECTED = [
    (1, "Originaldokument (Open ePlatform).xml", None),
    (2, "Bilaga 1", FILE_NAME),
    (3, "Bilaga 2", SECOND),
]


async def test_the_name_is_stored_only_encrypted_beside_the_neutral_label(tables):
    await referral(tables)
    for (_, n), document in tables.documents.items():
        assert document.info.file_name is None and FILE_NAME not in document.info.name
        assert FILE_NAME.encode() not in document.ciphertext
        if n == 1:
            assert document.name_ciphertext is None
            continue
        assert document.name_ciphertext is not None and b"svensson" not in document.name_ciphertext
        assert document.key_id == "dek"  # under the submission's own data key


async def test_the_dossier_shows_the_names_decrypted_only_after_the_read_is_logged(tables):
    rid = await referral(tables)
    cipher = LogFirstCipher(tables)  # no data key unwrapped before an allowed row is committed
    deps = replace(dossiers(uow_of(tables)), cipher=cipher)

    read = await dossier.read_dossier(deps, attempt("cw-a5", "caseworker", referral_id=rid))

    assert listed(read) == EXPECTED
    assert last_row(tables) == ("read", "assigned", "allowed")


async def test_one_who_may_not_read_the_dossier_gets_no_name(tables):
    rid = await referral(tables)
    with pytest.raises(AccessRefused):
        await dossier.read_dossier(dossiers(uow_of(tables)), attempt("cw-b1", "caseworker", referral_id=rid))
    assert last_row(tables)[0] == "denied"


async def test_the_printed_dossier_shows_the_names(tables):
    rid = await referral(tables)
    printer = RecordingPrinter(tables)

    await dossier.export_dossier(
        dossiers(uow_of(tables)), attempt("cw-a5", "caseworker", referral_id=rid), printer
    )

    [(printed, _, _)] = printer.printed
    assert listed(printed) == EXPECTED
    text, _ = text_of(render_dossier_pdf(printed, "cw-a5", PRINTED_AT))
    flat = "".join(text.split())
    assert f"Bilaga1:{FILE_NAME}" in flat and "".join(f"Bilaga 2: {SECOND}".split()) in flat


async def test_the_download_carries_the_name(tables):
    rid = await referral(tables)
    got = await dossier.download_attachment(
        dossiers(uow_of(tables)), attempt("cw-a5", "caseworker", referral_id=rid), 2
    )
    assert (got.info.name, got.info.file_name, got.content) == ("Bilaga 1", FILE_NAME, b"%PDF-1.4 intyg")


async def test_the_rekey_moves_names_under_a_global_key_onto_the_data_key(tables):
    rid = await referral(tables)
    as_legacy(tables, Cipher({"k1": KEY_1}, "k1"))  # stored before data keys, the names too
    before = {at: d.name_ciphertext for at, d in tables.documents.items()}
    rotated = Cipher({"k1": KEY_1, "k2": b"\x02" * 32}, "k2")

    await reencrypt_all(uow_of(tables), rotated, batch_size=2)

    for at, document in tables.documents.items():
        assert document.key_id == "dek"
        assert (document.name_ciphertext is None) == (before[at] is None)
        assert document.name_ciphertext is None or document.name_ciphertext != before[at]
    only_new = replace(dossiers(uow_of(tables)), cipher=Cipher({"k2": b"\x02" * 32}, "k2"))
    read = await dossier.read_dossier(only_new, attempt("cw-a5", "caseworker", referral_id=rid))
    assert listed(read) == EXPECTED


async def test_after_erasure_no_name_can_be_read(tables):
    rid = await referral(tables)
    sid = tables.referral_facts[rid].submission_id
    async with InMemoryIntakeUnitOfWork(tables) as uow:
        await uow.retention.erase([Erasure(rid, sid, "ck", NOW, "no-investigation", "run-1")], NOW)
        await uow.commit()

    cipher = Cipher({"k1": KEY_1}, "k1")
    async with InMemoryIntakeUnitOfWork(tables) as uow:
        names = await uow.dossiers.document_names_of(sid)
        key = await uow.data_keys.get(sid)
    assert sorted(names) == [2, 3]  # the ciphertext may stay: without its key it is noise
    for n, (key_id, blob) in names.items():
        with pytest.raises(DataKeyDestroyed):
            open_row(cipher, key, key_id, blob, document_name_associated_data(sid, n))
    read = await dossier.read_dossier(
        dossiers(uow_of(tables)), attempt("cw-a5", "caseworker", referral_id=rid)
    )
    assert read.get("attachments", []) == [] and FILE_NAME not in repr(read)


async def test_the_endpoints_show_the_name_in_the_dossier_and_the_download(tables):
    rid = await referral(tables)
    async with client(tables) as http:
        read = await http.get(f"/v1/referrals/{rid}/dossier", headers=as_("cw-a5:caseworker"))
        got = await http.get(f"/v1/referrals/{rid}/attachments/3", headers=as_("cw-a5:caseworker"))
    assert read.status_code == 200 and listed(read.json()) == EXPECTED
    assert got.status_code == 200 and got.content == b"Anteckning"
    disposition = got.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="L_karintyg _sa _berg.txt"')
    assert disposition.endswith("filename*=UTF-8''L%C3%A4karintyg%20%C3%85sa%20%C3%96berg.txt")
