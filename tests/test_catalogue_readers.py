"""Readers while a fetch commits (issue 20 item 22): every package gained a star, and a fetch
is stopped inside its commit (tests/commitpause.py) at three moments: half its records moved,
the new manifest in place, the journal gone but the catalogue database not yet updated. Real
`pkgharvest export --format jsonl` processes run again and again meanwhile: each prints the old
catalogue or the new one, never a mix; once the fetch is killed, the next reader finishes the
commit and prints the new one."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakeapi import FakeApi, generate_catalogue
from tests.fakeproc import REPO_ROOT, harvester_argv
from tests.faultkit import fetch_served

PACKAGES = 150
READS = 4


def _export(root: Path) -> str:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pkgharvest",
            "export",
            "--format",
            "jsonl",
            "--data-dir",
            str(root),
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("\n") <= 1
    return done.stdout


class Setup:
    def __init__(self, url: str, old: Path, old_export: str, new_export: str) -> None:
        self.url, self.old, self.old_export, self.new_export = url, old, old_export, new_export


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    folder = tmp_path_factory.mktemp("readers")
    catalogue = generate_catalogue(packages=PACKAGES, grids=6, seed=2)
    with FakeApi(catalogue).serve() as url:
        old = folder / "old"
        assert fetch_served(url, old).exit_code == 0
        old_export = _export(old)
        for package_id, record in list(catalogue.table("packages").items()):
            stars = record.get("repo_watchers") or 0
            catalogue.update_package(package_id, repo_watchers=stars + 1)
        new = Path(shutil.copytree(old, folder / "new"))
        assert fetch_served(url, new).exit_code == 0
        new_export = _export(new)
        assert new_export != old_export
        yield Setup(url, old, old_export, new_export)


def _paused_fetch(setup: Setup, root: Path, moment: str) -> subprocess.Popen[bytes]:
    marker = root.parent / f"{root.name}.paused"
    env = {
        **os.environ,
        "PKGHARVEST_TEST_PAUSE_ON": moment,
        "PKGHARVEST_TEST_PAUSE_AFTER": str(PACKAGES // 2),
        "PKGHARVEST_TEST_PAUSE_MARKER": str(marker),
    }
    argv = harvester_argv(setup.url, root, "--quiet")
    argv[1:3] = ["-m", "tests.commitpause"]
    proc = subprocess.Popen(
        argv, cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    started = time.monotonic()
    while not marker.exists():
        if proc.poll() is not None or time.monotonic() - started > 120:
            proc.kill()
            raise AssertionError("the fetch ended without reaching its pause")
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=0.01)  # a wait on the child, not a sleep
    return proc


@pytest.mark.parametrize("moment", ["move", "manifest", "journal"])
def test_readers_during_a_commit_see_the_old_or_the_new_catalogue(
    setup: Setup, tmp_path: Path, moment: str
) -> None:
    root = Path(shutil.copytree(setup.old, tmp_path / "mirror"))
    proc = _paused_fetch(setup, root, moment)
    try:
        for _ in range(READS):
            assert _export(root) in (setup.old_export, setup.new_export)
    finally:
        proc.kill()
        proc.wait()
    # The fetch died inside its commit: the next reader finishes it (or catches the database
    # up) and shows the new catalogue whole.
    assert _export(root) == setup.new_export
