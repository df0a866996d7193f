"""Opening a mirror on disk (store/mirror.py), and finding, ranking and summarizing it through
the one read path (the catalogue database, catalogue/reader.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pkgharvest.activity import rank_by_activity
from pkgharvest.catalogue.reader import open_reader
from pkgharvest.errors import CorruptStore, NoMirror, RecordNotFound
from pkgharvest.records import Kind
from pkgharvest.store.mirror import GroupOrder, SortKey, open_mirror
from tests.mirrorbuilder import (
    MirrorContent,
    link_grids,
    manifest,
    ref,
    seed_content,
    synthetic_grids,
    synthetic_package,
    write_mirror,
)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    content = seed_content()
    content.packages.append(synthetic_package(9001, "Weird Slug/..", stars=None))
    return write_mirror(tmp_path / "m", content)


def test_no_manifest_or_no_packages_is_no_mirror(tmp_path: Path) -> None:
    with pytest.raises(NoMirror, match="run `pkgharvest fetch` first"):
        open_mirror(tmp_path / "absent")
    (tmp_path / "packages").mkdir()
    (tmp_path / "packages" / "x.json").write_text("{}", "utf-8")
    with pytest.raises(NoMirror):  # files but no manifest
        open_mirror(tmp_path)
    empty = write_mirror(tmp_path / "empty", MirrorContent())
    with pytest.raises(NoMirror):
        open_mirror(empty)


def test_newer_format_and_broken_manifest(tmp_path: Path, root: Path) -> None:
    data = json.loads((root / "manifest.json").read_text("utf-8"))
    (root / "manifest.json").write_text(json.dumps({**data, "format_version": 99}), "utf-8")
    with pytest.raises(CorruptStore, match="newer"):
        open_mirror(root)
    (root / "manifest.json").write_text("[1, 2", "utf-8")
    with pytest.raises(CorruptStore, match="manifest"):
        open_mirror(root)


def test_find_by_slug_id_and_case(root: Path) -> None:
    mirror = open_reader(root)
    assert mirror.find(Kind.PACKAGE, "django-hstore")["id"] == 1327
    assert mirror.find(Kind.PACKAGE, "1327")["slug"] == "django-hstore"
    assert mirror.find(Kind.PACKAGE, "Django-HSTORE")["id"] == 1327
    # An unsafe slug lives in _id-9001.json: found by its true slug, never by its file name.
    assert (root / "packages" / "_id-9001.json").is_file()
    assert mirror.find(Kind.PACKAGE, "Weird Slug/..")["id"] == 9001
    with pytest.raises(RecordNotFound):
        mirror.find(Kind.PACKAGE, "_id-9001")
    assert mirror.find(Kind.GRID, "postgresql")["id"] == 161
    assert mirror.find(Kind.CATEGORY, "1")["slug"] == "apps"


def test_find_does_not_trust_a_file_name(root: Path) -> None:
    # A slug's file held by another record (the store's fallback case): the record says.
    hstore = json.loads((root / "packages" / "django-hstore.json").read_text("utf-8"))
    (root / "packages" / "django-hstore.json").write_text(
        json.dumps({**hstore, "id": 5, "slug": "someone-else"}), "utf-8"
    )
    (root / "packages" / "_id-1327.json").write_text(json.dumps(hstore), "utf-8")
    _new_manifest(root)
    assert open_reader(root).find(Kind.PACKAGE, "django-hstore")["id"] == 1327


def _new_manifest(root: Path) -> None:
    """A new run's manifest (files changed by hand are read by the next sync after one)."""
    data = json.loads((root / "manifest.json").read_text("utf-8"))
    data["last_run"] = {**data.get("last_run", {}), "started": "2030-01-01T00:00:00Z"}
    (root / "manifest.json").write_text(json.dumps(data), "utf-8")


def test_not_found_suggests_and_quotes_safely(root: Path) -> None:
    mirror = open_reader(root)
    with pytest.raises(RecordNotFound) as caught:
        mirror.find(Kind.PACKAGE, "django-comments")
    assert str(caught.value).startswith("no package 'django-comments' in the mirror; did you mean")
    assert "'django-comments-xtd'" in str(caught.value)
    with pytest.raises(RecordNotFound) as caught:
        mirror.find(Kind.PACKAGE, "\x1b[2Jx")
    assert "\x1b" not in str(caught.value)  # the user's own escape codes are quoted too


