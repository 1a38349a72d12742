"""Email channel over SMTP (aiosmtplib): STARTTLS unless disabled, auth, timeouts."""

from __future__ import annotations

import asyncio
import ssl
from email.charset import QP, SHORTEST, Charset
from email.header import Header
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.nonmultipart import MIMENonMultipart
from pathlib import Path
from typing import Any

import aiosmtplib
from aiosmtplib.typing import Default
from pydantic import BaseModel, Field, SecretStr

from services.notifications.ports import Ambiguous, Outgoing, Permanent, Retryable


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
    connect_timeout_s: float = Field(default=10.0, gt=0)
    # A private CA or self-signed relay certificate to trust (PEM); the system store otherwise.
    ca_file: Path | None = None


_UTF8 = Charset("utf-8")
_UTF8.header_encoding = SHORTEST
_UTF8.body_encoding = QP


def _text_part(content: str, subtype: str) -> Message:
    part = MIMENonMultipart("text", subtype)
    part.set_payload(content, _UTF8)  # sets charset and Content-Transfer-Encoding
    return part


# Connections kept open between messages (the worker sends a batch of up to 20 concurrently).
MAX_IDLE_CONNECTIONS = 20


class SmtpSender:
    """Sends one message per call; classifies failures for the delivery state machine."""

    def __init__(self, settings: SmtpSettings) -> None:
        self._s = settings
        self._tls = ssl.create_default_context(cafile=str(settings.ca_file) if settings.ca_file else None)
        self._idle: list[_TrackedSMTP] = []

    def compose(self, to: str, outgoing: Outgoing) -> Message:
        """The MIME message: plain text, plus an HTML alternative when there is one.

        Built with the `compat32` MIME classes: the header registry of `EmailMessage` parsed
        every header back and cost more than the rest of a delivery together (bench/). Text is
        UTF-8 in quoted-printable (7-bit clean for any relay); the subject an RFC 2047 word.
        """
        text = _text_part(outgoing.text, "plain")
        message: Message = text
        if outgoing.html:
            message = MIMEMultipart("alternative")
            message.attach(text)
            message.attach(_text_part(outgoing.html, "html"))
        message["From"] = self._s.sender
        message["To"] = to
        if outgoing.subject.isascii():
            message["Subject"] = outgoing.subject
        else:  # compat32 documents a Header value; the stubs know only str
            message["Subject"] = Header(outgoing.subject, _UTF8, header_name="Subject")  # type: ignore[assignment]
        if self._s.reply_to:
            message["Reply-To"] = self._s.reply_to
        return message

    async def send(self, address: str, message: Outgoing) -> None:
        """Send one message to one address, over STARTTLS unless it is disabled."""
        try:
            await asyncio.wait_for(self._send(self.compose(address, message)), self._s.timeout_s)
        except _NotSent as exc:
            raise Retryable(f"connection lost before the message: {exc.reason}") from exc.__cause__
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

    async def _send(self, message: Message) -> None:
        """Send over a kept-open connection when there is one, else over a new one.

        Connection set-up (TCP, EHLO, STARTTLS, AUTH) was most of the cost of an email (bench/).
        A kept connection the relay has meanwhile closed fails before DATA; the message is then
        sent once more over a new connection, because it certainly was not delivered.
        """
        kept = self._idle.pop() if self._idle else None
        if kept is not None and kept.is_connected:
            try:
                await self._over(kept, message)
                return
            except _NotSent:
                pass
        elif kept is not None:
            kept.close()
        fresh = _TrackedSMTP(
            hostname=self._s.host,
            port=self._s.port,
            start_tls=self._s.starttls,
            tls_context=self._tls if self._s.starttls else None,
            username=self._s.username,
            password=self._s.password.get_secret_value() if self._s.password else None,
            timeout=self._s.connect_timeout_s,
        )
        await fresh.connect()
        await self._over(fresh, message)

    async def _over(self, client: _TrackedSMTP, message: Message) -> None:
        """Send on `client`; keep it for the next message only if all went well."""
        client.data_started = False
        try:
            await client.send_message(message)
        except (aiosmtplib.SMTPServerDisconnected, ConnectionError, aiosmtplib.SMTPResponseException) as exc:
            client.close()
            before_data = not client.data_started
            if before_data and not isinstance(exc, aiosmtplib.SMTPResponseException):
                raise _NotSent(type(exc).__name__) from exc
            if before_data and isinstance(exc, aiosmtplib.SMTPResponseException) and exc.code == 421:
                raise _NotSent(f"SMTP {exc.code}") from exc  # the relay closes this connection
            raise
        except BaseException:
            client.close()  # a timeout or cancellation leaves the session in an unknown state
            raise
        if len(self._idle) < MAX_IDLE_CONNECTIONS:
            self._idle.append(client)
        else:
            client.close()


class _TrackedSMTP(aiosmtplib.SMTP):
    """An SMTP client that remembers whether DATA began: before it, nothing can have arrived."""

    data_started = False

    async def data(self, message: str | bytes, /, *, timeout: Any = Default.token) -> Any:
        """Mark the stage, then send DATA and the message."""
        self.data_started = True
        return await super().data(message, timeout=timeout)


class _NotSent(Exception):
    """The connection failed before DATA: the message certainly did not reach the relay."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
