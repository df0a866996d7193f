"""Issue 7, items 1-7: what a planted symlink, a swapped lock, a full disk, a signal or another
catalogue can do to the data folder. Each case does the real thing (real links, devices, FIFOs,
processes, signals, a small tmpfs as root)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import stat
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from pkgharvest.cli import run as cli_run
from pkgharvest.errors import CorruptStore, ExitCode, LockHeld, SourceMismatch
from pkgharvest.records import Kind
from pkgharvest.runtime import Dependencies, RetryPolicy
from pkgharvest.store.transaction import Store
from tests.fakeapi import PUBLIC_BASE_URL, FakeApi, seed_catalogue
from tests.mirrorbuilder import CliResult, run_cli
from tests.test_store import leftovers, lock_held_by_a_child, mirror_files, package, run_once

# --- item 2: the lock file --------------------------------------------------------------------


def test_a_planted_lock_symlink_is_refused_and_its_target_untouched(tmp_path: Path) -> None:
    root = tmp_path / "mirror"
    root.mkdir()
    outside = tmp_path / "precious.txt"
    outside.write_text("keep me\n")
    (root / ".lock").symlink_to(outside)

    with pytest.raises(CorruptStore) as refused, Store(root).lock():
        pytest.fail("locked through a symlink")

    assert str(root / ".lock") in str(refused.value)
    assert refused.value.exit_code == ExitCode.DATA_ERROR
    assert outside.read_text() == "keep me\n"


def test_a_dangling_lock_symlink_creates_nothing_outside(tmp_path: Path) -> None:
    root = tmp_path / "mirror"
    root.mkdir()
    (root / ".lock").symlink_to(tmp_path / "created-outside")

    with pytest.raises(CorruptStore), Store(root).lock():
        pytest.fail("locked through a symlink")

    assert not (tmp_path / "created-outside").exists()


def test_a_lock_hard_linked_to_an_outside_file_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "mirror"
    root.mkdir()
    outside = tmp_path / "precious.txt"
    outside.write_text("keep me, I am longer than any lock note would ever be\n" * 10)
    os.link(outside, root / ".lock")
    before = outside.read_bytes()

    with pytest.raises(CorruptStore, match="hard link"), Store(root).lock():
        pytest.fail("wrote a note into a hard-linked file")

    assert outside.read_bytes() == before


def test_the_lock_file_is_never_truncated(tmp_path: Path) -> None:
    root = tmp_path / "mirror"
    root.mkdir()
    lock = root / ".lock"
    lock.write_bytes(b"x" * 5000)  # an odd but regular lock file of our own folder

    with Store(root).lock():
        assert lock.stat().st_size == 5000
        note = json.loads(lock.read_bytes()[:200])
        assert note["pid"] == os.getpid()
    assert lock.stat().st_size == 5000


# --- item 4: deleting the lock file mid-run ---------------------------------------------------


def test_deleting_the_lock_file_mid_run_does_not_let_a_second_run_in(tmp_path: Path) -> None:
    root = tmp_path / "mirror"
    with lock_held_by_a_child(root) as holder:
        (root / ".lock").unlink()  # a user cleaning up "stale" files

        with pytest.raises(LockHeld) as refused, Store(root).lock():
            pytest.fail("a second run got in beside the first")
        assert str(root) in str(refused.value)
        assert refused.value.exit_code == ExitCode.LOCKED

        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)

    with Store(root).lock():  # the holder's death frees the folder
        pass


# --- item 3: kind folders, staging folders, the manifest ----------------------------------------


@pytest.fixture
def seeded_root(tmp_path: Path) -> Path:
    root = tmp_path / "mirror"
    run_once(root, [(Kind.PACKAGE, package(1, "alpha")), (Kind.PACKAGE, package(2, "beta"))])
    return root


def open_for_update(root: Path) -> None:
    store = Store(root)
    with store.lock():
        store.open_for_update()


@pytest.mark.parametrize("kind", ["packages", "grids", "categories"])
def test_a_kind_folder_that_is_a_symlink_is_refused_and_nothing_outside_changes(
    seeded_root: Path, tmp_path: Path, kind: str
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "victim.json").write_text('{"id": 1}\n')
    folder = seeded_root / kind
    if folder.exists():
        os.rename(folder, tmp_path / "moved-away")
    folder.symlink_to(outside, target_is_directory=True)

    with pytest.raises(CorruptStore) as refused:
        run_once(seeded_root, [(Kind.PACKAGE, package(3, "gamma"))])

    message = str(refused.value)
    assert str(folder) in message and "symlink" in message and "\n" not in message
    assert refused.value.exit_code == ExitCode.DATA_ERROR
    assert sorted(p.name for p in outside.iterdir()) == ["victim.json"]
    assert (outside / "victim.json").read_text() == '{"id": 1}\n'


def test_a_kind_folder_that_is_a_file_is_refused(seeded_root: Path) -> None:
    (seeded_root / "grids").rmdir()
    (seeded_root / "grids").write_text("not a folder")
    with pytest.raises(CorruptStore, match=r"grids is not a folder"):
        open_for_update(seeded_root)


def test_a_staging_symlink_is_refused_naming_it_and_its_target_survives(
    seeded_root: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("keep")
    planted = seeded_root / ".staging-x"
    planted.symlink_to(outside, target_is_directory=True)

    with pytest.raises(CorruptStore) as refused:
        open_for_update(seeded_root)

    assert str(planted) in str(refused.value)
    assert refused.value.exit_code == ExitCode.DATA_ERROR
    assert (outside / "keep.txt").read_text() == "keep"


def test_a_manifest_that_is_a_folder_is_a_data_error(seeded_root: Path) -> None:
    manifest = seeded_root / "manifest.json"
    manifest.unlink()
    manifest.mkdir()
    with pytest.raises(CorruptStore, match="is a folder") as refused:
        open_for_update(seeded_root)
    assert refused.value.exit_code == ExitCode.DATA_ERROR


@pytest.mark.parametrize(
    "command",
    [
        ["fetch", "--base-url", "http://127.0.0.1:9/api/v4/"],
        ["top"],
        ["show", "alpha"],
        ["status"],
        ["export"],
    ],
)
def test_every_command_calls_a_folder_manifest_a_data_error(
    seeded_root: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    command: list[str],
) -> None:
    """Each command reads the manifest through one function: a folder there is exit 65 with
    one line naming it, never 73 ('cannot read ... Is a directory'), and no request is made."""
    manifest = seeded_root / "manifest.json"
    manifest.unlink()
    manifest.mkdir()
    result = run_cli(monkeypatch, capsys, *command, "--data-dir", str(seeded_root))
    assert result.code == ExitCode.DATA_ERROR, result.err
    assert result.err.count("\n") == 1 and "manifest.json is a folder" in result.err
    assert manifest.is_dir()


def test_a_manifest_symlink_is_refused(seeded_root: Path, tmp_path: Path) -> None:
    manifest = seeded_root / "manifest.json"
    real = tmp_path / "real-manifest.json"
    os.rename(manifest, real)
    manifest.symlink_to(real)
    before = real.read_bytes()
    with pytest.raises(CorruptStore, match="symlink"):
        run_once(seeded_root, [(Kind.PACKAGE, package(3, "gamma"))])
    assert real.read_bytes() == before
    assert manifest.is_symlink()


def test_a_complete_run_leaves_no_temporary_file(seeded_root: Path) -> None:
    run_once(seeded_root, [(Kind.PACKAGE, package(3, "gamma"))])
    assert leftovers(seeded_root) == []
    assert not list(seeded_root.rglob("*.part"))
    assert not list(seeded_root.rglob("*.tmp"))
    assert "packages/gamma.json" in mirror_files(seeded_root)


# --- item 1: export -o onto links, devices and FIFOs --------------------------------------------


@pytest.fixture
def small_mirror(tmp_path: Path) -> Path:
    from tests.mirrorbuilder import seed_content, write_mirror

    return write_mirror(tmp_path / "mirror", seed_content())


@pytest.fixture
def export_to(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], small_mirror: Path
) -> Callable[[Path], CliResult]:
    """`pkgharvest export -o OUT` of a small mirror, in-process."""

    def export(out: Path) -> CliResult:
        return run_cli(
            monkeypatch, capsys, "export", "-o", str(out), "--data-dir", str(small_mirror)
        )

    return export


def test_export_onto_a_symlink_writes_its_target_and_keeps_the_link(
    export_to: Callable[[Path], CliResult], tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    target = elsewhere / "real.csv"
    target.write_text("old\n")
    link = tmp_path / "link.csv"
    link.symlink_to(target)

    result = export_to(link)

    assert result.code == 0, result.err
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert target.read_text(encoding="utf-8").startswith("id,slug,")
    # Atomically there: the temporary file lived beside the target, and is gone.
    assert sorted(p.name for p in elsewhere.iterdir()) == ["real.csv"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["elsewhere", "link.csv", "mirror"]


def test_export_onto_a_dangling_symlink_creates_its_target(
    export_to: Callable[[Path], CliResult], tmp_path: Path
) -> None:
    link = tmp_path / "link.csv"
    link.symlink_to(tmp_path / "new.csv")
    assert export_to(link).code == 0
    assert link.is_symlink()
    assert (tmp_path / "new.csv").read_text(encoding="utf-8").startswith("id,slug,")


def make_device(path: Path, minor: int) -> None:
    """A private copy of a memory device (1,3 is null, 1,7 is full): never the system's."""
    if os.geteuid() != 0:
        pytest.skip("creating a device node needs root")
    try:
        os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(1, minor))
    except PermissionError:
        pytest.skip("this container cannot create device nodes")