def test_temp_files_and_other_names_are_not_records(root: Path) -> None:
    folder = root / "packages"
    (folder / ".django-hstore.json.a1b2.tmp").write_text("{half", "utf-8")
    (folder / ".hidden.json").write_text("{half", "utf-8")
    (folder / "notes.txt").write_text("hello", "utf-8")
    _new_manifest(root)
    assert open_reader(root).package_count() == 6


def test_corrupt_record_names_its_file(root: Path) -> None:
    bad = root / "packages" / "django-hstore.json"
    for text in ('{"id": 1327', "[]", '{"id": "1327", "slug": "x"}', "\udcff"):
        bad.write_bytes(text.encode("utf-8", "surrogateescape"))
        _new_manifest(root)
        with pytest.raises(CorruptStore) as caught:
            open_reader(root)
        assert str(bad) in str(caught.value) and "\n" not in str(caught.value)


def _ranked(tmp_path: Path, records: list[dict], by: SortKey, reverse: bool = False) -> list:  # type: ignore[type-arg]
    content = seed_content()
    content.packages = records
    root = write_mirror(tmp_path / f"r{by}{reverse}", content)
    return [r["slug"] for r in open_reader(root).ranked(by, reverse=reverse)]


def test_rank_unknown_last_ties_by_slug(tmp_path: Path) -> None:
    records = [
        synthetic_package(1, "b", stars=5),
        synthetic_package(2, "a", stars=5),
        synthetic_package(3, "c", stars=None),
        synthetic_package(4, "d", stars=9),
    ]
    assert _ranked(tmp_path, records, SortKey.STARS) == ["d", "a", "b", "c"]
    assert _ranked(tmp_path, records, SortKey.STARS, reverse=True) == ["a", "b", "d", "c"]
    dated = [
        synthetic_package(1, "old", last_commit="2020-01-01T00:00:00Z"),
        synthetic_package(2, "new", last_commit="2020-01-01T00:00:00.5Z"),  # fractions count
        synthetic_package(3, "never", last_commit=None),
    ]
    assert _ranked(tmp_path, dated, SortKey.LAST_COMMIT) == ["new", "old", "never"]


def test_rank_by_activity_unknown_last_ties_by_slug() -> None:
    busy = [0] * 40 + [3] * 12
    records = [
        synthetic_package(1, "quiet", commits_52w=[0] * 52),
        synthetic_package(2, "b-busy", commits_52w=busy),
        synthetic_package(3, "unknown", commits_52w=None),
        synthetic_package(4, "a-busy", commits_52w=busy),
    ]
    assert [r["slug"] for r in rank_by_activity(records)] == [
        "a-busy",
        "b-busy",
        "quiet",
        "unknown",
    ]
    assert [r["slug"] for r in rank_by_activity(records, reverse=True)] == [
        "quiet",
        "a-busy",
        "b-busy",
        "unknown",
    ]


def test_select_and_summarize(tmp_path: Path) -> None:
    content = seed_content()
    grid = synthetic_grids(1)[0]
    content.grids.append(grid)
    content.packages += [
        synthetic_package(10, "in-grid-a", stars=10, grids=[ref(grid)]),
        synthetic_package(11, "in-grid-b", stars=None, grids=[ref(grid)]),
    ]
    link_grids(content)
    # The grid also lists a package the mirror does not hold: it is not counted.
    grid["packages"].append({"id": 424242, "slug": "gone"})
    root = write_mirror(tmp_path / "m", content, manifest(content))
    reader = open_reader(root)
    selected = reader.ranked(SortKey.STARS, grid=reader.find(Kind.GRID, grid["slug"]))
    assert sorted(p["slug"] for p in selected) == ["in-grid-a", "in-grid-b"]
    summaries = {s.record["slug"]: s for s in reader.group_summaries(Kind.GRID, GroupOrder.NAME)}
    assert summaries[grid["slug"]].package_count == 2
    assert summaries[grid["slug"]].total_stars == 10
    by_stars = reader.group_summaries(Kind.GRID, GroupOrder.STARS)
    assert [s.total_stars for s in by_stars] == sorted(
        (s.total_stars for s in by_stars), reverse=True
    )
    with pytest.raises(RecordNotFound, match="no category 'nope'"):
        reader.find(Kind.CATEGORY, "nope")
