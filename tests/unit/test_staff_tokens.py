"""Staff sign-in (shared/staff_auth.py): only members of the unit's staff get a principal."""

from __future__ import annotations

import time

import jwt
import pytest
from pydantic import SecretStr

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
