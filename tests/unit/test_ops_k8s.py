"""The Kustomize base in deploy/k8s renders, and what it renders agrees with the code.

`kubectl kustomize deploy/k8s` must succeed; the rendered Deployments must run the four service
modules with readiness (/readyz) and liveness (/healthz) probes on their port, resources, a
non-root read-only container, and only environment variables their settings class reads, with
every secret setting taken from a Secret. NetworkPolicies must allow only the flows of
DESIGN.md §1. Without kubectl the rendering tests are skipped (the only allowed skip).
"""

from __future__ import annotations

import importlib
import shutil
import subprocess
from collections.abc import Iterator
from functools import cache
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml
from test_deployment_files import (
    SERVICE_MODULES,
    app_services,
    env_settings,
    image_problem,
    load_compose,
    settings_class,
)

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "deploy" / "k8s"
UNIT_EXAMPLE = REPO / "deploy" / "config" / "unit.example.yaml"
UNIT_COPY = K8S / "unit.yaml"
SERVICES = {module.split(".")[1]: module for module in SERVICE_MODULES}
PORTS = {"intake": 8081, "assignment": 8082, "notifications": 8083, "metrics": 8084}
KEDA_SCALED = {"assignment", "notifications"}

needs_kubectl = pytest.mark.skipif(
    shutil.which("kubectl") is None,
    reason="kubectl is not installed, so `kubectl kustomize deploy/k8s` cannot render the manifests",
)


