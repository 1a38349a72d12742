"""Schemathesis against the intake process's /openapi.json: no generated request gets a 5xx.

Unsigned requests mostly stop at 401; a second run signs every generated body, so it reaches
validation (positive and negative data alike) and, when valid, storage.
"""

from __future__ import annotations

import json
import time
import uuid

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core import NotSet

from referral_router.stack import ServiceConfig, ServiceProcesses
from services.intake.signatures import sign
from tests.conftest import create_database, drop_database
from tests.e2e.conftest import free_ports

EXAMPLES = 120
DOCUMENTED = [status_code_conformance, content_type_conformance, response_schema_conformance]
RUN = settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
SECRETS = {"key_id": "e2e-1", "key": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=", "pepper": "e2e-pepper"}


@pytest.fixture(scope="module")
async def intake_url(postgres_server, kafka_broker, tmp_path_factory):
    name = f"st_{uuid.uuid4().hex[:10]}"
    database_url = await create_database(postgres_server, name)
    config = ServiceConfig(
        database_url=database_url, bootstrap=kafka_broker.bootstrap, flavour=kafka_broker.flavour,
        ports=free_ports(), secrets=SECRETS, topic_prefix=f"s{uuid.uuid4().hex[:8]}.",
        extra_env=kafka_broker.service_env(),
    )  # fmt: skip
    services = ServiceProcesses(config, tmp_path_factory.mktemp("schemathesis-logs"))
    services.start("intake")
    try:
        yield services.url("intake")
    finally:
        services.stop_all()
        await drop_database(postgres_server, name)


def operation(url: str):
    return schemathesis.openapi.from_url(f"{url}/openapi.json")["/v1/referrals"]["POST"]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_generated_unsigned_request_gets_a_server_error(intake_url, mode):
    statuses: list[int] = []

    @RUN
    @given(operation(intake_url).as_strategy(generation_mode=mode))
    def check(case):
        response = case.call(base_url=intake_url, timeout=10)
        statuses.append(response.status_code)
        assert response.status_code < 500, case.as_curl_command()
        case.validate_response(response, checks=DOCUMENTED)

    check()
    assert statuses and set(statuses) <= {401, 413, 415, 422}


def serialised(body) -> bytes:
    if isinstance(body, NotSet):
        return b""
    if isinstance(body, bytes):  # negative data may be raw bytes rather than a JSON value
        return body
    return json.dumps(body).encode()


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_generated_signed_request_gets_a_server_error(intake_url, mode):
    statuses: list[int] = []

    @RUN
    @given(operation(intake_url).as_strategy(generation_mode=mode))
    def check(case):
        raw = serialised(case.body)
        headers = {
            "content-type": "application/json",
            "x-client-id": "dev-portal",
            "x-signature": sign("dev-portal-secret", int(time.time()), raw),
        }
        response = httpx.post(f"{intake_url}/v1/referrals", content=raw, headers=headers, timeout=10)
        statuses.append(response.status_code)
        assert response.status_code < 500, (response.status_code, response.text)
        assert response.headers["content-type"].startswith(("application/json", "application/problem+json"))
        # Every answer is documented: its status, its content type and its body's schema (issue 24).
        case.validate_response(response, checks=DOCUMENTED)

    check()
    assert 422 in statuses  # the bodies reached validation
    if mode is GenerationMode.POSITIVE:
        assert {202, 200, 409} & set(statuses)  # and some were stored
