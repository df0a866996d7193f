"""The catalogue sync reads and applies record files a chunk at a time, in the order the store's
index hints (catalogue/write.py): the database it leaves must not depend on either.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from pkgharvest.catalogue import CATALOGUE_NAME, write
from pkgharvest.catalogue.history import calendar_weeks
from pkgharvest.store.index import INDEX_NAME
from tests.test_catalogue import Mirror, fetched

QUERIES = {
    table: f"SELECT * FROM {table}"
    for table in ("packages", "grid_packages", "observations", "weekly_commits", "changes", "runs")
}
QUERIES["record_files"] = "SELECT kind, name, record_id FROM record_files"  # not the inodes


def _three_runs(root: Path, index_text: str | None) -> dict[str, list[tuple[Any, ...]]]:
    """Three runs of a mirror: a baseline, one where much changes (renames, removals, new
    packages, releases), one with nothing re-measured; then every table, sorted."""
    mirror = Mirror(root)

    def index() -> None:
        if index_text is not None:
            (root / INDEX_NAME).write_text(index_text, "utf-8")

    for package_id in range(1, 12):
        mirror.put(
            package_id,
            f"pkg-{package_id:02d}",
            stars=package_id,
            pypi_version="1.0",
            commits_52w=[package_id % 3] * 52,
            last_fetched=fetched(1),
        )
    index()
    mirror.commit()
    for package_id in range(1, 12, 2):
        mirror.put(
            package_id,
            f"pkg-{package_id:02d}",
            stars=100 + package_id,
            pypi_version="1.1",
            commits_52w=[0] * 52,
            last_fetched=fetched(2),
        )
    mirror.put(4, "renamed-four", stars=4, last_fetched=fetched(2))
    mirror.remove(6)
    mirror.remove(8)
    mirror.put(20, "pkg-20", stars=1, last_fetched=fetched(2))
    index()
    mirror.commit()
    index()
    mirror.commit()
    with sqlite3.connect(root / CATALOGUE_NAME) as conn:
        return {table: sorted(conn.execute(sql)) for table, sql in QUERIES.items()}


# Hints that order files backwards, name the wrong ids, or are not an index at all.
WRONG_INDEXES = (
    '{"format": 2, "packages": {'
    + ", ".join(f'"pkg-{n:02d}.json": "{100 - n} 1 2 3 x"' for n in range(1, 21))
    + "}}",
    '{"format": 2, "packages": {"pkg-03.json": "not an id", "pkg-05.json": 7}}',
    "not json",
)


@pytest.mark.parametrize("index_text", WRONG_INDEXES)
def test_chunks_and_order_leave_the_same_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, index_text: str
) -> None:
    expected = _three_runs(tmp_path / "whole", None)
    monkeypatch.setattr(write, "SYNC_BATCH", 2)  # chunk boundaries between renames and removals
    assert _three_runs(tmp_path / "chunked", index_text) == expected
    assert len(expected["changes"]) >= 10  # the runs did change things
    assert len(expected["observations"]) > 11


@pytest.mark.parametrize("json_each", [True, False], ids=["sqlite-json", "python"])
def test_a_first_window_is_filed_under_its_mondays(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, json_each: bool
) -> None:
    """SQLite files a new window's weeks (date arithmetic on Julian days) exactly where
    history.calendar_weeks does, at the edges of the calendar too; so does the fallback for a
    SQLite without JSON functions."""
    if json_each:
        assert write.has_json_each()  # this machine's SQLite: the path a fetch takes
    else:
        monkeypatch.setattr(write, "has_json_each", lambda: False)
    mirror = Mirror(tmp_path / "m")
    moments = {
        1: "0002-01-15T00:00:00Z",
        2: "2024-02-29T23:59:59Z",  # a leap day, the last second of it
        3: "2026-05-25T00:00:00+02:00",  # Sunday in UTC: the week before
        4: "9998-12-20T12:00:00Z",
    }
    for package_id, moment in moments.items():
        counts = [(package_id * 13 + week) % 7 for week in range(52)]
        mirror.put(package_id, f"p{package_id}", commits_52w=counts, last_fetched=moment)
    mirror.commit()
    for package_id, moment in moments.items():
        counts = [(package_id * 13 + week) % 7 for week in range(52)]
        expected = [
            (week.isoformat(), count)
            for week, count in calendar_weeks(counts, datetime.fromisoformat(moment))
        ]
        stored = mirror.query(
            "SELECT week_start, commits FROM weekly_commits WHERE package_id = ?"
            " ORDER BY week_start",
            package_id,
        )
        assert stored == expected


def _records_of_every_shape() -> list[tuple[write.Kind, dict[str, Any]]]:
    """Well-formed records of each kind, then each field set to values of the wrong type,
    and removed (a hand-edited file)."""
    from tests.test_catalogue import synthetic_package

    good: list[tuple[write.Kind, dict[str, Any]]] = [
        (write.Kind.PACKAGE, synthetic_package(1, "alpha", commits_52w=[0] * 52)),
        (write.Kind.PACKAGE, synthetic_package(2, "beta", commits_52w=[3] * 52, stars=None)),
        (
            write.Kind.GRID,
            {
                **dict.fromkeys(write.COLUMNS[write.Kind.GRID]),
                **{"id": 7, "slug": "g", "is_locked": True, "header": False, "packages": []},
            },
        ),
        (
            write.Kind.CATEGORY,
            {**dict.fromkeys(write.COLUMNS[write.Kind.CATEGORY]), "id": 3, "slug": "c"},
        ),
    ]
    wrong: tuple[object, ...] = (True, 0, 2.5, "text", [0.0] * 52, [False] * 52, {"a": 1})
    shapes = list(good)
    for kind, record in good:
        for name in write.COLUMNS[kind]:
            if name == "id":
                continue
            shapes += [(kind, {**record, name: value}) for value in wrong]
            shapes.append((kind, {k: v for k, v in record.items() if k != name}))
    return shapes


def test_rows_hold_each_field_as_its_column_stores_it() -> None:
    """The sync's row of a record (checked a kind of column at a time) is the record's
    fields one by one through column_value, the documented storage rules (a package's total
    is the sum of its counts where the record has none)."""
    shapes = _records_of_every_shape()
    total = write.COLUMNS[write.Kind.PACKAGE].index("commits_52w_total")
    for kind, record in shapes:
        expected = [write.column_value(name, record.get(name)) for name in write.COLUMNS[kind]]
        if kind is write.Kind.PACKAGE:
            if expected[total] is None:
                expected[total] = write.package_total(record)
            expected.append(write.category_id(record))
        row = write._row(kind, record)
        assert row == expected, record
        assert list(map(type, row)) == list(map(type, expected)), record  # 1, never True
    assert len(shapes) > 300