def test_export_onto_a_character_device_writes_into_it_and_keeps_it(
    export_to: Callable[[Path], CliResult], tmp_path: Path
) -> None:
    null = tmp_path / "null"
    make_device(null, 3)

    result = export_to(null)

    assert result.code == 0, result.err
    assert stat.S_ISCHR(os.lstat(null).st_mode)  # still the device, not a CSV file
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mirror", "null"]


def test_export_onto_a_full_device_is_exit_73(
    export_to: Callable[[Path], CliResult], tmp_path: Path
) -> None:
    full = tmp_path / "full"
    make_device(full, 7)

    result = export_to(full)

    assert result.code == ExitCode.CANT_WRITE
    assert result.err.startswith(f"pkgharvest: error: cannot write {full}: No space left")
    assert len(result.err.strip().splitlines()) == 1
    assert stat.S_ISCHR(os.lstat(full).st_mode)


def test_export_onto_a_fifo_reaches_its_reader(
    export_to: Callable[[Path], CliResult], tmp_path: Path
) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received: list[bytes] = []

    def read_all() -> None:
        with open(fifo, "rb") as reader:
            received.append(reader.read())

    reader = threading.Thread(target=read_all, daemon=True)
    reader.start()
    try:
        result = export_to(fifo)
    finally:
        if reader.is_alive():  # export failed before opening the FIFO: release the reader
            # Non-blocking: if the reader has just finished, a blocking open would wait for ever.
            with contextlib.suppress(OSError):
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        reader.join(timeout=30)

    assert result.code == 0, result.err
    assert received and received[0].startswith(b"id,slug,")
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


