"""The feedback email to a reporter over SMTP (aiosmtplib), and its settings (`FEEDBACK__…`).

Failures are told apart as notifications' sender does: no connection, or a 4xx before the message,
is worth a retry; a 5xx is final; a connection lost while the message was on its way may have
delivered it, so it is never resent. Reasons carry SMTP codes and exception classes only, never
the address or the text.
"""

from __future__ import annotations

import asyncio
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Literal

import aiosmtplib
from pydantic import BaseModel, Field, SecretStr

from services.intake.ports import FeedbackMaybeSent, FeedbackNotSent


class FeedbackSettings(BaseModel):
    """`FEEDBACK__…`: the unit's SMTP relay for feedback to reporters, the language, the timer."""

    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(default=1025, ge=1, le=65535)
    starttls: bool = True
    username: str | None = None
    password: SecretStr | None = None
    sender: str = Field(default="socialtjanst@kommun.example", description="From address of feedback emails")
    language: Literal["sv", "en"] = Field(default="sv", description="language of the feedback text")
    timeout_s: float = Field(default=15.0, gt=0)
    interval_s: float = Field(default=30.0, gt=0, description="seconds between looks for feedback to send")


class SmtpFeedbackMailer:
    """One connection per message: feedback is a few emails a day, not worth keeping one open."""

    def __init__(self, settings: FeedbackSettings) -> None:
        self._s = settings

    def compose(self, to: str, subject: str, body: str) -> EmailMessage:
        """A plain-text UTF-8 message."""
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = self._s.sender, to, subject
        message["Date"], message["Message-ID"] = (
            formatdate(localtime=False),
            make_msgid(domain="referral-router"),
        )
        message.set_content(body)
        return message

    async def send(self, to: str, subject: str, body: str) -> None:
        """Send over STARTTLS unless it is disabled; the failure classified."""
        s = self._s
        password = s.password.get_secret_value() if s.password else None
        try:
            await asyncio.wait_for(
                aiosmtplib.send(
                    self.compose(to, subject, body), hostname=s.smtp_host, port=s.smtp_port,
                    start_tls=s.starttls, username=s.username, password=password, timeout=s.timeout_s,
                ),
                s.timeout_s * 2,
            )  # fmt: skip
        except (
            aiosmtplib.SMTPConnectError,
            aiosmtplib.SMTPConnectTimeoutError,
            ConnectionRefusedError,
        ) as exc:
            raise FeedbackNotSent(f"cannot connect: {type(exc).__name__}", retry=True) from exc
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            raise FeedbackNotSent(
                f"recipient refused {codes}", retry=all(400 <= c < 500 for c in codes)
            ) from exc
        except aiosmtplib.SMTPDataError as exc:
            raise FeedbackNotSent(f"SMTP {exc.code}", retry=400 <= exc.code < 500) from exc
        except aiosmtplib.SMTPResponseException as exc:
            raise FeedbackNotSent(f"SMTP {exc.code}", retry=400 <= exc.code < 500) from exc
        except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError, TimeoutError) as exc:
            raise FeedbackMaybeSent(f"connection lost: {type(exc).__name__}") from exc
