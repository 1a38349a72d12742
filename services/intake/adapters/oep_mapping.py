"""A configurable mapping from an Open ePlatform form's XML tags to the portal API body.

Each municipality's form builder names questions differently, so the tags and the answer texts
live in a YAML file (example: deploy/config/oeplatform.orosanmalan.yaml). The result is the same
dict a portal would POST, validated by the same `Submission` model, then read as the domain's
submission like any portal request.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from services.intake.adapters.oep_xml import (
    Answer,
    AttachedFile,
    FlowInstance,
    UnreadableInstance,
    parse_flow_instance,
)
from services.intake.domain.open_eplatform import InstanceRejected
from services.intake.ports import PortalForm
from services.intake.schemas import Submission, validation_context

Answers = Mapping[str, Answer]


class UnmappableInstance(ValueError):
    """The instance does not fit the mapping; the message names tags, never answers."""


class _Config(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Choice(_Config):
    """A question whose answer texts translate to codes (several `Value`s for multiple choice)."""

    tag: str
    values: dict[str, Any]
    default: Any = None


class PersonFields(_Config):
    """Which sub-fields of a person question hold what, by the field names the portal exports;
    the first one given wins. The defaults read Open ePlatform's standard contact-details question
    (Firstname, Lastname, SocialSecurityNumber, Phone, MobilePhone, Email) and its user-profile
    person question (firstname, lastname, citizenIdentifier, phone, email, organization, title).
    Address, ZipCode, PostalAddress and CareOf stay in the kept original document."""

    first_name: tuple[str, ...] = ("Firstname", "firstname")
    last_name: tuple[str, ...] = ("Lastname", "lastname")
    personal_number: tuple[str, ...] = ("SocialSecurityNumber", "citizenIdentifier")
    phone: tuple[str, ...] = ("Phone", "MobilePhone", "phone", "mobilePhone")
    email: tuple[str, ...] = ("Email", "email")
    organisation: tuple[str, ...] = ("organization", "Organization")
    role: tuple[str, ...] = ("title", "Title")


class PersonRef(_Config):
    """A person question (its XML tag) and, when its field names differ from the mapping's
    `person_fields`, its own. In YAML a plain tag is short for `{question: tag}`."""

    question: str
    fields: PersonFields | None = None


def _person_ref(value: Any) -> Any:
    return {"question": value} if isinstance(value, str) else value


class ChildMap(_Config):
    """Where one child's answers are: a person question and optional extra questions."""

    person: PersonRef
    birth_date: str | None = None
    sex: Choice | None = None  # answer texts to girl | boy | other | unknown; unasked: unknown
    school: str | None = None
    protected_identity: Choice | None = None

    _person = field_validator("person", mode="before")(_person_ref)


class GuardianMap(_Config):
    """Where one guardian's answers are."""

    person: PersonRef
    informed: Choice | None = None

    _person = field_validator("person", mode="before")(_person_ref)


class ReporterMap(_Config):
    """Where the reporter's answers are."""

    type: Choice
    anonymous: Choice | None = None
    person: PersonRef | None = None
    feedback_requested: Choice | None = None

    _person = field_validator("person", mode="before")(_person_ref)


class ConcernMap(_Config):
    """Where the concern's answers are."""

    categories: Choice
    description: str | None = None
    acute_danger: Choice | None = None
    child_location: str | None = None
    interpreter_language: str | None = None


class FormMapping(_Config):
    """The whole mapping of one e-service family's form."""

    kind: Literal["report", "application"]
    channel: str = "e_service"
    submission_prefix: str = "oep-"
    person_fields: PersonFields = PersonFields()
    reporter: ReporterMap
    children: tuple[ChildMap, ...]
    guardians: tuple[GuardianMap, ...] = ()
    concern: ConcernMap


def load_mapping(path: Path) -> FormMapping:
    """Read and validate a mapping file; a bad file stops start-up with the field named."""
    return FormMapping.model_validate(yaml.safe_load(path.read_text("utf-8")))


def read_instance(
    raw: bytes, charset: str | None, mapping: FormMapping, now: datetime, max_age_days: int
) -> tuple[PortalForm, tuple[AttachedFile, ...]]:
    """A FlowInstance document as a submission, validated as a portal request would be at `now`,
    and the files uploaded with it; InstanceRejected (naming tags or field paths, never answers)
    when it cannot be."""
    try:
        instance = parse_flow_instance(raw, charset)
    except UnreadableInstance as exc:
        raise InstanceRejected(str(exc)) from None
    try:
        body = Submission.model_validate(
            to_submission(instance, mapping), context=validation_context(now, max_age_days)
        )
    except UnmappableInstance as exc:
        raise InstanceRejected(str(exc), instance.first_submitted) from None
    except ValidationError as exc:
        paths = sorted({".".join(str(p) for p in e["loc"]) for e in exc.errors()})
        raise InstanceRejected(
            f"invalid after mapping at {', '.join(paths)}", instance.first_submitted
        ) from None
    details = body.model_dump_json().encode()
    form = PortalForm(instance.flow_instance_id, instance.first_submitted, body.to_domain(), details, raw)
    return form, instance.files


