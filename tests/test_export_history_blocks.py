"""`export --history` a package at a time (issue 19's read speed): the database writes the
numbers and the Python side works out each run of equal text once, and the output is byte for
byte what the row-by-row writer (`write_history` over `observation_rows`, still the path for a
terminal) makes of the same database: hostile text, planted values, releases and rollbacks in
the window, removed packages, every format and date form. A value of the wrong type is the
same damage either way."""

from __future__ import annotations

import io
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from pkgharvest.catalogue import CATALOGUE_NAME, reports
from pkgharvest.catalogue.values import checked_row
from pkgharvest.cli import run
from pkgharvest.formats import DateFormat, ExportFormat
from pkgharvest.formats.writers import history_null, write_history, write_history_blocks
from tests.test_catalogue_runs import two_runs

Cap = pytest.CaptureFixture[str]

XTD, REGISTRATION, HSTORE = 1083, 4100, 1327

# (package, observed_at, stars, forks, commits_52w_total, pypi_version, last_commit)
PLANTED: list[tuple[Any, ...]] = [
    # Releases, a version that goes back, and every kind of text a cell must guard or quote.
    (XTD, "2026-02-24T00:00:00Z", 700, 10, 5, "=cmd|' /C calc'!A0", "2026-02-20T10:00:00Z"),
    (XTD, "2026-02-24T06:00:00Z", 701, None, None, 'a,b"c', "2026-02-20T10:00:00+05:00"),
    (XTD, "2026-02-24T07:00:00Z", 702, 1, 1, "1.0\r\nx", "0999-01-01T00:00:00Z"),
    (XTD, "2026-02-24T08:00:00Z", 703, 1, 1, "v%s%d%%", "2026-02-30T00:00:00Z"),
    (XTD, "2026-02-24T09:00:00Z", 704, -1, 0, "x\x00y\x1b[31m\u202e", None),
    (XTD, "2026-02-24T10:00:00Z", 705, 1, 1, " =1", "2026-02-24T10:00:00Z"),
    (XTD, "2026-02-24T11:00:00Z", 706, 1, 1, "=cmd|' /C calc'!A0", "2026-02-20T10:00:00Z"),
    (XTD, "2026-02-24T12:00:00Z", None, None, None, None, "not a date; =2+2"),
    (XTD, "2026-02-24T13:00:00Z", 2**62, 0, 0, "", "2026-02-24T13:00:00.123456Z"),
    # A time that is not the database's own: that package is written row by row.
    (REGISTRATION, "=1+1", 1, None, None, "@SUM(A1)", None),
    (REGISTRATION, "2026-02-24T00:00:00", 2, None, None, "1.0", None),
    # A removed package, under the slug it had.
    (777, "2026-01-01T00:00:00Z", 3, 0, 0, "1.0", None),
    (777, "2026-02-25T00:00:00Z", 4, 0, 0, "1.1", "2026-02-25T00:00:00Z"),
    (778, "2026-02-25T00:00:00Z", 5, 0, 0, "1.1", None),
]


@pytest.fixture
def history(tmp_path: Path) -> Path:
    data = two_runs(tmp_path)
    with sqlite3.connect(data / CATALOGUE_NAME) as conn:
        conn.execute(
            "INSERT INTO runs (id, started, recorded) VALUES (99, '2026-02-24T00:00:00Z', 'x')"
        )
        conn.executemany(
            "INSERT INTO changes (run_id, change, kind, record_id, slug)"
            " VALUES (99, 'removed', 'packages', ?, ?)",
            [(777, '-gone%s, "quoted"'), (778, "django-comments-xtd")],
        )
        conn.executemany(
            "INSERT INTO observations (package_id, observed_at, stars, forks, commits_52w_total,"
            " pypi_version, last_commit) VALUES (?, ?, ?, ?, ?, ?, ?)",
            PLANTED,
        )
        # A slug a %-format and the formula guard must both leave alone.
        conn.execute("UPDATE packages SET slug = '+django-%s-hstore' WHERE id = ?", (HSTORE,))
    return data


def _exported(data: Path, write: Callable[[sqlite3.Connection, io.StringIO], object]) -> str:
    """What `write` makes of the folder's database, read as the read path reads it."""
    conn = sqlite3.connect(f"file:{data / CATALOGUE_NAME}?mode=ro", uri=True)
    conn.row_factory = checked_row
    try:
        out = io.StringIO(newline="")
        write(conn, out)
        return out.getvalue()
    finally:
        conn.close()


def row_by_row(
    data: Path, since: datetime | None, export_format: ExportFormat, **options: Any
) -> str:
    """What the row-by-row writer makes of the folder's database."""
    return _exported(
        data,
        lambda conn, out: write_history(
            reports.observation_rows(conn, since), export_format, out, **options
        ),
    )


