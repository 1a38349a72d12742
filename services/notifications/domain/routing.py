"""Who is told about what happened, on which channel, and the delivery made for each of them.

One delivery per event x recipient x channel, rendered when it is created (no client details can
be rendered: `Notice` has no field for them). Outside office hours, with quiet hours on, a
non-acute delivery is held for one digest at the next office start.
"""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from services.notifications.domain.cards import adaptive_card
from services.notifications.domain.messages import Notice, render
from services.notifications.domain.office import is_office_time, next_office_start
from services.notifications.domain.review import AccessSummary, review_card, review_message
from services.notifications.domain.unit import Unit
from services.notifications.domain.workplace import (
    WORKPLACE_KINDS,
    ConsultationFacts,
    IncidentFacts,
    Names,
    OverloadFacts,
    WorkplaceFacts,
    invitation,
    said,
    team_card,
    workplace_card,
    workplace_message,
)

EMAIL, TEAMS = "email", "teams"
# The event types staff can be told about (routes name them); `escalation` is the service's own.
NOTIFIED = frozenset(
    {"referral.received", "referral.assigned", "referral.reassigned", "deadline.approaching",
     "deadline.breached", "rotation.handover", "access.break_glass", "access.review", *WORKPLACE_KINDS}
)  # fmt: skip
# Told at once even in quiet hours: someone is reading a referral they had no part in, now.
IMMEDIATE = frozenset({"access.break_glass"})
# About what a member of staff did: the manager told is never the one who did it, and without a
# known team (or when the manager did it) the head of unit is told instead. A manager's own
# overload flag, and an incident recorded by a manager or without a team, go to the head of unit.
OVERSIGHT = frozenset({"access.break_glass", "overload.flagged", "incident.recorded"})
# A person's own Teams chat is a recipient apart from team ids (which cannot hold a colon).
PERSONAL = "staff:"


@dataclass(frozen=True)
class Occurrence:
    """Something that happened that staff may be told about, by ids, codes and times only."""

    event_id: uuid.UUID
    kind: str  # the event type, e.g. referral.assigned
    family_key: str
    occurred_at: datetime
    referral_id: str | None = None
    team: str | None = None  # the team concerned; the incoming one of a rotation handover
    other_team: str | None = None  # the outgoing team of a rotation handover
    caseworker: str | None = None
    mentor: str | None = None
    acute: bool = False
    at: datetime | None = None  # the time the notice tells, if it tells one
    deadlines: tuple[tuple[str, datetime], ...] = ()
    staff: str | None = None  # who acted (break-the-glass)
    until: datetime | None = None  # when what they were given ends
    review: AccessSummary | None = None  # the monthly access review's findings
    workplace: WorkplaceFacts | None = None  # an overload flag, consultation or incident (issue 22)


@dataclass(frozen=True)
class Acknowledgement:
    """Someone acted on a referral: escalation stops."""

    referral_id: str
    at: datetime


@dataclass(frozen=True)
class Target:
    """One recipient on one channel: a staff id by email, or a team id in Teams."""

    recipient: str
    channel: str


@dataclass(frozen=True)
class NewDelivery:
    """A delivery to create for a source event, due at `not_before` (held ones for a digest)."""

    source_event_id: uuid.UUID
    recipient: str
    channel: str
    kind: str
    referral_id: str | None
    family_key: str
    subject: str
    body_text: str
    not_before: datetime
    body_html: str | None = None
    card: str | None = None  # the Adaptive Card as JSON (Teams)
    held: bool = False
    invitation: str | None = None  # a consultation's iCalendar entry as JSON (`Invitation`)


def notice_for(occurrence: Occurrence, unit: Unit) -> Notice:
    """The facts of an occurrence that may be told, with names as staff read them."""
    o = occurrence
    return Notice(
        o.kind, unit.link(o.referral_id), o.referral_id,
        team=unit.team_name(o.team) if o.team else None,
        other_team=unit.team_name(o.other_team) if o.other_team else None,
        caseworker=unit.person_name(o.caseworker) if o.caseworker else None,
        acute=o.acute, deadlines=o.deadlines, at=o.at,
        staff=staff_name(o.staff, unit) if o.staff else None, until=o.until,
    )  # fmt: skip


