"""An open-loop load generator for the portal API: requests leave on a fixed schedule.

A closed loop (send the next request when the previous one answered) slows down when the system
slows down and so hides queueing; here request i leaves at `start + i / rate` whatever happened
to earlier ones, and its latency is measured from that scheduled instant.

The client is a minimal HTTP/1.1 keep-alive client on asyncio streams: it runs on the same two
cores as the system under test, so it must cost as little CPU per request as possible (httpx
costs several times more).
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from tests.factories import encode, submission
from tests.helpers import signed_headers

MAX_CONNECTIONS = 256
STALE: tuple[type[BaseException], ...] = (ConnectionError, asyncio.IncompleteReadError)


class RawHttpClient:
    """POSTs JSON over a pool of keep-alive connections to one host."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port or 80
        self._path = parts.path or "/"
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self._open = 0
        self._slot = asyncio.Semaphore(MAX_CONNECTIONS)

    async def post(self, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        """Send one POST; return (status, body). Raises on connection errors."""
        async with self._slot:
            reused = bool(self._idle)
            reader, writer = self._idle.pop() if reused else await self._connect()
            retry_on: tuple[type[BaseException], ...] = STALE if reused else ()
            try:
                status, payload, keep = await self._exchange(reader, writer, body, headers)
            except retry_on:
                # The server closed an idle keep-alive connection (uvicorn does after 5 s): the
                # request never reached the application. Once more on a new connection.
                writer.close()
                self._open -= 1
                reader, writer = await self._connect()
                status, payload, keep = await self._exchange_or_close(reader, writer, body, headers)
            except BaseException:
                writer.close()
                self._open -= 1
                raise
            if keep:
                self._idle.append((reader, writer))
            else:
                writer.close()
                self._open -= 1
            return status, payload

    async def _exchange_or_close(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, body: bytes, headers: dict[str, str]
    ) -> tuple[int, bytes, bool]:
        try:
            return await self._exchange(reader, writer, body, headers)
        except BaseException:
            writer.close()
            self._open -= 1
            raise

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        self._open += 1
        return await asyncio.open_connection(self._host, self._port)

    async def _exchange(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, body: bytes, headers: dict[str, str]
    ) -> tuple[int, bytes, bool]:
        head = [
            f"POST {self._path} HTTP/1.1",
            f"host: {self._host}:{self._port}",
            f"content-length: {len(body)}",
        ]
        head += [f"{k}: {v}" for k, v in headers.items()]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
        status_line = await reader.readline()
        if not status_line:
            raise ConnectionError("server closed the connection")
        status = int(status_line.split(b" ", 2)[1])
        length, keep = 0, True
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value.strip())
            elif name == "connection" and value.strip().lower() == "close":
                keep = False
        payload = await reader.readexactly(length) if length else b""
        return status, payload, keep

    async def close(self) -> None:
        """Close every idle connection."""
        for _, writer in self._idle:
            writer.close()
        self._idle.clear()


@dataclass
class Sent:
    """What the generator knows about one request."""

    scheduled: float  # wall clock (time.time()) when it was due to leave
    status: int = 0
    referral_id: str | None = None
    answered: float = 0.0


@dataclass
class StepLoad:
    """The outcome of one open-loop step."""

    rate: float
    duration_s: float
    started: float
    sent: list[Sent] = field(default_factory=list)
    errors: int = 0
    error_kinds: dict[str, int] = field(default_factory=dict)  # "HTTP 503", "ConnectionResetError", ...
    late_s: float = 0.0  # worst lag of a send behind its schedule (the generator's own limit)

    def accepted(self) -> dict[str, float]:
        """Referral id -> scheduled send time, for every accepted one-child submission."""
        return {s.referral_id: s.scheduled for s in self.sent if s.referral_id is not None}


def bodies(count: int, seed: int) -> list[bytes]:
    """Unique, valid, one-child submissions, prepared before the clock starts."""
    rng = random.Random(seed)
    return [encode(submission(rng, submission_id=f"bench-{uuid.uuid4().hex}")) for _ in range(count)]


async def run_step(client: RawHttpClient, rate: float, duration_s: float, seed: int) -> StepLoad:
    """Send `rate * duration_s` submissions at a fixed rate; wait for every answer."""
    prepared = bodies(round(rate * duration_s), seed)
    started = time.time() + 0.2
    step = StepLoad(rate, duration_s, started)
    tasks: list[asyncio.Task[None]] = []
    for i, raw in enumerate(prepared):
        due = started + i / rate
        delay = due - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
        else:
            step.late_s = max(step.late_s, -delay)
        sent = Sent(due)
        step.sent.append(sent)
        tasks.append(asyncio.create_task(_post(client, raw, sent, step)))
    await asyncio.gather(*tasks)
    return step


async def _post(client: RawHttpClient, raw: bytes, sent: Sent, step: StepLoad) -> None:
    try:
        sent.status, payload = await client.post(raw, signed_headers(raw))
    except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
        step.errors += 1
        kind = type(exc).__name__
        step.error_kinds[kind] = step.error_kinds.get(kind, 0) + 1
        return
    sent.answered = time.time()
    if sent.status in (200, 202):
        sent.referral_id = json.loads(payload)["referrals"][0]["referral_id"]
    else:
        step.errors += 1
        kind = f"HTTP {sent.status}"
        step.error_kinds[kind] = step.error_kinds.get(kind, 0) + 1