def a_package_at_a_time(
    data: Path, since: datetime | None, export_format: ExportFormat, **options: Any
) -> str:
    return _exported(
        data,
        lambda conn, out: write_history_blocks(
            reports.observation_blocks(conn, since, history_null(export_format)),
            export_format,
            out,
            **options,
        ),
    )


CASES = [
    ("csv", "spreadsheet", False),
    ("csv", "spreadsheet", True),
    ("csv", "iso", False),
    ("jsonl", "spreadsheet", False),
    ("json", "spreadsheet", False),
]


@pytest.mark.parametrize("since", [None, "2026-02-22"])
@pytest.mark.parametrize(("export_format", "dates", "bom"), CASES)
def test_the_export_is_byte_for_byte_the_row_by_row_one(
    capsys: Cap, history: Path, export_format: str, dates: str, bom: bool, since: str | None
) -> None:
    argv = ["export", "--history", "--format", export_format, "--data-dir", str(history)]
    if export_format == "csv":
        argv += ["--date-format", dates, *(["--bom"] if bom else [])]
    if since is not None:
        argv += ["--since", since]
    output = history.parent / "out"
    capsys.readouterr()
    assert run([*argv, "--output", str(output)]) == 0, capsys.readouterr().err
    start = datetime.fromisoformat(since).replace(tzinfo=UTC) if since is not None else None
    options: dict[str, Any] = {}
    if export_format == "csv":
        options = {"bom": bom, "date_format": DateFormat(dates)}
    expected = row_by_row(history, start, ExportFormat(export_format), **options)
    written = output.read_bytes().decode("utf-8")
    assert written == expected
    assert a_package_at_a_time(history, start, ExportFormat(export_format), **options) == expected
    # The cases are there: a release, a version gone back, a removed package, a planted time.
    if export_format == "csv" and dates == "spreadsheet" and since is None:
        assert "\r\n+django-%s-hstore," not in written  # the guard: a leading ' before +
        assert "'+django-%s-hstore," in written
        assert '"\'-gone%s, ""quoted""",2026-01-01 00:00:00,3,0,0,1.0,' in written
        assert "django-rest-registration,'=1+1,1,,,'@SUM(A1)," in written
        # Last commits through the spreadsheet's date form as the row-by-row writer takes
        # them: a year before 1000 and an offset converted, a day that does not exist kept.
        assert ",999-01-01 00:00:00\r\n" in written and ",2026-02-20 05:00:00\r\n" in written
        assert ",2026-02-30T00:00:00Z\r\n" in written and ",2026-02-24 13:00:00\r\n" in written


def test_an_empty_window_is_the_header_or_an_empty_array(history: Path) -> None:
    with sqlite3.connect(history / CATALOGUE_NAME) as conn:  # "=1+1" sorts after any date
        conn.execute("DELETE FROM observations WHERE observed_at = '=1+1'")
    late = datetime(2030, 1, 1, tzinfo=UTC)
    for export_format in ExportFormat:
        expected = row_by_row(history, late, export_format)
        assert a_package_at_a_time(history, late, export_format) == expected
    assert a_package_at_a_time(history, late, ExportFormat.JSON) == "[]\n"


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("stars", "'many'"),
        ("forks", "5.5"),
        ("commits_52w_total", "x'3130'"),
        ("observed_at", "CAST('2026-02-26T00:00:00Z' AS BLOB)"),
        ("pypi_version", "x'312e30'"),
        ("last_commit", "x'00'"),
    ],
)
def test_a_value_of_the_wrong_type_is_the_same_damage(
    history: Path, column: str, value: str
) -> None:
    """The read path's row factory refuses these (the command then repairs the database); the
    checks the database makes for the fast read refuse the same, with the same error."""
    with sqlite3.connect(history / CATALOGUE_NAME) as conn:
        conn.execute(
            f"UPDATE observations SET {column} = {value}"
            " WHERE package_id = ? AND observed_at = '2026-02-24T06:00:00Z'",
            (XTD,),
        )
    for export_format in (ExportFormat.CSV, ExportFormat.JSONL):
        with pytest.raises(sqlite3.DataError) as old:
            row_by_row(history, None, export_format)
        with pytest.raises(sqlite3.DataError) as new:
            a_package_at_a_time(history, None, export_format)
        assert str(new.value) == str(old.value) == f"a value of the wrong type in column {column}"


def test_the_command_repairs_a_database_with_a_wrong_type(capsys: Cap, history: Path) -> None:
    with sqlite3.connect(history / CATALOGUE_NAME) as conn:
        conn.execute("UPDATE observations SET stars = 'many' WHERE package_id = ?", (XTD,))
    capsys.readouterr()
    assert run(["export", "--history", "--data-dir", str(history)]) == 0
    out, err = capsys.readouterr()
    assert "moved aside as catalogue.db.corrupt and rebuilt" in err
    assert out.startswith("slug,observed_at,") and "many" not in out
