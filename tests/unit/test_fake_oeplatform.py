"""The fake Open ePlatform answers as the real one does (tests/fixtures/oeplatform/real/): the
list in the real shape, the recorded fault texts, and a callback body outside the callback
namespace refused, so that intake's tests against it can fail where the real platform would."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from referral_router.devinfra.fake_oeplatform import FakePortal, routes
from services.intake.adapters.oep_client import OpenEPlatformClient, callback_envelope
from services.intake.adapters.oep_mapping import load_mapping
from services.intake.adapters.oep_xml import parse_instance_list, parse_soap_answer
from shared.clock import FixedClock

REPO = Path(__file__).resolve().parents[2]
REAL = REPO / "tests" / "fixtures" / "oeplatform" / "real"
NS = 'xmlns:cal="http://www.oeplatform.org/version/1.0/schemas/integration/callback"'


@pytest.fixture
def http(tmp_path):
    for name in ("composed-orosanmalan-4999.xml", "composed-file-9002.pdf", "getstatus.xml"):
        shutil.copy(REAL / name, tmp_path / name)
    portal = FakePortal(tmp_path, "u", "p", ("Mottagen",))
    transport = httpx.ASGITransport(app=Starlette(routes=routes(portal)))
    return httpx.AsyncClient(transport=transport, base_url="http://oep", auth=httpx.BasicAuth("u", "p"))


async def test_the_list_is_in_the_real_shape_and_honours_from_and_to_date(http):
    path = "/api/instanceapi/getinstances/family/101"
    answer = await http.get(path, params={"fromDate": "2025-02-27", "toDate": "2025-02-27"})
    assert answer.headers["content-type"] == "text/xml; charset=ISO-8859-1"
    assert b"<flowInstanceID>4999</flowInstanceID>" in answer.content
    assert parse_instance_list(answer.content) == [4999]
    assert parse_instance_list((await http.get(path, params={"fromDate": "2025-02-28"})).content) == []
    assert (
        parse_instance_list(
            (await http.get(path, params={"toDate": "2025-02-26", "fromDate": "2025-01-01"})).content
        )
        == []
    )


async def test_a_body_in_no_namespace_is_refused_and_a_qualified_one_answered(http):
    unqualified = (
        f"<cal:setStatus {NS}><flowInstanceID>4999</flowInstanceID>"
        "<statusAlias>Mottagen</statusAlias></cal:setStatus>"
    )
    envelope = (
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>'
        f"{unqualified}</soapenv:Body></soapenv:Envelope>"
    )
    refused = await http.post("/callback/CallbackService", content=envelope.encode())
    fault = parse_soap_answer(refused.content, "setStatusResponse")
    assert refused.status_code == 500 and fault is not None
    assert fault.text == 'Unmarshalling Error: unexpected element (uri:"", local:"flowInstanceID")'
    qualified = callback_envelope(
        "setStatus",
        "<cal:flowInstanceID>4999</cal:flowInstanceID><cal:statusAlias>Mottagen</cal:statusAlias>",
    )
    answered = await http.post("/callback/CallbackService", content=qualified)
    assert parse_soap_answer(answered.content, "setStatusResponse") is None


async def test_a_purged_instance_answers_the_recorded_not_found_fault_and_its_fetch_a_404(http):
    await http.delete("/instances/4999")
    body = callback_envelope(
        "setStatus",
        "<cal:flowInstanceID>4999</cal:flowInstanceID><cal:statusAlias>Mottagen</cal:statusAlias>",
    )
    fault = parse_soap_answer(
        (await http.post("/callback/CallbackService", content=body)).content, "setStatusResponse"
    )
    assert fault is not None and fault.text == "The requested flow instance with ID 4999 was not found"
    assert (await http.get("/api/instanceapi/getinstance/4999/xml")).status_code == 404


async def test_the_client_gets_both_files_of_an_instance_from_the_fake(http):
    mapping = load_mapping(REPO / "deploy" / "config" / "oeplatform.orosanmalan.contact-details.yaml")
    client = OpenEPlatformClient(
        http, "/callback/CallbackService", mapping, FixedClock(datetime(2025, 3, 1, tzinfo=UTC)), 365
    )
    form = await client.fetch_form(4999)
    assert [d.content for d in form.attachments[:2]] == [
        (REAL / "composed-file-9001.txt").read_bytes(), (REAL / "composed-file-9002.pdf").read_bytes()
    ]  # fmt: skip
