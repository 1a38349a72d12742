"""The dossier end to end, the four services as separate processes (issue 19, points 1 and 3).

Opening the dossier from the assignment email: a portal POST, the caseworker's email, and at once
the dossier as that caseworker.

Intake's access projection follows assignment's events on its own consumer, which may be behind
the notifications consumer that sent the email. The second test makes it so (the referral's
projection row is removed the moment the email arrives, as if intake had not seen the event
yet): the read must still succeed, on assignment's own state, and be logged as the caseworker's.
"""

from __future__ import annotations

import httpx

from referral_router.stack import REPO
from referral_router.tokens import dev_token
from shared.unit_config import load_unit_config
from tests.factories import encode, submission
from tests.helpers import eventually, signed_headers

UNIT = load_unit_config(REPO / "deploy" / "config" / "unit.example.yaml")
STAFF_BY_EMAIL = {p.email: p.id for p in UNIT.all_people() if p.email}
CASEWORKERS = {m.id for team in UNIT.teams for m in team.members}


async def _post(stack, body: dict) -> str:
    raw = encode(body)
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.post(
            stack.services.url("intake", "/v1/referrals"), content=raw, headers=signed_headers(raw)
        )
    assert response.status_code == 202, response.text
    referral_id: str = response.json()["referrals"][0]["referral_id"]
    return referral_id


async def _caseworker_emailed(stack, referral_id: str) -> str:
    """The staff id of the caseworker whose assignment email about the referral arrived."""

    def caseworker_in(mails: list[dict]) -> str | None:
        for mail in mails:
            if referral_id in mail["subject"]:
                for address in mail["rcpt_tos"]:
                    if STAFF_BY_EMAIL.get(address) in CASEWORKERS:
                        return STAFF_BY_EMAIL[address]
        return None

    mails = await eventually(stack.emails, lambda ms: caseworker_in(ms) is not None, timeout_s=20)
    found = caseworker_in(mails)
    assert found is not None
    return found


async def _dossier(stack, referral_id: str, staff: str, roles: list[str]) -> httpx.Response:
    headers = {"Authorization": f"Bearer {dev_token(staff, roles)}"}
    async with httpx.AsyncClient(timeout=10) as client:
        return await client.get(
            stack.services.url("intake", f"/v1/referrals/{referral_id}/dossier"), headers=headers
        )


async def _team_of(stack, referral_id: str) -> str:
    conn = await stack.db("assignment")
    try:
        team: str = await conn.fetchval("SELECT team FROM assignments WHERE referral_id = $1", referral_id)
        return team
    finally:
        await conn.close()


async def _log_rows(stack, referral_id: str) -> list[dict]:
    conn = await stack.db("intake")
    try:
        rows = await conn.fetch(
            "SELECT staff, relation, action, outcome FROM access_log WHERE referral_id = $1 ORDER BY seq",
            referral_id,
        )
        return [dict(r) for r in rows]
    finally:
        await conn.close()


async def test_the_caseworker_opens_the_dossier_as_soon_as_the_email_arrives(stack):
    body = submission()
    referral_id = await _post(stack, body)
    caseworker = await _caseworker_emailed(stack, referral_id)

    response = await _dossier(stack, referral_id, caseworker, ["caseworker"])

    assert response.status_code == 200, response.text
    dossier = response.json()
    assert dossier["referral_id"] == referral_id
    assert dossier["child"]["name"] == body["children"][0]["name"]
    assert dossier["assignment"]["caseworker"] == caseworker
    assert await _log_rows(stack, referral_id) == [
        {"staff": caseworker, "relation": "assigned", "action": "read", "outcome": "allowed"}
    ]


async def test_the_dossier_opens_even_when_intake_has_not_yet_seen_the_assignment(stack):
    body = submission()
    referral_id = await _post(stack, body)
    caseworker = await _caseworker_emailed(stack, referral_id)
    conn = await stack.db("intake")
    try:  # intake's projection is behind: it has not seen the assignment yet
        await conn.execute("DELETE FROM access_projection WHERE referral_id = $1", referral_id)
    finally:
        await conn.close()

    response = await _dossier(stack, referral_id, caseworker, ["caseworker"])
    other = next(cw for cw in sorted(CASEWORKERS) if cw != caseworker)
    refused = await _dossier(stack, referral_id, other, ["caseworker"])

    assert response.status_code == 200, response.text
    assert response.json()["child"]["name"] == body["children"][0]["name"]
    assert refused.status_code == 403
    assert body["children"][0]["name"] not in refused.text
    assert await _log_rows(stack, referral_id) == [
        {"staff": caseworker, "relation": "assigned", "action": "read", "outcome": "allowed"},
        {"staff": other, "relation": "none", "action": "denied", "outcome": "denied"},
    ]


async def test_breaking_the_glass_opens_the_dossier_and_alerts_the_team_manager(stack):
    body = submission()
    referral_id = await _post(stack, body)
    caseworker = await _caseworker_emailed(stack, referral_id)
    team = await _team_of(stack, referral_id)
    outsider_team = next(t for t in UNIT.teams if t.id != team)
    outsider = outsider_team.members[0].id
    manager = next(t.manager for t in UNIT.teams if t.id == team)
    reason = "Jourärende natt: barnet har sökt skydd hos oss, behöver se anmälan nu"
    headers = {"Authorization": f"Bearer {dev_token(outsider, ['caseworker'])}"}

    before = await _dossier(stack, referral_id, outsider, ["caseworker"])
    async with httpx.AsyncClient(timeout=10) as client:
        granted = await client.post(
            stack.services.url("intake", f"/v1/referrals/{referral_id}/break-glass"),
            json={"reason": reason},
            headers=headers,
        )
    after = await _dossier(stack, referral_id, outsider, ["caseworker"])

    assert before.status_code == 403
    assert granted.status_code == 201, granted.text
    assert after.status_code == 200, after.text
    assert after.json()["child"]["name"] == body["children"][0]["name"]

    def alert_in(mails: list[dict]) -> list[dict]:
        return [m for m in mails if referral_id in m["subject"] and manager.email in m["rcpt_tos"]
                and "Nödåtkomst" in m["subject"]]  # fmt: skip

    mails = await eventually(stack.emails, lambda ms: len(alert_in(ms)) >= 1, timeout_s=20)
    alerts = alert_in(mails)
    assert len(alerts) == 1
    text = " ".join(alerts[0][part] or "" for part in ("subject", "text", "html"))
    assert outsider in text
    for secret in (reason, body["children"][0]["name"], body["concern"]["description"]):
        assert secret not in text
    rows = await _log_rows(stack, referral_id)
    assert {"staff": caseworker, "relation": "assigned", "action": "read", "outcome": "allowed"} not in rows
    assert rows == [
        {"staff": outsider, "relation": "none", "action": "denied", "outcome": "denied"},
        {"staff": outsider, "relation": "break_glass", "action": "break_glass", "outcome": "allowed"},
        {"staff": outsider, "relation": "break_glass", "action": "read", "outcome": "allowed"},
    ]
