"""The working environment (issue 22): overload flags, consultations, threats and violence.

What staff and partners are told, in Swedish or English, from ids, codes and times only: the
events carry no free text (a flag's note, a consultation's topic stay in assignment) and nothing
about a client, and these texts have no place for either. A consultation's email to the person
who booked it carries an iCalendar invitation (`Invitation`, written out by the SMTP adapter).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass
from datetime import date, datetime, tzinfo
from html import escape
from typing import Any

from services.notifications.domain.cards import MAX_CARD_BYTES, card_size, envelope
from services.notifications.domain.messages import Message, labels, local

OVERLOAD = ("overload.flagged", "overload.escalated", "overload.responded")
CONSULTATION = ("consultation.booked", "consultation.reminder", "consultation.cancelled")
INCIDENT = ("incident.recorded",)
WORKPLACE_KINDS = frozenset((*OVERLOAD, *CONSULTATION, *INCIDENT))
UID_DOMAIN = "referral-router"


@dataclass(frozen=True)
class OverloadFacts:
    """An overload flag: who, when, until when it must be answered, and what was decided."""

    flag_id: uuid.UUID
    staff: str
    raised_at: datetime
    escalate_at: datetime | None = None
    action: str | None = None  # relieve | reassign | keep
    responded_by: str | None = None
    responded_at: datetime | None = None
    capacity_factor: float | None = None
    until: datetime | None = None
    reassigned: int | None = None


@dataclass(frozen=True)
class ConsultationFacts:
    """A consultation booked in a meeting slot: which, when, with whom, and its invitation version."""

    consultation_id: uuid.UUID
    slot: str
    requester: str
    starts_at: datetime
    ends_at: datetime
    sequence: int = 0
    referral_id: str | None = None
    cancelled_by: str | None = None


@dataclass(frozen=True)
class IncidentFacts:
    """A threat, violence or harassment against staff: date, type and channel, never names."""

    incident_id: uuid.UUID
    occurred_on: date
    type: str
    channel: str
    requester: str
    referral_id: str | None = None


WorkplaceFacts = OverloadFacts | ConsultationFacts | IncidentFacts


@dataclass(frozen=True)
class Invitation:
    """One version of a consultation's calendar entry (RFC 5546 iTIP): REQUEST or CANCEL.

    The UID is the consultation's and never changes; `sequence` is the event's; times are written
    with the unit's time zone (`tzid`) and its VTIMEZONE.
    """

    uid: str
    sequence: int
    method: str  # REQUEST | CANCEL
    starts_at: datetime
    ends_at: datetime
    tzid: str
    summary: str
    organizer_name: str
    organizer_email: str
    attendee_name: str
    attendee_email: str
    stamp: datetime
    description: str = ""

    def to_json(self) -> str:
        """As stored with the delivery."""
        raw = asdict(self)
        for name in ("starts_at", "ends_at", "stamp"):
            raw[name] = raw[name].isoformat()
        return json.dumps(raw, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> Invitation:
        """Read back what `to_json` stored."""
        raw: dict[str, Any] = json.loads(text)
        for name in ("starts_at", "ends_at", "stamp"):
            raw[name] = datetime.fromisoformat(raw[name])
        return cls(**raw)


def consultation_uid(consultation_id: uuid.UUID) -> str:
    """The calendar UID of a consultation: the same for the booking, every update and the cancel."""
    return f"{consultation_id}@{UID_DOMAIN}"


@dataclass(frozen=True)
class Said:
    """A workplace notice ready to render: subject, the sentence, facts and the link."""

    subject: str
    sentence: str
    facts: tuple[tuple[str, str], ...]
    link: str


_SV: dict[str, Any] = {
    "overload.flagged": (
        "Signal om hög arbetsbelastning: {staff}",
        "{staff} har signalerat att hen är vid sin gräns. Svara senast {escalate_at}"
        " – minska belastningen en tid, fördela om ärenden eller behåll, med en kommentar.",
    ),
    "overload.escalated": (
        "Obesvarad signal om hög arbetsbelastning: {staff}",
        "{staff} signalerade {raised_at} att hen är vid sin gräns och har ännu inte fått svar från sin chef.",
    ),
    "overload.responded": ("Svar på din signal om arbetsbelastning", "{responder} har svarat: {decision}"),
    "consultation.booked": (
        "Konsultation bokad: {summary} {starts}",
        "Din konsultation är bokad {starts}–{ends} med {team}. En kalenderinbjudan finns i meddelandet.",
    ),
    "consultation.reminder": (
        "Påminnelse: {summary} {starts}",
        "Påminnelse om din konsultation {starts}–{ends} med {team}.",
    ),
    "consultation.cancelled": (
        "Konsultation avbokad: {summary} {starts}",
        "Konsultationen {starts}–{ends} med {team} är avbokad.",
    ),
    "incident.recorded": (
        "Hot eller våld mot personal registrerat: {type}",
        "En händelse har registrerats: {type} ({channel}) den {occurred_on}, {team}.",
    ),
    "team_card": {
        "consultation.booked": "Konsultation bokad: {summary} {starts}–{ends}",
        "consultation.reminder": "Konsultation i morgon eller snart: {summary} {starts}–{ends}",
        "consultation.cancelled": "Konsultation avbokad: {summary} {starts}–{ends}",
    },
    "decisions": {
        "relieve": "din kapacitet minskas till {factor} % till och med {until}.",
        "reassign": "{n} ärenden fördelas om till kollegor.",
        "keep": "dina ärenden ligger kvar. Läs kommentaren i systemet.",
    },
    "types": {"threat": "hot", "violence": "våld", "harassment": "trakasserier"},
    "channels": {
        "in_person": "på plats",
        "home_visit": "hembesök",
        "phone": "telefon",
        "email": "e-post",
        "letter": "brev",
        "social_media": "sociala medier",
        "other": "annat",
    },
    "words": {
        "staff": "Medarbetare",
        "raised": "Signalerad",
        "answer_by": "Svara senast",
        "team": "Team",
        "time": "Tid",
        "booked_by": "Bokad av",
        "ref": "Referens",
        "type": "Typ",
        "channel": "Kanal",
        "date": "Datum",
        "no_team": "utan team",
        "footer": "Meddelandet innehåller inga uppgifter om barn, familjer eller anteckningar.",
    },
}
_EN: dict[str, Any] = {
    "overload.flagged": (
        "Overload flag: {staff}",
        "{staff} has flagged being at their limit. Answer by {escalate_at} – reduce the load for a"
        " while, reassign referrals or keep them, with a comment.",
    ),
    "overload.escalated": (
        "Unanswered overload flag: {staff}",
        "{staff} flagged being at their limit at {raised_at} and has had no answer from their manager.",
    ),
    "overload.responded": ("Answer to your overload flag", "{responder} has answered: {decision}"),
    "consultation.booked": (
        "Consultation booked: {summary} {starts}",
        "Your consultation is booked {starts}–{ends} with {team}. A calendar invitation is attached.",
    ),
    "consultation.reminder": (
        "Reminder: {summary} {starts}",
        "A reminder of your consultation {starts}–{ends} with {team}.",
    ),
    "consultation.cancelled": (
        "Consultation cancelled: {summary} {starts}",
        "The consultation {starts}–{ends} with {team} is cancelled.",
    ),
    "incident.recorded": (
        "Threat or violence against staff recorded: {type}",
        "An incident has been recorded: {type} ({channel}) on {occurred_on}, {team}.",
    ),
    "team_card": {
        "consultation.booked": "Consultation booked: {summary} {starts}–{ends}",
        "consultation.reminder": "Consultation coming up: {summary} {starts}–{ends}",
        "consultation.cancelled": "Consultation cancelled: {summary} {starts}–{ends}",
    },
    "decisions": {
        "relieve": "your capacity is reduced to {factor} % until {until}.",
        "reassign": "{n} referrals are reassigned to colleagues.",
        "keep": "your referrals stay with you. Read the comment in the system.",
    },
    "types": {"threat": "threat", "violence": "violence", "harassment": "harassment"},
    "channels": {
        "in_person": "in person",
        "home_visit": "home visit",
        "phone": "phone",
        "email": "email",
        "letter": "letter",
        "social_media": "social media",
        "other": "other",
    },
    "words": {
        "staff": "Staff member",
        "raised": "Flagged",
        "answer_by": "Answer by",
        "team": "Team",
        "time": "Time",
        "booked_by": "Booked by",
        "ref": "Reference",
        "type": "Type",
        "channel": "Channel",
        "date": "Date",
        "no_team": "no team",
        "footer": "This message holds no details about children, families or notes.",
    },
}
TEXTS: dict[str, dict[str, Any]] = {"sv": _SV, "en": _EN}


@dataclass(frozen=True)
class Names:
    """How people, teams and slots read, resolved by the caller from the unit."""

    staff: str = ""  # the flagged person, or who booked / recorded
    responder: str = ""
    team: str = ""
    slot: str = ""  # the meeting slot's title


def said(kind: str, facts: WorkplaceFacts, names: Names, link: str, tz: tzinfo, language: str) -> Said:
    """The subject, sentence and facts of a workplace notice."""
    texts = TEXTS[language]
    words: dict[str, str] = texts["words"]
    subject, sentence = texts[kind]
    values, rows = _values(facts, names, tz, texts)
    rows_out = tuple((words[key], value) for key, value in rows if value)
    return Said(subject.format(**values), sentence.format(**values), rows_out, link)


def _values(
    facts: WorkplaceFacts, names: Names, tz: tzinfo, texts: dict[str, Any]
) -> tuple[dict[str, str], list[tuple[str, str]]]:
    if isinstance(facts, OverloadFacts):
        return _overload(facts, names, tz, texts)
    if isinstance(facts, ConsultationFacts):
        values = {"summary": names.slot, "team": names.team, "starts": local(facts.starts_at, tz),
                  "ends": facts.ends_at.astimezone(tz).strftime("%H:%M")}  # fmt: skip
        rows = [("time", f"{values['starts']}–{values['ends']}"), ("team", names.team),
                ("booked_by", names.staff), ("ref", facts.referral_id or "")]  # fmt: skip
        return values, rows
    team = names.team or texts["words"]["no_team"]
    values = {"type": texts["types"][facts.type], "channel": texts["channels"][facts.channel],
              "occurred_on": facts.occurred_on.isoformat(), "team": team}  # fmt: skip
    rows = [("type", values["type"]), ("channel", values["channel"]), ("date", values["occurred_on"]),
            ("team", team), ("ref", facts.referral_id or "")]  # fmt: skip
    return values, rows


def _overload(
    facts: OverloadFacts, names: Names, tz: tzinfo, texts: dict[str, Any]
) -> tuple[dict[str, str], list[tuple[str, str]]]:
    escalate_at = local(facts.escalate_at, tz) if facts.escalate_at else ""
    values = {"staff": names.staff, "raised_at": local(facts.raised_at, tz), "escalate_at": escalate_at,
              "responder": names.responder, "decision": decision(facts, tz, texts)}  # fmt: skip
    rows = [("staff", names.staff), ("team", names.team), ("raised", values["raised_at"])]
    if facts.action is None:
        rows.append(("answer_by", escalate_at))
    return values, rows


def decision(facts: OverloadFacts, tz: tzinfo, texts: dict[str, Any]) -> str:
    """What the manager decided, in plain words (the comment itself stays in the system)."""
    if facts.action is None:
        return ""
    factor = round((facts.capacity_factor or 1.0) * 100)
    until = local(facts.until, tz) if facts.until else "–"
    template: str = texts["decisions"][facts.action]
    return template.format(factor=factor, until=until, n=facts.reassigned or 0)


def workplace_message(notice: Said, recipient: str, language: str) -> Message:
    """The email to one person."""
    greeting = labels(language)["greeting"].format(name=recipient)
    link_word, footer = labels(language)["link"], TEXTS[language]["words"]["footer"]
    lines = [f"{title}: {value}" for title, value in notice.facts]
    link_line = f"{link_word}: {notice.link}"
    text = "\n".join([greeting, "", notice.sentence, "", *lines, "", link_line, "", footer])
    rows = "".join(f"<tr><th>{escape(t)}</th><td>{escape(v)}</td></tr>" for t, v in notice.facts)
    html = (
        f"<html><body><p>{escape(greeting)}</p><p>{escape(notice.sentence)}</p><table>{rows}</table>"
        f'<p><a href="{escape(notice.link)}">{escape(link_word)}</a></p>'
        f"<p><small>{escape(footer)}</small></p></body></html>"
    )
    return Message(notice.subject, text + "\n", html)


def workplace_card(notice: Said, language: str) -> dict[str, Any]:
    """The card for a person's own chat."""
    body: list[dict[str, Any]] = [
        {"type": "TextBlock", "text": notice.subject, "weight": "Bolder", "wrap": True},
        {"type": "TextBlock", "text": notice.sentence, "wrap": True},
        {"type": "FactSet", "facts": [{"title": t, "value": v} for t, v in notice.facts]},
    ]
    card = envelope(body, notice.link, labels(language)["link"])
    if card_size(card) > MAX_CARD_BYTES:
        raise ValueError("card exceeds 20 KB")
    return card


