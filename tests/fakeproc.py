"""The fake API (tests/fakeapi.py) in a child process. Standard library only: the benchmark
imports this, and must stay small, because a child's peak RSS can include its parent's."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


@contextlib.contextmanager
def serve_in_subprocess(
    *, packages: int, grids: int, seed: int = 0, latency: float = 0.0
) -> Iterator[str]:
    """`python -m tests.fakeapi` in a child process (so that the process under test is measured,
    or polled, alone); yields its base URL and stops it afterwards. Its catalogue is
    `generate_catalogue(packages, grids, seed=seed)`, which a test can rebuild to compare with."""
    argv = [sys.executable, "-m", "tests.fakeapi", "--packages", str(packages)]
    argv += ["--grids", str(grids), "--seed", str(seed), "--latency", str(latency)]
    proc = subprocess.Popen(
        argv, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()  # the base URL, once the catalogue is made
        if not line.startswith("http://127.0.0.1:"):
            raise RuntimeError(f"the fake API did not start: {line!r}")
        yield line
    finally:
        proc.terminate()  # SIGTERM: a background child may ignore SIGINT
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def harvester_argv(base_url: str, root: Path, *extra: str) -> list[str]:
    """`pkgharvest fetch` against `base_url` into `root`, as a child of this interpreter."""
    argv = [sys.executable, "-m", "pkgharvest", "fetch", "--base-url", base_url]
    return [*argv, "--data-dir", str(root), *extra]


_WITHOUT_BACKOFF = """
import sys
from pkgharvest.cli import run
from pkgharvest.runtime import Dependencies, RetryPolicy
deps = Dependencies(retry=RetryPolicy(attempts=2), sleep=lambda seconds: None)
sys.exit(run(sys.argv[1:], deps))
"""


def quick_retry_argv(base_url: str, root: Path, *extra: str) -> list[str]:
    """Like harvester_argv, but two attempts a request and no backoff sleeps (through the
    Dependencies object the CLI takes): for measuring what an attack costs, not patience."""
    argv = [sys.executable, "-c", _WITHOUT_BACKOFF, "fetch", "--base-url", base_url]
    return [*argv, "--data-dir", str(root), *extra]


@dataclass(frozen=True)
class Measured:
    """A child's exit code (None: killed when it ran too long), wall seconds, peak RSS in
    bytes (its own, from wait4; VmHWM so far when killed) and stderr."""

    exit_code: int | None
    seconds: float
    peak_rss: int
    stderr: str


def run_measured(
    argv: list[str], *, env: dict[str, str] | None = None, kill_after: float | None = None
) -> Measured:
    """Run `argv` from the repository root with stdout discarded, measured with os.wait4."""
    started = time.monotonic()
    proc = subprocess.Popen(
        argv,
        cwd=REPO_ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    assert proc.stderr is not None
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(status)  # Popen must not wait again
            err = proc.stderr.read().decode("utf-8", "replace")
            seconds = time.monotonic() - started
            return Measured(proc.returncode, seconds, usage.ru_maxrss * 1024, err)
        if kill_after is not None and time.monotonic() - started > kill_after:
            with open(f"/proc/{proc.pid}/status") as status_file:
                peak_kib = next(int(line.split()[1]) for line in status_file if "VmHWM" in line)
            proc.kill()
            os.wait4(proc.pid, 0)
            proc.returncode = -9
            return Measured(None, time.monotonic() - started, peak_kib * 1024, "")
        time.sleep(0.02)
