"""Notification texts, cards and office hours: pure functions, no network."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import httpx
import pytest

from services.notifications.adapters.teams import classify, retry_after
from services.notifications.domain import (
    KINDS,
    Notice,
    OfficeHours,
    adaptive_card,
    digest_card,
    digest_message,
    is_office_time,
    next_office_start,
    render,
)
from services.notifications.domain.cards import MAX_CARD_BYTES, card_size
from services.notifications.domain.delivery import Permanent, Retryable

TZ = ZoneInfo("Europe/Stockholm")
HOURS = OfficeHours(time(8), time(17), TZ, frozenset({date(2026, 12, 24), date(2026, 12, 25)}))
DUE = datetime(2026, 11, 23, 16, 0, tzinfo=UTC)


def notice(kind: str, **extra) -> Notice:
    return Notice(
        kind, "https://staff.example/v1/referrals/R-1", "R-1", "Team A", other_team="Team B",
        caseworker="Astrid Berg", deadlines=(("protection_assessment", DUE),), at=DUE, **extra,
    )  # fmt: skip


@pytest.mark.parametrize("language", ["sv", "en"])
@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_renders_an_email_and_a_card_with_reference_team_due_time_and_link(kind, language):
    message = render(notice(kind), "Tove Mark", TZ, language)
    card = adaptive_card(notice(kind), TZ, language)
    assert "Tove Mark" in message.text and "https://staff.example/v1/referrals/R-1" in message.text
    assert "2026-11-23 17:00" in message.text and "2026-11-23 17:00" in json.dumps(card)
    assert "R-1" in message.subject or kind == "rotation.handover"
    assert "Team A" in message.text and "Team A" in message.html
    assert card["attachments"][0]["content"]["actions"][0]["url"].endswith("/R-1")
    assert card_size(card) < MAX_CARD_BYTES


def test_swedish_is_the_default_language():
    assert render(notice("referral.assigned"), "Tove", TZ).subject == "Nytt ärende: R-1"
    assert render(notice("referral.assigned"), "Tove", TZ, "en").subject == "New referral: R-1"


@pytest.mark.parametrize("kind", ["deadline.approaching", "deadline.breached"])
@pytest.mark.parametrize("language", ["sv", "en"])
def test_a_deadline_notice_names_its_deadline_so_two_deadlines_of_one_referral_read_apart(kind, language):
    subjects = {
        render(
            Notice(kind, "https://x.example/R-1", "R-1", "Team A", deadlines=((name, DUE),)),
            "Tove",
            TZ,
            language,
        ).subject
        for name in ("protection_assessment", "preliminary_assessment", "investigation", "reporter_feedback")
    }
    assert len(subjects) == 4
    assert all(subject.endswith(": R-1") for subject in subjects)
    swedish = render(notice("deadline.breached"), "Tove", TZ)
    assert swedish.subject == "Tidsfrist överskriden – skyddsbedömning: R-1"
    assert "Tidsfristen för skyddsbedömning" in swedish.text


def test_an_acute_notice_says_so_in_the_subject():
    assert render(notice("referral.assigned", acute=True), "Tove", TZ).subject.startswith("AKUT: ")


def test_the_card_uses_the_workflows_envelope_with_an_adaptive_card():
    card = adaptive_card(notice("deadline.breached"), TZ)
    attachment = card["attachments"][0]
    assert card["type"] == "message"
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert attachment["content"]["type"] == "AdaptiveCard" and attachment["content"]["version"] == "1.4"
    assert attachment["content"]["actions"][0]["type"] == "Action.OpenUrl"


def test_html_escapes_what_it_prints():
    message = render(notice("referral.assigned"), "<b>Tove</b>", TZ)
    assert "<b>Tove</b>" not in message.html and "&lt;b&gt;Tove&lt;/b&gt;" in message.html


def test_a_notice_has_no_place_for_categories_or_client_details():
    fields = set(Notice.__dataclass_fields__)
    assert fields == {
        "kind",
        "link",
        "reference",
        "team",
        "other_team",
        "caseworker",
        "acute",
        "deadlines",
        "at",
        "staff",  # a member of staff (break-the-glass): staff data, not client data
        "until",
    }


def test_an_unknown_kind_or_language_is_a_clear_error():
    with pytest.raises(ValueError, match=r"no template for notice kind 'referral\.vanished'"):
        notice("referral.vanished")
    with pytest.raises(ValueError, match="unsupported language 'de'"):
        render(notice("referral.assigned"), "Tove", TZ, "de")


def test_a_digest_lists_every_subject_in_one_message():
    message = digest_message(["Nytt ärende: R-1", "Tidsfrist närmar sig: R-2"], "Tove", "https://x.example")
    assert message.subject == "Sammanfattning: 2 meddelanden"
    assert "- Nytt ärende: R-1" in message.text and "- Tidsfrist närmar sig: R-2" in message.text


def test_a_digest_card_of_a_thousand_lines_stays_under_20_kb_and_counts_the_rest():
    card = digest_card([f"Nytt ärende: R-{n:05d}" for n in range(1000)], "https://x.example")
    assert card_size(card) <= MAX_CARD_BYTES
    assert card["attachments"][0]["content"]["body"][-1]["text"].startswith("(+")


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=TZ)


def test_office_hours_are_weekdays_between_start_and_end_except_holidays():
    assert is_office_time(HOURS, local(2026, 11, 23, 8, 0))
    assert not is_office_time(HOURS, local(2026, 11, 23, 17, 0))
    assert not is_office_time(HOURS, local(2026, 11, 22, 12, 0))  # Sunday
    assert not is_office_time(HOURS, local(2026, 12, 24, 10, 0))  # Christmas Eve


def test_after_friday_close_the_next_office_start_is_monday_at_eight():
    assert next_office_start(HOURS, local(2026, 11, 20, 17, 30)) == local(2026, 11, 23, 8, 0)


def test_before_opening_the_next_office_start_is_the_same_morning():
    assert next_office_start(HOURS, local(2026, 11, 24, 6, 0)) == local(2026, 11, 24, 8, 0)


def test_holidays_are_skipped_and_inside_office_hours_is_now():
    assert next_office_start(HOURS, local(2026, 12, 23, 18, 0)) == local(2026, 12, 28, 8, 0)
    assert next_office_start(HOURS, local(2026, 11, 24, 9, 0)) == local(2026, 11, 24, 9, 0)


def test_the_next_office_start_stays_at_eight_local_across_the_daylight_saving_change():
    start = next_office_start(HOURS, local(2026, 10, 23, 18, 0))
    assert start == local(2026, 10, 26, 8, 0) and start.utcoffset().total_seconds() == 3600


def response(status: int, **headers: str) -> httpx.Response:
    return httpx.Response(status, headers=headers)


def test_teams_202_is_success_429_and_5xx_retry_with_retry_after_other_4xx_are_permanent():
    now = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
    classify(response(202), now)
    with pytest.raises(Retryable) as too_many:
        classify(response(429, **{"Retry-After": "7"}), now)
    assert too_many.value.retry_after_s == 7.0
    with pytest.raises(Retryable) as unavailable:
        classify(response(503), now)
    assert unavailable.value.retry_after_s is None
    with pytest.raises(Permanent):
        classify(response(400), now)
    with pytest.raises(Permanent):
        classify(response(404), now)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("120", 120.0),
        ("Tue, 24 Nov 2026 09:02:00 GMT", 120.0),  # IMF-fixdate
        ("Tuesday, 24-Nov-26 09:02:00 GMT", 120.0),  # obsolete RFC 850
        ("Tue Nov 24 09:02:00 2026", 120.0),  # obsolete asctime, GMT by definition
        ("Tue, 24 Nov 2026 08:00:00 GMT", 0.0),  # already past: at once
        ("99999999999", 86_400.0),  # more than a day: a day
        ("inf", None),
        ("nan", None),
        ("-5", None),
        ("soon", None),
        ("", None),
    ],
)
def test_retry_after_is_read_as_seconds_or_as_an_http_date(header, seconds):
    now = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
    assert retry_after(response(429, **{"Retry-After": header}), now) == seconds
