"""What composing one email costs: the standard library's `EmailMessage` (what notifications uses)
against the bytes written out by hand it replaced (issue 25).

Run: `.venv/bin/python -m bench.email_compose [--n 2000]`

Both build the same message (a Swedish subject, plain text and an HTML alternative, UTF-8
quoted-printable). The figure is CPU per message on one core; compare it with the delivery's
SMTP round trip and the rate the unit sees, not with other machines' figures.
"""

from __future__ import annotations

import argparse
import binascii
import secrets
import timeit

from services.notifications.adapters.smtp import SmtpSender, SmtpSettings
from services.notifications.domain.outgoing import Outgoing

MESSAGE = Outgoing(
    "Nytt ärende – skyddsbedömning: R-7Q2K9M3XH4TB",
    "Hej Åsa!\n\nDu har fått ett nytt ärende att bedöma.\n" * 10,
    "<p>Hej Åsa!</p>\n<p>Du har fått ett nytt ärende att bedöma.</p>\n" * 10,
)


def _part(content: str, subtype: str) -> bytes:
    crlf = content.replace("\r\n", "\n").replace("\n", "\r\n")
    head = f'Content-Type: text/{subtype}; charset="utf-8"\r\n'
    head += "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
    return head.encode("ascii") + binascii.b2a_qp(crlf.encode("utf-8"), istext=True)


def by_hand(to: str, outgoing: Outgoing) -> bytes:
    """The composer before issue 25, reduced to its work (headers, two parts, a boundary)."""
    head = f"From: a@kommun.example\r\nTo: {to}\r\nSubject: {outgoing.subject}\r\nMIME-Version: 1.0\r\n"
    boundary = f"=_{secrets.token_hex(16)}".encode("ascii")
    return (
        head.encode("utf-8")
        + b'Content-Type: multipart/alternative;\r\n boundary="' + boundary + b'"\r\n\r\n'
        + b"--" + boundary + b"\r\n" + _part(outgoing.text, "plain") + b"\r\n"
        + b"--" + boundary + b"\r\n" + _part(outgoing.html or "", "html") + b"\r\n"
        + b"--" + boundary + b"--\r\n"
    )  # fmt: skip


def main() -> None:
    """Print milliseconds per message for both composers."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=2000, help="messages per composer")
    n = parser.parse_args().n
    sender = SmtpSender(SmtpSettings(sender="socialtjansten@kommun.example"))
    standard = timeit.timeit(lambda: sender.compose("asa@kommun.example", MESSAGE), number=n) / n
    hand = timeit.timeit(lambda: by_hand("asa@kommun.example", MESSAGE), number=n) / n
    print(f"EmailMessage (policy SMTP): {standard * 1e3:.2f} ms per message")
    print(f"written out by hand:        {hand * 1e3:.2f} ms per message")


if __name__ == "__main__":
    main()
