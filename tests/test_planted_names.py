"""The names of the mirror's own files taken by something else: a folder where a record file or
`.index.json` goes, a FIFO where `.index.json` is. None may wedge the mirror or hang a run: a
fetch refuses before its commit (exit 65, naming the path) or goes on without the cache, and a
commit journal that would move a file onto a folder is refused the same way. Real folders,
FIFOs and child processes (a hang ends the child, not the test run)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pkgharvest.cli import run as cli_run
from pkgharvest.errors import ExitCode
from pkgharvest.store import journal
from tests.fakeapi import PUBLIC_BASE_URL
from tests.fakeproc import REPO_ROOT
from tests.test_journal_trust import half_committed, tree
from tests.test_store import leftovers, mirror_files
from tests.test_store_trust import fetch_from

Cap = pytest.CaptureFixture[str]

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


def json_files(root: Path) -> dict[str, bytes]:
    """The record files and the manifest (a refused fetch may have opened the database)."""
    return {name: data for name, data in mirror_files(root).items() if name.endswith(".json")}


def test_a_folder_named_like_a_record_the_run_writes_stops_it_before_its_commit(
    fetched: Path, capsys: Cap
) -> None:
    """It stopped the commit part-way (os.replace cannot replace a folder): exit 73 with the
    journal left, then every command exit 73 ("make room") until the folder was found by hand."""
    name = sorted(os.listdir(fetched / "packages"))[0]
    in_the_way = fetched / "packages" / name
    in_the_way.unlink()
    in_the_way.mkdir()
    (in_the_way / "mine.txt").write_text("mine")
    before = json_files(fetched)
    capsys.readouterr()

    code = fetch_from(PUBLIC_BASE_URL, fetched)

    err = capsys.readouterr().err
    assert code == ExitCode.DATA_ERROR, err
    assert err.count("\n") == 1 and f"{in_the_way} is a folder" in err
    assert json_files(fetched) == before and leftovers(fetched) == []
    assert (in_the_way / "mine.txt").read_text() == "mine"
    assert cli_run(["top", "--data-dir", str(fetched)]) == 0  # the mirror reads as it was

    shutil.rmtree(in_the_way)
    assert fetch_from(PUBLIC_BASE_URL, fetched) == 0
    assert in_the_way.is_file()


def test_a_folder_named_like_the_index_stops_the_run_before_its_commit(
    fetched: Path, capsys: Cap
) -> None:
    index = fetched / ".index.json"
    index.unlink()
    index.mkdir()
    before = json_files(fetched)
    capsys.readouterr()

    code = fetch_from(PUBLIC_BASE_URL, fetched)

    err = capsys.readouterr().err
    assert code == ExitCode.DATA_ERROR and f"{index} is a folder" in err, err
    assert json_files(fetched) == before and leftovers(fetched) == [] and index.is_dir()
    assert cli_run(["top", "--data-dir", str(fetched)]) == 0


def test_a_journal_moving_a_file_onto_a_folder_is_refused_until_the_folder_goes(
    tmp_path: Path, capsys: Cap
) -> None:
    """A commit cut short (here by a full disk) whose next move lands on a folder planted since:
    every command, fetch too, says which folder (exit 65, not 73 "make room") and moves nothing;
    once it is gone, the next command finishes the commit."""
    root = tmp_path / "mirror"
    half_committed(root)
    plan = json.loads((root / journal.JOURNAL_NAME).read_text())
    in_the_way = root / "packages" / plan["moves"]["packages"][-1]
    in_the_way.mkdir()
    before = mirror_files(root), tree(root / plan["staging"])

    for argv in (["top"], ["export"], ["fetch", "--base-url", PUBLIC_BASE_URL, "--quiet"]):
        capsys.readouterr()
        code = cli_run([*argv, "--data-dir", str(root)])
        err = capsys.readouterr().err
        assert code == ExitCode.DATA_ERROR and f"{in_the_way} is a folder" in err, (argv, err)
        assert (mirror_files(root), tree(root / plan["staging"])) == before

    in_the_way.rmdir()
    assert cli_run(["top", "--data-dir", str(root)]) == 0
    assert not (root / journal.JOURNAL_NAME).exists() and in_the_way.is_file()
