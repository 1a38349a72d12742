"""Email channel over SMTP (aiosmtplib): STARTTLS unless disabled, auth, timeouts."""

from __future__ import annotations

from email.message import EmailMessage

import aiosmtplib
from pydantic import BaseModel, Field, SecretStr

from services.notifications.ports import Ambiguous, Permanent, Retryable


class SmtpSettings(BaseModel):
    """SMTP relay settings (`SMTP__…`)."""

    host: str = "127.0.0.1"
    port: int = Field(default=1025, ge=1, le=65535)
    starttls: bool = True
    username: str | None = None
    password: SecretStr | None = None
    sender: str = "referral-router@kommun.example"
    reply_to: str | None = None
    timeout_s: float = Field(default=15.0, gt=0)


class SmtpSender:
    """Sends one message per call; classifies failures for the delivery state machine."""

    def __init__(self, settings: SmtpSettings) -> None:
        self._s = settings

    async def send(self, to: str, subject: str, text: str) -> None:
        """Send a plain-text message to one address."""
        message = EmailMessage()
        message["From"] = self._s.sender
        message["To"] = to
        message["Subject"] = subject
        if self._s.reply_to:
            message["Reply-To"] = self._s.reply_to
        message.set_content(text)
        try:
            await aiosmtplib.send(
                message,
                hostname=self._s.host,
                port=self._s.port,
                start_tls=self._s.starttls,
                username=self._s.username,
                password=self._s.password.get_secret_value() if self._s.password else None,
                timeout=self._s.timeout_s,
            )
        except (aiosmtplib.SMTPConnectError, aiosmtplib.SMTPConnectTimeoutError, ConnectionError) as exc:
            raise Retryable(f"cannot connect: {type(exc).__name__}") from exc
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            if all(400 <= c < 500 for c in codes):
                raise Retryable(f"recipient deferred {codes}") from exc
            raise Permanent(f"recipient refused {codes}") from exc
        except aiosmtplib.SMTPResponseException as exc:
            if 400 <= exc.code < 500:
                raise Retryable(f"SMTP {exc.code}") from exc
            raise Permanent(f"SMTP {exc.code}") from exc
        except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError, TimeoutError) as exc:
            # The server may already have accepted the message: never resend automatically.
            raise Ambiguous(f"connection lost mid-send: {type(exc).__name__}") from exc
