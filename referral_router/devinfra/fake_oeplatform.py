"""A local fake of an Open ePlatform installation, for tests and the dev stack.

Run: ``python -m referral_router.devinfra.fake_oeplatform --port P --fixtures DIR``

Serves the FlowInstance XML files in DIR (named anything ``*.xml``) with Basic authentication:
  GET  /api/instanceapi/getinstances/family/{familyId}?fromDate=YYYY-MM-DD   list (XML)
  GET  /api/instanceapi/getinstance/{flowInstanceId}/xml                   one instance
  POST /callback/CallbackService   SOAP: confirmDelivery, setStatus, setAttribute, addEvent;
                                   faults AccessDenied, FlowInstanceNotFound, StatusNotFound
Test controls (no auth): GET /calls (every call, JSON), PUT /instances/{id} (add an instance),
POST /control {"fetch_delay_s": s} (slow down getinstance), GET /healthz.
It parses XML on its own, independent of intake's parser, so their mistakes do not cancel out.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hmac
import json
from datetime import date
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from defusedxml import ElementTree as SafeTree
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from referral_router.devinfra.sinkhttp import serve, utc_now_iso

SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
CALLBACK_NS = "http://www.oeplatform.org/version/1.0/schemas/integration/callback"
DEFAULT_STATUSES = ("Mottagen", "Kunde inte tas emot automatiskt", "Under behandling")


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _header(raw: bytes) -> dict[str, str]:
    """FlowInstanceID, FamilyID and FirstSubmitted of a FlowInstance document."""
    found: dict[str, str] = {}
    for node in SafeTree.fromstring(raw).iter():
        name = _local(node.tag)
        if name in ("FlowInstanceID", "FamilyID", "FirstSubmitted") and name not in found:
            found[name] = (node.text or "").strip()
    return found


class FakePortal:
    """Instances by id, recorded calls, and the knobs tests turn."""

    def __init__(self, fixtures: Path, username: str, password: str, statuses: tuple[str, ...]) -> None:
        self.instances: dict[int, bytes] = {}
        self.calls: list[dict[str, Any]] = []
        self.fetch_delay_s = 0.0
        self.statuses = statuses
        self._credentials = base64.b64encode(f"{username}:{password}".encode()).decode()
        for path in sorted(fixtures.glob("*.xml")):
            self.add(path.read_bytes())

    def add(self, raw: bytes) -> int:
        """Add (or replace) an instance; return its id."""
        instance_id = int(_header(raw)["FlowInstanceID"])
        self.instances[instance_id] = raw
        return instance_id

    def authorised(self, request: Request) -> bool:
        """True when the request carries the configured Basic credentials."""
        given = request.headers.get("authorization", "").removeprefix("Basic ").strip()
        return hmac.compare_digest(given, self._credentials)

    def record(self, operation: str, **fields: Any) -> None:
        """Remember a call for the tests to inspect."""
        self.calls.append({"op": operation, "at": utc_now_iso(), **fields})

    def listed(self, family: str, from_date: date) -> list[int]:
        """Ids of the family's instances first submitted on or after `from_date`."""
        wanted = []
        for instance_id, raw in sorted(self.instances.items()):
            header = _header(raw)
            if (
                header.get("FamilyID") == family
                and header.get("FirstSubmitted", "")[:10] >= from_date.isoformat()
            ):
                wanted.append(instance_id)
        return wanted


