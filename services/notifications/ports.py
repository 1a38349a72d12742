"""The outcome classes every channel sender raises, and the sender protocol."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol


class Retryable(Exception):
    """Certainly not delivered, and worth trying again later (after `retry_after_s` if given)."""

    def __init__(self, reason: str, retry_after_s: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after_s = retry_after_s


class Permanent(Exception):
    """Certainly not delivered, and retrying will not help."""


class Ambiguous(Exception):
    """May or may not have reached the recipient: mark unknown, never resend automatically."""


@dataclass(frozen=True)
class Outgoing:
    """One rendered message: email parts, or a Teams card."""

    subject: str
    text: str
    html: str | None = None
    card: dict[str, Any] | None = None


HandOver = Callable[[], Awaitable[None]]
"""Called by a sender just before any part of the message can reach the other side (before SMTP
DATA, before the webhook POST). It returns once that moment is recorded; if it raises, the
sender sends nothing and lets the exception through. A sender that has not called it has
certainly sent nothing."""


async def nothing_to_record() -> None:
    return None


class Sender(Protocol):
    """Sends one message to one address (an email address or a webhook URL)."""

    async def send(
        self, address: str, message: Outgoing, hand_over: HandOver = nothing_to_record
    ) -> None: ...
