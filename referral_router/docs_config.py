"""Generate the settings and unit-config tables of docs/CONFIGURATION.md from the pydantic models.

`python -m referral_router.docs_config` rewrites the generated blocks in place;
`python -m referral_router.docs_config --check` exits 1 when they are out of date. The models are
the truth: names, types, defaults, constraints and which service reads a setting come from them;
only the one-line meanings are written by hand (referral_router/docs_meanings.py).
"""

from __future__ import annotations

import argparse
import sys
import types
import typing
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import annotated_types as at
import pydantic_core
import yaml
from pydantic import BaseModel, EmailStr, SecretStr
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings

from referral_router.docs_meanings import SETTING_MEANINGS, UNIT_MEANINGS
from services.assignment.main import AssignmentSettings
from services.intake.main import IntakeSettings
from services.metrics.main import MetricsSettings
from services.notifications.main import NotificationSettings
from services.web.main import WebSettings
from shared.unit_config import UnitConfig

REPO = Path(__file__).resolve().parent.parent
DOC = REPO / "docs" / "CONFIGURATION.md"
EXAMPLE = REPO / "deploy" / "config" / "unit.example.yaml"
SERVICE_SETTINGS: dict[str, type[BaseSettings]] = {
    "intake": IntakeSettings,
    "assignment": AssignmentSettings,
    "notifications": NotificationSettings,
    "metrics": MetricsSettings,
    "web": WebSettings,  # the staff web app (services/web), not a Kafka service
}
BACKEND = ("intake", "assignment", "notifications", "metrics")
BOUNDS = ((at.Ge, "ge", "≥"), (at.Gt, "gt", ">"), (at.Le, "le", "≤"), (at.Lt, "lt", "<"))


@dataclass(frozen=True)
class Setting:
    """One environment variable of one service."""

    env: str
    type: str
    default: str
    secret: bool
    service: str


@dataclass(frozen=True)
class UnitKey:
    """One key of one model in the unit config file."""

    model: str
    key: str
    type: str
    default: str
    example: str


