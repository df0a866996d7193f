"""No links, one owner (issue 20 items 1, 3 and 14): catalogue.db, its -wal, -shm and -journal,
and the .corrupt names follow the rules `.lock` and the kind folders follow. A symlink, a
dangling symlink or a hard link to another application's file never makes pkgharvest write
outside the data folder: reading commands read a private copy and say so, fetch stops with 65
naming the file before a request is made, verify and status name it. A swap between the check
and SQLite's own open is caught. Root reading another user's folder leaves no file of its own."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
from pathlib import Path

import httpx
import pytest

from pkgharvest.catalogue import CATALOGUE_NAME
from pkgharvest.cli import run
from pkgharvest.runtime import Dependencies, RetryPolicy
from tests.fakeapi import PUBLIC_BASE_URL, FakeApi, seed_catalogue
from tests.faultkit import mirror_files
from tests.mirrorbuilder import run_cli

MP = pytest.MonkeyPatch
Cap = pytest.CaptureFixture[str]


@pytest.fixture(scope="module")
def fetched(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("links") / "pristine"
    deps = Dependencies(
        transport=httpx.MockTransport(FakeApi(seed_catalogue()).handler),
        retry=RetryPolicy(attempts=2),
        sleep=lambda seconds: None,
    )
    assert (
        run(["fetch", "--quiet", "--base-url", PUBLIC_BASE_URL, "--data-dir", str(root)], deps) == 0
    )
    return root


@pytest.fixture
def mirror(fetched: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(fetched, tmp_path / "mirror"))


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """Another application's SQLite database (rollback journal mode), outside the data folder."""
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    path = folder / "places.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE moz_places (id INTEGER PRIMARY KEY, url TEXT)")
        conn.execute("INSERT INTO moz_places (url) VALUES ('https://example.org/')")
    conn.close()
    return path


def _state(path: Path) -> tuple[str, list[str]]:
    """The file's digest and what its folder holds (a -wal or -journal created beside it
    would show)."""
    digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else "absent"
    return digest, sorted(os.listdir(path.parent))


def _fetch(mirror: Path) -> tuple[int, str, FakeApi]:
    import contextlib
    import io

    api = FakeApi(seed_catalogue())
    deps = Dependencies(
        transport=httpx.MockTransport(api.handler),
        retry=RetryPolicy(attempts=2),
        sleep=lambda seconds: None,
    )
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = run(
            ["fetch", "--quiet", "--base-url", PUBLIC_BASE_URL, "--data-dir", str(mirror)], deps
        )
    return code, err.getvalue(), api


def _link(mirror: Path, name: str, target: Path, *, hard: bool = False) -> Path:
    path = mirror / name
    if path.exists() or path.is_symlink():
        path.unlink()
    if hard:
        os.link(target, path)
    else:
        path.symlink_to(target)
    return path


LINKS = ["symlink", "dangling symlink", "hard link"]
NAMES = [
    CATALOGUE_NAME,
    f"{CATALOGUE_NAME}-wal",
    f"{CATALOGUE_NAME}-shm",
    f"{CATALOGUE_NAME}-journal",
    f"{CATALOGUE_NAME}.corrupt",
    f"{CATALOGUE_NAME}.corrupt-wal",
    f"{CATALOGUE_NAME}.corrupt.2",  # a second damaged database moved aside
    f"{CATALOGUE_NAME}.corrupt.2-wal",
]


def _plant(mirror: Path, outside: Path, how: str, name: str = CATALOGUE_NAME) -> Path:
    if how == "dangling symlink":
        return _link(mirror, name, outside.with_name("not-yet.sqlite"))
    return _link(mirror, name, outside, hard=how == "hard link")


@pytest.mark.parametrize("how", LINKS)
def test_a_reading_command_never_writes_through_a_linked_database(
    monkeypatch: MP, capsys: Cap, mirror: Path, outside: Path, how: str
) -> None:
    _plant(mirror, outside, how)
    target = outside.with_name("not-yet.sqlite") if how == "dangling symlink" else outside
    before = _state(target)
    for argv in (["top", "--json"], ["show", "django-hstore"], ["export"], ["grids"]):
        result = run_cli(monkeypatch, capsys, *argv, "--data-dir", str(mirror))
        assert result.code == 0, result.err
        assert result.err.count("\n") == 1
        assert f"{mirror / CATALOGUE_NAME} is a" in result.err
        assert "reading a private copy built from the JSON files" in result.err
        assert _state(target) == before  # not one byte, no journal beside it, nothing created
    history = run_cli(monkeypatch, capsys, "trends", "--data-dir", str(mirror))
    assert history.code == 65 and "history needs the catalogue database" in history.err


