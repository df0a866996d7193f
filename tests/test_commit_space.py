"""Issue 20, item 6: the free-space check counts what the commit will really take, on real
small file systems: an ext4 with 1 KiB blocks (a loop-mounted image) and a tmpfs. A commit
either happens whole or is refused before its first move; never some records new under the
old manifest."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pkgharvest.errors import StoreWriteError
from pkgharvest.records import Kind
from pkgharvest.store.transaction import Store, Transaction
from tests.fakeproc import REPO_ROOT
from tests.test_catalogue_space import (
    _GROW,
    _leave_free,
    fetch_three_hundred,
    mount_ext4_32,
)
from tests.test_store import leftovers, mirror_files, package, run_once

NEW_PACKAGES = 300
# Long names (113 characters, as long as a safe slug goes): each new directory entry of the
# packages folder takes 124 bytes, so the folder grows by dozens of 1 KiB blocks.
LONG = "x" * 100


def _mount(argv: list[str], what: str) -> None:
    done = subprocess.run(argv, capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount {what} here: {done.stderr.decode().strip()}")


@pytest.fixture(params=["ext4-1k", "tmpfs"])
def small_fs(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Path]:
    """A fresh, small, real file system, mounted for this test."""
    if sys.platform != "linux" or os.geteuid() != 0:
        pytest.skip("mounting a file system needs root on Linux")
    point = tmp_path / "fs"
    point.mkdir()
    if request.param == "tmpfs":
        _mount(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(point)], "a tmpfs")
    else:
        if shutil.which("mkfs.ext4") is None:
            pytest.skip("mkfs.ext4 is not installed")
        image = tmp_path / "ext4.img"
        with open(image, "wb") as out:
            out.truncate(16 * 1024 * 1024)
        made = subprocess.run(
            ["mkfs.ext4", "-q", "-F", "-b", "1024", "-m", "0", str(image)], capture_output=True
        )
        if made.returncode != 0:
            pytest.skip(f"mkfs.ext4 failed: {made.stderr.decode().strip()}")
        _mount(["mount", "-o", "loop", str(image), str(point)], "a loop device")
    try:
        yield point
    finally:
        subprocess.run(["umount", "-l", str(point)], check=False)


def fill(fs: Path, leave: int) -> None:
    """Fill the file system until about `leave` bytes are free for an ordinary user."""
    os.sync()
    info = os.statvfs(fs)
    free = info.f_bavail * info.f_frsize
    with open(fs / "filler", "wb") as out:
        out.write(b"\0" * max(0, free - leave))
        out.flush()
        os.fsync(out.fileno())


@pytest.mark.parametrize("room", ["journal only", "plenty"])
def test_a_commit_happens_whole_or_is_refused_before_its_first_move(
    small_fs: Path, room: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = small_fs / "mirror"
    run_once(root, [(Kind.PACKAGE, package(1, "alpha"))])
    before = mirror_files(root)
    wanted = {f"packages/p{i:04d}-{LONG}.json" for i in range(2, NEW_PACKAGES + 2)}
    refused: StoreWriteError | None = None
    store = Store(root)
    with store.lock():
        store.open_for_update()
        txn = store.begin()
        for record_id in range(2, NEW_PACKAGES + 2):
            txn.put(Kind.PACKAGE, package(record_id, f"p{record_id:04d}-{LONG}"))
        if room == "journal only":
            fill_before_the_check(monkeypatch, small_fs)
        try:
            txn.commit(source="http://127.0.0.1/api/v4/", run={"complete": True})
        except StoreWriteError as err:
            refused = err

    after = mirror_files(root)
    if refused is not None:
        assert room == "journal only"
        assert "not enough free space" in str(refused) and "the mirror is unchanged" in str(refused)
        assert after == before
        assert not (root / ".commit-journal.json").exists()
        assert leftovers(root) == []
    else:
        assert wanted <= after.keys() and "packages/alpha.json" in after
        assert after["manifest.json"] != before["manifest.json"]
    if room == "plenty":
        assert refused is None  # the estimate does not refuse a commit that fits easily


def fill_before_the_check(monkeypatch: pytest.MonkeyPatch, fs: Path) -> None:
    """Once the commit has staged everything it writes before its first move (the manifest,
    the index), fill the disk as another program might: room for the commit's journal
    (~40 KB) and a little more, not for the packages folder to take 300 new names."""
    check = Transaction._check_free_space

    def filled_first(txn: Transaction, plan: object) -> None:
        fill(fs, 48 * 1024)
        check(txn, plan)  # type: ignore[arg-type]

    monkeypatch.setattr(Transaction, "_check_free_space", filled_first)


def test_the_next_run_commits_once_there_is_room(
    small_fs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = small_fs / "mirror"
    run_once(root, [(Kind.PACKAGE, package(1, "alpha"))])
    store = Store(root)
    with store.lock():
        store.open_for_update()
        txn = store.begin()
        for record_id in range(2, NEW_PACKAGES + 2):
            txn.put(Kind.PACKAGE, package(record_id, f"p{record_id:04d}-{LONG}"))
        fill_before_the_check(monkeypatch, small_fs)
        with pytest.raises(StoreWriteError, match="not enough free space"):
            txn.commit(source="http://127.0.0.1/api/v4/", run={"complete": True})

    monkeypatch.undo()
    (small_fs / "filler").unlink()
    run_once(root, [(Kind.PACKAGE, package(i, f"p{i:04d}-{LONG}")) for i in range(2, 40)])
    assert f"packages/p0039-{LONG}.json" in mirror_files(root)
    assert leftovers(root) == []


@pytest.fixture(scope="module")
def three_hundred(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fetch_three_hundred(tmp_path_factory)


@pytest.fixture
def ext4_32(tmp_path: Path) -> Iterator[Path]:
    yield from mount_ext4_32(tmp_path)


@pytest.mark.parametrize("free_kib", [2215, 2235])
def test_a_fetch_as_root_is_refused_before_its_commit_not_stopped_part_way(
    three_hundred: Path, ext4_32: Path, free_kib: int
) -> None:
    """`pkgharvest fetch` as root (as the nightly job runs), 300 packages changed and 300 new,
    on a 32 MiB ext4 with 1 KiB blocks and no root reserve. The check counted ext4's own
    reserve as 2% of what statvfs calls the file system's blocks, which leaves out its
    overhead: it took about 140 KiB ext4 never lends for free, and the commit stopped after
    116-279 of its 600 moves (exit 73, half the records new under the old manifest)."""
    if os.geteuid() != 0:
        pytest.skip("root's view of the free space")
    root = Path(shutil.copytree(three_hundred, ext4_32 / "mirror"))
    _leave_free(ext4_32, free_kib)
    before = mirror_files(root)

    done = subprocess.run(
        [sys.executable, "-c", _GROW, str(root), "grown"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
    )

    assert done.returncode == 73, (done.returncode, done.stderr)
    assert "not enough free space" in done.stderr and "the mirror is unchanged" in done.stderr
    assert not (root / ".commit-journal.json").exists()
    assert {k: v for k, v in mirror_files(root).items() if k.endswith(".json")} == {
        k: v for k, v in before.items() if k.endswith(".json")
    }
