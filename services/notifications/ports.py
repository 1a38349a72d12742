"""The outcome classes every channel sender raises, for the delivery state machine."""

from __future__ import annotations

from typing import Protocol


class Retryable(Exception):
    """Certainly not delivered, and worth trying again later."""


class Permanent(Exception):
    """Certainly not delivered, and retrying will not help."""


class Ambiguous(Exception):
    """May or may not have reached the recipient: mark unknown, never resend automatically."""


class EmailSender(Protocol):
    """Sends one email."""

    async def send(self, to: str, subject: str, text: str) -> None: ...
