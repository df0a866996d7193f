"""`pkgharvest export`: CSV read back field for field, spreadsheet safety, JSON, atomic files."""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

import pytest

from pkgharvest.formats.fields import CSV_DEFAULT_FIELDS, WEEK_FIELDS
from pkgharvest.formats.writers import CsvExporter, neutralize
from pkgharvest.records import PACKAGE_FIELDS
from tests.mirrorbuilder import (
    HOSTILE_DESCRIPTION,
    MirrorContent,
    ref,
    run_cli,
    seed_content,
    synthetic_package,
    write_mirror,
)

TRICKY = 'commas, "quotes", and\na newline\r\nand CRLF; semicolons too'


@pytest.fixture
def content() -> MirrorContent:
    seeds = seed_content()
    seeds.packages += [
        synthetic_package(
            9001,
            "django-tricky",
            title="Tricky, Inc.",
            repo_description=TRICKY,
            stars=12345,
            commits_52w=None,
            category=ref(seeds.categories[1]),
        ),
        synthetic_package(
            9002,
            "Evil/../Pkg",
            title='=HYPERLINK("http://evil")',
            repo_description=HOSTILE_DESCRIPTION,
            stars=-5,
            forks=0,
        ),
    ]
    return seeds


@pytest.fixture
def mirror(tmp_path: Path, content: MirrorContent) -> Path:
    return write_mirror(tmp_path / "mirror", content)


def read_csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


def export(monkeypatch, capsys, mirror: Path, *args: str) -> str:
    result = run_cli(monkeypatch, capsys, "export", "--data-dir", str(mirror), *args)
    assert result.code == 0, result.err
    return result.out


def test_csv_round_trips_every_seed_field_for_field(monkeypatch, capsys, mirror, content) -> None:
    rows = read_csv(export(monkeypatch, capsys, mirror))
    assert list(rows[0]) == list(CSV_DEFAULT_FIELDS)
    assert [row["slug"] for row in rows] == sorted(p["slug"] for p in content.packages)
    by_slug = {row["slug"]: row for row in rows}
    for package in content.packages[:5]:  # the seeds
        row = by_slug[package["slug"]]
        for name in ("id", "stars", "forks", "commits_52w_total"):
            assert row[name] == str(package[name]), name
        for name in (
            "title",
            "pypi_version",
            "repo_url",
            "repo_description",
            "documentation_url",
            "pypi_url",
        ):
            assert row[name] == (package[name] or ""), name
        for name in ("last_commit", "created", "modified", "last_fetched"):
            # UTC, to the second, in the form spreadsheets read as a date and time.
            stored = package[name] or ""
            assert row[name] == stored[:19].replace("T", " "), name
        assert row["category"] == package["category"]["slug"]
        assert row["grids"] == ";".join(g["slug"] for g in package["grids"])
        assert [int(row[w]) for w in WEEK_FIELDS] == package["commits_52w"]
    hstore = by_slug["django-hstore"]
    assert hstore["grids"] == "postgresql;model-fields"  # the API's order, joined by ";"
    assert hstore["last_commit"] == "2017-03-02 08:57:56"  # UTC (the API sent 03:57:56-05:00)


def test_date_format_iso_keeps_the_stored_text(monkeypatch, capsys, mirror, content) -> None:
    rows = read_csv(export(monkeypatch, capsys, mirror, "--date-format", "iso"))
    by_slug = {row["slug"]: row for row in rows}
    for package in content.packages:
        for name in ("last_commit", "created", "modified", "last_fetched"):
            assert by_slug[package["slug"]][name] == (package[name] or ""), name
    jsonl = run_cli(
        monkeypatch,
        capsys,
        "export",
        "--format",
        "jsonl",
        "--date-format",
        "iso",
        "--data-dir",
        str(mirror),
    )
    assert jsonl.code == 2 and "--date-format applies to CSV only" in jsonl.err


def test_csv_keeps_commas_quotes_newlines_and_unknown_weeks(monkeypatch, capsys, mirror) -> None:
    out = export(monkeypatch, capsys, mirror)
    assert out.endswith("\r\n") and "\r\n" in out.split(TRICKY[:6])[0]  # RFC 4180 CRLF rows
    tricky = next(row for row in read_csv(out) if row["slug"] == "django-tricky")
    assert tricky["repo_description"] == TRICKY
    assert tricky["title"] == "Tricky, Inc."
    assert tricky["stars"] == "12345"  # no thousands separator in data
    assert tricky["category"] == "frameworks"
    assert tricky["commits_52w_total"] == "" and all(tricky[w] == "" for w in WEEK_FIELDS)


@pytest.mark.parametrize("trigger", ["=", "+", "-", "@", "\t", "\r"])
def test_formula_cells_are_neutralized(monkeypatch, capsys, tmp_path: Path, trigger) -> None:
    text = f"{trigger}1+cmd|' /C calc'!A0"
    package = synthetic_package(
        1,
        "pkg",
        title=text,
        repo_description=text,
        pypi_version=trigger + "2",
        stars=-3,
        forks=7,
    )
    root = write_mirror(tmp_path / "m", MirrorContent([package]))
    (row,) = read_csv(export(monkeypatch, capsys, root))
    assert row["title"] == "'" + text
    assert row["repo_description"] == "'" + text
    assert row["pypi_version"] == "'" + trigger + "2"
    assert row["stars"] == "-3"  # a negative number is a number, not a formula
    assert row["forks"] == "7"


def test_neutralize_leaves_safe_text_alone() -> None:
    assert neutralize("django") == "django"
    assert neutralize("a - b, c") == "a - b, c"  # a trigger inside text is not a cell start
    assert CsvExporter(["stars", "title"]).row({"stars": -1, "title": "-1"}) == [-1, "'-1"]


