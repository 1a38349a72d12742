"""The deployment files agree with the code: docker-compose.yml, deploy/Dockerfile, Prometheus.

No Docker engine is needed: the files are parsed and checked against the services' modules and
pydantic settings classes, so a misspelled environment variable (which pydantic-settings would
silently ignore), a wrong module, a port open to the network or a floating image tag fails here.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import re
import shlex
import types
import typing
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml
from pydantic import BaseModel, SecretStr
from pydantic_settings import BaseSettings

from shared.settings import ServiceSettings

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "deploy" / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
PROMETHEUS_FILE = REPO / "deploy" / "prometheus" / "prometheus.yml"
ENV_EXAMPLE = REPO / "deploy" / "compose" / ".env.example"
SERVICE_MODULES = {
    "services.intake.main",
    "services.assignment.main",
    "services.notifications.main",
    "services.metrics.main",
}
LOOPBACK = "127.0.0.1"
SECRET_NAME = re.compile(r"PASSWORD|SECRET|PEPPER|TOKEN|CRYPTO__KEYS|PORTAL__CLIENTS")
# ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?message}, ${VAR?message}
INTERPOLATION = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


# --- reading the files -------------------------------------------------------------------------


def load_compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def app_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The compose services built from deploy/Dockerfile (our four services)."""
    found = {}
    for name, spec in compose["services"].items():
        build = spec.get("build")
        if isinstance(build, dict) and PurePosixPath(build.get("dockerfile", "")) == PurePosixPath(
            "deploy/Dockerfile"
        ):
            found[name] = spec
    return found


def command_module(spec: dict[str, Any]) -> str | None:
    """The module after `-m` in a service's command, if any."""
    command = spec.get("command") or []
    argv = shlex.split(command) if isinstance(command, str) else [str(a) for a in command]
    if "-m" in argv and argv.index("-m") + 1 < len(argv):
        return argv[argv.index("-m") + 1]
    return None


def environment(spec: dict[str, Any]) -> dict[str, str | None]:
    """A service's environment (mapping or list form, plus any env_file), as strings."""
    env: dict[str, str | None] = {}
    env_files = spec.get("env_file") or []
    for entry in [env_files] if isinstance(env_files, str | dict) else env_files:
        path = REPO / (entry["path"] if isinstance(entry, dict) else entry)
        env.update(parse_env_file(path.read_text()))
    raw = spec.get("environment") or {}
    if isinstance(raw, list):
        for item in raw:
            key, sep, value = str(item).partition("=")
            env[key] = value if sep else None
    else:
        env.update(
            {
                k: None if v is None else str(v).lower() if isinstance(v, bool) else str(v)
                for k, v in raw.items()
            }
        )
    return env


def parse_env_file(text: str) -> dict[str, str]:
    """KEY=value lines of a compose env file; quotes around the value are removed."""
    env = {}
    for raw_line in text.splitlines():
        line = raw_line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        env[key.strip()] = value
    return env


def interpolate(value: str, variables: dict[str, str]) -> str:
    """Compose variable interpolation; a missing `${VAR:?…}` variable fails like compose does."""

    def replace(match: re.Match[str]) -> str:
        name, op, arg = match["name"], match["op"], match["arg"]
        present = name in variables and (variables[name] != "" or op not in (":-", ":?"))
        if present:
            return variables[name]
        if op in ("-", ":-"):
            return arg
        if op in ("?", ":?"):
            raise KeyError(f"{name} is required: {arg}")
        return ""

    return INTERPOLATION.sub(replace, value).replace("$$", "$")


def strings_in(node: Any) -> list[str]:
    """Every string value (and mapping key) in parsed YAML; comments are not included."""
    if isinstance(node, dict):
        return [s for k, v in node.items() for s in [*strings_in(k), *strings_in(v)]]
    if isinstance(node, list):
        return [s for item in node for s in strings_in(item)]
    return [node] if isinstance(node, str) else []


