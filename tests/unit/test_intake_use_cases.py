"""Intake's submission use cases on the in-memory fakes: no Postgres, no broker.

Receiving a submission once (new, identical again, conflicting), one referral per child with its
keys and sibling links, the portal edge's answers (202/200/409/503), and re-encryption.
"""

from __future__ import annotations

import json
import random
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Any

import httpx
import pytest
from cryptography.exceptions import InvalidTag
from fastapi import FastAPI
from pydantic import SecretStr

from services.intake import api
from services.intake.adapters.memory import InMemoryIntakeUnitOfWork, IntakeTables
from services.intake.domain.submissions import Received, Submission, SubmissionConflict
from services.intake.handlers.submissions import (
    adopt_legacy_submissions,
    read_details,
    receive_submission,
    reencrypt_all,
    reencrypt_batch,
)
from shared.clock import SystemClock
from shared.crypto import Cipher
from shared.http import add_problem_handlers
from tests.factories import encode
from tests.factories import submission as submission_body
from tests.helpers import signed_headers
from tests.intake_fakes import (
    KEY_2,
    NOW,
    as_legacy,
    as_received,
    clock,
    keys,
    new_submission,
    portal_submission,
)


@pytest.fixture
def tables() -> IntakeTables:
    return IntakeTables()


def uow(tables: IntakeTables) -> InMemoryIntakeUnitOfWork:
    return InMemoryIntakeUnitOfWork(tables)


async def receive(tables: IntakeTables, submission: Submission, raw: bytes) -> Received:
    return await receive_submission(uow(tables), submission, raw, "dev-portal", keys(), clock())


def events(tables: IntakeTables) -> list[dict[str, Any]]:
    return [json.loads(payload) for _, _, _, payload in tables.outbox]


def counts(tables: IntakeTables) -> dict[str, int]:
    return {
        "submissions": len(tables.submissions),
        "details": len(tables.details),
        "referrals": len(tables.referrals),
        "outbox": len(tables.outbox),
    }


async def test_a_new_submission_is_stored_with_one_referral_per_child_and_one_event_each(tables):
    submission, raw = portal_submission(children=3)
    received = await receive(tables, submission, raw)

    assert not received.repeated
    receipt = received.receipt
    assert receipt.reference.startswith("S-") and len(receipt.reference) == 14
    assert receipt.received_at == submission.submitted_at
    assert [r.child_index for r in receipt.referrals] == [0, 1, 2]
    ids = [r.referral_id for r in receipt.referrals]
    assert len(set(ids)) == 3 and all(i.startswith("R-") and len(i) == 14 for i in ids)
    assert counts(tables) == {"submissions": 1, "details": 1, "referrals": 3, "outbox": 3}
    assert [e["data"]["referral_id"] for e in events(tables)] == ids
    assert {(topic, key) for _, topic, key, _ in tables.outbox} == {
        ("referrals.received.v1", events(tables)[0]["data"]["family_key"].encode())
    }


async def test_the_event_carries_codes_flags_and_keys_and_no_personal_detail(tables):
    body = submission_body(random.Random(5), children=1, submitted_at=NOW)
    body["concern"]["interpreter_language"] = "arabiska"
    submission, raw = as_received(body)
    await receive(tables, submission, raw)

    [event] = events(tables)
    data = event["data"]
    [reference] = tables.submissions
    assert (event["event_type"], event["producer"], event["correlation_id"]) == (
        "referral.received", "intake", reference,
    )  # fmt: skip
    assert data["submission_id"] == reference
    assert event["occurred_at"] == NOW.isoformat().replace("+00:00", "Z")
    assert (data["kind"], data["channel"], data["reporter_type"]) == ("report", "e_service", "school")
    assert data["reporter_mandatory"] and data["feedback_requested"] and data["interpreter_needed"]
    text = json.dumps(event, ensure_ascii=False)
    for secret in (body["children"][0]["name"], body["children"][0]["personal_number"], "arabiska"):
        assert secret not in text


