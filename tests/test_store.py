"""The mirror's write side: what a user of the data folder would notice."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pkgharvest import __version__
from pkgharvest.errors import CorruptStore, ExitCode, LockHeld, StoreWriteError
from pkgharvest.records import CATEGORY_FIELDS, GRID_FIELDS, PACKAGE_FIELDS, Kind, Record
from pkgharvest.store import fileio
from pkgharvest.store.fileio import atomic_write_bytes
from pkgharvest.store.manifest import FORMAT_VERSION
from pkgharvest.store.owner import CREATOR
from pkgharvest.store.transaction import Change, Store, Transaction

BASE = "https://djangopackages.example/api/v4/"
FIELDS = {Kind.PACKAGE: PACKAGE_FIELDS, Kind.GRID: GRID_FIELDS, Kind.CATEGORY: CATEGORY_FIELDS}


def same_runs_aside(files: dict[str, bytes]) -> dict[str, bytes]:
    """`files` with the manifest's `run_serial` left out: a mirror after one more (or one
    fewer) run over the same data, compared for what it holds."""
    manifest = json.loads(files["manifest.json"])
    manifest.pop("run_serial", None)
    return {**files, "manifest.json": json.dumps(manifest, sort_keys=True).encode()}


def make_record(kind: Kind, record_id: int, slug: Any, **fields: Any) -> Record:
    """A record with every field of its kind, in contract order."""
    record: Record = dict.fromkeys(FIELDS[kind])
    record.update(id=record_id, slug=slug, title=str(slug), api_url=f"{BASE}{kind}/{record_id}/")
    record.update(invalid={}, extra={})
    if kind is Kind.PACKAGE:
        record.update(grids=[], participants=["alice"], stale_fields=[], stars=10)
    for name, value in fields.items():
        assert name in record, name
        record[name] = value
    return record


def package(record_id: int, slug: Any, **fields: Any) -> Record:
    return make_record(Kind.PACKAGE, record_id, slug, **fields)


def file_bytes(record: Record) -> bytes:
    """The documented file format: one top-level field per line, two-space indent."""
    fields = [
        f"  {json.dumps(k)}: {json.dumps(v, ensure_ascii=False, separators=(', ', ': '))}"
        for k, v in record.items()
    ]
    return ("{\n" + ",\n".join(fields) + "\n}\n").encode()


def mirror_files(root: Path) -> dict[str, bytes]:
    """What readers see: every file whose path has no hidden part (lock, staging, temps)."""
    files: dict[str, bytes] = {}
    for path in root.rglob("*"):
        relative = path.relative_to(root)
        if path.is_file() and not any(part.startswith(".") for part in relative.parts):
            files[relative.as_posix()] = path.read_bytes()
    return files


def leftovers(root: Path) -> list[str]:
    """Hidden files or folders other than the lock file and the digest index: staging and
    temp files."""
    return sorted(
        path.relative_to(root).as_posix()
        for path in root.rglob(".*")
        if path.relative_to(root).as_posix() not in (".lock", ".index.json")
    )


def run_once(
    root: Path,
    records: Iterable[tuple[Kind, Record]],
    *,
    removals: dict[Kind, list[int]] | None = None,
    run: dict[str, Any] | None = None,
    store: Store | None = None,
) -> tuple[dict[tuple[Kind, int], Change], dict[str, Any]]:
    """One complete update of the mirror, the way `fetch` drives the store."""
    store = store or Store(root)
    changes: dict[tuple[Kind, int], Change] = {}
    with store.lock():
        store.open_for_update()
        with store.begin() as txn:
            for kind, record in records:
                changes[kind, record["id"]] = txn.put(kind, record)
            for kind, ids in (removals or {}).items():
                txn.schedule_removal(kind, ids)
            manifest = txn.commit(source=BASE, run=run or {"complete": True, "at": "T1"})
    return changes, manifest


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "mirror"


@pytest.fixture
def seeded(root: Path) -> dict[str, bytes]:
    """A mirror with two packages, a grid and a category; returns its files."""
    run_once(
        root,
        [
            (Kind.PACKAGE, package(1, "alpha")),
            (Kind.PACKAGE, package(2, "beta")),
            (Kind.GRID, make_record(Kind.GRID, 10, "forms", packages=[{"id": 1, "slug": "alpha"}])),
            (Kind.CATEGORY, make_record(Kind.CATEGORY, 20, "apps")),
        ],
    )
    return mirror_files(root)


@pytest.fixture
def txn(root: Path, seeded: dict[str, bytes]) -> Iterator[Transaction]:
    store = Store(root)
    with store.lock():
        store.open_for_update()
        with store.begin() as transaction:
            yield transaction


# --- the files themselves ---------------------------------------------------------------------


def test_first_run_writes_one_contract_file_per_record(root: Path) -> None:
    grid = make_record(Kind.GRID, 10, "forms")
    category = make_record(Kind.CATEGORY, 20, "apps", description="Réutilisable ✓")
    changes, _ = run_once(
        root,
        [(Kind.PACKAGE, package(1, "alpha")), (Kind.GRID, grid), (Kind.CATEGORY, category)],
    )

    assert set(changes.values()) == {Change.NEW}
    assert mirror_files(root).keys() == {
        "manifest.json",
        "packages/alpha.json",
        "grids/forms.json",
        "categories/apps.json",
    }
    text = (root / "categories/apps.json").read_text(encoding="utf-8")
    assert text.startswith('{\n  "id": 20,\n  "slug": "apps",')
    assert "Réutilisable ✓" in text  # UTF-8, not \u escapes
    assert list(json.loads(text)) == list(CATEGORY_FIELDS)  # contract order, not sorted
    assert (root / "grids/forms.json").read_bytes() == file_bytes(grid)
    weeks = [0] * 50 + [3, 1]
    run_once(root, [(Kind.PACKAGE, package(2, "beta", commits_52w=weeks))])
    lines = (root / "packages/beta.json").read_text(encoding="utf-8").splitlines()
    assert '  "commits_52w": [' + ", ".join(map(str, weeks)) + "]," in lines  # one diffable line


def test_a_durable_store_writes_the_same_files(tmp_path: Path) -> None:
    records = [(Kind.PACKAGE, package(1, "alpha")), (Kind.GRID, make_record(Kind.GRID, 10, "g"))]
    run_once(tmp_path / "plain", records)
    run_once(tmp_path / "plain", records[:1])
    run_once(tmp_path / "durable", records, store=Store(tmp_path / "durable", fsync=True))
    run_once(tmp_path / "durable", records[:1], store=Store(tmp_path / "durable", fsync=True))

    assert mirror_files(tmp_path / "durable") == mirror_files(tmp_path / "plain")


def test_put_reports_new_changed_and_unchanged(root: Path, seeded: dict[str, bytes]) -> None:
    changes, _ = run_once(
        root,
        [
            (Kind.PACKAGE, package(1, "alpha")),
            (Kind.PACKAGE, package(2, "beta", stars=11)),
            (Kind.PACKAGE, package(3, "gamma")),
        ],
    )

    assert changes == {
        (Kind.PACKAGE, 1): Change.UNCHANGED,
        (Kind.PACKAGE, 2): Change.CHANGED,
        (Kind.PACKAGE, 3): Change.NEW,
    }
    assert json.loads((root / "packages/beta.json").read_bytes())["stars"] == 11


def test_a_commit_names_the_files_it_wrote_and_their_ids(
    root: Path, seeded: dict[str, bytes]
) -> None:
    # What the catalogue sync after a fetch orders its reads by (instead of the index file).
    store = Store(root)
    with store.lock():
        store.open_for_update()
        txn = store.begin()
        txn.put(Kind.PACKAGE, package(1, "alpha"))  # unchanged: not written
        txn.put(Kind.PACKAGE, package(2, "beta-renamed"))  # renamed: its new file
        txn.put(Kind.PACKAGE, package(4, "beta"))  # another id takes beta's old name
        txn.put(Kind.PACKAGE, package(3, "gamma"))
        txn.schedule_removal(Kind.PACKAGE, [3])  # put, then removed: not written
        with pytest.raises(RuntimeError, match="not committed"):
            txn.written_ids()
        txn.commit(source="https://example.test/api/v4/", run={})

    assert txn.written_ids() == {
        "packages": {"beta-renamed.json": 2, "beta.json": 4},
        "grids": {},
        "categories": {},
    }
    assert json.loads((root / "packages/beta.json").read_bytes())["id"] == 4
    assert not (root / "packages/gamma.json").exists()
    with pytest.raises(RuntimeError, match="already committed"):
        txn.put(Kind.PACKAGE, package(5, "epsilon"))


def test_unchanged_put_leaves_bytes_and_mtime(root: Path, seeded: dict[str, bytes]) -> None:
    alpha = root / "packages/alpha.json"
    os.utime(alpha, ns=(1_000_000_000_000_000_000, 1_000_000_000_000_000_000))
    before = alpha.stat().st_mtime_ns

    run_once(root, [(Kind.PACKAGE, package(1, "alpha"))])

    assert alpha.read_bytes() == seeded["packages/alpha.json"]
    assert alpha.stat().st_mtime_ns == before


def test_a_lone_surrogate_is_stored_as_valid_json(root: Path) -> None:
    run_once(root, [(Kind.PACKAGE, package(1, "alpha", repo_description="bad \ud800 text"))])

    stored = json.loads((root / "packages/alpha.json").read_bytes())
    assert stored["repo_description"] == "bad \ud800 text"


def test_same_id_put_twice_keeps_the_last(root: Path, seeded: dict[str, bytes]) -> None:
    store = Store(root)
    with store.lock():
        store.open_for_update()
        with store.begin() as txn:
            txn.put(Kind.PACKAGE, package(2, "beta-renamed", stars=50))
            txn.put(Kind.PACKAGE, package(2, "beta", stars=60))
            assert txn.put_ids(Kind.PACKAGE) == {2}
            txn.commit(source=BASE, run={"complete": True})

    assert not (root / "packages/beta-renamed.json").exists()
    assert json.loads((root / "packages/beta.json").read_bytes())["stars"] == 60


def test_previous_is_the_mirror_record_not_the_staged_one(txn: Transaction) -> None:
    txn.put(Kind.PACKAGE, package(2, "beta", stars=99, commits_52w=[1] * 52))

    previous = txn.previous(Kind.PACKAGE, 2)
    assert previous is not None and previous["stars"] == 10
    assert txn.previous(Kind.PACKAGE, 404) is None
    assert txn.mirror_ids(Kind.PACKAGE) == {1, 2}
    assert txn.mirror_ids(Kind.GRID) == {10}


# --- nothing is visible before commit ---------------------------------------------------------


def test_staged_writes_are_invisible_until_commit(root: Path, seeded: dict[str, bytes]) -> None:
    store = Store(root)
    with store.lock():
        store.open_for_update()
        txn = store.begin()
        txn.put(Kind.PACKAGE, package(2, "beta", stars=11))
        txn.put(Kind.PACKAGE, package(3, "gamma"))
        txn.schedule_removal(Kind.PACKAGE, [1])
        assert mirror_files(root) == seeded
        txn.discard()

    assert mirror_files(root) == seeded
    assert leftovers(root) == []


def test_an_exception_inside_begin_leaves_the_mirror_intact(
    root: Path, seeded: dict[str, bytes]
) -> None:
    store = Store(root)
    with pytest.raises(KeyboardInterrupt), store.lock():
        store.open_for_update()
        with store.begin() as txn:
            txn.put(Kind.PACKAGE, package(2, "beta", stars=11))
            txn.schedule_removal(Kind.PACKAGE, [1])
            raise KeyboardInterrupt

    assert mirror_files(root) == seeded
    assert leftovers(root) == []


class SimulatedCrash(BaseException):
    """The process dies here (nothing catches a BaseException on the way out)."""


def crash_scenario() -> tuple[list[tuple[Kind, Record]], list[tuple[Kind, Record]], list[int]]:
    """(old mirror, this run's puts, removed package ids), with every kind of file operation."""
    old = [
        (Kind.PACKAGE, package(1, "alpha")),
        (Kind.PACKAGE, package(2, "beta")),
        (Kind.PACKAGE, package(3, "gamma")),
        (Kind.PACKAGE, package(4, "delta")),
        (Kind.PACKAGE, package(5, "eps")),
        (Kind.PACKAGE, package(6, "zeta")),
        (Kind.GRID, make_record(Kind.GRID, 10, "forms")),
        (Kind.CATEGORY, make_record(Kind.CATEGORY, 20, "apps")),
    ]
    new = [
        (Kind.PACKAGE, package(1, "alpha")),  # unchanged
        (Kind.PACKAGE, package(2, "beta", stars=12)),  # changed
        (Kind.PACKAGE, package(3, "gamma-new")),  # renamed
        (Kind.PACKAGE, package(5, "zeta")),  # 5 and 6 swap slugs
        (Kind.PACKAGE, package(6, "eps")),
        (Kind.PACKAGE, package(7, "eta")),  # new
        (Kind.GRID, make_record(Kind.GRID, 10, "forms", is_locked=True)),
        (Kind.CATEGORY, make_record(Kind.CATEGORY, 20, "apps")),
    ]
    return old, new, [4]


def ids_in(files: dict[str, bytes], folder: str) -> set[int]:
    return {json.loads(data)["id"] for name, data in files.items() if name.startswith(folder + "/")}


def test_a_crash_during_commit_leaves_every_file_old_or_new(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old_records, new_records, removed = crash_scenario()
    template = tmp_path / "template"
    run_once(template, old_records, run={"complete": True, "at": "T0"})
    old = mirror_files(template)
    expected_root = tmp_path / "expected"
    shutil.copytree(template, expected_root)
    run_once(expected_root, new_records, removals={Kind.PACKAGE: removed})
    new = mirror_files(expected_root)
    assert new != old

    real_replace = os.replace
    crashes = 0
    for moves_before_crash in range(20):
        root = tmp_path / f"crash-{moves_before_crash}"
        shutil.copytree(template, root)
        moves = 0

        def replace_then_crash(src: Any, dst: Any) -> None:
            nonlocal moves
            if moves == moves_before_crash:  # noqa: B023 - read during this iteration only
                raise SimulatedCrash
            moves += 1
            real_replace(src, dst)

        with monkeypatch.context() as patch:
            patch.setattr(os, "replace", replace_then_crash)
            try:
                run_once(root, new_records, removals={Kind.PACKAGE: removed})
            except SimulatedCrash:
                crashes += 1
            else:
                break

        files = mirror_files(root)
        for name, data in files.items():
            assert data in (old.get(name), new.get(name)), (moves_before_crash, name)
            json.loads(data)
        if files["manifest.json"] == new["manifest.json"]:  # the manifest is replaced last
            assert files == new
        # No kept record is lost on the way: each one is in some file, old or new.
        kept = ids_in(old, "packages") & ids_in(new, "packages")
        assert ids_in(files, "packages") >= kept
        # The mirror is usable: the next run succeeds and ends exactly where it should.
        run_once(root, new_records, removals={Kind.PACKAGE: removed})
        assert same_runs_aside(mirror_files(root)) == same_runs_aside(new)
        assert leftovers(root) == []

    assert crashes >= 6  # every staged record, the grid and the manifest were a crash point


def test_a_run_killed_mid_update_changes_nothing_and_its_leftovers_are_cleaned(
    root: Path, seeded: dict[str, bytes]
) -> None:
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from pkgharvest.records import Kind\n"
        "from pkgharvest.store.transaction import Store\n"
        "store = Store(Path(sys.argv[1]))\n"
        "with store.lock():\n"
        "    store.open_for_update()\n"
        "    txn = store.begin()\n"
        "    record = txn.previous(Kind.PACKAGE, 2)\n"
        "    record['stars'] = 999\n"
        "    txn.put(Kind.PACKAGE, record)\n"
        "    print('staged', flush=True)\n"
        "    sys.stdin.read()\n"
    )
    with subprocess.Popen(
        [sys.executable, "-c", script, str(root)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as child:
        assert child.stdout is not None
        assert child.stdout.readline() == "staged\n"
        assert any(name.startswith(".staging-") for name in leftovers(root))
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)

    assert mirror_files(root) == seeded
    store = Store(root)
    with store.lock():  # the dead process's lock went with it
        store.open_for_update()
    assert leftovers(root) == []
    assert mirror_files(root) == seeded


def test_open_for_update_removes_temp_files_but_not_user_files(
    root: Path, seeded: dict[str, bytes]
) -> None:
    (root / ".manifest.json.0badc0ffee00.tmp").write_text("{")
    (root / "packages/.alpha.json.123456abcdef.tmp").write_text('{"id": 1')
    (root / ".staging-x1y2").mkdir()
    (root / ".staging-x1y2/packages").mkdir()
    (root / ".staging-x1y2/packages/beta.json").write_text("{}")
    (root / "NOTES.txt").write_text("mine")

    store = Store(root)
    with store.lock():
        store.open_for_update()

    assert leftovers(root) == []
    assert mirror_files(root) == {**seeded, "NOTES.txt": b"mine"}


# --- file names from untrusted slugs ----------------------------------------------------------

UNSAFE_SLUGS = [
    "../evil",
    "a/b",
    "a\\b",
    ".hidden",
    "..",
    "con",
    "Foo",
    "x\x00y",
    "é",
    "s" * 300,
    "",
]


def test_unsafe_slugs_stay_inside_the_folder_under_fallback_names(
    tmp_path: Path, root: Path
) -> None:
    records = [package(100 + number, slug) for number, slug in enumerate(UNSAFE_SLUGS)]
    records.append(package(1, "foo"))
    run_once(root, [(Kind.PACKAGE, record) for record in records])

    assert [path.name for path in tmp_path.iterdir()] == ["mirror"]
    files = mirror_files(root)
    expected = {f"packages/_id-{100 + n}.json" for n in range(len(UNSAFE_SLUGS))}
    assert {name for name in files if name.startswith("packages/")} == expected | {
        "packages/foo.json"
    }
    for number, slug in enumerate(UNSAFE_SLUGS):
        assert json.loads(files[f"packages/_id-{100 + number}.json"])["slug"] == slug
    assert json.loads(files["packages/foo.json"])["slug"] == "foo"


def test_two_ids_with_one_slug_get_two_files(root: Path) -> None:
    run_once(root, [(Kind.PACKAGE, package(1, "dup")), (Kind.PACKAGE, package(2, "dup"))])

    assert json.loads((root / "packages/dup.json").read_bytes())["id"] == 1
    assert json.loads((root / "packages/_id-2.json").read_bytes())["id"] == 2


def test_a_new_id_never_takes_the_file_of_a_record_still_in_the_mirror(
    root: Path, seeded: dict[str, bytes]
) -> None:
    # Package 3 arrives first with the slug that package 1 still holds in the mirror.
    changes, _ = run_once(
        root, [(Kind.PACKAGE, package(3, "alpha")), (Kind.PACKAGE, package(1, "alpha"))]
    )

    assert changes[Kind.PACKAGE, 1] is Change.UNCHANGED
    assert (root / "packages/alpha.json").read_bytes() == seeded["packages/alpha.json"]
    assert json.loads((root / "packages/_id-3.json").read_bytes())["id"] == 3


def test_a_slug_rename_removes_the_old_file_at_commit(root: Path, seeded: dict[str, bytes]) -> None:
    store = Store(root)
    with store.lock():
        store.open_for_update()
        with store.begin() as txn:
            assert txn.put(Kind.PACKAGE, package(2, "beta-two")) is Change.CHANGED
            assert (root / "packages/beta.json").exists()
            assert not (root / "packages/beta-two.json").exists()
            manifest = txn.commit(source=BASE, run={"complete": True})

    assert not (root / "packages/beta.json").exists()
    assert json.loads((root / "packages/beta-two.json").read_bytes())["id"] == 2
    assert manifest["records"]["packages"] == 2


def test_schedule_removal_removes_only_at_commit(root: Path, seeded: dict[str, bytes]) -> None:
    store = Store(root)
    with store.lock():
        store.open_for_update()
        with store.begin() as txn:
            txn.put(Kind.PACKAGE, package(1, "alpha"))
            gone = txn.mirror_ids(Kind.PACKAGE) - txn.put_ids(Kind.PACKAGE)
            assert txn.schedule_removal(Kind.PACKAGE, [*gone, 404]) == 1
            assert txn.schedule_removal(Kind.CATEGORY, [20]) == 1
            assert mirror_files(root) == seeded
            manifest = txn.commit(source=BASE, run={"complete": True})

    assert not (root / "packages/beta.json").exists()
    assert not (root / "categories/apps.json").exists()
    assert (root / "packages/alpha.json").exists()
    assert manifest["records"] == {"packages": 1, "grids": 1, "categories": 0}


# --- the lock ---------------------------------------------------------------------------------

LOCK_HOLDER = (
    "import sys\n"
    "from pathlib import Path\n"
    "from pkgharvest.store.transaction import Store\n"
    "with Store(Path(sys.argv[1])).lock():\n"
    "    print('locked', flush=True)\n"
    "    sys.stdin.read()\n"
)


@contextlib.contextmanager
def lock_held_by_a_child(root: Path) -> Iterator[subprocess.Popen[str]]:
    """A child process holding the data folder's lock (as a running fetch does)."""
    with subprocess.Popen(
        [sys.executable, "-c", LOCK_HOLDER, str(root)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as holder:
        assert holder.stdout is not None
        assert holder.stdout.readline() == "locked\n"
        yield holder


def test_a_second_run_is_refused_while_another_process_holds_the_lock(root: Path) -> None:
    with lock_held_by_a_child(root) as holder:
        with pytest.raises(LockHeld) as refused, Store(root).lock():
            pytest.fail("got the lock another process holds")
        message = str(refused.value)
        assert str(root / ".lock") in message
        assert f"pid {holder.pid}, started " in message
        assert "\n" not in message
        assert refused.value.exit_code == ExitCode.LOCKED

        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)

    # kill -9 leaves no stale lock.
    with Store(root).lock():
        assert (root / ".lock").exists()


def test_a_data_folder_that_is_a_file_cannot_be_written(tmp_path: Path) -> None:
    not_a_folder = tmp_path / "data"
    not_a_folder.write_text("hello")

    with (
        pytest.raises(StoreWriteError, match=r"^cannot write the data folder .*data: "),
        Store(not_a_folder).lock(),
    ):
        pass
    assert not_a_folder.read_text() == "hello"


# --- refusing a damaged or newer folder -------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b'{"format_version": 1, "records": ', "not valid JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"format_version": 2}', "format_version 2, newer"),
    ],
)
def test_a_bad_manifest_is_refused_and_nothing_changes(
    root: Path, seeded: dict[str, bytes], content: bytes, problem: str
) -> None:
    (root / "manifest.json").write_bytes(content)
    shutil.rmtree(root / "grids")
    (root / ".staging-of-a-newer-version").mkdir()
    before = mirror_files(root)

    store = Store(root)
    with store.lock(), pytest.raises(CorruptStore) as refused:
        store.open_for_update()

    message = str(refused.value)
    assert str(root / "manifest.json") in message and problem in message
    assert "move it away or delete it" in message and "\n" not in message
    assert refused.value.exit_code == ExitCode.DATA_ERROR
    assert mirror_files(root) == before
    assert not (root / "grids").exists()  # not even a folder is created
    assert leftovers(root) == [".staging-of-a-newer-version"]


def test_a_corrupt_record_file_is_refused_and_nothing_changes(
    root: Path, seeded: dict[str, bytes]
) -> None:
    (root / "packages/beta.json").write_bytes(b'{"slug": "beta", "id": ')
    before = mirror_files(root)

    store = Store(root)
    with store.lock():
        store.open_for_update()
        with pytest.raises(CorruptStore) as refused, store.begin() as txn:
            txn.put(Kind.PACKAGE, package(3, "gamma"))

    message = str(refused.value)
    assert str(root / "packages/beta.json") in message and "\n" not in message
    assert mirror_files(root) == before
    assert leftovers(root) == []


# --- disk errors ------------------------------------------------------------------------------


def fail_with(code: int) -> OSError:
    return OSError(code, os.strerror(code))


def test_an_unwritable_data_folder_is_reported_and_left_intact(
    root: Path, seeded: dict[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    real_open = os.open

    def open_denied(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        # Tests run as root, where chmod stops nothing: refuse creation like a read-only mount.
        if (
            flags & os.O_CREAT
            and str(path).startswith(str(root))
            and not str(path).endswith(".lock")
        ):
            raise fail_with(errno.EACCES)
        return real_open(path, flags, *args, **kwargs)

    store = Store(root)
    with store.lock():
        monkeypatch.setattr(os, "open", open_denied)
        with pytest.raises(StoreWriteError) as refused:
            store.open_for_update()

    assert str(refused.value) == f"cannot write the data folder {root}: Permission denied"
    assert refused.value.exit_code == ExitCode.CANT_WRITE
    assert mirror_files(root) == seeded


@pytest.mark.parametrize("when", ["put", "commit"])
def test_a_full_disk_is_reported_and_the_mirror_stays_intact(
    root: Path, seeded: dict[str, bytes], monkeypatch: pytest.MonkeyPatch, when: str
) -> None:
    def disk_full(fd: int, data: Any) -> int:
        raise fail_with(errno.ENOSPC)

    store = Store(root)
    with store.lock():
        store.open_for_update()
        with pytest.raises(StoreWriteError) as refused, store.begin() as txn:
            txn.put(Kind.PACKAGE, package(1, "alpha", stars=1))
            if when == "put":
                monkeypatch.setattr(os, "write", disk_full)
            txn.put(Kind.PACKAGE, package(2, "beta", stars=2))
            txn.schedule_removal(Kind.CATEGORY, [20])
            monkeypatch.setattr(os, "write", disk_full)
            txn.commit(source=BASE, run={"complete": True})
        monkeypatch.undo()

    assert str(refused.value).endswith(": No space left on device")
    assert mirror_files(root) == seeded
    assert leftovers(root) == []


# --- the manifest -----------------------------------------------------------------------------


def test_the_manifest_describes_the_mirror_and_keeps_the_last_complete_run(root: Path) -> None:
    complete = {"complete": True, "scope": "catalogue", "started": "2026-01-01T00:00:00Z"}
    run_once(root, [(Kind.PACKAGE, package(1, "alpha"))], run=complete)
    targeted = {"complete": True, "scope": "targeted", "started": "2026-01-02T00:00:00Z"}
    run_once(root, [(Kind.PACKAGE, package(1, "alpha"))], run=targeted)
    partial = {"complete": False, "started": "2026-01-03T00:00:00Z", "errors": 3}

    _, returned = run_once(
        root,
        [(Kind.PACKAGE, package(2, "beta")), (Kind.GRID, make_record(Kind.GRID, 10, "forms"))],
        run=partial,
    )

    stored = json.loads((root / "manifest.json").read_bytes())
    assert stored == returned
    assert stored == {
        "format_version": FORMAT_VERSION,
        "pkgharvest_version": __version__,
        "source": BASE,
        "last_run": partial,
        "last_complete_run": targeted,  # any scope
        "last_complete_catalogue_run": complete,  # what the mirror's age is
        "records": {"packages": 2, "grids": 1, "categories": 0},
        "run_serial": 3,  # the third run: no two runs write the same manifest
    }
    assert Store(root).read_manifest() == stored


def test_a_manifest_of_an_earlier_version_keeps_its_complete_catalogue_run(root: Path) -> None:
    """Before `last_complete_catalogue_run`, only catalogue runs were complete: an older
    manifest's `last_complete_run` is its last complete catalogue run."""
    complete = {"complete": True, "scope": "catalogue", "started": "2026-01-01T00:00:00Z"}
    run_once(root, [(Kind.PACKAGE, package(1, "alpha"))], run=complete)
    path = root / "manifest.json"
    older = json.loads(path.read_bytes())
    del older["last_complete_catalogue_run"]
    path.write_text(json.dumps(older))
    targeted = {"complete": True, "scope": "targeted", "started": "2026-01-02T00:00:00Z"}
    _, manifest = run_once(root, [(Kind.PACKAGE, package(1, "alpha"))], run=targeted)
    assert manifest["last_complete_catalogue_run"] == complete
    assert manifest["last_complete_run"] == targeted


def test_a_first_partial_run_has_no_complete_run(root: Path) -> None:
    _, manifest = run_once(root, [], run={"complete": False})

    assert manifest["last_complete_run"] is None
    assert Store(tmp := root / "nowhere").read_manifest() is None
    assert not tmp.exists()


# --- atomic_write_bytes -----------------------------------------------------------------------


def test_atomic_write_replaces_with_usual_permissions_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "export.csv"
    target.write_text("old")
    plain = tmp_path / "plain"
    plain.write_text("")

    atomic_write_bytes(target, b"new", owner=CREATOR, fsync=True)

    assert target.read_bytes() == b"new"
    assert target.stat().st_mode == plain.stat().st_mode  # readable as any other file
    assert sorted(path.name for path in tmp_path.iterdir()) == ["export.csv", "plain"]


def test_atomic_write_failure_keeps_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "export.csv"
    target.write_text("old")

    class FullDisk:
        """The temp file as atomic_replace opens it, on a disk that is full."""

        def __init__(self, fd: int, mode: str) -> None:
            self.file = open(fd, mode)  # noqa: SIM115 - closed by __exit__

        def write(self, data: bytes) -> int:
            raise fail_with(errno.ENOSPC)

        def __enter__(self) -> FullDisk:
            return self

        def __exit__(self, *exc: object) -> None:
            self.file.close()

    monkeypatch.setattr(fileio, "open", FullDisk, raising=False)
    with pytest.raises(OSError, match="No space left"):
        atomic_write_bytes(target, b"new", owner=CREATOR)
    monkeypatch.undo()

    assert target.read_text() == "old"
    assert [path.name for path in tmp_path.iterdir()] == ["export.csv"]


# --- staging flags and the digest index (issue 10) -------------------------------------------


def test_a_staged_file_that_already_exists_is_an_error_not_truncated(
    txn: Transaction, root: Path
) -> None:
    (staging,) = root.glob(".staging-*")
    planted = staging / "packages" / "gamma.json.part"
    planted.write_bytes(b"someone else's bytes")

    with pytest.raises(StoreWriteError, match=r"gamma\.json\.part already exists"):
        txn.put(Kind.PACKAGE, package(3, "gamma"))

    assert planted.read_bytes() == b"someone else's bytes"


def test_staged_files_are_never_taken_for_records(txn: Transaction, root: Path) -> None:
    txn.put(Kind.PACKAGE, package(3, "gamma"))
    (staging,) = root.glob(".staging-*")
    assert [p.name for p in (staging / "packages").iterdir()] == ["gamma.json.part"]
    for path in root.rglob("*.json"):  # what a reader globbing the folder would open
        json.loads(path.read_bytes())


def count_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record files the store opens for reading (the syscall, not a Python helper)."""
    opened: list[str] = []
    real_open = os.open

    def tracking_open(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        folder = os.path.basename(os.path.dirname(path))
        writing = flags & (os.O_WRONLY | os.O_RDWR)
        if folder in ("packages", "grids", "categories") and not writing:
            opened.append(os.path.basename(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", tracking_open)
    return opened


def test_a_rerun_learns_from_the_index_without_reading_records(
    root: Path, seeded: dict[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    opened = count_reads(monkeypatch)
    changes, _ = run_once(
        root,
        [
            (Kind.PACKAGE, package(1, "alpha")),
            (Kind.PACKAGE, package(2, "beta", stars=99)),
            (Kind.GRID, make_record(Kind.GRID, 10, "forms", packages=[{"id": 1, "slug": "alpha"}])),
        ],
    )
    assert changes[Kind.PACKAGE, 1] is Change.UNCHANGED
    assert changes[Kind.PACKAGE, 2] is Change.CHANGED
    assert changes[Kind.GRID, 10] is Change.UNCHANGED
    assert opened == []  # no record file read back
    assert json.loads((root / "packages" / "beta.json").read_bytes())["stars"] == 99


def test_a_file_edited_by_hand_is_read_and_rewritten_despite_the_index(
    root: Path, seeded: dict[str, bytes]
) -> None:
    edited = root / "packages" / "alpha.json"
    # Same size, other content: only the index's mtime/inode check can tell.
    text = edited.read_bytes().replace(b'"stars": 10', b'"stars": 77')
    assert len(text) == len(seeded["packages/alpha.json"])
    edited.write_bytes(text)

    changes, _ = run_once(root, [(Kind.PACKAGE, package(1, "alpha"))])

    assert changes[Kind.PACKAGE, 1] is Change.CHANGED
    assert edited.read_bytes() == seeded["packages/alpha.json"]


def test_a_broken_or_planted_index_only_costs_reads(
    root: Path, seeded: dict[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    index = root / ".index.json"
    planted_indexes = (
        b"{not json",
        b'{"format": 1, "packages": {"alpha.json": [2, 0, 0, 0, 5]}}',  # an older format
        b'{"format": 2, "packages": {"alpha.json": "2 0 0 0 5", "beta.json": 7}, "grids": []}',
    )
    for planted in planted_indexes:
        index.write_bytes(planted)
        changes, _ = run_once(root, [(Kind.PACKAGE, package(1, "alpha"))])
        assert changes[Kind.PACKAGE, 1] is Change.UNCHANGED
        assert same_runs_aside(mirror_files(root)) == same_runs_aside(seeded)
    index.unlink()
    index.symlink_to("/dev/zero")  # never read through a link, never an endless read
    changes, _ = run_once(root, [(Kind.PACKAGE, package(1, "alpha"))])
    assert changes[Kind.PACKAGE, 1] is Change.UNCHANGED
    assert not index.is_symlink()
    assert same_runs_aside(mirror_files(root)) == same_runs_aside(seeded)


def test_a_rerun_with_nothing_new_leaves_the_index_alone(
    root: Path, seeded: dict[str, bytes]
) -> None:
    before = (root / ".index.json").stat().st_mtime_ns
    run_once(root, [(Kind.PACKAGE, package(1, "alpha"))])
    assert (root / ".index.json").stat().st_mtime_ns == before


@pytest.mark.parametrize("planted_id", ["²", "9" * 5000, "-1", "0x10"])
def test_an_index_entry_with_a_planted_id_for_a_real_file_only_costs_a_read(
    root: Path, seeded: dict[str, bytes], planted_id: str
) -> None:
    # The entry describes alpha.json exactly (size, mtime, inode), so only its id is wrong:
    # superscript digits and 5,000 digits pass str.isdigit() yet int() refuses them.
    info = (root / "packages" / "alpha.json").stat()
    entry = f"{planted_id} {info.st_size} {info.st_mtime_ns} {info.st_ino} {'0' * 32}"
    (root / ".index.json").write_text(json.dumps({"format": 2, "packages": {"alpha.json": entry}}))
    changes, _ = run_once(root, [(Kind.PACKAGE, package(1, "alpha"))])
    assert changes[Kind.PACKAGE, 1] is Change.UNCHANGED
    assert same_runs_aside(mirror_files(root)) == same_runs_aside(seeded)
