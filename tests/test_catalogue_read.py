"""The reading commands give the same rows from the catalogue database as from the JSON files
(the reader of earlier versions, kept as the fallback)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pkgharvest.catalogue import reader as reader_module
from pkgharvest.catalogue.reader import DatabaseReader, FileReader, open_reader
from pkgharvest.records import Kind
from pkgharvest.store.mirror import GroupOrder, SortKey
from tests.mirrorbuilder import grown_content, run_cli, synthetic_package, write_mirror


@pytest.fixture(scope="module")
def mirror(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Ties and unknowns, where orders most easily differ.
    ties = [
        synthetic_package(800_001, "tie-b", stars=100, forks=None, commits_52w=None),
        synthetic_package(800_002, "tie-a", stars=100, forks=None, last_commit=None),
        synthetic_package(800_003, "no-stars", stars=None, repo_description="Ünïcode MATCH me"),
    ]
    content = grown_content(400, 12, also=ties)
    return write_mirror(tmp_path_factory.mktemp("read") / "mirror", content)


def both(root: Path) -> tuple[DatabaseReader, FileReader]:
    database = open_reader(root)
    files = open_reader(root, database=False)
    assert isinstance(database, DatabaseReader) and isinstance(files, FileReader)
    return database, files


SCOPES = [
    {},
    {"grid": "postgresql"},
    {"category": "apps"},
    {"match": "match"},
    {"match": "synthetic 1"},
    {"grid": "postgresql", "category": "apps"},
]


@pytest.mark.parametrize(
    "by", [k for k in SortKey if k not in (SortKey.ACTIVITY, SortKey.STARS_GAINED)]
)
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("scope", SCOPES)
def test_ranking_is_the_same(mirror: Path, by: SortKey, reverse: bool, scope: dict) -> None:
    database, files = both(mirror)
    args = {
        "grid": database.find(Kind.GRID, scope["grid"]) if "grid" in scope else None,
        "category": database.find(Kind.CATEGORY, scope["category"])
        if "category" in scope
        else None,
        "match": scope.get("match"),
    }
    got = list(database.ranked(by, reverse=reverse, **args))
    want = list(files.ranked(by, reverse=reverse, **args))
    assert got == want and want  # whole records, in the same order
    assert database.count_selected(**args) == files.count_selected(**args) == len(want)
    assert list(database.ranked(by, reverse=reverse, limit=7, **args)) == want[:7]


@pytest.mark.parametrize("kind", [Kind.GRID, Kind.CATEGORY])
@pytest.mark.parametrize("order", list(GroupOrder))
def test_group_summaries_are_the_same(mirror: Path, kind: Kind, order: GroupOrder) -> None:
    database, files = both(mirror)
    assert database.group_summaries(kind, order) == files.group_summaries(kind, order)
    # What `grids` and `categories` ask for: the same counts, those fields of the same records.
    from pkgharvest.cli.read import GROUP_FIELDS

    wanted = [
        (s.package_count, s.total_stars, {name: s.record.get(name) for name in GROUP_FIELDS})
        for s in files.group_summaries(kind, order)
    ]
    got = [
        (s.package_count, s.total_stars, s.record)
        for s in database.group_summaries(kind, order, GROUP_FIELDS)
    ]
    assert got == wanted


@pytest.mark.parametrize("key", ["django-hstore", "1327", "DJANGO-HSTORE", "tie-a"])
def test_find_is_the_same(mirror: Path, key: str) -> None:
    database, files = both(mirror)
    assert database.find(Kind.PACKAGE, key) == files.find(Kind.PACKAGE, key)


def test_not_found_suggests_the_same(mirror: Path) -> None:
    database, files = both(mirror)
    messages = []
    for reader in (database, files):
        with pytest.raises(Exception) as caught:
            reader.find(Kind.PACKAGE, "django-hstor")
        messages.append(str(caught.value))
    assert messages[0] == messages[1] and "django-hstore" in messages[0]


COMMANDS = [
    ["top"],
    ["top", "--limit", "0", "--json"],
    ["top", "--by", "forks", "--reverse", "--grid", "postgresql"],
    ["top", "--by", "commits", "--match", "synthetic 3", "--json"],
    ["top", "--by", "last-commit", "--category", "apps", "--limit", "0"],
    ["top", "--by", "activity", "--active", "--json"],
    ["grid", "postgresql"],
    ["grid", "postgresql", "--json"],
    ["show", "django-hstore"],
    ["show", "1327", "--json"],
    ["grids", "--by", "stars"],
    ["categories", "--json"],
    ["export", "--format", "jsonl", "--grid", "postgresql"],
    ["export"],
]


@pytest.mark.parametrize("argv", COMMANDS, ids=" ".join)
def test_commands_print_the_same(monkeypatch, capsys, mirror: Path, argv: list[str]) -> None:
    args = [*argv, "--data-dir", str(mirror)]
    from_database = run_cli(monkeypatch, capsys, *args)
    monkeypatch.setattr(
        reader_module,
        "open_reader",
        lambda root, database=True: FileReader(reader_module.files.open_mirror(root)),
    )
    from_files = run_cli(monkeypatch, capsys, *args)
    assert from_database.code == from_files.code == 0
    assert from_database.out == from_files.out and from_database.out
    assert from_database.err == from_files.err == ""


@pytest.fixture
def read_only_copy(tmp_path: Path, mirror: Path):  # type: ignore[no-untyped-def]
    """The mirror copied onto a tmpfs, then remounted read-only (root only)."""
    import os
    import shutil
    import subprocess

    if os.geteuid() != 0:
        pytest.skip("mounting a read-only tmpfs needs root")
    mount = tmp_path / "ro"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(mount)], check=True)
    try:
        shutil.copytree(mirror, mount / "mirror")
        yield mount / "mirror"
    finally:
        subprocess.run(["umount", "--lazy", str(mount)], check=False)  # even if still open


def test_a_read_only_folder_still_reads(monkeypatch, capsys, read_only_copy: Path) -> None:
    import subprocess

    (read_only_copy / "catalogue.db").unlink()  # missing, and it cannot be built here
    mount = read_only_copy.parent
    subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)
    result = run_cli(monkeypatch, capsys, "top", "--json", "--data-dir", str(read_only_copy))
    assert result.code == 0 and json.loads(result.out)
    assert result.err.count("\n") == 1 and "reading the JSON files instead" in result.err
    history = run_cli(monkeypatch, capsys, "trends", "--data-dir", str(read_only_copy))
    assert history.code == 2 and "needs the catalogue database" in history.err


def test_an_up_to_date_database_is_read_in_a_read_only_folder(
    monkeypatch, capsys, read_only_copy: Path
) -> None:
    import subprocess

    subprocess.run(["mount", "-o", "remount,ro", str(read_only_copy.parent)], check=True)
    result = run_cli(monkeypatch, capsys, "changes", "--json", "--data-dir", str(read_only_copy))
    assert result.code == 0 and result.err == ""  # from the database, opened read-only
    assert json.loads(result.out)["runs"] == 1
