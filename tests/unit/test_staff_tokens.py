"""Staff sign-in (shared/staff_auth.py): only members of the unit's staff get a principal."""

from __future__ import annotations

import time

import jwt
import pytest
from pydantic import SecretStr

from referral_router.stack import DEV_JWT_SECRET, DEV_WEB_CLIENT_ID, dev_issuer
from referral_router.tokens import dev_token
from shared.http import ApiProblem
from shared.staff_auth import AuthSettings, Principal, TokenVerifier

SECRET = "a-test-secret-that-is-long-enough-for-hs256"
VERIFIER = TokenVerifier(AuthSettings(jwt_secret=SecretStr(SECRET)), ["cw-a1", "mgr-a"])


def token(sub: object, roles: object = ("caseworker",)) -> str:
    claims = {"sub": sub, "roles": list(roles) if isinstance(roles, tuple) else roles}
    return jwt.encode(claims | {"exp": int(time.time()) + 60}, SECRET, algorithm="HS256")


async def test_a_member_of_staff_gets_their_id_and_the_known_roles() -> None:
    principal = await VERIFIER.verify(token("cw-a1", ("caseworker", "wizard")))

    assert principal == Principal("cw-a1", frozenset({"caseworker"}))


@pytest.mark.parametrize(
    "sub",
    [
        "cw-zz",  # the right shape, but nobody in the unit file
        "Anna Andersson",  # a name where an id belongs
        "cw-a1\nforged log line",
        "x" * 5000,
        "19121212-1212",
        "",
        "ＣＷ-Ａ1",  # full-width look-alike of a real id
    ],
)
async def test_a_subject_that_is_not_a_staff_id_of_the_unit_is_refused_without_echo(sub: str) -> None:
    with pytest.raises(ApiProblem) as refused:
        await VERIFIER.verify(token(sub))

    assert refused.value.status == 401
    assert sub not in f"{refused.value.title} {refused.value.detail}" or sub == ""


@pytest.mark.parametrize("roles", ["manager", {"a": 1}, None])
async def test_roles_that_are_not_a_list_are_refused(roles: object) -> None:
    with pytest.raises(ApiProblem) as refused:
        await VERIFIER.verify(token("mgr-a", roles))

    assert refused.value.status == 401


# The dev stack trusts the dev OpenID provider and sets AUTH__AUDIENCE; the audience is then
# checked for every token, HS256 ones too, and `referral-router token` names it.
DEV_AUDIENCE_VERIFIER = TokenVerifier(
    AuthSettings(jwt_secret=SecretStr(DEV_JWT_SECRET), audience=DEV_WEB_CLIENT_ID, issuer=dev_issuer()),
    ["mgr-a"],
)


async def test_the_dev_token_names_the_dev_audience_and_is_accepted_where_the_audience_is_checked() -> None:
    principal = await DEV_AUDIENCE_VERIFIER.verify(dev_token("mgr-a", ["manager"]))

    assert principal == Principal("mgr-a", frozenset({"manager"}))


@pytest.mark.parametrize("audience", [None, "another-api"])
async def test_an_hs256_token_without_the_configured_audience_is_refused(audience: str | None) -> None:
    claims: dict[str, object] = {"sub": "mgr-a", "roles": ["manager"], "iss": dev_issuer()}
    claims["exp"] = int(time.time()) + 60
    if audience:
        claims["aud"] = audience
    with pytest.raises(ApiProblem) as refused:
        await DEV_AUDIENCE_VERIFIER.verify(jwt.encode(claims, DEV_JWT_SECRET, algorithm="HS256"))

    assert refused.value.status == 401


async def test_the_dev_token_still_works_where_no_audience_is_configured() -> None:
    verifier = TokenVerifier(AuthSettings(jwt_secret=SecretStr(DEV_JWT_SECRET)), ["mgr-a"])

    assert (await verifier.verify(dev_token("mgr-a", ["manager"]))).sub == "mgr-a"


def test_the_token_command_takes_another_audience(capsys: pytest.CaptureFixture[str]) -> None:
    from referral_router.cli import main

    main(["token", "--sub", "mgr-a", "--role", "manager", "--aud", "the-api", "--iss", "https://idp"])

    claims = jwt.decode(capsys.readouterr().out.strip(), options={"verify_signature": False})
    assert (claims["aud"], claims["iss"]) == ("the-api", "https://idp")


async def test_a_dev_token_of_another_issuer_is_refused_where_the_issuer_is_checked() -> None:
    with pytest.raises(ApiProblem) as refused:
        await DEV_AUDIENCE_VERIFIER.verify(dev_token("mgr-a", ["manager"], issuer="http://127.0.0.1:1"))

    assert refused.value.status == 401
