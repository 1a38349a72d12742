"""A referral's attachments on the in-memory fakes (issue 19): the original Open ePlatform
document listed in the dossier and downloaded under the dossier's access rule, an `attachment`
row committed before it is decrypted, refused alike whether or not it exists, withheld for a
protected child or a submission about several children, and re-encrypted by the rekey."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from services.intake import api_dossier
from services.intake.adapters.memory import InMemoryIntakeUnitOfWork, IntakeTables
from services.intake.domain.dossier import AccessRefused, AttachmentMissing, AttachmentWithheld
from services.intake.domain.submissions import document_associated_data, original_oep_document
from services.intake.handlers import dossier
from services.intake.handlers.sealing import DataKeyRing
from services.intake.handlers.submissions import reencrypt_all
from services.intake.ports import AccessLogUnavailable
from shared.crypto import Cipher
from shared.http import SecurityHeaders, add_problem_handlers
from tests.dossier_support import DENIED, FakeAssignment, attempt, dossiers, form, project, store_referral
from tests.intake_fakes import KEY_1, NOW, as_legacy
from tests.unit.test_intake_dossier_edge import FailingLog, as_, authenticate
from tests.unit.test_intake_dossier_export import RecordingPrinter

ORIGINAL = '<?xml version="1.0" encoding="ISO-8859-1"?><FlowInstance>Åsa Öberg</FlowInstance>'.encode(
    "latin-1"
)
META = {
    "n": 1,
    "name": "Originaldokument (Open ePlatform).xml",
    "file_name": None,
    "media_type": "application/xml",
    "size": len(ORIGINAL),
}


@pytest.fixture
def tables() -> IntakeTables:
    return IntakeTables()


def uow_of(tables: IntakeTables) -> Any:
    return lambda: InMemoryIntakeUnitOfWork(tables)


def last_row(tables: IntakeTables) -> tuple[str, str, str]:
    entry = tables.access_log[-1].entry
    return entry.action.value, entry.relation.value, entry.outcome.value


async def referral(tables: IntakeTables, **changes: Any) -> str:
    """A referral of cw-a5's stored with an original document."""
    [rid, *_] = await store_referral(uow_of(tables), form(**changes), [original_oep_document(ORIGINAL)])
    await project(uow_of(tables), rid)
    return rid


class LogFirstCipher(Cipher):
    """Unwraps the submission's data key (without which no document opens) only once the
    `attachment` row is committed."""

    def __init__(self, tables: IntakeTables) -> None:
        super().__init__({"k1": KEY_1}, "k1")
        self.tables, self.documents = tables, 0

    def decrypt(self, key_id: str, blob: bytes, associated: bytes) -> bytes:
        if associated.startswith(b"data-key:"):  # a read's or an attachment's, each after its row
            assert self.tables.access_log and last_row(self.tables)[1:] == ("assigned", "allowed")
            self.documents += last_row(self.tables)[0] == "attachment"
        return super().decrypt(key_id, blob, associated)


async def test_the_dossier_lists_the_original_document_by_its_metadata(tables):
    rid = await referral(tables)
    [portal_api] = await store_referral(uow_of(tables), form(seed=8))
    await project(uow_of(tables), portal_api)
    deps = dossiers(uow_of(tables))

    read = await dossier.read_dossier(deps, attempt("cw-a5", "caseworker", referral_id=rid))
    assert read["attachments"] == [META]
    other = await dossier.read_dossier(deps, attempt("cw-a5", "caseworker", referral_id=portal_api))
    assert other["attachments"] == []  # the portal API's format carries none


async def test_the_printed_dossier_lists_the_original_by_its_metadata_only(tables):
    rid = await referral(tables)
    printer = RecordingPrinter(tables)

    await dossier.export_dossier(
        dossiers(uow_of(tables)), attempt("cw-a5", "caseworker", referral_id=rid), printer
    )

    [(printed, _, _)] = printer.printed
    assert printed["attachments"] == [META]


async def test_the_original_is_downloaded_as_fetched_after_its_attachment_row_is_committed(tables):
    rid = await referral(tables)
    cipher = LogFirstCipher(tables)
    deps = replace(dossiers(uow_of(tables)), cipher=cipher)

    got = await dossier.download_attachment(deps, attempt("cw-a5", "caseworker", referral_id=rid), 1)

    assert got.content == ORIGINAL and cipher.documents == 1
    assert (got.info.name, got.info.media_type, got.info.size) == (
        META["name"],
        META["media_type"],
        META["size"],
    )
    assert len(tables.access_log) == 1
    entry = tables.access_log[-1].entry
    assert (entry.staff, entry.referral_id, entry.reason) == ("cw-a5", rid, None)


async def test_no_log_row_no_attachment(tables):
    rid = await referral(tables)
    with pytest.raises(AccessLogUnavailable):
        await dossier.download_attachment(
            dossiers(lambda: FailingLog(tables)), attempt("cw-a5", "caseworker", referral_id=rid), 1
        )


@pytest.mark.parametrize("n", [1, 2])
async def test_one_without_need_to_know_is_refused_and_logged_whether_or_not_it_exists(tables, n):
    rid = await referral(tables)
    cipher = LogFirstCipher(tables)
    deps = replace(dossiers(uow_of(tables)), cipher=cipher)

    with pytest.raises(AccessRefused):
        await dossier.download_attachment(deps, attempt("cw-b1", "caseworker", referral_id=rid), n)
    with pytest.raises(AccessRefused):
        await dossier.download_attachment(deps, attempt("cw-b1", "caseworker", referral_id="R-NOSUCH"), n)
    assert [last_row(tables)] * 2 == [DENIED, DENIED] and len(tables.access_log) == 2
    assert cipher.documents == 0


