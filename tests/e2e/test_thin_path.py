"""One referral through all four services, each a separate process (issue 2, points 2 and 3)."""

from __future__ import annotations

import json

import httpx

from shared.events import TOPIC_ASSIGNED, TOPIC_RECEIVED
from tests.factories import encode, submission
from tests.helpers import eventually, produce, read_topic, signed_headers


async def post(stack, body: dict) -> httpx.Response:
    raw = encode(body)
    async with httpx.AsyncClient(timeout=10) as client:
        return await client.post(
            stack.services.url("intake", "/v1/referrals"), content=raw, headers=signed_headers(raw)
        )


def emails_about(emails: list[dict], referral_id: str) -> list[dict]:
    return [m for m in emails if referral_id in m["subject"]]


def assigned_events_for(records, referral_id: str) -> set[str]:
    return {v["event_id"] for _, v, _, _ in records if v["data"]["referral_id"] == referral_id}


def metric(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


async def test_one_signed_post_gives_one_assignment_one_email_and_both_counters(stack):
    before = await stack.metrics_text()
    response = await post(stack, submission())
    assert response.status_code == 202, response.text
    referral_id = response.json()["referrals"][0]["referral_id"]

    mails = await eventually(stack.emails, lambda ms: len(emails_about(ms, referral_id)) >= 1, timeout_s=10)
    records = await read_topic(stack.broker.bootstrap, stack.topic(TOPIC_ASSIGNED), expect=1)
    assert len(assigned_events_for(records, referral_id)) == 1
    assert len(emails_about(mails, referral_id)) == 1
    after = await eventually(
        stack.metrics_text,
        lambda t: metric(t, "referrals_assigned_total") > metric(before, "referrals_assigned_total"),
    )
    assert metric(after, "referrals_received_total", kind="report", channel="e_service") == (
        metric(before, "referrals_received_total", kind="report", channel="e_service") + 1
    )
    assert metric(after, "referrals_assigned_total", reason="rotation") == (
        metric(before, "referrals_assigned_total", reason="rotation") + 1
    )


async def test_the_same_received_event_delivered_twice_gives_one_assignment_and_one_email(stack):
    response = await post(stack, submission())
    referral_id = response.json()["referrals"][0]["referral_id"]
    await eventually(stack.emails, lambda ms: len(emails_about(ms, referral_id)) == 1)
    received = await read_topic(stack.broker.bootstrap, stack.topic(TOPIC_RECEIVED), expect=1)
    original = next((k, v) for k, v, _, _ in received if v["data"]["referral_id"] == referral_id)
    await produce(
        stack.broker.bootstrap, stack.topic(TOPIC_RECEIVED), [(original[0], json.dumps(original[1]).encode())]
    )
    # A later referral on the same path proves the redelivered one has been handled by now.
    marker = (await post(stack, submission())).json()["referrals"][0]["referral_id"]
    mails = await eventually(stack.emails, lambda ms: len(emails_about(ms, marker)) == 1)

    assert len(emails_about(mails, referral_id)) == 1
    conn = await stack.db("assignment")
    try:
        assert (
            await conn.fetchval("SELECT count(*) FROM assignments WHERE referral_id = $1", referral_id) == 1
        )
        assert (
            await conn.fetchval("SELECT count(*) FROM inbox WHERE message_id = $1", original[1]["event_id"])
            == 1
        )
    finally:
        await conn.close()
    records = await read_topic(stack.broker.bootstrap, stack.topic(TOPIC_ASSIGNED), expect=2)
    assert len(assigned_events_for(records, referral_id)) == 1
