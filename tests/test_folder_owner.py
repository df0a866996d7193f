"""One owner for every file in the data folder (issue 20 item 3): root running pkgharvest in a
folder that belongs to a service user (uid 65534 here) leaves nothing of its own there. Its
`fetch` gives every file and folder it creates (records, staging folders and their `.part`
files, `.index.json`, the manifest, `.lock`, the journal, `catalogue.db` and what SQLite makes
beside it) to the folder's owner and group, with the modes the owner's own run leaves, and
updates the database as that run would (exit 0); every reading command leaves the folder as it
found it; a commit killed as root and finished by a reading command as root leaves no file of
root's; the owner's own next fetch works. Real processes: the owner's runs are children running
as uid 65534, root's commit is killed with SIGKILL (tests/commitpause.py)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pkgharvest.cli import run
from pkgharvest.runtime import Dependencies, RetryPolicy
from tests.fakeapi import Catalogue, FakeApi, generate_catalogue
from tests.fakeproc import REPO_ROOT
from tests.mirrorbuilder import run_cli

MP = pytest.MonkeyPatch
Cap = pytest.CaptureFixture[str]

OWNER = 65534
PACKAGES = 40
GRIDS = 5


def _fetch_args(url: str, root: Path) -> list[str]:
    return ["fetch", "--quiet", "--base-url", url, "--data-dir", str(root)]


@dataclass(frozen=True)
class OwnerRunner:
    """Runs `python -m MODULE ARGS` as uid/gid 65534: an interpreter that user may execute
    (the test's own may live under root's home), with this checkout on its path."""

    python: str
    env: dict[str, str]

    def __call__(
        self, module: str, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [self.python, "-m", module, *args],
            cwd="/",
            env={**self.env, **(env or {})},
            user=OWNER,
            group=OWNER,
            extra_groups=[],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def fetch(self, url: str, root: Path) -> tuple[int, str]:
        proc = self("pkgharvest", *_fetch_args(url, root))
        _, err = proc.communicate(timeout=300)
        return proc.returncode, err


@pytest.fixture(scope="module")
def as_owner() -> OwnerRunner:
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        pytest.skip("running as another user and handing files to it need root")
    env = {
        "PATH": os.defpath,
        "HOME": "/nonexistent",
        "LC_ALL": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONPATH": os.pathsep.join(
            [str(REPO_ROOT / "src"), str(REPO_ROOT), sysconfig.get_paths()["purelib"]]
        ),
    }
    candidates = [sys.executable, shutil.which("python3", path=os.defpath)]
    for python in dict.fromkeys(c for c in candidates if c):
        try:
            probe = OwnerRunner(python, env)("pkgharvest", "--version")
        except PermissionError:  # the interpreter lies under a folder only root may enter
            continue
        probe.communicate(timeout=60)
        if probe.returncode == 0:
            return OwnerRunner(python, env)
    pytest.skip("no Python interpreter that uid 65534 may run")


@pytest.fixture
def base(as_owner: OwnerRunner) -> Iterator[Path]:
    """A folder uid 65534 can reach (pytest's own temporary folders are root's alone)."""
    folder = Path(tempfile.mkdtemp(prefix="pkgharvest-owner-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _service_folder(base: Path, name: str) -> Path:
    folder = base / name
    folder.mkdir()
    os.chown(folder, OWNER, OWNER)
    return folder


Shape = dict[str, tuple[int, int, int, int]]


def _shape(root: Path) -> Shape:
    """Every entry of the data folder (the folder itself too): its type, mode, owner, group."""
    found: Shape = {}
    for folder, dirs, files in os.walk(root):
        for name in [".", *dirs, *files] if folder == str(root) else [*dirs, *files]:
            path = os.path.normpath(os.path.join(folder, name))
            info = os.lstat(path)
            found[os.path.relpath(path, root)] = (
                stat.S_IFMT(info.st_mode),
                stat.S_IMODE(info.st_mode),
                info.st_uid,
                info.st_gid,
            )
    return found


def _not_the_owners(root: Path) -> list[str]:
    """What `find ROOT -not -user 65534 -o -not -group 65534` prints."""
    return sorted(
        f"{path} (uid {uid}, gid {gid})"
        for path, (_, _, uid, gid) in _shape(root).items()
        if (uid, gid) != (OWNER, OWNER)
    )


def _root_fetch(url: str, root: Path, capsys: Cap) -> tuple[int, str]:
    deps = Dependencies(retry=RetryPolicy(attempts=2), sleep=lambda seconds: None)
    capsys.readouterr()
    code = run(_fetch_args(url, root), deps)
    return code, capsys.readouterr().err


def _change(catalogue: Catalogue) -> tuple[int, int, int]:
    """Records rewritten, one removed, a grid renamed (its members' records change too);
    returns (a changed package's id, the removed one's, the renamed grid's)."""
    ids = sorted(catalogue.table("packages"))
    for package_id in ids[:5]:
        stars = catalogue.table("packages")[package_id].get("repo_watchers") or 0
        catalogue.update_package(package_id, repo_watchers=stars + 1000)
    catalogue.delete_package(ids[-1])
    grid_id, grid = max(catalogue.grids.items(), key=lambda item: len(item[1]["packages"]))
    catalogue.grids[grid_id] = {**grid, "slug": "renamed-grid", "title": "Renamed grid"}
    catalogue.touched()
    return ids[0], ids[-1], grid_id


def _record(root: Path, kind: str, record_id: int) -> dict[str, object] | None:
    for path in (root / kind).glob("*.json"):
        record = json.loads(path.read_bytes())
        if record["id"] == record_id:
            return record  # type: ignore[no-any-return]
    return None


def test_root_fetches_and_reads_the_service_users_folder_as_that_user_would(
    monkeypatch: MP, capsys: Cap, as_owner: OwnerRunner, base: Path
) -> None:
    catalogue = generate_catalogue(packages=PACKAGES, grids=GRIDS, seed=5)
    requirements = base / "requirements.txt"
    requirements.write_text("django\ndjango-hstore\n", "utf-8")
    with FakeApi(catalogue).serve() as url:
        by_root = _service_folder(base, "by-root")
        by_owner = _service_folder(base, "by-owner")
        # A first fetch into the service user's empty folder: by root, and by the owner.
        assert _root_fetch(url, by_root, capsys) == (0, "")
        assert as_owner.fetch(url, by_owner) == (0, "")
        assert _not_the_owners(by_root) == []
        assert _shape(by_root) == _shape(by_owner)
        changed, removed, _ = _change(catalogue)
        os.chown(by_root / ".lock", 0, 0)  # as an older version's `sudo pkgharvest fetch` left it

        # Root's fetch and the owner's own, from the same mirror, of the same change.
        code, err = _root_fetch(url, by_root, capsys)
        assert (code, err) == (0, "")  # the database updated too: not 9
        assert as_owner.fetch(url, by_owner) == (0, "")
        assert _not_the_owners(by_root) == []
        assert _shape(by_root) == _shape(by_owner)  # the same files, modes, owner and group
        assert _record(by_root, "packages", removed) is None
        assert (by_root / "grids" / "renamed-grid.json").exists()
        status = run_cli(monkeypatch, capsys, "status", "--json", "--data-dir", str(by_root))
        assert json.loads(status.out)["catalogue"]["state"] == "ok", status.out

        # Every reading command as root leaves the folder as the owner's run left it.
        left = _shape(by_root)
        package = _record(by_root, "packages", changed)
        assert package is not None
        for argv in (
            ["top"],
            ["top", "--json", "--by", "stars-gained"],
            ["grid", "renamed-grid"],
            ["show", str(package["slug"])],
            ["grids"],
            ["categories", "--json"],
            ["trends"],
            ["changes"],
            ["export", "--format", "jsonl"],
            ["export", "--history"],
            ["deps", str(requirements)],
            ["status"],
            ["verify"],
        ):
            result = run_cli(monkeypatch, capsys, *argv, "--data-dir", str(by_root))
            assert result.code == 0 and result.err == "", (argv, result.err)
            assert _not_the_owners(by_root) == [], argv
            assert _shape(by_root) == left, argv

        # The owner's own next fetch works, and rewrites what changed.
        catalogue.update_package(changed, repo_watchers=424242)
        assert as_owner.fetch(url, by_root) == (0, "")
        rewritten = _record(by_root, "packages", changed)
        assert rewritten is not None and rewritten["stars"] == 424242
        assert _not_the_owners(by_root) == []


def _paused(proc: subprocess.Popen[str], marker: Path) -> None:
    """Wait until the child (tests/commitpause.py) stopped inside its commit, then SIGKILL it."""
    started = time.monotonic()
    while not marker.exists():
        if proc.poll() is not None or time.monotonic() - started > 120:
            proc.kill()
            _, err = proc.communicate()
            raise AssertionError(f"the fetch ended without reaching its pause: {err}")
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=0.01)  # a wait on the child, not a sleep
    proc.send_signal(signal.SIGKILL)
    proc.communicate()


def _pause_env(marker: Path) -> dict[str, str]:
    return {
        "PKGHARVEST_TEST_PAUSE_AFTER": str(PACKAGES // 2),
        "PKGHARVEST_TEST_PAUSE_MARKER": str(marker),
    }


def _every_package_gains_a_star(catalogue: Catalogue) -> None:
    for package_id, record in list(catalogue.table("packages").items()):
        catalogue.update_package(package_id, repo_watchers=(record.get("repo_watchers") or 0) + 1)


def test_a_commit_killed_as_root_and_finished_by_a_reader_as_root_leaves_no_file_of_roots(
    monkeypatch: MP, capsys: Cap, as_owner: OwnerRunner, base: Path
) -> None:
    catalogue = generate_catalogue(packages=PACKAGES, grids=GRIDS, seed=6)
    with FakeApi(catalogue).serve() as url:
        root = _service_folder(base, "mirror")
        assert as_owner.fetch(url, root) == (0, "")
        _every_package_gains_a_star(catalogue)
        marker = base / "paused"
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.commitpause", *_fetch_args(url, root)],
            cwd=REPO_ROOT,
            env={**os.environ, **_pause_env(marker)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        _paused(proc, marker)
        assert (root / ".commit-journal.json").exists()  # killed inside the commit
        assert _not_the_owners(root) == []  # staging, .part files, journal: the owner's

        result = run_cli(monkeypatch, capsys, "top", "--json", "--data-dir", str(root))
        assert result.code == 0, result.err
        assert not (root / ".commit-journal.json").exists()  # the reader finished the commit
        assert _not_the_owners(root) == []
        first = sorted(catalogue.table("packages"))[0]
        record = _record(root, "packages", first)
        assert record is not None
        assert record["stars"] == catalogue.table("packages")[first]["repo_watchers"]

        assert as_owner.fetch(url, root) == (0, "")
        assert _not_the_owners(root) == []


def test_a_reader_as_root_finishing_the_owners_cut_short_commit_makes_no_lock_of_roots(
    monkeypatch: MP, capsys: Cap, as_owner: OwnerRunner, base: Path
) -> None:
    catalogue = generate_catalogue(packages=PACKAGES, grids=GRIDS, seed=7)
    with FakeApi(catalogue).serve() as url:
        root = _service_folder(base, "mirror")
        assert as_owner.fetch(url, root) == (0, "")
        _every_package_gains_a_star(catalogue)
        marker = base / "paused"
        marker_folder = marker.parent
        os.chown(marker_folder, OWNER, OWNER)  # the owner's child writes its marker here
        proc = as_owner("tests.commitpause", *_fetch_args(url, root), env=_pause_env(marker))
        _paused(proc, marker)
        (root / ".lock").unlink()  # a lock file gone with the killed run (or never made)

        result = run_cli(monkeypatch, capsys, "grids", "--data-dir", str(root))
        assert result.code == 0, result.err
        assert not (root / ".commit-journal.json").exists()
        assert _not_the_owners(root) == []  # `.lock` made again, and given to the owner
        assert as_owner.fetch(url, root) == (0, "")


def test_each_file_is_the_owners_before_its_fsync_and_before_it_is_moved_to_its_name(
    monkeypatch: MP, capsys: Cap, as_owner: OwnerRunner, base: Path
) -> None:
    catalogue = generate_catalogue(packages=PACKAGES, grids=GRIDS, seed=8)
    with FakeApi(catalogue).serve() as url:
        root = _service_folder(base, "mirror")
        assert as_owner.fetch(url, root) == (0, "")
        _change(catalogue)
        moved: list[tuple[str, int, int]] = []
        synced: list[tuple[int, int]] = []
        real_replace, real_fsync = os.replace, os.fsync

        def replace(source: str, target: str, *args: object, **kwargs: object) -> None:
            info = os.lstat(source)
            moved.append((os.path.relpath(target, root), info.st_uid, info.st_gid))
            real_replace(source, target, *args, **kwargs)  # type: ignore[arg-type]

        def fsync(fd: int) -> None:
            info = os.fstat(fd)
            if stat.S_ISREG(info.st_mode):
                synced.append((info.st_uid, info.st_gid))
            real_fsync(fd)

        monkeypatch.setattr(os, "replace", replace)
        monkeypatch.setattr(os, "fsync", fsync)
        deps = Dependencies(retry=RetryPolicy(attempts=2), sleep=lambda seconds: None)
        argv = ["fetch", "--quiet", "--fsync", "--base-url", url, "--data-dir", str(root)]
        code = run(argv, deps)
        monkeypatch.undo()
    # Every record file, the index, the manifest and the journal, at the moment it is moved
    # to its name; and every file at its fsync (so that the ownership is durable with it).
    names = {name for name, _, _ in moved}
    assert {"manifest.json", ".index.json", ".commit-journal.json"} <= names
    assert any(name.startswith("packages/") for name in names)
    assert [m for m in moved if m[1:] != (OWNER, OWNER)] == []
    assert synced and [s for s in synced if s != (OWNER, OWNER)] == []
    assert code == 0, capsys.readouterr().err
    assert _not_the_owners(root) == []


def test_root_repairing_a_damaged_database_leaves_both_files_the_owners(
    capsys: Cap, as_owner: OwnerRunner, base: Path
) -> None:
    catalogue = generate_catalogue(packages=PACKAGES, grids=GRIDS, seed=9)
    with FakeApi(catalogue).serve() as url:
        root = _service_folder(base, "mirror")
        assert as_owner.fetch(url, root) == (0, "")
        database = root / "catalogue.db"
        with open(database, "r+b") as file:  # its second page overwritten
            file.seek(4096)
            file.write(bytes(range(256)) * 16)
        code, err = _root_fetch(url, root, capsys)
        assert code == 0 and "moved aside as catalogue.db.corrupt and rebuilt" in err, err
        assert (root / "catalogue.db.corrupt").exists() and database.exists()
        assert _not_the_owners(root) == []
        assert as_owner.fetch(url, root) == (0, "")


def test_a_group_member_keeps_its_own_files_and_leaves_the_database_to_the_owner(
    as_owner: OwnerRunner, base: Path
) -> None:
    """Not root: a user that may write the folder (its group's, setgid, umask 002) but does not
    own it gives nothing away. Its fetch updates the JSON mirror with files of its own (the
    folder's group) and leaves the database to the owner: exit 9, said; the owner's next run
    catches the database up."""
    member = OWNER - 1
    catalogue = generate_catalogue(packages=PACKAGES, grids=GRIDS, seed=10)
    umask = os.umask(0o002)
    try:
        with FakeApi(catalogue).serve() as url:
            root = _service_folder(base, "shared")
            root.chmod(0o2775)
            assert as_owner.fetch(url, root) == (0, "")
            changed = sorted(catalogue.table("packages"))[0]
            catalogue.update_package(changed, repo_watchers=31337)
            proc = subprocess.Popen(
                [as_owner.python, "-m", "pkgharvest", *_fetch_args(url, root)],
                cwd="/",
                env=as_owner.env,
                user=member,
                group=member,
                extra_groups=[OWNER],
                stderr=subprocess.PIPE,
                text=True,
            )
            _, err = proc.communicate(timeout=300)
            assert proc.returncode == 9, err
            assert "the catalogue database was not updated" in err
            record = next(
                path for path in (root / "packages").glob("*.json")
                if json.loads(path.read_bytes())["id"] == changed
            )  # fmt: skip
            info = record.stat()
            assert (info.st_uid, info.st_gid) == (member, OWNER)
            assert (root / "catalogue.db").stat().st_uid == OWNER
            assert as_owner.fetch(url, root) == (0, "")
    finally:
        os.umask(umask)


# --- every creation goes through store/owner.py -------------------------------------------------

SOURCE = REPO_ROOT / "src" / "pkgharvest"
CREATES = ("O_CREAT", "mkdir(", "mkdtemp(", "mkstemp(", "NamedTemporaryFile(", "open_new(")
DATA_FOLDER_ITSELF = {("store/transaction.py", "lock")}
"""`Store.lock` makes a data folder that does not exist yet: it then belongs to whoever ran the
command, and so does everything in it."""


def test_every_function_that_creates_a_file_in_the_data_folder_gives_it_to_the_owner() -> None:
    """In the wings that write the data folder (store/, catalogue/), a function that creates a
    file or folder (os.open with O_CREAT, mkdir, mkdtemp...) also gives it away (`.give(` or
    an Owner's make_folder): a new place that creates a file without it is caught here."""
    import ast

    offenders = []
    for wing in ("store", "catalogue"):
        for path in sorted((SOURCE / wing).glob("*.py")):
            text = path.read_text("utf-8")
            rel = path.relative_to(SOURCE).as_posix()
            for node in ast.walk(ast.parse(text)):
                if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    continue
                body = ast.get_source_segment(text, node) or ""
                creates = [word for word in CREATES if word in body]
                if (rel, node.name) in DATA_FOLDER_ITSELF or rel == "store/owner.py":
                    continue
                if creates and ".give(" not in body and "make_folder(" not in body:
                    offenders.append(f"{rel}: {node.name} ({', '.join(creates)})")
    assert offenders == []
