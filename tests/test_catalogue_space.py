"""A nearly full file system with 1 KiB blocks (issue 20 item 5). SQLite's wal-index (-shm) is a
memory-mapped file it extends one byte per 4 KiB page, which on 1 KiB blocks leaves holes;
with 10-11 KiB free, touching a hole killed `top` and `fetch` with SIGBUS (exit 135). Now they
refuse first: exit 73 with one line, the JSON mirror unchanged. On a real loop-mounted ext4
(skipped where mounting is not allowed); the commands run as child processes, since a SIGBUS
would take the test process with it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakeproc import REPO_ROOT
from tests.faultkit import mirror_files

_FETCH = textwrap.dedent(
    """
    import sys
    import httpx
    from pkgharvest.cli import run
    from pkgharvest.runtime import Dependencies, RetryPolicy
    from tests.fakeapi import PUBLIC_BASE_URL, FakeApi, seed_catalogue

    catalogue = seed_catalogue()
    catalogue.update_package(1083, repo_watchers=999, last_fetched="2026-02-22T18:02:37-05:00")
    deps = Dependencies(transport=httpx.MockTransport(FakeApi(catalogue).handler),
                        retry=RetryPolicy(attempts=2), sleep=lambda s: None)
    sys.exit(run(["fetch", "--quiet", "--base-url", PUBLIC_BASE_URL, "--data-dir", sys.argv[1]],
                 deps))
    """
)


@pytest.fixture(scope="module")
def fetched(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("space") / "mirror"
    child = _FETCH.replace("catalogue.update_package", "# ")
    done = subprocess.run([sys.executable, "-c", child, str(root)], cwd=REPO_ROOT, check=False)
    assert done.returncode == 0
    return root


@pytest.fixture
def small_ext4(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB ext4 with 1 KiB blocks, loop-mounted (root on Linux only)."""
    yield from _ext4(tmp_path, 4)


def _ext4(tmp_path: Path, mib: int) -> Iterator[Path]:
    if sys.platform != "linux" or os.geteuid() != 0 or shutil.which("mkfs.ext4") is None:
        pytest.skip("mounting an ext4 image needs root, Linux and mkfs.ext4")
    image = tmp_path / "fs.img"
    with open(image, "wb") as file:
        file.truncate(mib * 1024 * 1024)
    made = subprocess.run(
        ["mkfs.ext4", "-q", "-F", "-b", "1024", "-m", "0", str(image)], capture_output=True
    )
    if made.returncode != 0:
        pytest.skip(f"mkfs.ext4 failed: {made.stderr.decode().strip()}")
    mount_point = tmp_path / "fs"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-o", "loop", str(image), str(mount_point)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot loop-mount here: {mounted.stderr.decode().strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def _free(mount_point: Path) -> int:
    info = os.statvfs(mount_point)
    return info.f_bavail * info.f_frsize  # what `df` says is free


def _leave_free(mount_point: Path, kib: int) -> None:
    """Fill the file system until `kib` KiB are free (root may use every block: -m 0). With
    dd's one-block writes: ext4 reserves room for a large write's index blocks in advance and
    says ENOSPC well before the disk is full."""
    blocks = (_free(mount_point) - kib * 1024) // 1024
    subprocess.run(
        ["dd", "if=/dev/zero", f"of={mount_point / 'filler'}", "bs=1k", f"count={blocks}"],
        capture_output=True,
        check=False,
    )
    os.sync()
    while _free(mount_point) < kib * 1024 - 1024:  # the filler's index blocks took room
        with open(mount_point / "filler", "r+b") as file:
            file.truncate(os.fstat(file.fileno()).st_size - 1024)
        os.sync()


