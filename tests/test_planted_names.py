"""The names of the mirror's own files taken by something else: a folder where a record file or
`.index.json` goes, a FIFO where `.index.json` is. None may wedge the mirror or hang a run: a
fetch refuses before its commit (exit 65, naming the path) or goes on without the cache, and a
commit journal that would move a file onto a folder is refused the same way. Real folders,
FIFOs and child processes (a hang ends the child, not the test run)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.fakeapi import PUBLIC_BASE_URL
from tests.fakeproc import REPO_ROOT
from tests.test_store_trust import fetch_from

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs")

_FETCH = textwrap.dedent(
    """
    import sys
    from pkgharvest.cli import run
    from tests.test_store_trust import serve_seeds
    sys.exit(run(["fetch", "--quiet", "--base-url", sys.argv[2], "--data-dir", sys.argv[1]],
                 serve_seeds()))
    """
)


def fetch_in_a_child(root: Path) -> subprocess.CompletedProcess[str]:
    """`pkgharvest fetch` of the seed catalogue in a child process, given 60 s to finish."""
    return subprocess.run(
        [sys.executable, "-c", _FETCH, str(root), PUBLIC_BASE_URL],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def fetched(tmp_path: Path) -> Path:
    root = tmp_path / "mirror"
    assert fetch_from(PUBLIC_BASE_URL, root) == 0
    return root


def test_a_fifo_named_like_the_index_neither_hangs_a_fetch_nor_stays(fetched: Path) -> None:
    """`.index.json` is a cache: a FIFO there is no index (it was opened without O_NONBLOCK,
    which waits for a writer that never comes: the fetch hung for ever)."""
    index = fetched / ".index.json"
    index.unlink()
    os.mkfifo(index)

    done = fetch_in_a_child(fetched)

    assert done.returncode == 0, done.stderr
    assert index.is_file()  # the commit wrote a real index in its place
