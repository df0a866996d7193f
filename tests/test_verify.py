"""`pkgharvest verify`: a mirror a real fetch wrote is clean; each kind of damage is named."""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from pkgharvest.errors import ExitCode
from pkgharvest.fetch.run import FetchOptions, fetch
from pkgharvest.runtime import Dependencies
from pkgharvest.verify import SHOWN_PROBLEMS
from tests.fakeapi import PUBLIC_BASE_URL, FakeApi, generate_catalogue
from tests.mirrorbuilder import run_cli


@pytest.fixture(scope="module")
def fetched(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A mirror written by a real catalogue fetch (60 packages, 4 grids) from the fake API."""
    root = tmp_path_factory.mktemp("verify") / "pristine"
    api = FakeApi(generate_catalogue(packages=60, grids=4, seed=5))
    options = FetchOptions(base_url=PUBLIC_BASE_URL, data_dir=root)
    report = fetch(options, Dependencies(transport=httpx.MockTransport(api.handler)))
    assert report.exit_code == 0
    return root


@pytest.fixture
def mirror(fetched: Path, tmp_path: Path) -> Path:
    """A fresh copy of the fetched mirror, for one test to damage."""
    import shutil

    return Path(shutil.copytree(fetched, tmp_path / "mirror"))


def _verify(monkeypatch, capsys, root: Path, *args: str):  # type: ignore[no-untyped-def]
    return run_cli(monkeypatch, capsys, "verify", "--data-dir", str(root), *args)


def _a_record(root: Path, kind: str) -> Path:
    return sorted((root / kind).glob("*.json"))[0]


def _load(path: Path) -> dict:  # type: ignore[type-arg]
    return dict(json.loads(path.read_text("utf-8")))


def _save(path: Path, record: dict) -> None:  # type: ignore[type-arg]
    path.write_text(json.dumps(record, indent=2) + "\n", "utf-8")


def test_a_fetched_mirror_verifies_clean(monkeypatch, capsys, mirror: Path) -> None:
    result = _verify(monkeypatch, capsys, mirror)
    assert result.code == 0, result.out
    assert result.out.startswith("verify: ok: 60 packages, 4 grids, ")
    assert result.err == ""


# --- one kind of damage at a time: (damage, the problem's file, words in the message) ---------


def _not_json(root: Path) -> tuple[Path, str]:
    path = _a_record(root, "packages")
    path.write_text('{"id": 1, "slug": ', "utf-8")
    return path, "is not valid JSON (Expecting value, line 1 column 19)"


def _not_utf8(root: Path) -> tuple[Path, str]:
    path = _a_record(root, "grids")
    path.write_bytes(b'{"id": 1, "slug": "\xff"}')
    return path, "is not UTF-8 text"


def _no_id(root: Path) -> tuple[Path, str]:
    path = _a_record(root, "categories")
    record = _load(path)
    record["id"] = "7"
    _save(path, record)
    return path, 'has no integer "id"'


def _missing_field(root: Path) -> tuple[Path, str]:
    path = _a_record(root, "packages")
    record = _load(path)
    del record["stars"], record["commits_52w"]
    _save(path, record)
    return path, "lacks the package fields stars, commits_52w"


def _wrong_name(root: Path) -> tuple[Path, str]:
    path = _a_record(root, "packages")
    slug = _load(path)["slug"]
    moved = path.with_name("not-its-slug.json")
    path.rename(moved)
    return moved, f"its file name should be {slug}.json"


def _same_id_twice(root: Path) -> tuple[Path, str]:
    first, second = sorted((root / "packages").glob("*.json"))[:2]
    record = _load(first)
    copy = _load(second)
    copy["id"] = record["id"]
    second.unlink()
    path = root / "packages" / f"_id-{record['id']}.json"
    _save(path, copy)
    # Files are read in name order: the later name is the one reported.
    earlier, later = sorted([first, path])
    return later, f"holds id {record['id']}, which {earlier.name} holds too"


def _manifest_count(root: Path) -> tuple[Path, str]:
    path = root / "manifest.json"
    manifest = _load(path)
    manifest["records"]["packages"] = 61
    _save(path, manifest)
    return path, "says 61 packages, the folder holds 60"


def _record_removed(root: Path) -> tuple[Path, str]:
    # Removing a record by hand breaks the count (and maybe references): the count is named.
    _a_record(root, "packages").unlink()
    return root / "manifest.json", "says 60 packages, the folder holds 59"


def _manifest_broken(root: Path) -> tuple[Path, str]:
    path = root / "manifest.json"
    path.write_text("{", "utf-8")
    return path, "is not valid JSON"


def _manifest_folder(root: Path) -> tuple[Path, str]:
    path = root / "manifest.json"
    path.unlink()
    path.mkdir()
    return path, "is a folder"


def _manifest_symlink(root: Path) -> tuple[Path, str]:
    """A manifest that is a link to a valid one elsewhere: readers refuse it, so must verify."""
    path = root / "manifest.json"
    elsewhere = root.parent / "elsewhere-manifest.json"
    path.rename(elsewhere)
    path.symlink_to(elsewhere)
    return path, "is a symlink"


def _manifest_missing(root: Path) -> tuple[Path, str]:
    path = root / "manifest.json"
    path.unlink()
    return path, "missing: no run has committed to this folder"


def _dangling_member(root: Path) -> tuple[Path, str]:
    path = _a_record(root, "grids")
    grid = _load(path)
    grid["packages"].append({"id": 99999, "slug": "django-ghost"})
    _save(path, grid)
    return path, "lists package 'django-ghost' (id 99999), which the mirror does not hold"


def _dangling_category(root: Path) -> tuple[Path, str]:
    path = _a_record(root, "packages")
    package = _load(path)
    package["category"] = {"id": 777, "slug": "ghosts", "title": "Ghosts"}
    _save(path, package)
    return path, "names category 'ghosts' (id 777), which the mirror does not hold"


def _dangling_grid(root: Path) -> tuple[Path, str]:
    path = _a_record(root, "packages")
    package = _load(path)
    package["grids"].append({"id": 555, "slug": "ghost-grid", "title": "Ghost"})
    _save(path, package)
    return path, "names grid 'ghost-grid' (id 555), which the mirror does not hold"


def _staging_left(root: Path) -> tuple[Path, str]:
    path = root / ".staging-abc123"
    (path / "packages").mkdir(parents=True)
    return path, "a staging folder left by a run that died"


def _temp_left(root: Path) -> tuple[Path, str]:
    path = root / "packages" / ".django-x.json.0a1b2c.tmp"
    path.write_text("{", "utf-8")
    return path, "an unfinished file left by a run that died"


def _part_left(root: Path) -> tuple[Path, str]:
    path = root / "grids" / "cms.json.part"
    path.write_text("{", "utf-8")
    return path, "an unfinished file left by a run that died"


def _journal_left(root: Path) -> tuple[Path, str]:
    path = root / ".commit-journal.json"
    path.write_text('{"format": 1, "staging": ".staging-x", "moves": {}, "removals": {}}')
    return path, "a commit that did not finish: the next command finishes it"


def _folder_named_like_a_record(root: Path) -> tuple[Path, str]:
    path = root / "packages" / "zzz.json"
    path.mkdir()
    return path, "is a folder, not a record file"


def _link_named_like_a_record(root: Path) -> tuple[Path, str]:
    outside = root.parent / "outside.json"
    outside.write_text('{"id": 424242, "slug": "outside"}')
    path = root / "packages" / "outside.json"
    path.symlink_to(outside)
    return path, "is a symlink, not a record file"


def _garbage_index(root: Path) -> tuple[Path, str]:
    path = root / ".index.json"
    path.write_bytes(b"\x00garbage{")
    return path, "is not valid JSON; it is a cache"


def _index_of_another_shape(root: Path) -> tuple[Path, str]:
    path = root / ".index.json"
    path.write_text('{"format": 2, "packages": ["not", "a", "map"]}')
    return path, "holds 'packages' entries that are not an index's"


DAMAGE: dict[str, Callable[[Path], tuple[Path, str]]] = {
    "not JSON": _not_json,
    "not UTF-8": _not_utf8,
    "no integer id": _no_id,
    "missing fields": _missing_field,
    "wrong file name": _wrong_name,
    "one id in two files": _same_id_twice,
    "manifest count": _manifest_count,
    "record removed by hand": _record_removed,
    "manifest corrupt": _manifest_broken,
    "manifest missing": _manifest_missing,
    "manifest is a folder": _manifest_folder,
    "manifest is a symlink": _manifest_symlink,
    "dangling grid member": _dangling_member,
    "dangling category": _dangling_category,
    "dangling grid": _dangling_grid,
    "staging folder left": _staging_left,
    "temporary file left": _temp_left,
    "unfinished .part file left": _part_left,
    "commit journal left": _journal_left,
    "a folder named like a record": _folder_named_like_a_record,
    "a symlink named like a record": _link_named_like_a_record,
    "garbage index": _garbage_index,
    "index of another shape": _index_of_another_shape,
}


ONE_LINE = {
    "a folder named like a record",
    "a symlink named like a record",
    "garbage index",
    "index of another shape",
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_each_kind_of_problem_is_one_line_and_exit_65(
    monkeypatch, capsys, mirror: Path, damage: str
) -> None:
    path, words = DAMAGE[damage](mirror)
    result = _verify(monkeypatch, capsys, mirror)
    assert result.code == ExitCode.DATA_ERROR
    problem_lines = [line for line in result.out.splitlines() if not line.startswith("note:")]
    assert any(line.startswith(f"{path}: ") and words in line for line in problem_lines), result.out
    if damage in ONE_LINE:  # that one thing, and nothing it drags along
        assert len(problem_lines) == 1 and len(problem_lines[0]) - len(str(path)) < 150, result.out
    assert result.err.startswith("pkgharvest: error: verify found ")
    assert result.err.endswith(f" in {mirror}\n")


def test_verify_changes_nothing(monkeypatch, capsys, mirror: Path) -> None:
    _staging_left(mirror)
    _not_json(mirror)
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in mirror.rglob("*") if p.is_file()}
    _verify(monkeypatch, capsys, mirror)
    after = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in mirror.rglob("*") if p.is_file()}
    assert before == after


def test_first_twenty_problems_then_a_count(monkeypatch, capsys, mirror: Path) -> None:
    for index, path in enumerate(sorted((mirror / "packages").glob("*.json"))[:25]):
        path.rename(path.with_name(f"wrong-{index:02d}.json"))
    result = _verify(monkeypatch, capsys, mirror)
    lines = result.out.splitlines()
    assert result.code == ExitCode.DATA_ERROR
    assert len([line for line in lines if "its file name should be" in line]) == SHOWN_PROBLEMS
    assert lines[SHOWN_PROBLEMS] == "... and 5 more problems (see --json for all)"
    assert result.err == f"pkgharvest: error: verify found 25 problems in {mirror}\n"


def test_json_lists_every_problem(monkeypatch, capsys, mirror: Path) -> None:
    path, words = _dangling_member(mirror)
    _temp_left(mirror)
    result = _verify(monkeypatch, capsys, mirror, "--json")
    data = json.loads(result.out)
    assert result.code == ExitCode.DATA_ERROR and data["ok"] is False
    # The hand-edited grid file no longer matches the catalogue database either.
    assert [p["check"] for p in data["problems"]] == ["references", "leftovers", "catalogue"]
    assert data["problems"][0]["path"] == str(path) and words in data["problems"][0]["problem"]
    assert data["records"] == {
        "packages": 60,
        "grids": 4,
        "categories": data["records"]["categories"],
    }


def test_references_are_not_judged_after_a_targeted_run(monkeypatch, capsys, mirror) -> None:
    _dangling_member(mirror)
    manifest = _load(mirror / "manifest.json")
    manifest["last_run"] = {**manifest["last_run"], "scope": "targeted", "complete": False}
    _save(mirror / "manifest.json", manifest)
    result = _verify(monkeypatch, capsys, mirror)
    assert result.code == 0
    assert "note: references not checked: the last run was not a complete catalogue fetch" in (
        result.out
    )


def test_a_null_slug_ref_is_a_known_missing_link_not_a_dangling_one(
    monkeypatch, capsys, mirror: Path
) -> None:
    path = _a_record(mirror, "grids")
    grid = _load(path)
    grid["packages"].append({"id": 99998, "slug": None})  # the API 404'd it during the fetch
    _save(path, grid)
    (mirror / "catalogue.db").unlink()  # out of step with the hand edit; judged elsewhere
    result = _verify(monkeypatch, capsys, mirror)
    assert result.code == 0, result.out
    assert "note: catalogue.db not checked: there is none yet" in result.out


def test_not_a_folder(monkeypatch, capsys, tmp_path: Path) -> None:
    result = _verify(monkeypatch, capsys, tmp_path / "nothing")
    assert result.code == ExitCode.CANT_WRITE
    assert (
        result.err
        == f"pkgharvest: error: {tmp_path / 'nothing'} is not a folder: nothing to verify\n"
    )


# --- the catalogue database --------------------------------------------------------------


def _sql(root: Path, statement: str, *args: object) -> None:
    conn = sqlite3.connect(root / "catalogue.db")
    try:
        conn.execute(statement, args)
        conn.commit()
    finally:
        conn.close()


def test_catalogue_that_disagrees_with_a_file(monkeypatch, capsys, mirror: Path) -> None:
    record = _load(_a_record(mirror, "packages"))
    _sql(mirror, "UPDATE packages SET stars = stars + 1 WHERE id = ?", record["id"])
    result = _verify(monkeypatch, capsys, mirror)
    assert result.code == ExitCode.DATA_ERROR
    assert result.out.splitlines()[0] == (
        f"{mirror / 'catalogue.db'}: disagrees with the files on 1 packages "
        f"(first: id {record['id']}, field stars)"
    )


def test_catalogue_that_lacks_or_adds_records(monkeypatch, capsys, mirror: Path) -> None:
    grid = _load(_a_record(mirror, "grids"))
    _sql(mirror, "DELETE FROM grids WHERE id = ?", grid["id"])
    _sql(mirror, "INSERT INTO categories (id, slug) VALUES (?, ?)", 4242, "ghosts")
    lines = _verify(monkeypatch, capsys, mirror).out.splitlines()
    db = mirror / "catalogue.db"
    assert f"{db}: lacks 1 grids the files hold (first: id {grid['id']})" in lines
    assert f"{db}: holds 1 categories no file holds (first: id 4242)" in lines


def test_a_catalogue_behind_the_manifest_is_not_a_problem(monkeypatch, capsys, mirror) -> None:
    _sql(mirror, "UPDATE catalogue_meta SET value = 'older' WHERE key = 'manifest_sha256'")
    _sql(mirror, "DELETE FROM packages")
    result = _verify(monkeypatch, capsys, mirror)
    assert result.code == 0
    assert "note: catalogue.db not compared: it is behind the manifest" in result.out


def test_a_corrupt_catalogue(monkeypatch, capsys, mirror: Path) -> None:
    (mirror / "catalogue.db").write_bytes(b"this is not a database" * 100)
    result = _verify(monkeypatch, capsys, mirror)
    assert result.code == ExitCode.DATA_ERROR
    assert result.out.startswith(f"{mirror / 'catalogue.db'}: is not an SQLite database\n")


def test_a_catalogue_of_a_newer_schema_is_one_short_line(monkeypatch, capsys, mirror) -> None:
    _sql(mirror, "PRAGMA user_version = 99")
    result = _verify(monkeypatch, capsys, mirror)
    assert result.code == ExitCode.DATA_ERROR
    line = result.out.splitlines()[0]
    assert line.startswith(f"{mirror / 'catalogue.db'}: has schema version 99, newer than")
    assert len(line) - len(str(mirror)) < 200


def test_a_log_that_is_not_sqlites_is_one_short_line(monkeypatch, capsys, mirror) -> None:
    (mirror / "catalogue.db-wal").write_bytes(b"\x13\x37" * 3000)
    result = _verify(monkeypatch, capsys, mirror)
    assert result.code == ExitCode.DATA_ERROR
    assert result.out.splitlines()[0] == (
        f"{mirror / 'catalogue.db-wal'}: is not an SQLite write-ahead log (damaged or planted; "
        "the next command that writes the database discards it)"
    )


def test_a_symlinked_catalogue_is_one_short_line(monkeypatch, capsys, mirror, tmp_path) -> None:
    elsewhere = tmp_path / "elsewhere.db"
    (mirror / "catalogue.db").rename(elsewhere)
    (mirror / "catalogue.db").symlink_to(elsewhere)
    result = _verify(monkeypatch, capsys, mirror)
    assert result.code == ExitCode.DATA_ERROR
    assert result.out.splitlines()[0] == f"{mirror / 'catalogue.db'}: is a symlink"


def test_every_command_skips_a_folder_or_link_named_like_a_record(
    monkeypatch, capsys, mirror: Path
) -> None:
    """Issue 20 item 14: a folder `packages/zzz.json` and a link to a record-like file elsewhere
    are no records: no command reads them (nor through them), and each still works."""
    _folder_named_like_a_record(mirror)
    _link_named_like_a_record(mirror)
    (mirror / "catalogue.db").unlink()  # the next reader builds it from the folder as it is
    for argv in (["top", "--json", "--limit", "0"], ["export"], ["grids"], ["show", "outside"]):
        result = run_cli(monkeypatch, capsys, *argv, "--data-dir", str(mirror))
        assert result.code in (0, ExitCode.NOT_FOUND), (argv, result.err)
        assert "outside" not in result.out, argv
        assert result.code == ExitCode.NOT_FOUND or argv[0] != "show"


def _lock_as_symlink(mirror: Path, outside: Path) -> str:
    (mirror / ".lock").unlink()
    (mirror / ".lock").symlink_to(outside)
    return "is a symlink"


def _lock_as_fifo(mirror: Path, outside: Path) -> str:
    (mirror / ".lock").unlink()
    os.mkfifo(mirror / ".lock")
    return "is not a regular file"


def _lock_as_hard_link(mirror: Path, outside: Path) -> str:
    (mirror / ".lock").unlink()
    os.link(outside, mirror / ".lock")
    return "is a hard link (2 names)"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs and links")
@pytest.mark.parametrize("plant", [_lock_as_symlink, _lock_as_fifo, _lock_as_hard_link])
def test_a_lock_file_fetch_refuses_is_named(
    monkeypatch, capsys, mirror: Path, tmp_path: Path, plant: Callable[[Path, Path], str]
) -> None:
    """fetch refuses a `.lock` that is a link or no regular file (exit 65); verify said ok."""
    outside = tmp_path / "outside.txt"
    outside.write_text("not ours")
    what = plant(mirror, outside)

    result = _verify(monkeypatch, capsys, mirror)

    assert result.code == ExitCode.DATA_ERROR, result.out
    assert result.out.splitlines() == [
        f"{mirror / '.lock'}: {what}: fetch refuses to run until it is moved away"
    ]
    assert outside.read_text() == "not ours"
