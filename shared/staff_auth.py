"""Bearer-token authentication of staff for the staff APIs (CONTRACTS.md §3, §2a).

Dev signs HS256 tokens with a configured secret; production validates RS256 tokens from the
municipality's OpenID Connect provider against its JWKS, issuer and audience.
"""

from __future__ import annotations

import asyncio
import re
import warnings
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from typing import Annotated, Any

import jwt
from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field, SecretStr

from shared.http import ApiProblem

ROLES = frozenset({"caseworker", "intake", "manager", "head_of_unit", "system"})
# Issue 22: colleagues elsewhere in social services may book consultations and nothing else. Not
# in ROLES, which endpoints use to mean "any member of the unit's staff".
PARTNER = "partner"
KNOWN_ROLES = ROLES | {PARTNER}
# The unit file's staff id shape (shared.unit_config.StaffId): checked before the id is looked up
# or used anywhere, so no other text from a token reaches a log or a query.
STAFF_ID = re.compile(r"^[a-z][a-z0-9\-]{0,39}$")


class AuthSettings(BaseModel):
    """`AUTH__…`: an HS256 secret (dev) and/or RS256 via JWKS (production)."""

    jwt_secret: SecretStr | None = None
    jwks_url: str | None = None
    issuer: str | None = None
    audience: str | None = None
    leeway_s: int = Field(default=30, ge=0, le=600)


@dataclass(frozen=True)
class Principal:
    """Who is calling: a staff id and their roles."""

    sub: str
    roles: frozenset[str]

    def has_any(self, roles: frozenset[str]) -> bool:
        """Whether the caller holds at least one of `roles`."""
        return bool(self.roles & roles)


class TokenVerifier:
    """Checks a bearer token's signature, expiry, issuer and audience, and that its subject is a
    member of the unit's staff (`staff_ids`, from the unit file)."""

    def __init__(self, settings: AuthSettings, staff_ids: Collection[str]) -> None:
        self._settings = settings
        self._staff_ids = frozenset(staff_ids)
        self._jwks = jwt.PyJWKClient(settings.jwks_url, cache_keys=True) if settings.jwks_url else None

    async def verify(self, token: str) -> Principal:
        """The principal of a valid token; ApiProblem(401) otherwise."""
        try:
            alg = jwt.get_unverified_header(token).get("alg")
            key = await self._key(alg, token)
            with warnings.catch_warnings():
                # The dev secret is short by contract; production uses RS256.
                warnings.simplefilter("ignore", jwt.warnings.InsecureKeyLengthWarning)
                claims = jwt.decode(
                    token,
                    key,
                    algorithms=[str(alg)],
                    audience=self._settings.audience,
                    issuer=self._settings.issuer,
                    leeway=self._settings.leeway_s,
                    options={"require": ["sub", "exp"], "verify_aud": self._settings.audience is not None},
                )
        except (jwt.PyJWTError, ValueError) as exc:
            raise ApiProblem(401, "Unauthorized", f"invalid token: {type(exc).__name__}") from None
        roles, sub = claims.get("roles", []), claims["sub"]
        if not isinstance(roles, list) or not isinstance(sub, str) or not STAFF_ID.fullmatch(sub):
            raise ApiProblem(401, "Unauthorized", "token claims are malformed")
        if sub not in self._staff_ids:
            raise ApiProblem(401, "Unauthorized", "the token's subject is not a member of the unit's staff")
        return Principal(sub, frozenset(r for r in roles if r in KNOWN_ROLES))

    async def _key(self, alg: object, token: str) -> Any:
        secret = self._settings.jwt_secret
        if alg == "HS256" and secret is not None and secret.get_secret_value():
            return secret.get_secret_value()
        if alg == "RS256" and self._jwks is not None:
            jwks = self._jwks
            signing = await asyncio.to_thread(jwks.get_signing_key_from_jwt, token)
            return signing.key
        raise ValueError("token algorithm not accepted")


_bearer = HTTPBearer(auto_error=False, description="JWT with claims `sub` and `roles`")


def authenticator(verifier: TokenVerifier) -> Callable[..., Awaitable[Principal]]:
    """A FastAPI dependency: the caller's principal, or 401."""

    async def authenticated(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Principal:
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise ApiProblem(401, "Unauthorized", "a bearer token is required")
        return await verifier.verify(credentials.credentials)

    return authenticated


def require(principal: Principal, roles: frozenset[str], *, or_self: str | None = None) -> None:
    """403 unless the caller holds one of `roles` (or is the person `or_self`)."""
    if principal.has_any(roles) or (or_self is not None and principal.sub == or_self):
        return
    raise ApiProblem(403, "Forbidden", f"needs one of the roles {sorted(roles)}")
