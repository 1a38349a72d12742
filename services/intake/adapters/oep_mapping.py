"""A configurable mapping from an Open ePlatform form's XML tags to the portal API body.

Each municipality's form builder names questions differently, so the tags and the answer texts
live in a YAML file (example: deploy/config/oeplatform.orosanmalan.yaml). The result is the same
dict a portal would POST, validated by the same `Submission` model, then read as the domain's
submission like any portal request.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from services.intake.adapters.oep_xml import Answer, FlowInstance, UnreadableInstance, parse_flow_instance
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


class ChildMap(_Config):
    """Where one child's answers are: a person question and optional extra questions."""

    person: str
    birth_date: str | None = None
    sex: Choice | None = None  # answer texts to girl | boy | other | unknown; unasked: unknown
    school: str | None = None
    protected_identity: Choice | None = None


class GuardianMap(_Config):
    """Where one guardian's answers are."""

    person: str
    informed: Choice | None = None


class ReporterMap(_Config):
    """Where the reporter's answers are."""

    type: Choice
    anonymous: Choice | None = None
    person: str | None = None
    feedback_requested: Choice | None = None


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
    reporter: ReporterMap
    children: tuple[ChildMap, ...]
    guardians: tuple[GuardianMap, ...] = ()
    concern: ConcernMap


def load_mapping(path: Path) -> FormMapping:
    """Read and validate a mapping file; a bad file stops start-up with the field named."""
    return FormMapping.model_validate(yaml.safe_load(path.read_text("utf-8")))


def read_form(raw: bytes, mapping: FormMapping, now: datetime, max_age_days: int) -> PortalForm:
    """A FlowInstance document as a submission, validated as a portal request would be at `now`;
    InstanceRejected (naming tags or field paths, never answers) when it cannot be."""
    try:
        instance = parse_flow_instance(raw)
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
    return PortalForm(instance.flow_instance_id, instance.first_submitted, body.to_domain(), details, raw)


def to_submission(instance: FlowInstance, mapping: FormMapping) -> dict[str, Any]:
    """The portal API body for an instance; raises UnmappableInstance naming the tag at fault."""
    answers = instance.answers
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


def _person(answers: Answers, tag: str | None) -> dict[str, str]:
    answer = answers.get(tag) if tag else None
    return dict(answer.fields) if answer is not None else {}


def _name(person: dict[str, str]) -> str | None:
    name = " ".join(p for p in (person.get("firstname"), person.get("lastname")) if p)
    return name or None


def _reporter(answers: Answers, m: ReporterMap) -> dict[str, Any]:
    person = _person(answers, m.person)
    reporter = {
        "type": _choose(answers, m.type),
        "anonymous": bool(_choose(answers, m.anonymous)),
        "name": _name(person),
        "organisation": person.get("organization"),
        "role": person.get("title"),
        "phone": person.get("phone") or person.get("mobilePhone"),
        "email": person.get("email"),
        "feedback_requested": bool(_choose(answers, m.feedback_requested)),
    }
    return {k: v for k, v in reporter.items() if v is not None}


def _child(answers: Answers, m: ChildMap) -> dict[str, Any] | None:
    person = _person(answers, m.person)
    child = {
        "personal_number": person.get("citizenIdentifier"),
        "name": _name(person),
        "birth_date": _text(answers, m.birth_date),
        "sex": _choose(answers, m.sex),
        "school": _text(answers, m.school),
        "protected_identity": bool(_choose(answers, m.protected_identity)),
    }
    if not (child["personal_number"] or child["name"] or child["birth_date"]):
        return None  # the form's slot for this child was left empty
    return {k: v for k, v in child.items() if v is not None}


def _guardian(answers: Answers, m: GuardianMap) -> dict[str, Any] | None:
    person = _person(answers, m.person)
    if not person:
        return None
    guardian = {
        "personal_number": person.get("citizenIdentifier"),
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
