"""The web app's /readyz and /metrics on fakes: readiness by check, requests by route template,
sign-ins, active sessions, and no referral id, staff id or client detail in any label."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from services.web.main import create_app
from services.web.ops import NotReady
from services.web.security import COOKIE
from tests.web_support import NOW, WebApp, seeded_api, web_settings


async def _ok() -> None:
    return None


async def _refused() -> None:
    raise ConnectionRefusedError


async def _wrong_status() -> None:
    raise NotReady("status 502")


def _client(**checks: object) -> TestClient:
    app = create_app(web_settings(), seeded_api(), readiness=checks)  # type: ignore[arg-type]
    return TestClient(app)


def _samples(web: WebApp) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = web.client.get("/metrics").text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_ready_only_when_every_upstream_answers_and_the_503_names_the_failed_ones() -> None:
    ready = _client(intake=_ok, assignment=_ok, oidc_provider=_ok).get("/readyz")
    assert (ready.status_code, ready.json()) == (
        200,
        {"status": "ready", "checked": ["assignment", "intake", "oidc_provider"]},
    )
    down = _client(intake=_ok, assignment=_refused, oidc_provider=_wrong_status).get("/readyz")
    assert down.status_code == 503
    assert down.json() == {
        "status": "unavailable",
        "failed": {"assignment": "ConnectionRefusedError", "oidc_provider": "NotReady: status 502"},
    }


def test_requests_are_counted_by_route_template_and_status_without_ids_in_labels() -> None:
    web = WebApp()
    web.sign_in("cw-a1", "caseworker")
    assert web.client.get("/referrals/R-A1").status_code == 200
    assert web.client.get("/referrals/R-NOPE").status_code == 403
    assert web.client.get("/no-such-page").status_code == 404
    samples = _samples(web)
    by_route = {labels: v for (name, labels), v in samples.items() if name == "web_http_requests_total"}
    page = "/referrals/{referral_id}"
    assert by_route[(("method", "GET"), ("route", page), ("status", "200"))] == 1
    assert by_route[(("method", "GET"), ("route", page), ("status", "403"))] == 1
    assert web.client.get("/referrals/R-B1/dossier").status_code == 403  # another team's
    assert by_route[(("method", "GET"), ("route", "unmatched"), ("status", "404"))] == 1
    assert samples[("web_http_request_seconds_count", (("route", page),))] == 2
    text = web.client.get("/metrics").text
    assert (
        "R-A1" not in text
        and "R-B1" not in text
        and "R-NOPE" not in text
        and "cw-a1" not in text
        and "no-such-page" not in text
    )


def test_active_sessions_count_signed_in_users_within_the_idle_timeout() -> None:
    web = WebApp()
    web.sign_in("cw-a1", "caseworker")
    web.client.get("/")  # a signed-out visitor's session is not counted
    web.sign_in("mgr-a", "manager")
    assert _samples(web)[("web_sessions_active", ())] == 2
    web.clock.set(NOW + timedelta(minutes=31))
    assert _samples(web)[("web_sessions_active", ())] == 0


def test_a_refused_callback_counts_as_a_refused_sign_in_and_probes_get_no_session() -> None:
    web = WebApp()
    assert web.client.get("/auth/callback?code=x&state=y").status_code == 400
    samples = _samples(web)
    assert samples[("web_sign_ins_total", (("outcome", "refused"),))] == 1
    assert samples[("web_sign_ins_total", (("outcome", "ok"),))] == 0
    before = len(web.sessions.sessions)
    web.client.cookies.clear()
    for path in ("/metrics", "/healthz"):
        answer = web.client.get(path)
        assert COOKIE not in answer.cookies and answer.headers["X-Content-Type-Options"] == "nosniff"
    assert len(web.sessions.sessions) == before
