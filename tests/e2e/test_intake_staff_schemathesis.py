"""Schemathesis against the intake process's staff endpoints (issue 19, "Show" point 6): the
dossier, its PDF, an attachment, reveal, break-the-glass, registration, the access log, and the
reporter feedback endpoints (issue 23).

Without a token every one is 401; with the token of a caseworker who has no relation to the
referral, the dossier family and the access log are 403 (or 400/422 for a request the schema
forbids; 401 when schemathesis's negative data drops the token); with the head of unit's token
nothing is a 5xx, on generated referral ids and on a referral intake really holds (a portal API
submission: it has no attachments, so 404 to the head of unit). Every answer is documented
(status, content type, body schema).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from referral_router.stack import ServiceConfig, ServiceProcesses
from referral_router.tokens import dev_token
from services.intake.signatures import sign
from tests.conftest import create_database, drop_database
from tests.e2e.conftest import free_ports
from tests.factories import submission

EXAMPLES = 25
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
RUN = settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
SECRETS = {"key_id": "e2e-1", "key": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=", "pepper": "e2e-pepper"}
DOSSIER_FAMILY = [
    ("/v1/referrals/{referral_id}/dossier", "GET"),
    ("/v1/referrals/{referral_id}/dossier.pdf", "GET"),
    ("/v1/referrals/{referral_id}/attachments/{n}", "GET"),
    ("/v1/referrals/{referral_id}/reveal", "POST"),
    ("/v1/referrals/{referral_id}/break-glass", "POST"),
    ("/v1/referrals/{referral_id}/registration", "POST"),
    ("/v1/referrals/{referral_id}/feedback-requests", "POST"),
    ("/v1/referrals/{referral_id}/feedback-sent", "POST"),
    ("/v1/referrals/{referral_id}/feedback-letter.pdf", "GET"),
]
RETENTION = [  # issue 23: holds (manager, head of unit) and the register extract (head of unit)
    ("/v1/referrals/{referral_id}/legal-hold", "POST"),
    ("/v1/referrals/{referral_id}/legal-hold", "DELETE"),
    ("/v1/register-extract", "POST"),
]
STAFF_OPERATIONS = [*DOSSIER_FAMILY, ("/v1/access-log", "GET"), *RETENTION]
IDS = [f"{method} {path}" for path, method in STAFF_OPERATIONS]
HEAD = {"authorization": f"Bearer {dev_token('head', ['head_of_unit'])}"}
STRANGER = {"authorization": f"Bearer {dev_token('cw-b1', ['caseworker'])}"}  # no relation to any


@pytest.fixture(scope="module")
async def intake(postgres_server, kafka_broker, tmp_path_factory):
    """The intake process (assignment is not running: nobody here needs a fresher look) and the
    id of one referral it holds."""
    name = f"st_{uuid.uuid4().hex[:10]}"
    database_url = await create_database(postgres_server, name)
    config = ServiceConfig(
        database_url=database_url, bootstrap=kafka_broker.bootstrap, flavour=kafka_broker.flavour,
        ports=free_ports(), secrets=SECRETS, topic_prefix=f"s{uuid.uuid4().hex[:8]}.",
        extra_env=kafka_broker.service_env(),
    )  # fmt: skip
    services = ServiceProcesses(config, tmp_path_factory.mktemp("schemathesis-staff-logs"))
    services.start("intake")
    try:
        url = services.url("intake")
        raw = json.dumps(submission()).encode()
        headers = {
            "content-type": "application/json",
            "x-client-id": "dev-portal",
            "x-signature": sign("dev-portal-secret", int(time.time()), raw),
        }
        stored = httpx.post(f"{url}/v1/referrals", content=raw, headers=headers, timeout=10)
        assert stored.status_code == 202, stored.text
        yield url, stored.json()["referrals"][0]["referral_id"]
    finally:
        services.stop_all()
        await drop_database(postgres_server, name)


@pytest.fixture(scope="module")
def schema(intake):
    url, _ = intake
    return schemathesis.openapi.from_url(f"{url}/openapi.json")


def run(schema, path: str, method: str, mode: GenerationMode, call: Callable) -> list[int]:
    """`call(case)` for each generated case of the operation; the statuses seen."""
    statuses: list[int] = []

    @RUN
    @given(schema[path][method].as_strategy(generation_mode=mode))
    def check(case):
        statuses.append(call(case))

    check()
    return statuses


def anonymous(case) -> None:
    """No token but the test's own (negative data may generate an `Authorization` header)."""
    case.headers = {k: v for k, v in (case.headers or {}).items() if k.lower() != "authorization"}


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
@pytest.mark.parametrize(("path", "method"), STAFF_OPERATIONS, ids=IDS)
def test_without_a_token_every_staff_endpoint_is_401(intake, schema, path, method, mode):
    url, _ = intake

    def call(case) -> int:
        anonymous(case)
        response = case.call(base_url=url, timeout=10)
        case.validate_response(response, checks=CHECKS)
        return response.status_code

    statuses = set(run(schema, path, method, mode, call))
    # A negative path parameter may no longer name this operation at all (a 404 from the router).
    assert statuses == {401} or (mode is GenerationMode.NEGATIVE and statuses <= {401, 404}), statuses


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
@pytest.mark.parametrize(("path", "method"), STAFF_OPERATIONS, ids=IDS)
def test_a_caseworker_without_relation_is_403(intake, schema, path, method, mode):
    url, _ = intake

    def call(case) -> int:
        anonymous(case)
        response = case.call(base_url=url, headers=STRANGER, timeout=10)
        case.validate_response(response, checks=CHECKS)
        if "authorization" not in response.request.headers:  # negative data drops the token at times
            assert response.status_code == 401, case.as_curl_command()
            return 0
        return response.status_code

    statuses = set(run(schema, path, method, mode, call)) - {0}
    if mode is GenerationMode.POSITIVE:
        assert statuses == {403}, statuses
    else:
        # What the schema forbids may be refused before the relation is looked at: a body that is
        # not JSON (400), invalid input (422), a path that names no operation (404).
        assert statuses and statuses <= {400, 403, 404, 422}, statuses


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
@pytest.mark.parametrize(("path", "method"), STAFF_OPERATIONS, ids=IDS)
def test_the_head_of_unit_never_gets_a_server_error(intake, schema, path, method, mode):
    url, held = intake

    def call(case) -> int:
        anonymous(case)
        response = case.call(base_url=url, headers=HEAD, timeout=30)
        case.validate_response(response, checks=CHECKS)
        if "referral_id" in (case.path_parameters or {}):  # and once more on the referral intake holds
            case.path_parameters = {**case.path_parameters, "referral_id": held}
            again = case.call(base_url=url, headers=HEAD, timeout=30)
            case.validate_response(again, checks=CHECKS)
        return response.status_code

    statuses = run(schema, path, method, mode, call)
    assert statuses and max(statuses) < 500
