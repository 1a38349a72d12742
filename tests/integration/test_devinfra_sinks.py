"""The SMTP and Teams sinks, each run as a real subprocess on free ports."""

from __future__ import annotations

import datetime as dt
import signal
import ssl
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

import aiosmtplib
import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from referral_router.devinfra.procs import free_port, spawn, stop_process, wait_for_http

REPO_ROOT = Path(__file__).resolve().parents[2]
# One client for the module: each bare http.get() builds a client (~0.1 s), and
# trust_env=False keeps any proxy settings away from 127.0.0.1.
http = httpx.Client(trust_env=False, timeout=10)


@dataclass
class Sink:
    proc: subprocess.Popen[bytes]
    http: str
    smtp_port: int = 0


def _start_sink(module: str, args: list[str], log: Path, http_port: int) -> Sink:
    argv = [sys.executable, "-m", f"referral_router.devinfra.{module}", *args]
    proc = spawn(module, argv, log, cwd=REPO_ROOT)
    http = f"http://127.0.0.1:{http_port}"
    try:
        wait_for_http(f"{http}/healthz", 20, name=module, proc=proc)
    except BaseException:
        stop_process(proc)
        raise
    return Sink(proc, http)


def _start_smtp_sink(log: Path, *extra: str) -> Sink:
    smtp_port, http_port = free_port(), free_port()
    args = ["--smtp-port", str(smtp_port), "--http-port", str(http_port), *extra]
    sink = _start_sink("smtp_sink", args, log, http_port)
    sink.smtp_port = smtp_port
    return sink


@pytest.fixture(scope="module")
def smtp_sink(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sink]:
    sink = _start_smtp_sink(tmp_path_factory.mktemp("smtp") / "smtp_sink.log")
    try:
        yield sink
    finally:
        stop_process(sink.proc)


@pytest.fixture(scope="module")
def teams_sink(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sink]:
    port = free_port()
    log = tmp_path_factory.mktemp("teams") / "teams_sink.log"
    sink = _start_sink("teams_sink", ["--port", str(port)], log, port)
    try:
        yield sink
    finally:
        stop_process(sink.proc)


@pytest.fixture
def smtp(smtp_sink: Sink) -> Sink:
    # The sink process is shared by the module; each test starts from empty.
    http.delete(f"{smtp_sink.http}/messages").raise_for_status()
    http.post(f"{smtp_sink.http}/control", json={"fail_next": 0}).raise_for_status()
    return smtp_sink


@pytest.fixture
def teams(teams_sink: Sink) -> Sink:
    http.delete(f"{teams_sink.http}/messages").raise_for_status()
    http.post(f"{teams_sink.http}/control", json={"count": 0}).raise_for_status()
    return teams_sink


def _mail(subject: str = "New referral", to: str = "duty@example.org") -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "router@example.org"
    msg["To"] = to
    msg["Subject"] = subject
    msg.set_content("A referral needs triage.")
    msg.add_alternative("<p>A referral needs <b>triage</b>.</p>", subtype="html")
    return msg


@pytest.mark.asyncio
async def test_a_mail_sent_over_smtp_is_listed_with_subject_text_and_html(smtp: Sink) -> None:
    await aiosmtplib.send(_mail(), hostname="127.0.0.1", port=smtp.smtp_port)

    messages = http.get(f"{smtp.http}/messages").json()

    assert len(messages) == 1
    got = messages[0]
    assert got["subject"] == "New referral"
    assert got["mail_from"] == "router@example.org"
    assert got["rcpt_tos"] == ["duty@example.org"]
    assert got["text"].strip() == "A referral needs triage."
    assert "<b>triage</b>" in got["html"]
    assert got["headers"]["To"] == "duty@example.org"
    assert "Subject: New referral" in got["raw"]
    assert dt.datetime.fromisoformat(got["received_at"]).tzinfo is not None


@pytest.mark.asyncio
async def test_smtp_messages_can_be_filtered_by_recipient_and_cleared(smtp: Sink) -> None:
    await aiosmtplib.send(_mail(to="a@example.org"), hostname="127.0.0.1", port=smtp.smtp_port)
    await aiosmtplib.send(_mail(to="b@example.org"), hostname="127.0.0.1", port=smtp.smtp_port)

    only_b = http.get(f"{smtp.http}/messages", params={"to": "b@example.org"}).json()
    cleared = http.delete(f"{smtp.http}/messages").json()

    assert [m["rcpt_tos"] for m in only_b] == [["b@example.org"]]
    assert cleared == {"deleted": 2}
    assert http.get(f"{smtp.http}/messages").json() == []