@pytest.mark.parametrize("how", LINKS)
@pytest.mark.parametrize("name", NAMES)
def test_fetch_refuses_a_linked_catalogue_file_before_any_request(
    monkeypatch: MP, capsys: Cap, mirror: Path, outside: Path, how: str, name: str
) -> None:
    if how == "hard link" and name != CATALOGUE_NAME:
        outside = outside.with_name("other.bin")
        outside.write_bytes(b"an outside file")
    _plant(mirror, outside, how, name)
    target = outside.with_name("not-yet.sqlite") if how == "dangling symlink" else outside
    before, files = _state(target), mirror_files(mirror)
    code, err, api = _fetch(mirror)
    assert code == 65
    assert err.count("\n") == 1 and str(mirror / name) in err and "never opened" in err
    assert api.stats.snapshot().paths == ()  # refused before anything is fetched
    assert _state(target) == before and mirror_files(mirror) == files
    # verify names it in one line; status says it.
    result = run_cli(monkeypatch, capsys, "verify", "--data-dir", str(mirror))
    assert result.code == 65
    expected = "a hard link (2 names)" if how == "hard link" else "a symlink"
    assert f"{mirror / name}: is {expected}" in result.out.splitlines()
    status = run_cli(monkeypatch, capsys, "status", "--json", "--data-dir", str(mirror))
    assert json.loads(status.out)["catalogue"]["state"] == "refused"


def test_a_swap_between_the_check_and_sqlites_open_is_caught(
    monkeypatch: MP, capsys: Cap, mirror: Path, outside: Path
) -> None:
    from pkgharvest.catalogue import edge

    real = edge.sqlite3.connect
    swapped = []

    def swap_then_connect(*args: object, **kwargs: object) -> sqlite3.Connection:
        # After pkgharvest checked catalogue.db, before SQLite opens the name: the file at the
        # name becomes a link to another application's database.
        if not swapped:
            (mirror / CATALOGUE_NAME).unlink()
            (mirror / CATALOGUE_NAME).symlink_to(outside)
            swapped.append(True)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(edge.sqlite3, "connect", swap_then_connect)
    before = _state(outside)
    result = run_cli(monkeypatch, capsys, "top", "--data-dir", str(mirror))
    assert swapped and result.code == 0
    assert result.err.count("\n") == 1
    assert "was replaced while it was being opened" in result.err
    assert _state(outside) == before


def _chown_tree(root: Path, uid: int) -> None:
    for folder, _, files in os.walk(root):
        os.chown(folder, uid, uid)
        for name in files:
            os.lchown(os.path.join(folder, name), uid, uid)


def _owners(root: Path) -> dict[str, int]:
    return {
        os.path.relpath(os.path.join(folder, name), root): os.lstat(
            os.path.join(folder, name)
        ).st_uid
        for folder, _, files in os.walk(root)
        for name in files
    }


SERVICE_USER = 65534


@pytest.fixture
def service_folder(mirror: Path) -> Path:
    """The mirror as the service user's (uid 65534) data folder; this test runs as root."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        pytest.skip("reading another user's folder as root needs root")
    _chown_tree(mirror, SERVICE_USER)
    return mirror


def test_root_reading_the_service_users_folder_leaves_no_file_of_its_own(
    monkeypatch: MP, capsys: Cap, service_folder: Path
) -> None:
    before = _owners(service_folder)
    for argv in (["top"], ["show", "django-hstore"], ["changes"], ["export", "--history"],
                 ["status"], ["verify"]):  # fmt: skip
        result = run_cli(monkeypatch, capsys, *argv, "--data-dir", str(service_folder))
        assert result.code == 0 and result.err == "", (argv, result.err)
    assert _owners(service_folder) == before  # in step: read as it is, nothing created
    # Behind the mirror (a fetch died between its two commits): root does not catch it up.
    manifest = service_folder / "manifest.json"
    data = json.loads(manifest.read_text("utf-8"))
    data["last_run"]["started"] = "2026-06-01T00:00:00Z"
    manifest.write_text(json.dumps(data), "utf-8")
    os.chown(manifest, SERVICE_USER, SERVICE_USER)
    result = run_cli(monkeypatch, capsys, "top", "--data-dir", str(service_folder))
    assert result.code == 0
    assert "this user may not write the folder" in result.err
    assert "reading a private copy" in result.err
    history = run_cli(monkeypatch, capsys, "changes", "--data-dir", str(service_folder))
    assert history.code == 0 and "as of its last update" in history.err
    assert _owners(service_folder) == before
    # Without a database, root builds none there either.
    (service_folder / CATALOGUE_NAME).unlink()
    before = _owners(service_folder)
    result = run_cli(monkeypatch, capsys, "grids", "--data-dir", str(service_folder))
    assert result.code == 0 and "reading a private copy" in result.err
    assert _owners(service_folder) == before


def test_a_database_owned_by_another_user_is_refused(
    monkeypatch: MP, capsys: Cap, service_folder: Path
) -> None:
    # What an older version left after `sudo pkgharvest top`: a root-owned catalogue.db.
    os.chown(service_folder / CATALOGUE_NAME, 0, 0)
    result = run_cli(monkeypatch, capsys, "top", "--data-dir", str(service_folder))
    assert result.code == 0 and "is owned by uid 0" in result.err
    assert "reading a private copy" in result.err
    verify = run_cli(monkeypatch, capsys, "verify", "--data-dir", str(service_folder))
    line = f"{service_folder / CATALOGUE_NAME}: is owned by uid 0, not by the data folder's owner"
    assert any(x.startswith(line) for x in verify.out.splitlines())