@pytest.mark.parametrize("free_kib", [10, 11, 12])
@pytest.mark.parametrize("command", ["top", "fetch"])
def test_a_nearly_full_small_block_disk_is_exit_73_not_sigbus(
    fetched: Path, small_ext4: Path, free_kib: int, command: str
) -> None:
    root = Path(shutil.copytree(fetched, small_ext4 / "mirror"))
    _leave_free(small_ext4, free_kib)
    before = mirror_files(root)
    if command == "top":
        argv = [sys.executable, "-m", "pkgharvest", "top", "--data-dir", str(root)]
    else:
        argv = [sys.executable, "-c", _FETCH, str(root)]
    done = subprocess.run(argv, cwd=REPO_ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == 73, (done.returncode, done.stderr)
    assert done.stderr.count("\n") == 1
    assert done.stderr.startswith("pkgharvest: error: not enough free space in ")
    assert "catalogue database" in done.stderr
    assert mirror_files(root) == before


def test_with_room_the_same_mirror_reads_and_fetches(fetched: Path, small_ext4: Path) -> None:
    root = Path(shutil.copytree(fetched, small_ext4 / "mirror"))
    _leave_free(small_ext4, 400)
    for argv in (
        [sys.executable, "-m", "pkgharvest", "top", "--data-dir", str(root)],
        [sys.executable, "-c", _FETCH, str(root)],
    ):
        done = subprocess.run(argv, cwd=REPO_ROOT, capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("free_kib", [66, 80])
def test_a_disk_filling_up_during_a_database_build_is_named_never_an_internal_error(
    fetched: Path, small_ext4: Path, free_kib: int
) -> None:
    """Room to open a database, not to build one from the record files: SQLite rolls the
    build's transaction back itself on the full disk, and the sync's own ROLLBACK then failed
    with "no transaction is active", hiding it: `top` and `trends` exited 1 ("failed to update
    (SQLITE_ERROR)", an internal error). (A fetch whose update met a full disk said the same
    SQLITE_ERROR.)"""
    root = Path(shutil.copytree(fetched, small_ext4 / "mirror"))
    (root / "catalogue.db").unlink()
    _leave_free(small_ext4, free_kib)

    for command in ("top", "trends"):
        read = subprocess.run(
            [sys.executable, "-m", "pkgharvest", command, "--data-dir", str(root)],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
        )
        assert read.returncode == 73, (command, read.returncode, read.stderr)
        assert read.stderr.count("\n") == 1, read.stderr
        assert "the disk is full" in read.stderr or "not enough free space" in read.stderr


_GROW = textwrap.dedent(
    """
    import sys
    import httpx
    from pkgharvest.cli import run
    from pkgharvest.runtime import Dependencies, RetryPolicy
    from tests.fakeapi import PUBLIC_BASE_URL, FakeApi, generate_catalogue

    catalogue = generate_catalogue(300, grids=20, seed=3)
    if sys.argv[2] == "grown":  # every package re-measured, and 300 new ones
        for package_id, package in list(catalogue.packages.items()):
            catalogue.update_package(package_id, repo_watchers=package["repo_watchers"] + 1)
        for number in range(300):
            catalogue.add_package(slug=f"zz-new-{number:04d}-" + "x" * 60, title="t")
    deps = Dependencies(transport=httpx.MockTransport(FakeApi(catalogue).handler),
                        retry=RetryPolicy(attempts=2), sleep=lambda s: None)
    sys.exit(run(["fetch", "--quiet", "--base-url", PUBLIC_BASE_URL, "--data-dir", sys.argv[1]],
                 deps))
    """
)


def fetch_three_hundred(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A mirror of the 300 packages `_GROW` starts from."""
    root = tmp_path_factory.mktemp("grow") / "mirror"
    done = subprocess.run([sys.executable, "-c", _GROW, str(root), "first"], cwd=REPO_ROOT)
    assert done.returncode == 0
    return root


def mount_ext4_32(tmp_path: Path) -> Iterator[Path]:
    """A 32 MiB ext4 with 1 KiB blocks (and, as everywhere here, no root reserve)."""
    yield from _ext4(tmp_path, 32)


@pytest.fixture(scope="module")
def three_hundred(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fetch_three_hundred(tmp_path_factory)


@pytest.fixture
def ext4_32(tmp_path: Path) -> Iterator[Path]:
    yield from mount_ext4_32(tmp_path)


def _pkgharvest(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pkgharvest", *argv], cwd=REPO_ROOT, capture_output=True, text=True
    )


@pytest.mark.parametrize("free_kib", [2425, 2525])
def test_a_fetch_that_leaves_too_little_room_to_read_says_so_and_nothing_calls_it_damage(
    three_hundred: Path, ext4_32: Path, free_kib: int
) -> None:
    """With this much room the JSON commit and the database's transaction fit, but folding the
    log into the database (its checkpoint) does not: the disk is left with a KiB or two. fetch
    said nothing and exited 0; every reading command then stopped (exit 73), and status and
    verify, reading the database without its log, called it damaged ("the next reading command
    or fetch moves it aside"), though with room it is whole, its history too."""
    root = Path(shutil.copytree(three_hundred, ext4_32 / "mirror"))
    _leave_free(ext4_32, free_kib)

    done = subprocess.run(
        [sys.executable, "-c", _GROW, str(root), "grown"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
    )

    assert done.returncode == 9, (done.returncode, done.stderr)
    assert done.stderr.count("\n") == 1, done.stderr
    assert "the catalogue database was updated, but not enough free space" in done.stderr
    top = _pkgharvest("top", "--data-dir", str(root))
    assert top.returncode == 73 and "not enough free space" in top.stderr, top.stderr
    status = _pkgharvest("status", "--data-dir", str(root))
    assert status.returncode == 0 and "damaged" not in status.stdout, status.stdout
    assert "cannot be checked" in status.stdout, status.stdout
    verify = _pkgharvest("verify", "--data-dir", str(root))
    assert "damaged" not in verify.stdout and "cannot be checked" in verify.stdout, verify.stdout

    (ext4_32 / "filler").unlink()  # room again: the database is whole, and in step
    assert not list(root.glob("catalogue.db.corrupt*"))
    top = _pkgharvest("top", "--json", "--limit", "0", "--data-dir", str(root))
    assert top.returncode == 0 and top.stderr == "", top.stderr
    assert len(json.loads(top.stdout)) == 600
    assert "in step with the mirror" in _pkgharvest("status", "--data-dir", str(root)).stdout


_BIG_WRITE = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from pkgharvest.catalogue import open_catalogue
    from pkgharvest.catalogue.edge import translated
    from pkgharvest.errors import CatalogueNoSpace

    with open_catalogue(Path(sys.argv[1])) as catalogue:
        conn = catalogue.conn
        conn.execute("PRAGMA cache_size = 100")  # pages go to the log as they are written
        try:
            with translated(catalogue.path, "update"):
                conn.execute("BEGIN IMMEDIATE")
                conn.execute("CREATE TABLE filler (x BLOB)")
                for _ in range(5000):
                    conn.execute("INSERT INTO filler VALUES (?)", (b"x" * 3900,))
        except CatalogueNoSpace as err:
            print(err)
    """
)
"""A transaction of 5,000 pages (a first sync of some 20,000 packages writes as many), through
the connection pkgharvest opens for writing."""

_FIRST_REGION_FRAMES = 4096
_FRAME = 4096 + 24


@pytest.fixture
def ext4_40(tmp_path: Path) -> Iterator[Path]:
    yield from _ext4(tmp_path, 40)


@pytest.mark.parametrize("beyond", [-88, -80, -72])
def test_a_log_outgrowing_the_first_wal_index_region_on_a_full_disk_is_an_error_not_sigbus(
    fetched: Path, ext4_40: Path, beyond: int
) -> None:
    """The free space just below what 4,096 log frames take (the wal-index's first region
    indexes 4,096): the log passes that frame as the disk fills, SQLite extends the wal-index
    with one byte per 4 KiB page, and on 1 KiB blocks the rest of each page is a hole. Unless
    the writer gave the wal-index real blocks first (edge.fill_wal_index), the next write into
    a hole killed the process with SIGBUS."""
    root = Path(shutil.copytree(fetched, ext4_40 / "mirror"))
    _leave_free(ext4_40, (_FIRST_REGION_FRAMES * _FRAME) // 1024 + beyond)
    done = subprocess.run(
        [sys.executable, "-c", _BIG_WRITE, str(root)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, (done.returncode, done.stderr)  # -7: SIGBUS
    assert "the disk is full" in done.stdout, done.stdout
