"""Shared pieces of the fake SMTP and Teams sinks: message store, HTTP serving.

Each sink is a separate process with a tiny Starlette app on 127.0.0.1,
served by uvicorn inside the sink's own event loop, stopped on SIGTERM/SIGINT.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import json
import signal
from collections.abc import Awaitable, Callable, Generator, Iterable
from datetime import UTC, datetime
from typing import Any

import uvicorn
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from shared.resting import RestingServer

HOST = "127.0.0.1"

Message = dict[str, Any]


def utc_now_iso() -> str:
    """Current UTC time as ISO 8601 (with offset), for ``received_at``."""
    return datetime.now(UTC).isoformat()


class MessageStore:
    """In-memory list of received messages with increasing ids (from 1)."""

    def __init__(self) -> None:
        self._messages: list[Message] = []
        self._next_id = 1

    def add(self, fields: Message) -> Message:
        """Store ``fields`` under the next id and return the stored message."""
        message = {"id": self._next_id, **fields}
        self._next_id += 1
        self._messages.append(message)
        return message

    def list(self) -> list[Message]:
        """All messages, oldest first."""
        return list(self._messages)

    def after(self, last_id: int) -> builtins.list[Message]:
        """Messages with an id above ``last_id``, oldest first (ids only grow)."""
        # Ids are consecutive from 1 and cleared messages are gone, so search from the end.
        i = len(self._messages)
        while i > 0 and self._messages[i - 1]["id"] > last_id:
            i -= 1
        return self._messages[i:]

    def clear(self) -> int:
        """Forget every message (ids keep counting up); return how many there were."""
        count = len(self._messages)
        self._messages.clear()
        return count


def store_routes(store: MessageStore, filters: dict[str, str]) -> list[Route]:
    """``GET /messages``, ``DELETE /messages`` and ``GET /healthz``.

    ``filters`` maps a query parameter to the message field it matches, e.g.
    ``{"to": "rcpt_tos"}`` serves ``GET /messages?to=a@example.org``.
    """

    async def list_messages(request: Request) -> Response:
        messages = store.list()
        for param, field in filters.items():
            wanted = request.query_params.get(param)
            if wanted is not None:
                messages = [m for m in messages if _matches(m, field, wanted)]
        return JSONResponse(messages)

    async def clear_messages(request: Request) -> Response:
        return JSONResponse({"deleted": store.clear()})

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    return [
        Route("/messages", list_messages, methods=["GET"]),
        Route("/messages", clear_messages, methods=["DELETE"]),
        Route("/healthz", healthz, methods=["GET"]),
    ]


def _matches(message: Message, key: str, wanted: str) -> bool:
    value = message.get(key)
    if isinstance(value, list):
        return wanted in value
    return value == wanted


async def json_object(request: Request) -> dict[str, Any] | None:
    """The request body as a JSON object, or None if it is not one."""
    try:
        body = json.loads(await request.body())
    except (ValueError, UnicodeDecodeError):
        return None
    return body if isinstance(body, dict) else None


class _Server(RestingServer):
    # Rests as the services do (shared.resting): uvicorn's 100 ms tick cost a sink 1.4 % of a
    # core at rest (issue 25).
    # uvicorn's own handlers re-raise the signal after shutdown (so the process
    # dies by SIGTERM); the sink installs its own to exit 0 instead.
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


async def serve(
    app: Callable[..., Awaitable[None]],
    port: int,
    also_close: Iterable[asyncio.AbstractServer] = (),
) -> None:
    """Serve ``app`` on 127.0.0.1:``port`` until SIGTERM/SIGINT, then close all."""
    config = uvicorn.Config(app, host=HOST, port=port, log_level="warning", access_log=False)
    server = _Server(config)
    loop = asyncio.get_running_loop()

    def request_exit() -> None:
        server.should_exit = True

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, request_exit)
    try:
        await server.serve()
    finally:
        for other in also_close:
            other.close()
            # Newer Pythons wait for idle client connections here: bound it.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(other.wait_closed(), timeout=2)
    if not server.started:
        raise SystemExit(f"could not serve HTTP on {HOST}:{port}")
