"""uvicorn's server without its tick: a process at rest sleeps until a request or a signal.

uvicorn's main loop wakes every 100 ms to refresh the Date header and to see whether it was
asked to stop (issue 25: ten of a service's eleven wake-ups a second at rest; one second, as
an earlier version ticked, was still the largest wake-up left). Here nothing ticks:

- the Date header is made when a response asks for it (at most once a second, as uvicorn's
  tick did), by a server state whose `default_headers` is computed on read (uvicorn reads it
  for every request);
- the main loop sleeps on an event that setting `should_exit` sets, whoever sets it (uvicorn's
  own signal handler, a test, the dev sinks' handler), from any thread.

Only uvicorn and the standard library: the dev sinks use it too, without the services' stack.
"""

from __future__ import annotations

import asyncio
import time
from email.utils import formatdate

import uvicorn
from uvicorn.server import ServerState


class DatedOnRequest(ServerState):
    """uvicorn's shared server state whose default headers carry the Date of the moment they
    are read (cached for the rest of that second), not of the last tick."""

    def __init__(self, date_header: bool) -> None:
        self._date_header = date_header
        self._others: list[tuple[bytes, bytes]] = []
        self._second = -1
        self._headers: list[tuple[bytes, bytes]] = []
        super().__init__()

    @property
    def default_headers(self) -> list[tuple[bytes, bytes]]:
        """Date (if configured) and the configured headers, made fresh once a second."""
        now = int(time.time())
        if now != self._second:
            date = [(b"date", formatdate(now, usegmt=True).encode())] if self._date_header else []
            self._headers, self._second = date + self._others, now
        return self._headers

    @default_headers.setter
    def default_headers(self, headers: list[tuple[bytes, bytes]]) -> None:
        """uvicorn sets the headers with a date of its own: keep the rest, date them on read."""
        self._others = [(name, value) for name, value in headers if name.lower() != b"date"]
        self._second = -1


class RestingServer(uvicorn.Server):
    """uvicorn's server, waking only for connections, requests and a request to stop."""

    def __init__(self, config: uvicorn.Config) -> None:
        self._stop_requested = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop = asyncio.Event()
        super().__init__(config)
        self.server_state = DatedOnRequest(config.date_header)

    @property
    def should_exit(self) -> bool:
        """Whether the server was asked to stop; setting it to True wakes the main loop."""
        return self._stop_requested

    @should_exit.setter
    def should_exit(self, value: bool) -> None:
        self._stop_requested = value
        if value and self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._stop.set)

    async def main_loop(self) -> None:
        """Set the headers once, then sleep until asked to stop (no tick)."""
        self._loop = asyncio.get_running_loop()
        if await self.on_tick(0):
            return
        while not self.should_exit:
            await self._stop.wait()
            self._stop.clear()