@cache
def rendered() -> tuple[dict[str, Any], ...]:
    result = subprocess.run(
        ["kubectl", "kustomize", str(K8S)], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    return tuple(doc for doc in yaml.safe_load_all(result.stdout) if doc)


def objects(kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in rendered() if o["kind"] == kind}


def deployment_params() -> list[Any]:
    return [pytest.param(name, id=name) for name in SERVICES]


def container(name: str) -> dict[str, Any]:
    containers = objects("Deployment")[name]["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1, name
    return containers[0]


def container_env(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every environment variable of a container: name -> where it comes from.

    `{"value": …}`, `{"secret": (name, key)}` or `{"configMap": (name, key), "value": …}`.
    """
    config_maps = objects("ConfigMap")
    env: dict[str, dict[str, Any]] = {}
    for source in spec.get("envFrom", []):
        assert "configMapRef" in source, f"envFrom {source}: only ConfigMaps (secrets by key)"
        name = source["configMapRef"]["name"]
        assert name in config_maps, f"envFrom ConfigMap {name} is not rendered"
        for key, value in config_maps[name].get("data", {}).items():
            env[key] = {"configMap": (name, key), "value": value}
    for item in spec.get("env", []):
        if "value" in item:
            env[item["name"]] = {"value": item["value"]}
        elif "secretKeyRef" in item.get("valueFrom", {}):
            ref = item["valueFrom"]["secretKeyRef"]
            env[item["name"]] = {"secret": (ref["name"], ref["key"])}
        else:
            env[item["name"]] = {"other": item.get("valueFrom")}
    return env


def probe_problems(spec: dict[str, Any]) -> list[str]:
    """What is missing from a container: probes, resources, non-root read-only security context."""
    problems = []
    port_names = {p.get("name") for p in spec.get("ports", [])} | {
        p["containerPort"] for p in spec.get("ports", [])
    }
    for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
        get = spec.get(probe, {}).get("httpGet", {})
        if get.get("path") != path or get.get("port") not in port_names:
            problems.append(f"{probe} is not GET {path} on the container's port")
    resources = spec.get("resources", {})
    for part in ("requests", "limits"):
        for resource in ("cpu", "memory"):
            if resource not in resources.get(part, {}):
                problems.append(f"no {part}.{resource}")
    security = spec.get("securityContext", {})
    if security.get("readOnlyRootFilesystem") is not True:
        problems.append("root filesystem is writable")
    if security.get("allowPrivilegeEscalation") is not False:
        problems.append("privilege escalation allowed")
    if "ALL" not in security.get("capabilities", {}).get("drop", []):
        problems.append("capabilities not dropped")
    if security.get("runAsNonRoot") is not True or security.get("runAsUser", 1) == 0:
        problems.append("may run as root")
    return problems


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items()) and not selector.get(
        "matchExpressions"
    )


def pod_labels(name: str) -> dict[str, str]:
    return objects("Deployment")[name]["spec"]["template"]["metadata"]["labels"]


def policies_for(name: str, direction: str) -> Iterator[dict[str, Any]]:
    """The ingress or egress rules of every NetworkPolicy selecting a service's pods."""
    for policy in objects("NetworkPolicy").values():
        spec = policy["spec"]
        if direction.capitalize() in spec.get("policyTypes", []) and selects(
            spec["podSelector"], pod_labels(name)
        ):
            yield from spec.get(direction, [])


def peer_names(rule: dict[str, Any], side: str) -> set[str]:
    """Readable names of a rule's peers: the namespace name, or the CIDR."""
    names = set()
    for peer in rule.get(side, []):
        if "ipBlock" in peer:
            names.add(peer["ipBlock"]["cidr"])
        elif "namespaceSelector" not in peer and "podSelector" in peer:  # a pod of this namespace
            names.add("pod:" + peer["podSelector"].get("matchLabels", {}).get("app.kubernetes.io/name", "?"))
        else:
            names.add(
                peer.get("namespaceSelector", {})
                .get("matchLabels", {})
                .get("kubernetes.io/metadata.name", "?")
            )
    return names


def ports_of(rule: dict[str, Any]) -> set[Any]:
    return {p["port"] for p in rule.get("ports", [])}


# --- the unit config copy (no kubectl needed) ------------------------------------------------------


def test_the_unit_config_copy_for_kustomize_is_identical_to_the_example():
    assert UNIT_COPY.read_bytes() == UNIT_EXAMPLE.read_bytes(), (
        "deploy/k8s/unit.yaml differs: cp deploy/config/unit.example.yaml deploy/k8s/unit.yaml"
    )


def test_no_secret_manifest_or_literal_secret_is_kept_in_the_base():
    for path in K8S.rglob("*.yaml"):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") == "Kustomization":
                assert "secretGenerator" not in doc, path
            elif doc:
                assert doc.get("kind") != "Secret", path


# --- rendering -------------------------------------------------------------------------------------


@needs_kubectl
def test_kustomize_renders_the_base():
    kinds = {o["kind"] for o in rendered()}
    assert {
        "Namespace",
        "Deployment",
        "Service",
        "ConfigMap",
        "PodDisruptionBudget",
        "NetworkPolicy",
    } <= kinds
    assert "ScaledObject" in kinds
    assert {o["metadata"].get("namespace") for o in rendered() if o["kind"] != "Namespace"} == {
        "referral-router"
    }


@needs_kubectl
def test_there_is_one_deployment_per_service_running_its_module():
    assert set(objects("Deployment")) == set(SERVICES) | {"web"}
    for name, module in SERVICES.items():
        assert container(name)["command"] == ["python", "-m", module], name


@needs_kubectl
@pytest.mark.parametrize("name", deployment_params())
def test_each_deployment_has_both_probes_resources_and_a_non_root_read_only_container(name):
    pod = objects("Deployment")[name]["spec"]["template"]["spec"]
    assert probe_problems(container(name)) == []
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert pod["terminationGracePeriodSeconds"] == 30
    assert pod.get("automountServiceAccountToken") is False
    mounts = {m["mountPath"] for m in container(name).get("volumeMounts", [])}
    assert "/tmp" in mounts, "a read-only root needs a writable /tmp"


@needs_kubectl
@pytest.mark.parametrize("name", deployment_params())
def test_each_deployment_listens_on_its_port_and_has_a_service_and_a_disruption_budget(name):
    env = container_env(container(name))
    port = int(env["HTTP__PORT"]["value"])
    assert port == PORTS[name]
    assert env["HTTP__HOST"]["value"] == "0.0.0.0"
    assert [p["containerPort"] for p in container(name)["ports"]] == [port]
    service = objects("Service")[name]
    assert selects({"matchLabels": service["spec"]["selector"]}, pod_labels(name))
    assert [p["port"] for p in service["spec"]["ports"]] == [port]
    budgets = [
        b for b in objects("PodDisruptionBudget").values() if selects(b["spec"]["selector"], pod_labels(name))
    ]
    assert len(budgets) == 1, name
    annotations = objects("Deployment")[name]["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == str(port)


@needs_kubectl
@pytest.mark.parametrize("name", deployment_params())
def test_every_environment_variable_is_a_setting_of_the_service(name):
    valid = env_settings(settings_class(SERVICES[name]))
    env = container_env(container(name))
    assert sorted(set(env) - set(valid)) == [], f"{name}: variables its settings class would ignore"
    required = {n for n, s in valid.items() if s.required}
    assert required <= set(env), f"{name}: missing {sorted(required - set(env))}"


@needs_kubectl
@pytest.mark.parametrize("name", deployment_params())
def test_every_secret_setting_comes_from_a_secret_by_key(name):
    valid = env_settings(settings_class(SERVICES[name]))
    for variable, source in container_env(container(name)).items():
        if variable in valid and valid[variable].secret:
            assert source.get("secret") == (f"{name}-secrets", variable), f"{name}: {variable} {source}"
    expected = {"DATABASE__URL"} | {
        "intake": {"PORTAL__CLIENTS", "CRYPTO__KEYS", "CRYPTO__CURRENT_KEY", "CRYPTO__PEPPER"},
        "notifications": {"SMTP__PASSWORD"},
    }.get(name, set())
    from_secrets = {v for v, s in container_env(container(name)).items() if "secret" in s}
    assert expected <= from_secrets, name


@needs_kubectl
@pytest.mark.parametrize("name", deployment_params())
def test_services_that_load_the_unit_config_find_it_mounted_from_the_config_map(name):
    env = container_env(container(name))
    path = PurePosixPath(env["UNIT_CONFIG_PATH"]["value"])
    mounts = {m["name"]: PurePosixPath(m["mountPath"]) for m in container(name).get("volumeMounts", [])}
    volumes = {v["name"]: v for v in objects("Deployment")[name]["spec"]["template"]["spec"]["volumes"]}
    unit_maps = [n for n in objects("ConfigMap") if n.startswith("referral-router-unit")]
    assert len(unit_maps) == 1
    assert objects("ConfigMap")[unit_maps[0]]["data"]["unit.yaml"] == UNIT_EXAMPLE.read_text()
    if not hasattr(importlib.import_module(SERVICES[name]), "load_unit_config"):
        return
    mounted = [
        volumes[n]["configMap"]
        for n, mount in mounts.items()
        if mount == path.parent and "configMap" in volumes[n]
    ]
    assert mounted, f"{name}: nothing mounted at {path.parent}"
    assert mounted[0]["name"] == unit_maps[0]
    assert {"key": "unit.yaml", "path": path.name} in mounted[0]["items"]


@needs_kubectl
@pytest.mark.parametrize("name", ["intake", "assignment"])
def test_staff_tokens_are_checked_against_the_jwks_issuer_and_audience_like_compose_does(name):
    env = container_env(container(name))
    compose = app_services(load_compose())[name]["environment"]
    for variable in ("AUTH__JWKS_URL", "AUTH__ISSUER", "AUTH__AUDIENCE"):
        assert variable in compose, f"compose's {name} has no {variable}"
        config_map, key = env[variable]["configMap"]
        assert config_map.startswith("referral-router-auth") and key == variable, f"{name}: {variable}"
        assert env[variable]["value"], f"{name}: {variable} is empty"
    assert env["AUTH__JWKS_URL"]["value"].startswith("https://")
    # The HS256 secret of the dev stack, if given at all, only from the service's Secret.
    assert env.get("AUTH__JWT_SECRET", {"secret": None}).keys() == {"secret"}


@needs_kubectl
def test_images_are_pinned():
    for name in SERVICES:
        assert image_problem(container(name)["image"]) is None, container(name)["image"]


@needs_kubectl
def test_keda_scales_assignment_and_notifications_on_their_consumer_group_lag():
    scaled = objects("ScaledObject")
    partitions = int(container_env(container("assignment"))["KAFKA__PARTITIONS"]["value"])
    bootstrap = container_env(container("assignment"))["KAFKA__BOOTSTRAP_SERVERS"]["value"]
    assert {o["spec"]["scaleTargetRef"]["name"] for o in scaled.values()} == KEDA_SCALED
    for spec in (o["spec"] for o in scaled.values()):
        target = spec["scaleTargetRef"]["name"]
        (trigger,) = spec["triggers"]
        assert trigger["type"] == "kafka"
        assert trigger["metadata"]["consumerGroup"] == target  # shared.kafka: group = service name
        assert trigger["metadata"]["bootstrapServers"] == bootstrap
        assert 1 <= spec["minReplicaCount"] <= spec["maxReplicaCount"] <= partitions
        assert "replicas" not in objects("Deployment")[target]["spec"], f"{target}: KEDA owns replicas"


# --- network policies ----------------------------------------------------------------------------


@needs_kubectl
def test_everything_not_allowed_is_denied():
    deny = [
        p
        for p in objects("NetworkPolicy").values()
        if p["spec"]["podSelector"] == {}
        and set(p["spec"]["policyTypes"]) == {"Ingress", "Egress"}
        and not p["spec"].get("ingress")
        and not p["spec"].get("egress")
    ]
    assert deny, "no default-deny NetworkPolicy"


@needs_kubectl
@pytest.mark.parametrize("name", deployment_params())
def test_ingress_comes_only_from_the_flows_in_the_design(name):
    expected = {"monitoring"} | ({"ingress-nginx", "pod:web"} if name in ("intake", "assignment") else set())
    if name == "assignment":
        expected.add("pod:intake")  # the dossier asks the staff API when its projection is behind
    sources = set()
    for rule in policies_for(name, "ingress"):
        assert rule.get("from"), f"{name}: an ingress rule open to every source"
        assert ports_of(rule) == {"http"}, f"{name}: ingress on {ports_of(rule)}"
        sources |= peer_names(rule, "from")
    assert sources == expected, name


@needs_kubectl
@pytest.mark.parametrize("name", deployment_params())
def test_egress_goes_only_to_dns_kafka_postgres_and_each_services_own_endpoints(name):
    allowed: dict[Any, set[str]] = {}
    for rule in policies_for(name, "egress"):
        assert rule.get("to"), f"{name}: an egress rule open to every destination"
        assert rule.get("ports"), f"{name}: an egress rule open on every port"
        for port in ports_of(rule):
            allowed.setdefault(port, set()).update(peer_names(rule, "to"))
    assert allowed[53] == {"kube-system"}
    assert allowed[9092] == {"kafka"}
    assert allowed[5432] == {"postgres"}
    extra = set(allowed) - {53, 9092, 5432}
    expected = {"notifications": {25, 465, 587, 443}, "intake": {443, 8082}, "assignment": {443}}.get(
        name, set()
    )  # 443 for assignment and intake: the JWKS of AUTH__JWKS_URL
    assert extra == expected, f"{name}: egress ports {sorted(map(str, extra))}"
    if name == "intake":
        assert allowed[8082] == {"pod:assignment"}


# --- the staff web app ----------------------------------------------------------------------------


@needs_kubectl
def test_the_web_app_runs_once_non_root_read_only_with_probes_and_its_secret_from_its_secret():
    deployment = objects("Deployment")["web"]
    assert deployment["spec"]["replicas"] == 1  # sessions are in memory (docs/WEB.md)
    web = container("web")
    assert web["command"] == ["python", "-m", "services.web.main"]
    assert probe_problems(web) == []  # ready (/readyz) only while its upstreams answer
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert (annotations["prometheus.io/scrape"], annotations["prometheus.io/path"]) == ("true", "/metrics")
    assert annotations["prometheus.io/port"] == str(web["ports"][0]["containerPort"])
    assert image_problem(web["image"]) is None
    valid = env_settings(settings_class("services.web.main"))
    env = container_env(web)
    assert sorted(set(env) - set(valid)) == []
    assert env["OIDC__CLIENT_SECRET"] == {"secret": ("web-secrets", "OIDC__CLIENT_SECRET")}
    assert env["HTTP__HOST"]["value"] == "0.0.0.0"
    assert env["UPSTREAM__INTAKE_URL"]["value"] == "http://intake:8081"
    assert env["UPSTREAM__ASSIGNMENT_URL"]["value"] == "http://assignment:8082"
    assert env["OIDC__ISSUER"]["value"] == container_env(container("intake"))["AUTH__ISSUER"]["value"]
    assert env["OIDC__REDIRECT_URL"]["value"].startswith("https://")
    assert "SESSION__HTTPS_ONLY" not in env  # Secure cookies and HSTS stay on


@needs_kubectl
def test_the_web_app_is_reached_over_tls_only_and_its_links_are_in_the_messages():
    (ingress,) = objects("Ingress").values()
    host = ingress["spec"]["rules"][0]["host"]
    assert ingress["spec"]["tls"][0]["hosts"] == [host]
    assert ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"] == "web"
    redirect = container_env(container("web"))["OIDC__REDIRECT_URL"]["value"]
    assert redirect == f"https://{host}/auth/callback"
    links = container_env(container("notifications"))["LINKS__REFERRAL_URL"]["value"]
    assert links == f"https://{host}/referrals/{{referral_id}}"


@needs_kubectl
def test_the_web_app_talks_only_to_the_two_apis_and_the_provider_and_is_reached_only_by_the_ingress():
    sources: set[str] = set()
    for rule in policies_for("web", "ingress"):
        sources |= peer_names(rule, "from")
    assert sources == {"ingress-nginx", "monitoring"}
    allowed: dict[Any, set[str]] = {}
    for rule in policies_for("web", "egress"):
        assert rule.get("to") and rule.get("ports")
        for port in ports_of(rule):
            allowed.setdefault(port, set()).update(peer_names(rule, "to"))
    assert allowed == {
        53: {"kube-system"},
        8081: {"pod:intake"},
        8082: {"pod:assignment"},
        443: {"0.0.0.0/0"},  # the OpenID provider
    }


# --- the checks themselves catch mistakes ----------------------------------------------------------


def test_a_container_without_probes_resources_or_a_read_only_root_is_reported():
    problems = probe_problems(
        {
            "ports": [{"name": "http", "containerPort": 8081}],
            "readinessProbe": {"httpGet": {"path": "/healthz", "port": "http"}},
            "resources": {"requests": {"cpu": "50m", "memory": "1Mi"}},
            "securityContext": {"runAsNonRoot": True, "allowPrivilegeEscalation": False},
        }
    )
    assert problems == [
        "readinessProbe is not GET /readyz on the container's port",
        "livenessProbe is not GET /healthz on the container's port",
        "no limits.cpu",
        "no limits.memory",
        "root filesystem is writable",
        "capabilities not dropped",
    ]
