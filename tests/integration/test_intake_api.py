"""The portal API over HTTP against real Postgres and Kafka (CONTRACTS.md §2)."""

from __future__ import annotations

import asyncio
import json
import random
import time
from typing import Any

import pytest

from shared.events import TOPIC_RECEIVED
from tests.factories import encode, submission
from tests.helpers import read_topic
from tests.integration.intake_support import counts, intake_db, intake_settings, post, running_intake

EMPTY = {"submissions": 0, "personal_details": 0, "referrals": 0, "outbox": 0}


@pytest.fixture
async def intake(database_url, kafka_broker, topic_prefix):
    async with running_intake(intake_settings(database_url, kafka_broker, topic_prefix)) as client:
        yield client


async def outbox_events(database_url: str) -> list[dict]:
    conn = await intake_db(database_url)
    try:
        return [json.loads(r["payload"]) for r in await conn.fetch("SELECT payload FROM outbox ORDER BY id")]
    finally:
        await conn.close()


async def test_a_signed_valid_submission_is_answered_202_with_one_referral_per_child(intake, database_url):
    body = submission(children=3)
    response = await post(intake, body)

    assert response.status_code == 202, response.text
    answer = response.json()
    assert answer["submission_id"] == body["submission_id"]
    assert [r["child_index"] for r in answer["referrals"]] == [0, 1, 2]
    ids = [r["referral_id"] for r in answer["referrals"]]
    assert len(set(ids)) == 3 and all(i.startswith("R-") and len(i) == 14 for i in ids)
    assert await counts(database_url) == {
        "submissions": 1,
        "personal_details": 1,
        "referrals": 3,
        "outbox": 3,
    }


async def test_siblings_are_linked_and_share_a_family_key(intake, database_url):
    answer = (await post(intake, submission(children=3))).json()
    events = [e["data"] for e in await outbox_events(database_url)]
    ids = {r["referral_id"] for r in answer["referrals"]}

    assert {e["referral_id"] for e in events} == ids
    for event in events:
        assert set(event["sibling_referral_ids"]) == ids - {event["referral_id"]}
    assert len({e["family_key"] for e in events}) == 1
    assert len({e["child_key"] for e in events}) == 3


async def test_the_same_child_gets_the_same_key_and_a_shared_guardian_the_same_family_key(
    intake, database_url
):
    first = submission(random.Random(1))
    second = submission(random.Random(2))
    second["children"].append(first["children"][0])  # the same child, now reported with a sibling
    second["guardians"] = first["guardians"]
    third = submission(random.Random(3))  # a sibling reported alone, naming the same guardian
    third["guardians"] = first["guardians"]
    references = []
    for body in (first, second, third):
        response = await post(intake, body)
        assert response.status_code == 202
        references.append(response.json()["reference"])
    events: dict[str, list[dict[str, Any]]] = {r: [] for r in references}
    for e in await outbox_events(database_url):
        events[e["data"]["submission_id"]].append(e["data"])

    [a], [b_other, b_same], [c] = (events[r] for r in references)
    assert a["child_key"] == b_same["child_key"] != b_other["child_key"]
    assert a["family_key"] == b_same["family_key"] == c["family_key"]


async def test_a_child_without_a_known_number_gets_a_key_of_its_own(intake, database_url):
    body = submission(children=2)
    body["children"][0] = {"name": "Ture Provlund", "birth_date": "2019-06-02"}
    body["children"][1] = {"name": "Ture Provlund", "birth_date": "2019-06-02"}
    assert (await post(intake, body)).status_code == 202
    keys = {e["data"]["child_key"] for e in await outbox_events(database_url)}
    assert len(keys) == 2


async def test_resending_the_same_body_answers_200_with_the_original_body_and_stores_nothing_new(
    intake, database_url
):
    body = submission(children=2)
    first = await post(intake, body)
    again = await post(intake, body)

    assert (first.status_code, again.status_code) == (202, 200)
    assert again.json() == first.json()
    assert await counts(database_url) == {
        "submissions": 1,
        "personal_details": 1,
        "referrals": 2,
        "outbox": 2,
    }


async def test_the_same_submission_id_with_a_different_body_is_409_and_changes_nothing(intake, database_url):
    body = submission()
    assert (await post(intake, body)).status_code == 202
    changed = {**body, "concern": {**body["concern"], "acute_danger": True}}
    response = await post(intake, changed)

    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["title"] == "Submission id already used"
    assert await counts(database_url) == {
        "submissions": 1,
        "personal_details": 1,
        "referrals": 1,
        "outbox": 1,
    }


async def test_twenty_concurrent_identical_submissions_store_one_submission_and_one_event_per_referral(
    intake, database_url, kafka_broker, topic_prefix
):
    raw = encode(submission(children=2))
    responses = await asyncio.gather(*(post(intake, raw) for _ in range(20)))

    assert sorted(r.status_code for r in responses).count(202) == 1
    assert {r.status_code for r in responses} == {200, 202}
    assert all(r.json() == responses[0].json() for r in responses)
    assert await counts(database_url) == {
        "submissions": 1,
        "personal_details": 1,
        "referrals": 2,
        "outbox": 2,
    }
    records = await read_topic(kafka_broker.bootstrap, f"{topic_prefix}{TOPIC_RECEIVED}", expect=2)
    published = sorted(v["data"]["referral_id"] for _, v, _, _ in records)
    assert published == sorted(r["referral_id"] for r in responses[0].json()["referrals"])


def unsigned(raw: bytes, **headers: str) -> dict[str, str]:
    return {"content-type": "application/json", **headers}