def team_card(
    kind: str, facts: ConsultationFacts, names: Names, link: str, tz: tzinfo, language: str
) -> dict[str, Any]:
    """The team channel's card about a consultation: when, which slot, who booked. No topic."""
    title: str = TEXTS[language]["team_card"][kind]
    full = said(kind, facts, names, link, tz, language)
    heading = title.format(summary=names.slot, starts=local(facts.starts_at, tz),
                           ends=facts.ends_at.astimezone(tz).strftime("%H:%M"))  # fmt: skip
    return workplace_card(Said(heading, full.sentence, full.facts, link), language)


def invitation(
    kind: str, facts: ConsultationFacts, names: Names, organizer: tuple[str, str], attendee: tuple[str, str],
    tzid: str, stamp: datetime,
) -> Invitation:  # fmt: skip
    """The calendar entry a consultation email carries: a cancel for `consultation.cancelled`,
    else a request; the reminder repeats the request unchanged (same SEQUENCE), so a calendar that
    has it already keeps it and one that lost it gets it back."""
    cancelled = kind == "consultation.cancelled"
    return Invitation(
        uid=consultation_uid(facts.consultation_id), sequence=facts.sequence,
        method="CANCEL" if cancelled else "REQUEST", starts_at=facts.starts_at, ends_at=facts.ends_at,
        tzid=tzid, summary=names.slot, organizer_name=organizer[0], organizer_email=organizer[1],
        attendee_name=attendee[0], attendee_email=attendee[1], stamp=stamp,
        description=names.team,
    )  # fmt: skip