async def test_the_details_are_stored_encrypted_and_decrypt_to_exactly_what_was_sent(tables):
    submission, raw = portal_submission()
    reference = (await receive(tables, submission, raw)).receipt.reference

    stored = tables.details[reference]
    assert stored.key_id == "dek" and raw not in stored.ciphertext  # under the submission's data key
    data_key = tables.data_keys[reference]
    assert data_key.key_id == "k1" and data_key.wrapped is not None  # wrapped by the current key
    assert await read_details(uow(tables), reference, keys().cipher) == raw
    assert await read_details(uow(tables), "never-sent", keys().cipher) is None


async def test_each_submission_has_a_data_key_of_its_own(tables):
    first = (await receive(tables, *portal_submission(random.Random(1)))).receipt.reference
    second = (await receive(tables, *portal_submission(random.Random(2)))).receipt.reference
    cipher = keys().cipher
    from services.intake.handlers.sealing import DataKeyRing

    one, two = (DataKeyRing.of(cipher, tables.data_keys[s]) for s in (first, second))
    with pytest.raises(InvalidTag):  # the other's key does not open it
        two.open(tables.details[first].ciphertext, first.encode())
    assert one.open(tables.details[first].ciphertext, first.encode())


async def test_an_identical_resubmission_gets_the_original_answer_and_stores_nothing_new(tables):
    submission, raw = portal_submission(children=2)
    first = await receive(tables, submission, raw)
    # The portal retries with the same bytes; intake draws new referral ids, which must not win.
    again = await receive(tables, *as_received(json.loads(raw)))

    assert (first.repeated, again.repeated) == (False, True)
    assert again.receipt == first.receipt
    assert counts(tables) == {"submissions": 1, "details": 1, "referrals": 2, "outbox": 2}


async def test_the_same_submission_id_with_another_body_is_a_conflict_and_changes_nothing(tables):
    body = submission_body(random.Random(3), submitted_at=NOW)
    await receive(tables, *as_received(body))
    before = (dict(tables.submissions), dict(tables.details), list(tables.outbox))
    changed = {**body, "concern": {**body["concern"], "acute_danger": not body["concern"]["acute_danger"]}}

    with pytest.raises(SubmissionConflict):
        await receive(tables, *as_received(changed))
    assert (dict(tables.submissions), dict(tables.details), list(tables.outbox)) == before


async def test_siblings_are_linked_and_share_a_family_key_while_each_child_has_a_key_of_its_own(tables):
    await receive(tables, *portal_submission(children=3))

    data = [e["data"] for e in events(tables)]
    ids = {d["referral_id"] for d in data}
    for d in data:
        assert set(d["sibling_referral_ids"]) == ids - {d["referral_id"]}
    assert len({d["family_key"] for d in data}) == 1
    assert len({d["child_key"] for d in data}) == 3


async def test_the_same_child_keeps_its_key_and_a_shared_guardian_gives_the_same_family_key(tables):
    first = submission_body(random.Random(1), submitted_at=NOW)
    second = submission_body(random.Random(2), submitted_at=NOW)
    second["children"].append(first["children"][0])  # the same child, now reported with a sibling
    second["guardians"] = first["guardians"]
    third = submission_body(random.Random(3), submitted_at=NOW)  # a sibling alone, same guardian
    third["guardians"] = first["guardians"]

    references = []
    for body in (first, second, third):
        references.append((await receive(tables, *as_received(body))).receipt.reference)

    by_submission: dict[str, list[dict[str, Any]]] = {}
    for event in events(tables):
        by_submission.setdefault(event["data"]["submission_id"], []).append(event["data"])
    [a], [b_other, b_same], [c] = (by_submission[r] for r in references)
    assert a["child_key"] == b_same["child_key"] != b_other["child_key"]
    assert a["family_key"] == b_same["family_key"] == c["family_key"]


async def test_children_without_a_known_number_get_random_keys_and_without_guardians_a_random_family(
    tables,
):
    body = submission_body(random.Random(4), children=2, submitted_at=NOW)
    body["children"] = [{"name": "Ture Provlund", "birth_date": "2019-06-02"}] * 2
    body["guardians"] = []
    await receive(tables, *as_received(body))
    await receive(tables, *as_received({**body, "submission_id": body["submission_id"] + "-2"}))

    data = [e["data"] for e in events(tables)]
    assert len({d["child_key"] for d in data}) == 4
    assert len({d["family_key"] for d in data}) == 2