def routes(portal: FakePortal) -> list[Route]:
    """The REST, SOAP and control routes of the fake."""

    async def list_instances(request: Request) -> Response:
        if not portal.authorised(request):
            return Response(status_code=401, headers={"WWW-Authenticate": 'Basic realm="oep"'})
        family = request.path_params["family"]
        from_date = date.fromisoformat(request.query_params.get("fromDate", "1970-01-01"))
        ids = portal.listed(family, from_date)
        portal.record("getinstances", family=family, from_date=from_date.isoformat(), ids=ids)
        body = "".join(f"<FlowInstance><FlowInstanceID>{i}</FlowInstanceID></FlowInstance>" for i in ids)
        xml = f'<?xml version="1.0" encoding="UTF-8"?><FlowInstances>{body}</FlowInstances>'
        return Response(xml, media_type="application/xml")

    async def get_instance(request: Request) -> Response:
        if not portal.authorised(request):
            return Response(status_code=401)
        instance_id = int(request.path_params["instance_id"])
        portal.record("getinstance", flow_instance_id=instance_id)
        await asyncio.sleep(portal.fetch_delay_s)
        raw = portal.instances.get(instance_id)
        if raw is None:
            return Response(status_code=404)
        return Response(raw, media_type="application/xml; charset=ISO-8859-1")

    async def callback(request: Request) -> Response:
        return soap_answer(portal, request, await request.body())

    async def calls(request: Request) -> Response:
        return JSONResponse(portal.calls)

    async def put_instance(request: Request) -> Response:
        return JSONResponse({"flow_instance_id": portal.add(await request.body())}, status_code=201)

    async def control(request: Request) -> Response:
        portal.fetch_delay_s = float(json.loads(await request.body()).get("fetch_delay_s", 0.0))
        return JSONResponse({"fetch_delay_s": portal.fetch_delay_s})

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    return [
        Route("/api/instanceapi/getinstances/family/{family}", list_instances, methods=["GET"]),
        Route("/api/instanceapi/getinstance/{instance_id:int}/xml", get_instance, methods=["GET"]),
        Route("/callback/CallbackService", callback, methods=["POST"]),
        Route("/calls", calls, methods=["GET"]),
        Route("/instances/{instance_id:int}", put_instance, methods=["PUT"]),
        Route("/control", control, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
    ]


def soap_answer(portal: FakePortal, request: Request, raw: bytes) -> Response:
    """Dispatch one SOAP call: record it and answer, or answer a fault."""
    if not portal.authorised(request):
        return _fault("AccessDenied", "wrong or missing credentials")
    body = next((n for n in SafeTree.fromstring(raw).iter() if _local(n.tag) == "Body"), None)
    if body is None or not len(body):
        return _fault("Client", "no SOAP body", status=400)
    call = body[0]
    params = {_local(n.tag): (n.text or "").strip() for n in call.iter() if not len(n)}
    operation = _local(call.tag)
    instance = params.get("flowInstanceID")
    if operation in ("confirmDelivery", "setStatus") and (
        not instance or int(instance) not in portal.instances
    ):
        return _fault("FlowInstanceNotFound", "no such flow instance")
    if operation == "setStatus" and params.get("statusAlias") not in portal.statuses:
        return _fault("StatusNotFound", "no such status alias")
    portal.record(operation, flow_instance_id=int(instance) if instance else None, params=params)
    answer = (
        f'<soap:Envelope xmlns:soap="{SOAP_NS}"><soap:Body>'
        f'<ns:{operation}Response xmlns:ns="{CALLBACK_NS}"/></soap:Body></soap:Envelope>'
    )
    return Response(answer, media_type="text/xml")


def _fault(name: str, text: str, status: int = 500) -> Response:
    answer = (
        f'<soap:Envelope xmlns:soap="{SOAP_NS}"><soap:Body><soap:Fault>'
        f"<faultcode>soap:Server</faultcode><faultstring>{escape(text)}</faultstring>"
        f'<detail><ns:{name} xmlns:ns="{CALLBACK_NS}"/></detail>'
        "</soap:Fault></soap:Body></soap:Envelope>"
    )
    return Response(answer, status_code=status, media_type="text/xml")


def main() -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--fixtures", type=Path, required=True)
    parser.add_argument("--username", default="integration")
    parser.add_argument("--password", default="integration-secret")
    parser.add_argument("--statuses", default=",".join(DEFAULT_STATUSES))
    parser.add_argument("--fetch-delay-s", type=float, default=0.0)
    args = parser.parse_args()
    portal = FakePortal(args.fixtures, args.username, args.password, tuple(args.statuses.split(",")))
    portal.fetch_delay_s = args.fetch_delay_s
    asyncio.run(serve(Starlette(routes=routes(portal)), args.port))


if __name__ == "__main__":
    main()