def staff_name(staff_id: str, unit: Unit) -> str:
    """A member of staff named with their id (`Astrid Berg (cw-a1)`), the id alone if unknown."""
    name = unit.person_name(staff_id)
    return staff_id if name == staff_id else f"{name} ({staff_id})"


def route(occurrence: Occurrence) -> str:
    """The route an occurrence takes: its event type; a registration deadline has routes of its own."""
    kind = occurrence.kind
    if kind.startswith("deadline.") and any(name == "registration" for name, _ in occurrence.deadlines):
        return "registration." + kind.removeprefix("deadline.")
    return kind


def targets(occurrence: Occurrence, unit: Unit, now: datetime) -> list[Target]:
    """Every recipient the unit routes this occurrence to, each once, in route order."""
    found: dict[Target, None] = {}
    for role in unit.routes.get(route(occurrence), ()):
        for target in _resolve(role, occurrence, unit, now):
            found.setdefault(target)
    return list(found)


def _resolve(role: str, o: Occurrence, unit: Unit, now: datetime) -> Iterator[Target]:
    if role == "team":
        team = unit.team(o.team) if o.team else None
        if team is not None and team.webhook:
            yield Target(team.id, TEAMS)
        return
    for staff_id in _people(role, o, unit, now):
        yield Target(staff_id, EMAIL)
        person = unit.person(staff_id)
        if person is not None and person.webhook:
            yield Target(PERSONAL + staff_id, TEAMS)


def _people(role: str, o: Occurrence, unit: Unit, now: datetime) -> Iterator[str]:
    team = unit.team(o.team) if o.team else None
    if role == "caseworker" and o.caseworker:
        yield o.caseworker
    elif role == "mentor" and o.caseworker:
        person = unit.person(o.caseworker)
        mentor = o.mentor or (person.mentor if person else None)
        if mentor:
            yield mentor
    elif role == "manager" and o.kind in OVERSIGHT:
        yield team.manager if team is not None and team.manager != o.staff else unit.head_of_unit
    elif role == "manager" and team is not None:
        yield team.manager
    elif role == "head_of_unit":
        yield unit.head_of_unit
    elif role == "requester" and o.staff:
        yield o.staff
    elif role == "occupational_health" and unit.occupational_health:
        yield unit.occupational_health
    elif role == "intake":
        yield from unit.intake
    elif role == "out_of_hours" and unit.out_of_hours and o.acute and not is_office_time(unit.office, now):
        yield unit.out_of_hours


def deliveries_for(occurrence: Occurrence, unit: Unit, now: datetime) -> list[NewDelivery]:
    """The deliveries an occurrence calls for (none for what nobody is told about)."""
    if occurrence.kind not in NOTIFIED:
        return []
    if occurrence.workplace is not None:
        return [workplace_delivery(occurrence, occurrence.workplace, t, unit, now)
                for t in targets(occurrence, unit, now)]  # fmt: skip
    if occurrence.review is not None:
        summary = occurrence.review
        return [review_delivery(summary, t, unit, now, occurrence) for t in targets(occurrence, unit, now)]
    notice = notice_for(occurrence, unit)
    return [
        new_delivery(notice, target, unit, now, occurrence.event_id, occurrence.family_key)
        for target in targets(occurrence, unit, now)
    ]


def new_delivery(
    notice: Notice, target: Target, unit: Unit, now: datetime, source_event_id: uuid.UUID, family_key: str
) -> NewDelivery:
    """One notice rendered for one target, due now, or held for the next office start."""
    held = _held(notice.kind, notice.acute, unit, now)
    tz = unit.office.tz
    if target.channel == TEAMS:
        card = adaptive_card(notice, tz, unit.language)
        subject, text, html = card["attachments"][0]["content"]["body"][0]["text"], "", None
        card_json: str | None = json.dumps(card, ensure_ascii=False)
    else:
        message = render(notice, unit.person_name(target.recipient), tz, unit.language)
        subject, text, html, card_json = message.subject, message.text, message.html, None
    return NewDelivery(
        source_event_id=source_event_id, recipient=target.recipient, channel=target.channel,
        kind=notice.kind, referral_id=notice.reference, family_key=family_key, subject=subject,
        body_text=text, body_html=html, card=card_json,
        not_before=next_office_start(unit.office, now) if held else now, held=held,
    )  # fmt: skip


