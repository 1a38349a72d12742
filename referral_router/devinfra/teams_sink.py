"""A stand-in for Microsoft Teams Workflows webhooks, listing what it received.

Run: ``python -m referral_router.devinfra.teams_sink --port 8026``

HTTP on 127.0.0.1:<port>:
  POST /webhook/{team}   JSON body -> stored, 202 with an empty body (as Teams
                         answers); non-JSON -> 400
  GET /messages[?team=t] received posts, oldest first
  DELETE /messages       forget them
  POST /control {"status": 429, "retry_after": 2, "count": 3}
                         answer the next `count` webhook POSTs with `status`
                         (and a Retry-After header when given), storing nothing
  GET /healthz           200
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from referral_router.devinfra.sinkhttp import (
    MessageStore,
    json_object,
    serve,
    store_routes,
    utc_now_iso,
)


@dataclass
class InjectedResponses:
    """The next ``count`` webhook POSTs answer ``status`` instead of 202."""

    count: int = 0
    status: int = 429
    retry_after: int | None = None

    def take(self) -> Response | None:
        """The injected response for this POST, or None to process it normally."""
        if self.count <= 0:
            return None
        self.count -= 1
        headers = {} if self.retry_after is None else {"Retry-After": str(self.retry_after)}
        body = json.dumps({"error": {"code": str(self.status), "message": "injected"}})
        return Response(body, self.status, headers, media_type="application/json")


def webhook_route(store: MessageStore, injected: InjectedResponses) -> Route:
    """``POST /webhook/{team}``."""

    async def webhook(request: Request) -> Response:
        forced = injected.take()
        if forced is not None:
            return forced
        try:
            body = json.loads(await request.body())
        except (ValueError, UnicodeDecodeError):
            return JSONResponse({"error": "body is not JSON"}, status_code=400)
        team = request.path_params["team"]
        store.add({"team": team, "body": body, "received_at": utc_now_iso()})
        # Teams Workflows accepts with 202 and no body; clients must not expect one.
        return Response(status_code=202)

    return Route("/webhook/{team}", webhook, methods=["POST"])


def _parse_control(body: dict[str, Any]) -> InjectedResponses | None:
    status = body.get("status", 429)
    count = body.get("count", 1)
    retry_after = body.get("retry_after")
    if not (isinstance(status, int) and 100 <= status <= 599):
        return None
    if not (isinstance(count, int) and count >= 0):
        return None
    if retry_after is not None and not (isinstance(retry_after, int) and retry_after >= 0):
        return None
    return InjectedResponses(count, status, retry_after)


def control_route(injected: InjectedResponses) -> Route:
    """``POST /control`` to make the next webhook POSTs fail."""

    async def control(request: Request) -> Response:
        body = await json_object(request)
        parsed = None if body is None else _parse_control(body)
        if parsed is None:
            return JSONResponse({"error": "bad status/count/retry_after"}, status_code=400)
        injected.count, injected.status = parsed.count, parsed.status
        injected.retry_after = parsed.retry_after
        return JSONResponse(
            {"count": injected.count, "status": injected.status, "retry_after": injected.retry_after}
        )

    return Route("/control", control, methods=["POST"])


def make_app() -> Starlette:
    """The sink's HTTP app with fresh, empty state."""
    store = MessageStore()
    injected = InjectedResponses()
    routes = store_routes(store, {"team": "team"})
    return Starlette(routes=[*routes, webhook_route(store, injected), control_route(injected)])


def main(argv: list[str] | None = None) -> int:
    """Entry point: serve on 127.0.0.1 until SIGTERM/SIGINT."""
    parser = argparse.ArgumentParser(description="Fake Teams Workflows webhook receiver")
    parser.add_argument("--port", type=int, default=8026)
    args = parser.parse_args(argv)
    asyncio.run(serve(make_app(), args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
