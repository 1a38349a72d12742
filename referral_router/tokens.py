"""Bearer tokens for the dev stack's staff API (`referral-router token`, the live view)."""

from __future__ import annotations

import time
import warnings

import jwt

from referral_router.stack import DEV_JWT_SECRET


def dev_token(sub: str, roles: list[str], ttl_s: int = 8 * 3600) -> str:
    """A bearer token for the dev stack's staff API, signed with the dev secret."""
    # The dev secret is fixed by the contract and short; production uses RS256 from the OIDC provider.
    warnings.filterwarnings("ignore", category=jwt.warnings.InsecureKeyLengthWarning)
    now = int(time.time())
    claims = {"sub": sub, "roles": roles, "iat": now, "exp": now + ttl_s}
    return jwt.encode(claims, DEV_JWT_SECRET, algorithm="HS256")
