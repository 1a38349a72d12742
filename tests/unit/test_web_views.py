"""The web app's view models: deadlines in plain words, urgency order, load bars, menus, claims."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from services.web.domain.board import team_summaries
from services.web.domain.dossier import dossier_sections
from services.web.domain.model import (
    ClaimsRejected,
    Deadline,
    SentReview,
    User,
    WorkloadRow,
    user_from_claims,
)
from services.web.domain.views import (
    deadline_phrase,
    deadline_view,
    is_idle,
    load_bar,
    load_bars,
    local_time,
    log_query,
    month_days,
    navigation,
    queue_query,
    queue_rows,
    review_view,
    safe_return_path,
)
from tests.web_support import NOW, queue_item


def test_a_deadline_two_calendar_days_ahead_reads_due_in_2_days_in_both_languages() -> None:
    due = NOW + timedelta(days=2)
    assert deadline_phrase(due, NOW, "sv") == "ska vara klar om 2 dagar"
    assert deadline_phrase(due, NOW, "en") == "due in 2 days"


def test_days_are_counted_on_stockholm_dates_not_in_24_hour_steps() -> None:
    # 23:30 in Stockholm; due 00:30 the next local day: one hour away but "tomorrow".
    now = datetime(2026, 12, 7, 22, 30, tzinfo=UTC)
    assert deadline_phrase(now + timedelta(hours=1), now, "en") == "due tomorrow"


def test_a_deadline_later_today_reads_in_hours_when_close_and_today_when_not() -> None:
    assert deadline_phrase(NOW + timedelta(hours=3), NOW, "en") == "due in 3 hours"
    early = datetime(2026, 12, 7, 6, 0, tzinfo=UTC)  # 07:00 local
    assert deadline_phrase(early + timedelta(hours=15), early, "sv") == "ska vara klar i dag"


def test_an_overdue_deadline_says_by_how_long() -> None:
    assert deadline_phrase(NOW - timedelta(hours=5), NOW, "en") == "overdue by 5 hours"
    assert deadline_phrase(NOW - timedelta(days=3, hours=2), NOW, "sv") == "försenad 3 dagar"
    assert deadline_phrase(NOW - timedelta(minutes=10), NOW, "sv") == "försenad 1 timme"
    assert deadline_phrase(NOW - timedelta(hours=30), NOW, "en") == "overdue by 1 day"


def test_times_are_shown_in_stockholm_time_across_summer_time() -> None:
    assert local_time(datetime(2026, 12, 7, 9, 0, tzinfo=UTC)) == "2026-12-07 10:00"
    assert local_time(datetime(2026, 7, 1, 9, 0, tzinfo=UTC)) == "2026-07-01 11:00"


def test_an_unmet_deadline_whose_time_has_passed_shows_as_overdue_even_without_a_state() -> None:
    view = deadline_view(Deadline("preliminary_assessment", NOW - timedelta(days=1), None, "ok"), NOW, "sv")
    assert (view.state, view.state_label, view.name) == ("breached", "Försenad", "Förhandsbedömning")


def test_a_met_deadline_says_when_it_was_done() -> None:
    met = Deadline("protection_assessment", NOW, NOW - timedelta(hours=1), "met")
    assert deadline_view(met, NOW, "en").phrase == "done 2026-12-07 09:00"


def test_the_queue_puts_breached_first_then_approaching_then_the_earliest_due() -> None:
    items = [
        queue_item("R-3", "team-a", "cw-a1", due_in=timedelta(days=5)),
        queue_item("R-2", "team-a", "cw-a1", due_in=timedelta(hours=2), state="approaching"),
        queue_item("R-4", "team-a", "cw-a1", due_in=timedelta(days=1)),
        queue_item("R-1", "team-a", "cw-a1", due_in=-timedelta(hours=1), state="breached"),
    ]
    rows = queue_rows(items, NOW, "en")
    assert [r.referral_id for r in rows] == ["R-1", "R-2", "R-4", "R-3"]
    assert (rows[0].state_label, rows[0].next_deadline, rows[0].next_phrase) == (
        "Overdue",
        "Protection assessment",
        "overdue by 1 hour",
    )


def test_a_load_bar_scales_past_capacity_so_that_overload_shows() -> None:
    over = load_bar(WorkloadRow("cw-a2", "team-a", 5, 7.5, 6.0), "sv")
    under = load_bar(WorkloadRow("cw-a1", "team-a", 2, 3.0, 6.0), "en")
    assert (over.meter_max, over.over_capacity, over.label) == (7.5, True, "7.5 av 6 ärenden")
    assert (under.meter_max, under.over_capacity, under.label) == (6.0, False, "3 of 6 cases")


def test_a_new_hires_bar_names_the_mentor_and_the_mentors_load_even_from_another_team() -> None:
    mentor = WorkloadRow("cw-b1", "team-b", 3, 4.5, 10.0, mentees=("cw-a5",))
    hire = WorkloadRow("cw-a5", "team-a", 1, 1.0, 8.0, mentor="cw-b1", new_hire=True)
    former = WorkloadRow("cw-a1", "team-a", 1, 1.0, 20.0, mentor="cw-b1")  # past the mentoring period
    bars = {b.staff_id: b for b in load_bars([former, hire], [mentor, hire, former], "sv")}
    assert list(bars) == ["cw-a1", "cw-a5"]
    assert (bars["cw-a5"].new_hire, bars["cw-a5"].mentor, bars["cw-a5"].mentor_load) == (
        True,
        "cw-b1",
        "4.5 av 10 ärenden",
    )
    assert (bars["cw-a1"].new_hire, bars["cw-a1"].mentor_load) == (False, None)
    assert load_bars([mentor], [mentor], "en")[0].mentees == ("cw-a5",)


WORKENV = ["/consultations", "/incidents"]  # every member of the unit's staff (issue 22)


@pytest.mark.parametrize(
    ("roles", "paths"),
    [
        ({"caseworker"}, ["/", "/referrals", *WORKENV]),
        ({"intake"}, ["/", "/incoming", *WORKENV]),
        ({"manager"}, ["/", "/team", "/rotation", "/overload-flags", *WORKENV]),
        (
            {"head_of_unit"},
            [
                "/",
                "/team",
                "/rotation",
                "/overload-flags",
                "/overview",
                "/access-log",
                "/outcome-report",
                *WORKENV,
            ],
        ),
        ({"partner"}, ["/consultations"]),  # colleagues elsewhere in social services: nothing else
        ({"partner", "caseworker"}, ["/", "/referrals", *WORKENV]),
        (set(), ["/"]),
    ],
)
def test_the_menu_shows_the_pages_of_the_users_roles(roles: set[str], paths: list[str]) -> None:
    assert [link.path for link in navigation(User("x", frozenset(roles)), "sv")] == paths


def test_a_caseworker_starts_from_their_own_referrals_and_intake_from_all_open_ones() -> None:
    assert queue_query(User("cw-a1", frozenset({"caseworker"}))) == {"assignee": "me", "open": "true"}
    assert queue_query(User("mgr-a", frozenset({"manager"}))) == {"open": "true"}
    assert queue_query(User("in-1", frozenset({"intake"}))) == {}


def test_a_session_is_idle_after_thirty_minutes_unused_and_not_before() -> None:
    idle = timedelta(minutes=30)
    assert not is_idle(NOW - timedelta(minutes=29, seconds=59), NOW, idle)
    assert is_idle(NOW - timedelta(minutes=30), NOW, idle)


@pytest.mark.parametrize(
    ("asked", "returned"),
    [
        ("/referrals/R-1", "/referrals/R-1"),
        ("/team?x=1", "/team?x=1"),
        ("https://evil.example/", "/"),
        ("//evil.example/", "/"),
        ("/\\evil.example", "/"),
        (None, "/"),
    ],
)
def test_only_local_paths_are_returned_to_after_sign_in(asked: str | None, returned: str) -> None:
    assert safe_return_path(asked) == returned


def test_staff_id_and_roles_come_from_the_configured_claims_and_unknown_roles_are_dropped() -> None:
    claims: dict[str, object] = {
        "sub": "x",
        "oid": "cw-a1",
        "realm_access": {"roles": ["caseworker", "admin"]},
    }
    user = user_from_claims(claims, "oid", "realm_access.roles")
    assert user == User("cw-a1", frozenset({"caseworker"}))


def test_claims_without_the_staff_id_are_refused() -> None:
    with pytest.raises(ClaimsRejected):
        user_from_claims({"roles": ["caseworker"]}, "sub", "roles")


def test_the_overview_counts_each_teams_open_referrals_by_deadline_state_and_its_imbalance() -> None:
    items = [
        queue_item("R-1", "team-a", "cw-a1", due_in=timedelta(days=3)),
        queue_item("R-2", "team-a", "cw-a2", due_in=-timedelta(hours=2), state="breached"),
        queue_item("R-3", "team-b", "cw-b1", due_in=timedelta(hours=2), state="approaching"),
    ]
    loads = [
        WorkloadRow("cw-a1", "team-a", 1, 3.0, 6.0),
        WorkloadRow("cw-a2", "team-a", 1, 4.5, 3.0),
        WorkloadRow("cw-b1", "team-b", 1, 0.0, 6.0),
    ]
    a, b = team_summaries(items, loads)
    assert (a.team, a.open_referrals, a.breached, a.approaching, a.imbalance) == ("team-a", 2, 1, 0, "3.00")
    assert (b.team, b.open_referrals, b.breached, b.approaching, b.imbalance) == ("team-b", 1, 0, 1, "–")


def test_the_dossier_reads_in_plain_words_with_flags_as_yes_or_no_and_categories_named() -> None:
    raw = {
        "child": {"name": "Alva Testsson", "protected_identity": False, "school": None},
        "guardians": [{"name": "A"}, {"name": "B", "informed": True}],
        "concern": {"categories": ["neglect", "violence_witnessed"], "acute_danger": True},
        "reporter": {"type": "school"},
    }
    child, guardians, reporter, concern = dossier_sections(raw, "sv")
    assert (child.title, child.groups) == (
        "Barnet",
        ((("Namn", "Alva Testsson"), ("Skyddad identitet", "Nej"), ("Skola eller förskola", "–")),),
    )
    assert len(guardians.groups) == 2 and guardians.groups[1][1] == ("Informerad", "Ja")
    assert reporter.title == "Anmälaren"
    assert concern.groups[0][0] == ("Vad oron gäller", "Brister i omsorgen, Barnet har sett eller hört våld")
    assert dossier_sections(raw, "en")[3].groups[0][1] == ("Acute danger", "Yes")


def test_the_access_log_filters_become_stockholm_midnights_with_the_last_day_included() -> None:
    query = log_query(
        {"staff": " cw-a1 ", "from": "2026-03-29", "to": "2026-03-29", "referral": "", "x": "y"}
    )
    assert query == {
        "staff": "cw-a1",
        "from": "2026-03-29T00:00:00+01:00",
        "to": "2026-03-30T00:00:00+02:00",  # daylight saving began that night
    }
    with pytest.raises(ValueError, match="isoformat"):
        log_query({"to": "tomorrow"})


def test_a_review_links_to_its_months_days_and_says_what_was_not_recorded() -> None:
    assert month_days("2024-02") == (date(2024, 2, 1), date(2024, 2, 29))
    assert month_days("2026-12") == (date(2026, 12, 1), date(2026, 12, 31))
    sent = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)  # 08:00 in Stockholm (winter time)
    full = review_view(
        SentReview("2026-02", sent, 10, (("denied", 0), ("unusual_volume", 1)), 5, "0f" * 32), "en"
    )
    assert (full.sent, full.entries, full.findings) == ("2026-03-02 08:00", "10", ("Unusual volume: 1",))
    assert full.log_link == "/access-log?from=2026-02-01&to=2026-02-28" and full.anchor == f"#5 {'0f' * 32}"
    quiet = review_view(SentReview("2026-02", sent, 10, (("denied", 0),), 5, "0f" * 32), "sv")
    assert quiet.findings == ("inga",)
    old = review_view(SentReview("2026-01", sent), "sv")
    assert (old.entries, old.findings, old.anchor) == ("inte sparat", ("inte sparat",), "inte sparat")


def test_the_dossier_page_lists_each_attachment_with_the_name_the_reporter_gave_it() -> None:
    raw = {
        "attachments": [
            {
                "n": 2,
                "name": "Bilaga 1",
                "file_name": "anna_svensson_intyg.pdf",
                "media_type": "application/pdf",
            },
            {"n": 1, "name": "Originaldokument (Open ePlatform).xml", "file_name": None, "size": 10},
        ]
    }
    [attachments] = dossier_sections(raw, "sv")
    assert attachments.title == "Bilagor"
    assert attachments.groups[0][:3] == (
        ("Nummer", "2"),
        ("Namn", "Bilaga 1"),
        ("Filnamn", "anna_svensson_intyg.pdf"),
    )
    assert attachments.groups[1][2] == ("Filnamn", "–")  # none given: the original document
    assert dossier_sections(raw, "en")[0].groups[0][2] == ("File name", "anna_svensson_intyg.pdf")
