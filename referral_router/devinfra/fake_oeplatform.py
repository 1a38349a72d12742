"""A local fake of an Open ePlatform installation, for tests and the dev stack, answering in the
shapes the real platform uses (recorded ones are in tests/fixtures/oeplatform/real/, with sources).

Run: ``python -m referral_router.devinfra.fake_oeplatform --port P --fixtures DIR``

Serves the FlowInstance documents in DIR (``*.xml`` whose root is a FlowInstance; other XML there
is ignored) with Basic authentication:
  GET  /api/instanceapi/getinstances/family/{familyId}?fromDate=&toDate=   the list as Open
       ePlatform gives it: FlowInstances/FlowInstance/flowInstanceID, added, firstSubmitted…, in
       ISO-8859-1 with a declaration, or (when queued by a test) a recorded answer verbatim
  GET  /api/instanceapi/getinstance/{id}/xml       one instance (404: an HTML page, as the real one)
  GET  /api/instanceapi/getinstance/{id}/pdf       the instance as PDF (a small synthetic one)
  GET  /api/fileuploadqueryapi/getfile/{id}/{queryId}/{fileId}   an uploaded file: its
       EncodedData, or DIR's ``**/*file-{fileId}.*`` when the instance leaves the content out
  POST /callback/CallbackService   SOAP: confirmDelivery, setStatus (answered like the real service:
       setStatusResponse/eventID; faults as recorded: "The requested flow instance with ID … was not
       found", "Status with alias … not found"); a body whose elements are not in the callback
       namespace (its XSD is elementFormDefault="qualified") is refused with a Client fault.
Test controls (no auth): GET /calls (every call, JSON), PUT /instances/{id} (add an instance),
DELETE /instances/{id} (purge it), PUT /lists/{familyId} (queue a verbatim list answer, with the
request's Content-Type), POST /control {"fetch_delay_s": s, "purge_after_fetch": [ids]}, GET /healthz.
It parses XML on its own, independent of intake's parser, so their mistakes do not cancel out.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hmac
import json
import mimetypes
import re
from datetime import date
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import Element
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
LATIN1 = "text/xml; charset=ISO-8859-1"
NOT_FOUND_PAGE = (
    '<!DOCTYPE html><html lang="sv"><head><meta http-equiv="Content-Type" content="text/html;'
    ' charset=ISO-8859-1"><title>Open ePlatform</title></head><body><h1>Sidan hittades inte</h1>'
    "</body></html>"
)
PDF = b"%PDF-1.4\n% fake Open ePlatform instance\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _header(root: Element) -> dict[str, str]:
    """FlowInstanceID, FamilyID and FirstSubmitted of a FlowInstance document."""
    found: dict[str, str] = {}
    for node in root.iter():
        name = _local(node.tag)
        if name in ("FlowInstanceID", "FamilyID", "FirstSubmitted") and name not in found:
            found[name] = (node.text or "").strip()
    return found


def _files(root: Element) -> dict[tuple[int, int], tuple[str, bytes | None]]:
    """(QueryID, file ID) → (name, content if given inline) of every File of the instance."""
    found = {}
    for question in root.iter():
        query_id = next((c.text for c in question if _local(c.tag) == "QueryID"), None)
        for node in question:
            if _local(node.tag) != "File" or not query_id:
                continue
            parts = {_local(c.tag): (c.text or "").strip() for c in node}
            data = base64.b64decode(parts["EncodedData"]) if parts.get("EncodedData") else None
            found[int(query_id), int(parts["ID"])] = (parts.get("Name", ""), data)
    return found


class FakePortal:
    """Instances by id, recorded calls, and the knobs tests turn."""

    def __init__(self, fixtures: Path, username: str, password: str, statuses: tuple[str, ...]) -> None:
        self.instances: dict[int, bytes] = {}
        self.calls: list[dict[str, Any]] = []
        self.fetch_delay_s = 0.0
        self.purge_after_fetch: set[int] = set()
        self.queued_lists: dict[str, list[tuple[bytes, str]]] = {}
        self.statuses = statuses
        self.events = 16286
        self.fixtures = fixtures
        self._credentials = base64.b64encode(f"{username}:{password}".encode()).decode()
        for path in sorted(fixtures.glob("*.xml")):
            raw = path.read_bytes()
            if _local(SafeTree.fromstring(raw).tag) == "FlowInstance":
                self.add(raw)

    def add(self, raw: bytes) -> int:
        """Add (or replace) an instance; return its id."""
        instance_id = int(_header(SafeTree.fromstring(raw))["FlowInstanceID"])
        self.instances[instance_id] = raw
        return instance_id

    def authorised(self, request: Request) -> bool:
        """True when the request carries the configured Basic credentials."""
        given = request.headers.get("authorization", "").removeprefix("Basic ").strip()
        return hmac.compare_digest(given, self._credentials)

    def record(self, operation: str, **fields: Any) -> None:
        """Remember a call for the tests to inspect."""
        self.calls.append({"op": operation, "at": utc_now_iso(), **fields})

    def listed(self, family: str, from_date: date, to_date: date | None) -> list[tuple[int, str]]:
        """(id, FirstSubmitted) of the family's instances first submitted in the dates given,
        newest first as Open ePlatform lists them."""
        wanted = []
        for instance_id, raw in self.instances.items():
            header = _header(SafeTree.fromstring(raw))
            day = header.get("FirstSubmitted", "")[:10]
            in_dates = day >= from_date.isoformat() and (to_date is None or day <= to_date.isoformat())
            if header.get("FamilyID") == family and in_dates:
                wanted.append((instance_id, header.get("FirstSubmitted", "")))
        return sorted(wanted, key=lambda w: w[1], reverse=True)

    def file(self, instance_id: int, query_id: int, file_id: int) -> tuple[str, bytes] | None:
        """An uploaded file's name and content."""
        raw = self.instances.get(instance_id)
        entry = _files(SafeTree.fromstring(raw)).get((query_id, file_id)) if raw else None
        if entry is None:
            return None
        name, data = entry
        if data is None:
            stored = next(iter(self.fixtures.rglob(f"*file-{file_id}.*")), None)
            data = stored.read_bytes() if stored is not None else None
        return None if data is None else (name, data)


