"""Teams channel over a Workflows webhook (DESIGN.md §3a): 202 is success; the URL is a secret."""

from __future__ import annotations

import httpx
from pydantic import BaseModel, Field

from services.notifications.domain.delivery import Ambiguous, Permanent, Retryable
from services.notifications.domain.outgoing import Outgoing
from services.notifications.ports import HandOver, nothing_to_record


class TeamsSettings(BaseModel):
    """Webhook client settings (`TEAMS__…`)."""

    connect_timeout_s: float = Field(default=5.0, gt=0)
    timeout_s: float = Field(default=15.0, gt=0)


def retry_after(response: httpx.Response) -> float | None:
    """Seconds from a numeric Retry-After header, if there is one."""
    value = response.headers.get("retry-after", "")
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


class TeamsSender:
    """Posts one Adaptive Card per call; never logs or reports the webhook URL."""

    def __init__(self, settings: TeamsSettings, client: httpx.AsyncClient | None = None) -> None:
        timeout = httpx.Timeout(settings.timeout_s, connect=settings.connect_timeout_s)
        self._client = client or httpx.AsyncClient(timeout=timeout, follow_redirects=False)

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
        classify(response)


def classify(response: httpx.Response) -> None:
    """202/200 succeed; 429 and 5xx are retryable; any other 4xx is permanent."""
    status = response.status_code
    if status in (200, 202):
        return
    if status == 429 or status >= 500:
        raise Retryable(f"HTTP {status}", retry_after(response))
    raise Permanent(f"HTTP {status}")
