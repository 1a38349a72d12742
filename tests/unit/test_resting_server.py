"""The services' uvicorn server does not tick (issue 25): at rest its loop has no timer at all,
the Date header is made when a response is, and a stop request (from any thread) ends the loop."""

from __future__ import annotations

import asyncio
import threading
from email.utils import formatdate

import uvicorn
from fastapi import FastAPI

from shared import resting
from shared.runtime import RestingServer


def _server() -> RestingServer:
    config = uvicorn.Config(FastAPI(), log_config=None, headers=[("x-served-by", "test")])
    config.load()
    return RestingServer(config)


def _timers(loop: asyncio.AbstractEventLoop) -> list[asyncio.TimerHandle]:
    return [h for h in loop._scheduled if not h.cancelled()]


async def test_a_waiting_server_has_no_timer_and_a_stop_request_from_another_thread_ends_it():
    server = _server()
    loop = asyncio.get_running_loop()
    before = set(map(id, _timers(loop)))
    main = asyncio.create_task(server.main_loop())
    for _ in range(5):
        await asyncio.sleep(0)
    assert not main.done()
    assert [h for h in _timers(loop) if id(h) not in before] == []  # uvicorn's tick was a 100 ms timer
    threading.Thread(target=lambda: setattr(server, "should_exit", True)).start()
    await asyncio.wait_for(main, timeout=30)
    assert server.should_exit


async def test_a_stop_request_before_the_loop_starts_is_not_lost():
    server = _server()
    server.should_exit = True
    await asyncio.wait_for(server.main_loop(), timeout=30)


def test_the_date_header_is_the_date_of_the_request_not_of_a_tick(monkeypatch):
    server = _server()
    now = [1_800_000_000.2]
    monkeypatch.setattr(resting.time, "time", lambda: now[0])
    server.server_state.default_headers = [(b"date", b"stale"), (b"x-served-by", b"test")]
    first = dict(server.server_state.default_headers)
    now[0] += 61.0
    later = dict(server.server_state.default_headers)
    assert first[b"date"] == formatdate(1_800_000_000, usegmt=True).encode()
    assert later[b"date"] == formatdate(1_800_000_061, usegmt=True).encode()
    assert later[b"x-served-by"] == b"test"


def test_no_date_header_when_the_config_turns_it_off():
    config = uvicorn.Config(FastAPI(), log_config=None, date_header=False)
    config.load()
    server = RestingServer(config)
    server.server_state.default_headers = [(b"server", b"uvicorn")]
    assert [name for name, _ in server.server_state.default_headers] == [b"server"]
