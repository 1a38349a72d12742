"""Reading Open ePlatform's documents (DOMAIN.md §4) as they really come, each checked to be what
was asked for: the instance list of `getinstances`, a FlowInstance, a status and a SOAP answer
(or fault). Examples of each, recorded by municipalities' integrations, are in
tests/fixtures/oeplatform/real/.

A FlowInstance must be in an Open ePlatform flowinstance namespace; lists and statuses have none.
Without an XML declaration a document is decoded by the charset of the HTTP Content-Type
(Open ePlatform serves ISO-8859-1). Parsing goes through defusedxml: the XML comes from outside.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from xml.etree.ElementTree import Element

from defusedxml import ElementTree as SafeTree

from shared.clock import STOCKHOLM

FLOWINSTANCE_NS = "http://www.oeplatform.org/version/2.0/schemas/flowinstance"
_FLOWINSTANCE_NS = re.compile(r"^http://www\.oeplatform\.org/version/[0-9.]+/schemas/flowinstance$")
SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
_MASKED = re.compile(r"^\*+$")
_SKIPPED = frozenset({"QueryID", "Name"})
_DECLARATION = re.compile(rb"^(\xef\xbb\xbf)?\s*<\?xml\s")


class UnreadableInstance(ValueError):
    """The document is not a FlowInstance this adapter can read (the message holds no values)."""


class UnexpectedDocument(ValueError):
    """The portal answered with another kind of document than the one asked for (the message
    names the root element and namespace, never contents)."""


@dataclass(frozen=True)
class Answer:
    """One question of the form: its chosen or typed `values`, and the sub-fields of a person."""

    values: tuple[str, ...] = ()
    fields: Mapping[str, str] = field(default_factory=dict)

    def text(self) -> str | None:
        """The first value, or the first sub-field (e.g. a date question's `StartDate`)."""
        if self.values:
            return self.values[0]
        return next(iter(self.fields.values()), None)


@dataclass(frozen=True)
class AttachedFile:
    """One uploaded file (`<File><ID/><Name/><Size/><EncodedData/></File>`): where the file
    endpoint finds it (question id, file id), the name the reporter gave it and its size."""

    question: str
    query_id: int
    file_id: int
    name: str
    size: int


@dataclass(frozen=True)
class FlowInstance:
    """A submitted form: header facts, the answers keyed by the form builder's XML tag, and the
    files uploaded with it (in document order)."""

    flow_instance_id: int
    family_id: str
    status: str | None
    first_submitted: datetime
    answers: Mapping[str, Answer]
    files: tuple[AttachedFile, ...] = ()


@dataclass(frozen=True)
class PortalStatus:
    """A `getstatus` answer: the status's id, name and kind (`SUBMITTED`, `ARCHIVED`, …)."""

    status_id: int
    name: str
    content_type: str | None


@dataclass(frozen=True)
class SoapFault:
    """A SOAP fault as the callback service sent it: its code, its text (kept whole: it names the
    instance and says what is wrong) and the detail element's name, if any."""

    code: str
    text: str
    detail: str | None

    @property
    def instance_not_found(self) -> bool:
        """Whether the portal no longer knows the instance (purged or deleted): the real service
        says so in the text ("The requested flow instance with ID … was not found"), the WSDL's
        typed fault in the detail."""
        lowered = self.text.lower()
        return self.detail == "FlowInstanceNotFoundFault" or (
            "flow instance" in lowered and "not found" in lowered
        )


def _local(element: Element) -> str:
    return element.tag.rsplit("}", 1)[-1]


def _namespace(element: Element) -> str:
    return element.tag[1:].split("}", 1)[0] if element.tag.startswith("{") else ""


def _child(element: Element, name: str) -> Element | None:
    return next((c for c in element if _local(c) == name), None)


def _path_text(element: Element, *names: str) -> str | None:
    node: Element | None = element
    for name in names:
        node = _child(node, name) if node is not None else None
    return node.text.strip() if node is not None and node.text else None


def _describe(root: Element) -> str:
    ns = _namespace(root)
    return f"<{_local(root)}>" + (f" in namespace {ns}" if ns else " (no namespace)")


def parse_xml(raw: bytes, charset: str | None = None) -> Element:
    """Parse bytes by their XML declaration, or, without one, by the HTTP header's `charset`."""
    if charset and not _DECLARATION.match(raw):
        try:
            raw = raw.decode(charset).encode("utf-8")
        except (LookupError, UnicodeDecodeError):
            raise UnreadableInstance(f"the document is not {charset} as its Content-Type says") from None
    try:
        root: Element = SafeTree.fromstring(raw)
    except SafeTree.ParseError as exc:
        raise UnreadableInstance(f"not well-formed XML (line {exc.position[0]})") from None
    return root


def local_time(text: str) -> datetime:
    """Open ePlatform times have no offset: they are Swedish local time (DOMAIN.md §4)."""
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise UnreadableInstance("a header time is not an ISO date-time") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=STOCKHOLM)
    return parsed.astimezone(UTC)