def _held(kind: str, acute: bool, unit: Unit, now: datetime) -> bool:
    return unit.quiet_hours and not acute and kind not in IMMEDIATE and not is_office_time(unit.office, now)


def review_delivery(
    summary: AccessSummary, target: Target, unit: Unit, now: datetime, occurrence: Occurrence
) -> NewDelivery:
    """The monthly access review for one target: an email, or a card in the person's own chat."""
    names, home = functools.partial(staff_name, unit=unit), unit.link(None)
    # In quiet hours it waits for the office like other news, but goes on its own: a digest lists
    # subjects only and would drop the findings.
    waits = _held(occurrence.kind, False, unit, now)
    if target.channel == TEAMS:
        card = review_card(summary, names, unit.referral_link, home, unit.language)
        subject, text, html = card["attachments"][0]["content"]["body"][0]["text"], "", None
        card_json: str | None = json.dumps(card, ensure_ascii=False)
    else:
        name = unit.person_name(target.recipient)
        message = review_message(summary, name, names, unit.referral_link, home, unit.language)
        subject, text, html, card_json = message.subject, message.text, message.html, None
    return NewDelivery(
        source_event_id=occurrence.event_id, recipient=target.recipient, channel=target.channel,
        kind=occurrence.kind, referral_id=None, family_key=occurrence.family_key, subject=subject,
        body_text=text, body_html=html, card=card_json,
        not_before=next_office_start(unit.office, now) if waits else now,
    )  # fmt: skip


def workplace_delivery(
    occurrence: Occurrence, facts: WorkplaceFacts, target: Target, unit: Unit, now: datetime
) -> NewDelivery:
    """An overload flag, consultation or incident for one target. Quiet hours hold these like any
    other news; a consultation's email (it carries an invitation a digest would drop) waits for
    the office on its own instead."""
    o, tz, language = occurrence, unit.office.tz, unit.language
    names = workplace_names(o, facts, unit)
    link = unit.link(facts.referral_id if isinstance(facts, IncidentFacts) else None)
    notice = said(o.kind, facts, names, link, tz, language)
    held = _held(o.kind, False, unit, now)
    invite: str | None = None
    if target.channel == TEAMS:
        card = (team_card(o.kind, facts, names, link, tz, language)
                if isinstance(facts, ConsultationFacts) and not target.recipient.startswith(PERSONAL)
                else workplace_card(notice, language))  # fmt: skip
        subject, text, html = notice.subject, "", None
        card_json: str | None = json.dumps(card, ensure_ascii=False)
    else:
        message = workplace_message(notice, unit.person_name(target.recipient), language)
        subject, text, html, card_json = message.subject, message.text, message.html, None
        if isinstance(facts, ConsultationFacts):
            invite = consultation_invitation(o, facts, names, target.recipient, unit)
    return NewDelivery(
        source_event_id=o.event_id, recipient=target.recipient, channel=target.channel, kind=o.kind,
        referral_id=None, family_key=o.family_key, subject=subject, body_text=text, body_html=html,
        card=card_json, not_before=next_office_start(unit.office, now) if held else now,
        held=held and invite is None, invitation=invite,
    )  # fmt: skip


def workplace_names(o: Occurrence, facts: WorkplaceFacts, unit: Unit) -> Names:
    """The people, team and slot a workplace notice names."""
    responder = facts.responded_by if isinstance(facts, OverloadFacts) and facts.responded_by else None
    slot = unit.slot_titles.get(facts.slot, facts.slot) if isinstance(facts, ConsultationFacts) else ""
    return Names(
        staff=unit.person_name(o.staff) if o.staff else "",
        responder=unit.person_name(responder) if responder else "",
        team=unit.team_name(o.team) if o.team else "",
        slot=slot,
    )


def consultation_invitation(
    o: Occurrence, facts: ConsultationFacts, names: Names, recipient: str, unit: Unit
) -> str | None:
    """The invitation for the person booked, organised by the team's manager; none for a recipient
    or team the unit does not know (the email still goes)."""
    team = unit.team(o.team) if o.team else None
    organizer = unit.person(team.manager) if team is not None else None
    attendee = unit.person(recipient)
    if organizer is None or attendee is None:
        return None
    sides = (organizer.name, organizer.email), (attendee.name, attendee.email)
    entry = invitation(o.kind, facts, names, *sides, unit.tzid, o.occurred_at)
    return entry.to_json()
