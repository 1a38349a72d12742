"""Portal request signatures: HMAC-SHA256 over `<t>.<raw body>` with a client's shared secret
(CONTRACTS.md §2). Not staff authentication (bearer tokens, `shared.staff_auth`)."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence

from pydantic import SecretStr

MAX_SKEW_S = 300
_HEADER = re.compile(r"^t=(\d{1,12}),v1=([0-9a-fA-F]{64})$")


class AuthenticationFailed(Exception):
    """The request is not signed by a known portal client."""


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The `X-Signature` header value for a body (used by portals, tests and the simulator)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(
    clients: Mapping[str, Sequence[SecretStr]],
    client_id: str | None,
    signature: str | None,
    body: bytes,
    now: float,
) -> str:
    """Return the client id when one of its secrets signed the body within the time window."""
    if not client_id or not signature:
        raise AuthenticationFailed("X-Client-Id and X-Signature headers are required")
    match = _HEADER.match(signature.strip())
    if match is None:
        raise AuthenticationFailed("X-Signature must look like t=<unix seconds>,v1=<64 hex digits>")
    timestamp, given = int(match.group(1)), match.group(2).lower()
    if abs(now - timestamp) > MAX_SKEW_S:
        raise AuthenticationFailed("signature timestamp is more than 300 s from the server's clock")
    secrets = clients.get(client_id, ())
    # Check every secret without stopping early, each in constant time.
    ok = False
    for secret in secrets:
        expected = sign(secret.get_secret_value(), timestamp, body).split("v1=", 1)[1]
        ok |= hmac.compare_digest(expected, given)
    if not ok:
        raise AuthenticationFailed("unknown client or signature does not match")
    return client_id