def list_document(entries: list[tuple[int, str]]) -> bytes:
    """A `getinstances` answer in the real shape (fields as Open ePlatform lists them)."""
    items = "".join(
        "\t<FlowInstance>\n"
        f"\t\t<flowInstanceID>{iid}</flowInstanceID>\n"
        f"\t\t<added>{submitted[:16].replace('T', ' ')}</added>\n"
        f"\t\t<firstSubmitted>{submitted[:16].replace('T', ' ')}</firstSubmitted>\n"
        "\t\t<fullyPopulated>true</fullyPopulated>\n"
        f"\t\t<lastStatusChange>{submitted[:16].replace('T', ' ')}</lastStatusChange>\n"
        "\t\t<profileID>1</profileID>\n\t\t<remote>false</remote>\n"
        "\t</FlowInstance>\n"
        for iid, submitted in entries
    )
    declaration = '<?xml version="1.0" encoding="ISO-8859-1" standalone="no"?>'
    xml = f"{declaration}\n<FlowInstances>\n{items}</FlowInstances>\n"
    return xml.encode("iso-8859-1")


def routes(portal: FakePortal) -> list[Route]:
    """The REST, SOAP and control routes of the fake."""

    def denied(request: Request) -> Response | None:
        if portal.authorised(request):
            return None
        return Response(status_code=401, headers={"WWW-Authenticate": 'Basic realm="oep"'})

    async def list_instances(request: Request) -> Response:
        if (refused := denied(request)) is not None:
            return refused
        family = request.path_params["family"]
        from_date = date.fromisoformat(request.query_params.get("fromDate", "1970-01-01"))
        to_given = request.query_params.get("toDate")
        to_date = date.fromisoformat(to_given) if to_given else None
        queued = portal.queued_lists.get(family)
        if queued:
            body, content_type = queued.pop(0)
            portal.record(
                "getinstances", family=family, from_date=from_date.isoformat(), to_date=to_given, ids=None
            )
            return Response(body, media_type=content_type)
        entries = portal.listed(family, from_date, to_date)
        ids = [i for i, _ in entries]
        portal.record(
            "getinstances", family=family, from_date=from_date.isoformat(), to_date=to_given, ids=ids
        )
        return Response(list_document(entries), media_type=LATIN1)

    async def get_instance(request: Request) -> Response:
        if (refused := denied(request)) is not None:
            return refused
        instance_id = int(request.path_params["instance_id"])
        portal.record("getinstance", flow_instance_id=instance_id)
        await asyncio.sleep(portal.fetch_delay_s)
        raw = portal.instances.get(instance_id)
        if raw is None:
            return Response(NOT_FOUND_PAGE, status_code=404, media_type="text/html; charset=ISO-8859-1")
        return Response(raw, media_type=LATIN1)

    async def get_pdf(request: Request) -> Response:
        if (refused := denied(request)) is not None:
            return refused
        instance_id = int(request.path_params["instance_id"])
        portal.record("getpdf", flow_instance_id=instance_id)
        if instance_id not in portal.instances:
            return Response(NOT_FOUND_PAGE, status_code=404, media_type="text/html")
        return Response(PDF, media_type="application/pdf")

    async def get_file(request: Request) -> Response:
        if (refused := denied(request)) is not None:
            return refused
        p = request.path_params
        portal.record(
            "getfile", flow_instance_id=p["instance_id"], query_id=p["query_id"], file_id=p["file_id"]
        )
        found = portal.file(p["instance_id"], p["query_id"], p["file_id"])
        if found is None:
            return Response(NOT_FOUND_PAGE, status_code=404, media_type="text/html")
        name, data = found
        media = mimetypes.guess_type(name)[0] or "application/octet-stream"
        return Response(data, media_type=media)

    async def callback(request: Request) -> Response:
        for iid in list(portal.purge_after_fetch):
            if any(c["op"] == "getinstance" and c["flow_instance_id"] == iid for c in portal.calls):
                portal.instances.pop(iid, None)  # purged in the portal right after it was fetched
        return soap_answer(portal, request, await request.body())

    async def calls(request: Request) -> Response:
        return JSONResponse(portal.calls)

    async def put_instance(request: Request) -> Response:
        return JSONResponse({"flow_instance_id": portal.add(await request.body())}, status_code=201)

    async def delete_instance(request: Request) -> Response:
        portal.instances.pop(int(request.path_params["instance_id"]), None)
        return Response(status_code=204)

    async def put_list(request: Request) -> Response:
        queued = portal.queued_lists.setdefault(request.path_params["family"], [])
        queued.append((await request.body(), request.headers.get("content-type", "application/xml")))
        return JSONResponse({"queued": len(queued)}, status_code=201)

    async def control(request: Request) -> Response:
        knobs = json.loads(await request.body())
        portal.fetch_delay_s = float(knobs.get("fetch_delay_s", portal.fetch_delay_s))
        portal.purge_after_fetch = set(knobs.get("purge_after_fetch", portal.purge_after_fetch))
        return JSONResponse(
            {"fetch_delay_s": portal.fetch_delay_s, "purge_after_fetch": sorted(portal.purge_after_fetch)}
        )

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    return [
        Route("/api/instanceapi/getinstances/family/{family}", list_instances, methods=["GET"]),
        Route("/api/instanceapi/getinstance/{instance_id:int}/xml", get_instance, methods=["GET"]),
        Route("/api/instanceapi/getinstance/{instance_id:int}/pdf", get_pdf, methods=["GET"]),
        Route(
            "/api/fileuploadqueryapi/getfile/{instance_id:int}/{query_id:int}/{file_id:int}",
            get_file,
            methods=["GET"],
        ),
        Route("/callback/CallbackService", callback, methods=["POST"]),
        Route("/calls", calls, methods=["GET"]),
        Route("/instances/{instance_id:int}", put_instance, methods=["PUT"]),
        Route("/instances/{instance_id:int}", delete_instance, methods=["DELETE"]),
        Route("/lists/{family}", put_list, methods=["PUT"]),
        Route("/control", control, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
    ]


def soap_answer(portal: FakePortal, request: Request, raw: bytes) -> Response:
    """Dispatch one SOAP call: record it and answer, or answer a fault."""
    if not portal.authorised(request):
        return _fault("S:Client", "Access denied")
    body = next((n for n in SafeTree.fromstring(raw).iter() if n.tag == f"{{{SOAP_NS}}}Body"), None)
    if body is None or not len(body):
        return _fault("S:Client", "no SOAP body", status=400)
    call = body[0]
    unqualified = next((n for n in call.iter() if not n.tag.startswith(f"{{{CALLBACK_NS}}}")), None)
    if unqualified is not None:
        uri, _, local = unqualified.tag.lstrip("{").rpartition("}")
        return _fault("S:Client", f'Unmarshalling Error: unexpected element (uri:"{uri}", local:"{local}")')
    params = {_local(n.tag): (n.text or "").strip() for n in call.iter() if not len(n)}
    operation = _local(call.tag)
    instance = params.get("flowInstanceID", "")
    if operation in ("confirmDelivery", "setStatus") and (
        not re.fullmatch(r"\d+", instance) or int(instance) not in portal.instances
    ):
        return _fault("S:Server", f"The requested flow instance with ID {instance} was not found")
    if operation == "setStatus" and params.get("statusAlias") not in portal.statuses:
        return _fault("S:Server", f"Status with alias {params.get('statusAlias')} not found")
    portal.record(operation, flow_instance_id=int(instance) if instance else None, params=params)
    inner = ""
    if operation == "setStatus":
        portal.events += 1
        inner = f"<eventID>{portal.events}</eventID>"
    answer = (
        f"<?xml version='1.0' encoding='ISO-8859-1'?><S:Envelope xmlns:S=\"{SOAP_NS}\"><S:Body>"
        f'<{operation}Response xmlns="{CALLBACK_NS}">{inner}</{operation}Response></S:Body></S:Envelope>'
    )
    return Response(answer.encode("iso-8859-1"), media_type=LATIN1)


def _fault(code: str, text: str, status: int = 500) -> Response:
    """A fault as the real service sends it (recorded: a faultcode and faultstring, no detail)."""
    answer = (
        f"<?xml version='1.0' encoding='ISO-8859-1'?><S:Envelope xmlns:S=\"{SOAP_NS}\"><S:Body><S:Fault>"
        f"<faultcode>{code}</faultcode><faultstring>{escape(text)}</faultstring>"
        "</S:Fault></S:Body></S:Envelope>"
    )
    return Response(answer.encode("iso-8859-1", "replace"), status_code=status, media_type=LATIN1)


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
