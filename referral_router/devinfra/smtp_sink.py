"""An SMTP server that keeps every message in memory and lists them over HTTP.

Run: ``python -m referral_router.devinfra.smtp_sink --smtp-port 1025 --http-port 8025``

HTTP on 127.0.0.1:<http-port>:
  GET /messages[?to=addr&subject=s]  received messages, oldest first
  GET /arrivals?after=ID              only id, subject, rcpt_tos and received_at of messages
                                     with a larger id (cheap to poll under load; bench/)
  DELETE /messages                   forget them
  POST /control {"fail_next": N, "code": 451, "stage": "rcpt"|"data"|"any", "delay_s": 0,
                 "delay_stage": "data"|"rcpt"}
                                     answer the next N RCPT/DATA with that code; hold every
                                     DATA (or every RCPT, before the client may send the
                                     message) for delay_s seconds before answering
  GET /healthz                       200 once SMTP and HTTP both listen
"""

from __future__ import annotations

import argparse
import asyncio
import builtins
import email
import email.header
import email.parser
import email.policy
import ssl
import sys
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import uvloop
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from referral_router.devinfra.sinkhttp import (
    HOST,
    Message,
    MessageStore,
    json_object,
    serve,
    store_routes,
    utc_now_iso,
)

STAGES = ("rcpt", "data", "any")


class FailureInjector:
    """Counts down injected transient failures for RCPT and/or DATA."""

    def __init__(self, remaining: int = 0, code: int = 451, stage: str = "any") -> None:
        self.remaining = remaining
        self.code = code
        self.stage = stage
        self.delay_s = 0.0
        self.delay_stage = "data"

    def take(self, stage: str) -> str | None:
        """Return an SMTP error reply if this command should fail, else None."""
        if self.remaining <= 0 or self.stage not in (stage, "any"):
            return None
        self.remaining -= 1
        return f"{self.code} {self.code // 100}.3.0 Injected failure (smtp_sink)"

    def state(self) -> dict[str, Any]:
        """Current settings, as JSON."""
        return {
            "fail_next": self.remaining, "code": self.code, "stage": self.stage,
            "delay_s": self.delay_s, "delay_stage": self.delay_stage,
        }  # fmt: skip

    async def hold(self, stage: str) -> None:
        """Wait `delay_s` when this command is the one to hold."""
        if self.delay_s > 0 and self.delay_stage == stage:
            await asyncio.sleep(self.delay_s)


def parse_message(raw: bytes, envelope: Envelope | _Envelope, session: Session | None) -> Message:
    """Turn one received message into the JSON shape served by ``GET /messages``."""
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)  # guaranteed by policy.default
    headers: dict[str, str] = {}
    for name, value in msg.items():
        headers.setdefault(name, str(value))
    return {
        "mail_from": envelope.mail_from,
        "rcpt_tos": list(envelope.rcpt_tos),
        "subject": str(msg.get("Subject", "")),
        "headers": headers,
        "text": _body(msg, "plain"),
        "html": _body(msg, "html"),
        "raw": raw.decode("utf-8", errors="replace"),
        "received_at": utc_now_iso(),
        "auth_user": session.auth_data if session is not None and session.authenticated else None,
        "tls": session is not None and session.ssl is not None,
    }


def arrival(raw: bytes, envelope: Envelope, session: Session) -> Message:
    """What is stored when a message arrives: the envelope, the subject and the time.

    Parsing the MIME structure costs milliseconds per message, on the same cores as the system
    under test (bench/), so the remaining fields are filled in only when someone lists them.
    """
    headers = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(raw)
    subject = str(email.header.make_header(email.header.decode_header(headers.get("Subject", ""))))
    return {
        "mail_from": envelope.mail_from,
        "rcpt_tos": list(envelope.rcpt_tos),
        "subject": subject,
        "received_at": utc_now_iso(),
        "auth_user": session.auth_data if session.authenticated else None,
        "tls": session.ssl is not None,
    }


class LazyStore(MessageStore):
    """A message store that parses each message fully only on its first listing."""

    def __init__(self) -> None:
        super().__init__()
        self._unparsed: dict[int, bytes] = {}

    def add_raw(self, raw: bytes, envelope: Envelope, session: Session) -> Message:
        """Store an arrival now; keep the raw bytes for `list`."""
        message = self.add(arrival(raw, envelope, session))
        self._unparsed[message["id"]] = raw
        return message

    def list(self) -> builtins.list[Message]:
        """All messages, oldest first, every field filled in (as `parse_message` gives them)."""
        for message in self._messages:
            raw = self._unparsed.pop(message["id"], None)
            if raw is not None:
                full = parse_message(raw, _Envelope(message["mail_from"], message["rcpt_tos"]), None)
                full.pop("received_at")
                full.pop("auth_user")
                full.pop("tls")
                message.update(full)
        return super().list()

    def clear(self) -> int:
        """Forget every message."""
        self._unparsed.clear()
        return super().clear()


class _Envelope:
    """The two envelope fields `parse_message` reads, for a message parsed after the session."""

    def __init__(self, mail_from: str | None, rcpt_tos: builtins.list[str]) -> None:
        self.mail_from = mail_from
        self.rcpt_tos = rcpt_tos


def _body(msg: EmailMessage, subtype: str) -> str | None:
    part = msg.get_body(preferencelist=(subtype,))
    if part is None:
        return None
    content = part.get_content()
    return content if isinstance(content, str) else None


