"""Sign-in to the web app through a real OpenID provider (the dev stack's, oidc-provider-mock on a
free port): authorization code with PKCE, and an ID token the staff APIs' verifier accepts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from services.web.dev_identity import run_in_thread, staff_claims
from services.web.main import UpstreamSettings, create_app
from services.web.security import COOKIE
from shared.staff_auth import AuthSettings, TokenVerifier
from shared.unit_config import load_unit_config
from tests.web_browser_support import free_port, serving
from tests.web_support import WebApp, seeded_api, web_settings

UNIT = load_unit_config(Path(__file__).parents[2] / "deploy" / "config" / "unit.example.yaml")


@pytest.fixture(scope="module")
def issuer() -> Iterator[str]:
    with run_in_thread(staff_claims(UNIT)) as server:
        yield f"http://localhost:{server.server_port}"


def _web(issuer: str, **oidc: str) -> WebApp:
    settings = web_settings(
        issuer, redirect_url="http://testserver/auth/callback", upstream_token="id_token", **oidc
    )
    return WebApp(seeded_api(), settings=settings)


def _to_provider(web: WebApp, page: str) -> tuple[str, str]:
    """Open `page` signed out; follow to the provider; return its authorize URL and the cookie."""
    login = web.client.get(page).headers["location"]
    authorize = web.client.get(login).headers["location"]
    return authorize, web.client.cookies[COOKIE]


def _press(authorize: str, staff_id: str) -> str:
    """Press the staff id's button on the provider's form; the callback path the browser would open."""
    answer = httpx.post(authorize, data={"sub": staff_id})
    assert answer.status_code == 302
    target = urlsplit(answer.headers["location"])
    return f"{target.path}?{target.query}"


def test_signing_in_uses_pkce_and_returns_to_the_page_asked_for(issuer: str) -> None:
    web = _web(issuer)
    authorize, cookie_before = _to_provider(web, "/referrals/R-A1")
    query = parse_qs(urlsplit(authorize).query)
    assert query["code_challenge_method"] == ["S256"] and len(query["code_challenge"][0]) >= 43
    assert query["state"] and query["nonce"] and query["client_id"] == ["web-test"]
    response = web.client.get(_press(authorize, "cw-a1"))
    assert (response.status_code, response.headers["location"]) == (303, "/referrals/R-A1")
    assert web.client.cookies[COOKIE] != cookie_before  # a new session id at sign-in
    assert 'web_sign_ins_total{outcome="ok"} 1.0' in web.client.get("/metrics").text
    page = web.client.get("/referrals/R-A1")
    assert page.status_code == 200 and "cw-a1" in page.text


def test_the_roles_claim_decides_what_the_user_sees(issuer: str) -> None:
    web = _web(issuer)
    authorize, _ = _to_provider(web, "/")
    web.client.get(_press(authorize, "mgr-a"))
    (session,) = [s for s in web.sessions.sessions.values() if s.user is not None]
    assert session.user is not None and session.user.roles == frozenset({"manager"})
    assert 'href="/team"' in web.client.get("/").text


def test_a_callback_with_another_state_signs_nobody_in(issuer: str) -> None:
    web = _web(issuer)
    authorize, _ = _to_provider(web, "/")
    callback = _press(authorize, "cw-a1").replace("state=", "state=x")
    response = web.client.get(callback)
    assert response.status_code == 400
    assert all(s.user is None for s in web.sessions.sessions.values())


def test_a_code_cannot_be_used_twice(issuer: str) -> None:
    web = _web(issuer)
    authorize, _ = _to_provider(web, "/")
    callback = _press(authorize, "cw-a1")
    assert web.client.get(callback).status_code == 303
    other = _web(issuer)
    _to_provider(other, "/")
    (pending,) = [s.pending for s in other.sessions.sessions.values() if s.pending]
    assert pending is not None
    state = parse_qs(urlsplit(callback).query)["state"][0]
    replay = callback.replace(state, pending.state)
    assert other.client.get(replay).status_code == 400


def test_a_roles_claim_the_token_does_not_carry_leaves_the_user_without_a_role(issuer: str) -> None:
    web = _web(issuer, roles_claim="no.such.claim")
    authorize, _ = _to_provider(web, "/")
    web.client.get(_press(authorize, "cw-a1"))
    assert "ingen roll" in web.client.get("/").text  # signed in, but no role from that claim


async def test_the_id_token_is_accepted_by_the_staff_apis_verifier_trusting_the_providers_jwks(
    issuer: str,
) -> None:
    web = _web(issuer)
    authorize, _ = _to_provider(web, "/")
    web.client.get(_press(authorize, "head"))
    (session,) = [s for s in web.sessions.sessions.values() if s.user is not None]
    settings = AuthSettings(jwks_url=f"{issuer}/jwks", issuer=issuer, audience="web-test")
    verifier = TokenVerifier(settings, [p.id for p in UNIT.all_people()])
    assert session.token is not None
    principal = await verifier.verify(session.token)
    assert (principal.sub, principal.roles) == ("head", frozenset({"head_of_unit"}))


def test_every_staff_id_of_the_unit_file_can_sign_in_with_the_roles_of_its_place() -> None:
    claims = staff_claims(UNIT)
    assert claims["cw-a1"]["roles"] == ["caseworker"]
    assert claims["mgr-b"]["roles"] == ["manager"]
    assert claims["head"]["roles"] == ["head_of_unit"]
    assert claims["in-4"]["roles"] == ["intake"]
    assert claims["partner-1"]["roles"] == claims["partner-2"]["roles"] == ["partner"]  # issue 22
    assert claims["fhv"]["roles"] == []  # occupational health is told by email, signs in to nothing
    assert {p.id for p in UNIT.all_people()} == set(claims)


def test_ready_only_while_both_staff_apis_and_the_real_providers_metadata_answer(issuer: str) -> None:
    upstream = FastAPI()
    upstream.add_api_route("/healthz", lambda: {"status": "ok"}, methods=["GET"])
    closed = free_port()  # nothing listens there: an API that is down
    with serving(upstream, free_port()) as api_url:
        up = web_settings(issuer).model_copy(
            update={"upstream": UpstreamSettings(intake_url=api_url, assignment_url=api_url)}
        )
        ready = TestClient(create_app(up, seeded_api())).get("/readyz")
        assert (ready.status_code, ready.json()["status"]) == (200, "ready")
        down = up.model_copy(
            update={
                "upstream": UpstreamSettings(intake_url=api_url, assignment_url=f"http://127.0.0.1:{closed}"),
                "oidc": up.oidc.model_copy(update={"issuer": api_url}),  # no discovery document there
            }
        )
        refused = TestClient(create_app(down, seeded_api())).get("/readyz")
    assert refused.status_code == 503
    assert refused.json()["failed"] == {"assignment": "ConnectError", "oidc_provider": "NotReady: status 404"}
