"""Issue 20, items 2, 6 and 16: the commit journal is data in the data folder, so it is not
trusted. A planted journal moves nothing outside the folder, whichever command finds it; a
journal a reader cannot finish stops the reader instead of showing half of each mirror; and the
journal is on the disk before the first record moves."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from pkgharvest.cli import run as cli_run
from pkgharvest.errors import ExitCode
from pkgharvest.records import Kind
from pkgharvest.runtime import Dependencies, RetryPolicy
from pkgharvest.store import journal
from pkgharvest.store.transaction import Store
from tests.fakeapi import PUBLIC_BASE_URL, FakeApi, seed_catalogue
from tests.mirrorbuilder import run_cli, seed_content, write_mirror
from tests.test_store import lock_held_by_a_child, mirror_files, package

MP = pytest.MonkeyPatch
Cap = pytest.CaptureFixture[str]

COMMANDS = [
    ["top"],
    ["export"],
    ["show", "django-hstore"],
    ["fetch", "--base-url", PUBLIC_BASE_URL, "--quiet"],
]


def run_command(monkeypatch: MP, capsys: Cap, argv: list[str], root: Path) -> tuple[int, str]:
    """One command in-process; fetch talks to the seed catalogue through a mock transport."""
    if argv[0] != "fetch":
        result = run_cli(monkeypatch, capsys, *argv, "--data-dir", str(root))
        return result.code, result.err
    deps = Dependencies(
        transport=httpx.MockTransport(FakeApi(seed_catalogue()).handler),
        retry=RetryPolicy(attempts=2),
        sleep=lambda seconds: None,
    )
    capsys.readouterr()
    code = cli_run([*argv, "--data-dir", str(root)], deps)
    return code, capsys.readouterr().err


def plant_journal(root: Path, *, staging: str, moves: Any = None, removals: Any = None) -> None:
    document = {
        "format": 1,
        "staging": staging,
        "moves": moves or {},
        "removals": removals or {},
        "index": False,
    }
    (root / journal.JOURNAL_NAME).write_text(json.dumps(document))


@pytest.fixture
def mirror(tmp_path: Path) -> Path:
    return write_mirror(tmp_path / "mirror", seed_content())


def json_files(root: Path) -> dict[str, bytes]:
    """The record files and the manifest (a refused fetch may still have opened the database)."""
    return {name: data for name, data in mirror_files(root).items() if name.endswith(".json")}


def tree(folder: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


@pytest.mark.parametrize("argv", COMMANDS, ids=lambda argv: argv[0])
def test_a_journal_removing_files_through_a_symlinked_folder_deletes_nothing_outside(
    monkeypatch: MP, capsys: Cap, mirror: Path, tmp_path: Path, argv: list[str]
) -> None:
    """packages/ is a link to a folder elsewhere and the journal lists removals there."""
    outside = tmp_path / "elsewhere"
    os.rename(mirror / "packages", outside)
    (mirror / "packages").symlink_to(outside, target_is_directory=True)
    victims = sorted(p.name for p in outside.iterdir())[:3]
    plant_journal(mirror, staging=".staging-x", removals={"packages": victims})
    before = tree(outside)

    code, err = run_command(monkeypatch, capsys, argv, mirror)

    assert code == ExitCode.DATA_ERROR, err
    assert err.count("\n") == 1 and str(mirror / "packages") in err and "symlink" in err
    assert tree(outside) == before
    assert (mirror / journal.JOURNAL_NAME).exists()  # nothing was rolled forward


@pytest.mark.parametrize("argv", COMMANDS, ids=lambda argv: argv[0])
def test_a_journal_moving_from_a_symlinked_staging_folder_moves_nothing_in(
    monkeypatch: MP, capsys: Cap, mirror: Path, tmp_path: Path, argv: list[str]
) -> None:
    """A `.staging-evil` link to a folder elsewhere, and a journal moving a file out of it."""
    outside = tmp_path / "elsewhere"
    (outside / "packages").mkdir(parents=True)
    stolen = outside / "packages" / "stolen.json.part"
    stolen.write_text(json.dumps({"id": 1, "slug": "stolen"}))
    (mirror / ".staging-evil").symlink_to(outside, target_is_directory=True)
    plant_journal(mirror, staging=".staging-evil", moves={"packages": ["stolen.json"]})
    before = json_files(mirror)

    code, err = run_command(monkeypatch, capsys, argv, mirror)

    assert code == ExitCode.DATA_ERROR, err
    assert err.count("\n") == 1 and ".staging-evil" in err
    assert stolen.exists()
    assert not (mirror / "packages" / "stolen.json").exists()
    assert json_files(mirror) == before


@pytest.mark.parametrize(
    ("planted", "says"),
    [
        ("symlink", "symlink"),  # a staged file that is a link to a file elsewhere
        ("hardlink", "not a file the run staged"),
    ],
)
def test_a_journal_moving_a_link_into_the_mirror_is_refused(
    monkeypatch: MP, capsys: Cap, mirror: Path, tmp_path: Path, planted: str, says: str
) -> None:
    secret = tmp_path / "secret.json"
    secret.write_text(json.dumps({"id": 5, "slug": "secret"}))
    staged = mirror / ".staging-abc" / "packages"
    staged.mkdir(parents=True)
    if planted == "symlink":
        (staged / "secret.json.part").symlink_to(secret)
    else:
        os.link(secret, staged / "secret.json.part")
    plant_journal(mirror, staging=".staging-abc", moves={"packages": ["secret.json"]})

    code, err = run_command(monkeypatch, capsys, ["top"], mirror)

    assert code == ExitCode.DATA_ERROR and says in err, err
    assert not (mirror / "packages" / "secret.json").exists()
    assert secret.exists()


def test_a_journal_removing_a_folder_is_refused(monkeypatch: MP, capsys: Cap, mirror: Path) -> None:
    (mirror / "packages" / "keep.json").mkdir()
    (mirror / "packages" / "keep.json" / "inside").write_text("mine")
    plant_journal(mirror, staging=".staging-x", removals={"packages": ["keep.json"]})

    code, err = run_command(monkeypatch, capsys, ["top"], mirror)

    assert code == ExitCode.DATA_ERROR and "is a folder" in err, err
    assert (mirror / "packages" / "keep.json" / "inside").read_text() == "mine"


# --- a journal a reader cannot finish (item 6) ----------------------------------------------------


def half_committed(root: Path) -> None:
    """A mirror of 5 packages whose next commit (20 packages, new star counts) stopped after
    its first move, as a full disk leaves it: the store's own journal and staging."""
    store = Store(root)
    with store.lock():
        store.open_for_update()
        with store.begin() as txn:
            for record_id in range(1, 6):
                txn.put(Kind.PACKAGE, package(record_id, f"p{record_id}"))
            txn.commit(source=PUBLIC_BASE_URL, run={"complete": True})
    with store.lock():
        store.open_for_update()
        txn = store.begin()
        for record_id in range(1, 21):
            txn.put(Kind.PACKAGE, package(record_id, f"p{record_id}", stars=record_id * 100))
        real_replace = os.replace
        moved: list[str] = []

        def replace_once(src: Any, dst: Any, *args: Any, **kwargs: Any) -> None:
            if ".staging-" in str(src) and Path(dst).parent.name == "packages" and moved:
                raise OSError(28, "No space left on device")
            real_replace(src, dst, *args, **kwargs)
            moved.append(str(dst))

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(os, "replace", replace_once)
            with pytest.raises(Exception, match="stopped part-way"):
                txn.commit(source=PUBLIC_BASE_URL, run={"complete": True})
    assert (root / journal.JOURNAL_NAME).exists()


