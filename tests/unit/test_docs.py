"""The documentation names only settings, keys, commands and targets that exist, and all of them.

Pure and fast: reads the Markdown files, the Makefile, the CLI's argparse and the pydantic models.
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import typing
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from referral_router import docs_config
from referral_router.cli import parser
from referral_router.docs_meanings import SETTING_MEANINGS, UNIT_MEANINGS
from referral_router.stack import Ports
from services.assignment.main import AssignmentSettings
from services.intake.main import IntakeSettings
from services.metrics.main import MetricsSettings
from services.notifications.main import NotificationSettings
from services.web.main import WebSettings
from shared.unit_config import UnitConfig

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
CONFIGURATION = REPO / "docs" / "CONFIGURATION.md"
PROSE = [README, CONFIGURATION, REPO / "docs" / "ARCHITECTURE.md", REPO / "docs" / "RUNBOOK.md"]
SETTINGS = (IntakeSettings, AssignmentSettings, NotificationSettings, MetricsSettings, WebSettings)


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """Pydantic models inside a type, looking through Optional, tuple, list and dict."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _models_in(arg)]


def env_names(model: type[BaseModel], prefix: str = "") -> set[str]:
    """Every environment variable a settings model accepts (pydantic-settings, `__` nesting)."""
    names: set[str] = set()
    for name, field in model.model_fields.items():
        nested = _models_in(field.annotation)
        env = f"{prefix}{name.upper()}"
        names |= env_names(nested[0], f"{env}__") if nested else {env}
    return names


def all_env_names() -> set[str]:
    return set().union(*(env_names(cls) for cls in SETTINGS))


def unit_keys() -> dict[str, set[str]]:
    """Model name → its keys, for every object reachable from the unit file's top level."""
    found: dict[str, set[str]] = {}

    def visit(model: type[BaseModel]) -> None:
        found[model.__name__] = set(model.model_fields)
        for field in model.model_fields.values():
            for nested in _models_in(field.annotation):
                if nested.__name__ not in found:
                    visit(nested)

    visit(UnitConfig)
    return found


def code_text(path: Path) -> str:
    """Only the code of a Markdown file: fenced blocks and inline code spans."""
    text = path.read_text("utf-8")
    fenced = re.findall(r"```[^\n]*\n(.*?)```", text, flags=re.S)
    inline = re.findall(r"`([^`\n]+)`", re.sub(r"```.*?```", "", text, flags=re.S))
    return "\n".join(fenced + inline)


def make_targets() -> set[str]:
    text = (REPO / "Makefile").read_text("utf-8")
    return set(re.findall(r"^([a-z][a-z0-9-]*)\s*:(?!=)", text, flags=re.M))


def cli_commands() -> dict[str, set[str]]:
    """Sub-command → its option strings, from the real argparse parser."""
    p = parser()
    sub = next(a for a in p._actions if isinstance(a, argparse._SubParsersAction))
    return {name: set(sp._option_string_actions) for name, sp in sub.choices.items()}


def test_every_setting_of_every_service_is_in_configuration_md() -> None:
    text = CONFIGURATION.read_text("utf-8")
    missing = sorted(n for n in all_env_names() if f"`{n}`" not in text)
    assert not missing, f"docs/CONFIGURATION.md lacks settings: {missing}"


def test_every_unit_file_key_is_in_its_section_of_configuration_md() -> None:
    text = CONFIGURATION.read_text("utf-8")
    missing = []
    for model, keys in unit_keys().items():
        section = re.search(rf"^#### {model}:.*?(?=^#### |\Z)", text, flags=re.M | re.S)
        if section is None:
            missing.append(f"section {model}")
            continue
        missing += [f"{model}.{k}" for k in sorted(keys) if f"| `{k}` |" not in section.group(0)]
    assert not missing, f"docs/CONFIGURATION.md lacks unit-file keys: {missing}"


def test_every_setting_and_key_has_a_meaning_and_no_meaning_is_stale() -> None:
    env = all_env_names()
    keys = {f"{m}.{k}" for m, ks in unit_keys().items() for k in ks}
    assert sorted(env - set(SETTING_MEANINGS)) == []
    assert sorted(set(SETTING_MEANINGS) - env) == []
    assert sorted(keys - set(UNIT_MEANINGS)) == []
    assert sorted(set(UNIT_MEANINGS) - keys) == []


def test_generated_tables_in_configuration_md_are_current() -> None:
    current = CONFIGURATION.read_text("utf-8")
    wanted = docs_config.replace_blocks(current, docs_config.generated())
    assert wanted == current, "run: python -m referral_router.docs_config"


@pytest.mark.parametrize("path", PROSE, ids=lambda p: p.name)
def test_every_settings_variable_named_in_the_docs_exists(path: Path) -> None:
    named = set(re.findall(r"\b[A-Z][A-Z0-9_]*__[A-Z0-9_]+\b", path.read_text("utf-8")))
    unknown = sorted(named - all_env_names())
    assert not unknown, f"{path.name} names settings no service reads: {unknown}"


@pytest.mark.parametrize("path", [README, CONFIGURATION], ids=lambda p: p.name)
def test_every_dev_port_variable_named_in_the_docs_exists(path: Path) -> None:
    named = set(re.findall(r"\bDEV_([A-Z_]+)_PORT\b", path.read_text("utf-8"))) - {"PART"}
    unknown = sorted(n for n in named if n.lower() not in Ports.__dataclass_fields__)
    assert not unknown, f"{path.name} names dev ports that do not exist: {unknown}"


def test_every_make_target_in_the_readme_exists() -> None:
    named = set(re.findall(r"\bmake ([a-z][a-z0-9-]*)", code_text(README)))
    assert named, "the README names no make target at all"
    assert sorted(named - make_targets()) == []


def test_every_referral_router_command_and_option_in_the_readme_exists() -> None:
    commands = cli_commands()
    uses = re.findall(
        r"\breferral-router ([a-z][a-z-]*)((?: +(?:--?[a-z-]+|[^\s`-][^\s`]*))*)", code_text(README)
    )
    assert uses, "the README names no referral-router command at all"
    problems = []
    for command, rest in uses:
        if command not in commands:
            problems.append(command)
            continue
        options = re.findall(r"(?<!\S)(--?[a-z][a-z-]*)", rest.split("#", 1)[0])
        problems += [f"{command} {o}" for o in options if o not in commands[command]]
    assert not problems, f"README names commands or options that do not exist: {problems}"


def test_every_python_module_run_in_the_readme_exists() -> None:
    modules = set(re.findall(r"python -m ([a-z_][a-z0-9_.]*)", code_text(README)))
    missing = sorted(m for m in modules if importlib.util.find_spec(m) is None)
    assert not missing, f"README runs modules that do not exist: {missing}"


def test_every_repository_path_in_the_readme_exists() -> None:
    roots = "docs|deploy|shared|services|tests|bench|referral_router"
    paths = set(re.findall(rf"(?<![\w/.])((?:{roots})/[\w./-]*\w)", README.read_text("utf-8")))
    missing = sorted(p for p in paths if "<" not in p and not (REPO / p).exists())
    assert not missing, f"README points at files that do not exist: {missing}"


def test_every_local_port_in_the_readme_is_a_dev_stack_default() -> None:
    named = {int(p) for p in re.findall(r"127\.0\.0\.1:(\d+)", README.read_text("utf-8"))}
    defaults = {getattr(Ports(), name) for name in Ports.__dataclass_fields__}
    assert named, "the README names no local port at all"
    assert sorted(named - defaults) == []
