"""Output a user or a script relies on (issue 7, items 16, 17, 18): spreadsheet formulas
whatever the separator, API text on a real terminal, and a full disk or stdout."""

from __future__ import annotations

import csv
import io
import random
import re
from pathlib import Path

import pytest

from pkgharvest.formats.writers import neutralize
from tests.mirrorbuilder import MirrorContent, ref, run_cli, synthetic_package, write_mirror

MP = pytest.MonkeyPatch
Cap = pytest.CaptureFixture[str]

# --- item 17: no formula, whatever separator the spreadsheet picks --------------------------

ATTACKS = [
    "x;=1000+8",  # LibreOffice with ";" as the separator evaluated this
    "x\t=1000+9",  # ... and this with TAB
    "a,=1+1",
    "a, =1+1",
    "a;  @SUM(1,2)",
    'a;"=1+1"',
    '"=1+1',
    "a\n=1+1",
    "a\r\n-1+1",
    "a\r+1+1",
    "a;;;=1",
    ' =HYPERLINK("http://evil")',
    "\t=1",
    "=1",
    "plain; text, with - dashes and + signs @ home",
]
"""Text that a spreadsheet could split into a cell starting with a formula trigger."""

_FUZZ_ALPHABET = [",", ";", "\t", '"', "\n", "\r", " ", "=", "+", "-", "@", "a", "1", "'"]
_NUMBER = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?")

SEPARATORS = {"comma": ",", "semicolon": ";", "tab": "\t"}


def fuzz_texts(count: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    return [
        "".join(rng.choice(_FUZZ_ALPHABET) for _ in range(rng.randint(1, 14))) for _ in range(count)
    ]


def hostile_mirror(root: Path, texts: list[str]) -> Path:
    """Packages whose every text column (and grid and category slug) holds an attack."""
    categories = [
        {"id": 1, "slug": ";=2+2", "title": "x", "title_plural": None, "description": None}
    ]
    grids = [{"id": 7, "slug": "ok;-3+3", "title": "g", "packages": []}]
    packages = [
        synthetic_package(
            index + 1,
            f"pkg-{index}",
            title=text,
            repo_description=text[::-1],
            pypi_version=text,
            repo_url=text,
            documentation_url=text,
            category=ref(categories[0]),
            grids=[ref(grids[0]), {"id": 8, "slug": text, "title": None}],
            participants=[text, "@admin"],
            extra={"note": text},
            stars=-index,  # negative numbers are numbers, never neutralized
        )
        for index, text in enumerate(texts)
    ]
    return write_mirror(root, MirrorContent(packages, [], []))


def formula_cells(data: str, delimiter: str, quoting: int) -> list[str]:
    """Cells that a spreadsheet reading `data` with this separator could take for a formula:
    a trigger first (after any spaces or quotes), and not a plain number."""
    reader = csv.reader(io.StringIO(data, newline=""), delimiter=delimiter, quoting=quoting)
    bad = []
    for row in reader:
        for cell in row:
            start = cell.lstrip(' "\t\r\n')
            if start.startswith(("=", "+", "-", "@")) and not _NUMBER.fullmatch(start):
                bad.append(cell)
    return bad


@pytest.fixture(scope="module")
def hostile_exports(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """The CSV export of the hostile mirror, default columns and every text column."""
    from pkgharvest.cli import run

    folder = tmp_path_factory.mktemp("hostile")
    root = hostile_mirror(folder / "mirror", ATTACKS + fuzz_texts(400))
    fields = "id,title,category,grids,stars,pypi_version,repo_url,repo_description,"
    fields += "documentation_url,participants,extra,weeks"
    exports = []
    for index, args in enumerate(((), ("--fields", fields))):
        output = folder / f"out{index}.csv"
        assert run(["export", "-o", str(output), "--data-dir", str(root), *args]) == 0
        exports.append(output.read_text("utf-8"))
    return exports


@pytest.mark.parametrize("separator", SEPARATORS)
@pytest.mark.parametrize("quotes", ["quotes honoured", "no string delimiter"])
def test_no_cell_is_a_formula_whatever_the_separator(
    hostile_exports: list[str], separator: str, quotes: str
) -> None:
    quoting = csv.QUOTE_MINIMAL if quotes == "quotes honoured" else csv.QUOTE_NONE
    for data in hostile_exports:
        assert formula_cells(data, SEPARATORS[separator], quoting) == []


def test_read_with_commas_the_text_is_kept_but_for_the_apostrophes(
    monkeypatch: MP, capsys: Cap, tmp_path: Path
) -> None:
    root = hostile_mirror(tmp_path / "mirror", ATTACKS)
    result = run_cli(monkeypatch, capsys, "export", "--data-dir", str(root))
    rows = list(csv.DictReader(io.StringIO(result.out, newline="")))
    by_slug = {row["slug"]: row for row in rows}
    for index, text in enumerate(ATTACKS):
        row = by_slug[f"pkg-{index}"]
        assert row["title"] == neutralize(text)
        assert row["title"].replace("'", "") == text.replace("'", "")  # only `'` added
        assert row["stars"] == str(-index)
    assert by_slug["pkg-0"]["title"] == "x;'=1000+8"
    assert by_slug["pkg-14"]["title"] == ATTACKS[14]  # ordinary text is left alone
