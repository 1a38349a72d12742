"""Issue 19 in notifications: break-the-glass alerts, the monthly access review and the
registration deadline — who is told, on which channel, when, and in which words (pure, no I/O)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.notifications.adapters.memory import InMemoryNotificationsUnitOfWork
from services.notifications.adapters.memory_deliveries import InMemoryDeliveryLedger
from services.notifications.adapters.memory_tables import NotificationTables
from services.notifications.domain.cards import MAX_CARD_BYTES
from services.notifications.domain.outgoing import ClaimedDelivery, Outgoing, address
from services.notifications.domain.review import AccessSummary, Finding, review_message
from services.notifications.domain.routing import NewDelivery, deliveries_for
from services.notifications.domain.unit import Unit
from services.notifications.main import LinkSettings, notification_unit
from services.notifications.ports import HandOver, nothing_to_record
from services.notifications.subscribers import CONSUMED, inputs
from shared.clock import FixedClock
from shared.events import TOPIC_ACCESS
from shared.unit_config import UnitConfigError, load_unit_config
from tests.notifications_support import (
    FRIDAY_18,
    MONDAY_08,
    MONDAY_10,
    REPO,
    break_glass,
    consume,
    courier,
    example_unit,
    registration_due,
    review,
    unit_config,
    utc,
)

MGR_CHAT = "https://teams.example/webhook/mgr-b"
HEAD_CHAT = "https://teams.example/webhook/head"
CHATS = {"mgr-b": MGR_CHAT, "head": HEAD_CHAT}
TEMPLATE = "https://socialtjanst.example.se/referrals/{referral_id}"


def unit(*, language: str = "sv", links: bool = False, **notifications: Any) -> Unit:
    config = unit_config(staff_webhooks=CHATS, language=language, **notifications)
    return notification_unit(config, LinkSettings(referral_url=TEMPLATE if links else None))


def deliveries(event: Any, u: Unit, now: datetime = MONDAY_10) -> list[NewDelivery]:
    [occurrence] = inputs([event])
    return deliveries_for(occurrence, u, now)


def sent_to(found: list[NewDelivery]) -> set[tuple[str, str]]:
    return {(d.recipient, d.channel) for d in found}


def card_text(delivery: NewDelivery) -> str:
    assert delivery.card is not None
    return json.dumps(json.loads(delivery.card), ensure_ascii=False)


def email(found: list[NewDelivery], recipient: str) -> NewDelivery:
    return next(d for d in found if d.recipient == recipient and d.channel == "email")


def card(found: list[NewDelivery]) -> NewDelivery:
    [only] = [d for d in found if d.channel == "teams"]
    return only


# Break-the-glass


def test_break_glass_alerts_the_referral_teams_manager_by_email_and_in_their_own_teams_chat():
    found = deliveries(break_glass("R-7", MONDAY_10), unit())
    assert sent_to(found) == {("mgr-b", "email"), ("staff:mgr-b", "teams")}
    assert all(d.kind == "access.break_glass" and d.referral_id == "R-7" for d in found)


def test_without_a_webhook_of_their_own_the_manager_is_alerted_by_email_only():
    found = deliveries(break_glass("R-7", MONDAY_10), example_unit())
    assert sent_to(found) == {("mgr-b", "email")}


@pytest.mark.parametrize("team", [None, "team-unknown"])
def test_break_glass_on_a_referral_without_a_known_team_alerts_the_head_of_unit(team):
    found = deliveries(break_glass("R-7", MONDAY_10, team=team), unit())
    assert sent_to(found) == {("head", "email"), ("staff:head", "teams")}


def test_break_glass_by_the_teams_own_manager_alerts_the_head_of_unit_not_the_manager():
    found = deliveries(break_glass("R-7", MONDAY_10, staff="mgr-b"), unit())
    assert sent_to(found) == {("head", "email"), ("staff:head", "teams")}


def test_break_glass_in_quiet_hours_is_sent_at_once_not_held_for_the_morning():
    found = deliveries(break_glass("R-7", FRIDAY_18), unit(), now=FRIDAY_18)
    assert found and all(not d.held and d.not_before == FRIDAY_18 for d in found)
    reminder = deliveries(registration_due("R-8", FRIDAY_18, breached=True), unit(), now=FRIDAY_18)
    assert reminder and all(d.held for d in reminder)


def test_break_glass_email_in_swedish_says_who_which_referral_when_until_when_and_where_the_reason_is():
    at = datetime(2026, 11, 23, 9, 15, tzinfo=MONDAY_10.tzinfo)
    mail = email(deliveries(break_glass("R-7", at), unit()), "mgr-b")
    assert mail.subject == "Nödåtkomst använd: R-7"
    assert "Hej Chef team B!" in mail.body_text
    assert "Astrid Berg (cw-a1) öppnade ärendet R-7 med nödåtkomst 2026-11-23 09:15." in mail.body_text
    assert "Åtkomsten gäller till 2026-11-23 17:15. Skälet finns i åtkomstloggen." in mail.body_text
    assert "Åtkomst till: 2026-11-23 17:15" in mail.body_text
    assert mail.body_html is not None and "Astrid Berg (cw-a1)" in mail.body_html


def test_break_glass_in_english_and_on_the_card():
    at = datetime(2026, 11, 23, 9, 15, tzinfo=MONDAY_10.tzinfo)
    found = deliveries(break_glass("R-7", at), unit(language="en"))
    mail = email(found, "mgr-b")
    assert mail.subject == "Break-the-glass access used: R-7"
    assert "Astrid Berg (cw-a1) opened the referral R-7 with break-the-glass access at 2026-11-23 09:15." in (
        mail.body_text
    )
    assert "The access lasts until 2026-11-23 17:15. The reason is in the access log." in mail.body_text
    teams = card(found)
    assert teams.subject == "Break-the-glass access used: R-7" and "Access until" in card_text(teams)


def test_break_glass_by_someone_the_unit_file_does_not_know_names_their_staff_id():
    mail = email(deliveries(break_glass("R-7", MONDAY_10, staff="ext-9"), unit()), "mgr-b")
    assert "ext-9 öppnade ärendet R-7" in mail.body_text


# The monthly access review

FINDINGS = (
    ("outside_office_hours", "cw-b2", 3, ("R-3",)),
    ("break_glass", "cw-a1", 2, ("R-1", "R-2")),
    ("denied", "cw-c1", 5, ()),
    ("break_glass", "cw-b1", 4, ("R-4",)),
)


def test_the_review_goes_to_the_head_of_unit_by_email_and_their_own_chat():
    found = deliveries(review("2026-11", 1234, *FINDINGS), unit())
    assert sent_to(found) == {("head", "email"), ("staff:head", "teams")}
    assert all(d.kind == "access.review" and d.referral_id is None for d in found)


def test_a_review_in_quiet_hours_waits_for_the_office_but_is_not_folded_into_a_digest():
    found = deliveries(review("2026-11", 1234, *FINDINGS), unit(), now=FRIDAY_18)
    assert found and all(not d.held and d.not_before == MONDAY_08 for d in found)


def test_the_review_email_in_swedish_groups_findings_by_kind_with_staff_counts_and_references():
    mail = email(deliveries(review("2026-11", 1234, *FINDINGS), unit()), "head")
    assert mail.subject == "Granskning av åtkomstloggen 2026-11"
    text = mail.body_text
    assert "Åtkomstloggen för 2026-11 har 1234 poster." in text
    assert "Granskningen fann följande att följa upp:" in text
    expected = [
        "Nödåtkomst",
        "- Greta Sjö (cw-b1): 4 gånger – ärenden: R-4",
        "- Astrid Berg (cw-a1): 2 gånger – ärenden: R-1, R-2",
        "Nekade försök",
        "- Maja Ström (cw-c1): 5 gånger",
        "Åtkomst utanför kontorstid",
        "- Hampus Dahl (cw-b2): 3 gånger – ärenden: R-3",
    ]
    lines = text.splitlines()
    positions = [lines.index(line) for line in expected]
    assert positions == sorted(positions)
    assert "Skälen för nödåtkomst finns i åtkomstloggen." in text
    assert mail.body_html is not None and "<h3>Nödåtkomst</h3>" in mail.body_html


def test_the_review_card_names_the_same_findings():
    text = card_text(card(deliveries(review("2026-11", 1234, *FINDINGS), unit())))
    for part in ("Granskning av åtkomstloggen 2026-11", "Greta Sjö (cw-b1): 4 gånger", "R-1, R-2",
                 "Maja Ström (cw-c1): 5 gånger", "Hampus Dahl (cw-b2): 3 gånger – ärenden: R-3"):  # fmt: skip
        assert part in text


def test_the_review_gives_the_head_of_unit_the_logs_newest_row_and_hash_to_keep():
    digest = "ab" * 32
    found = deliveries(review("2026-11", 1234, *FINDINGS, anchor=(98765, digest)), unit())
    line = f"Spara för kontroll av åtkomstloggen: rad 98765, kontrollsumma {digest}"
    mail = email(found, "head")
    assert line in mail.body_text
    assert mail.body_html is not None and line in mail.body_html
    assert line in card_text(card(found))
    without = email(deliveries(review("2026-11", 1234, *FINDINGS), unit()), "head")
    assert "kontrollsumma" not in without.body_text


def test_the_review_in_english():
    found = deliveries(review("2026-11", 12, ("unusual_volume", "cw-a2", 1, ("R-9",))), unit(language="en"))
    mail = email(found, "head")
    assert mail.subject == "Access log review 2026-11"
    assert "The access log for 2026-11 holds 12 entries." in mail.body_text
    assert "Unusually many referrals opened" in mail.body_text
    assert "- Björn Lind (cw-a2): once – referrals: R-9" in mail.body_text


def test_a_review_with_no_findings_says_there_is_nothing_to_follow_up():
    mail = email(deliveries(review("2026-10", 40), unit()), "head")
    assert "Granskningen fann inget att följa upp." in mail.body_text


def test_a_long_list_of_references_shows_twenty_and_counts_the_rest():
    refs = tuple(f"R-{n}" for n in range(50))
    found = deliveries(review("2026-11", 900, ("outside_assignments", "cw-a3", 77, refs)), unit())
    for text in (email(found, "head").body_text, card_text(card(found))):
        assert "R-19, och 30 till" in text and "R-20" not in text


def test_a_review_of_five_hundred_findings_keeps_the_card_under_twenty_kilobytes_and_says_what_it_cut():
    refs = tuple(f"R-{n:05d}" for n in range(50))
    many = [("outside_assignments", "cw-a3", 60, refs)] * 500
    found = deliveries(review("2026-11", 90000, *many), unit(links=True))
    teams = card(found)
    assert teams.card is not None and len(teams.card.encode()) < MAX_CARD_BYTES
    assert re.search(r"och \d+ fynd till, se e-posten", card_text(teams))
    assert email(found, "head").body_text.count("- Cecilia Nord (cw-a3): 60 gånger") == 500


# The registration deadline


def test_a_registration_deadline_approaching_goes_to_every_member_of_the_intake_group():
    found = deliveries(registration_due("R-5", MONDAY_10 + timedelta(hours=2), breached=False), unit())
    assert sent_to(found) == {(p, "email") for p in ("in-1", "in-2", "in-3", "in-4")}


def test_a_registration_deadline_breached_goes_to_the_intake_group_and_the_teams_manager():
    found = deliveries(registration_due("R-5", MONDAY_10, breached=True), example_unit())
    assert sent_to(found) == {(p, "email") for p in ("in-1", "in-2", "in-3", "in-4", "mgr-b")}


def test_registration_routes_are_configured_like_the_others():
    routes = {"registration.breached": ["head_of_unit"], "deadline.breached": ["caseworker", "manager"]}
    found = deliveries(registration_due("R-5", MONDAY_10, breached=True), example_unit(routes=routes))
    assert sent_to(found) == {("head", "email")}


@pytest.mark.parametrize(
    ("language", "subject", "due"),
    [
        ("sv", "Tidsfrist närmar sig – registrering i verksamhetssystemet: R-5",
         "Registrering i verksamhetssystemet senast: 2026-11-23 12:00"),
        ("en", "Deadline approaching – registration in the case management system: R-5",
         "Registration in the case management system due: 2026-11-23 12:00"),
    ],
)  # fmt: skip
def test_the_registration_reminder_names_the_system_of_record_and_the_due_time(language, subject, due):
    found = deliveries(
        registration_due("R-5", MONDAY_10 + timedelta(hours=2), breached=False), unit(language=language)
    )
    mail = email(found, "in-1")
    assert mail.subject == subject and due in mail.body_text


# Links


def test_with_a_referral_url_template_every_message_about_a_referral_links_to_it():
    u = unit(links=True)
    link = "https://socialtjanst.example.se/referrals/R-7"
    for found in (deliveries(break_glass("R-7", MONDAY_10), u),
                  deliveries(registration_due("R-7", MONDAY_10, breached=True), u)):  # fmt: skip
        for d in found:
            assert link in (d.body_text if d.channel == "email" else card_text(d))
    teams = card(deliveries(break_glass("R-7", MONDAY_10), u))
    assert json.loads(teams.card or "{}")["attachments"][0]["content"]["actions"][0]["url"] == link


def test_with_a_template_the_review_links_each_reference_and_without_one_it_links_none():
    event = review("2026-11", 10, ("break_glass", "cw-a1", 1, ("R-1",)))
    found = deliveries(event, unit(links=True))
    mail = email(found, "head")
    assert "R-1 (https://socialtjanst.example.se/referrals/R-1)" in mail.body_text
    assert (
        mail.body_html and '<a href="https://socialtjanst.example.se/referrals/R-1">R-1</a>' in mail.body_html
    )
    assert "[R-1](https://socialtjanst.example.se/referrals/R-1)" in card_text(card(found))
    plain = deliveries(event, unit())
    assert "/referrals/R-1" not in email(plain, "head").body_text + card_text(card(plain))


def test_without_a_template_links_stay_under_the_base_url():
    mail = email(deliveries(break_glass("R-7", MONDAY_10), unit()), "mgr-b")
    assert "Öppna i systemet: http://127.0.0.1:8082/v1/referrals/R-7" in mail.body_text


@pytest.mark.parametrize(
    "template", ["https://x.example/{id}", "https://x.example/{referral_id}/{x}", "https://x"]
)
def test_a_template_without_exactly_the_referral_placeholder_is_refused(template):
    with pytest.raises(ValueError, match="referral_id"):
        LinkSettings(referral_url=template)


# Where a person's own chat is


def test_a_persons_own_chat_is_their_webhook_and_an_unknown_staff_id_stops_start_up():
    [teams] = [d for d in deliveries(break_glass("R-7", MONDAY_10), unit()) if d.channel == "teams"]
    claimed = ClaimedDelivery(None, teams.source_event_id, teams.recipient, "teams", teams.kind,  # type: ignore[arg-type]
                              teams.referral_id, teams.family_key, teams.subject, "")  # fmt: skip
    assert address(claimed, unit()) == MGR_CHAT
    with pytest.raises(UnitConfigError, match="nobody"):
        notification_unit(unit_config(staff_webhooks={"nobody": MGR_CHAT}))


# Through the courier (in-memory stores)


class Recording:
    def __init__(self) -> None:
        self.left: list[tuple[str, Outgoing]] = []

    async def send(self, address: str, message: Outgoing, hand_over: HandOver = nothing_to_record) -> None:
        await hand_over()
        self.left.append((address, message))


async def test_in_quiet_hours_break_glass_goes_out_at_once_and_the_review_whole_at_the_office_start():
    tables, clock, channel = NotificationTables(), FixedClock(utc(FRIDAY_18)), Recording()
    u = unit()
    units = lambda: InMemoryNotificationsUnitOfWork(tables)  # noqa: E731
    sending = courier(InMemoryDeliveryLedger(tables), units, {"email": channel, "teams": channel}, u, clock)
    await consume(units, [review("2026-11", 1234, *FINDINGS), break_glass("R-7", FRIDAY_18)], u, clock)

    await sending.send_due()
    assert {a for a, _ in channel.left} == {"mgr-b@kommun.example", MGR_CHAT}
    channel.left.clear()
    clock.set(utc(MONDAY_08))
    await sending.send_due()
    await sending.send_due()  # a webhook's second message waits for its slot; the review has one each
    mails = [m for a, m in channel.left if a == "head@kommun.example"]
    assert [m.subject for m in mails] == ["Granskning av åtkomstloggen 2026-11"]
    assert "- Greta Sjö (cw-b1): 4 gånger – ärenden: R-4" in mails[0].text
    [card] = [m.card for a, m in channel.left if a == HEAD_CHAT]
    assert card is not None and "Greta Sjö (cw-b1): 4 gånger" in json.dumps(card, ensure_ascii=False)


def test_the_edge_reads_the_access_topic_and_translates_its_events_to_ids_counts_and_times():
    at = MONDAY_10.astimezone(UTC)
    [alert, monthly] = inputs(
        [break_glass("R-7", at), review("2026-11", 5, ("denied", "cw-c1", 2, ("R-1",)))]
    )
    assert TOPIC_ACCESS in CONSUMED
    assert (alert.kind, alert.referral_id, alert.team, alert.staff, alert.at, alert.until) == (
        "access.break_glass", "R-7", "team-b", "cw-a1", at, at + timedelta(hours=8),
    )  # fmt: skip
    assert monthly.kind == "access.review" and monthly.referral_id is None
    assert monthly.review == AccessSummary("2026-11", 5, (Finding("denied", "cw-c1", 2, ("R-1",)),))


def test_routes_written_before_issue_19_still_alert_on_break_glass_and_an_empty_list_turns_it_off():
    older = {"referral.assigned": ["caseworker"], "deadline.breached": ["caseworker", "manager"]}
    found = deliveries(break_glass("R-7", MONDAY_10), example_unit(routes=older))
    assert sent_to(found) == {("mgr-b", "email")}
    off = deliveries(break_glass("R-7", MONDAY_10), example_unit(routes=older | {"access.break_glass": []}))
    assert off == []


def test_the_deployed_unit_files_route_the_issue_19_kinds_explicitly():
    for path in ("deploy/config/unit.example.yaml", "deploy/k8s/unit.yaml"):
        routes = load_unit_config(REPO / path).notifications.routes
        assert routes["access.break_glass"] == ("manager",) and routes["access.review"] == ("head_of_unit",)
        assert routes["registration.breached"] == ("intake", "manager")


def test_the_review_email_escapes_staff_names_in_html():
    summary = AccessSummary("2026-11", 1, (Finding("denied", "x-1", 1, ("R-1",)),))
    message = review_message(summary, "Chef", lambda s: "<b>Eva</b> (x-1)", lambda r: None, "http://h")
    assert "<b>Eva</b>" not in message.html
    assert "&lt;b&gt;Eva&lt;/b&gt; (x-1)" in message.html and "<b>Eva</b> (x-1): 1 gång" in message.text