def settings_class(module_name: str) -> type[BaseSettings]:
    """The one settings class defined in a composition root (a ServiceSettings subclass for the
    four services; the web app's WebSettings, which has no Kafka or database)."""
    module = importlib.import_module(module_name)
    classes = [
        obj
        for obj in vars(module).values()
        if inspect.isclass(obj)
        and issubclass(obj, BaseSettings)
        and obj not in (ServiceSettings, BaseSettings)
        and obj.__module__ == module.__name__
    ]
    assert len(classes) == 1, f"{module_name} defines {len(classes)} settings classes"
    return classes[0]


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with continuation lines joined and comments dropped."""
    logical: list[str] = []
    pending = ""
    for raw_line in DOCKERFILE.read_text().splitlines():
        line = raw_line.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    return [
        (parts[0].upper(), parts[1] if len(parts) > 1 else "")
        for parts in (line.split(None, 1) for line in logical)
    ]


# --- what the settings classes accept ----------------------------------------------------------


@dataclass(frozen=True)
class Setting:
    required: bool
    secret: bool


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """BaseModel classes a field may hold directly (`Model`, `Model | None`)."""
    if inspect.isclass(annotation) and issubclass(annotation, BaseModel):
        return [annotation]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return [m for arg in typing.get_args(annotation) for m in _models_in(arg)]
    return []


def _mentions_secret(annotation: Any) -> bool:
    if annotation is SecretStr:
        return True
    return any(_mentions_secret(arg) for arg in typing.get_args(annotation))


def env_settings(model: type[BaseModel], prefix: str = "", required: bool = True) -> dict[str, Setting]:
    """Every environment variable name a settings model reads, upper-cased, `__`-nested.

    Nested BaseModel fields recurse; everything else (str, int, Path, dict, list, SecretStr…) is
    one variable. A leaf is required only if it and every group above it have no default.
    """
    names: dict[str, Setting] = {}
    for field_name, field in model.model_fields.items():
        alias = field.validation_alias if isinstance(field.validation_alias, str) else field.alias
        name = f"{prefix}{alias or field_name}".upper()
        leaf_required = required and field.is_required()
        models = _models_in(field.annotation)
        if models:
            for nested in models:
                names.update(env_settings(nested, f"{name}__", leaf_required))
        else:
            names[name] = Setting(leaf_required, _mentions_secret(field.annotation))
    return names


def unknown_variables(cls: type[BaseSettings], env: dict[str, str | None]) -> list[str]:
    """Environment variables that `cls` would silently ignore."""
    config = cls.model_config
    assert config.get("env_nested_delimiter") == "__"
    assert config.get("env_prefix", "") == ""
    valid = env_settings(cls)
    return sorted(name for name in env if name not in valid)


def port_problems(ports: list[Any]) -> list[str]:
    """Published ports that do not bind 127.0.0.1 only."""
    problems = []
    for port in ports:
        if isinstance(port, dict):
            if port.get("published") is not None and port.get("host_ip") != LOOPBACK:
                problems.append(str(port))
        elif not str(port).startswith(f"{LOOPBACK}:"):
            problems.append(str(port))
    return problems


def image_problem(image: str) -> str | None:
    """Why an image reference is not pinned, or None if it is."""
    if "@sha256:" in image:
        return None
    last = image.rsplit("/", 1)[-1]
    if ":" not in last:
        return f"{image}: no tag"
    tag = last.rsplit(":", 1)[1]
    if tag == "latest" or "$" in tag:
        return f"{image}: tag {tag!r} floats"
    return None


def host_path(spec: dict[str, Any], container_path: str) -> Path | None:
    """The repository path bind-mounted at `container_path` in a service, if any."""
    target = PurePosixPath(container_path)
    for volume in spec.get("volumes") or []:
        if isinstance(volume, dict):
            source, mount = interpolate(volume.get("source", ""), {}), volume.get("target", "")
        else:
            source, _, rest = interpolate(str(volume), {}).partition(":")
            mount = rest.split(":", 1)[0]
        if not source.startswith((".", "/")):
            continue  # a named volume
        mount_path = PurePosixPath(mount)
        if target == mount_path or mount_path in target.parents:
            return (REPO / source / target.relative_to(mount_path)).resolve()
    return None


def http_port(cls: type[BaseSettings], env: dict[str, str | None]) -> int:
    if env.get("HTTP__PORT"):
        return int(str(env["HTTP__PORT"]))
    return int(cls.model_fields["http"].default.port)


COMPOSE = load_compose()
WEB_MODULE = "services.web.main"
# The four Kafka services; the web app (no Kafka, no database) has tests of its own below.
APPS = {n: s for n, s in app_services(COMPOSE).items() if command_module(s) != WEB_MODULE}
WEB = {n: s for n, s in app_services(COMPOSE).items() if command_module(s) == WEB_MODULE}


def app_params() -> list[Any]:
    return [pytest.param(name, spec, id=name) for name, spec in APPS.items()]


# --- docker-compose.yml: our four services ------------------------------------------------------


def test_compose_runs_exactly_the_four_services_from_the_project_image():
    assert {command_module(spec) for spec in APPS.values()} == SERVICE_MODULES
    assert len(APPS) == len(SERVICE_MODULES)


# --- docker-compose.yml: the staff web app ------------------------------------------------------


def test_compose_runs_the_web_app_once_from_the_project_image():
    assert list(WEB) == ["web"]
    assert callable(importlib.import_module(WEB_MODULE).main)


def test_the_web_app_s_settings_are_its_own_and_complete_and_its_secret_is_required():
    spec = WEB["web"]
    cls = settings_class(WEB_MODULE)
    env = environment(spec)
    assert unknown_variables(cls, env) == []
    secrets = {n for n, s in env_settings(cls).items() if s.secret}
    assert secrets == {"OIDC__CLIENT_SECRET"}
    assert re.search(r"\$\{[A-Za-z0-9_]+:\?", str(env["OIDC__CLIENT_SECRET"]))


def test_the_web_app_with_the_example_environment_uses_the_services_provider_and_apis(monkeypatch):
    spec = WEB["web"]
    cls = settings_class(WEB_MODULE)
    example = parse_env_file(ENV_EXAMPLE.read_text())
    for variable in env_settings(cls):
        monkeypatch.delenv(variable, raising=False)
    for key, value in environment(spec).items():
        monkeypatch.setenv(key, interpolate(value or "", example))
    settings: Any = cls()
    assert settings.http.host == "0.0.0.0"
    intake_env = environment(APPS["intake"])
    assert settings.oidc.issuer == interpolate(str(intake_env["AUTH__ISSUER"]), example)
    assert settings.upstream.intake_url == "http://intake:8081"
    assert settings.upstream.assignment_url == "http://assignment:8082"
    assert settings.oidc.redirect_url == f"{example['WEB_BASE_URL']}/auth/callback"
    assert settings.session.https_only is True
    links = interpolate(str(environment(APPS["notifications"])["LINKS__REFERRAL_URL"]), example)
    assert links == f"{example['WEB_BASE_URL']}/referrals/{{referral_id}}"


def test_the_web_app_probes_healthz_waits_for_both_apis_and_has_the_unit_file():
    spec = WEB["web"]
    port = http_port(settings_class(WEB_MODULE), environment(spec))
    assert f":{port}/healthz" in " ".join(map(str, spec["healthcheck"]["test"]))
    depends = spec["depends_on"]
    assert {name: d["condition"] for name, d in depends.items()} == {
        "intake": "service_healthy",
        "assignment": "service_healthy",
    }
    source = host_path(spec, str(environment(spec)["UNIT_CONFIG_PATH"]))
    assert source is not None and source.is_file()


@pytest.mark.parametrize(("name", "spec"), app_params())
def test_each_service_command_runs_an_importable_module_with_a_callable_main(name, spec):
    module_name = command_module(spec)
    assert module_name is not None, f"{name}: command has no `-m <module>`"
    assert importlib.util.find_spec(module_name) is not None, f"{name}: {module_name} not importable"
    assert callable(getattr(importlib.import_module(module_name), "main", None))


@pytest.mark.parametrize(("name", "spec"), app_params())
def test_every_environment_variable_of_a_service_is_a_setting_of_its_settings_class(name, spec):
    cls = settings_class(command_module(spec))
    assert unknown_variables(cls, environment(spec)) == [], f"{name}: ignored by {cls.__name__}"


@pytest.mark.parametrize(("name", "spec"), app_params())
def test_every_required_setting_of_a_service_is_provided(name, spec):
    cls = settings_class(command_module(spec))
    required = {n for n, s in env_settings(cls).items() if s.required}
    assert required <= set(environment(spec)), f"{name}: missing {sorted(required - set(environment(spec)))}"


@pytest.mark.parametrize(("name", "spec"), app_params())
def test_the_example_environment_yields_valid_settings_for_each_service(name, spec, monkeypatch):
    cls = settings_class(command_module(spec))
    for variable in env_settings(cls):
        monkeypatch.delenv(variable, raising=False)
    example = parse_env_file(ENV_EXAMPLE.read_text())
    for key, value in environment(spec).items():
        monkeypatch.setenv(key, interpolate(value or "", example))
    settings = cls()
    assert settings.http.host == "0.0.0.0"  # reachable from other containers and Docker's port map
    assert settings.kafka.flavour == "apache"


@pytest.mark.parametrize(("name", "spec"), app_params())
def test_secret_settings_come_from_required_host_variables_never_literals(name, spec):
    secrets = {n for n, s in env_settings(settings_class(command_module(spec))).items() if s.secret}
    for key, value in environment(spec).items():
        if key in secrets:
            assert value, f"{name}: {key} is empty"
            assert re.search(r"\$\{[A-Za-z0-9_]+:?\?", value), f"{name}: {key} is not ${{VAR:?…}}"


@pytest.mark.parametrize(("name", "spec"), app_params())
def test_each_service_healthcheck_probes_readyz_on_its_own_port(name, spec):
    port = http_port(settings_class(command_module(spec)), environment(spec))
    probe = " ".join(map(str, spec["healthcheck"]["test"]))
    assert f":{port}/readyz" in probe, f"{name}: healthcheck {probe!r}"


@pytest.mark.parametrize(("name", "spec"), app_params())
def test_each_service_waits_for_healthy_kafka_and_postgres(name, spec):
    depends = spec.get("depends_on") or {}
    for dependency in ("kafka", "postgres"):
        assert isinstance(depends, dict), f"{name}: depends_on needs conditions"
        assert depends.get(dependency, {}).get("condition") == "service_healthy", f"{name}: {dependency}"


def test_services_that_load_the_unit_config_find_it_mounted_from_the_repository():
    for name, spec in APPS.items():
        module = importlib.import_module(command_module(spec))
        path = environment(spec).get("UNIT_CONFIG_PATH")
        if not hasattr(module, "load_unit_config"):
            continue
        # The default is a path relative to the repository, which does not exist in the image.
        assert path is not None, f"{name} loads the unit config but UNIT_CONFIG_PATH is unset"
        source = host_path(spec, path)
        assert source is not None, f"{name}: nothing mounted at {path}"
        assert source.is_file(), f"{name}: {source} does not exist"


# --- docker-compose.yml: every service ---------------------------------------------------------


def test_every_published_port_binds_loopback_only():
    problems = {name: port_problems(spec.get("ports") or []) for name, spec in COMPOSE["services"].items()}
    assert {name: p for name, p in problems.items() if p} == {}


def test_every_image_has_a_pinned_tag_that_is_not_latest():
    problems = []
    for name, spec in COMPOSE["services"].items():
        assert "image" in spec or "build" in spec, f"{name}: neither image nor build"
        if "image" in spec and (problem := image_problem(str(spec["image"]))):
            problems.append(f"{name}: {problem}")
    assert problems == []


def test_passwords_and_secrets_of_every_service_are_required_host_variables():
    for name, spec in COMPOSE["services"].items():
        for key, value in environment(spec).items():
            if SECRET_NAME.search(key):
                assert value, f"{name}: {key} is empty"
                assert re.fullmatch(r"\$\{[A-Za-z0-9_]+:?\?[^}]*\}", value), f"{name}: {key}"


def test_the_example_env_file_defines_every_variable_compose_requires():
    required = {
        match["name"]
        for text in strings_in(COMPOSE)
        for match in INTERPOLATION.finditer(text)
        if match["op"] in ("?", ":?")
    }
    example = parse_env_file(ENV_EXAMPLE.read_text())
    assert required <= set(example), sorted(required - set(example))


def test_kafka_is_a_single_kraft_node_without_topic_auto_creation():
    kafka = COMPOSE["services"]["kafka"]
    env = environment(kafka)
    assert str(kafka["image"]).startswith("apache/kafka:4.")
    assert set(str(env["KAFKA_PROCESS_ROLES"]).split(",")) == {"broker", "controller"}
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    assert env.get("CLUSTER_ID")
    for spec in APPS.values():
        assert environment(spec)["KAFKA__BOOTSTRAP_SERVERS"] == "kafka:9092"


def test_notifications_sends_through_mailpit():
    env = environment(APPS["notifications"])
    assert (env["SMTP__HOST"], env["SMTP__PORT"], env["SMTP__STARTTLS"]) == ("mailpit", "1025", "false")
    assert "mailpit" in COMPOSE["services"]


# --- the checks themselves catch mistakes -------------------------------------------------------


def test_a_misspelled_environment_variable_is_reported():
    cls = settings_class("services.intake.main")
    env = {"KAFKA__BOOTSTRAP_SERVER": "kafka:9092", "CRYPTO__PEPER": "x", "HTTP__PORT": "8081"}
    assert unknown_variables(cls, env) == ["CRYPTO__PEPER", "KAFKA__BOOTSTRAP_SERVER"]


def test_settings_of_one_service_are_unknown_to_another():
    assert unknown_variables(settings_class("services.metrics.main"), {"SMTP__HOST": "mailpit"}) == [
        "SMTP__HOST"
    ]


def test_nested_settings_are_flattened_with_double_underscores():
    names = env_settings(settings_class("services.intake.main"))
    assert {"KAFKA__BOOTSTRAP_SERVERS", "DATABASE__URL", "UNIT_CONFIG_PATH", "PORTAL__CLIENTS"} <= set(names)
    assert names["CRYPTO__PEPPER"] == Setting(required=True, secret=True)
    assert names["HTTP__PORT"] == Setting(required=False, secret=False)
    assert "KAFKA" not in names


def test_ports_open_to_the_network_and_floating_tags_are_reported():
    assert port_problems(["8081:8081", 8080, "0.0.0.0:1:1", {"target": 1, "published": 1}]) != []
    assert len(port_problems(["8081:8081", 8080, "0.0.0.0:1:1", {"target": 1, "published": 1}])) == 4
    assert port_problems(["127.0.0.1:8081:8081", {"target": 1, "published": 1, "host_ip": LOOPBACK}]) == []
    assert image_problem("postgres") is not None
    assert image_problem("grafana/grafana:latest") is not None
    assert image_problem("localhost:5000/x") is not None
    assert image_problem("postgres:16.10") is None


def test_a_missing_required_variable_fails_interpolation():
    with pytest.raises(KeyError):
        interpolate("${X:?set X}", {})
    assert interpolate("a${X:-b}c", {}) == "abc"


# --- deploy/Dockerfile and .dockerignore --------------------------------------------------------


def test_the_image_installs_the_project_with_the_pinned_constraints():
    instructions = dockerfile_instructions()
    copies = " ".join(args for op, args in instructions if op == "COPY")
    runs = [args for op, args in instructions if op == "RUN"]
    assert "constraints.txt" in copies
    assert any(
        re.search(r"pip install\b.*(-c|--constraint)[ =]\S*constraints\.txt.*\s\.(\s|$)", r) for r in runs
    ), runs


def test_the_image_runs_as_a_non_root_user_and_leaves_the_command_to_compose():
    instructions = dockerfile_instructions()
    users = [args.split(":")[0].strip() for op, args in instructions if op == "USER"]
    assert users, "no USER instruction"
    assert users[-1] not in ("root", "0")
    last_stage = max(i for i, (op, _) in enumerate(instructions) if op == "FROM")
    assert any(op == "USER" for op, _ in instructions[last_stage:]), "final stage runs as root"
    assert instructions[0][0] in ("ARG", "FROM")
    assert any("python:3.11-slim" in args for op, args in instructions if op in ("ARG", "FROM"))
    assert not [op for op, _ in instructions if op in ("CMD", "ENTRYPOINT")], "compose sets `command`"


def test_the_image_bakes_in_no_secrets():
    secrets = {
        n for cls in map(settings_class, SERVICE_MODULES) for n, s in env_settings(cls).items() if s.secret
    }
    for op, args in dockerfile_instructions():
        if op in ("ENV", "ARG"):
            for name in re.findall(r"([A-Za-z_][A-Za-z0-9_]*)=", args) or [args.split()[0]]:
                assert name not in secrets, f"{op} {name}"
                assert not SECRET_NAME.search(name), f"{op} {name}"


def test_the_build_context_leaves_out_local_state():
    patterns = {line.strip().rstrip("/") for line in DOCKERIGNORE.read_text().splitlines()}
    assert {".venv", ".dev", ".git", ".env"} <= patterns
    assert any("__pycache__" in p for p in patterns)


# --- Prometheus and Grafana --------------------------------------------------------------------


def test_prometheus_scrapes_every_service_on_its_http_port():
    config = yaml.safe_load(PROMETHEUS_FILE.read_text())
    targets = {
        target
        for job in config["scrape_configs"]
        if job.get("metrics_path", "/metrics") == "/metrics"
        for static in job.get("static_configs", [])
        for target in static["targets"]
    }
    expected = {
        f"{name}:{http_port(settings_class(command_module(spec)), environment(spec))}"
        for name, spec in APPS.items()
    }
    assert expected <= targets, sorted(expected - targets)
    assert "/etc/prometheus/rules/*.yml" in config["rule_files"]


def test_prometheus_reads_this_config_and_the_rules_directory_from_the_repository():
    prometheus = COMPOSE["services"]["prometheus"]
    flags = [str(a) for a in prometheus.get("command", [])]
    config_path = next(
        (f.split("=", 1)[1] for f in flags if f.startswith("--config.file=")),
        "/etc/prometheus/prometheus.yml",
    )
    assert host_path(prometheus, config_path) == PROMETHEUS_FILE.resolve()
    assert host_path(prometheus, "/etc/prometheus/rules") == (REPO / "deploy/prometheus/rules").resolve()


def test_grafana_is_provisioned_with_the_prometheus_datasource():
    grafana = COMPOSE["services"]["grafana"]
    provisioning = environment(grafana).get("GF_PATHS_PROVISIONING") or "/etc/grafana/provisioning"
    source = host_path(grafana, provisioning)
    assert source == (REPO / "deploy/grafana/provisioning").resolve()
    datasources = yaml.safe_load((source / "datasources" / "prometheus.yml").read_text())["datasources"]
    assert [d["url"] for d in datasources if d["type"] == "prometheus"] == ["http://prometheus:9090"]
