"""Bearer tokens for the dev stack's staff API (`referral-router token`, the live view)."""

from __future__ import annotations

import time
import warnings

import jwt

from referral_router.stack import DEV_JWT_SECRET, DEV_WEB_CLIENT_ID, dev_issuer


def dev_token(
    sub: str,
    roles: list[str],
    ttl_s: int = 8 * 3600,
    audience: str = DEV_WEB_CLIENT_ID,
    issuer: str | None = None,
) -> str:
    """A bearer token for the dev stack's staff API, signed with the dev secret.

    It names the dev stack's audience (`AUTH__AUDIENCE`, the web app's client id) and issuer
    (the dev provider, `dev_issuer()` unless given): the services check both on every token
    once they are configured, HS256 ones included.
    """
    # The dev secret is fixed by the contract and short; production uses RS256 from the OIDC provider.
    warnings.filterwarnings("ignore", category=jwt.warnings.InsecureKeyLengthWarning)
    now = int(time.time())
    claims = {
        "sub": sub,
        "roles": roles,
        "aud": audience,
        "iss": issuer or dev_issuer(),
        "iat": now,
        "exp": now + ttl_s,
    }
    return jwt.encode(claims, DEV_JWT_SECRET, algorithm="HS256")
