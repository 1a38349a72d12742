"""Intake's dossier use cases on the in-memory fakes: who may read (every role × relation, each
with exactly its access-log row), the fresher look at assignment, masking and reveal,
break-the-glass, registration, and no data without a log row."""

from __future__ import annotations

import contextlib
import json
from datetime import timedelta
from typing import Any

import pytest

from services.intake.adapters.memory import InMemoryIntakeUnitOfWork, IntakeTables
from services.intake.domain.access_chain import ChainCheck
from services.intake.domain.dossier import AccessRefused, RegistrationConflict
from services.intake.handlers import dossier
from services.intake.handlers.access_log import verify_access_log
from services.intake.handlers.dossier import AssignmentUnavailable
from services.intake.ports import AccessLogUnavailable
from shared.events import parse_event
from tests.dossier_support import (
    DENIED,
    TABLE,
    FakeAssignment,
    assigned_state,
    attempt,
    dossiers,
    form,
    project,
    store_referral,
)
from tests.intake_fakes import NOW


@pytest.fixture
def tables() -> IntakeTables:
    return IntakeTables()


def uow_of(tables: IntakeTables) -> Any:
    return lambda: InMemoryIntakeUnitOfWork(tables)


def last_row(tables: IntakeTables) -> tuple[str, str, str]:
    entry = tables.access_log[-1].entry
    return entry.action.value, entry.relation.value, entry.outcome.value


@pytest.mark.parametrize(("who", "staff", "roles", "state", "row"), TABLE, ids=[t[0] for t in TABLE])
async def test_each_role_and_relation_reads_or_is_refused_with_exactly_its_access_log_row(
    tables, who, staff, roles, state, row
):
    uow = uow_of(tables)
    [rid] = await store_referral(uow, form())
    if state != "unassigned":
        await project(uow, rid, assessed="assessed" in state)
    # Assignment agrees with the projection (not assigned at all: it has no such referral).
    deps = dossiers(uow, FakeAssignment({} if state == "unassigned" else {rid: assigned_state()}))
    if "registered" in state:
        await dossier.register(deps, attempt("in-4", "intake", referral_id=rid), "BoU-2026-1", NOW)
    if state == "break-glass":
        await dossier.break_glass(deps, attempt(staff, *roles, referral_id=rid), "Akut ärende i jouren")
    before = len(tables.access_log)

    if row == DENIED:
        with pytest.raises(AccessRefused):
            await dossier.read_dossier(deps, attempt(staff, *roles, referral_id=rid))
    else:
        answer = await dossier.read_dossier(deps, attempt(staff, *roles, referral_id=rid))
        assert answer["referral_id"] == rid

    assert len(tables.access_log) == before + 1
    assert last_row(tables) == row
    entry = tables.access_log[-1].entry
    assert (entry.staff, entry.referral_id, entry.role) == (staff, rid, ",".join(sorted(roles)))
    assert entry.child_key == tables.referral_facts[rid].child_key
    assert (entry.client_addr, entry.request_id) == ("127.0.0.1", f"req-{staff}")


async def test_an_unknown_referral_is_refused_as_any_other_and_logged_without_a_child_key(tables):
    deps = dossiers(uow_of(tables))
    with pytest.raises(AccessRefused):
        await dossier.read_dossier(deps, attempt("head", "head_of_unit", referral_id="R-NOSUCHTHING1"))
    assert last_row(tables) == DENIED and tables.access_log[-1].entry.child_key is None


async def test_a_caseworker_who_clicks_before_the_event_arrived_is_let_in_on_assignments_own_state(tables):
    uow = uow_of(tables)
    [rid] = await store_referral(uow, form())
    assignment = FakeAssignment({rid: assigned_state("cw-a5")})
    deps = dossiers(uow, assignment)

    answer = await dossier.read_dossier(deps, attempt("cw-a5", "caseworker", referral_id=rid, token="tok-5"))

    assert answer["referral_id"] == rid
    assert answer["assignment"]["caseworker"] == "cw-a5"  # as assignment said
    assert assignment.asked == [(rid, "tok-5")]  # the reader's own token
    assert last_row(tables) == ("read", "assigned", "allowed")
    assert rid not in tables.projections  # the events will bring it; nothing written from the answer


async def test_a_reassigned_referral_admits_the_new_caseworker_before_the_projection_knows(tables):
    uow = uow_of(tables)
    [rid] = await store_referral(uow, form())
    await project(uow, rid)  # cw-a5
    deps = dossiers(uow, FakeAssignment({rid: assigned_state("cw-a3", mentor=None)}))

    await dossier.read_dossier(deps, attempt("cw-a3", "caseworker", referral_id=rid))
    assert last_row(tables) == ("read", "assigned", "allowed")


