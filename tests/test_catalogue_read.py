"""The one read path: the reading commands' queries answer what a plain Python reading of the
records answers (tests/readoracle.py), from the folder's database and from a private copy built
from the record files alike."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from pkgharvest.catalogue.reader import open_reader
from pkgharvest.errors import RecordNotFound
from pkgharvest.records import Kind
from pkgharvest.store.mirror import GroupOrder, SortKey
from tests import readoracle
from tests.mirrorbuilder import (
    MirrorContent,
    grown_content,
    run_cli,
    synthetic_package,
    write_mirror,
)
from tests.mirrorcheck import owners_and_sizes


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, MirrorContent]:
    # Ties and unknowns, where orders most easily differ.
    ties = [
        synthetic_package(800_001, "tie-b", stars=100, forks=None, commits_52w=None),
        synthetic_package(800_002, "tie-a", stars=100, forks=None, last_commit=None),
        synthetic_package(800_003, "no-stars", stars=None, repo_description="Ünïcode MATCH me"),
    ]
    content = grown_content(400, 12, also=ties)
    return write_mirror(tmp_path_factory.mktemp("read") / "mirror", content), content


@pytest.fixture(scope="module")
def mirror(written: tuple[Path, MirrorContent]) -> Path:
    return written[0]


def _by_slug(records: list[dict], slug: str) -> dict:  # type: ignore[type-arg]
    return next(r for r in records if r["slug"] == slug)


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
def test_ranking_is_what_the_records_say(
    written: tuple[Path, MirrorContent], by: SortKey, reverse: bool, scope: dict
) -> None:
    root, content = written
    reader = open_reader(root)
    grid = _by_slug(content.grids, scope["grid"]) if "grid" in scope else None
    category = _by_slug(content.categories, scope["category"]) if "category" in scope else None
    args = {"grid": grid, "category": category, "match": scope.get("match")}
    want = readoracle.rank(readoracle.select(content.packages, **args), by, reverse=reverse)
    got = reader.ranked(by, reverse=reverse, **args)
    assert got == want and want  # whole records, in the same order
    assert list(reader.stream_ranked(by, reverse=reverse, **args)) == want
    assert reader.count_selected(**args) == len(want)
    assert reader.ranked(by, reverse=reverse, limit=7, **args) == want[:7]


@pytest.mark.parametrize("kind", [Kind.GRID, Kind.CATEGORY])
@pytest.mark.parametrize("order", list(GroupOrder))
def test_group_summaries_are_what_the_records_say(
    written: tuple[Path, MirrorContent], kind: Kind, order: GroupOrder
) -> None:
    root, content = written
    groups = content.grids if kind is Kind.GRID else content.categories
    want = readoracle.summaries(content.packages, groups, kind, order)
    reader = open_reader(root)
    assert reader.group_summaries(kind, order) == want
    # What `grids` and `categories` ask for: the same counts, those fields of the same records.
    from pkgharvest.cli.read import GROUP_FIELDS

    got = [
        (s.package_count, s.total_stars, s.record)
        for s in reader.group_summaries(kind, order, GROUP_FIELDS)
    ]
    assert got == [
        (s.package_count, s.total_stars, {name: s.record.get(name) for name in GROUP_FIELDS})
        for s in want
    ]


@pytest.mark.parametrize(
    ("key", "slug"),
    [("django-hstore", "django-hstore"), ("1327", "django-hstore"), ("DJANGO-HSTORE",
     "django-hstore"), ("tie-a", "tie-a")],
)  # fmt: skip
def test_find_by_slug_id_and_case(written: tuple[Path, MirrorContent], key: str, slug: str) -> None:
    root, content = written
    assert open_reader(root).find(Kind.PACKAGE, key) == _by_slug(content.packages, slug)


def test_not_found_suggests_close_slugs(mirror: Path) -> None:
    with pytest.raises(RecordNotFound) as caught:
        open_reader(mirror).find(Kind.PACKAGE, "django-hstor")
    assert "django-hstore" in str(caught.value)


def test_export_records_are_the_files_by_slug(written: tuple[Path, MirrorContent]) -> None:
    root, content = written
    got = list(open_reader(root).export_records(grid=None, category=None, match=None))
    assert got == sorted(content.packages, key=lambda r: (r["slug"], r["id"]))


COMMANDS = [
    ["top"],
    ["top", "--limit", "0", "--json"],
    ["top", "--by", "forks", "--reverse", "--grid", "postgresql"],
    ["top", "--by", "commits", "--match", "synthetic 3", "--json"],
    ["top", "--by", "last-commit", "--category", "apps", "--limit", "0"],
    ["top", "--by", "activity", "--active", "--json"],
    ["top", "--by", "forks", "--active", "--reverse", "--json"],
    ["grid", "postgresql"],
    ["grid", "postgresql", "--json"],
    ["show", "django-hstore"],
    ["show", "1327", "--json"],
    ["grids", "--by", "stars"],
    ["categories", "--json"],
    ["export", "--format", "jsonl", "--grid", "postgresql"],
    ["export"],
]


@pytest.fixture(scope="module")
def not_ours(tmp_path_factory: pytest.TempPathFactory, mirror: Path) -> Path:
    """The mirror without its database, in a folder that belongs to another user (uid 65534):
    as root here, pkgharvest must neither build the database there nor leave a file of its own,
    so it reads a private copy."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        pytest.skip("handing a folder to another user needs root")
    copy = Path(shutil.copytree(mirror, tmp_path_factory.mktemp("other") / "mirror"))
    for name in os.listdir(copy):
        if name.startswith("catalogue.db") or name == ".lock":
            os.unlink(copy / name)
    for folder, _, files in os.walk(copy):
        os.chown(folder, 65534, 65534)
        for name in files:
            os.chown(os.path.join(folder, name), 65534, 65534)
    return copy


@pytest.mark.parametrize("argv", COMMANDS, ids=" ".join)
def test_a_private_copy_prints_what_the_database_prints(
    monkeypatch, capsys, mirror: Path, not_ours: Path, argv: list[str]
) -> None:
    from_database = run_cli(monkeypatch, capsys, *argv, "--data-dir", str(mirror))
    before = owners_and_sizes(not_ours)
    from_copy = run_cli(monkeypatch, capsys, *argv, "--data-dir", str(not_ours))
    assert from_database.code == from_copy.code == 0
    assert from_database.out == from_copy.out and from_database.out
    assert from_database.err == ""
    assert from_copy.err.count("\n") == 1
    assert "reading a private copy built from the JSON files" in from_copy.err
    assert owners_and_sizes(not_ours) == before  # nothing created, nothing handed to root


@pytest.fixture
def read_only_copy(tmp_path: Path, mirror: Path):  # type: ignore[no-untyped-def]
    """The mirror copied onto a tmpfs, then remounted read-only (root only)."""
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
    assert result.err.count("\n") == 1 and "reading a private copy" in result.err
    history = run_cli(monkeypatch, capsys, "trends", "--data-dir", str(read_only_copy))
    assert history.code == 73
    assert history.err.startswith("pkgharvest: error: history needs the catalogue database")


def test_an_up_to_date_database_is_read_in_a_read_only_folder(
    monkeypatch, capsys, read_only_copy: Path
) -> None:
    import subprocess

    subprocess.run(["mount", "-o", "remount,ro", str(read_only_copy.parent)], check=True)
    result = run_cli(monkeypatch, capsys, "changes", "--json", "--data-dir", str(read_only_copy))
    assert result.code == 0 and result.err == ""  # from the database, opened read-only
    assert json.loads(result.out)["runs"] == 1
