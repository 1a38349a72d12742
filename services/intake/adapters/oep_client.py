"""Open ePlatform over the wire: REST to list and fetch instances, their files and PDF; SOAP
callbacks (DOMAIN.md §4), all in the shapes the real platform uses (tests/fixtures/oeplatform/real/).

The `OpenEPlatform` port: an instance comes back as a submission with its attachments
(`oep_mapping.read_instance`), or as InstanceRejected with a reason that names tags or paths,
never answers, and the raw document to keep. A list that is not a list is PortalUnavailable: the
round fails, is counted, and the next one waits longer (`domain.open_eplatform.retry_delay`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from xml.sax.saxutils import escape

import httpx

from services.intake.adapters.oep_mapping import FormMapping, read_instance
from services.intake.adapters.oep_xml import (
    AttachedFile,
    UnexpectedDocument,
    UnreadableInstance,
    parse_instance_list,
    parse_soap_answer,
)
from services.intake.domain.open_eplatform import InstanceRejected
from services.intake.domain.submissions import Document, attachment_document, oep_pdf_document
from services.intake.ports import CallbackFault, PortalForm, PortalUnavailable
from shared.clock import Clock

CALLBACK_NS = "http://www.oeplatform.org/version/1.0/schemas/integration/callback"
SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"


class _InstanceGone(Exception):
    """The portal says this instance does not exist (404)."""


@dataclass(frozen=True)
class FetchLimits:
    """What an instance may bring: bytes per file, and whether to fetch its PDF."""

    max_file_bytes: int = 20 * 1024 * 1024
    fetch_pdf: bool = True


class OpenEPlatformClient:
    """A client of one Open ePlatform installation (Basic authentication is on `http`), reading
    its forms through the installation's mapping."""

    def __init__(
        self, http: httpx.AsyncClient, callback_path: str, mapping: FormMapping, clock: Clock,
        max_age_days: int, limits: FetchLimits | None = None,
    ) -> None:  # fmt: skip
        self._max_age_days = max_age_days
        self._http = http
        self._callback_path = callback_path
        self._mapping = mapping
        self._clock = clock
        self._limits = limits or FetchLimits()

    async def list_instances(self, family_id: str, from_date: date, to_date: date | None = None) -> list[int]:
        """Ids of the family's instances submitted from `from_date` (to `to_date`)."""
        path = f"/api/instanceapi/getinstances/family/{family_id}"
        params = {"fromDate": from_date.isoformat()}
        if to_date is not None:
            params["toDate"] = to_date.isoformat()
        try:
            response = await self._get(path, params=params)
        except _InstanceGone:
            raise PortalUnavailable("HTTP 404 from getinstances: is the family id right?") from None
        try:
            return parse_instance_list(response.content, response.charset_encoding)
        except (UnexpectedDocument, UnreadableInstance) as exc:
            raise PortalUnavailable(f"getinstances: {exc}") from None

    async def fetch_form(self, flow_instance_id: int) -> PortalForm:
        """One instance as a submission, with its files and PDF as attachments."""
        try:
            response = await self._get(f"/api/instanceapi/getinstance/{flow_instance_id}/xml")
        except _InstanceGone:
            raise InstanceRejected("the portal does not know the instance", gone=True) from None
        return await self.read_form(flow_instance_id, response.content, response.charset_encoding)

    async def read_form(self, flow_instance_id: int, raw: bytes, charset: str | None) -> PortalForm:
        """A fetched (or kept) document as a submission, its attachments fetched; InstanceRejected
        carries the raw document and its charset so that it can be kept."""
        try:
            form, files = read_instance(raw, charset, self._mapping, self._clock.now(), self._max_age_days)
            if form.flow_instance_id != flow_instance_id:
                raise InstanceRejected("the document is of another instance than asked for")
            return replace(form, attachments=await self._attachments(form, files))
        except InstanceRejected as exc:
            first = exc.first_submitted
            raise InstanceRejected(exc.reason, first, raw=raw, charset=charset, gone=exc.gone) from None

    async def _attachments(self, form: PortalForm, files: tuple[AttachedFile, ...]) -> tuple[Document, ...]:
        iid, limit = form.flow_instance_id, self._limits.max_file_bytes
        for n, file in enumerate(files, 1):  # by the sizes declared, before fetching any
            if file.size > limit:
                raise InstanceRejected(_too_big(n, file, file.size, limit), form.first_submitted)
        documents = []
        for n, file in enumerate(files, 1):
            path = f"/api/fileuploadqueryapi/getfile/{iid}/{file.query_id}/{file.file_id}"
            response = await self._get_for(form, path)
            if len(response.content) > limit:
                raise InstanceRejected(_too_big(n, file, len(response.content), limit), form.first_submitted)
            documents.append(attachment_document(n, _media_type(response), response.content, file.name))
        if self._limits.fetch_pdf:
            pdf = await self._get_for(form, f"/api/instanceapi/getinstance/{iid}/pdf")
            documents.append(oep_pdf_document(pdf.content))
        return tuple(documents)

    async def _get_for(self, form: PortalForm, path: str) -> httpx.Response:
        try:
            return await self._get(path)
        except _InstanceGone:
            kind = "a file" if "getfile" in path else "the PDF"
            raise InstanceRejected(
                f"the portal no longer has {kind} of the instance", form.first_submitted
            ) from None

    async def confirm_delivery(self, flow_instance_id: int, external_id: str, system: str) -> None:
        """Tell the portal the instance was delivered, and register our ids for it."""
        await self._call(
            "confirmDelivery",
            f"<cal:flowInstanceID>{flow_instance_id}</cal:flowInstanceID>"
            f"<cal:externalID><cal:ID>{escape(external_id)}</cal:ID>"
            f"<cal:System>{escape(system)}</cal:System></cal:externalID>"
            "<cal:delivered>true</cal:delivered>",
        )

    async def set_status(self, flow_instance_id: int, status_alias: str) -> None:
        """Set the instance's status in the portal, by the status alias the portal defines."""
        await self._call(
            "setStatus",
            f"<cal:flowInstanceID>{flow_instance_id}</cal:flowInstanceID>"
            f"<cal:statusAlias>{escape(status_alias)}</cal:statusAlias>",
        )

    async def _get(self, path: str, params: dict[str, str] | None = None) -> httpx.Response:
        try:
            response = await self._http.get(path, params=params)
        except httpx.HTTPError as exc:
            raise PortalUnavailable(type(exc).__name__) from None
        if response.status_code == 404:
            raise _InstanceGone(path)
        if response.status_code != 200:
            raise PortalUnavailable(f"HTTP {response.status_code} from {path.rsplit('/', 2)[0]}")
        return response

    async def _call(self, operation: str, inner: str) -> None:
        response = await self._post(operation, callback_envelope(operation, inner))
        try:
            fault = parse_soap_answer(response.content, f"{operation}Response")
        except (UnexpectedDocument, UnreadableInstance) as exc:
            raise PortalUnavailable(f"{operation}: HTTP {response.status_code}, {exc}") from None
        if fault is not None:
            raise CallbackFault(f"{operation}: {fault.code} {fault.text}".strip(), fault.instance_not_found)
        if response.status_code >= 300:
            raise PortalUnavailable(f"HTTP {response.status_code} from the callback service")

    async def _post(self, operation: str, envelope: bytes) -> httpx.Response:
        headers = {"content-type": "text/xml; charset=utf-8", "soapaction": '""'}
        try:
            return await self._http.post(self._callback_path, content=envelope, headers=headers)
        except httpx.HTTPError as exc:
            raise PortalUnavailable(type(exc).__name__) from None


def callback_envelope(operation: str, inner: str) -> bytes:
    """A SOAP 1.1 request to the callback service: the operation's element and all its children
    in the callback namespace (its XSD is elementFormDefault="qualified")."""
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="{SOAP_NS}"'
        f' xmlns:cal="{CALLBACK_NS}"><soapenv:Body><cal:{operation}>{inner}</cal:{operation}>'
        "</soapenv:Body></soapenv:Envelope>"
    ).encode()


def _media_type(response: httpx.Response) -> str:
    given = response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    return given if given and "/" in given else "application/octet-stream"


def _too_big(n: int, file: AttachedFile, size: int, limit: int) -> str:
    return f"file {n} (question {file.question!r}) is {size} bytes, over the limit of {limit} bytes"