async def test_when_assignment_cannot_be_asked_the_attempt_is_logged_refused_and_unavailable(tables):
    uow = uow_of(tables)
    [rid] = await store_referral(uow, form())
    deps = dossiers(uow, FakeAssignment(unreachable=True))

    with pytest.raises(AssignmentUnavailable):
        await dossier.read_dossier(deps, attempt("cw-a5", "caseworker", referral_id=rid))
    assert last_row(tables) == DENIED and len(tables.access_log) == 1


async def test_assignment_is_not_asked_for_those_no_assignment_could_admit(tables):
    uow = uow_of(tables)
    [rid] = await store_referral(uow, form())
    await project(uow, rid, assessed=True)
    assignment = FakeAssignment(unreachable=True)
    deps = dossiers(uow, assignment)
    await dossier.register(deps, attempt("in-1", "intake", referral_id=rid), "BoU-1", NOW)

    for staff, role in (("in-1", "intake"), ("partner-1", "partner")):
        with pytest.raises(AccessRefused):
            await dossier.read_dossier(deps, attempt(staff, role, referral_id=rid))
    assert assignment.asked == []


class FailingLog(InMemoryIntakeUnitOfWork):
    @property
    def access_log(self) -> Any:
        class Broken:
            async def append(self, entry: Any) -> Any:
                raise AccessLogUnavailable("disk full")

        return Broken()


async def test_no_log_row_no_data(tables):
    [rid] = await store_referral(uow_of(tables), form())
    deps = dossiers(lambda: FailingLog(tables))
    with pytest.raises(AccessLogUnavailable):
        await dossier.read_dossier(deps, attempt("head", "head_of_unit", referral_id=rid))
    with pytest.raises(AccessLogUnavailable):
        await dossier.break_glass(deps, attempt("cw-b1", "caseworker", referral_id=rid), "Behöver läsa nu")
    assert tables.grants == [] and tables.outbox[-1][1] == "referrals.received.v1"


# What the dossier shows


async def test_the_dossier_is_the_childs_part_of_the_form_with_siblings_by_id_and_the_assignment(tables):
    uow = uow_of(tables)
    body = form(children=2)
    first, second = await store_referral(uow, body)
    await project(uow, second)

    answer = await dossier.read_dossier(dossiers(uow), attempt("mgr-a", "manager", referral_id=second))

    assert answer["child"] == body["children"][1]
    assert answer["guardians"] == body["guardians"] and answer["reporter"] == body["reporter"]
    assert answer["concern"] == body["concern"] and answer["attachments"] == []
    assert answer["sibling_referral_ids"] == [first]
    assert body["children"][0]["name"] not in json.dumps(answer)  # a sibling's details stay out
    assert answer["assignment"]["team"] == "team-a" and answer["assignment"]["caseworker"] == "cw-a5"
    assert answer["deadlines"]["preliminary_assessment_due"] == (NOW + timedelta(days=14)).isoformat()
    assert answer["masked"] == [] and answer["registration"] is None


async def test_a_protected_childs_whereabouts_are_masked_until_revealed_with_a_logged_reason(tables):
    uow = uow_of(tables)
    body = form(protected=True)
    body["reporter"]["organisation"] = "Ängsskolan i Norrby"  # the reporter is from the child's school
    [rid] = await store_referral(uow, body)
    await project(uow, rid)
    deps = dossiers(uow)

    read = await dossier.read_dossier(deps, attempt("cw-a5", "caseworker", referral_id=rid))
    assert read["masked"] == ["child.school", "concern.child_location", "reporter.organisation"]
    assert read["child"]["school"] is None and read["concern"]["child_location"] is None
    assert read["reporter"]["organisation"] is None
    assert body["concern"]["child_location"] not in json.dumps(read)
    assert "Ängsskolan" not in json.dumps(read, ensure_ascii=False)

    revealed = await dossier.reveal(deps, attempt("cw-a5", "caseworker", referral_id=rid), "Hembesök i dag")
    assert revealed["revealed"] == {
        "child.school": body["children"][0]["school"],
        "concern.child_location": body["concern"]["child_location"],
        "reporter.organisation": "Ängsskolan i Norrby",
    }
    assert last_row(tables) == ("reveal", "assigned", "allowed")
    assert tables.access_log[-1].entry.reason == "Hembesök i dag"


async def test_reveal_is_refused_and_logged_for_one_who_may_not_read(tables):
    uow = uow_of(tables)
    [rid] = await store_referral(uow, form(protected=True))
    await project(uow, rid)
    with pytest.raises(AccessRefused):
        await dossier.reveal(dossiers(uow), attempt("cw-b1", "caseworker", referral_id=rid), "Vill bara se")
    assert last_row(tables) == DENIED


# Break-the-glass


