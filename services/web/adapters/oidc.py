"""OpenID Connect sign-in: authorization code flow with PKCE (S256) through Authlib's httpx
client, the ID token verified against the provider's JWKS, issuer, audience and nonce."""

from __future__ import annotations

import asyncio
import secrets
import warnings
from dataclasses import dataclass
from typing import Any

import httpx
import jwt

with warnings.catch_warnings():
    # Authlib 1.9 prefers the `httpx2` package and warns when it falls back to httpx, which this
    # project pins and uses everywhere; the fallback is the same client API.
    warnings.simplefilter("ignore")
    from authlib.integrations.base_client import OAuthError
    from authlib.integrations.httpx_client import AsyncOAuth2Client

from services.web.ports import PendingSignIn


class SignInFailed(Exception):
    """The provider refused, or its answer did not verify; the user is asked to sign in again."""


@dataclass(frozen=True)
class OidcConfig:
    """What the client needs to know about itself and the provider."""

    issuer: str
    client_id: str
    client_secret: str
    redirect_url: str
    scope: str = "openid"
    leeway_s: int = 30


@dataclass(frozen=True)
class Tokens:
    """What a successful code exchange yields: verified ID-token claims and the raw tokens."""

    claims: dict[str, Any]
    id_token: str
    access_token: str


class OidcClient:
    """Talks to one OpenID provider; its discovery document and JWKS are fetched once and cached."""

    def __init__(self, config: OidcConfig, http: httpx.AsyncClient) -> None:
        self._config = config
        self._http = http
        self._metadata: dict[str, Any] | None = None
        self._jwks: jwt.PyJWKClient | None = None

    async def start(self, return_to: str) -> tuple[str, PendingSignIn]:
        """The provider's authorization URL and what the callback must check."""
        metadata = await self._discover()
        pending = PendingSignIn(
            state=secrets.token_urlsafe(24),
            nonce=secrets.token_urlsafe(24),
            code_verifier=secrets.token_urlsafe(48),
            return_to=return_to,
        )
        async with self._client() as client:
            url, _ = client.create_authorization_url(
                metadata["authorization_endpoint"],
                state=pending.state,
                nonce=pending.nonce,
                code_verifier=pending.code_verifier,
            )
        return str(url), pending

    async def finish(self, code: str, pending: PendingSignIn) -> Tokens:
        """Exchange the code (with the PKCE verifier) and verify the ID token."""
        metadata = await self._discover()
        try:
            async with self._client() as client:
                token = await client.fetch_token(
                    metadata["token_endpoint"],
                    grant_type="authorization_code",
                    code=code,
                    code_verifier=pending.code_verifier,
                )
        except (httpx.HTTPError, ValueError, OAuthError) as exc:
            raise SignInFailed(f"code exchange failed: {type(exc).__name__}") from None
        id_token = token.get("id_token")
        if not isinstance(id_token, str):
            raise SignInFailed("the provider returned no ID token")
        claims = await self._verify(id_token, pending.nonce)
        return Tokens(claims=claims, id_token=id_token, access_token=str(token.get("access_token", "")))

    def _client(self) -> AsyncOAuth2Client:
        c = self._config
        return AsyncOAuth2Client(
            client_id=c.client_id,
            client_secret=c.client_secret,
            scope=c.scope,
            redirect_uri=c.redirect_url,
            code_challenge_method="S256",
            token_endpoint_auth_method="client_secret_post",  # noqa: S106 - a method name
            timeout=10.0,
        )

    async def _discover(self) -> dict[str, Any]:
        if self._metadata is None:
            url = self._config.issuer.rstrip("/") + "/.well-known/openid-configuration"
            try:
                response = await self._http.get(url)
                response.raise_for_status()
            except httpx.HTTPError as exc:
                raise SignInFailed(f"provider discovery failed: {type(exc).__name__}") from None
            self._metadata = response.json()
            self._jwks = jwt.PyJWKClient(self._metadata["jwks_uri"], cache_keys=True)
        return self._metadata

    async def _verify(self, id_token: str, nonce: str) -> dict[str, Any]:
        assert self._jwks is not None  # set by _discover
        jwks = self._jwks
        try:
            key = await asyncio.to_thread(jwks.get_signing_key_from_jwt, id_token)
            claims: dict[str, Any] = jwt.decode(
                id_token,
                key.key,
                algorithms=["RS256", "ES256", "PS256"],
                audience=self._config.client_id,
                issuer=self._config.issuer.rstrip("/"),
                leeway=self._config.leeway_s,
                options={"require": ["sub", "exp", "iat", "aud", "iss"]},
            )
        except jwt.PyJWTError as exc:
            raise SignInFailed(f"ID token rejected: {type(exc).__name__}") from None
        if not secrets.compare_digest(str(claims.get("nonce", "")), nonce):
            raise SignInFailed("ID token nonce does not match")
        return claims
