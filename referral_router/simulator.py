"""A portal simulator: posts synthetic, signed referrals to the intake API at a steady rate."""

from __future__ import annotations

import asyncio
import json
import random
import time

import httpx

from referral_router.stack import DEV_PORTAL_CLIENT, DEV_PORTAL_SECRET
from referral_router.synthetic import submission
from services.intake.auth import sign


async def post_submission(client: httpx.AsyncClient, url: str, body: dict[str, object]) -> httpx.Response:
    """POST one submission, signed as the dev portal."""
    raw = json.dumps(body, ensure_ascii=False).encode()
    headers = {
        "content-type": "application/json",
        "x-client-id": DEV_PORTAL_CLIENT,
        "x-signature": sign(DEV_PORTAL_SECRET, int(time.time()), raw),
    }
    return await client.post(url, content=raw, headers=headers)


async def simulate(
    intake_url: str, rate_per_s: float, *, seed: int | None = None, count: int | None = None
) -> int:
    """Post referrals until cancelled (or `count` were accepted); retry a 503 as a portal would."""
    rng = random.Random(seed)
    accepted = 0
    async with httpx.AsyncClient(timeout=10) as client:
        while count is None or accepted < count:
            siblings = 2 if rng.random() < 0.25 else 1
            body = submission(rng, children=siblings, acute=rng.random() < 0.05)
            try:
                response = await post_submission(client, f"{intake_url}/v1/referrals", body)
                accepted += response.status_code in (200, 202)
            except httpx.TransportError:
                pass  # intake restarting; the next tick tries again
            await asyncio.sleep(1.0 / rate_per_s)
    return accepted