@pytest.mark.parametrize(
    ("case", "headers"),
    [
        ("no headers", lambda raw: unsigned(raw)),
        ("no signature", lambda raw: unsigned(raw, **{"x-client-id": "dev-portal"})),
        ("malformed", lambda raw: unsigned(raw, **{"x-client-id": "dev-portal", "x-signature": "v1=zz"})),
        ("unknown client", lambda raw: sign_as(raw, client="nobody")),
        ("wrong secret", lambda raw: sign_as(raw, secret="not-the-secret")),
        ("too old", lambda raw: sign_as(raw, at=time.time() - 310)),
        ("from the future", lambda raw: sign_as(raw, at=time.time() + 310)),
    ],
)
async def test_a_request_not_properly_signed_is_401_and_stores_nothing(intake, database_url, case, headers):
    raw = encode(submission())
    response = await intake.post("/v1/referrals", content=raw, headers=headers(raw))

    assert response.status_code == 401, case
    assert response.headers["content-type"] == "application/problem+json"
    assert await counts(database_url) == EMPTY


def sign_as(raw: bytes, **kwargs) -> dict[str, str]:
    from tests.helpers import signed_headers

    return signed_headers(raw, **kwargs)


async def test_every_active_secret_of_a_client_is_accepted(intake):
    for secret in ("old-portal-secret", "dev-portal-secret"):
        assert (await post(intake, submission(), secret=secret)).status_code == 202


async def test_a_body_over_256_kib_is_413_whether_or_not_it_declares_its_length(intake, database_url):
    raw = b'{"x": "' + b"a" * (256 * 1024) + b'"}'
    declared = await post(intake, raw)

    async def chunks():
        for i in range(0, len(raw), 8192):
            yield raw[i : i + 8192]

    chunked = await intake.post("/v1/referrals", content=chunks(), headers=sign_as(raw))
    assert (declared.status_code, chunked.status_code) == (413, 413)
    assert await counts(database_url) == EMPTY


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", None])
async def test_a_body_that_is_not_json_is_415(intake, database_url, content_type):
    raw = encode(submission())
    headers = sign_as(raw)
    del headers["content-type"]
    if content_type:
        headers["content-type"] = content_type
    response = await intake.post("/v1/referrals", content=raw, headers=headers)
    assert response.status_code == 415
    assert await counts(database_url) == EMPTY


async def test_an_invalid_body_is_422_with_every_error_and_its_field_path(intake, database_url):
    body = submission(children=2)
    body["children"][1]["personal_number"] = "8707049996"
    body["reporter"]["type"] = "neighbour"
    body["concern"]["categories"] = []
    body["surprise"] = 1
    response = await post(intake, body)

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    errors = {tuple(e["loc"]): e["msg"] for e in response.json()["errors"]}
    assert "check digit" in errors[("children", 1, "personal_number")]
    assert "unknown reporter type" in errors[("reporter", "type")]
    assert ("concern", "categories") in errors
    assert ("surprise",) in errors
    assert "8707049996" not in response.text
    assert await counts(database_url) == EMPTY


async def test_a_body_that_is_not_valid_json_is_422(intake, database_url):
    response = await post(intake, b'{"submission_id": ')
    assert response.status_code == 422
    assert response.json()["errors"]
    assert await counts(database_url) == EMPTY


async def test_the_openapi_document_and_docs_page_are_served_with_examples(intake):
    spec = (await intake.get("/openapi.json")).json()
    operation = spec["paths"]["/v1/referrals"]["post"]
    examples = operation["requestBody"]["content"]["application/json"]["examples"]

    assert set(operation["responses"]) >= {"200", "202", "401", "409", "413", "415", "422", "503"}
    assert examples["school_report_two_siblings"]["value"]["children"]
    docs = await intake.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


async def test_the_openapi_examples_are_accepted_by_the_api(intake):
    spec = (await intake.get("/openapi.json")).json()
    examples = spec["paths"]["/v1/referrals"]["post"]["requestBody"]["content"]["application/json"][
        "examples"
    ]
    for example in examples.values():
        body = {**example["value"], "submitted_at": "2026-01-01T10:00:00+01:00"}
        assert (await post(intake, body)).status_code == 202


async def test_a_list_whose_only_item_is_invalid_reports_the_item_not_an_empty_list(intake):
    body = submission()
    body["children"][0]["personal_number"] = "8707049996"
    errors = (await post(intake, body)).json()["errors"]
    assert [e["loc"] for e in errors] == [["children", 0, "personal_number"]]


@pytest.mark.parametrize("content_type", ["application/json; charset=utf-8", "Application/JSON"])
async def test_json_with_a_charset_or_in_capitals_is_accepted(intake, content_type):
    raw = encode(submission())
    headers = {**sign_as(raw), "content-type": content_type}
    assert (await intake.post("/v1/referrals", content=raw, headers=headers)).status_code == 202


async def test_concurrent_different_bodies_under_one_id_give_one_winner_its_twins_200_and_the_rest_409(
    intake, database_url
):
    first = submission()
    second = {**first, "concern": {**first["concern"], "acute_danger": not first["concern"]["acute_danger"]}}
    bodies = [encode(first), encode(second)] * 5
    responses = await asyncio.gather(*(post(intake, raw) for raw in bodies))

    winner = next(i for i, r in enumerate(responses) if r.status_code == 202)
    for raw, response in zip(bodies, responses, strict=True):
        expected = {202, 200} if raw == bodies[winner] else {409}
        assert response.status_code in expected
    assert [r.status_code for r in responses].count(202) == 1
    assert await counts(database_url) == {
        "submissions": 1,
        "personal_details": 1,
        "referrals": 1,
        "outbox": 1,
    }
