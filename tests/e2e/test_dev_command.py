"""`referral-router dev` starts everything, answers on every port, and leaves nothing behind."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import psutil

from referral_router.devinfra.procs import free_port, port_in_use
from referral_router.stack import REPO, SERVICES, Ports
from referral_router.tokens import dev_token

PARTS = tuple(Ports.__dataclass_fields__)  # every part of the stack that has a port


def distinct_free_ports() -> dict[str, int]:
    """A free port per part, no two alike (two calls of free_port may return the same port)."""
    ports: dict[str, int] = {}
    while len(ports) < len(PARTS):
        port = free_port()
        if port not in ports.values():
            ports[PARTS[len(ports)]] = port
    return ports


def kill_left_over(processes: list[psutil.Process]) -> None:
    """After a failure, end the servers the dev command started, so none outlives the test."""
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()


def wait_for_line(proc: subprocess.Popen[str], needle: str, timeout_s: float) -> str:
    seen: list[str] = []
    deadline = time.monotonic() + timeout_s
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line and proc.poll() is not None:
            break
        seen.append(line)
        if needle in line:
            return "".join(seen)
    raise AssertionError(f"{needle!r} not printed within {timeout_s} s:\n{''.join(seen)}")


def _the_web_app_signs_in_through_the_dev_provider(
    client: httpx.Client, ports: dict[str, int], banner: str
) -> None:
    """The web app answers, sends a signed-out visitor to the dev provider, whose form offers
    the unit file's staff; the banner names both and explains the sign-in."""
    web, provider = f"http://127.0.0.1:{ports['web']}", f"http://127.0.0.1:{ports['oidc']}"
    assert client.get(f"{web}/healthz").status_code == 200
    to_login = client.get(f"{web}/referrals")
    assert to_login.status_code == 303
    assert to_login.headers["location"].startswith("/login?next=")
    to_provider = client.get(web + to_login.headers["location"])
    assert to_provider.status_code in (302, 303, 307)
    authorize = httpx.URL(to_provider.headers["location"])
    assert f"{authorize.scheme}://{authorize.host}:{authorize.port}" == provider
    assert authorize.params["client_id"] == "referral-router-web"
    assert authorize.params["redirect_uri"] == f"{web}/auth/callback"
    form = client.get(str(authorize))
    assert form.status_code == 200
    assert 'value="cw-a1"' in form.text or ">cw-a1<" in form.text
    assert web in banner
    assert provider in banner
    assert "sign in to the web app" in banner