def read_form(raw: bytes, mapping: FormMapping, now: datetime, max_age_days: int) -> PortalForm:
    """`read_instance` without the files (for a document whose encoding is declared inside)."""
    return read_instance(raw, None, mapping, now, max_age_days)[0]


def to_submission(instance: FlowInstance, mapping: FormMapping) -> dict[str, Any]:
    """The portal API body for an instance; raises UnmappableInstance naming the tag at fault."""
    answers = _Answers(instance.answers, mapping.person_fields)
    children = [c for m in mapping.children if (c := _child(answers, m)) is not None]
    return {
        "submission_id": f"{mapping.submission_prefix}{instance.flow_instance_id}",
        "kind": mapping.kind,
        "channel": mapping.channel,
        "submitted_at": instance.first_submitted.isoformat(),
        "reporter": _reporter(answers, mapping.reporter),
        "children": children,
        "guardians": [g for m in mapping.guardians if (g := _guardian(answers, m)) is not None],
        "concern": _concern(answers, mapping.concern),
    }


@dataclass(frozen=True)
class _Answers(Mapping[str, Answer]):
    """The answers, with the mapping's default person field names."""

    by_tag: Answers
    person_fields: PersonFields

    def __getitem__(self, tag: str) -> Answer:
        return self.by_tag[tag]

    def __iter__(self) -> Iterator[str]:
        return iter(self.by_tag)

    def __len__(self) -> int:
        return len(self.by_tag)


def _choose(answers: Answers, choice: Choice | None, many: bool = False) -> Any:
    if choice is None:
        return None
    given = answers.get(choice.tag)
    texts = given.values if given is not None else ()
    unknown = [t for t in texts if t not in choice.values]
    if unknown:
        raise UnmappableInstance(f"question {choice.tag!r}: {len(unknown)} answer(s) not in the mapping")
    codes = [choice.values[t] for t in texts]
    if many:
        return codes
    return codes[0] if codes else choice.default


def _text(answers: Answers, tag: str | None) -> str | None:
    answer = answers.get(tag) if tag else None
    return answer.text() if answer is not None else None


def _person(answers: _Answers, ref: PersonRef | None) -> dict[str, str]:
    """A person question's sub-fields under our names (first_name, personal_number, …)."""
    answer = answers.get(ref.question) if ref is not None else None
    if ref is None or answer is None:
        return {}
    names = ref.fields or answers.person_fields
    person = {}
    for ours, theirs in names.model_dump().items():
        found = next((answer.fields[t] for t in theirs if answer.fields.get(t)), None)
        if found is not None:
            person[ours] = found
    return person


def _name(person: dict[str, str]) -> str | None:
    name = " ".join(p for p in (person.get("first_name"), person.get("last_name")) if p)
    return name or None


def _reporter(answers: _Answers, m: ReporterMap) -> dict[str, Any]:
    person = _person(answers, m.person)
    reporter = {
        "type": _choose(answers, m.type),
        "anonymous": bool(_choose(answers, m.anonymous)),
        "name": _name(person),
        "organisation": person.get("organisation"),
        "role": person.get("role"),
        "phone": person.get("phone"),
        "email": person.get("email"),
        "feedback_requested": bool(_choose(answers, m.feedback_requested)),
    }
    return {k: v for k, v in reporter.items() if v is not None}


def _child(answers: _Answers, m: ChildMap) -> dict[str, Any] | None:
    person = _person(answers, m.person)
    child = {
        "personal_number": person.get("personal_number"),
        "name": _name(person),
        "birth_date": _text(answers, m.birth_date),
        "sex": _choose(answers, m.sex),
        "school": _text(answers, m.school),
        "protected_identity": bool(_choose(answers, m.protected_identity)),
    }
    if not (child["personal_number"] or child["name"] or child["birth_date"]):
        return None  # the form's slot for this child was left empty
    return {k: v for k, v in child.items() if v is not None}


def _guardian(answers: _Answers, m: GuardianMap) -> dict[str, Any] | None:
    person = _person(answers, m.person)
    if not person:
        return None
    guardian = {
        "personal_number": person.get("personal_number"),
        "name": _name(person),
        "informed": _choose(answers, m.informed),
    }
    return {k: v for k, v in guardian.items() if v is not None}


def _concern(answers: Answers, m: ConcernMap) -> dict[str, Any]:
    concern = {
        "categories": _choose(answers, m.categories, many=True),
        "description": _text(answers, m.description) or "",
        "acute_danger": bool(_choose(answers, m.acute_danger)),
        "child_location": _text(answers, m.child_location),
        "interpreter_language": _text(answers, m.interpreter_language),
    }
    return {k: v for k, v in concern.items() if v is not None}
