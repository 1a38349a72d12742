"""The printable dossier (`GET /v1/referrals/{id}/dossier.pdf`, CONTRACTS.md §2a) on the in-memory
fakes: the use case (the dossier's access rule, an `export` row committed before anything is
rendered, masked values never handed to the printer) and the HTTP edge (PDF, 401, 403, 503)."""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.security import HTTPAuthorizationCredentials
from pypdf import PdfReader

from services.intake import api_dossier
from services.intake.adapters.dossier_print import print_dossier
from services.intake.adapters.memory import InMemoryIntakeUnitOfWork, IntakeTables
from services.intake.domain.dossier import AccessRefused, without_masked
from services.intake.handlers import dossier
from services.intake.ports import AccessLogUnavailable
from shared.http import ApiProblem, SecurityHeaders, add_problem_handlers
from shared.staff_auth import Principal
from tests.dossier_support import attempt, dossiers, form, project, store_referral
from tests.intake_fakes import NOW


@dataclass
class RecordingPrinter:
    """Records what it was asked to print and what the committed log held at that moment."""

    tables: IntakeTables
    printed: list[tuple[dict[str, Any], str, datetime]] = field(default_factory=list)
    log_rows_then: list[tuple[str, str, str]] = field(default_factory=list)

    async def __call__(self, d: Mapping[str, Any], printed_by: str, printed_at: datetime) -> bytes:
        self.printed.append((dict(d), printed_by, printed_at))
        e = self.tables.access_log[-1].entry if self.tables.access_log else None
        if e is not None:
            self.log_rows_then.append((e.action.value, e.relation.value, e.outcome.value))
        return b"%PDF-fake"


class FailingLog(InMemoryIntakeUnitOfWork):
    @property
    def access_log(self) -> Any:
        class Broken:
            async def append(self, entry: Any) -> Any:
                raise AccessLogUnavailable("disk full")

        return Broken()


def uow_of(tables: IntakeTables) -> Any:
    return lambda: InMemoryIntakeUnitOfWork(tables)


async def referral(tables: IntakeTables, *, protected: bool = False) -> tuple[str, dict[str, Any]]:
    body = form(protected=protected)
    # Whereabouts found nowhere else in the form (the synthetic reporter may be the same school).
    body["children"][0]["school"], body["concern"]["child_location"] = "Gömdaskolan", "Hos mormor i Dolby"
    [rid] = await store_referral(uow_of(tables), body)
    await project(uow_of(tables), rid)
    return rid, body


def text_of(pdf: bytes) -> str:
    return "".join("".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages).split())


# The use case


async def test_an_export_is_logged_and_committed_before_the_dossier_is_rendered() -> None:
    tables = IntakeTables()
    rid, _ = await referral(tables)
    printer = RecordingPrinter(tables)
    deps = dossiers(uow_of(tables))

    pdf = await dossier.export_dossier(deps, attempt("cw-a5", "caseworker", referral_id=rid), printer)

    assert pdf == b"%PDF-fake"
    assert printer.log_rows_then == [("export", "assigned", "allowed")]  # committed when printing began
    [(printed, by, at)] = printer.printed
    assert (by, at) == ("cw-a5", NOW)
    read = await dossier.read_dossier(deps, attempt("cw-a5", "caseworker", referral_id=rid))
    assert printed == read  # the dossier as GET …/dossier answers it
    assert tables.access_log[-2].entry.request_id == "req-cw-a5"


async def test_an_export_is_refused_and_logged_for_one_without_need_to_know_and_nothing_is_rendered() -> None:
    tables = IntakeTables()
    rid, _ = await referral(tables)
    printer = RecordingPrinter(tables)

    with pytest.raises(AccessRefused):
        await dossier.export_dossier(
            dossiers(uow_of(tables)), attempt("cw-b1", "caseworker", referral_id=rid), printer
        )

    assert printer.printed == []
    e = tables.access_log[-1].entry
    assert (e.action.value, e.relation.value, e.outcome.value) == ("denied", "none", "denied")


async def test_no_log_row_no_export() -> None:
    tables = IntakeTables()
    rid, _ = await referral(tables)
    printer = RecordingPrinter(tables)

    with pytest.raises(AccessLogUnavailable):
        await dossier.export_dossier(
            dossiers(lambda: FailingLog(tables)), attempt("head", "head_of_unit", referral_id=rid), printer
        )

    assert printer.printed == []


