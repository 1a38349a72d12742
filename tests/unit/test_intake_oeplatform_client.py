"""The Open ePlatform client against recorded real answers (tests/fixtures/oeplatform/real/),
served through httpx's in-process transport: every callback body it can send validates against
Open ePlatform's own callback XSD (elementFormDefault="qualified"); a list that is not a list,
a real fault and a missing instance end as the poller needs them."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import httpx
import pytest
from lxml import etree

from services.intake.adapters.oep_client import FetchLimits, OpenEPlatformClient
from services.intake.adapters.oep_mapping import load_mapping
from services.intake.domain.open_eplatform import InstanceRejected
from services.intake.ports import CallbackFault, PortalUnavailable
from shared.clock import FixedClock

REPO = Path(__file__).resolve().parents[2]
REAL = REPO / "tests" / "fixtures" / "oeplatform" / "real"
SCHEMA = etree.XMLSchema(etree.parse(str(REAL / "IntegrationCallbackService.xsd")))
SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
LATIN1 = "text/xml; charset=ISO-8859-1"
MAPPING = load_mapping(REPO / "deploy" / "config" / "oeplatform.orosanmalan.contact-details.yaml")


class Recorded:
    """Answers by path; the requests made."""

    def __init__(self, answers: dict[str, httpx.Response]) -> None:
        self.answers = answers
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        key = request.url.path if request.method == "GET" else request.method
        return self.answers.get(key) or httpx.Response(404, text="<html>Sidan hittades inte</html>")


def client(
    answers: dict[str, httpx.Response], limits: FetchLimits | None = None
) -> tuple[OpenEPlatformClient, Recorded]:
    recorded = Recorded(answers)
    http = httpx.AsyncClient(transport=httpx.MockTransport(recorded), base_url="http://oep.test")
    clock = FixedClock(datetime(2025, 3, 1, 12, 0, tzinfo=UTC))
    return OpenEPlatformClient(http, "/callback/CallbackService", MAPPING, clock, 365, limits), recorded


def xml(name: str, status: int = 200, content_type: str = LATIN1) -> httpx.Response:
    return httpx.Response(status, content=(REAL / name).read_bytes(), headers={"content-type": content_type})


def operation_of(body: bytes) -> etree._Element:
    envelope = etree.fromstring(body)
    assert envelope.tag == f"{{{SOAP_NS}}}Envelope"
    (operation,) = envelope.find(f"{{{SOAP_NS}}}Body")
    return operation


async def test_every_callback_body_the_client_sends_is_valid_against_open_eplatforms_xsd():
    portal, recorded = client({"POST": xml("setStatusResponse.xml")})
    await portal.set_status(4999, "Mottagen")
    portal, confirmed = client({"POST": xml("confirmDeliveryResponse.xml")})
    await portal.confirm_delivery(4999, "R-2025-000001,R-2025-000002", "referral-router & co")
    bodies = [r.content for r in (*recorded.requests, *confirmed.requests)]
    assert len(bodies) == 2
    for body in bodies:
        operation = operation_of(body)
        assert SCHEMA.validate(operation), SCHEMA.error_log
    assert operation_of(bodies[1]).find(".//{*}System").text == "referral-router & co"


def test_the_xsd_refuses_a_body_whose_children_are_in_no_namespace_as_ours_were():
    old = (
        '<cal:setStatus xmlns:cal="http://www.oeplatform.org/version/1.0/schemas/integration/callback">'
        "<flowInstanceID>4999</flowInstanceID><statusAlias>Mottagen</statusAlias></cal:setStatus>"
    )
    assert not SCHEMA.validate(etree.fromstring(old))


async def test_a_real_fault_keeps_its_text_and_not_found_says_the_instance_is_gone():
    portal, _ = client({"POST": xml("fault-flowinstance-not-found.xml", 500)})
    with pytest.raises(CallbackFault) as caught:
        await portal.set_status(5640, "Mottagen")
    assert str(caught.value) == "setStatus: S:Server The requested flow instance with ID 5640 was not found"
    assert caught.value.instance_gone


async def test_a_refused_status_alias_is_a_fault_but_the_instance_is_not_gone():
    fault = (
        b"<?xml version='1.0' encoding='ISO-8859-1'?><S:Envelope xmlns:S=\"http://schemas.xmlsoap.org/soap/envelope/\">"
        b"<S:Body><S:Fault><faultcode>S:Server</faultcode><faultstring>Status with alias Mottagen not found"
        b"</faultstring></S:Fault></S:Body></S:Envelope>"
    )
    portal, _ = client({"POST": httpx.Response(500, content=fault, headers={"content-type": LATIN1})})
    with pytest.raises(CallbackFault, match="Status with alias Mottagen not found") as caught:
        await portal.set_status(4999, "Mottagen")
    assert not caught.value.instance_gone


async def test_an_undeclared_latin1_list_is_read_by_its_content_type_and_to_date_is_sent():
    portal, recorded = client(
        {"/api/instanceapi/getinstances/family/101": xml("getinstances-no-declaration.xml")}
    )
    assert await portal.list_instances("101", date(2025, 2, 1), date(2025, 2, 28)) == [4999, 4965, 4933, 4932]
    assert dict(recorded.requests[0].url.params) == {"fromDate": "2025-02-01", "toDate": "2025-02-28"}


@pytest.mark.parametrize("name", ["getstatus.xml", "setStatusResponse.xml", "getinstance-preliminar.xml"])
async def test_a_list_answered_with_another_document_is_an_unavailable_portal_naming_it(name):
    portal, _ = client({"/api/instanceapi/getinstances/family/101": xml(name)})
    with pytest.raises(PortalUnavailable, match="getinstances: expected the instance list"):
        await portal.list_instances("101", date(2025, 2, 1))


async def test_an_instance_comes_with_both_files_from_the_file_endpoint_and_its_pdf():
    base = "/api/fileuploadqueryapi/getfile/4999/70041"
    portal, recorded = client({
        "/api/instanceapi/getinstance/4999/xml": xml("composed-orosanmalan-4999.xml"),
        f"{base}/9001": httpx.Response(200, content=(REAL / "composed-file-9001.txt").read_bytes(),
                                       headers={"content-type": "text/plain"}),
        f"{base}/9002": httpx.Response(200, content=(REAL / "composed-file-9002.pdf").read_bytes(),
                                       headers={"content-type": "application/pdf"}),
        "/api/instanceapi/getinstance/4999/pdf": httpx.Response(200, content=b"%PDF-1.4 x"),
    })  # fmt: skip
    form = await portal.fetch_form(4999)
    assert [r.url.path for r in recorded.requests][-1] == "/api/instanceapi/getinstance/4999/pdf"
    assert [(d.name, d.media_type, len(d.content)) for d in form.attachments] == [
        ("Bilaga 1", "text/plain", 50), ("Bilaga 2", "application/pdf", 67),
        ("Ärendet som PDF (Open ePlatform).pdf", "application/pdf", 10),
    ]  # fmt: skip
    assert form.original == (REAL / "composed-orosanmalan-4999.xml").read_bytes()


async def test_a_file_over_the_limit_rejects_the_instance_naming_the_file_and_keeping_the_raw_document():
    portal, recorded = client(
        {"/api/instanceapi/getinstance/4999/xml": xml("composed-orosanmalan-4999.xml")},
        FetchLimits(max_file_bytes=60),
    )
    with pytest.raises(InstanceRejected) as caught:
        await portal.fetch_form(4999)
    assert caught.value.reason == "file 2 (question 'bilagor') is 67 bytes, over the limit of 60 bytes"
    assert caught.value.raw == (REAL / "composed-orosanmalan-4999.xml").read_bytes()
    assert not caught.value.gone
    assert [r.url.path for r in recorded.requests] == ["/api/instanceapi/getinstance/4999/xml"]


async def test_a_purged_instance_is_gone():
    portal, _ = client({})
    with pytest.raises(InstanceRejected) as caught:
        await portal.fetch_form(4933)
    assert caught.value.gone and caught.value.raw is None
