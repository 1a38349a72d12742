"""`referral-router dev` says exactly what is wrong before (or while) starting, and starts nothing then.

Fast: nothing here needs Postgres or Kafka.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from referral_router.dev import (
    DevStack,
    StartError,
    java_problems,
    parts_to_bind,
    port_problems,
    ports_from_env,
)
from referral_router.devinfra.procs import free_port, port_in_use
from referral_router.stack import REPO, Ports, ServiceConfig, ServiceProcesses

PARTS = tuple(Ports.__dataclass_fields__)  # every part of the stack that has a port


@pytest.fixture
def listener():
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    yield sock.getsockname()[1]
    sock.close()


def free_ports() -> dict[str, int]:
    return {part: free_port() for part in PARTS}


def test_a_taken_port_is_named_with_its_part_and_variable(listener):
    ports = Ports(**{**free_ports(), "intake": listener})
    assert port_in_use(listener)
    problems = port_problems(ports, parts_to_bind("tansu", {}))
    assert len(problems) == 1
    assert f"port {listener} for the intake HTTP is already in use" in problems[0]
    assert "DEV_INTAKE_PORT=" in problems[0] and "make run" in problems[0]


def test_two_parts_on_one_port_are_reported():
    ports = Ports(**{**free_ports(), "teams": 28_991, "smtp_http": 28_991})
    problems = port_problems(ports, parts_to_bind("tansu", {}))
    assert any("both set to port 28991" in p and "DEV_TEAMS_PORT" in p for p in problems)


def test_external_database_and_broker_ports_are_not_checked():
    assert "postgres" not in parts_to_bind("tansu", {"DATABASE__URL": "postgresql://db/x"})
    assert "kafka" not in parts_to_bind("tansu", {"KAFKA__BOOTSTRAP_SERVERS": "broker:9092"})
    assert "kafka" not in parts_to_bind("apache", {})
    assert set(parts_to_bind("tansu", {})) == set(PARTS)


def test_ports_come_from_dev_part_port_variables(monkeypatch):
    monkeypatch.setenv("DEV_SMTP_HTTP_PORT", "18025")
    assert ports_from_env().smtp_http == 18025


def test_the_cli_refuses_to_start_when_a_port_is_taken_and_starts_nothing(listener, tmp_path):
    env = {**os.environ, **{f"DEV_{p.upper()}_PORT": str(n) for p, n in free_ports().items()}}
    env["DEV_METRICS_PORT"] = str(listener)
    env["DEV_STATE_DIR"] = str(tmp_path / "state")
    done = subprocess.run(
        [sys.executable, "-m", "referral_router.cli", "dev"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert f"port {listener} for the metrics HTTP is already in use" in done.stderr
    assert "DEV_METRICS_PORT=" in done.stderr
    assert "nothing was started" in done.stderr
    assert not (tmp_path / "state").exists()


def test_missing_java_for_apache_kafka_is_said_plainly(tmp_path):
    empty = tmp_path / "bin"
    empty.mkdir()
    problems = java_problems({"PATH": str(empty), "KAFKA_CACHE": str(tmp_path / "cache")})
    assert any("needs Java 17" in p and "`java` is not on the PATH" in p for p in problems)
    assert any("needs Maven" in p and "`mvn` is not on the PATH" in p for p in problems)


def test_maven_is_not_needed_once_the_jars_are_fetched(tmp_path):
    (tmp_path / "cache" / "jars").mkdir(parents=True)
    (tmp_path / "cache" / "jars" / ".fetched").touch()
    problems = java_problems({"PATH": str(tmp_path), "KAFKA_CACHE": str(tmp_path / "cache")})
    assert len(problems) == 1 and "Java 17" in problems[0]


def test_an_old_java_is_named(tmp_path):
    java = tmp_path / "java"
    java.write_text("#!/bin/sh\necho 'openjdk version \"11.0.22\" 2024-01-16' >&2\n")
    java.chmod(0o755)
    problems = java_problems({"PATH": str(tmp_path), "JAVA": "java", "KAFKA_CACHE": str(tmp_path)})
    assert any("Java 17 or newer" in p and "is Java 11" in p for p in problems)


def test_the_cli_refuses_apache_kafka_without_java(tmp_path):
    env = {**os.environ, **{f"DEV_{p.upper()}_PORT": str(n) for p, n in free_ports().items()}}
    env.update({"PATH": str(tmp_path), "DEV_STATE_DIR": str(tmp_path / "state")})
    done = subprocess.run(
        [sys.executable, "-m", "referral_router.cli", "dev", "--kafka", "apache"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert "needs Java 17" in done.stderr
    assert not (tmp_path / "state").exists()


def test_a_part_that_exits_while_starting_is_reported_with_its_log(tmp_path):
    stack = DevStack(tmp_path, Ports(**free_ports()), "tansu")
    argv = [sys.executable, "-c", "import sys; print('cannot open the mailbox'); sys.exit(3)"]
    with pytest.raises(StartError) as failed:
        stack._sink("smtp-sink", argv, free_port())
    stack.stop()
    message = str(failed.value)
    assert "smtp-sink exited with code 3 while starting" in message
    assert "last lines of" in message and "cannot open the mailbox" in message


def test_a_service_that_exits_while_starting_is_reported_with_its_log(tmp_path):
    ports = Ports(**free_ports())
    config = ServiceConfig(
        database_url=f"postgresql://postgres@127.0.0.1:{free_port()}/none",
        bootstrap=f"127.0.0.1:{free_port()}",
        flavour="tansu",
        ports=ports,
        secrets={"key_id": "k", "key": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", "pepper": "00"},
        unit_config=tmp_path / "missing-unit-config.yaml",
    )
    stack = DevStack(tmp_path, ports, "tansu")
    stack.services = ServiceProcesses(config, tmp_path / "logs")
    try:
        with pytest.raises(StartError) as failed:
            stack._start_services(timeout_s=90)
    finally:
        stack.stop()
    message = str(failed.value)
    assert "service exited while starting" in message
    assert "last lines of" in message and "missing-unit-config.yaml" in message
