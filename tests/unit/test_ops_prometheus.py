"""Alert rules, their promtool unit tests and the Grafana dashboards agree with what is exposed.

`promtool` (Debian package `prometheus`) checks and unit-tests the rules. Every PromQL expression
in the rules and dashboards may use only the metrics the services expose (CONTRACTS.md §5 and
shared/metrics.py), with their label names and, where the values are a closed set, label values:
a misspelled metric or label makes an alert that silently never fires.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from test_deployment_files import COMPOSE, host_path

REPO = Path(__file__).resolve().parents[2]
RULES_DIR = REPO / "deploy" / "prometheus" / "rules"
RULE_TESTS_DIR = REPO / "deploy" / "prometheus" / "tests"
RULE_FILES = sorted(RULES_DIR.glob("*.yml"))
RULE_TEST_FILES = sorted(RULE_TESTS_DIR.glob("*.yml"))
GRAFANA = REPO / "deploy" / "grafana"
DASHBOARD_FILES = sorted((GRAFANA / "dashboards").glob("*.json"))
RUNBOOK = REPO / "docs" / "RUNBOOK.md"

# --- what the services expose ------------------------------------------------------------------

# Labels Prometheus attaches to every scraped series: job and instance always, `service` from the
# scrape config (deploy/prometheus/prometheus.yml; relabelling in Kubernetes).
TARGET_LABELS = frozenset({"job", "instance", "service"})
SERVICES = ("intake", "assignment", "notifications", "metrics")
DEADLINES = ("protection_assessment", "preliminary_assessment", "investigation", "reporter_feedback")
CHANNELS = ("email", "teams")


@dataclass(frozen=True)
class Metric:
    labels: frozenset[str]
    histogram: bool = False
    values: dict[str, frozenset[str]] = field(default_factory=dict)


def metric(*labels: str, histogram: bool = False, **values: tuple[str, ...]) -> Metric:
    return Metric(frozenset(labels), histogram, {k: frozenset(v) for k, v in values.items()})


EXPOSED: dict[str, Metric] = {
    "up": metric(),
    # domain metrics (metrics service)
    "referrals_received_total": metric("kind", "channel", "reporter_group", "acute"),
    "referrals_assigned_total": metric("team", "reason"),
    "referral_assignment_seconds": metric(histogram=True),
    "referrals_open": metric("team", "status"),
    "caseload_weighted": metric("team", "caseworker"),
    "caseload_imbalance_ratio": metric("team"),
    "deadlines_open": metric(
        "deadline", "state", deadline=DEADLINES, state=("ok", "approaching", "breached")
    ),
    "deadline_breaches_total": metric("deadline", "team", deadline=DEADLINES),
    "rotation_on_duty": metric("team"),
    "rotation_next_handover_timestamp_seconds": metric(),
    "notifications_total": metric(
        "channel", "outcome", channel=CHANNELS, outcome=("sent", "failed", "unknown")
    ),
    # issue 22: the working environment, by team (never by person)
    "overload_flags_raised_total": metric("team"),
    "overload_flags_open": metric("team"),
    "overload_flags_escalated_total": metric("team"),
    "overload_flag_response_seconds": metric(histogram=True),
    "incidents_total": metric("type", "team", type=("threat", "violence", "harassment")),
    "consultations_booked_total": metric("team"),
    "consultations_cancelled_total": metric("team"),
    # the outcome report's figures now (services/assignment/timers.py)
    "outcome_investigation_lead_time_days": metric("quantile", quantile=("0.5", "0.9")),
    "outcome_investigations_within_limit_ratio": metric(),
    "outcome_preliminary_on_time_ratio": metric(),
    "outcome_protection_on_time_ratio": metric(),
    "outcome_caseload_per_fte": metric("team"),
    "outcome_sick_leave_days_per_fte": metric(),
    "outcome_mentoring_coverage_ratio": metric(),
    # intake's Open ePlatform poller (services/intake/timers.py)
    "intake_oep_instances_total": metric(
        "outcome", outcome=("stored", "replayed", "failed_attempt", "rejected", "gone")
    ),
    "intake_oep_poll_rounds_total": metric("outcome", outcome=("ok", "failed")),
    "intake_oep_callbacks_total": metric("call", "outcome"),
    # technical metrics (every service)
    "events_handled_total": metric(
        "service", "topic", "outcome", outcome=("handled", "duplicate", "deadlettered", "failed")
    ),
    "event_handler_seconds": metric("service", "topic", histogram=True),
    "event_handler_retries_total": metric("service", "topic"),
    "deadletters_total": metric("service", "topic"),
    "outbox_backlog": metric("service"),
    "outbox_oldest_age_seconds": metric("service"),
    "outbox_published_total": metric("service", "topic"),
    "outbox_relay_errors_total": metric("service"),
    "kafka_consumer_lag": metric("service", "topic"),
    "consumer_failing": metric("service"),
    "notification_deliveries": metric(
        "service",
        "channel",
        "status",
        channel=CHANNELS,
        status=("pending", "sending", "sent", "failed", "unknown"),
    ),
    # the staff web app (services/web/telemetry.py): route templates only, never a path as asked
    "web_http_requests_total": metric("route", "method", "status"),
    "web_http_request_seconds": metric("route", histogram=True),
    "web_sign_ins_total": metric("outcome", outcome=("ok", "failed", "refused")),
    "web_sessions_active": metric(),
    # prometheus_client's standard process and platform collectors
    "process_cpu_seconds_total": metric(),
    "process_resident_memory_bytes": metric(),
    "process_virtual_memory_bytes": metric(),
    "process_start_time_seconds": metric(),
    "process_open_fds": metric(),
    "process_max_fds": metric(),
    "python_gc_objects_collected_total": metric("generation"),
    "python_gc_collections_total": metric("generation"),
    "python_info": metric("implementation", "major", "minor", "patchlevel", "version"),
}
SERVICE_VALUES = frozenset(SERVICES) | {"web"}

# --- a small PromQL reader ----------------------------------------------------------------------

STRING = r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\''
STRING_RE = re.compile(STRING)
SELECTOR_RE = re.compile(r"(?<![\w:])([A-Za-z_:][\w:]*)?\s*\{((?:" + STRING + r"|[^}\"'])*)\}")
MATCHER_RE = re.compile(r"([A-Za-z_]\w*)\s*(=~|!~|!=|=)\s*(" + STRING + r")")
GROUPING_RE = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
RANGE_RE = re.compile(r"\[[^\]]*\]")
IDENTIFIER_RE = re.compile(r"(?<![\w:.$])([A-Za-z_:][\w:]*)(?![\w:])(\s*\()?")
KEYWORDS = frozenset(
    {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "offset"}
    | {"bool", "inf", "nan"}
)
WORDS_RE = re.compile(r"[\w.:-]+(\|[\w.:-]+)*")


@dataclass(frozen=True)
class Selector:
    name: str
    matchers: tuple[tuple[str, str, str], ...]  # (label, operator, value)


def _unquote(literal: str) -> str:
    return literal[1:-1].encode().decode("unicode_escape")


def _balanced(expr: str, start: int) -> str:
    """The text inside the parentheses opening at expr[start]."""
    depth = 0
    for i in range(start, len(expr)):
        depth += {"(": 1, ")": -1}.get(expr[i], 0)
        if depth == 0:
            return expr[start + 1 : i]
    raise ValueError(f"unbalanced parentheses in {expr!r}")


def selectors(expr: str) -> list[Selector]:
    """Every series selector in an expression, bare names (`up`) included."""
    found = [
        Selector(match[1] or "", tuple((m[1], m[2], _unquote(m[3])) for m in MATCHER_RE.finditer(match[2])))
        for match in SELECTOR_RE.finditer(expr)
    ]
    rest = SELECTOR_RE.sub(lambda m: " " + (m[1] or "") + " ", expr)
    rest = RANGE_RE.sub(" ", STRING_RE.sub(" ", GROUPING_RE.sub(" ", rest)))
    bare = [
        m[1]
        for m in IDENTIFIER_RE.finditer(rest)
        if not m[2] and m[1] not in KEYWORDS  # followed by "(": a function or aggregation
    ]
    named = {s.name for s in found}
    # A name with a {…} block was already read with its matchers.
    return found + [Selector(name, ()) for name in bare if name not in named]


def groupings(expr: str) -> list[tuple[str, tuple[str, ...], str | None]]:
    """(keyword, labels, argument) for every by/without/on/ignoring/group_* clause.

    `argument` is the aggregated expression after a by/without clause, or None.
    """
    found = []
    for match in GROUPING_RE.finditer(expr):
        labels = tuple(label.strip() for label in match[2].split(",") if label.strip())
        argument = None
        if match[1] in ("by", "without"):
            after = expr[match.end() :]
            stripped = after.lstrip()
            if not stripped.startswith("("):
                raise ValueError(f"write `{match[1]} (…)` before the aggregated argument in {expr!r}")
            argument = _balanced(expr, match.end() + len(after) - len(stripped))
        found.append((match[1], labels, argument))
    return found


def resolve(name: str, known: dict[str, Metric]) -> tuple[str, Metric] | None:
    """The exposed metric a series name belongs to (histogram suffixes stripped)."""
    if name in known:
        return name, known[name]
    for suffix in ("_bucket", "_sum", "_count"):
        base = name.removesuffix(suffix)
        if name.endswith(suffix) and base in known and known[base].histogram:
            extra = frozenset({"le"}) if suffix == "_bucket" else frozenset()
            return base, Metric(known[base].labels | extra, True, known[base].values)
    return None


def labels_of(name: str, known: dict[str, Metric]) -> frozenset[str]:
    resolved = resolve(name, known)
    return (resolved[1].labels | TARGET_LABELS) if resolved else frozenset()


def expression_problems(expr: str, known: dict[str, Metric]) -> list[str]:
    """Unknown metrics, labels not on the metric, and label values outside a closed set."""
    problems = []
    try:
        found, groups = selectors(expr), groupings(expr)
    except ValueError as error:
        return [str(error)]
    for selector in found:
        resolved = resolve(selector.name, known)
        if resolved is None:
            problems.append(f"unknown metric {selector.name!r}")
            continue
        base, info = resolved
        for label, op, value in selector.matchers:
            if label not in info.labels | TARGET_LABELS:
                problems.append(f"{base} has no label {label!r}")
                continue
            allowed = SERVICE_VALUES if label == "service" else info.values.get(label)
            if allowed is None or op in ("!~",) or "$" in value:
                continue
            if op == "=~" and not WORDS_RE.fullmatch(value):
                continue
            unknown = set(value.split("|") if op == "=~" else [value]) - allowed
            if unknown:
                problems.append(f"{base}{{{label}}} has no value {sorted(unknown)}")
    for keyword, labels, argument in groups:
        if argument is not None:
            inner = [s.name for s in selectors(argument)]
            for label in labels:
                missing = [name for name in inner if label not in labels_of(name, known)]
                if missing:
                    problems.append(f"{keyword} ({label}): not a label of {missing}")
        else:
            every = [s.name for s in found]
            for label in labels:
                if not any(label in labels_of(name, known) for name in every):
                    problems.append(f"{keyword} ({label}): not a label of any of {every}")
    return problems


# --- reading the rules and dashboards -----------------------------------------------------------


def rules() -> list[dict[str, Any]]:
    return [
        rule
        for path in RULE_FILES
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
    ]


def alerts() -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for rule in rules():
        if "alert" in rule:
            found.setdefault(rule["alert"], []).append(rule)
    return found


def recorded_metrics() -> dict[str, Metric]:
    """Series written by recording rules, with the labels their aggregation keeps."""
    recorded = {}
    for rule in rules():
        if "record" in rule:
            by = [labels for keyword, labels, _ in groupings(rule["expr"]) if keyword == "by"]
            if by:
                labels = frozenset(by[0])
            else:
                labels = frozenset().union(*(labels_of(s.name, EXPOSED) for s in selectors(rule["expr"])))
            recorded[rule["record"]] = Metric(labels | frozenset(rule.get("labels", {})))
    return recorded


def panels(node: Any) -> list[dict[str, Any]]:
    """Every panel of a dashboard, including those nested in rows."""
    found = []
    for panel in node.get("panels", []):
        found.append(panel)
        found.extend(panels(panel))
    return found


def dashboards() -> dict[str, dict[str, Any]]:
    return {path.name: json.loads(path.read_text()) for path in DASHBOARD_FILES}


def dashboard_expressions() -> list[tuple[str, str]]:
    return [
        (f"{name}: {panel['title']}", target["expr"])
        for name, board in dashboards().items()
        for panel in panels(board)
        for target in panel.get("targets", [])
        if "expr" in target
    ]


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail("promtool not found: install Debian package prometheus (apt-get install prometheus)")
    return path


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False, cwd=REPO)


def github_anchor(heading: str) -> str:
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def runbook_anchors() -> set[str]:
    text = RUNBOOK.read_text()
    headings = {github_anchor(m[1]) for m in re.finditer(r"^#{1,6}\s+(.+?)\s*$", text, re.M)}
    return headings | set(re.findall(r'<a (?:id|name)="([^"]+)"', text))


# --- promtool ----------------------------------------------------------------------------------


def test_the_rule_files_and_their_unit_tests_exist():
    assert RULE_FILES, f"no rules in {RULES_DIR}"
    assert RULE_TEST_FILES, f"no promtool tests in {RULE_TESTS_DIR}"
    assert not list(RULES_DIR.glob("*test*")), "tests in rules/ would be loaded by Prometheus as rules"


def test_promtool_finds_the_rules_valid():
    result = run(promtool(), "check", "rules", *map(str, RULE_FILES))
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_promtool_unit_tests_of_the_alert_rules_pass():
    result = run(promtool(), "test", "rules", *map(str, RULE_TEST_FILES))
    assert result.returncode == 0, result.stdout + result.stderr


# --- the alerts ---------------------------------------------------------------------------------

EXPECTED_ALERTS = {
    "ServiceDown",
    "ConsumerLagGrowing",
    "OutboxStuck",
    "DeadLetters",
    "NotificationsFailed",
    "NotificationsUnknown",
    "DeadlineBreached",
    "DeadlinesApproachingPileUp",
    "NoTeamOnDuty",
    "CaseloadImbalance",
    "HandlerFailures",
    "AssignmentSlow",
    "OverloadFlagUnanswered",
}
# Labels an annotation may print: names of services, topics, teams, channels, deadlines, never ids.
SAFE_TEMPLATE_LABELS = {"service", "instance", "topic", "team", "channel", "deadline", "job"}


def test_every_expected_alert_is_defined():
    assert set(alerts()) >= EXPECTED_ALERTS, sorted(EXPECTED_ALERTS - set(alerts()))


def test_every_alert_has_a_severity_a_summary_a_description_and_a_runbook_section():
    anchors = runbook_anchors()
    for name, variants in alerts().items():
        for rule in variants:
            assert rule.get("labels", {}).get("severity") in ("page", "ticket"), name
            annotations = rule.get("annotations", {})
            assert annotations.get("summary") and annotations.get("description"), name
            link = annotations.get("runbook", "")
            assert re.fullmatch(r"docs/RUNBOOK\.md#[\w-]+", link), f"{name}: runbook {link!r}"
            assert link.split("#", 1)[1] in anchors, (
                f"{name}: no section #{link.split('#', 1)[1]} in RUNBOOK.md"
            )


def test_a_breached_protection_assessment_pages_and_other_breaches_make_a_ticket():
    severities = {
        ("protection" in rule["expr"] and "!=" not in rule["expr"], rule["labels"]["severity"])
        for rule in alerts()["DeadlineBreached"]
    }
    assert severities == {(True, "page"), (False, "ticket")}


def test_annotations_print_only_names_of_services_teams_and_channels_never_ids():
    for name, variants in alerts().items():
        for rule in variants:
            for text in rule["annotations"].values():
                used = set(re.findall(r"\$labels\.(\w+)", text))
                assert used <= SAFE_TEMPLATE_LABELS, f"{name}: {used - SAFE_TEMPLATE_LABELS}"


def test_every_alert_has_a_firing_and_a_quiet_promtool_case():
    cases: dict[str, set[bool]] = {}
    for path in RULE_TEST_FILES:
        for group in yaml.safe_load(path.read_text())["tests"]:
            for case in group.get("alert_rule_test", []):
                cases.setdefault(case["alertname"], set()).add(bool(case.get("exp_alerts")))
    incomplete = {name: cases.get(name, set()) for name in alerts() if cases.get(name) != {True, False}}
    assert incomplete == {}, "alerts without both a firing and a quiet case"


def test_the_promtool_tests_load_exactly_the_rule_files_prometheus_loads():
    for path in RULE_TEST_FILES:
        listed = yaml.safe_load(path.read_text())["rule_files"]
        assert {(path.parent / f).resolve() for f in listed} == {p.resolve() for p in RULE_FILES}, path


# --- metric names and labels --------------------------------------------------------------------


def test_every_metric_and_label_in_the_alert_and_recording_rules_is_exposed():
    known = EXPOSED | recorded_metrics()
    problems = {
        rule.get("alert") or rule["record"]: expression_problems(rule["expr"], known) for rule in rules()
    }
    assert {name: p for name, p in problems.items() if p} == {}


def test_every_metric_and_label_in_the_dashboards_is_exposed():
    known = EXPOSED | recorded_metrics()
    problems = {where: expression_problems(expr, known) for where, expr in dashboard_expressions()}
    assert {where: p for where, p in problems.items() if p} == {}
    for name, board in dashboards().items():
        for variable in board.get("templating", {}).get("list", []):
            query = variable.get("query")
            text = query.get("query", "") if isinstance(query, dict) else str(query or "")
            if match := re.fullmatch(r"label_values\((\w+),\s*(\w+)\)", text.strip()):
                assert match[2] in labels_of(match[1], known), f"{name}: ${variable['name']}: {text}"


def test_prometheus_scrapes_the_four_services_and_the_web_app_on_their_ports():
    config = yaml.safe_load((REPO / "deploy" / "prometheus" / "prometheus.yml").read_text())
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == "referral-router"]
    targets = {c["labels"]["service"]: c["targets"] for c in job["static_configs"]}
    ports = {"intake": 8081, "assignment": 8082, "notifications": 8083, "metrics": 8084, "web": 8085}
    assert targets == {name: [f"{name}:{port}"] for name, port in ports.items()}
    assert job["metrics_path"] == "/metrics" and set(targets) == SERVICE_VALUES


def test_the_exposed_metric_names_are_the_ones_the_code_defines():
    source = "\n".join(
        path.read_text()
        for pattern in ("shared/metrics.py", "services/*/*.py", "services/*/adapters/*.py")
        for path in REPO.glob(pattern)
    )
    defined = set(re.findall(r"\"([a-z_]+)\"", source))
    missing = [
        name
        for name in EXPOSED
        if name != "up"
        and not name.startswith(("process_", "python_"))
        and name not in defined
        and name.removesuffix("_total") not in defined
    ]
    assert missing == []


def test_the_checker_reports_unknown_metrics_labels_and_values():
    assert (
        expression_problems('sum by (topic) (rate(events_handled_total{outcome="failed"}[5m]))', EXPOSED)
        == []
    )
    assert (
        expression_problems(
            "histogram_quantile(0.9, sum by (le) (rate(event_handler_seconds_bucket[5m])))", EXPOSED
        )
        == []
    )
    assert expression_problems("count(up offset 1h) and on () (hour() >= 9)", EXPOSED) == []
    assert expression_problems("referals_open", EXPOSED) == ["unknown metric 'referals_open'"]
    assert expression_problems("http_requests_total", EXPOSED) == ["unknown metric 'http_requests_total'"]
    assert expression_problems('deadlines_open{status="approaching"}', EXPOSED) == [
        "deadlines_open has no label 'status'"
    ]
    assert expression_problems('deadlines_open{state="late"}', EXPOSED) == [
        "deadlines_open{state} has no value ['late']"
    ]
    assert expression_problems('up{service=~"intake|assignmnet"}', EXPOSED) == [
        "up{service} has no value ['assignmnet']"
    ]
    assert expression_problems("sum by (team) (kafka_consumer_lag)", EXPOSED) == [
        "by (team): not a label of ['kafka_consumer_lag']"
    ]
    assert expression_problems("sum by (le) (rate(event_handler_seconds_sum[5m]))", EXPOSED) == [
        "by (le): not a label of ['event_handler_seconds_sum']"
    ]
    assert expression_problems("sum(outbox_backlog) by (service)", EXPOSED) != []


# --- Grafana ------------------------------------------------------------------------------------


def provisioned_datasource_uids() -> set[str]:
    path = GRAFANA / "provisioning" / "datasources" / "prometheus.yml"
    return {d["uid"] for d in yaml.safe_load(path.read_text())["datasources"] if d["type"] == "prometheus"}


def test_the_unit_and_operations_dashboards_exist_with_unique_uids():
    boards = dashboards()
    assert {"unit.json", "operations.json"} <= set(boards)
    uids = [board["uid"] for board in boards.values()]
    assert len(uids) == len(set(uids))
    for name, board in boards.items():
        assert board.get("id") is None, f"{name}: provisioned dashboards carry no id"
        assert 36 <= board["schemaVersion"] <= 41, name
        assert board["title"] and board["panels"], name


def test_every_dashboard_panel_queries_the_provisioned_prometheus_datasource():
    uids = provisioned_datasource_uids()
    assert len(uids) == 1
    for name, board in dashboards().items():
        for panel in panels(board):
            if panel["type"] == "row":
                continue
            assert panel["datasource"] == {"type": "prometheus", "uid": next(iter(uids))}, panel["title"]
            assert panel.get("targets"), f"{name}: {panel['title']} has no query"
            for target in panel["targets"]:
                assert target.get("datasource", panel["datasource"]) == panel["datasource"], panel["title"]
                assert target["expr"].strip(), panel["title"]


def test_every_dashboard_panel_has_a_unique_id_and_fits_the_grid():
    for name, board in dashboards().items():
        ids = [panel["id"] for panel in panels(board)]
        assert len(ids) == len(set(ids)), name
        for panel in panels(board):
            pos = panel["gridPos"]
            assert pos["w"] > 0 and pos["h"] > 0 and pos["x"] + pos["w"] <= 24, f"{name}: {panel['title']}"


def test_the_unit_dashboard_shows_what_the_unit_needs():
    expressions = " ".join(expr for where, expr in dashboard_expressions() if where.startswith("unit.json"))
    for name in (
        "rotation_on_duty",
        "rotation_next_handover_timestamp_seconds",
        "caseload_weighted",
        "referrals_open",
        'deadlines_open{state="approaching"}',
        'deadlines_open{state="breached"}',
        "histogram_quantile(0.5, sum by (le) (rate(referral_assignment_seconds_bucket",
        "histogram_quantile(0.95, sum by (le) (rate(referral_assignment_seconds_bucket",
        "caseload_imbalance_ratio",
    ):
        assert name in expressions, name


def test_the_operations_dashboard_shows_what_operators_need():
    expressions = " ".join(
        expr for where, expr in dashboard_expressions() if where.startswith("operations.json")
    )
    for name in (
        "events_handled_total",
        "event_handler_seconds_bucket",
        "kafka_consumer_lag",
        "outbox_backlog",
        "outbox_oldest_age_seconds",
        "deadletters_total",
        "notifications_total",
        "notification_deliveries",
        "up{",
    ):
        assert name in expressions, name


def test_grafana_loads_the_dashboards_from_the_mounted_directory():
    provider_file = GRAFANA / "provisioning" / "dashboards" / "dashboards.yml"
    providers = yaml.safe_load(provider_file.read_text())["providers"]
    grafana = COMPOSE["services"]["grafana"]
    for provider in providers:
        source = host_path(grafana, provider["options"]["path"])
        assert source == (GRAFANA / "dashboards").resolve(), provider
