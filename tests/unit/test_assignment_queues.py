"""Work queues and the registration clock in the pure domain (issue 19): who may list what, each
clock's state, the order of a queue, its filters and its pages."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.assignment.domain.access import Actor
from services.assignment.domain.cases import Case
from services.assignment.domain.deadlines import registration_due
from services.assignment.domain.errors import InvalidQueueFilter, NotPermitted
from services.assignment.domain.model import DeadlineRules
from services.assignment.domain.queues import (
    NO_DUE,
    Clock,
    QueueEntry,
    QueueFilter,
    QueueQuery,
    Scope,
    queue_query,
    scope_of,
)
from tests.assignment_support import TZ, UNIT, local

NOW = local(2026, 10, 20, 12, 0)  # a Tuesday
HOUR = timedelta(hours=1)
REMINDERS = {"protection_assessment": (2 * HOUR,), "registration": (2 * HOUR,)}
BASE = Case(
    referral_id="R-0", family_key="f", team="team-b", caseworker="cw-b2", mentor=None, reason="rotation",
    explanation="", source="rotation", period_start=NOW, period_end=None, received_at=NOW - 2 * HOUR,
    acute_danger=False, protected_identity=False, weight=100, feedback_requested=False,
    protection_due=NOW + 5 * HOUR, preliminary_due=NOW + timedelta(days=14),
    registration_due=NOW + 4 * HOUR,
)  # fmt: skip


def entry(referral_id: str = "R-0", **fields: object) -> QueueEntry:
    return QueueEntry(replace(BASE, referral_id=referral_id, **fields), ("neglect",))  # type: ignore[arg-type]


def actor(staff: str, *roles: str) -> Actor:
    return Actor(staff, frozenset(roles))


def query(who: Actor, filters: QueueFilter | None = None, **over: object) -> QueueQuery:
    return replace(queue_query(who, UNIT, filters or QueueFilter(), None, 50, NOW), **over)  # type: ignore[arg-type]


# --- the registration clock -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("received_at", "due"),
    [
        (local(2026, 10, 20, 10, 0), local(2026, 10, 20, 16, 0)),  # office day, before 16:00
        (local(2026, 10, 20, 16, 0), local(2026, 10, 21, 16, 0)),  # at the due time: the next day
        (local(2026, 10, 23, 17, 30), local(2026, 10, 26, 16, 0)),  # Friday evening: Monday
        (local(2026, 10, 24, 9, 0), local(2026, 10, 26, 16, 0)),  # Saturday: Monday
        (local(2026, 12, 23, 18, 0), local(2026, 12, 28, 16, 0)),  # Christmas Eve and Day, a weekend
        (datetime(2026, 10, 20, 13, 59, tzinfo=UTC), local(2026, 10, 20, 16, 0)),  # 15:59 local
    ],
)
def test_registration_is_due_the_office_day_of_receipt_by_the_configured_time_else_the_next(
    received_at: datetime, due: datetime
) -> None:
    assert registration_due(received_at, UNIT.calendar, TZ, UNIT.deadlines) == due


def test_registration_office_days_add_whole_office_days_after_the_due_day() -> None:
    rules = DeadlineRules(registration_due=local(2026, 1, 1, 12, 0).time(), registration_office_days=2)
    friday_morning = local(2026, 10, 23, 9, 0)
    assert registration_due(friday_morning, UNIT.calendar, TZ, rules) == local(2026, 10, 27, 12, 0)


# --- clock states ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("due", "running", "met_at", "state"),
    [
        (NOW + 3 * HOUR, True, None, "ok"),
        (NOW + 2 * HOUR, True, None, "approaching"),  # the first reminder's moment
        (NOW, True, None, "breached"),  # at the due time
        (NOW - HOUR, False, NOW - 2 * HOUR, "met"),
        (NOW - HOUR, False, None, "stopped"),  # e.g. closed without a protection assessment
    ],
)
def test_a_clock_is_ok_approaching_from_its_longest_reminder_lead_and_breached_at_its_due_time(
    due: datetime, running: bool, met_at: datetime | None, state: str
) -> None:
    assert Clock("protection_assessment", due, running, met_at).state(NOW, (HOUR, 2 * HOUR)) == state


def test_a_clock_without_reminders_is_ok_until_it_is_breached() -> None:
    assert Clock("investigation", NOW + HOUR, True, None).state(NOW, ()) == "ok"


def test_a_referrals_state_is_its_worst_running_clock_and_met_clocks_do_not_count() -> None:
    assert entry().state(NOW, REMINDERS) == "ok"
    assert entry(registration_due=NOW + HOUR).state(NOW, REMINDERS) == "approaching"
    assert entry(registration_due=NOW - HOUR).state(NOW, REMINDERS) == "breached"
    registered = entry(registration_due=NOW - HOUR, registered_at=NOW - 2 * HOUR)
    assert registered.state(NOW, REMINDERS) == "ok"
    assert registered.next_due == BASE.protection_due


def test_a_referral_with_no_clock_running_sorts_after_every_due_time() -> None:
    closed = entry(status="closed", closed_at=NOW, decided_at=NOW, registered_at=NOW)
    assert closed.next_due == NO_DUE
    assert closed.state(NOW, REMINDERS) == "ok"


# --- order, filters and pages ---------------------------------------------------------------------


def test_a_queue_is_ordered_breached_first_then_by_nearest_due_time_then_referral_id() -> None:
    entries = [
        entry("R-5", registration_due=NOW + 3 * HOUR),
        entry("R-4", registration_due=NOW - HOUR),  # breached an hour ago
        entry("R-3", registration_due=NOW - 5 * HOUR),  # breached longer ago: most urgent
        entry("R-2", registration_due=NOW + 3 * HOUR),  # same due time as R-5: by id
        entry("R-1", status="closed", closed_at=NOW, decided_at=NOW, registered_at=NOW),  # nothing runs
    ]
    page = query(actor("head", "head_of_unit")).page(entries)
    assert [e.case.referral_id for e in page] == ["R-3", "R-4", "R-2", "R-5", "R-1"]


def test_filters_are_combined_with_and() -> None:
    entries = [
        entry("R-1", registration_due=NOW - HOUR),  # breached, unregistered, cw-b2
        entry("R-2", registration_due=NOW - HOUR, caseworker="cw-b3"),
        entry("R-3", registration_due=NOW - HOUR, registered_at=NOW - 2 * HOUR),  # ok now
        entry("R-4", registration_due=NOW - HOUR, status="acknowledged"),
    ]
    filters = QueueFilter("cw-b2", "team-b", "assigned", "breached", registered=False)
    page = query(actor("head", "head_of_unit"), filters).page(entries)
    assert [e.case.referral_id for e in page] == ["R-1"]
    registered = query(actor("head", "head_of_unit"), QueueFilter(registered=True)).page(entries)
    assert [e.case.referral_id for e in registered] == ["R-3"]


@settings(max_examples=60, deadline=None)
@given(
    dues=st.lists(st.integers(min_value=-48, max_value=48), min_size=0, max_size=30),
    limit=st.integers(min_value=1, max_value=7),
)
def test_paging_with_the_cursor_visits_every_entry_once_in_order(dues: list[int], limit: int) -> None:
    entries = [entry(f"R-{i:02d}", registration_due=NOW + h * HOUR) for i, h in enumerate(dues)]
    q = query(actor("head", "head_of_unit"), limit=limit)
    seen: list[QueueEntry] = []
    after = None
    while True:
        page = replace(q, after=after).page(entries)
        seen.extend(page)
        if len(page) < limit:
            break
        after = page[-1].key
    assert seen == sorted(entries, key=lambda e: e.key)


# --- who sees what --------------------------------------------------------------------------------


def test_each_role_sees_by_its_position() -> None:
    mine = entry("R-1", caseworker="cw-b1")
    mentored = entry("R-2", caseworker="cw-b5", mentor="cw-b1")
    other_team = entry("R-3", team="team-a", caseworker="cw-a2")
    closed_unregistered = entry("R-4", team="team-c", caseworker="cw-c1", status="closed", closed_at=NOW)
    closed_registered = replace(closed_unregistered.case, referral_id="R-5", registered_at=NOW)
    closed_long_ago = replace(
        closed_unregistered.case, referral_id="R-6", registration_due=None
    )  # before 006
    entries = [mine, mentored, other_team, closed_unregistered, QueueEntry(closed_registered, ())]
    entries.append(QueueEntry(closed_long_ago, ()))

    def sees(who: Actor) -> list[str]:
        return [e.case.referral_id for e in query(who).page(entries)]

    assert sees(actor("cw-b1", "caseworker")) == ["R-1", "R-2"]  # own and mentored
    assert sees(actor("cw-b5", "caseworker")) == ["R-2"]
    assert sees(actor("mgr-b", "manager")) == ["R-1", "R-2"]  # the team's
    assert sees(actor("in-1", "intake")) == ["R-1", "R-2", "R-3", "R-4"]  # open: not closed or unregistered
    assert sees(actor("head", "head_of_unit")) == ["R-1", "R-2", "R-3", "R-4", "R-5", "R-6"]


def test_a_grant_counts_only_with_its_role_and_position() -> None:
    assert scope_of(actor("mgr-b", "manager", "caseworker"), UNIT) == Scope(
        teams=frozenset({"team-b"}), own="mgr-b"
    )
    for nobody in (actor("cw-b1", "intake"), actor("mgr-b", "head_of_unit"), actor("partner-1", "partner")):
        with pytest.raises(NotPermitted):
            scope_of(nobody, UNIT)


@pytest.mark.parametrize(
    ("who", "filters"),
    [
        (actor("cw-b2", "caseworker"), QueueFilter(assignee="cw-b3")),  # a colleague's queue
        (actor("cw-b2", "caseworker"), QueueFilter(team="team-a")),  # another team's
        (actor("cw-b5", "caseworker"), QueueFilter(assignee="cw-b1")),  # the mentee asks for the mentor's
        (actor("mgr-b", "manager"), QueueFilter(team="team-a")),
        (actor("mgr-b", "manager"), QueueFilter(assignee="cw-a1")),
        (actor("system", "system"), QueueFilter()),
    ],
)
def test_asking_for_a_queue_outside_ones_grants_is_refused(who: Actor, filters: QueueFilter) -> None:
    with pytest.raises(NotPermitted):
        queue_query(who, UNIT, filters, None, 50, NOW)


@pytest.mark.parametrize(
    ("who", "filters"),
    [
        (actor("cw-b2", "caseworker"), QueueFilter(assignee="me", team="team-b")),
        (actor("cw-b2", "caseworker"), QueueFilter(assignee="cw-b2")),
        (actor("cw-b1", "caseworker"), QueueFilter(assignee="cw-b5")),  # the mentor, the mentee's
        (actor("mgr-b", "manager"), QueueFilter(assignee="cw-b3", team="team-b")),
        (actor("in-1", "intake"), QueueFilter(assignee="cw-a1", team="team-c")),
        (actor("head", "head_of_unit"), QueueFilter(assignee="cw-c6")),
    ],
)
def test_asking_for_a_queue_inside_ones_grants_is_allowed(who: Actor, filters: QueueFilter) -> None:
    queue_query(who, UNIT, filters, None, 50, NOW)


def test_a_filter_naming_what_the_unit_lacks_is_invalid() -> None:
    head = actor("head", "head_of_unit")
    for filters in (QueueFilter(assignee="cw-zz"), QueueFilter(team="team-z")):
        with pytest.raises(InvalidQueueFilter):
            queue_query(head, UNIT, filters, None, 50, NOW)
    with pytest.raises(InvalidQueueFilter):
        queue_query(head, UNIT, QueueFilter(), None, 201, NOW)