async def test_a_protected_childs_whereabouts_never_reach_the_pdf() -> None:
    tables = IntakeTables()
    rid, body = await referral(tables, protected=True)
    printer = RecordingPrinter(tables)
    deps = dossiers(uow_of(tables))
    who = attempt("cw-a5", "caseworker", referral_id=rid)
    await dossier.reveal(deps, who, "Hembesök i dag")  # a reveal is for the screen, not for a copy

    await dossier.export_dossier(deps, who, printer)
    pdf = text_of(await dossier.export_dossier(deps, who, print_dossier))

    [(printed, _, _)] = printer.printed
    assert printed["masked"] == ["child.school", "concern.child_location", "reporter.organisation"]
    assert printed["child"]["school"] is None and printed["concern"]["child_location"] is None
    child = body["children"][0]
    assert "".join(child["name"].split()) in pdf
    for hidden in (child["school"], body["concern"]["child_location"]):
        assert "".join(hidden.split()) not in pdf
    assert "".join(["Skyddad", "–", "visas", "inte"]) in pdf


def test_without_masked_empties_every_masked_path_whatever_it_held() -> None:
    d = {
        "child": {"name": "Zoë", "school": "Ängsskolan"},
        "guardians": [{"name": "Åsa"}, {"name": "Bertil"}],
        "reporter": {"phone": "070"},
        "masked": ["child.school", "guardians.1", "reporter", "nowhere.at.all", "guardians.7"],
    }

    cleaned = without_masked(d)

    assert cleaned["child"] == {"name": "Zoë", "school": None}
    assert cleaned["guardians"] == [{"name": "Åsa"}, None]
    assert cleaned["reporter"] is None
    assert d["child"]["school"] == "Ängsskolan"  # the answer itself is left alone


# The HTTP edge


async def authenticate(credentials: HTTPAuthorizationCredentials | None) -> Principal:
    """Tokens here are `<staff id>:<role>,<role>`."""
    if credentials is None:
        raise ApiProblem(401, "Unauthorized")
    sub, roles = credentials.credentials.split(":")
    return Principal(sub, frozenset(roles.split(",")))


def as_(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}", "x-request-id": "req-pdf"}


def client(tables: IntakeTables, uow: Any = InMemoryIntakeUnitOfWork) -> httpx.AsyncClient:
    app = FastAPI()
    app.add_middleware(SecurityHeaders)
    add_problem_handlers(app)
    app.include_router(api_dossier.router)
    app.state.dossier = api_dossier.DossierApi(dossiers(lambda: uow(tables)), authenticate)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://intake")


async def test_the_pdf_is_answered_as_an_attachment_not_cached_and_its_export_logged() -> None:
    tables = IntakeTables()
    rid, body = await referral(tables)
    async with client(tables) as http:
        answer = await http.get(f"/v1/referrals/{rid}/dossier.pdf", headers=as_("mgr-a:manager"))

    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/pdf"
    assert answer.headers["content-disposition"] == f'attachment; filename="{rid}.pdf"'
    assert answer.headers["cache-control"] == "no-store"
    assert answer.content.startswith(b"%PDF-")
    assert "".join(body["children"][0]["name"].split()) in text_of(answer.content)
    e = tables.access_log[-1].entry
    assert (e.action.value, e.relation.value, e.staff, e.request_id) == (
        "export",
        "team_manager",
        "mgr-a",
        "req-pdf",
    )


async def test_the_pdf_is_401_without_a_token_403_without_relation_and_503_without_a_log() -> None:
    tables = IntakeTables()
    rid, body = await referral(tables)
    path = f"/v1/referrals/{rid}/dossier.pdf"
    async with client(tables) as http:
        anonymous = await http.get(path)
        stranger = await http.get(path, headers=as_("cw-b1:caseworker"))
    async with client(tables, FailingLog) as http:
        unlogged = await http.get(path, headers=as_("head:head_of_unit"))

    assert anonymous.status_code == 401
    assert stranger.status_code == 403
    assert unlogged.status_code == 503 and unlogged.headers["retry-after"]
    for answer in (anonymous, stranger, unlogged):
        assert answer.headers["content-type"] == "application/problem+json"
        assert body["children"][0]["name"] not in answer.text
    assert [r.entry.action.value for r in tables.access_log] == ["denied"]  # the 403's row only