@pytest.fixture
def read_only_view(tmp_path: Path) -> Iterator[Callable[[Path], Path]]:
    """A read-only bind mount of a folder: every write there fails (EROFS), even as root."""
    if os.geteuid() != 0:
        pytest.skip("a bind mount needs root")
    mounts: list[Path] = []

    def view(folder: Path) -> Path:
        point = tmp_path / f"ro-{len(mounts)}"
        point.mkdir()
        done = subprocess.run(["mount", "--bind", str(folder), str(point)], capture_output=True)
        if done.returncode != 0:
            pytest.skip(f"cannot bind-mount here: {done.stderr.decode().strip()}")
        mounts.append(point)
        done = subprocess.run(["mount", "-o", "remount,ro,bind", str(point)], capture_output=True)
        if done.returncode != 0:
            pytest.skip(f"cannot remount read-only here: {done.stderr.decode().strip()}")
        return point

    yield view
    for point in reversed(mounts):
        subprocess.run(["umount", "-l", str(point)], check=False)


def test_readers_of_a_commit_they_cannot_finish_all_stop_with_one_line(
    monkeypatch: MP, capsys: Cap, tmp_path: Path, read_only_view: Callable[[Path], Path]
) -> None:
    """Half of the records are new, the manifest is old: `export` (the files) and `top` (the
    database) would show two different catalogues. Each says why it stops instead."""
    root = tmp_path / "mirror"
    half_committed(root)
    before = json_files(root)
    view = read_only_view(root)

    for argv in (["top"], ["export"], ["show", "p3"], ["grids"], ["export", "--format", "json"]):
        result = run_cli(monkeypatch, capsys, *argv, "--data-dir", str(view))
        assert result.code == ExitCode.CANT_WRITE, (argv, result.err)
        assert result.out == ""
        assert result.err.count("\n") == 1 and "cut short" in result.err, result.err
    assert json_files(root) == before

    # Writable again: the next command finishes the commit and shows the new mirror only.
    result = run_cli(monkeypatch, capsys, "export", "--format", "json", "--data-dir", str(root))
    assert result.code == 0, result.err
    stars = {record["slug"]: record["stars"] for record in json.loads(result.out)}
    assert stars == {f"p{i}": i * 100 for i in range(1, 21)}
    assert not (root / journal.JOURNAL_NAME).exists()
    top = run_cli(monkeypatch, capsys, "top", "--json", "--limit", "0", "--data-dir", str(root))
    assert {row["slug"]: row["stars"] for row in json.loads(top.out)} == stars


