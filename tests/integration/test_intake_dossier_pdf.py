"""`GET /v1/referrals/{id}/dossier.pdf` over HTTP on real Postgres (CONTRACTS.md §2a, issue 19):
the export is in the access log (and in `GET /v1/access-log`) before the PDF is answered, and the
PDF carries the child's name but never a protected child's masked whereabouts."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from pypdf import PdfReader

from referral_router.stack import DEV_JWT_SECRET
from services.intake.main import AssignmentApiSettings
from shared.staff_auth import AuthSettings
from tests.factories import submission
from tests.integration.intake_support import intake_settings, post, running_intake
from tests.integration.test_intake_dossier_api import StandIn, assignment_stand_in, bearer, log_rows


@pytest.fixture
async def stand_in() -> AsyncIterator[StandIn]:
    async with assignment_stand_in() as running:
        yield running


@pytest.fixture
async def intake(database_url, kafka_broker, topic_prefix, stand_in):
    settings = intake_settings(
        database_url, kafka_broker, topic_prefix,
        auth=AuthSettings(jwt_secret=SecretStr(DEV_JWT_SECRET)),
        assignment=AssignmentApiSettings(url=stand_in.url, timeout_s=1.0),
    )  # fmt: skip
    async with running_intake(settings) as client:
        yield client


def flat(text: str) -> str:
    return "".join(text.split())


def pdf_text(pdf: bytes) -> str:
    return flat("".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages))


async def protected_referral(intake: httpx.AsyncClient) -> tuple[str, dict[str, Any]]:
    body = submission()
    child = body["children"][0]
    child["protected_identity"], child["school"] = True, "Gömdaskolan"
    body["concern"]["child_location"] = "Hos mormor i Dolby"
    answer = await post(intake, body)
    assert answer.status_code == 202, answer.text
    return answer.json()["referrals"][0]["referral_id"], body


async def test_the_export_is_logged_and_the_pdf_holds_the_child_but_not_the_masked_whereabouts(
    intake, database_url
):
    rid, body = await protected_referral(intake)
    head = bearer("head", "head_of_unit")

    answer = await intake.get(f"/v1/referrals/{rid}/dossier.pdf", headers=head)

    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/pdf"
    assert answer.headers["cache-control"] == "no-store"
    assert await log_rows(database_url) == [("head", "export", "head_of_unit", "allowed")]
    text = pdf_text(answer.content)
    assert flat(body["children"][0]["name"]) in text
    assert flat("Skyddad – visas inte") in text
    for hidden in ("Gömdaskolan", "Hos mormor i Dolby"):
        assert flat(hidden) not in text, hidden
        assert hidden.encode() not in answer.content

    log = await intake.get("/v1/access-log", params={"referral": rid}, headers=head)
    assert log.status_code == 200, log.text
    assert [(r["staff"], r["action"]) for r in log.json()["rows"]] == [("head", "export")]


async def test_a_refused_export_is_logged_and_answers_no_pdf(intake, database_url):
    rid, body = await protected_referral(intake)

    stranger = await intake.get(f"/v1/referrals/{rid}/dossier.pdf", headers=bearer("cw-c2", "caseworker"))
    anonymous = await intake.get(f"/v1/referrals/{rid}/dossier.pdf")

    assert (stranger.status_code, anonymous.status_code) == (403, 401)
    assert stranger.headers["content-type"] == "application/problem+json"
    assert body["children"][0]["name"] not in stranger.text
    assert await log_rows(database_url) == [("cw-c2", "denied", "none", "denied")]
