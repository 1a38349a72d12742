"""The email as written to the relay (services/notifications/adapters/smtp.py `compose`): standard MIME
that any mail client reads back to exactly the text, HTML and subject the worker rendered, with the
headers RFC 5322 and RFC 3834 ask of an automatic message, parsed strictly."""

from __future__ import annotations

import email.policy
import re
from datetime import UTC, datetime
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import parsedate_to_datetime

from hypothesis import given
from hypothesis import strategies as st

from services.notifications.adapters.smtp import SmtpSender, SmtpSettings
from services.notifications.domain.outgoing import Outgoing
from shared.clock import FixedClock

NOW = datetime(2026, 11, 21, 22, 41, 7, tzinfo=UTC)
SETTINGS = SmtpSettings(sender="socialtjansten@kommun.example", reply_to="svara-inte@kommun.example")
SENDER = SmtpSender(SETTINGS, FixedClock(NOW))
STRICT = email.policy.default.clone(raise_on_defect=True)
# RFC 5322 §3.6.4: msg-id = "<" id-left "@" id-right ">", both dot-atoms here.
MSG_ID = re.compile(r"<[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@kommun\.example>")


def body(text: str) -> str:
    """The text as a reader gets it back: a text part always ends with a line end."""
    return text if text.endswith("\n") else text + "\n"


def parsed(raw: bytes) -> EmailMessage:
    """The message as a strict reader sees it: any defect in it raises."""
    message = BytesParser(policy=STRICT).parsebytes(raw)
    assert isinstance(message, EmailMessage)
    assert not message.defects
    assert all(not part.defects for part in message.walk())
    return message


def assert_standard_headers(raw: bytes, message: EmailMessage) -> None:
    """Date, Message-ID, Auto-Submitted present once each; every line CRLF-terminated."""
    assert b"\n" not in raw.replace(b"\r\n", b"")
    assert b"\r" not in raw.replace(b"\r\n", b"")
    assert raw.endswith(b"\r\n")
    for name in ("Date", "Message-ID", "Auto-Submitted", "From", "To", "Subject", "MIME-Version"):
        assert len(message.get_all(name, [])) == 1, name
    assert parsedate_to_datetime(message["Date"]) == NOW
    assert MSG_ID.fullmatch(message["Message-ID"])
    assert message["Auto-Submitted"] == "auto-generated"


def test_a_swedish_message_with_html_reads_back_exactly_and_is_seven_bit_with_crlf():
    text = "Hej Åsa!\n\nDu har fått ett nytt ärende: R-7Q2K9M3XH4TB.\n.\nFrom the duty team\n" + "ö" * 200
    html = "<p>Hej Åsa!</p>\n<p>Nytt ärende</p>"
    raw = SENDER.compose(
        "asa.lind@kommun.example", Outgoing("Nytt ärende – skyddsbedömning: R-7Q2K", text, html)
    )

    assert raw.isascii()
    assert max(len(line) for line in raw.split(b"\r\n")) <= 78
    message = parsed(raw)
    assert_standard_headers(raw, message)
    assert message["Subject"] == "Nytt ärende – skyddsbedömning: R-7Q2K"
    assert (message["From"], message["To"]) == ("socialtjansten@kommun.example", "asa.lind@kommun.example")
    assert message["Reply-To"] == "svara-inte@kommun.example"
    assert message.get_content_type() == "multipart/alternative"
    plain, rich = message.iter_parts()
    assert plain.get_content().replace("\r\n", "\n") == body(text)
    assert rich.get_content_type() == "text/html"
    assert rich.get_content().replace("\r\n", "\n") == body(html)


def test_a_text_only_message_has_a_single_part():
    raw = SENDER.compose("a@kommun.example", Outgoing("Digest", "Tre ärenden väntar.", None))
    message = parsed(raw)
    assert_standard_headers(raw, message)
    assert message.get_content_type() == "text/plain"
    assert message.get_content_charset() == "utf-8"
    assert message.get_content() == "Tre ärenden väntar.\r\n"


@given(
    subject=st.text(st.characters(exclude_categories=("Cs", "Cc")), min_size=1, max_size=120),
    text=st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\r"), max_size=400),
    html=st.none()
    | st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\r"), max_size=200),
)
def test_any_subject_and_body_survive_the_round_trip(subject, text, html):
    raw = SENDER.compose("x@kommun.example", Outgoing(subject, text, html))
    message = parsed(raw)
    assert_standard_headers(raw, message)

    assert str(message["Subject"]) == subject.strip() or str(message["Subject"]) == subject
    plain = next(iter(message.iter_parts())) if html else message
    assert plain.get_content().replace("\r\n", "\n") == body(text)


def test_every_message_gets_its_own_message_id():
    outgoing = Outgoing("Digest", "Text", "<p>Text</p>")
    ids = {parsed(SENDER.compose("a@kommun.example", outgoing))["Message-ID"] for _ in range(50)}
    assert len(ids) == 50


def test_a_line_break_in_a_subject_cannot_start_a_header_of_its_own():
    raw = SENDER.compose("a@kommun.example", Outgoing("Nytt ärende\r\nBcc: evil@example.com", "Text"))
    message = parsed(raw)
    assert message["Bcc"] is None
    assert message["Subject"] == "Nytt ärende Bcc: evil@example.com"


def test_the_message_id_names_the_senders_domain_however_the_sender_is_written():
    for sender in ("Socialtjänsten <noreply@soc.kommun.example>", "noreply@soc.kommun.example"):
        raw = SmtpSender(SmtpSettings(sender=sender), FixedClock(NOW)).compose(
            "a@kommun.example", Outgoing("S", "T")
        )
        assert parsed(raw)["Message-ID"].endswith("@soc.kommun.example>")
