"""Open ePlatform over the wire: REST to list and fetch instances, SOAP callbacks (DOMAIN.md §4).

The `OpenEPlatform` port: an instance comes back as a submission (`oep_mapping.read_form`), or
as InstanceRejected with a reason that names tags or paths, never answers.
"""

from __future__ import annotations

from datetime import date
from typing import Any
from xml.sax.saxutils import escape

import httpx

from services.intake.adapters.oep_mapping import FormMapping, read_form
from services.intake.adapters.oep_xml import parse_instance_list, parse_xml
from services.intake.domain.open_eplatform import InstanceRejected
from services.intake.ports import CallbackFault, PortalForm, PortalUnavailable
from shared.clock import Clock

CALLBACK_NS = "http://www.oeplatform.org/version/1.0/schemas/integration/callback"
SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"


class _InstanceGone(Exception):
    """The portal says this instance does not exist (404)."""


class OpenEPlatformClient:
    """A client of one Open ePlatform installation (Basic authentication is on `http`), reading
    its forms through the installation's tag mapping."""

    def __init__(
        self, http: httpx.AsyncClient, callback_path: str, mapping: FormMapping, clock: Clock,
        max_age_days: int,
    ) -> None:  # fmt: skip
        self._max_age_days = max_age_days
        self._http = http
        self._callback_path = callback_path
        self._mapping = mapping
        self._clock = clock

    async def list_instances(self, family_id: str, from_date: date) -> list[int]:
        """Ids of the family's instances submitted on or after `from_date`."""
        path = f"/api/instanceapi/getinstances/family/{family_id}"
        try:
            response = await self._get(path, params={"fromDate": from_date.isoformat()})
        except _InstanceGone:
            raise PortalUnavailable("HTTP 404 from getinstances: is the family id right?") from None
        return parse_instance_list(response.content)

    async def fetch_form(self, flow_instance_id: int) -> PortalForm:
        """One instance's FlowInstance XML (the encoding is declared inside), read as a submission."""
        try:
            response = await self._get(f"/api/instanceapi/getinstance/{flow_instance_id}/xml")
        except _InstanceGone:
            raise InstanceRejected("the portal does not know the instance") from None
        return read_form(response.content, self._mapping, self._clock.now(), self._max_age_days)

    async def confirm_delivery(self, flow_instance_id: int, external_id: str, system: str) -> None:
        """Tell the portal the instance was delivered, and register our ids for it."""
        await self._call(
            "confirmDelivery",
            f"<flowInstanceID>{flow_instance_id}</flowInstanceID>"
            f"<externalID><ID>{escape(external_id)}</ID><System>{escape(system)}</System></externalID>"
            "<delivered>true</delivered>",
        )

    async def set_status(self, flow_instance_id: int, status_alias: str) -> None:
        """Set the instance's status in the portal, by the status alias the portal defines."""
        await self._call(
            "setStatus",
            f"<flowInstanceID>{flow_instance_id}</flowInstanceID><statusAlias>{escape(status_alias)}</statusAlias>",
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
        envelope = (
            f'<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="{SOAP_NS}"'
            f' xmlns:cal="{CALLBACK_NS}"><soapenv:Body><cal:{operation}>{inner}</cal:{operation}>'
            "</soapenv:Body></soapenv:Envelope>"
        )
        headers = {"content-type": "text/xml; charset=utf-8", "soapaction": f'"{operation}"'}
        try:
            response = await self._http.post(self._callback_path, content=envelope.encode(), headers=headers)
        except httpx.HTTPError as exc:
            raise PortalUnavailable(type(exc).__name__) from None
        fault = _fault(response.content) if response.content else None
        if fault is not None:
            raise CallbackFault(f"{operation}: {fault}")
        if response.status_code >= 300:
            raise PortalUnavailable(f"HTTP {response.status_code} from the callback service")


def _fault(raw: bytes) -> str | None:
    """The fault's detail element name (AccessDenied, FlowInstanceNotFound, …) or faultcode."""
    try:
        root: Any = parse_xml(raw)
    except ValueError:
        return None
    for node in root.iter():
        if node.tag.rsplit("}", 1)[-1] == "Fault":
            detail = next((d for d in node.iter() if d.tag.rsplit("}", 1)[-1] == "detail"), None)
            if detail is not None and len(detail):
                return str(detail[0].tag.rsplit("}", 1)[-1])
            return "SOAP fault"
    return None