# --- item 7: another catalogue is never mixed in silently ---------------------------------------

OTHER_BASE_URL = "http://127.0.0.1:8999/api/v4/"


def serve_seeds() -> Dependencies:
    return Dependencies(
        transport=httpx.MockTransport(FakeApi(seed_catalogue()).handler),
        retry=RetryPolicy(attempts=2),
        sleep=lambda seconds: None,
    )


def fetch_from(base_url: str, root: Path, *extra: str) -> int:
    return cli_run(
        ["fetch", "--base-url", base_url, "--data-dir", str(root), *extra], serve_seeds()
    )


def test_a_fetch_from_another_source_is_refused_naming_both(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    root = tmp_path / "mirror"
    assert fetch_from(PUBLIC_BASE_URL, root, "--quiet") == 0
    before = mirror_files(root)
    capsys.readouterr()

    code = fetch_from(OTHER_BASE_URL, root, "--quiet")

    err = capsys.readouterr().err
    assert code == ExitCode.USAGE
    assert err.count("\n") == 1 and err.startswith("pkgharvest: error: ")
    assert PUBLIC_BASE_URL in err and OTHER_BASE_URL in err and "--switch-source" in err
    assert mirror_files(root) == before


def test_the_same_source_without_its_trailing_slash_is_the_same(tmp_path: Path) -> None:
    root = tmp_path / "mirror"
    assert fetch_from(PUBLIC_BASE_URL, root, "--quiet") == 0
    assert fetch_from(PUBLIC_BASE_URL.rstrip("/"), root, "--quiet") == 0


def test_switch_source_replaces_the_catalogue_and_records_the_new_source(tmp_path: Path) -> None:
    root = tmp_path / "mirror"
    assert fetch_from(PUBLIC_BASE_URL, root, "--quiet") == 0

    assert fetch_from(OTHER_BASE_URL, root, "--quiet", "--switch-source") == 0

    manifest = json.loads((root / "manifest.json").read_bytes())
    assert manifest["source"] == OTHER_BASE_URL
    package = json.loads(next((root / "packages").glob("*.json")).read_bytes())
    assert package["api_url"].startswith(OTHER_BASE_URL)
    assert fetch_from(OTHER_BASE_URL, root, "--quiet") == 0  # now the mirror's source


def test_the_store_refuses_another_source_before_touching_anything(tmp_path: Path) -> None:
    root = tmp_path / "mirror"
    run_once(root, [(Kind.PACKAGE, package(1, "alpha"))])
    store = Store(root)
    with store.lock(), pytest.raises(SourceMismatch):
        store.open_for_update(source=OTHER_BASE_URL)
    with store.lock():
        store.open_for_update(source=OTHER_BASE_URL, switch_source=True)


# --- issue 20 item 18: a lock file swapped between open and flock ---------------------------------


@pytest.mark.skipif(sys.platform == "win32", reason="flock")
def test_a_lock_file_replaced_between_open_and_flock_is_not_the_one_held(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another program replaces `.lock` after the run opened it and before it locked it: the
    run must end up holding the file now at the path, which any later run opens."""
    import fcntl

    from pkgharvest.store import lock as lock_module

    root = tmp_path / "mirror"
    root.mkdir()
    real_try_lock = lock_module._try_lock
    swapped: list[int] = []

    def swap_then_lock(fd: int) -> bool:
        if not swapped:
            fresh = root / "fresh-lock"
            fresh.write_text("")
            os.replace(fresh, root / ".lock")
            swapped.append(fd)
        return real_try_lock(fd)

    monkeypatch.setattr(lock_module, "_try_lock", swap_then_lock)
    with Store(root).lock():
        assert swapped
        probe = os.open(root / ".lock", os.O_RDWR)
        try:
            with pytest.raises(BlockingIOError):  # the file at the path is the one held
                fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(probe)