def test_bom_only_when_asked(monkeypatch, capsys, mirror: Path, tmp_path: Path) -> None:
    plain, excel = tmp_path / "plain.csv", tmp_path / "excel.csv"
    export(monkeypatch, capsys, mirror, "--output", str(plain))
    export(monkeypatch, capsys, mirror, "--output", str(excel), "--bom")
    assert not plain.read_bytes().startswith(b"\xef\xbb\xbf")
    assert excel.read_bytes() == b"\xef\xbb\xbf" + plain.read_bytes()
    rows = read_csv(excel.read_text("utf-8-sig"))
    assert rows[0]["slug"] == "Evil/../Pkg"
    bad = run_cli(
        monkeypatch, capsys, "export", "--format", "json", "--bom", "--data-dir", str(mirror)
    )
    assert bad.code == 2 and "CSV only" in bad.err


def test_output_file_matches_stdout(monkeypatch, capsys, mirror: Path, tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    stdout = export(monkeypatch, capsys, mirror)
    assert export(monkeypatch, capsys, mirror, "-o", str(target)) == ""
    assert target.read_bytes() == stdout.encode("utf-8")
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_fields_choose_and_order_columns(monkeypatch, capsys, mirror: Path) -> None:
    out = export(monkeypatch, capsys, mirror, "--fields", "stars,slug,commits_52w,weeks")
    rows = read_csv(out)
    assert list(rows[0]) == ["stars", "slug", "commits_52w", *WEEK_FIELDS]
    xtd = next(row for row in rows if row["slug"] == "django-comments-xtd")
    weeks = [int(n) for n in xtd["commits_52w"].split(";")]
    assert len(weeks) == 52 and weeks == [int(xtd[w]) for w in WEEK_FIELDS]
    bad = run_cli(monkeypatch, capsys, "export", "--fields", "slug,star", "--data-dir", str(mirror))
    assert bad.code == 2 and "unknown field 'star'" in bad.err and "stars" in bad.err


def test_filters(monkeypatch, capsys, mirror: Path) -> None:
    in_grid = read_csv(export(monkeypatch, capsys, mirror, "--grid", "postgresql"))
    assert [row["slug"] for row in in_grid] == ["django-hstore"]
    in_category = read_csv(export(monkeypatch, capsys, mirror, "--category", "frameworks"))
    assert [row["slug"] for row in in_category] == ["django-tricky"]


def test_jsonl_and_json_keep_records_as_stored(monkeypatch, capsys, mirror: Path) -> None:
    stored = {
        record["slug"]: record
        for record in (
            json.loads(path.read_text("utf-8")) for path in (mirror / "packages").iterdir()
        )
    }
    lines = export(monkeypatch, capsys, mirror, "--format", "jsonl").splitlines()
    assert len(lines) == len(stored)
    from_lines = [json.loads(line) for line in lines]
    assert {r["slug"]: r for r in from_lines} == stored
    assert list(from_lines[0]) == list(PACKAGE_FIELDS)
    as_array = json.loads(export(monkeypatch, capsys, mirror, "--format", "json"))
    assert as_array == from_lines
    evil = stored["Evil/../Pkg"]
    assert evil["repo_description"] == HOSTILE_DESCRIPTION  # text exported exactly as sent


def test_json_output_cannot_drive_a_terminal(monkeypatch, capsys, mirror: Path) -> None:
    for args in (("--format", "jsonl"), ("--format", "json")):
        out = export(monkeypatch, capsys, mirror, *args)
        for char in "\x1b\x07\x9b\u202e\u2066\r":
            assert char not in out
        assert "\\u202e" in out and "\\u001b" in out  # escaped, so the data is intact


def test_unwritable_output_is_one_line_and_exit_73(monkeypatch, capsys, mirror, tmp_path) -> None:
    missing = tmp_path / "no" / "such" / "dir" / "out.csv"
    result = run_cli(monkeypatch, capsys, "export", "-o", str(missing), "--data-dir", str(mirror))
    assert result.code == 73
    assert result.err.startswith(f"pkgharvest: error: cannot write {missing}")
    assert len(result.err.strip().splitlines()) == 1


@pytest.mark.skipif(
    os.geteuid() == 0 if hasattr(os, "geteuid") else True, reason="root can write anywhere"
)
def test_read_only_folder(monkeypatch, capsys, mirror: Path, tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        result = run_cli(
            monkeypatch, capsys, "export", "-o", str(folder / "x.csv"), "--data-dir", str(mirror)
        )
        assert result.code == 73
    finally:
        folder.chmod(0o700)


def test_failed_export_leaves_the_old_file(monkeypatch, capsys, mirror, tmp_path) -> None:
    target = tmp_path / "keep.csv"
    target.write_text("old contents\n", "utf-8")

    def explode(self, record):  # a failure half-way through the rows
        if record["slug"] == "django-hstore":
            raise OSError(28, "No space left on device")
        return original(self, record)

    original = CsvExporter.row
    monkeypatch.setattr(CsvExporter, "row", explode)
    result = run_cli(monkeypatch, capsys, "export", "-o", str(target), "--data-dir", str(mirror))
    assert result.code == 73 and "No space left on device" in result.err
    assert target.read_text("utf-8") == "old contents\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.csv", "mirror"]


def test_new_file_gets_normal_permissions(monkeypatch, capsys, mirror, tmp_path) -> None:
    target = tmp_path / "perm.csv"
    old_umask = os.umask(0o022)
    try:
        export(monkeypatch, capsys, mirror, "-o", str(target))
    finally:
        os.umask(old_umask)
    assert target.stat().st_mode & 0o777 == 0o644
