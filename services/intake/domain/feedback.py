"""Feedback to a mandatory reporter (SoL 2025:400 19 kap. 6 §, issue 23): who is owed it, by which
channel, and the text, which says no more than the law allows.

The law lets the reporter be told one thing: whether an investigation was opened, not opened, or
is already under way. So the text holds the outcome and what identifies the report for the
reporter (the day it came in and intake's reference), never the child, the family, the concern or
the reasons for the decision. The subject of an email holds nothing about the report at all: the
handling is secret on the reporter's side too (OSL 40 kap. 7 g §).

Pure: the decrypted form's reporter part comes in as parsed JSON.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any, Literal

from services.intake.domain.reporting import is_mandatory_reporter

FeedbackChannel = Literal["email", "letter"]
Language = Literal["sv", "en"]
OUTCOMES = ("open_investigation", "no_investigation", "joined_ongoing")


class NotOwedFeedback(Exception):
    """The reporter is not owed feedback: a private or anonymous reporter gets none (19 kap. 6 §)."""

    def __init__(self) -> None:
        super().__init__("only a mandatory reporter who is not anonymous is given feedback")


class UnknownOutcome(Exception):
    """A decision the law's three outcomes do not cover: no feedback text is made for it."""


@dataclass(frozen=True)
class Recipient:
    """The mandatory reporter to tell: built only by `feedback_recipient`, so only for one owed it."""

    name: str
    organisation: str
    email: str | None


def feedback_recipient(reporter: Mapping[str, Any]) -> Recipient:
    """The reporter of the stored form as a recipient of feedback; NotOwedFeedback for a private
    or anonymous reporter, whatever else the form says."""
    if reporter.get("anonymous") or not is_mandatory_reporter(str(reporter.get("type", ""))):
        raise NotOwedFeedback
    email = reporter.get("email") or None
    return Recipient(str(reporter.get("name") or ""), str(reporter.get("organisation") or ""), email)


def channel_given(recipient: Recipient) -> FeedbackChannel:
    """The channel for a request made with the report: the organisation's email address the
    reporter gave, else a printed letter."""
    return "email" if recipient.email else "letter"


@dataclass(frozen=True)
class FeedbackRequest:
    """A mandatory reporter's request for feedback: with the report (`source="report"`, by the
    portal) or later, recorded by staff (`source="staff"`)."""

    referral_id: str
    requested_at: datetime
    channel: FeedbackChannel
    source: Literal["report", "staff"]
    recorded_by: str


@dataclass(frozen=True)
class FeedbackText:
    """An email's subject (nothing about the report) and the text of the email or letter."""

    subject: str
    greeting: str
    paragraphs: tuple[str, ...]


_SV = {
    "subject": "Återkoppling från socialtjänsten",
    "greeting": "Hej,",
    "intro": (
        "Ni har bett om återkoppling på den orosanmälan som kom in till socialtjänsten "
        "{received} (vår referens {reference})."
    ),
    "open_investigation": "Socialtjänsten har beslutat att inleda en utredning.",
    "no_investigation": "Socialtjänsten har beslutat att inte inleda en utredning.",
    "joined_ongoing": "Det pågår redan en utredning. Anmälan har lagts till i den.",
    "law": (
        "Vi får enligt 19 kap. 6 § socialtjänstlagen (2025:400) bara berätta detta, inte skälen "
        "eller något annat om ärendet."
    ),
    "reply": "Svara inte på det här meddelandet med uppgifter om barnet.",
}
_EN = {
    "subject": "Feedback from social services",
    "greeting": "Hello,",
    "intro": (
        "You asked for feedback on the report of concern that social services received on "
        "{received} (our reference {reference})."
    ),
    "open_investigation": "Social services have decided to open an investigation.",
    "no_investigation": "Social services have decided not to open an investigation.",
    "joined_ongoing": "An investigation is already under way. The report has been added to it.",
    "law": (
        "Under chapter 19 section 6 of the Social Services Act (2025:400) we may tell you only "
        "this, not the reasons or anything else about the matter."
    ),
    "reply": "Please do not reply to this message with details about the child.",
}
TEXTS: Mapping[Language, Mapping[str, str]] = {"sv": _SV, "en": _EN}


def feedback_text(
    decision: str, received_on: date, reference: str, language: Language = "sv"
) -> FeedbackText:
    """The feedback for `decision` on the report received on `received_on`, in plain words."""
    if decision not in OUTCOMES:
        raise UnknownOutcome(decision)
    words = TEXTS[language]
    intro = words["intro"].format(received=received_on.isoformat(), reference=reference)
    return FeedbackText(
        words["subject"], words["greeting"], (intro, words[decision], words["law"], words["reply"])
    )


def as_plain_text(text: FeedbackText, recipient: Recipient) -> str:
    """The email's body: the greeting, the paragraphs, the unit's signature line is the sender's."""
    lines = [text.greeting, ""]
    for paragraph in text.paragraphs:
        lines += [paragraph, ""]
    if recipient.organisation:
        lines.insert(0, f"{recipient.name}, {recipient.organisation}".strip(", "))
        lines.insert(1, "")
    return "\n".join(lines).rstrip() + "\n"


@dataclass(frozen=True)
class Decided:
    """The outcome of the preliminary assessment, as intake learned it from assignment."""

    referral_id: str
    decision: str
    decided_at: datetime


SendingState = Literal["pending", "sending", "sent", "letter", "failed", "unknown"]
# pending: to be sent by email (again, after `next_attempt_at`); sending: handed to the SMTP
# relay, outcome not yet recorded (after a crash it stays so and is never resent automatically);
# letter: to be printed and posted by staff; failed: refused for good (staff send a letter);
# unknown: the relay may have taken it; sent: done (the clock stops).
RETRY_DELAYS_S = (60, 300, 900, 3600)


@dataclass(frozen=True)
class Sending:
    """Feedback owed on a decided referral and how far its sending got."""

    referral_id: str
    decision: str
    decided_at: datetime
    channel: FeedbackChannel | None  # None: the channel the reporter gave in the report
    state: SendingState
    attempts: int
    next_attempt_at: datetime
    sent_at: datetime | None = None
    sent_by: str | None = None
    error: str | None = None


def owed_sending(
    decided: Decided, request: FeedbackRequest | None, owed_by_report: bool, now: datetime
) -> Sending | None:
    """Feedback to send once both a decision and a request exist: the request recorded by staff,
    or the one made with the report (assignment's decided event carries a due time only then)."""
    if request is None and not owed_by_report:
        return None
    channel = request.channel if request is not None else None
    return Sending(decided.referral_id, decided.decision, decided.decided_at, channel, "pending", 0, now)


def retry_later(sending: Sending, now: datetime, error: str) -> Sending:
    """A transient failure: back to pending, later each time; after the last delay, failed."""
    if sending.attempts >= len(RETRY_DELAYS_S):
        return replace(sending, state="failed", attempts=sending.attempts + 1, error=error)
    later = now + timedelta(seconds=RETRY_DELAYS_S[sending.attempts])
    return replace(
        sending, state="pending", attempts=sending.attempts + 1, next_attempt_at=later, error=error
    )


def marked_sent(sending: Sending, at: datetime, by: str) -> Sending:
    """Told: by email (`by` "system") or a letter staff recorded; the first sending counts."""
    if sending.state == "sent":
        return sending
    return replace(sending, state="sent", sent_at=at, sent_by=by, error=None)
