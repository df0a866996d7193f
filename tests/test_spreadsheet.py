"""The CSV export read back by a real spreadsheet: LibreOffice (headless) converts it to xlsx
the way the README tells a user to open it, and openpyxl reads what the spreadsheet made of
each cell: numbers numeric, dates dates, text intact, no formula.

Skipped where LibreOffice (`soffice`) is not installed (.ci/run installs
libreoffice-calc-nogui) or openpyxl is missing (the `test` extra has it).
"""

from __future__ import annotations

import shutil
import subprocess
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from pkgharvest.cli import run
from pkgharvest.formats.fields import CSV_DEFAULT_FIELDS, WEEK_FIELDS
from tests.mirrorbuilder import (
    MirrorContent,
    ref,
    seed_content,
    synthetic_package,
    write_mirror,
)

openpyxl = pytest.importorskip("openpyxl")

SOFFICE = shutil.which("soffice") or shutil.which("libreoffice")
pytestmark = pytest.mark.skipif(SOFFICE is None, reason="LibreOffice (soffice) is not installed")

LIBREOFFICE_UTF8_IMPORT = "CSV:44,34,76,1"
"""The Text Import choices README tells LibreOffice users to make: separator comma (44), text
delimiter `"` (34), character set Unicode UTF-8 (76), from line 1."""

DESCRIPTION = 'Accents é, CJK 日本語, emoji 🚀, a "quote", a comma,\nand a second line.'
FORMULAS = {
    "title": '=HYPERLINK("https://evil.example","click")',
    "pypi_version": "+1.0",
    "repo_description": "@SUM(1+1)",
}
DATE_FIELDS = ("last_commit", "created", "modified", "last_fetched")


@pytest.fixture(scope="module")
def content() -> MirrorContent:
    content = seed_content()
    content.packages.append(
        synthetic_package(
            9500,
            "django-unicode-text",
            title="Ünïcode Tïtle",
            stars=123456,
            forks=7,
            commits_52w=list(range(52)),
            last_commit="2026-02-02T00:18:21.737467Z",
            repo_description=DESCRIPTION,
            category=ref(content.categories[0]),
        )
    )
    content.packages.append(
        synthetic_package(9501, "django-formula-text", stars=1, **FORMULAS)  # type: ignore[arg-type]
    )
    return content


@pytest.fixture(scope="module")
def sheets(
    content: MirrorContent, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, list[tuple[Any, ...]]]:
    """Three exports (default, --bom, --date-format iso) converted by one LibreOffice run;
    each as its rows of openpyxl cells."""
    work = tmp_path_factory.mktemp("spreadsheet")
    mirror = write_mirror(work / "mirror", content)
    variants = {"plain": (), "bom": ("--bom",), "iso": ("--date-format", "iso")}
    for name, extra in variants.items():
        args = ["export", "-o", str(work / f"{name}.csv"), "--data-dir", str(mirror), *extra]
        assert run(args) == 0
    converted = work / "xlsx"
    subprocess.run(
        [
            str(SOFFICE),
            f"-env:UserInstallation={(work / 'profile').as_uri()}",  # private: runs may overlap
            "--headless",
            "--convert-to",
            "xlsx",
            f"--infilter={LIBREOFFICE_UTF8_IMPORT}",
            "--outdir",
            str(converted),
            *(str(work / f"{name}.csv") for name in variants),
        ],
        check=True,
        capture_output=True,
        timeout=180,
    )
    return {
        name: list(openpyxl.load_workbook(converted / f"{name}.xlsx").active.iter_rows())
        for name in variants
    }


def _by_slug(rows: list[tuple[Any, ...]]) -> dict[str, dict[str, Any]]:
    header = [cell.value for cell in rows[0]]
    return {row[1].value: dict(zip(header, row, strict=True)) for row in rows[1:]}


def test_every_row_and_column_arrives(sheets, content: MirrorContent) -> None:
    rows = sheets["plain"]
    assert [cell.value for cell in rows[0]] == list(CSV_DEFAULT_FIELDS)
    assert len(rows) == len(content.packages) + 1