async def test_receiving_a_submission_is_one_step_made_durable_without_a_separate_commit(tables):
    """The submission goes alone (one round trip in Postgres): nothing else joins its unit of work."""
    submission, raw = portal_submission()
    work = uow(tables)
    await receive_submission(work, submission, raw, "dev-portal", keys(), clock())
    assert work.commits == 1 and len(tables.submissions) == 1

    async with uow(tables) as other:
        await other.submissions.add(new_submission(), [])
        with pytest.raises(RuntimeError, match="alone"):
            await other.oep_instances.state_of(1)


class UnavailableUnitOfWork(InMemoryIntakeUnitOfWork):
    """Postgres is away: the connection is refused when the unit of work begins."""

    async def __aenter__(self) -> InMemoryIntakeUnitOfWork:
        raise ConnectionRefusedError("connection refused")

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None


@pytest.fixture
async def portal_edge(tables) -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, bool]]]:
    """The portal route alone, on the fakes; `database["up"] = False` takes Postgres away."""
    database = {"up": True}
    app = FastAPI()
    add_problem_handlers(app)
    app.include_router(api.router)

    def unit_of_work() -> InMemoryIntakeUnitOfWork:
        return InMemoryIntakeUnitOfWork(tables) if database["up"] else UnavailableUnitOfWork(tables)

    clients = {"dev-portal": [SecretStr("dev-portal-secret")]}
    app.state.portal = api.Portal(lambda: clients, unit_of_work, keys(), SystemClock(), 365)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://intake") as client:
        yield client, database


async def post(client: httpx.AsyncClient, raw: bytes) -> httpx.Response:
    return await client.post("/v1/referrals", content=raw, headers=signed_headers(raw))


async def test_the_edge_answers_202_then_200_with_the_same_body_then_409_for_another(portal_edge, tables):
    client, _ = portal_edge
    body = submission_body(children=2)
    first, again = await post(client, encode(body)), await post(client, encode(body))
    other = await post(client, encode({**body, "kind": "application"}))

    assert (first.status_code, again.status_code, other.status_code) == (202, 200, 409)
    assert again.json() == first.json()
    assert first.json()["submission_id"] == body["submission_id"]  # the portal's own id, to it alone
    assert first.json()["reference"] == next(iter(tables.submissions))
    assert [r["child_index"] for r in first.json()["referrals"]] == [0, 1]
    assert other.headers["content-type"] == "application/problem+json"
    assert other.json()["title"] == "Submission id already used"
    assert counts(tables)["referrals"] == 2


async def test_with_the_database_unavailable_the_edge_answers_503_with_retry_after_and_stores_nothing(
    portal_edge, tables
):
    client, database = portal_edge
    raw = encode(submission_body())
    database["up"] = False
    refused = await post(client, raw)

    assert refused.status_code == 503
    assert int(refused.headers["retry-after"]) > 0
    assert refused.headers["content-type"] == "application/problem+json"
    assert counts(tables) == {"submissions": 0, "details": 0, "referrals": 0, "outbox": 0}
    database["up"] = True
    assert (await post(client, raw)).status_code == 202


async def test_details_stored_before_data_keys_are_moved_onto_a_data_key_under_the_current_key(tables):
    bodies = [portal_submission(random.Random(i)) for i in range(3)]
    references = [(await receive(tables, submission, raw)).receipt.reference for submission, raw in bodies]
    as_legacy(tables, keys().cipher)  # as stored before migration 010
    assert {d.key_id for d in tables.details.values()} == {"k1"}
    assert [await read_details(uow(tables), r, keys().cipher) for r in references] == [b[1] for b in bodies]
    rotated = keys("k2", k2=KEY_2)

    assert await reencrypt_all(lambda: uow(tables), rotated.cipher, batch_size=2) == 3
    assert await reencrypt_all(lambda: uow(tables), rotated.cipher, batch_size=2) == 0
    assert {d.key_id for d in tables.details.values()} == {"dek"}
    assert {k.key_id for k in tables.data_keys.values()} == {"k2"}
    only_new = keys("k2", k2=KEY_2).cipher
    for reference, (_, raw) in zip(references, bodies, strict=True):
        assert await read_details(uow(tables), reference, only_new) == raw