def parse_flow_instance(raw: bytes, charset: str | None = None) -> FlowInstance:
    """The header, answers and files of one FlowInstance document."""
    root = parse_xml(raw, charset)
    if _local(root) != "FlowInstance" or not _FLOWINSTANCE_NS.match(_namespace(root)):
        raise UnreadableInstance(
            f"expected a FlowInstance in the Open ePlatform namespace, got {_describe(root)}"
        )
    header, values = _child(root, "Header"), _child(root, "Values")
    if header is None:
        raise UnreadableInstance("the FlowInstance has no Header")
    instance_id, family = _path_text(header, "FlowInstanceID"), _path_text(header, "Flow", "FamilyID")
    submitted = _path_text(header, "FirstSubmitted") or _path_text(header, "Posted")
    if not (instance_id and instance_id.isdigit() and family and submitted):
        raise UnreadableInstance("the header lacks FlowInstanceID, Flow/FamilyID or FirstSubmitted")
    questions = list(values) if values is not None else []
    return FlowInstance(
        flow_instance_id=int(instance_id),
        family_id=family,
        status=_path_text(header, "Status", "Name"),
        first_submitted=local_time(submitted),
        answers={_local(q): _answer(q) for q in questions},
        files=tuple(f for q in questions for f in _files(q)),
    )


def _answer(question: Element) -> Answer:
    values: list[str] = []
    fields: dict[str, str] = {}
    for leaf in question.iter():
        name = _local(leaf)
        if leaf is question or len(leaf) or name in _SKIPPED or _in_file(question, leaf):
            continue
        text = (leaf.text or "").strip()
        if name == "Value":
            values.append(text)
        elif text and not _MASKED.match(text):  # a masked identity number counts as unknown
            fields.setdefault(name, text)
    return Answer(tuple(v for v in values if v), fields)


def _in_file(question: Element, leaf: Element) -> bool:
    return any(leaf in list(f.iter()) for f in question.iter() if _local(f) == "File")


def _files(question: Element) -> list[AttachedFile]:
    query_id = _path_text(question, "QueryID")
    found = []
    for node in question.iter():
        if _local(node) != "File":
            continue
        file_id, name, size = _path_text(node, "ID"), _path_text(node, "Name"), _path_text(node, "Size")
        if not (
            query_id and query_id.isdigit() and file_id and file_id.isdigit() and size and size.isdigit()
        ):
            raise UnreadableInstance(f"a File of question {_local(question)!r} lacks QueryID, ID or Size")
        found.append(AttachedFile(_local(question), int(query_id), int(file_id), name or "", int(size)))
    return found


def parse_instance_list(raw: bytes, charset: str | None = None) -> list[int]:
    """The ids of a `getinstances` answer (`FlowInstances/FlowInstance/flowInstanceID`), in the
    order given; UnexpectedDocument for anything else (a status, a SOAP answer, a FlowInstance)."""
    root = parse_xml(raw, charset)
    if _local(root) != "FlowInstances" or _namespace(root):
        raise UnexpectedDocument(f"expected the instance list <FlowInstances>, got {_describe(root)}")
    ids = []
    for node in root:
        if _local(node) != "FlowInstance":
            raise UnexpectedDocument(f"the instance list holds a <{_local(node)}>")
        given = _path_text(node, "flowInstanceID") or _path_text(node, "FlowInstanceID") or ""
        if not given.isdigit():
            raise UnexpectedDocument("an instance in the list has no numeric flowInstanceID")
        ids.append(int(given))
    return ids


def parse_status(raw: bytes, charset: str | None = None) -> PortalStatus:
    """A `getstatus` answer; UnexpectedDocument for anything else."""
    root = parse_xml(raw, charset)
    status_id, name = _path_text(root, "statusID"), _path_text(root, "name")
    if _local(root) != "Status" or _namespace(root) or not (status_id and status_id.isdigit() and name):
        raise UnexpectedDocument(f"expected a <Status> with statusID and name, got {_describe(root)}")
    return PortalStatus(int(status_id), name, _path_text(root, "contentType"))


def parse_soap_answer(raw: bytes, expected: str) -> SoapFault | None:
    """None when a SOAP envelope answers with `expected` (e.g. `setStatusResponse`), the fault
    when it holds one; UnexpectedDocument for anything else."""
    root = parse_xml(raw)
    body = _child(root, "Body")
    if _local(root) != "Envelope" or _namespace(root) != SOAP_NS or body is None or not len(body):
        raise UnexpectedDocument(f"expected a SOAP envelope, got {_describe(root)}")
    answer = body[0]
    if _local(answer) == "Fault" and _namespace(answer) == SOAP_NS:
        detail = _child(answer, "detail")
        return SoapFault(
            code=_path_text(answer, "faultcode") or "",
            text=_path_text(answer, "faultstring") or "",
            detail=_local(detail[0]) if detail is not None and len(detail) else None,
        )
    if _local(answer) != expected:
        raise UnexpectedDocument(f"expected <{expected}>, got {_describe(answer)}")
    return None
