"""The email as written to the relay (services/notifications/adapters/smtp.py `compose`): standard MIME
that any mail client reads back to exactly the text, HTML and subject the worker rendered."""

from __future__ import annotations

import email
import email.policy

from hypothesis import given
from hypothesis import strategies as st

from services.notifications.adapters.smtp import SmtpSender, SmtpSettings
from services.notifications.domain.outgoing import Outgoing

SENDER = SmtpSender(
    SmtpSettings(sender="socialtjansten@kommun.example", reply_to="svara-inte@kommun.example")
)


def parsed(raw: bytes) -> email.message.EmailMessage:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, email.message.EmailMessage)
    return message


def test_a_swedish_message_with_html_reads_back_exactly_and_is_seven_bit_with_crlf():
    text = "Hej Åsa!\n\nDu har fått ett nytt ärende: R-7Q2K9M3XH4TB.\n.\nFrom the duty team\n" + "ö" * 200
    html = "<p>Hej Åsa!</p>\n<p>Nytt ärende</p>"
    raw = SENDER.compose(
        "asa.lind@kommun.example", Outgoing("Nytt ärende – skyddsbedömning: R-7Q2K", text, html)
    )

    assert raw.isascii()
    assert b"\n" not in raw.replace(b"\r\n", b"")  # every line ends in CRLF
    assert max(len(line) for line in raw.split(b"\r\n")) <= 78
    message = parsed(raw)
    assert message["Subject"] == "Nytt ärende – skyddsbedömning: R-7Q2K"
    assert (message["From"], message["To"]) == ("socialtjansten@kommun.example", "asa.lind@kommun.example")
    assert message["Reply-To"] == "svara-inte@kommun.example"
    assert message.get_content_type() == "multipart/alternative"
    plain, rich = message.iter_parts()
    assert plain.get_content().replace("\r\n", "\n") == text
    assert rich.get_content_type() == "text/html"
    assert rich.get_content().replace("\r\n", "\n") == html


def test_a_text_only_message_has_a_single_part():
    message = parsed(SENDER.compose("a@kommun.example", Outgoing("Digest", "Tre ärenden väntar.", None)))
    assert message.get_content_type() == "text/plain"
    assert message.get_content_charset() == "utf-8"
    assert message.get_content() == "Tre ärenden väntar."


@given(
    subject=st.text(st.characters(exclude_categories=("Cs", "Cc")), min_size=1, max_size=120),
    text=st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\r"), max_size=400),
    html=st.none()
    | st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\r"), max_size=200),
)
def test_any_subject_and_body_survive_the_round_trip(subject, text, html):
    message = parsed(SENDER.compose("x@kommun.example", Outgoing(subject, text, html)))

    assert str(message["Subject"]) == subject.strip() or str(message["Subject"]) == subject
    plain = next(iter(message.iter_parts())) if html else message
    assert plain.get_content().replace("\r\n", "\n") == text