def test_a_reader_waits_for_the_fetch_that_holds_the_lock_to_finish(tmp_path: Path) -> None:
    root = tmp_path / "mirror"
    half_committed(root)
    waits: list[float] = []

    document = json.loads((root / journal.JOURNAL_NAME).read_bytes())
    plan = journal.CommitPlan(document["staging"], document["moves"], document["removals"])

    with lock_held_by_a_child(root):

        def the_fetch_finishes(seconds: float) -> None:
            waits.append(seconds)
            if len(waits) == 3:  # what the lock's holder does: roll the journal forward
                journal.apply(root, plan, fsync=False, replay=True)
                journal.finish(root, plan)

        moved = journal.finish_for_readers(root, sleep=the_fetch_finishes)

    assert moved is None and len(waits) == 3  # it waited, and read the finished mirror
    assert not (root / journal.JOURNAL_NAME).exists()


def test_a_reader_stops_waiting_for_a_fetch_that_never_finishes(tmp_path: Path) -> None:
    root = tmp_path / "mirror"
    half_committed(root)
    now = [0.0]

    def later(seconds: float) -> None:
        now[0] += seconds

    with lock_held_by_a_child(root), pytest.raises(Exception, match="try again") as stopped:
        journal.finish_for_readers(root, patience=2.0, clock=lambda: now[0], sleep=later)
    assert getattr(stopped.value, "exit_code", None) == ExitCode.LOCKED
    assert 2.0 <= now[0] < 2.2


