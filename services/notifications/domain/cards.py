"""Adaptive Cards for Teams Workflows webhooks, in the envelope of DESIGN.md §3a, under 20 KB."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import tzinfo
from typing import Any

from services.notifications.domain.messages import Notice, facts, headline, labels

MAX_CARD_BYTES = 20_000


def envelope(body: list[dict[str, Any]], link: str, link_title: str) -> dict[str, Any]:
    """A card of these blocks with one button opening `link`, in the webhook's message envelope."""
    content = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
        "actions": [{"type": "Action.OpenUrl", "title": link_title, "url": link}],
    }
    attachment = {
        "contentType": "application/vnd.microsoft.card.adaptive",
        "contentUrl": None,
        "content": content,
    }
    return {"type": "message", "attachments": [attachment]}


def card_size(card: dict[str, Any]) -> int:
    """The card's size on the wire, in bytes."""
    return len(json.dumps(card, ensure_ascii=False).encode())


def adaptive_card(notice: Notice, tz: tzinfo, language: str = "sv") -> dict[str, Any]:
    """The card posted to a team's channel."""
    subject, said = headline(notice, tz, language)
    body: list[dict[str, Any]] = [
        {"type": "TextBlock", "text": subject, "weight": "Bolder", "wrap": True},
        {"type": "TextBlock", "text": said, "wrap": True},
        {"type": "FactSet", "facts": [{"title": t, "value": v} for t, v in facts(notice, tz, language)]},
    ]
    card = envelope(body, notice.link, labels(language)["link"])
    if card_size(card) > MAX_CARD_BYTES:
        raise ValueError("card exceeds 20 KB")
    return card


def digest_card(subjects: Sequence[str], link: str, language: str = "sv") -> dict[str, Any]:
    """One card listing what was held; lines that would break 20 KB are summarised as a count."""
    words = labels(language)
    title = {
        "type": "TextBlock",
        "text": words["digest"].format(n=len(subjects)),
        "weight": "Bolder",
        "wrap": True,
    }
    lines: list[dict[str, Any]] = []
    for index, subject in enumerate(subjects):
        lines.append({"type": "TextBlock", "text": f"- {subject}", "wrap": True})
        if card_size(envelope([title, *lines], link, words["link"])) > MAX_CARD_BYTES - 200:
            lines[-1] = {"type": "TextBlock", "text": f"(+{len(subjects) - index})", "wrap": True}
            break
    return envelope([title, *lines], link, words["link"])
