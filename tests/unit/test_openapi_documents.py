"""The OpenAPI documents intake and assignment serve are valid OpenAPI (openapi-spec-validator),
the portal's signature scheme is in intake's document as a security scheme and header parameters,
and the calendar feed is declared as text/calendar. The apps are built, never started."""

from __future__ import annotations

import re
from types import SimpleNamespace
from typing import Any

import pytest
from openapi_spec_validator import validate

from services.assignment.main import AssignmentSettings
from services.assignment.main import create_app as create_assignment
from services.intake.main import create_app as create_intake
from services.intake.signatures import sign
from shared.clock import SystemClock
from shared.settings import HttpSettings
from tests.integration.intake_support import intake_settings

BROKER = SimpleNamespace(bootstrap="127.0.0.1:9", flavour="tansu")


@pytest.fixture(scope="module")
def intake_document() -> dict[str, Any]:
    settings = intake_settings("postgresql://nobody@127.0.0.1:9/none", BROKER, "t.")
    return create_intake(settings, SystemClock()).openapi()


@pytest.fixture(scope="module")
def assignment_document() -> dict[str, Any]:
    return create_assignment(AssignmentSettings(http=HttpSettings(api_docs=True))).openapi()


def test_intakes_openapi_document_is_valid_openapi(intake_document):
    validate(intake_document)


def test_assignments_openapi_document_is_valid_openapi(assignment_document):
    validate(assignment_document)


def test_the_portal_endpoint_requires_both_signature_headers_as_one_security_requirement(intake_document):
    schemes = intake_document["components"]["securitySchemes"]
    assert schemes["PortalClientId"] == schemes["PortalClientId"] | {
        "type": "apiKey", "in": "header", "name": "X-Client-Id",
    }  # fmt: skip
    assert schemes["PortalSignature"] == schemes["PortalSignature"] | {
        "type": "apiKey", "in": "header", "name": "X-Signature",
    }  # fmt: skip
    operation = intake_document["paths"]["/v1/referrals"]["post"]
    assert operation["security"] == [{"PortalClientId": [], "PortalSignature": []}]


def test_the_signature_headers_are_documented_parameters_whose_pattern_takes_a_real_signature(
    intake_document,
):
    operation = intake_document["paths"]["/v1/referrals"]["post"]
    headers = {p["name"]: p for p in operation["parameters"] if p["in"] == "header"}
    assert set(headers) == {"X-Client-Id", "X-Signature"}
    assert all(p["required"] for p in headers.values())
    pattern = re.compile(headers["X-Signature"]["schema"]["pattern"])
    assert pattern.fullmatch(sign("dev-portal-secret", 1795732867, b'{"submission_id": "x"}'))
    assert not pattern.fullmatch("t=1795732867,v1=abc")
    assert not pattern.fullmatch("v1=" + "0" * 64)


def test_the_calendar_feed_is_declared_as_text_calendar_only(assignment_document):
    ok = assignment_document["paths"]["/v1/rotation/calendar.ics"]["get"]["responses"]["200"]
    assert set(ok["content"]) == {"text/calendar"}
    assert ok["content"]["text/calendar"]["schema"]["type"] == "string"


def test_the_token_feed_is_text_calendar_without_a_bearer_and_the_feed_routes_are_documented(
    assignment_document,
):
    feed = assignment_document["paths"]["/v1/rotation/calendar/{token}.ics"]["get"]
    assert set(feed["responses"]["200"]["content"]) == {"text/calendar"}
    assert "security" not in feed and {"200", "404", "503"} <= set(feed["responses"])
    feeds = assignment_document["paths"]["/v1/rotation/calendar-feeds"]
    assert feeds["post"]["security"] == [{"HTTPBearer": []}] and "201" in feeds["post"]["responses"]
    revoke = assignment_document["paths"]["/v1/rotation/calendar-feeds/{feed_id}"]["delete"]
    assert {"401", "403", "404"} <= set(revoke["responses"])
