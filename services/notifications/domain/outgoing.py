"""What a claimed delivery sends, and where: one message, or one digest for several held ones."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from services.notifications.domain.cards import digest_card
from services.notifications.domain.delivery import Claim, Permanent
from services.notifications.domain.messages import digest_message
from services.notifications.domain.routing import PERSONAL, TEAMS
from services.notifications.domain.unit import Unit
from services.notifications.domain.workplace import Invitation


@dataclass(frozen=True)
class ClaimedDelivery:
    """A delivery as a claim returns it: what to send and to whom, and under which claim."""

    claim: Claim
    source_event_id: uuid.UUID
    recipient: str
    channel: str
    kind: str
    referral_id: str | None
    family_key: str
    subject: str
    body_text: str
    body_html: str | None = None
    card: str | None = None
    held: bool = False
    handed_over: bool = False  # only as the reaper finds it
    invitation: str | None = None  # a consultation's calendar entry (`Invitation` as JSON)


@dataclass(frozen=True)
class Outgoing:
    """One rendered message: email parts, or a Teams card."""

    subject: str
    text: str
    html: str | None = None
    card: dict[str, Any] | None = None
    invitation: Invitation | None = None  # sent as text/calendar with the email


def address(delivery: ClaimedDelivery, unit: Unit) -> str:
    """Where a delivery goes: the person's email, or the team's webhook URL (a secret)."""
    if delivery.channel == TEAMS and delivery.recipient.startswith(PERSONAL):
        staff = unit.person(delivery.recipient.removeprefix(PERSONAL))
        if staff is None or not staff.webhook:
            raise Permanent("recipient has no Teams webhook of their own in the unit config")
        return staff.webhook
    if delivery.channel == TEAMS:
        team = unit.team(delivery.recipient)
        if team is None or not team.webhook:
            raise Permanent("team has no Teams webhook in the unit config")
        return team.webhook
    person = unit.person(delivery.recipient)
    if person is None:
        raise Permanent("recipient is not in the unit config")
    return person.email


def message_for(deliveries: Sequence[ClaimedDelivery], unit: Unit) -> Outgoing:
    """The message for one delivery, or one digest listing several held ones."""
    first = deliveries[0]
    if len(deliveries) == 1 and not first.held:
        card = json.loads(first.card) if first.card else None
        invite = Invitation.from_json(first.invitation) if first.invitation else None
        return Outgoing(first.subject, first.body_text, first.body_html, card, invite)
    subjects = [d.subject for d in deliveries]
    link = unit.link(None)
    if first.channel == TEAMS:
        return Outgoing(subjects[0], "", None, digest_card(subjects, link, unit.language))
    message = digest_message(subjects, unit.person_name(first.recipient), link, unit.language)
    return Outgoing(message.subject, message.text, message.html)