async def test_breaking_the_glass_grants_hours_logs_the_reason_and_announces_ids_only(tables):
    uow = uow_of(tables)
    [rid] = await store_referral(uow, form())
    await project(uow, rid)
    reason = "Polisen ringer om barnet, jouren"

    expires = await dossier.break_glass(
        dossiers(uow), attempt("cw-c3", "caseworker", referral_id=rid), reason
    )

    assert expires == NOW + timedelta(hours=4)
    assert last_row(tables) == ("break_glass", "break_glass", "allowed")
    assert tables.access_log[-1].entry.reason == reason
    event = parse_event(tables.outbox[-1][3])
    assert event.event_type == "access.break_glass"
    assert (event.data.referral_id, event.data.team, event.data.staff) == (rid, "team-a", "cw-c3")
    assert reason.encode() not in tables.outbox[-1][3]


async def test_a_grant_ends_when_it_expires(tables):
    uow = uow_of(tables)
    [rid] = await store_referral(uow, form())
    await project(uow, rid)
    await dossier.break_glass(dossiers(uow), attempt("cw-c3", "caseworker", referral_id=rid), "Akut läge nu")
    later = dossiers(uow, FakeAssignment({rid: assigned_state()}))
    later = type(later)(
        later.unit_of_work, later.org, later.cipher, later.assignment, _At(NOW + timedelta(hours=4))
    )

    with pytest.raises(AccessRefused):
        await dossier.read_dossier(later, attempt("cw-c3", "caseworker", referral_id=rid))


class _At:
    def __init__(self, at: Any) -> None:
        self.at = at

    def now(self) -> Any:
        return self.at


async def test_break_the_glass_on_an_unknown_referral_or_without_a_staff_role_is_refused_and_logged(tables):
    uow = uow_of(tables)
    [rid] = await store_referral(uow, form())
    deps = dossiers(uow)
    for a in (
        attempt("cw-a1", "caseworker", referral_id="R-UNKNOWN0001"),
        attempt("partner-1", "partner", referral_id=rid),
    ):
        with pytest.raises(AccessRefused):
            await dossier.break_glass(deps, a, "Bara nyfiken här")
        assert last_row(tables) == DENIED
    assert tables.grants == []


# Registration


async def test_registration_is_recorded_once_announced_once_and_refuses_another_number(tables):
    uow = uow_of(tables)
    [rid] = await store_referral(uow, form())
    await project(uow, rid)
    deps = dossiers(uow)
    intake = attempt("in-1", "intake", referral_id=rid)

    first = await dossier.register(deps, intake, "BoU 2026/117", NOW)
    again = await dossier.register(deps, attempt("mgr-a", "manager", referral_id=rid), "BoU 2026/117", NOW)
    with pytest.raises(RegistrationConflict):
        await dossier.register(deps, intake, "BoU 2026/118", NOW)

    assert first.new and not again.new and again.registration == first.registration
    registered = [parse_event(r[3]) for r in tables.outbox if r[1] == "referrals.registered.v1"]
    assert [(e.data.referral_id, e.data.by) for e in registered] == [(rid, "in-1")]


@pytest.mark.parametrize(
    ("staff", "role", "allowed"),
    [("in-2", "intake", True), ("mgr-a", "manager", True), ("head", "head_of_unit", True),
     ("mgr-b", "manager", False), ("cw-a5", "caseworker", False), ("in-2", "caseworker", False)],
)  # fmt: skip
async def test_the_intake_group_the_teams_manager_and_the_head_of_unit_register(tables, staff, role, allowed):
    uow = uow_of(tables)
    [rid] = await store_referral(uow, form())
    await project(uow, rid)
    work = dossier.register(dossiers(uow), attempt(staff, role, referral_id=rid), "BoU-9", NOW)
    if allowed:
        assert (await work).new
    else:
        with pytest.raises(AccessRefused):
            await work


async def test_a_teams_manager_registers_before_the_projection_knows_the_team_on_assignments_state(tables):
    uow = uow_of(tables)
    [rid] = await store_referral(uow, form())
    assignment = FakeAssignment({rid: assigned_state()})
    deps = dossiers(uow, assignment)

    assert (await dossier.register(deps, attempt("mgr-a", "manager", referral_id=rid), "BoU-3", NOW)).new
    with pytest.raises(AccessRefused):
        await dossier.register(deps, attempt("mgr-b", "manager", referral_id=rid), "BoU-3", NOW)
    assignment.unreachable = True
    with pytest.raises(AssignmentUnavailable):
        await dossier.register(deps, attempt("mgr-c", "manager", referral_id=rid), "BoU-3", NOW)
    assert rid not in tables.projections


# The chain


async def test_the_log_written_by_the_use_cases_is_one_intact_chain(tables):
    uow = uow_of(tables)
    [rid] = await store_referral(uow, form())
    await project(uow, rid)
    for staff, role in (("cw-a5", "caseworker"), ("cw-b1", "caseworker"), ("head", "head_of_unit")):
        with contextlib.suppress(AccessRefused):
            await dossier.read_dossier(dossiers(uow), attempt(staff, role, referral_id=rid))

    check = await verify_access_log(uow, page=2)
    assert (check.checked, check.broken) == (3, None)
    assert [r.seq for r in tables.access_log] == [1, 2, 3]
    assert isinstance(check, ChainCheck)