# --- item 16: the journal is durable before the first move ----------------------------------------


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="names fds through /proc")
def test_the_journal_is_on_the_disk_before_the_first_record_moves(
    tmp_path: Path, monkeypatch: MP
) -> None:
    """After a power loss the journal must be there whenever a record is: its bytes, its name
    in the folder, both synced before the first staged file is moved into place."""
    root = tmp_path / "mirror"
    store = Store(root)
    with store.lock():
        store.open_for_update()
        with store.begin() as txn:
            txn.put(Kind.PACKAGE, package(1, "alpha"))
            txn.commit(source=PUBLIC_BASE_URL, run={"complete": True})
    events: list[tuple[str, str, str]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}"), ""))
        real_fsync(fd)

    def replace(src: Any, dst: Any, *args: Any, **kwargs: Any) -> None:
        events.append(("replace", os.fsdecode(src), os.fsdecode(dst)))
        real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    with store.lock():
        store.open_for_update()
        with store.begin() as txn:
            txn.put(Kind.PACKAGE, package(2, "beta"))
            txn.commit(source=PUBLIC_BASE_URL, run={"complete": True})

    journal_path = str(root / journal.JOURNAL_NAME)
    first_move = next(
        i
        for i, (what, src, dst) in enumerate(events)
        if what == "replace" and "/.staging-" in src and Path(dst).parent.name == "packages"
    )
    in_place = next(i for i, event in enumerate(events) if event[:1] == ("replace",)
                    and event[2] == journal_path)  # fmt: skip
    bytes_synced = [
        i
        for i, (what, path, _) in enumerate(events)
        if what == "fsync" and Path(path).name.startswith("." + journal.JOURNAL_NAME)
    ]
    name_synced = [
        i for i, (what, path, _) in enumerate(events) if what == "fsync" and path == str(root)
    ]
    assert bytes_synced and bytes_synced[0] < in_place, events
    assert any(in_place < i < first_move for i in name_synced), events


def test_status_says_a_commit_is_unfinished(monkeypatch: MP, capsys: Cap, tmp_path: Path) -> None:
    """status reads without writing or locking: it does not finish the commit, it says that
    the counts it shows are half old, half new."""
    root = tmp_path / "mirror"
    half_committed(root)

    text = run_cli(monkeypatch, capsys, "status", "--data-dir", str(root))
    document = run_cli(monkeypatch, capsys, "status", "--json", "--data-dir", str(root))

    assert text.code == 0 and "commit          unfinished: a run was cut short" in text.out
    assert json.loads(document.out)["unfinished_commit"] is True
    assert (root / journal.JOURNAL_NAME).exists()
    run_cli(monkeypatch, capsys, "top", "--data-dir", str(root))  # a reader finishes it
    assert (
        json.loads(run_cli(monkeypatch, capsys, "status", "--json", "--data-dir", str(root)).out)[
            "unfinished_commit"
        ]
        is False
    )


def test_status_and_verify_say_a_refused_journal_is_refused_not_finished(
    monkeypatch: MP, capsys: Cap, mirror: Path
) -> None:
    """A journal every command refuses (exit 65, nothing moves) is no commit "the next command
    finishes": status and verify say it is refused, and why, as the commands do."""
    plant_journal(mirror, staging="../elsewhere", moves={"packages": ["x.json"]})

    top = run_cli(monkeypatch, capsys, "top", "--data-dir", str(mirror))
    status = run_cli(monkeypatch, capsys, "status", "--data-dir", str(mirror), columns=200)
    verify = run_cli(monkeypatch, capsys, "verify", "--data-dir", str(mirror), columns=200)

    assert top.code == ExitCode.DATA_ERROR and "names no staging folder" in top.err
    commit = next(line for line in status.out.splitlines() if line.startswith("commit "))
    assert "refused" in commit and "names no staging folder" in commit, status.out
    assert "finishes it" not in status.out
    assert verify.code == ExitCode.DATA_ERROR
    assert "names no staging folder" in verify.out and "completes it" not in verify.out
    assert (mirror / journal.JOURNAL_NAME).exists()
