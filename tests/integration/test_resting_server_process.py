"""A service's HTTP server as it runs in production (uvloop, httptools, uvicorn's own signal
handlers) has no tick at rest (issue 25), yet answers with a current Date header and stops on
SIGTERM: the signal itself must wake the sleeping loop, there is no timer left to notice it."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from email.utils import parsedate_to_datetime

import httpx

from referral_router.devinfra.procs import free_port, kill_process

SERVER = """
import sys
from fastapi import FastAPI
from shared.runtime import serve
from shared.settings import HttpSettings

app = FastAPI()

@app.get("/ping")
def ping() -> dict[str, str]:
    return {"ok": "yes"}

serve(app, HttpSettings(host="127.0.0.1", port=int(sys.argv[1])))
"""


def _ready(url: str, proc: subprocess.Popen[bytes]) -> httpx.Response:
    deadline = time.monotonic() + 60
    while True:
        assert proc.poll() is None, "the server exited before it answered"
        try:
            return httpx.get(url, timeout=5)
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_a_resting_server_answers_with_todays_date_and_stops_on_sigterm() -> None:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", SERVER, str(port)])
    try:
        before = time.time()
        response = _ready(f"http://127.0.0.1:{port}/ping", proc)
        assert response.json() == {"ok": "yes"}
        date = parsedate_to_datetime(response.headers["date"]).timestamp()
        assert before - 1 <= date <= time.time() + 1
        proc.send_signal(signal.SIGTERM)
        # uvicorn shuts down gracefully and then re-raises the signal (exit by SIGTERM).
        assert proc.wait(timeout=60) in (0, -signal.SIGTERM)
    finally:
        if proc.poll() is None:
            kill_process(proc)
