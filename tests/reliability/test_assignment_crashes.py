"""Referrals keep flowing while the assignment process is killed with SIGKILL (issue 2, point 4)."""

from __future__ import annotations

import asyncio
import random
from collections import Counter

import httpx

from shared.events import TOPIC_ASSIGNED
from tests.factories import encode, submission
from tests.helpers import eventually, read_topic, signed_headers

REFERRALS = 200


async def submit_all(stack, count: int, rng: random.Random) -> list[str]:
    """Post `count` single-child referrals at a steady pace; return their referral ids."""
    ids: list[str] = []
    async with httpx.AsyncClient(timeout=10) as client:
        for _ in range(count):
            raw = encode(submission(rng))
            response = await client.post(
                stack.services.url("intake", "/v1/referrals"), content=raw, headers=signed_headers(raw)
            )
            assert response.status_code == 202, response.text
            ids.append(response.json()["referrals"][0]["referral_id"])
            await asyncio.sleep(rng.uniform(0.005, 0.03))
    return ids


async def kill_repeatedly(stack, times: int, rng: random.Random) -> int:
    kills = 0
    for _ in range(times):
        await asyncio.sleep(rng.uniform(0.3, 1.5))
        stack.services.kill("assignment")
        kills += 1
        await asyncio.sleep(rng.uniform(0.0, 0.5))
        await asyncio.to_thread(stack.services.start, "assignment")
    return kills


async def test_every_referral_is_assigned_exactly_once_while_assignment_is_killed(stack):
    rng = random.Random(20261122)
    ids, kills = await asyncio.gather(submit_all(stack, REFERRALS, rng), kill_repeatedly(stack, 4, rng))
    assert kills == 4

    conn = await stack.db("assignment")
    try:
        await eventually(
            lambda: conn.fetchval("SELECT count(*) FROM assignments WHERE referral_id = ANY($1)", ids),
            lambda n: n == REFERRALS,
            timeout_s=120,
        )
        per_referral = await conn.fetch("SELECT referral_id, count(*) AS n FROM assignments GROUP BY 1")
    finally:
        await conn.close()
    assert all(r["n"] == 1 for r in per_referral)
    records = await read_topic(stack.broker.bootstrap, stack.topic(TOPIC_ASSIGNED), expect=REFERRALS)
    # The relay may publish an event again after a crash (same event id); never a second decision.
    distinct = {(v["data"]["referral_id"], v["event_id"]) for _, v, _, _ in records}
    per_id = Counter(referral for referral, _ in distinct)
    assert set(per_id) >= set(ids)
    assert max(per_id.values()) == 1

    mails = await eventually(stack.emails, lambda ms: len(ms) >= REFERRALS, timeout_s=60)
    per_mail = Counter(m["subject"].rsplit(" ", 1)[-1] for m in mails)
    assert all(per_mail[i] == 1 for i in ids)