class SinkHandler:
    """aiosmtpd handler: store messages, or fail on demand."""

    def __init__(self, store: LazyStore, failures: FailureInjector) -> None:
        self.store = store
        self.failures = failures

    async def handle_RCPT(  # name fixed by aiosmtpd
        self, server: SMTP, session: Session, envelope: Envelope, address: str,
        rcpt_options: list[str],
    ) -> str:  # fmt: skip
        """Accept the recipient unless a failure is injected."""
        await self.failures.hold("rcpt")
        failure = self.failures.take("rcpt")
        if failure is not None:
            return failure
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(  # name fixed by aiosmtpd
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        """Store the message unless a failure is injected."""
        failure = self.failures.take("data")
        if failure is not None:
            return failure
        raw = envelope.original_content or b""
        await self.failures.hold("data")
        self.store.add_raw(raw, envelope, session)
        return "250 Message accepted for delivery"


def make_authenticator(user: str, password: str) -> Any:
    """aiosmtpd authenticator accepting exactly ``user``/``password`` (PLAIN/LOGIN)."""

    def authenticate(
        server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == user
            and auth_data.password.decode() == password
        )
        if ok:
            return AuthResult(success=True, auth_data=user)
        # handled=False makes aiosmtpd itself answer 535; with the default
        # (handled=True) it would send nothing and the client would hang.
        return AuthResult(success=False, handled=False)

    return authenticate


def arrivals_route(store: MessageStore) -> Route:
    """``GET /arrivals?after=ID``: when each message arrived, without bodies (for bench/)."""

    async def arrivals(request: Request) -> Response:
        try:
            after = int(request.query_params.get("after", "0"))
        except ValueError:
            return JSONResponse({"error": "after must be an integer"}, status_code=400)
        fields = ("id", "subject", "rcpt_tos", "received_at")
        return JSONResponse([{f: m[f] for f in fields} for m in store.after(after)])

    return Route("/arrivals", arrivals, methods=["GET"])


def control_route(failures: FailureInjector) -> Route:
    """``POST /control`` to arm failure injection."""

    async def control(request: Request) -> Response:
        body = await json_object(request)
        if body is None:
            return JSONResponse({"error": "expected a JSON object"}, status_code=400)
        fail_next = body.get("fail_next", 0)
        code = body.get("code", 451)
        stage = body.get("stage", "any")
        delay_s = body.get("delay_s", 0)
        delay_stage = body.get("delay_stage", "data")
        valid = isinstance(fail_next, int) and fail_next >= 0 and isinstance(code, int)
        valid = valid and isinstance(delay_s, int | float) and 0 <= delay_s <= 600
        valid = valid and delay_stage in ("data", "rcpt")
        if not valid or not 400 <= code <= 599 or stage not in STAGES:
            return JSONResponse({"error": "bad fail_next/code/stage/delay_s/delay_stage"}, status_code=400)
        failures.remaining, failures.code, failures.stage = fail_next, code, stage
        failures.delay_s, failures.delay_stage = float(delay_s), delay_stage
        return JSONResponse(failures.state())

    return Route("/control", control, methods=["POST"])


def smtp_options(args: argparse.Namespace) -> dict[str, Any]:
    """Keyword arguments for aiosmtpd's SMTP from the TLS/AUTH command-line flags."""
    options: dict[str, Any] = {"hostname": "smtp-sink.localhost", "enable_SMTPUTF8": True}
    if args.cert:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.cert, args.key)
        options["tls_context"] = context
        options["require_starttls"] = args.require_starttls
    elif args.require_starttls:
        raise SystemExit("--require-starttls needs --cert and --key")
    if args.auth_user:
        options["authenticator"] = make_authenticator(args.auth_user, args.auth_password or "")
        options["auth_required"] = True
        # Credentials only over TLS when TLS is available at all.
        options["auth_require_tls"] = bool(args.cert)
    return options


async def run(args: argparse.Namespace) -> None:
    """Listen for SMTP and HTTP until SIGTERM/SIGINT."""
    store = LazyStore()
    failures = FailureInjector(args.fail_next, args.fail_code)
    handler = SinkHandler(store, failures)
    options = smtp_options(args)
    loop = asyncio.get_running_loop()
    # hostname is fixed above so aiosmtpd does not call getfqdn() (slow DNS).
    smtp_server = await loop.create_server(lambda: SMTP(handler, loop=loop, **options), HOST, args.smtp_port)
    routes = [*store_routes(store, {"to": "rcpt_tos", "subject": "subject"})]
    app = Starlette(routes=[*routes, arrivals_route(store), control_route(failures)])
    await serve(app, args.http_port, also_close=[smtp_server])


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line flags of the SMTP sink."""
    parser = argparse.ArgumentParser(description="SMTP sink with an HTTP listing API")
    parser.add_argument("--smtp-port", type=int, default=1025)
    parser.add_argument("--http-port", type=int, default=8025)
    parser.add_argument("--require-starttls", action="store_true")
    parser.add_argument("--cert", type=Path)
    parser.add_argument("--key", type=Path)
    parser.add_argument("--auth-user")
    parser.add_argument("--auth-password")
    parser.add_argument("--fail-next", type=int, default=0, help="fail the next N RCPT/DATA")
    parser.add_argument("--fail-code", type=int, default=451)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the sink in the foreground (on uvloop: it shares the benchmark's cores)."""
    uvloop.run(run(parse_args(argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
