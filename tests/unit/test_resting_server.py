"""The services' uvicorn server ticks once a second (issue 25) and still does what a tick is for:
the Date header is refreshed on every tick, and a stop request ends the loop."""

from __future__ import annotations

import asyncio

import uvicorn
from fastapi import FastAPI

from shared import runtime
from shared.runtime import RestingServer


def _server() -> RestingServer:
    config = uvicorn.Config(FastAPI(), log_config=None)
    config.load()
    return RestingServer(config)


async def test_every_tick_refreshes_the_date_header_and_a_stop_request_ends_the_loop(monkeypatch):
    server = _server()
    ticks: list[int] = []
    refresh = server.on_tick

    async def counting(counter: int) -> bool:
        ticks.append(counter)
        server.server_state.default_headers = []
        stop = await refresh(counter)
        assert any(name == b"date" for name, _ in server.server_state.default_headers)
        if len(ticks) == 3:
            server.should_exit = True
        return stop

    monkeypatch.setattr(server, "on_tick", counting)
    monkeypatch.setattr(runtime, "TICK_S", 0.0)
    await asyncio.wait_for(server.main_loop(), timeout=30)
    assert len(ticks) == 4  # the first tick, two more, and the one that saw the stop request
