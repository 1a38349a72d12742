"""Reading Open ePlatform FlowInstance XML (DOMAIN.md §4): the header and every question's answer.

Namespaces are matched by local name only: portals differ in prefixes and in whether `Values`
children are namespaced. Parsing goes through defusedxml, because the XML comes from outside.
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
_MASKED = re.compile(r"^\*+$")
_SKIPPED = frozenset({"QueryID", "Name"})


class UnreadableInstance(ValueError):
    """The document is not a FlowInstance this adapter can read (the message holds no values)."""


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
class FlowInstance:
    """A submitted form: header facts and the answers keyed by the form builder's XML tag."""

    flow_instance_id: int
    family_id: str
    status: str | None
    first_submitted: datetime
    answers: Mapping[str, Answer]


def _local(element: Element) -> str:
    return element.tag.rsplit("}", 1)[-1]


def _child(element: Element, name: str) -> Element | None:
    return next((c for c in element if _local(c) == name), None)


def _path_text(element: Element, *names: str) -> str | None:
    node: Element | None = element
    for name in names:
        node = _child(node, name) if node is not None else None
    return node.text.strip() if node is not None and node.text else None


def parse_xml(raw: bytes) -> Element:
    """Parse bytes honouring their declared encoding (ISO-8859-1 for FlowInstances)."""
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


def parse_flow_instance(raw: bytes) -> FlowInstance:
    """The header and answers of one FlowInstance document."""
    root = parse_xml(raw)
    header, values = _child(root, "Header"), _child(root, "Values")
    if _local(root) != "FlowInstance" or header is None:
        raise UnreadableInstance("the document is not a FlowInstance with a Header")
    instance_id, family = _path_text(header, "FlowInstanceID"), _path_text(header, "Flow", "FamilyID")
    submitted = _path_text(header, "FirstSubmitted") or _path_text(header, "Posted")
    if not (instance_id and instance_id.isdigit() and family and submitted):
        raise UnreadableInstance("the header lacks FlowInstanceID, Flow/FamilyID or FirstSubmitted")
    return FlowInstance(
        flow_instance_id=int(instance_id),
        family_id=family,
        status=_path_text(header, "Status", "Name"),
        first_submitted=local_time(submitted),
        answers={_local(q): _answer(q) for q in (values if values is not None else ())},
    )


def _answer(question: Element) -> Answer:
    values: list[str] = []
    fields: dict[str, str] = {}
    for leaf in question.iter():
        name = _local(leaf)
        if leaf is question or len(leaf) or name in _SKIPPED:
            continue
        text = (leaf.text or "").strip()
        if name == "Value":
            values.append(text)
        elif text and not _MASKED.match(text):  # a masked identity number counts as unknown
            fields.setdefault(name, text)
    return Answer(tuple(v for v in values if v), fields)


def parse_instance_list(raw: bytes) -> list[int]:
    """The FlowInstanceIDs of a `getinstances` answer, in the order given."""
    root = parse_xml(raw)
    ids = [
        (_path_text(node, "FlowInstanceID") or "") for node in root.iter() if _local(node) == "FlowInstance"
    ]
    if not all(i.isdigit() for i in ids):
        raise UnreadableInstance("an instance in the list has no numeric FlowInstanceID")
    return [int(i) for i in ids]
