"""Teams channel over a Workflows webhook (DESIGN.md §3a): 202 is success; the URL is a secret."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx
from pydantic import BaseModel, Field

from services.notifications.domain.delivery import Ambiguous, Permanent, Retryable
from services.notifications.domain.outgoing import Outgoing
from services.notifications.ports import HandOver, nothing_to_record
from shared.clock import Clock, SystemClock


class TeamsSettings(BaseModel):
    """Webhook client settings (`TEAMS__…`)."""

    connect_timeout_s: float = Field(default=5.0, gt=0)
    timeout_s: float = Field(default=15.0, gt=0)


# Longer pauses are taken as this: a webhook asking for more than a day is broken, not busy.
MAX_RETRY_AFTER_S = 86_400.0
_DELAY_SECONDS = re.compile(r"^[0-9]{1,12}$")


def retry_after(response: httpx.Response, now: datetime) -> float | None:
    """Seconds to wait from a Retry-After header (RFC 9110 §10.2.3): delay-seconds, or an HTTP
    date (IMF-fixdate, or the obsolete RFC 850 and asctime forms) counted from `now`; a date
    already past is 0. None when there is no usable header."""
    value = response.headers.get("retry-after", "").strip()
    if _DELAY_SECONDS.fullmatch(value):
        return min(float(value), MAX_RETRY_AFTER_S)
    try:
        until = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if until.tzinfo is None:  # HTTP dates are always GMT (RFC 9110 §5.6.7)
        until = until.replace(tzinfo=UTC)
    return min(max(0.0, (until - now).total_seconds()), MAX_RETRY_AFTER_S)


class TeamsSender:
    """Posts one Adaptive Card per call; never logs or reports the webhook URL."""

    def __init__(
        self, settings: TeamsSettings, client: httpx.AsyncClient | None = None, clock: Clock | None = None
    ) -> None:
        timeout = httpx.Timeout(settings.timeout_s, connect=settings.connect_timeout_s)
        self._client = client or httpx.AsyncClient(timeout=timeout, follow_redirects=False)
        self._clock = clock or SystemClock()

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()

    async def send(self, address: str, message: Outgoing, hand_over: HandOver = nothing_to_record) -> None:
        """POST the card; classify the answer for the delivery state machine."""
        if message.card is None:
            raise Permanent("a Teams delivery without a card")
        await hand_over()
        try:
            response = await self._client.post(address, json=message.card)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise Retryable(f"cannot connect: {type(exc).__name__}") from None
        except (httpx.TimeoutException, httpx.RemoteProtocolError, httpx.ReadError) as exc:
            # The request left: Teams may have posted it. `from None` keeps the URL out of logs.
            raise Ambiguous(f"no answer after sending: {type(exc).__name__}") from None
        except httpx.HTTPError as exc:
            raise Retryable(f"transport error: {type(exc).__name__}") from None
        classify(response, self._clock.now())


def classify(response: httpx.Response, now: datetime) -> None:
    """202/200 succeed; 429 and 5xx are retryable (after Retry-After, read at `now`); any other
    4xx is permanent."""
    status = response.status_code
    if status in (200, 202):
        return
    if status == 429 or status >= 500:
        raise Retryable(f"HTTP {status}", retry_after(response, now))
    raise Permanent(f"HTTP {status}")