def test_dev_answers_on_every_port_and_stops_cleanly_on_sigint(tmp_path):
    ports = distinct_free_ports()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KAFKA__", "DATABASE__"))}
    env.update({f"DEV_{part.upper()}_PORT": str(port) for part, port in ports.items()})
    env["DEV_STATE_DIR"] = str(tmp_path / "state")
    proc = subprocess.Popen(
        [sys.executable, "-m", "referral_router.cli", "dev", "--no-simulator"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    descendants: list[psutil.Process] = []
    try:
        banner = wait_for_line(proc, "portal client", timeout_s=120)
        descendants = psutil.Process(proc.pid).children(recursive=True)
        with httpx.Client(timeout=5) as client:
            for service in SERVICES:
                for path in ("/healthz", "/readyz", "/metrics"):
                    assert client.get(f"http://127.0.0.1:{ports[service]}{path}").status_code == 200
                assert f"http://127.0.0.1:{ports[service]}" in banner
            assert client.get(f"http://127.0.0.1:{ports['smtp_http']}/messages").json() == []
            assert client.get(f"http://127.0.0.1:{ports['teams']}/messages").json() == []
            _the_web_app_signs_in_through_the_dev_provider(client, ports, banner)
            # `referral-router token`'s HS256 tokens still open the staff API, whose audience
            # is now checked because the services trust the dev provider too.
            issuer = f"http://127.0.0.1:{ports['oidc']}"
            token = dev_token("mgr-a", ["manager"], issuer=issuer)
            workload = client.get(
                f"http://127.0.0.1:{ports['assignment']}/v1/workload",
                headers={"Authorization": f"Bearer {token}"},
            )
            assert workload.status_code == 200, workload.text
            foreign = dev_token("mgr-a", ["manager"], audience="another-api", issuer=issuer)
            refused = client.get(
                f"http://127.0.0.1:{ports['assignment']}/v1/workload",
                headers={"Authorization": f"Bearer {foreign}"},
            )
            assert refused.status_code == 401
        for part in ("kafka", "postgres", "smtp"):
            socket.create_connection(("127.0.0.1", ports[part]), timeout=5).close()
        assert (tmp_path / "state" / "logs" / "intake.log").exists()
        assert (tmp_path / "state" / "logs" / "web.log").exists()
        assert len(descendants) >= 10  # postgres, tansu, two sinks, four services, provider, web

        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=90) == 0
        assert "stopped." in (proc.stdout.read() if proc.stdout else "")
        _gone, alive = psutil.wait_procs(descendants, timeout=10)
        assert alive == [], [p.info for p in alive]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        kill_left_over(descendants)


def test_dev_piped_through_cat_stops_everything_when_ctrl_c_reaches_the_whole_group(tmp_path):
    """`make run | cat` and Ctrl-C: the terminal signals the whole foreground group, so `cat`
    dies with the launcher and the launcher's next write meets a closed pipe. It must still
    stop every process it started and leave no port listening."""
    ports = distinct_free_ports()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KAFKA__", "DATABASE__"))}
    env.update({f"DEV_{part.upper()}_PORT": str(port) for part, port in ports.items()})
    env["DEV_STATE_DIR"] = str(tmp_path / "state")
    command = f"{sys.executable} -m referral_router.cli dev --no-simulator --plain | cat"
    # A session of its own stands in for the terminal's foreground process group.
    shell = subprocess.Popen(
        ["bash", "-c", command],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    started: list[psutil.Process] = []
    try:
        wait_for_line(shell, "portal client", timeout_s=120)
        started = psutil.Process(shell.pid).children(recursive=True)
        launcher = [p for p in started if "referral_router.cli" in " ".join(p.cmdline())]
        assert len(launcher) == 1
        assert len(launcher[0].children(recursive=True)) >= 10  # also the provider and the web app

        os.killpg(shell.pid, signal.SIGINT)
        shell.wait(timeout=90)
        _gone, alive = psutil.wait_procs(started, timeout=15)
        assert alive == [], [(p.pid, p.name()) for p in alive]
        listening = [part for part, port in ports.items() if port_in_use(port)]
        assert listening == []
    finally:
        if shell.poll() is None:
            os.killpg(shell.pid, signal.SIGKILL)
            shell.wait()
        kill_left_over(started)


async def test_with_accelerate_the_services_run_on_the_simulated_clock_and_handover_cards_come(tmp_path):
    """`--accelerate`: the deadline scan and the handovers follow the simulator's clock. 40 days
    pass in about 70 s, so at least one handover (every 14 days) lies in the simulated past and
    more than a day before the real now: on the real clock, whose scan looks back one day, it
    would never be announced; on the simulated one it is, with a card in the team's channel."""
    from datetime import UTC, datetime, timedelta

    from shared.events import TOPIC_ROTATION
    from tests.helpers import eventually, read_topic

    ports = distinct_free_ports()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KAFKA__", "DATABASE__"))}
    env.update({f"DEV_{part.upper()}_PORT": str(port) for part, port in ports.items()})
    env["DEV_STATE_DIR"] = str(tmp_path / "state")
    argv = [sys.executable, "-m", "referral_router.cli", "dev", "--no-simulator", "--plain"]
    argv += ["--accelerate", "50000", "--backdate-days", "40"]
    proc = subprocess.Popen(
        argv, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    descendants: list[psutil.Process] = []
    try:
        wait_for_line(proc, "portal client", timeout_s=120)
        descendants = psutil.Process(proc.pid).children(recursive=True)
        bootstrap = f"127.0.0.1:{ports['kafka']}"
        records = await read_topic(bootstrap, TOPIC_ROTATION, expect=1, timeout_s=120)
        handovers = [datetime.fromisoformat(v["data"]["at"]) for _, v, _, _ in records]
        assert any(at < datetime.now(UTC) - timedelta(days=1) for at in handovers), handovers

        async def cards() -> list[dict]:
            async with httpx.AsyncClient(timeout=5) as client:
                listed: list[dict] = (await client.get(f"http://127.0.0.1:{ports['teams']}/messages")).json()
                return listed

        delivered = await eventually(cards, bool, timeout_s=60)
        assert {c["team"] for c in delivered} <= {"team-a", "team-b", "team-c"}
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=90) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        kill_left_over(descendants)
