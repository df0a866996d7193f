"""Issue 7 item 5: the commit is all-or-nothing as the user sees it. Real signals to a child
`pkgharvest fetch` paused at a known point (tests/signalpoint.py), real kill -9 inside the
commit and the next command finishing it, and a really full (tmpfs) file system."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pkgharvest.cli import run as cli_run
from pkgharvest.errors import StoreWriteError
from pkgharvest.records import Kind
from pkgharvest.store.transaction import Store
from tests.fakeproc import REPO_ROOT, harvester_argv, serve_in_subprocess
from tests.test_store import leftovers, mirror_files, package, run_once

PACKAGES = 40


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with serve_in_subprocess(packages=PACKAGES, grids=4, seed=3) as base_url:
        yield base_url


@pytest.fixture(scope="module")
def reference(server: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """The record files of a complete, undisturbed run against the server."""
    root = tmp_path_factory.mktemp("reference") / "mirror"
    done = subprocess.run(
        harvester_argv(server, root, "--quiet"), cwd=REPO_ROOT, capture_output=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return records(root)


def records(root: Path) -> dict[str, bytes]:
    return {name: data for name, data in mirror_files(root).items() if "/" in name}


def paused_fetch(server: str, root: Path, pause_at: str) -> tuple[subprocess.Popen[bytes], int]:
    """A child fetch paused at `pause_at`; returns it once it says it is there."""
    ready_read, ready_write = os.pipe()
    env = dict(os.environ)
    env["PKGHARVEST_TEST_PAUSE_AT"] = pause_at
    env["PKGHARVEST_TEST_READY_FD"] = str(ready_write)
    argv = harvester_argv(server, root, "--quiet")
    argv[1:3] = ["-m", "tests.signalpoint"]  # instead of -m pkgharvest
    child = subprocess.Popen(
        argv,
        cwd=REPO_ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        pass_fds=(ready_write,),
    )
    os.close(ready_write)
    with os.fdopen(ready_read, "rb") as ready:
        line = ready.readline()
    if line != b"ready\n":
        child.kill()
        _, err = child.communicate(timeout=60)
        pytest.fail(f"the child never reached {pause_at}: {err.decode()}")
    return child, child.pid


def go_on(child: subprocess.Popen[bytes]) -> tuple[int, str]:
    assert child.stdin is not None and child.stderr is not None
    try:
        child.stdin.write(b"go\n")
        child.stdin.close()
    except BrokenPipeError:
        pass
    err = child.stderr.read()
    return child.wait(timeout=120), err.decode()


# SIGTERM in the default suite; SIGINT and SIGHUP take the same path, in the slow one.
HELD = [
    pytest.param(signal.SIGINT, 130, marks=pytest.mark.slow),
    (signal.SIGTERM, 143),
    pytest.param(signal.SIGHUP, 129, marks=pytest.mark.slow),
]


@pytest.mark.parametrize(("signum", "code"), HELD, ids=lambda v: getattr(v, "name", str(v)))
def test_a_signal_during_the_commit_waits_for_it_to_finish(
    server: str, reference: dict[str, bytes], tmp_path: Path, signum: signal.Signals, code: int
) -> None:
    root = tmp_path / "mirror"
    child, pid = paused_fetch(server, root, "commit:5")
    assert 0 < len(records(root)) < len(reference)  # really inside the commit: half moved

    os.kill(pid, signum)
    exit_code, err = go_on(child)

    assert exit_code == code
    assert err.strip().endswith(
        f"interrupted ({signum.name}) during the commit, which was finished first: "
        "the mirror is updated"
    ), err
    assert records(root) == reference
    assert (root / "manifest.json").is_file()
    assert leftovers(root) == []


@pytest.mark.parametrize(("signum", "code"), HELD, ids=lambda v: getattr(v, "name", str(v)))
def test_a_signal_before_the_commit_leaves_the_mirror_unchanged(
    server: str, tmp_path: Path, signum: signal.Signals, code: int
) -> None:
    root = tmp_path / "mirror"
    child, pid = paused_fetch(server, root, "stage:10")

    os.kill(pid, signum)
    exit_code, err = go_on(child)

    assert exit_code == code
    assert err.strip().endswith(f"interrupted ({signum.name}); the mirror is unchanged"), err
    assert records(root) == {}
    assert not (root / "manifest.json").exists()
    assert leftovers(root) == []  # no staging folder left behind, whatever the signal


def test_kill_9_while_staging_leaves_no_unfinished_json(server: str, tmp_path: Path) -> None:
    root = tmp_path / "mirror"
    child, pid = paused_fetch(server, root, "created:10")  # the 10th staged file, still empty
    os.kill(pid, signal.SIGKILL)
    go_on(child)
    assert list(root.glob(".staging-*/packages/*"))  # the unfinished file is there

    for path in root.rglob("*.json"):  # what a script globbing the folder would open
        json.loads(path.read_bytes())


def test_kill_9_inside_the_commit_is_finished_by_the_next_command(
    server: str, reference: dict[str, bytes], tmp_path: Path
) -> None:
    root = tmp_path / "mirror"
    child, pid = paused_fetch(server, root, "commit:5")
    os.kill(pid, signal.SIGKILL)
    go_on(child)
    half = records(root)
    assert 0 < len(half) < len(reference)
    assert (root / ".commit-journal.json").is_file()
    assert not (root / "manifest.json").exists()

    store = Store(root)
    with store.lock():
        store.open_for_update()  # what every fetch does first

    assert store.recovered == len(reference) - len(half)
    assert records(root) == reference
    assert (root / "manifest.json").is_file()
    assert leftovers(root) == []


def test_a_commit_a_killed_fetch_began_stays_that_runs_in_the_database(
    server: str, reference: dict[str, bytes], tmp_path: Path
) -> None:
    """The next fetch finishes the killed commit, then brings the database up to it, and only
    then runs: the database records the killed run and the next one apart (not the killed
    run's records as the next run's)."""
    root = tmp_path / "mirror"
    child, pid = paused_fetch(server, root, "commit:5")
    os.kill(pid, signal.SIGKILL)
    go_on(child)
    assert (root / ".commit-journal.json").is_file()

    assert cli_run(["fetch", "--base-url", server, "--data-dir", str(root), "--quiet"]) == 0
    assert records(root) == reference
    with sqlite3.connect(root / "catalogue.db") as conn:
        runs = conn.execute("SELECT recorded, complete FROM runs ORDER BY id").fetchall()
        packages = conn.execute("SELECT count(*) FROM packages").fetchone()[0]
    assert runs == [("rebuild", 1), ("fetch", 1)]  # the killed run, then the next one
    assert packages == len([name for name in reference if name.startswith("packages/")])


# --- a really full file system ------------------------------------------------------------------


@pytest.fixture
def small_tmpfs(tmp_path: Path) -> Iterator[Path]:
    if sys.platform != "linux" or os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root on Linux")
    mount_point = tmp_path / "fs"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(mount_point)],
        capture_output=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def test_a_commit_without_room_to_finish_is_refused_before_it_starts(small_tmpfs: Path) -> None:
    root = small_tmpfs / "mirror"
    run_once(root, [(Kind.PACKAGE, package(1, "alpha")), (Kind.PACKAGE, package(2, "beta"))])
    before = mirror_files(root)
    store = Store(root)
    with store.lock():
        store.open_for_update()
        txn = store.begin()
        for record_id in range(3, 13):
            txn.put(Kind.PACKAGE, package(record_id, f"new-{record_id}"))
        # Fill the file system, leaving less than the commit wants (but room for its files).
        info = os.statvfs(root)
        filler = small_tmpfs / "filler"
        filler.write_bytes(b"\0" * (info.f_bavail * info.f_frsize - 16 * 1024))
        with pytest.raises(StoreWriteError, match="not enough free space") as refused:
            txn.commit(source="http://127.0.0.1/api/v4/", run={"complete": True})
    assert "the mirror is unchanged" in str(refused.value)
    assert str(root) in str(refused.value)
    assert mirror_files(root) == before
    assert leftovers(root) == []

    filler.unlink()  # room again: the next run commits
    run_once(root, [(Kind.PACKAGE, package(3, "new-3"))])
    assert "packages/new-3.json" in mirror_files(root)


def test_kill_9_inside_the_commit_is_finished_by_a_reading_command(
    server: str, reference: dict[str, bytes], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "mirror"
    child, pid = paused_fetch(server, root, "commit:5")
    os.kill(pid, signal.SIGKILL)
    go_on(child)
    assert (root / ".commit-journal.json").is_file()

    assert cli_run(["grids", "--data-dir", str(root), "--json"]) == 0

    assert records(root) == reference
    assert leftovers(root) == []
