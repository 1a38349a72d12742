"""deploy/tools/system-packages.sh asks for Chromium when the repository has browser tests."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from referral_router.stack import REPO

SCRIPT = REPO / "deploy" / "tools" / "system-packages.sh"


def _run(tmp_path: Path, browser_test: bool) -> str:
    """The script in a copy of the tree, with stand-ins for the tools and apt-get on the PATH."""
    root = tmp_path / "repo"
    (root / "deploy" / "tools").mkdir(parents=True)
    shutil.copy(SCRIPT, root / "deploy" / "tools")
    (root / "tests").mkdir()
    body = "from playwright.sync_api import Page\n" if browser_test else "import httpx\n"
    (root / "tests" / "test_x.py").write_text(body, "utf-8")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("promtool", "prometheus"):
        (bin_dir / tool).write_text("#!/bin/sh\n", "utf-8")
    (bin_dir / "apt-get").write_text(f'#!/bin/sh\necho "$@" >> {tmp_path}/apt.log\n', "utf-8")
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    env = os.environ | {"PATH": f"{bin_dir}:/usr/bin:/bin", "CHROMIUM": str(tmp_path / "no-chromium")}
    done = subprocess.run(
        ["bash", str(root / "deploy" / "tools" / "system-packages.sh")],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    apt_log = tmp_path / "apt.log"
    return done.stdout + done.stderr + (apt_log.read_text("utf-8") if apt_log.exists() else "")


def test_browser_tests_in_the_tree_make_it_install_chromium(tmp_path: Path) -> None:
    assert "chromium" in _run(tmp_path, browser_test=True)


def test_without_browser_tests_chromium_is_not_asked_for(tmp_path: Path) -> None:
    assert "chromium" not in _run(tmp_path, browser_test=False)


def test_the_repository_s_own_browser_tests_are_found_by_the_hook() -> None:
    found = subprocess.run(["grep", "-rqs", "--include=*.py", "playwright", "tests"], cwd=REPO, check=False)
    assert found.returncode == 0
