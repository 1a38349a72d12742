"""The Teams sender honours Retry-After from a real HTTP server, in seconds or as an HTTP date
(RFC 9110 §10.2.3): the delivery is retried no sooner than the webhook asked."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from services.notifications.adapters.teams import TeamsSender, TeamsSettings
from services.notifications.domain.delivery import Retryable
from services.notifications.domain.outgoing import Outgoing
from shared.clock import FixedClock

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
CARD = Outgoing("Nytt ärende", "", None, {"type": "message", "attachments": []})


class Busy(BaseHTTPRequestHandler):
    """Answers every POST with 429 and the Retry-After value the test set on the server."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.server.posts += 1  # type: ignore[attr-defined]
        self.send_response(429)
        self.send_header("Retry-After", self.server.retry_after)  # type: ignore[attr-defined]
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        """Quiet: the test reads the answers, not the server's log."""


@pytest.fixture
def webhook() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Busy)
    server.posts = 0  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("90", 90.0),
        (format_datetime(NOW + timedelta(minutes=3), usegmt=True), 180.0),  # IMF-fixdate
        ((NOW + timedelta(minutes=3)).strftime("%a %b %d %H:%M:%S %Y"), 180.0),  # asctime
        (format_datetime(NOW - timedelta(minutes=3), usegmt=True), 0.0),  # already past
    ],
)
async def test_a_429_from_a_real_server_is_retried_after_the_retry_after_it_gave(webhook, header, seconds):
    webhook.retry_after = header  # type: ignore[attr-defined]
    sender = TeamsSender(TeamsSettings(timeout_s=5), clock=FixedClock(NOW))
    try:
        with pytest.raises(Retryable) as refused:
            await sender.send(f"http://127.0.0.1:{webhook.server_port}/webhook/team-a", CARD)
    finally:
        await sender.aclose()
    assert webhook.posts == 1  # type: ignore[attr-defined]
    assert refused.value.retry_after_s == seconds
