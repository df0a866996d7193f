"""The fake API (tests/fakeapi.py) in a child process. Standard library only: the benchmark
imports this, and must stay small, because a child's peak RSS can include its parent's."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator
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
