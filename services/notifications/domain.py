"""What staff are told: messages with no client details (DOMAIN.md §6). Standard library only.

A message says that there is something to do, for whom on the staff, by when, and links into
the system. Never anything about the child, the family, the reporter or the concern.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo


@dataclass(frozen=True)
class Message:
    """A rendered notification."""

    subject: str
    text: str


@dataclass(frozen=True)
class AssignedFacts:
    """The facts of an assignment that may be told: staff, team, reference, due times."""

    referral_id: str
    team_name: str
    caseworker_name: str
    acute: bool
    protection_due: datetime | None
    preliminary_due: datetime | None
    link: str


_TEXT = {
    "sv": {
        "subject": "Nytt ärende: {ref}",
        "acute": "AKUT: ",
        "greeting": "Hej {name}!",
        "body": "Ett nytt ärende har fördelats till dig i {team}.",
        "ref": "Referens: {ref}",
        "protection": "Skyddsbedömning senast: {at}",
        "preliminary": "Förhandsbedömning senast: {at}",
        "link": "Öppna ärendet: {link}",
        "footer": "Det här meddelandet innehåller inga uppgifter om barnet eller familjen.",
    },
    "en": {
        "subject": "New referral: {ref}",
        "acute": "ACUTE: ",
        "greeting": "Hello {name},",
        "body": "A new referral has been assigned to you in {team}.",
        "ref": "Reference: {ref}",
        "protection": "Protection assessment due: {at}",
        "preliminary": "Preliminary assessment due: {at}",
        "link": "Open the referral: {link}",
        "footer": "This message holds no details about the child or the family.",
    },
}


def _local(at: datetime, tz: tzinfo) -> str:
    return at.astimezone(tz).strftime("%Y-%m-%d %H:%M")


def assigned_message(facts: AssignedFacts, tz: tzinfo, language: str = "sv") -> Message:
    """The email to a caseworker who was given a referral."""
    t = _TEXT[language]
    subject = (t["acute"] if facts.acute else "") + t["subject"].format(ref=facts.referral_id)
    lines = [
        t["greeting"].format(name=facts.caseworker_name),
        "",
        t["body"].format(team=facts.team_name),
        t["ref"].format(ref=facts.referral_id),
    ]
    if facts.protection_due is not None:
        lines.append(t["protection"].format(at=_local(facts.protection_due, tz)))
    if facts.preliminary_due is not None:
        lines.append(t["preliminary"].format(at=_local(facts.preliminary_due, tz)))
    lines += [t["link"].format(link=facts.link), "", t["footer"]]
    return Message(subject, "\n".join(lines) + "\n")