def _model_of(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model inside `X` or `X | None`, if any."""
    candidates = typing.get_args(annotation) if _is_union(annotation) else (annotation,)
    for c in candidates:
        if isinstance(c, type) and issubclass(c, BaseModel):
            return c
    return None


def _is_union(annotation: Any) -> bool:
    return typing.get_origin(annotation) in (typing.Union, types.UnionType)


def type_name(annotation: Any) -> str:
    """A reader's name for a type: `int`, `` `a` | `b` ``, `list[str]`, `staff id`."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        return "staff id" if _is_staff_id(annotation) else type_name(args[0])
    if origin is typing.Literal:
        return " \\| ".join(f"`{a}`" for a in args)
    if _is_union(annotation):
        return " \\| ".join(type_name(a) for a in args if a is not type(None)) + " (optional)"
    if origin in (tuple, list):
        return f"list of {type_name(args[0])}"
    if origin is dict:
        return f"map {type_name(args[0])} → {type_name(args[1])}"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "object"
    names = {
        SecretStr: "secret string",
        Path: "path",
        EmailStr: "email",
        time: "time `HH:MM`",
        date: "date `YYYY-MM-DD`",
        datetime: "date-time with UTC offset",
        timedelta: "ISO 8601 duration",
    }
    return names.get(annotation, getattr(annotation, "__name__", str(annotation)))


def _is_staff_id(annotation: Any) -> bool:
    return any("pattern=" in repr(m) and "a-z0-9" in repr(m) for m in typing.get_args(annotation)[1:])


def constraints(field: FieldInfo) -> str:
    """Bounds and length limits of a field, e.g. `≥ 1, ≤ 1024`."""
    parts = []
    for m in field.metadata:
        for kind, attr, symbol in (
            (at.Ge, "ge", "≥"),
            (at.Gt, "gt", ">"),
            (at.Le, "le", "≤"),
            (at.Lt, "lt", "<"),
        ):
            if isinstance(m, kind):
                parts.append(f"{symbol} {pydantic_core.to_jsonable_python(getattr(m, attr))}")
        if isinstance(m, at.MinLen) and m.min_length > 0:
            parts.append(f"at least {m.min_length}")
    return ", ".join(parts)


def render_value(value: Any) -> str:
    """A value as it would be written in the file or environment."""
    if value is None:
        return "unset"
    if isinstance(value, SecretStr):
        secret = value.get_secret_value()
        return f"`{secret}`" if secret else "empty"
    if isinstance(value, BaseModel):
        return "see below"
    if isinstance(value, (dict, tuple, list)):
        text = pydantic_core.to_json(value).decode()
    else:
        jsonable = pydantic_core.to_jsonable_python(value)
        text = str(jsonable).lower() if isinstance(jsonable, bool) else str(jsonable)
    return f"`{text}`" if text != "" else "empty"


def render_default(field: FieldInfo) -> str:
    """A field's own default; `required` when it has none."""
    return "required" if field.is_required() else render_value(field.get_default(call_default_factory=True))


def _with_constraints(field: FieldInfo) -> str:
    bounds = constraints(field)
    staff_id = any("a-z0-9" in str(getattr(m, "pattern", "")) for m in field.metadata)
    name = "staff id" if staff_id else type_name(field.annotation)
    return name + (f" ({bounds})" if bounds else "")


def walk_settings(
    model: type[BaseModel], instance: Any, prefix: str, service: str, optional_group: bool = False
) -> Iterator[Setting]:
    """Every environment variable a settings model accepts, nested with `__`.

    `instance` is the group's default object when the service gives one (e.g. its HTTP port);
    fields of an optional group (unset by default, like `OEP`) are required only when it is used.
    """
    for name, field in model.model_fields.items():
        env = f"{prefix}{name.upper()}"
        nested = _model_of(field.annotation)
        if nested is not None:
            if instance is not None:
                value = getattr(instance, name)
            else:
                value = None if field.is_required() else field.get_default(call_default_factory=True)
            optional = optional_group or (value is None and not field.is_required())
            yield from walk_settings(nested, value, f"{env}__", service, optional)
            continue
        if instance is not None:
            default = render_value(getattr(instance, name))
        elif field.is_required():
            default = "required when the group is used" if optional_group else "required"
        else:
            default = render_default(field)
        secret = "SecretStr" in repr(field.annotation)
        yield Setting(env, _with_constraints(field), default, secret, service)


def all_settings() -> list[Setting]:
    """Every environment variable of every service."""
    found: list[Setting] = []
    for service, cls in SERVICE_SETTINGS.items():
        found.extend(walk_settings(cls, None, "", service))
    return found


def settings_table() -> str:
    """One Markdown row per environment variable, with the services that read it."""
    by_env: dict[str, list[Setting]] = {}
    for s in all_settings():
        by_env.setdefault(s.env, []).append(s)
    rows = ["| Variable | Type | Default | Read by | Secret | Meaning |", "|---|---|---|---|---|---|"]
    for env, found in by_env.items():
        services = [s.service for s in found]
        who = _readers(services)
        defaults = {s.default for s in found}
        default = (
            found[0].default if len(defaults) == 1 else ", ".join(f"{s.service}: {s.default}" for s in found)
        )
        meaning = SETTING_MEANINGS.get(env, "")
        secret = "**yes**" if found[0].secret else "no"
        rows.append(f"| `{env}` | {found[0].type} | {default} | {who} | {secret} | {meaning} |")
    return "\n".join(rows)


def _readers(services: list[str]) -> str:
    """`all four` (the Kafka services), `all four, web`, or the services by name."""
    if not set(BACKEND) <= set(services):
        return ", ".join(services)
    return "all four" + "".join(f", {s}" for s in services if s not in BACKEND)


def unit_models() -> dict[type[BaseModel], list[str]]:
    """Every model reachable from UnitConfig, with the paths where it occurs in the file."""
    found: dict[type[BaseModel], list[str]] = {UnitConfig: ["(top level)"]}

    def visit(model: type[BaseModel], path: str) -> None:
        for name, field in model.model_fields.items():
            nested, suffix = _nested_model(field.annotation)
            if nested is None:
                continue
            child = f"{path}.{name}{suffix}".lstrip(".")
            found.setdefault(nested, []).append(child)
            visit(nested, child)

    visit(UnitConfig, "")
    return found


def _nested_model(annotation: Any) -> tuple[type[BaseModel] | None, str]:
    """The model inside a field type, and `[]` when it is a list of them."""
    if typing.get_origin(annotation) in (tuple, list):
        return _model_of(typing.get_args(annotation)[0]), "[]"
    return _model_of(annotation), ""


def example_value(raw: Any, paths: list[str], key: str, is_model: bool) -> str:
    """The value the example unit file gives this key, at the first place the model has it."""
    for path in paths:
        parts = [p for p in path.split(".") if p and p != "(top level)"]
        for node in _nodes(raw, parts):
            if isinstance(node, Mapping) and key in node:
                return _example_text(node[key], is_model)
    return ""


def _nodes(node: Any, parts: list[str]) -> Iterator[Any]:
    """Every object at a dotted path, taking each element of a `[]` list in turn."""
    if not parts:
        yield node
        return
    child = node.get(parts[0].removesuffix("[]")) if isinstance(node, Mapping) else None
    if parts[0].endswith("[]"):
        for element in child if isinstance(child, list) else []:
            yield from _nodes(element, parts[1:])
    elif child is not None:
        yield from _nodes(child, parts[1:])


def _example_text(value: Any, is_model: bool) -> str:
    if is_model:
        return "see below"
    if isinstance(value, (list, dict, bool)):
        return f"`{pydantic_core.to_json(value).decode()}`"
    return f"`{value}`"


def unit_config_tables() -> str:
    """One Markdown table per unit-config model, top level first."""
    raw = yaml.safe_load(EXAMPLE.read_text("utf-8"))
    out: list[str] = []
    for model, paths in unit_models().items():
        where = ", ".join(f"`{p}`" if p != "(top level)" else p for p in paths)
        doc = (model.__doc__ or "").strip().splitlines()[0]
        out += [f"#### {model.__name__}: {where}", "", doc, ""]
        out += ["| Key | Type | Default | Example | Meaning |", "|---|---|---|---|---|"]
        for key, field in model.model_fields.items():
            meaning = UNIT_MEANINGS.get(f"{model.__name__}.{key}", "")
            example = example_value(raw, paths, key, _nested_model(field.annotation)[0] is not None)
            default = render_default(field)
            out.append(f"| `{key}` | {_with_constraints(field)} | {default} | {example} | {meaning} |")
        out.append("")
    return "\n".join(out).rstrip()


def generated() -> dict[str, str]:
    """The text of each generated block."""
    return {"settings": settings_table(), "unit-config": unit_config_tables()}


def replace_blocks(text: str, blocks: Mapping[str, str]) -> str:
    """Put each block between its `<!-- BEGIN GENERATED: name -->` and END markers."""
    for name, body in blocks.items():
        begin, end = f"<!-- BEGIN GENERATED: {name} -->", f"<!-- END GENERATED: {name} -->"
        head, found, rest = text.partition(begin)
        if not found:
            raise ValueError(f"{DOC.name} has no marker {begin}")
        _, found, tail = rest.partition(end)
        if not found:
            raise ValueError(f"{DOC.name} has no marker {end}")
        text = f"{head}{begin}\n{body}\n{end}{tail}"
    return text


def main(argv: list[str] | None = None) -> int:
    """Rewrite the generated blocks of docs/CONFIGURATION.md, or check that they are current."""
    p = argparse.ArgumentParser(prog="python -m referral_router.docs_config", description=__doc__)
    p.add_argument("--check", action="store_true", help="exit 1 if the document is out of date")
    args = p.parse_args(argv)
    current = DOC.read_text("utf-8")
    wanted = replace_blocks(current, generated())
    if args.check:
        if wanted != current:
            print(f"{DOC} is out of date: run python -m referral_router.docs_config", file=sys.stderr)
            return 1
        return 0
    DOC.write_text(wanted, "utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