async def test_a_number_the_referral_has_no_attachment_under_is_missing_only_for_one_who_may_read(tables):
    rid = await referral(tables)
    with pytest.raises(AttachmentMissing):
        await dossier.download_attachment(
            dossiers(uow_of(tables)), attempt("head", "head_of_unit", referral_id=rid), 2
        )
    assert last_row(tables) == ("attachment", "head_of_unit", "allowed")


async def test_a_protected_childs_original_is_withheld_and_the_refusal_logged(tables):
    rid = await referral(tables, protected=True)
    cipher = LogFirstCipher(tables)
    deps = replace(dossiers(uow_of(tables)), cipher=cipher)

    read = await dossier.read_dossier(deps, attempt("cw-a5", "caseworker", referral_id=rid))
    assert read["attachments"] == [META]  # listed: its metadata says nothing of the child
    with pytest.raises(AttachmentWithheld, match="reveal"):
        await dossier.download_attachment(deps, attempt("cw-a5", "caseworker", referral_id=rid), 1)
    assert last_row(tables) == DENIED and cipher.documents == 0


async def test_the_original_of_a_submission_about_several_children_is_withheld(tables):
    rid = await referral(tables, children=2)
    with pytest.raises(AttachmentWithheld, match="several children"):
        await dossier.download_attachment(
            dossiers(uow_of(tables)), attempt("cw-a5", "caseworker", referral_id=rid), 1
        )
    assert last_row(tables) == DENIED


async def test_the_rekey_re_encrypts_documents_too(tables):
    rid = await referral(tables)
    as_legacy(tables, Cipher({"k1": KEY_1}, "k1"))  # stored before data keys
    [(at, before)] = tables.documents.items()
    rotated = Cipher({"k1": KEY_1, "k2": b"\x02" * 32}, "k2")

    assert await reencrypt_all(uow_of(tables), rotated, batch_size=1) == 2  # the details and the original

    after = tables.documents[at]
    assert after.key_id == "dek" and after.ciphertext != before.ciphertext and after.info == before.info
    ring = DataKeyRing.of(Cipher({"k2": b"\x02" * 32}, "k2"), tables.data_keys[at[0]])
    assert ring.open(after.ciphertext, document_associated_data(*at)) == ORIGINAL
    deps = replace(dossiers(uow_of(tables)), cipher=Cipher({"k2": b"\x02" * 32}, "k2"))
    got = await dossier.download_attachment(deps, attempt("cw-a5", "caseworker", referral_id=rid), 1)
    assert got.content == ORIGINAL


# The endpoint


def client(tables: IntakeTables) -> httpx.AsyncClient:
    app = FastAPI()
    app.add_middleware(SecurityHeaders)
    add_problem_handlers(app)
    app.include_router(api_dossier.router)
    app.state.dossier = api_dossier.DossierApi(dossiers(uow_of(tables), FakeAssignment()), authenticate)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://intake")


async def test_the_endpoint_serves_the_original_as_a_download_that_is_never_cached(tables):
    rid = await referral(tables)
    async with client(tables) as http:
        got = await http.get(f"/v1/referrals/{rid}/attachments/1", headers=as_("cw-a5:caseworker"))
    assert got.status_code == 200 and got.content == ORIGINAL
    assert got.headers["content-type"].startswith("application/xml")
    assert got.headers["content-disposition"].startswith(
        'attachment; filename="Originaldokument (Open ePlatform).xml"'
    )
    assert got.headers["cache-control"] == "no-store"
    assert got.headers["x-content-type-options"] == "nosniff"
    assert tables.access_log[-1].entry.request_id == "req-42"


async def test_the_endpoint_refuses_alike_and_answers_404_only_to_a_reader(tables):
    rid = await referral(tables)
    protected = await referral(tables, protected=True, seed=9)
    async with client(tables) as http:
        no_token = await http.get(f"/v1/referrals/{rid}/attachments/1")
        exists = await http.get(f"/v1/referrals/{rid}/attachments/1", headers=as_("cw-b1:caseworker"))
        absent = await http.get(f"/v1/referrals/{rid}/attachments/7", headers=as_("cw-b1:caseworker"))
        unknown = await http.get("/v1/referrals/R-NOSUCH/attachments/1", headers=as_("cw-b1:caseworker"))
        missing = await http.get(f"/v1/referrals/{rid}/attachments/7", headers=as_("cw-a5:caseworker"))
        withheld = await http.get(f"/v1/referrals/{protected}/attachments/1", headers=as_("cw-a5:caseworker"))
        zero = await http.get(f"/v1/referrals/{rid}/attachments/0", headers=as_("cw-a5:caseworker"))

    assert no_token.status_code == 401
    assert exists.status_code == absent.status_code == unknown.status_code == 403
    assert exists.json() == absent.json() == unknown.json()
    assert missing.status_code == 404
    assert withheld.status_code == 403 and "reveal" in withheld.json()["detail"]
    assert withheld.headers["content-type"].startswith("application/problem+json")
    assert zero.status_code == 422
    for answer in (exists, absent, unknown, missing, withheld):
        assert "Åsa".encode() not in answer.content and b"FlowInstance" not in answer.content


async def test_a_key_destroyed_between_the_load_and_the_decryption_answers_410_not_500(tables):
    from services.intake.domain.submissions import DataKey

    rid = await referral(tables)
    [(sid, _)] = tables.documents
    tables.data_keys[sid] = DataKey(
        sid, None, None, NOW
    )  # as a retention run leaves it, its log row not yet seen
    async with client(tables) as http:
        got = await http.get(f"/v1/referrals/{rid}/dossier", headers=as_("cw-a5:caseworker"))
    assert got.status_code == 410 and got.json()["detail"] == "the referral's received copy was erased"
