"""Production sign-in: RS256 tokens checked against a JWKS served over real HTTP (CONTRACTS.md §3)."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from pydantic import SecretStr

from shared.http import ApiProblem
from shared.staff_auth import AuthSettings, TokenVerifier

ISSUER = "https://login.kommun.example/realms/socialtjanst"
AUDIENCE = "referral-router"


@pytest.fixture(scope="module")
def signing_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def jwks_url(signing_key: rsa.RSAPrivateKey) -> Iterator[str]:
    """A JWKS endpoint on 127.0.0.1 publishing the public half of `signing_key` as kid k1."""
    jwk = json.loads(RSAAlgorithm.to_jwk(signing_key.public_key()))
    body = json.dumps({"keys": [{**jwk, "kid": "k1", "use": "sig", "alg": "RS256"}]}).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/certs"
    finally:
        server.shutdown()
        server.server_close()


STAFF = ("mgr-a", "x")


def token(key: Any, alg: str = "RS256", kid: str = "k1", **overrides: Any) -> str:
    claims = {
        "sub": "mgr-a",
        "roles": ["manager", "not-a-role"],
        "iss": ISSUER,
        "aud": AUDIENCE,
        "exp": int(time.time()) + 300,
    }
    claims.update(overrides)
    return jwt.encode(claims, key, algorithm=alg, headers={"kid": kid})


@pytest.fixture
def verifier(jwks_url: str) -> TokenVerifier:
    return TokenVerifier(AuthSettings(jwks_url=jwks_url, issuer=ISSUER, audience=AUDIENCE), STAFF)


async def test_a_token_signed_by_the_providers_key_is_accepted_with_known_roles_only(verifier, signing_key):
    principal = await verifier.verify(token(signing_key))
    assert principal.sub == "mgr-a"
    assert principal.roles == frozenset({"manager"})


@pytest.mark.parametrize(
    "overrides",
    [
        {"aud": "another-app"},
        {"iss": "https://evil.example/"},
        {"exp": int(time.time()) - 3600},
        {"sub": None},
    ],
    ids=["wrong-audience", "wrong-issuer", "expired", "no-subject"],
)
async def test_a_token_with_wrong_claims_is_refused(verifier, signing_key, overrides):
    claims = {k: v for k, v in overrides.items() if v is not None}
    raw = token(signing_key, **claims)
    if "sub" in overrides:
        payload = jwt.decode(raw, options={"verify_signature": False})
        payload.pop("sub")
        raw = jwt.encode(payload, signing_key, algorithm="RS256", headers={"kid": "k1"})
    with pytest.raises(ApiProblem) as refused:
        await verifier.verify(raw)
    assert refused.value.status == 401


async def test_a_token_from_another_key_or_an_unknown_kid_is_refused(verifier, signing_key):
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    for raw in (token(other), token(signing_key, kid="k2")):
        with pytest.raises(ApiProblem) as refused:
            await verifier.verify(raw)
        assert refused.value.status == 401


async def test_algorithm_confusion_and_unsigned_tokens_are_refused(jwks_url, signing_key):
    """HS256 signed with the public key, or alg none, never passes — even with a dev secret set."""
    public_pem = signing_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    settings = AuthSettings(
        jwks_url=jwks_url, issuer=ISSUER, audience=AUDIENCE, jwt_secret=SecretStr("dev-jwt-secret")
    )
    verifier = TokenVerifier(settings, STAFF)
    header = jwt.utils.base64url_encode(json.dumps({"alg": "HS256", "kid": "k1"}).encode())
    body = jwt.utils.base64url_encode(
        json.dumps({"sub": "x", "roles": ["manager"], "exp": int(time.time()) + 300}).encode()
    )
    forged_sig = jwt.utils.base64url_encode(
        hmac.new(public_pem, header + b"." + body, hashlib.sha256).digest()
    )
    forged = (header + b"." + body + b"." + forged_sig).decode()
    unsigned = jwt.encode(
        {"sub": "x", "roles": ["manager"], "exp": int(time.time()) + 300}, None, algorithm="none"
    )
    for raw in (forged, unsigned):
        with pytest.raises(ApiProblem) as refused:
            await verifier.verify(raw)
        assert refused.value.status == 401
