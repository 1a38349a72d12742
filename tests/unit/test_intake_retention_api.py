"""The retention endpoints (issue 23): legal holds and the register extract, over the in-memory fakes."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from services.intake import api_retention
from services.intake.adapters.memory import InMemoryIntakeUnitOfWork, IntakeTables
from services.intake.handlers.register_extract import Extracting
from shared.http import SecurityHeaders, add_problem_handlers
from tests.dossier_support import form, project, store_referral
from tests.intake_fakes import clock, keys
from tests.unit.test_intake_dossier_edge import as_, authenticate

NUMBER = "201504129824"  # synthetic


@pytest.fixture
async def edge() -> Any:
    tables = IntakeTables()

    def uow() -> InMemoryIntakeUnitOfWork:
        return InMemoryIntakeUnitOfWork(tables)

    body = form()
    body["children"][0]["personal_number"] = f"{NUMBER[2:8]}-{NUMBER[8:]}"  # the 10-digit form
    [rid] = await store_referral(uow, body)
    await project(uow, rid)
    app = FastAPI()
    app.add_middleware(SecurityHeaders)
    add_problem_handlers(app)
    app.include_router(api_retention.router)
    app.state.retention = api_retention.RetentionApi(
        uow, Extracting(uow, keys().pepper, clock()), clock(), authenticate
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://intake") as http:
        yield http, tables, rid


async def test_the_head_of_unit_gets_the_extract_by_a_number_in_the_body_logged_first(edge):
    http, tables, rid = edge
    got = await http.post(
        "/v1/register-extract", json={"personal_number": NUMBER}, headers=as_("head:head_of_unit")
    )
    assert got.status_code == 200, got.text
    assert got.headers["cache-control"] == "no-store"
    [listed] = got.json()["referrals"]
    assert (listed["referral_id"], listed["role"], listed["erased"]) == (rid, "child", None)
    assert got.json()["roles_not_resolvable"] == ["reporter"]
    [row] = tables.access_log
    assert (row.entry.action, row.entry.referral_id, row.entry.request_id) == (
        "register_extract",
        rid,
        "req-42",
    )
    assert NUMBER not in repr(tables.access_log) and NUMBER[2:8] not in repr(tables.access_log)


@pytest.mark.parametrize("token", ["mgr-a:manager", "cw-a5:caseworker", "in-1:intake"])
async def test_anyone_else_is_refused_403_and_the_refusal_logged(edge, token):
    http, tables, _ = edge
    got = await http.post("/v1/register-extract", json={"personal_number": NUMBER}, headers=as_(token))
    assert got.status_code == 403 and got.json()["detail"] == "only the head of unit takes a register extract"
    [row] = tables.access_log
    assert (row.entry.action, row.entry.outcome, row.entry.child_key) == ("denied", "denied", None)


async def test_an_invalid_number_is_a_422_naming_the_field_never_its_value(edge):
    http, tables, _ = edge
    wrong = NUMBER[:-1] + str((int(NUMBER[-1]) + 1) % 10)
    got = await http.post(
        "/v1/register-extract", json={"personal_number": wrong}, headers=as_("head:head_of_unit")
    )
    assert got.status_code == 422
    assert got.json()["errors"][0]["loc"] == ["body", "personal_number"]
    assert wrong not in got.text and wrong[2:] not in got.text
    assert tables.access_log == []
    unauthenticated = await http.post("/v1/register-extract", json={"personal_number": NUMBER})
    assert unauthenticated.status_code == 401


async def test_a_manager_sets_and_lifts_a_hold_and_it_is_kept_with_who_and_when(edge):
    http, tables, rid = edge
    url = f"/v1/referrals/{rid}/legal-hold"
    body = {"scope": "child", "reason": "Tvist om vårdnaden, behåll"}
    first = await http.post(url, json=body, headers=as_("mgr-a:manager"))
    again = await http.post(url, json=body, headers=as_("head:head_of_unit"))
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json() and first.json()["set_by"] == "mgr-a"
    assert (await http.delete(url, headers=as_("mgr-a:manager"))).status_code == 404  # scope referral: none
    lifted = await http.delete(url, params={"scope": "child"}, headers=as_("head:head_of_unit"))
    assert lifted.status_code == 200 and lifted.json()["lifted_by"] == "head"
    [hold] = tables.legal_holds
    assert (hold.set_by, hold.lifted_by, hold.reason) == ("mgr-a", "head", body["reason"])


async def test_others_may_not_set_or_lift_holds_and_bad_bodies_name_the_field(edge):
    http, tables, rid = edge
    url = f"/v1/referrals/{rid}/legal-hold"
    refused = await http.post(url, json={"reason": "Jag vill behålla den"}, headers=as_("cw-a5:caseworker"))
    assert refused.status_code == 403
    assert (await http.delete(url, headers=as_("in-1:intake"))).status_code == 403
    unknown = await http.post(
        "/v1/referrals/R-NONE/legal-hold",
        json={"reason": "Finns den alls?"},
        headers=as_("head:head_of_unit"),
    )
    assert unknown.status_code == 403
    short = await http.post(url, json={"reason": "kort", "scope": "family"}, headers=as_("mgr-a:manager"))
    assert short.status_code == 422
    assert sorted(e["loc"][-1] for e in short.json()["errors"]) == ["reason", "scope"]
    assert tables.legal_holds == []