async def test_data_keys_are_rewrapped_under_the_current_key_and_the_details_stay_as_they_are(tables):
    bodies = [portal_submission(random.Random(i)) for i in range(3)]
    references = [(await receive(tables, submission, raw)).receipt.reference for submission, raw in bodies]
    before = dict(tables.details)
    rotated = keys("k2", k2=KEY_2)

    assert await reencrypt_all(lambda: uow(tables), rotated.cipher, batch_size=2) == 3
    assert await reencrypt_all(lambda: uow(tables), rotated.cipher, batch_size=2) == 0
    assert tables.details == before  # only the 32-byte keys were re-wrapped
    assert {k.key_id for k in tables.data_keys.values()} == {"k2"}
    only_new = Cipher({"k2": KEY_2}, "k2")
    for reference, (_, raw) in zip(references, bodies, strict=True):
        assert await read_details(uow(tables), reference, only_new) == raw


async def test_two_re_encryptions_at_once_share_the_rows_instead_of_taking_the_same(tables):
    for i in range(4):
        await receive(tables, *portal_submission(random.Random(i)))
    as_legacy(tables, keys().cipher)
    cipher = keys("k2", k2=KEY_2).cipher
    async with uow(tables) as first:
        held = await first.submissions.details_not_under("k2", 2)
        # Another run meanwhile gets the other two, not these.
        assert await reencrypt_batch(uow(tables), cipher, batch_size=10) == 2
        assert {d.submission_id for d in held}.isdisjoint(
            sid for sid, d in tables.details.items() if d.key_id == "dek"
        )
    assert await reencrypt_batch(uow(tables), cipher, batch_size=10) == 2


# Issue 24: the portal's submission id travelled as-is into events, tables and logs, and one
# portal client could collide with another's ids.
async def test_the_portal_id_is_kept_only_as_a_keyed_digest_and_never_travels(tables):
    body = submission_body(random.Random(8), submitted_at=NOW)
    body["submission_id"] = "Anna-Andersson-8211059954"  # a portal that puts a person in its ids
    received = await receive(tables, *as_received(body))

    everything = repr(tables) + json.dumps(events(tables)) + repr(received)
    assert "Andersson" not in everything and "8211059954" not in everything
    assert received.receipt.reference in tables.submissions
    [event] = events(tables)
    assert event["data"]["submission_id"] == event["correlation_id"] == received.receipt.reference


async def test_two_portal_clients_may_use_the_same_submission_id(tables):
    body = submission_body(random.Random(9), submitted_at=NOW)
    submission, raw = as_received(body)
    first = await receive_submission(uow(tables), submission, raw, "portal-a", keys(), clock())
    other = await receive_submission(uow(tables), submission, raw, "portal-b", keys(), clock())
    again = await receive_submission(uow(tables), submission, raw, "portal-a", keys(), clock())

    assert (first.repeated, other.repeated, again.repeated) == (False, False, True)
    assert first.receipt.reference != other.receipt.reference == other.receipt.reference
    assert again.receipt == first.receipt
    assert counts(tables)["submissions"] == 2


async def test_submissions_stored_before_portal_keys_are_adopted_and_still_recognised(tables):
    submission, raw = as_received(submission_body(random.Random(10), submitted_at=NOW))
    await receive(tables, submission, raw)
    # As migration 003 leaves a row stored before it: its reference is the portal's id, no key.
    [reference] = tables.by_portal_key.values()
    tables.by_portal_key.clear()
    stored = tables.submissions.pop(reference)
    tables.submissions[submission.portal_id] = stored
    tables.client_of = {submission.portal_id: "dev-portal"}

    assert await adopt_legacy_submissions(uow(tables), keys()) == 1
    assert await adopt_legacy_submissions(uow(tables), keys()) == 0
    again = await receive(tables, submission, raw)
    assert again.repeated and again.receipt == stored.receipt
