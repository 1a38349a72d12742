"""The dossier in plain words: labels in the page's language, flags as yes/no, categories named."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from services.web.domain.texts import Language, text

DOSSIER_SECTIONS = ("child", "guardians", "reporter", "concern", "attachments")


@dataclass(frozen=True)
class DossierSection:
    """One part of the report (the child, each guardian, …) as labelled lines of text."""

    key: str
    title: str
    groups: tuple[tuple[tuple[str, str], ...], ...]


def dossier_sections(raw: Mapping[str, Any], language: Language) -> list[DossierSection]:
    """The dossier as intake returns it, in plain words: labels in the page's language, yes/no for
    flags, concern categories named; a part missing from the answer is left out."""
    sections = []
    for key in DOSSIER_SECTIONS:
        value = raw.get(key)
        if value is None:
            continue
        items = value if isinstance(value, list) else [value]
        groups = tuple(_dossier_lines(item, language) for item in items if isinstance(item, Mapping))
        sections.append(DossierSection(key, text(f"dossier_{key}", language), groups))
    return sections


def _dossier_lines(item: Mapping[str, Any], language: Language) -> tuple[tuple[str, str], ...]:
    return tuple(
        (text(f"field_{name}", language), _dossier_value(name, v, language)) for name, v in item.items()
    )


def _dossier_value(name: str, value: Any, language: Language) -> str:
    if value is None or value == "" or value == []:
        return "–"
    if isinstance(value, bool):
        return text("yes" if value else "no", language)
    if name == "categories" and isinstance(value, list):
        return ", ".join(text(f"category_{c}", language) for c in value)
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)