def test_numbers_are_numbers(sheets, content: MirrorContent) -> None:
    cells = _by_slug(sheets["plain"])
    for package in content.packages:
        row = cells[package["slug"]]
        for name in ("id", "stars", "forks"):
            assert row[name].data_type == "n" and row[name].value == package[name], name
        weeks = package["commits_52w"]
        if weeks is not None:
            assert [row[w].value for w in WEEK_FIELDS] == weeks
            assert all(row[w].data_type == "n" for w in WEEK_FIELDS)


def test_dates_are_dates_in_utc(sheets, content: MirrorContent) -> None:
    cells = _by_slug(sheets["plain"])
    checked = 0
    for package in content.packages:
        for name in DATE_FIELDS:
            stored = package[name]
            cell = cells[package["slug"]][name]
            if stored is None:
                assert cell.value is None
                continue
            assert cell.is_date, (package["slug"], name, cell.value)
            expected = datetime.fromisoformat(stored.replace("Z", "+00:00"))
            assert cell.value == expected.replace(tzinfo=None, microsecond=0)
            checked += 1
    assert checked >= 20


def test_iso_dates_stay_text(sheets, content: MirrorContent) -> None:
    cells = _by_slug(sheets["iso"])
    unicode_row = cells["django-unicode-text"]
    assert unicode_row["last_commit"].value == "2026-02-02T00:18:21.737467Z"
    assert not unicode_row["last_commit"].is_date


def test_text_is_intact(sheets) -> None:
    row = _by_slug(sheets["plain"])["django-unicode-text"]
    assert row["repo_description"].value == DESCRIPTION
    assert row["title"].value == "Ünïcode Tïtle"


def test_no_formula_survives(sheets) -> None:
    for name, rows in sheets.items():
        formulas = [cell.coordinate for row in rows for cell in row if cell.data_type == "f"]
        assert formulas == [], name
    row = _by_slug(sheets["plain"])["django-formula-text"]
    for field, text in FORMULAS.items():
        assert row[field].data_type == "s" and row[field].value == "'" + text


def test_bom_is_not_a_character_in_the_first_cell(sheets) -> None:
    """With the UTF-8 choice, LibreOffice takes the byte order mark as one: `id`, not `ï»¿id`."""
    assert sheets["bom"][0][0].value == "id"
    assert [[c.value for c in row] for row in sheets["bom"]] == [
        [c.value for c in row] for row in sheets["plain"]
    ]


SPACED_FORMULAS = {
    "title": "x =1000+18",  # computed by LibreOffice opened with Space as the separator
    "repo_description": "sum: =SUM(1,2) and x|=1+1 / -cmd|' /C calc'!A0",
}


def test_opened_with_a_space_as_the_separator_no_formula_survives(
    content: MirrorContent, tmp_path: Path
) -> None:
    """Issue 20 item 13: the Text Import's Space separator splits `x =1000+18` into `x` and
    `=1000+18`; every piece must stay text. (`;`, TAB, `|`, `:`, `/`: tests/test_export_safety.py
    in the slow suite.)"""
    spaced = MirrorContent(
        [*content.packages, synthetic_package(9502, "django-spaced", stars=2, **SPACED_FORMULAS)],  # type: ignore[arg-type]
        content.grids,
        content.categories,
    )
    mirror = write_mirror(tmp_path / "mirror", spaced)
    source = tmp_path / "spaced.csv"
    assert run(["export", "-o", str(source), "--data-dir", str(mirror)]) == 0
    subprocess.run(
        [
            str(SOFFICE),
            f"-env:UserInstallation={(tmp_path / 'profile').as_uri()}",
            "--headless",
            "--convert-to",
            "xlsx",
            "--infilter=CSV:32,34,76,1",  # separator space, text delimiter ", UTF-8, line 1
            "--outdir",
            str(tmp_path / "xlsx"),
            str(source),
        ],
        check=True,
        capture_output=True,
        timeout=180,
    )
    rows = list(openpyxl.load_workbook(tmp_path / "xlsx" / "spaced.xlsx").active.iter_rows())
    formulas = [cell.value for row in rows for cell in row if cell.data_type == "f"]
    assert formulas == []
    texts = [cell.value for row in rows for cell in row if isinstance(cell.value, str)]
    assert any(text.startswith("'=1000+18") for text in texts)  # the piece arrives, as text
