"""Another process holding the catalogue database's write lock (issue 16 item 3, issue 20 item
10): a fetch waits a bounded time on its injected clock, then reports "the catalogue database
was not updated" even under --quiet, in --json, and with exit 9; its summary's time is the
run's whole time. Reading commands read a private copy (one line), history commands the
database as it is; once the lock is gone, the next command catches up."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from pkgharvest.catalogue import CATALOGUE_NAME
from pkgharvest.cli import run
from pkgharvest.runtime import Dependencies, RetryPolicy
from tests.fakeapi import PUBLIC_BASE_URL, Catalogue, FakeApi, seed_catalogue
from tests.mirrorbuilder import NOW

MP = pytest.MonkeyPatch
Cap = pytest.CaptureFixture[str]

WAIT = 3.0


class FakeTime:
    """A monotonic clock that moves only when something sleeps on it."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept = 0.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.slept += seconds


def _deps(catalogue: Catalogue, time: FakeTime | None = None) -> Dependencies:
    time = time or FakeTime()
    return Dependencies(
        transport=httpx.MockTransport(FakeApi(catalogue).handler),
        retry=RetryPolicy(attempts=2),
        sleep=time.sleep,
        clock=time.clock,
        now=lambda: NOW,
        database_wait=WAIT,
    )


def _fetch(catalogue: Catalogue, root: Path, *args: str, time: FakeTime | None = None) -> int:
    argv = ["fetch", "--base-url", PUBLIC_BASE_URL, "--data-dir", str(root), *args]
    return run(argv, _deps(catalogue, time))


def _changed() -> Catalogue:
    catalogue = seed_catalogue()
    catalogue.update_package(
        1083, repo_watchers=672, last_fetched="2026-02-22T18:02:37.757866-05:00"
    )
    return catalogue


_HOLDER = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
sys.stdin.read()
"""


@pytest.fixture
def mirror(tmp_path: Path) -> Path:
    root = tmp_path / "mirror"
    assert _fetch(seed_catalogue(), root, "--quiet") == 0
    return root


@pytest.fixture
def locked(mirror: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process holding catalogue.db's write lock (BEGIN IMMEDIATE) until closed."""
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(mirror / CATALOGUE_NAME)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
    try:
        yield holder
    finally:
        holder.kill()
        holder.wait()


def _release(holder: subprocess.Popen[str]) -> None:
    holder.kill()
    holder.wait()


def test_fetch_reports_a_locked_database_even_under_quiet(
    capsys: Cap, mirror: Path, locked: subprocess.Popen[str]
) -> None:
    time = FakeTime()
    capsys.readouterr()
    code = _fetch(_changed(), mirror, "--quiet", time=time)
    out, err = capsys.readouterr()
    assert code == 9
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith("pkgharvest: warning: the catalogue database was not updated")
    assert "locked by another process" in err
    assert WAIT <= time.slept < WAIT + 1  # a bounded wait, on the injected clock
    # The mirror is updated all the same: the next reader, once the lock is gone, catches up.
    _release(locked)
    assert run(["top", "--json", "--data-dir", str(mirror)]) == 0
    caught_up = capsys.readouterr()
    assert "behind the mirror: caught up" in caught_up.err
    assert json.loads(caught_up.out)[0]["stars"] >= 672


def test_fetch_json_says_it_and_its_time_is_the_whole_run(
    capsys: Cap, mirror: Path, locked: subprocess.Popen[str]
) -> None:
    time = FakeTime()
    capsys.readouterr()
    assert _fetch(_changed(), mirror, "--json", time=time) == 9
    out, err = capsys.readouterr()
    document = json.loads(out)
    assert document["exit_code"] == 9 and document["complete"] is True
    assert "was not updated" in document["catalogue_problem"]
    assert document["changes"] is None  # the database could not say them
    assert document["seconds"] >= WAIT  # the wait for the lock included
    assert "was not updated" in err


def test_the_summary_line_counts_the_wait(
    capsys: Cap, mirror: Path, locked: subprocess.Popen[str]
) -> None:
    capsys.readouterr()
    assert _fetch(_changed(), mirror) == 9
    out, err = capsys.readouterr()
    summary = out.splitlines()[0]
    assert summary.startswith("fetch complete: ")
    seconds = float(summary.rsplit(", ", 1)[1].removesuffix(" s"))
    assert seconds >= WAIT
    assert "was not updated" in err


def test_readers_read_a_private_copy_while_the_lock_is_held(
    capsys: Cap, mirror: Path, locked: subprocess.Popen[str]
) -> None:
    assert _fetch(_changed(), mirror, "--quiet") == 9  # the database is now behind
    capsys.readouterr()
    time = FakeTime()
    deps = Dependencies(sleep=time.sleep, clock=time.clock, now=lambda: NOW, database_wait=WAIT)
    assert run(["top", "--json", "--data-dir", str(mirror)], deps) == 0
    out, err = capsys.readouterr()
    assert err.count("\n") == 1 and "locked by another process" in err
    assert "reading a private copy built from the JSON files" in err
    assert json.loads(out)[0]["stars"] >= 672  # the mirror as it is now
    assert time.slept >= WAIT
    # History comes from the database as it is (behind: as of its last update).
    assert run(["changes", "--json", "--data-dir", str(mirror)], deps) == 0
    history = capsys.readouterr()
    assert json.loads(history.out)["runs"] == 1
    assert history.err.count("\n") == 1 and "as of its last update" in history.err


def test_a_reader_in_step_never_waits_for_the_lock(
    capsys: Cap, mirror: Path, locked: subprocess.Popen[str]
) -> None:
    time = FakeTime()
    deps = Dependencies(sleep=time.sleep, clock=time.clock, now=lambda: NOW, database_wait=WAIT)
    capsys.readouterr()
    assert run(["top", "--data-dir", str(mirror)], deps) == 0
    assert capsys.readouterr().err == "" and time.slept == 0


def test_a_fetch_behind_a_lock_still_held_waits_for_it_once(
    capsys: Cap, mirror: Path, locked: subprocess.Popen[str]
) -> None:
    """The second fetch while the lock is held finds the database behind: it waited for the lock
    to catch it up before the run, then again after its commit (twice the wait: 11 s in all
    with the real 5 s, where the documentation promises at most 5)."""
    assert _fetch(_changed(), mirror, "--quiet") == 9
    time = FakeTime()
    capsys.readouterr()

    code = _fetch(_changed(), mirror, "--quiet", time=time)

    err = capsys.readouterr().err
    assert code == 9 and "was not updated" in err and err.count("\n") == 1, err
    assert WAIT <= time.slept < WAIT + 1
