"""Email texts in Swedish and English, rendered from the facts that may be told."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from html import escape
from typing import Any

KINDS = (
    "referral.received",
    "referral.assigned",
    "referral.reassigned",
    "deadline.approaching",
    "deadline.breached",
    "rotation.handover",
    "escalation",
    "access.break_glass",
)


@dataclass(frozen=True)
class Message:
    """A rendered email: subject, plain text and the same in HTML."""

    subject: str
    text: str
    html: str


@dataclass(frozen=True)
class Notice:
    """What happened, for which team and caseworker, the reference, due times and a link.

    It has no field for categories, names of clients or the concern: they cannot be printed.
    """

    kind: str
    link: str
    reference: str | None = None
    team: str | None = None
    other_team: str | None = None
    caseworker: str | None = None
    acute: bool = False
    deadlines: tuple[tuple[str, datetime], ...] = ()
    at: datetime | None = None
    staff: str | None = None  # the member of staff who acted (break-the-glass), as staff read it
    until: datetime | None = None  # when what they were given ends (break-the-glass access)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"no template for notice kind {self.kind!r}; known: {', '.join(KINDS)}")


_SV: dict[str, Any] = {
    "referral.received": ("Ny anmälan: {ref}", "En ny anmälan har kommit in och ska fördelas."),
    "referral.assigned": ("Nytt ärende: {ref}", "Ett ärende har fördelats till {cw} i {team}."),
    "referral.reassigned": ("Ärende omfördelat: {ref}", "Ärendet har fördelats om till {cw} i {team}."),
    "deadline.approaching": (
        "Tidsfrist närmar sig – {what}: {ref}",
        "Tidsfristen för {what} i ärendet i {team} närmar sig.",
    ),
    "deadline.breached": (
        "Tidsfrist överskriden – {what}: {ref}",
        "Tidsfristen för {what} i ärendet i {team} har passerats.",
    ),
    "rotation.handover": (
        "Överlämning: {team} har mottagningen",
        "{team} tar över mottagningen från {other} {at}.",
    ),
    "escalation": (
        "Akut ärende ej kvitterat: {ref}",
        "Ett akut ärende i {team} har inte kvitterats sedan {at}.",
    ),
    "access.break_glass": (
        "Nödåtkomst använd: {ref}",
        "{staff} öppnade ärendet {ref} med nödåtkomst {at}. Åtkomsten gäller till {until}."
        " Skälet finns i åtkomstloggen.",
    ),
    "labels": {
        "acute": "AKUT: ",
        "greeting": "Hej {name}!",
        "ref": "Referens",
        "team": "Team",
        "cw": "Handläggare",
        "staff": "Medarbetare",
        "at": "Tidpunkt",
        "until": "Åtkomst till",
        "link": "Öppna i systemet",
        "digest": "Sammanfattning: {n} meddelanden",
        "digest_body": "Meddelanden sedan kontorstid slutade:",
        "footer": "Meddelandet innehåller inga uppgifter om barnet, familjen eller anmälan.",
    },
    "deadlines": {
        "protection_assessment": "Skyddsbedömning senast",
        "preliminary_assessment": "Förhandsbedömning senast",
        "investigation": "Utredning klar senast",
        "reporter_feedback": "Återkoppling senast",
        "registration": "Registrering i verksamhetssystemet senast",
    },
    "deadline_names": {
        "protection_assessment": "skyddsbedömning",
        "preliminary_assessment": "förhandsbedömning",
        "investigation": "utredning",
        "reporter_feedback": "återkoppling till anmälaren",
        "registration": "registrering i verksamhetssystemet",
    },
}
_EN: dict[str, Any] = {
    "referral.received": ("New referral: {ref}", "A new referral has arrived and needs assigning."),
    "referral.assigned": ("New referral: {ref}", "A referral has been assigned to {cw} in {team}."),
    "referral.reassigned": (
        "Referral reassigned: {ref}",
        "The referral has been reassigned to {cw} in {team}.",
    ),
    "deadline.approaching": (
        "Deadline approaching – {what}: {ref}",
        "The deadline for the {what} of the referral in {team} is near.",
    ),
    "deadline.breached": (
        "Deadline breached – {what}: {ref}",
        "The deadline for the {what} of the referral in {team} has passed.",
    ),
    "rotation.handover": ("Handover: {team} is on duty", "{team} takes over intake from {other} at {at}."),
    "escalation": (
        "Acute referral not acknowledged: {ref}",
        "An acute referral in {team} is unacknowledged since {at}.",
    ),
    "access.break_glass": (
        "Break-the-glass access used: {ref}",
        "{staff} opened the referral {ref} with break-the-glass access at {at}. The access lasts"
        " until {until}. The reason is in the access log.",
    ),
    "labels": {
        "acute": "ACUTE: ",
        "greeting": "Hello {name},",
        "ref": "Reference",
        "team": "Team",
        "cw": "Caseworker",
        "staff": "Staff member",
        "at": "Time",
        "until": "Access until",
        "link": "Open in the system",
        "digest": "Digest: {n} messages",
        "digest_body": "Messages since office hours ended:",
        "footer": "This message holds no details about the child, the family or the report.",
    },
    "deadlines": {
        "protection_assessment": "Protection assessment due",
        "preliminary_assessment": "Preliminary assessment due",
        "investigation": "Investigation due",
        "reporter_feedback": "Reporter feedback due",
        "registration": "Registration in the case management system due",
    },
    "deadline_names": {
        "protection_assessment": "protection assessment",
        "preliminary_assessment": "preliminary assessment",
        "investigation": "investigation",
        "reporter_feedback": "feedback to the reporter",
        "registration": "registration in the case management system",
    },
}
TEXTS: dict[str, dict[str, Any]] = {"sv": _SV, "en": _EN}


def _texts(language: str) -> dict[str, Any]:
    if language not in TEXTS:
        raise ValueError(f"unsupported language {language!r}; use one of {sorted(TEXTS)}")
    return TEXTS[language]


def labels(language: str) -> dict[str, str]:
    """The fixed words of a language."""
    found: dict[str, str] = _texts(language)["labels"]
    return found


def local(at: datetime, tz: tzinfo) -> str:
    """A time as staff read it: local, to the minute."""
    return at.astimezone(tz).strftime("%Y-%m-%d %H:%M")


def headline(notice: Notice, tz: tzinfo, language: str) -> tuple[str, str]:
    """The subject and the one sentence saying what happened (a deadline notice names its deadline)."""
    texts = _texts(language)
    pair: tuple[str, str] = texts[notice.kind]
    at = local(notice.at, tz) if notice.at else ""
    what = ", ".join(texts["deadline_names"].get(name, name) for name, _ in notice.deadlines)
    values = {
        "ref": notice.reference or "",
        "team": notice.team or "",
        "cw": notice.caseworker or "",
        "other": notice.other_team or "",
        "at": at,
        "what": what,
        "staff": notice.staff or "",
        "until": local(notice.until, tz) if notice.until else "",
    }
    subject = pair[0].format(**values)
    if notice.acute:
        subject = labels(language)["acute"] + subject
    return subject, pair[1].format(**values)


def facts(notice: Notice, tz: tzinfo, language: str) -> list[tuple[str, str]]:
    """Title/value pairs: reference, team, caseworker, due times."""
    words = labels(language)
    names: dict[str, str] = _texts(language)["deadlines"]
    pairs = [(words["ref"], notice.reference), (words["team"], notice.team), (words["cw"], notice.caseworker),
             (words["staff"], notice.staff)]  # fmt: skip
    found = [(title, value) for title, value in pairs if value]
    found += [(names.get(name, name), local(due, tz)) for name, due in notice.deadlines]
    if notice.until is not None and notice.at is not None:
        found += [(words["at"], local(notice.at, tz)), (words["until"], local(notice.until, tz))]
    return found


def render(notice: Notice, recipient: str, tz: tzinfo, language: str = "sv") -> Message:
    """The email to one member of staff."""
    words = labels(language)
    subject, said = headline(notice, tz, language)
    lines = [f"{title}: {value}" for title, value in facts(notice, tz, language)]
    text = "\n".join(
        [
            words["greeting"].format(name=recipient),
            "",
            said,
            "",
            *lines,
            "",
            f"{words['link']}: {notice.link}",
            "",
            words["footer"],
        ]
    )
    rows = "".join(
        f"<tr><th>{escape(t)}</th><td>{escape(v)}</td></tr>" for t, v in facts(notice, tz, language)
    )
    html = (
        f"<html><body><p>{escape(words['greeting'].format(name=recipient))}</p><p>{escape(said)}</p>"
        f'<table>{rows}</table><p><a href="{escape(notice.link)}">{escape(words["link"])}</a></p>'
        f"<p><small>{escape(words['footer'])}</small></p></body></html>"
    )
    return Message(subject, text + "\n", html)


def digest_message(subjects: Sequence[str], recipient: str, link: str, language: str = "sv") -> Message:
    """One email listing everything held outside office hours."""
    words = labels(language)
    subject = words["digest"].format(n=len(subjects))
    text = "\n".join(
        [
            words["greeting"].format(name=recipient),
            "",
            words["digest_body"],
            *(f"- {s}" for s in subjects),
            "",
            f"{words['link']}: {link}",
            "",
            words["footer"],
        ]
    )
    items = "".join(f"<li>{escape(s)}</li>" for s in subjects)
    html = (
        f"<html><body><p>{escape(words['greeting'].format(name=recipient))}</p>"
        f"<p>{escape(words['digest_body'])}</p><ul>{items}</ul>"
        f'<p><a href="{escape(link)}">{escape(words["link"])}</a></p>'
        f"<p><small>{escape(words['footer'])}</small></p></body></html>"
    )
    return Message(subject, text + "\n", html)