@pytest.mark.asyncio
async def test_an_injected_failure_refuses_the_next_recipient_with_451_then_recovers(
    smtp: Sink,
) -> None:
    http.post(f"{smtp.http}/control", json={"fail_next": 1, "code": 451}).raise_for_status()

    with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as refused:
        await aiosmtplib.send(_mail(), hostname="127.0.0.1", port=smtp.smtp_port)
    await aiosmtplib.send(_mail("Second try"), hostname="127.0.0.1", port=smtp.smtp_port)

    assert refused.value.recipients[0].code == 451
    assert [m["subject"] for m in http.get(f"{smtp.http}/messages").json()] == ["Second try"]


@pytest.mark.asyncio
async def test_an_injected_data_stage_failure_rejects_the_message_body(smtp: Sink) -> None:
    control = {"fail_next": 1, "code": 452, "stage": "data"}
    http.post(f"{smtp.http}/control", json=control).raise_for_status()

    with pytest.raises(aiosmtplib.SMTPDataError) as rejected:
        await aiosmtplib.send(_mail(), hostname="127.0.0.1", port=smtp.smtp_port)

    assert rejected.value.code == 452
    assert http.get(f"{smtp.http}/messages").json() == []


def _self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.mark.asyncio
async def test_a_starttls_sink_with_auth_accepts_only_the_right_password(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    flags = ["--require-starttls", "--cert", str(cert), "--key", str(key)]
    sink = _start_smtp_sink(
        tmp_path / "smtp_tls.log", *flags, "--auth-user", "router", "--auth-password", "s3cret"
    )
    client_tls = ssl.create_default_context()
    client_tls.check_hostname, client_tls.verify_mode = False, ssl.CERT_NONE

    async def send_as(password: str) -> None:
        await aiosmtplib.send(
            _mail(), hostname="127.0.0.1", port=sink.smtp_port, start_tls=True,
            tls_context=client_tls, username="router", password=password,
        )  # fmt: skip

    try:
        with pytest.raises(aiosmtplib.SMTPAuthenticationError):
            await send_as("wrong")
        await send_as("s3cret")
        messages = http.get(f"{sink.http}/messages").json()
    finally:
        stop_process(sink.proc)

    assert [(m["auth_user"], m["tls"]) for m in messages] == [("router", True)]


def test_a_posted_card_is_answered_202_with_an_empty_body_and_listed(teams: Sink) -> None:
    card = {"type": "message", "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive"}]}

    response = http.post(f"{teams.http}/webhook/north", json=card)
    listing = http.get(f"{teams.http}/messages").json()

    assert response.status_code == 202
    assert response.content == b""
    assert len(listing) == 1
    assert listing[0]["team"] == "north"
    assert listing[0]["body"] == card


def test_a_webhook_post_that_is_not_json_is_rejected_with_400(teams: Sink) -> None:
    response = http.post(f"{teams.http}/webhook/north", content=b"not json")

    assert response.status_code == 400
    assert http.get(f"{teams.http}/messages").json() == []


def test_injected_429s_carry_retry_after_store_nothing_and_then_stop(teams: Sink) -> None:
    control = {"status": 429, "retry_after": 2, "count": 2}
    http.post(f"{teams.http}/control", json=control).raise_for_status()

    answers = [http.post(f"{teams.http}/webhook/south", json={"n": n}) for n in range(3)]
    listing = http.get(f"{teams.http}/messages", params={"team": "south"}).json()

    assert [a.status_code for a in answers] == [429, 429, 202]
    assert [a.headers.get("Retry-After") for a in answers[:2]] == ["2", "2"]
    assert [m["body"] for m in listing] == [{"n": 2}]


@pytest.mark.parametrize("module", ["smtp_sink", "teams_sink"])
def test_a_sink_exits_with_code_zero_on_sigterm(module: str, tmp_path: Path) -> None:
    port = free_port()
    args = ["--port", str(port)] if module == "teams_sink" else [
        "--smtp-port", str(free_port()), "--http-port", str(port)]  # fmt: skip
    sink = _start_sink(module, args, tmp_path / f"{module}.log", port)
    try:
        sink.proc.send_signal(signal.SIGTERM)
        code = sink.proc.wait(timeout=10)
    finally:
        stop_process(sink.proc)

    assert code == 0
