"""Work queues (issue 19) on the running stack: known synthetic personal details go in through the
portal, and the queues of the head of unit and of the intake group show the referrals with exactly
the allowed fields and none of the details, not even the pseudonymous keys."""

from __future__ import annotations

import time
import warnings

import httpx
import jwt

from referral_router.stack import DEV_JWT_SECRET
from tests.e2e.test_intake_no_personal_data import leaks, leaky_submission, post
from tests.factories import encode
from tests.helpers import eventually
from tests.unit.test_assignment_queue_api import DEADLINE_FIELDS, ITEM_FIELDS

PAGE_FIELDS = {"items", "next_cursor", "at"}


def token(sub: str, *roles: str) -> str:
    now = int(time.time())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jwt.warnings.InsecureKeyLengthWarning)  # the dev secret is short
        return jwt.encode({"sub": sub, "roles": list(roles), "iat": now, "exp": now + 3600}, DEV_JWT_SECRET)


async def test_queues_show_the_referrals_with_only_the_allowed_fields_and_no_personal_details(stack):
    accepted = await post(stack, encode(leaky_submission()))
    assert accepted.status_code == 202, accepted.text
    referral_ids = {r["referral_id"] for r in accepted.json()["referrals"]}

    async def queue(bearer: str) -> httpx.Response:
        async with httpx.AsyncClient(timeout=10) as client:
            return await client.get(
                stack.services.url("assignment", "/v1/referrals"),
                params={"limit": 200, "registered": "false"},
                headers={"authorization": f"Bearer {bearer}"},
            )

    for bearer in (token("head", "head_of_unit"), token("in-1", "intake")):
        found = await eventually(
            lambda b=bearer: queue(b),
            lambda r: r.status_code == 200 and referral_ids <= {i["referral_id"] for i in r.json()["items"]},
            timeout_s=30,
        )
        body = found.json()
        assert set(body) == PAGE_FIELDS
        for item in body["items"]:
            assert set(item) == ITEM_FIELDS
            assert all(set(d) == DEADLINE_FIELDS for d in item["deadlines"].values())
        assert not leaks(found.text)
        assert "child_key" not in found.text and "family_key" not in found.text
