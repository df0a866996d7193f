"""Every reading command's screen at 60, 80, 120 and 200 columns, on a mirror with two weeks of
history (tests/screencatalogue.py: long slugs, seven-digit numbers, dormant packages, a grid of
40): no line wider than the terminal, no number or slug cut, the dormant mark on every dormant
package, and the columns in the order docs/reading.md states, giving way in its order. Then the
same in a real terminal (tmux), and the README's screens against the commands that make them.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from rich.cells import cell_len

from pkgharvest.catalogue import CATALOGUE_NAME
from pkgharvest.views import history as history_view
from pkgharvest.views import tables
from tests.gridcolumns import column_headers
from tests.screencatalogue import (
    BIG,
    DORMANT_STAR,
    GRID_OF_40,
    LONG_SLUGS,
    QUIET_BUT_ALIVE,
    SCREEN_NOW,
    build_screen_mirror,
)

REPO = Path(__file__).resolve().parent.parent
WIDTHS = (60, 80, 120, 200)
MARK = "†"
SPARK_HEADERS = {52: "Commits per week", 26: "Commits per 2 weeks", 13: "Per 4 weeks"}
URL_LINE = re.compile(r"(data folder +)?(https?://|/)\S+")
CUT_NUMBER = re.compile(r"(?<!\w)[\d,.%+-]*\d[\d,.%]*…")

COMMANDS: dict[str, tuple[str, ...]] = {
    "top": ("top",),
    "top --limit 0": ("top", "--limit", "0"),
    "grid": ("grid", GRID_OF_40),
    "grid --layout columns": ("grid", GRID_OF_40, "--layout", "columns"),
    "show": ("show", BIG),
    "show (dormant)": ("show", DORMANT_STAR),
    "show (no commits)": ("show", QUIET_BUT_ALIVE),
    "show (long slug)": ("show", LONG_SLUGS[0]),
    "grids": ("grids",),
    "categories": ("categories",),
    "trends": ("trends",),
    "trends --limit 0": ("trends", "--limit", "0"),
    "trends --by forks": ("trends", "--by", "forks"),
    "changes": ("changes",),
    "changes --since 7d": ("changes", "--since", "7d"),
    "status": ("status",),
}


@pytest.fixture(scope="module")
def mirror(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_screen_mirror(tmp_path_factory.mktemp("screens") / "mirror")


@pytest.fixture(scope="module")
def screens(mirror: Path) -> dict[tuple[str, int], str]:
    """Every command's output at every width (rendered once for the module's tests)."""
    mp = pytest.MonkeyPatch()
    out: dict[tuple[str, int], str] = {}
    try:
        for name, args in COMMANDS.items():
            for width in WIDTHS:
                result = _run(mp, args, mirror, width)
                assert result[0] == 0, (name, width, result[2])
                out[name, width] = result[1]
    finally:
        mp.undo()
    return out


def _run(mp: pytest.MonkeyPatch, args: Sequence[str], root: Path, width: int) -> Any:
    """`pkgharvest ARGS --data-dir ROOT` at `width` columns and the screens' moment, in-process:
    (exit code, stdout, stderr)."""
    import io
    from contextlib import redirect_stderr, redirect_stdout

    from pkgharvest.cli import run
    from pkgharvest.runtime import Dependencies

    for name in ("LINES", "NO_COLOR", "FORCE_COLOR", "TERM", "PKGHARVEST_DATA_DIR"):
        mp.delenv(name, raising=False)
    mp.setenv("COLUMNS", str(width))
    stdout, stderr = io.StringIO(), io.StringIO()
    with redirect_stdout(stdout), redirect_stderr(stderr):
        code = run([*args, "--data-dir", str(root)], Dependencies(now=lambda: SCREEN_NOW))
    return code, stdout.getvalue(), stderr.getvalue()


def _json(mirror: Path, *args: str) -> Any:
    mp = pytest.MonkeyPatch()
    try:
        code, out, err = _run(mp, [*args, "--json"], mirror, 200)
    finally:
        mp.undo()
    assert code == 0, err
    return json.loads(out)


@pytest.fixture(scope="module")
def dormant(mirror: Path) -> set[str]:
    return {row["slug"] for row in _json(mirror, "top", "--limit", "0") if row["dormant"]}


@pytest.fixture(scope="module")
def slugs(mirror: Path) -> set[str]:
    with sqlite3.connect(mirror / CATALOGUE_NAME) as conn:
        return {
            slug
            for table in ("packages", "grids", "categories")
            for (slug,) in conn.execute(f"SELECT slug FROM {table}")
        }


# --- the docs ----------------------------------------------------------------------------


def _narrowing_table() -> list[list[str]]:
    """docs/reading.md's "Narrow terminals" table: one list of cells per row."""
    text = (REPO / "docs" / "reading.md").read_text("utf-8")
    section = text[text.index("### Narrow terminals") :]
    rows = [line for line in section.splitlines() if line.startswith("| ")]
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows[1:]]


def _package_step(cell: str) -> str:
    narrows = re.fullmatch(r"the sparkline narrows, \d+ → (\d+) bars", cell)
    if narrows:
        return f"Activity {narrows.group(1)}"
    if cell == "the sparkline":
        return "Activity"
    if cell.startswith("long slugs spill"):
        return tables.SPILL
    return re.findall(r"`([^`]+)`", cell)[0]


def _trends_step(cell: str) -> str:
    if cell.startswith("`Trend` narrows"):
        return "Trend 8"
    if cell.startswith("the other count's"):
        return "other Gained"
    if cell == "the other count":
        return "other count"
    return re.findall(r"`([^`]+)`", cell)[0]


def docs_package_narrowing() -> list[str]:
    return [_package_step(row[1]) for row in _narrowing_table() if row[0].isdigit() and row[1]]


def docs_trends_narrowing() -> list[str]:
    return [_trends_step(row[2]) for row in _narrowing_table() if row[0].isdigit() and row[2]]


def docs_groups_narrowing() -> list[str]:
    cells = [row[3] for row in _narrowing_table() if row[0].isdigit() and row[3]]
    return [re.findall(r"`([^`]+)`", cell)[0] for cell in cells]


def docs_top_columns() -> list[str]:
    """`top`'s columns left to right, as the `top` bullet of docs/reading.md lists them."""
    text = (REPO / "docs" / "reading.md").read_text("utf-8")
    bullet = text[text.index("- `top` ranks packages") : text.index("- `grid SLUG`")]
    listed = bullet[bullet.index("Columns, left to right:") : bullet.index("Numbers are")]
    names = re.findall(r"`([^`]+)`|the 52-week activity as a sparkline", listed)
    return [name or "Activity" for name in names]


def test_the_docs_state_the_order_the_code_follows() -> None:
    assert docs_package_narrowing() == list(tables.NARROWING)
    assert docs_trends_narrowing() == list(history_view.TRENDS_NARROWING)
    assert docs_top_columns() == list(tables.TOP_COLUMNS)
    assert docs_groups_narrowing() == ["Description", "Title"]


# --- reading a screen back ------------------------------------------------------------------


def header_and_rows(out: str) -> tuple[list[str], list[str]]:
    """A one-line-per-row table: its header's column names and its rows (the lines after the
    rule under the header, up to the legend), a spilled row's two lines joined in one."""
    lines = out.splitlines()
    rule = next(i for i, line in enumerate(lines) if line and set(line) == {"─"})
    head = lines[rule - 1]
    header = [name.strip() for name in re.split(r" {2,}", head.strip())]
    first = header[1] if header[0] == "#" else header[0]  # the slug column
    spilled_from = head.index(first) + len(first)
    rows: list[str] = []
    for line in lines[rule + 1 :]:
        if not line.strip() or line.startswith(("Activity:", "Trend:", MARK)):
            break
        if rows and len(line) - len(line.lstrip()) >= spilled_from:
            rows[-1] += "  " + line.strip()  # the rest of a row whose slug spilled
        else:
            rows.append(line)
    return header, rows


SPARK_OF_HEADER = {header: bars for bars, header in SPARK_HEADERS.items()}
GAP = 2
SPARK_STEPS = {"Activity": 13, "Activity 13": 13, "Activity 26": 26}
"""What each sparkline step of NARROWING costs: the 13-bar column, then 13 and 26 more bars."""
DESCRIPTION_MIN = 16


def column_widths(out: str) -> list[tuple[str, int]]:
    """A one-line-per-row table's columns, left to right, and the width each takes (from its
    header and its cells: a right-aligned column ends where its header ends, a left-aligned
    one starts where its header starts)."""
    lines = out.splitlines()
    rule = next(i for i, line in enumerate(lines) if line and set(line) == {"─"})
    head = lines[rule - 1]
    spans = [[m.start(), m.end()] for m in re.finditer(r"\S+(?: \S+)*", head)]
    for line in lines[rule + 1 :]:
        if not line.strip() or line.startswith(("Activity:", "Trend:", MARK)):
            break
        for m in re.finditer(r"\S+(?: \S+)*", line):
            over = [n for n, (a, b) in enumerate(spans) if m.start() < b and a < m.end()]
            # A run under no header is text further on in a left-aligned column.
            at = over[0] if over else max(n for n, (a, _) in enumerate(spans) if a <= m.start())
            spans[at] = [min(spans[at][0], m.start()), max(spans[at][1], m.end())]
    names = [head[a:b].strip() for a, b in (m.span() for m in re.finditer(r"\S+(?: \S+)*", head))]
    return [(name, b - a) for name, (a, b) in zip(names, spans, strict=True)]


def _package_keys(header: Sequence[str]) -> list[str]:
    """A package table's header as the names NARROWING uses ("Activity" for the sparkline)."""
    return ["Activity" if name in SPARK_OF_HEADER else name for name in header]


def assert_package_columns_give_way_in_order(
    out: str, widest: str, columns: Sequence[str], width: int, what: str
) -> None:
    """The columns of a `top` or `grid` screen are in docs/reading.md's order, left to right;
    and each column it gave up (or narrower sparkline) did not fit beside the more important
    ones it shows: a column that fits in the room left is shown (`widest` shows every column:
    the widths are read from it; the package column at its full width, as it is before long
    slugs spill)."""
    header, _rows = header_and_rows(out)
    keys = _package_keys(header)
    assert keys == [c for c in columns if c in keys], f"{what}: {header}"
    wide = column_widths(widest)
    widths = dict(zip(_package_keys([n for n, _ in wide]), (w for _, w in wide), strict=True))
    spark = next((SPARK_OF_HEADER[name] for name in header if name in SPARK_OF_HEADER), 0)
    # What NARROWING has done on this screen: a column given up, a sparkline step taken.
    done = {c for c in columns if c not in tables.KEPT_COLUMNS | {"Activity"} and c not in keys}
    bars = {"Activity": 13, "Activity 13": 26, "Activity 26": 52}  # shown undone
    done |= {step for step, least in bars.items() if spark < least}

    def cost(step: str) -> int:
        if step in SPARK_STEPS:
            return SPARK_STEPS[step] + (GAP if step == "Activity" else 0)
        return (DESCRIPTION_MIN if step == "Description" else widths[step]) + GAP

    kept = sum(widths[c] for c in columns if c in tables.KEPT_COLUMNS) + GAP * 2
    steps = [s for s in reversed(docs_package_narrowing()) if s != tables.SPILL]
    for at, step in enumerate(steps):
        # A wider sparkline is tried only from the width just under it.
        if step not in done or spark != {"Activity 13": 13, "Activity 26": 26}.get(step, spark):
            continue
        shown = [s for s in steps[:at] if s not in done and (s in columns or s in SPARK_STEPS)]
        need = kept + sum(cost(s) for s in shown) + cost(step)
        assert need > width, f"{what}: {step} fits ({need} <= {width}) beside {header}"


def _trends_keys(header: Sequence[str]) -> list[str]:
    """A `trends` header with each `Gained` named after the count before it ("Stars gained")."""
    keys: list[str] = []
    for name in header:
        keys.append(f"{keys[-1]} gained" if name == "Gained" else name)
    return keys


def assert_trends_columns_give_way_in_order(
    out: str, widest: str, by: str, width: int, what: str
) -> None:
    """As assert_package_columns_give_way_in_order, for `trends --by BY`."""
    ranked, other = ("Stars", "Forks") if by == "stars" else ("Forks", "Stars")
    order = ["#", "Package", "Stars", "Stars gained", "Forks", "Forks gained", "Trend"]
    order.insert(order.index(f"{ranked} gained") + 1, "%")
    header, _rows = header_and_rows(out)
    keys = _trends_keys(header)
    assert keys == [c for c in order if c in keys], f"{what}: {header}"
    wide = column_widths(widest)
    widths = dict(zip(_trends_keys([n for n, _ in wide]), (w for _, w in wide), strict=True))
    assert list(widths) == order, f"{what}: the widest screen shows {list(widths)}"
    here = dict(zip(keys, (w for _, w in column_widths(out)), strict=True))
    narrow = max(len("Trend"), min(8, widths["Trend"]))
    names = {"%": "%", "other count": other, "other Gained": f"{other} gained", "Trend": "Trend"}
    costs = {name: widths[key] + GAP for name, key in names.items()}
    costs["Trend"] = narrow + GAP
    costs["Trend 8"] = widths["Trend"] - narrow
    done = {name for name, key in names.items() if key not in keys}
    if "Trend" in here and here["Trend"] < widths["Trend"]:
        done.add("Trend 8")
    kept = sum(widths[key] for key in ("#", "Package", ranked, f"{ranked} gained")) + GAP * 3
    steps = list(reversed(docs_trends_narrowing()))
    for at, step in enumerate(steps):
        if step not in done or (step == "Trend 8" and "Trend" not in here):
            continue
        if step == "other Gained" and "other count" in done:
            continue  # a gain is shown only beside its count
        need = kept + sum(costs[s] for s in steps[:at] if s not in done) + costs[step]
        assert need > width, f"{what}: {step} fits ({need} <= {width}) beside {header}"


def assert_fits(out: str, width: int, what: str) -> None:
    for line in out.splitlines():
        if cell_len(line) > width:
            # Only a URL (or the data folder's path) may run past the edge: never broken.
            assert URL_LINE.fullmatch(line), f"{what}: {cell_len(line)} > {width}: {line!r}"


def assert_nothing_cut(out: str, slugs: set[str], what: str) -> None:
    assert not CUT_NUMBER.search(out), f"{what}: a number cut: {CUT_NUMBER.search(out)}"
    # A slug-like word cut short, with the slug it begins nowhere whole (descriptions are cut
    # on purpose, and may hold a slug; a side-by-side header wraps a slug, whole).
    whole = out + "\n" + "\n".join(column_headers(out))
    for token in re.findall(r"[\w.]+-[\w.-]*…", out):
        stem = token[:-1]
        begun = [slug for slug in slugs if slug.startswith(stem)]
        assert not begun or any(slug in whole for slug in begun), f"{what}: a slug cut: {token}"


def assert_no_slug_broken(out: str, slugs: set[str], what: str) -> None:
    """No line (inside a panel or not) ends in the first part of a slug that goes on on the
    next line (rich folds a word too long for its column: `django-queue-thumbnail-generator-
    for-` / `s3-storage` in `show`'s panel at 60 columns)."""
    lines = [line.strip("│ ") for line in out.splitlines()]
    for line, after in itertools.pairwise(lines):
        words, going_on = line.split(), after.split()
        if not words or not going_on or words[-1] in slugs:
            continue
        first, rest = words[-1], going_on[0]
        broken = [
            slug
            for slug in slugs
            if slug.startswith(first)
            and len(first) < len(slug)
            and (slug[len(first) :].startswith(rest) or rest.startswith(slug[len(first) :]))
        ]
        assert not broken, f"{what}: {broken[0]} broken: {line!r} / {after!r}"


def _cell_of(row: str, slug: str) -> str:
    """What follows `slug` in a row, up to the next column."""
    return row[row.index(slug) + len(slug) :].split("  ")[0].strip()


# --- the screens --------------------------------------------------------------------------


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_screen_fits_and_cuts_nothing(
    screens: dict[tuple[str, int], str], slugs: set[str], name: str, width: int
) -> None:
    out = screens[name, width]
    assert out.strip()
    assert_fits(out, width, f"{name} at {width}")
    assert_nothing_cut(out, slugs, f"{name} at {width}")
    if name != "grid --layout columns":  # its column headers wrap a slug after a hyphen
        assert_no_slug_broken(out, slugs, f"{name} at {width}")


@pytest.mark.parametrize("name", ["top", "top --limit 0", "grid"])
def test_package_tables_rows_marks_and_order(
    screens: dict[tuple[str, int], str], mirror: Path, dormant: set[str], name: str
) -> None:
    args = COMMANDS[name]
    expected = _json(mirror, *args)
    columns = tables.TOP_COLUMNS if args[0] == "top" else tables.GRID_COLUMNS
    widest = screens[name, WIDTHS[-1]]
    assert _package_keys(header_and_rows(widest)[0]) == list(columns)  # everything at 200
    for width in WIDTHS:
        _header, rows = header_and_rows(screens[name, width])
        # The columns, left to right and giving way, as docs/reading.md says.
        what = f"{name} at {width}"
        assert_package_columns_give_way_in_order(screens[name, width], widest, columns, width, what)
        assert len(rows) == len(expected)
        for row, record in zip(rows, expected, strict=True):
            rank, slug, *rest = row.split()
            assert (rank, slug) == (str(record["rank"]), record["slug"])
            assert (rest[0] == MARK) == (slug in dormant), row  # the mark, and only there
            stars = rest[1] if rest[0] == MARK else rest[0]
            assert stars == f"{record['stars']:,}", row
        if any(record["slug"] in dormant for record in expected):
            assert "† Dormant: no commits in 52 weeks" in " ".join(screens[name, width].split())


def test_grid_side_by_side_shows_several_and_whole_slugs(
    screens: dict[tuple[str, int], str], mirror: Path, dormant: set[str]
) -> None:
    expected = _json(mirror, "grid", GRID_OF_40)
    assert len(expected) == 40
    for width, at_least in ((60, 2), (80, 3), (120, 3), (200, 5)):
        out = screens["grid --layout columns", width]
        headers = column_headers(out)
        assert headers == [
            f"{n}. {row['slug']}" + (f" {MARK}" if row["slug"] in dormant else "")
            for n, row in enumerate(expected, start=1)
        ]
        first_block = next(line for line in out.splitlines() if line.startswith("┌"))
        assert first_block.count("┬") >= at_least, (width, first_block)
        stars = [
            cell.strip()
            for line in out.splitlines()
            if line.startswith("│ Stars")
            for cell in line.strip("│").split("│")[1:]
        ]
        assert stars == [f"{row['stars']:,}" for row in expected]


def test_trends_rows_marks_and_order(
    screens: dict[tuple[str, int], str], mirror: Path, dormant: set[str]
) -> None:
    runs = (("trends", "stars"), ("trends --limit 0", "stars"), ("trends --by forks", "forks"))
    for name, by in runs:
        expected = _json(mirror, *COMMANDS[name])
        assert expected, name
        widest = screens[name, WIDTHS[-1]]
        for width in WIDTHS:
            header, rows = header_and_rows(screens[name, width])
            what = f"{name} at {width}"
            assert_trends_columns_give_way_in_order(screens[name, width], widest, by, width, what)
            assert len(rows) == len(expected)
            for row, trend in zip(rows, expected, strict=True):
                _rank, slug, *rest = row.split()
                assert slug == trend["slug"], row
                assert (rest[0] == MARK) == (slug in dormant), row
                numbers = rest[1:] if rest[0] == MARK else rest
                count, gained = trend[by], trend[f"{by}_gained"]
                at = header.index(by.capitalize()) - 2  # after # and Package
                assert numbers[at : at + 2] == [f"{count:,}", f"{gained:+,}"], row


@pytest.mark.parametrize("name", ["top", "top --limit 0", "grid", "trends", "trends --by forks"])
def test_a_column_gives_way_only_where_it_does_not_fit(mirror: Path, name: str) -> None:
    """At every width from 60 to 200 columns, each column a table leaves out (or a narrower
    sparkline or trend) would not fit beside the more important ones it shows: a column that
    went because a wider one before it did not fit comes back where the room left holds it
    (at 80 columns, the long slugs of `top --limit 0` leave no room for `Last commit`, and
    room for `Forks`, which went with it)."""
    args = COMMANDS[name]
    mp = pytest.MonkeyPatch()
    try:
        code, widest, err = _run(mp, args, mirror, 200)
        assert code == 0, err
        for width in range(60, 200, 3):
            code, out, err = _run(mp, args, mirror, width)
            assert code == 0, err
            what = f"{name} at {width}"
            if args[0] == "trends":
                by = "forks" if "forks" in args else "stars"
                assert_trends_columns_give_way_in_order(out, widest, by, width, what)
            else:
                columns = tables.TOP_COLUMNS if args[0] == "top" else tables.GRID_COLUMNS
                assert_package_columns_give_way_in_order(out, widest, columns, width, what)
    finally:
        mp.undo()


def test_trends_chart_column_is_as_wide_as_it_holds(screens: dict[tuple[str, int], str]) -> None:
    _header, rows = header_and_rows(screens["trends", 200])
    line = screens["trends", 200].splitlines()
    head = next(text for text in line if text.rstrip().endswith("Trend"))
    trend_at = head.index("Trend")
    charts = [row[trend_at:].strip() for row in rows]
    # 14 nightly observations: the column holds 14 bars (the header included), no padding.
    assert max(len(chart) for chart in charts) == 14
    assert cell_len(head.rstrip()) <= max(cell_len(row.rstrip()) for row in rows)


@pytest.mark.parametrize("name", ["grids", "categories"])
def test_group_tables_rows_and_order(
    screens: dict[tuple[str, int], str], mirror: Path, name: str
) -> None:
    expected = _json(mirror, name)
    noun = "Grid" if name == "grids" else "Category"
    states = [
        [noun, "Title", "Packages", "Stars", "Description"],
        [noun, "Title", "Packages", "Stars"],
        [noun, "Packages", "Stars"],
    ]
    for width in WIDTHS:
        header, rows = header_and_rows(screens[name, width])
        assert header in states, f"{name} at {width}: {header}"
        rows = rows[: len(expected)]
        for row, group in zip(rows, expected, strict=True):
            cells = re.split(r" {2,}", row.strip())
            assert cells[0] == group["slug"]
            numbers = [c for c in cells if re.fullmatch(r"[\d,]+", c)]
            assert numbers[-2:] == [f"{group['package_count']:,}", f"{group['total_stars']:,}"]


@pytest.mark.parametrize("width", WIDTHS)
def test_show_screens(screens: dict[tuple[str, int], str], mirror: Path, width: int) -> None:
    big = screens["show", width]
    record = _json(mirror, "show", BIG)
    assert f"{record['stars']:,}" in big and f"{record['forks']:,}" in big
    # Eight observations or more: the star history as a chart, dates under it.
    chart = [line for line in big.splitlines() if "┤" in line]
    assert len(chart) == 12  # the 6 rows of the commit chart, the 6 of the star chart
    assert re.search(r"^ +2026-02-16 .*2026-03-01$", big, re.MULTILINE)
    # Links: never wrapped in the middle.
    for url in (record["repo_url"], record["api_url"], record["documentation_url"]):
        assert any(line.rstrip().endswith(url) for line in big.splitlines()), url
    long = screens["show (long slug)", width].splitlines()
    # A slug too long to go beside its label: on a line of its own under it, whole.
    panel = [line.strip("│ ") for line in long if line.startswith("│")]
    at = next(n for n, line in enumerate(panel) if line.split()[:1] == ["Slug"])
    assert LONG_SLUGS[0] in (panel[at].split()[-1], panel[at + 1]), panel[at : at + 2]
    url = _json(mirror, "show", LONG_SLUGS[0])["repo_url"]
    assert any(line.rstrip().endswith(url) for line in long)
    assert (url in long) == (width < len("Documentation  ") + len(url))  # alone if it must
    quiet = screens["show (no commits)", width]
    assert "No commits in the 52 weeks to 2026-02-16" in quiet
    assert "┤" not in quiet.split("No commits in the 52 weeks")[1]
    assert MARK in screens["show (dormant)", width].splitlines()[0]
    assert MARK not in big.splitlines()[0]


def changes_sections(out: str) -> list[tuple[str, str]]:
    """A `changes` screen's sections after its head, up to the legend, as (`title` or `item`,
    its text on one line): a title starts at column 0 (and goes on there), an item at column
    2, a line that goes on from an item at column 4."""
    lines = out.splitlines()
    read: list[tuple[str, str]] = []
    for line in lines[lines.index("") + 1 :]:
        if line.startswith(MARK):  # the legend under the lists
            break
        if not line:
            read.append(("", ""))
            continue
        indent = len(line) - len(line.lstrip())
        kind = {0: "title", 2: "item", 4: "goes on"}.get(indent, f"indented {indent}")
        if kind == "goes on" and read and read[-1][0] == "item":
            read[-1] = ("item", f"{read[-1][1]} {line.strip()}")
        elif kind == "title" and read and read[-1][0] == "title":
            read[-1] = ("title", f"{read[-1][1]} {line.strip()}")
        else:
            read.append((kind, line.strip()))
    return [(kind, " ".join(text.split())) for kind, text in read]


@pytest.mark.parametrize("width", WIDTHS[:-1])
@pytest.mark.parametrize("name", ["changes", "changes --since 7d"])
def test_changes_items_go_on_under_their_text(
    screens: dict[tuple[str, int], str], name: str, width: int
) -> None:
    """A `changes` item too long for the terminal goes on on the next line under its text,
    indented by two more (not at column 0, where it read as a section's title), broken
    between its parts; a section's title that goes on stays at column 0: read back, every
    section and item says what it says on a terminal wide enough for one line each."""
    wide = changes_sections(screens[name, 200])
    assert {kind for kind, _ in wide} == {"title", "item", ""}
    assert changes_sections(screens[name, width]) == wide
    if width == 60:  # this catalogue's long slug with its gain does not fit beside its numbers
        lines = screens[name, width].splitlines()
        at = next(n for n, line in enumerate(lines) if line.startswith(f"  {LONG_SLUGS[0]}  +"))
        assert re.fullmatch(r"    \([\d,]+ → [\d,]+\)", lines[at + 1]), lines[at : at + 2]


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("name", ["changes", "changes --since 7d"])
def test_changes_marks_dormant_packages(
    screens: dict[tuple[str, int], str], dormant: set[str], name: str, width: int
) -> None:
    """A package `changes` lists carries the dormant mark after its slug as in every table
    (and only a dormant one), with the legend under the lists."""
    items = [text for kind, text in changes_sections(screens[name, width]) if kind == "item"]
    listed = [text.split() for text in items if not text.startswith("…")]
    assert listed
    for slug, *rest in listed:
        assert (rest[:1] == [MARK]) == (slug in dormant), (slug, rest)
    if name == "changes --since 7d":  # its lists hold dormant packages
        assert any(rest[:1] == [MARK] for _slug, *rest in listed)
        joined = re.sub(r"\n  (?=\S)", " ", screens[name, width])
        assert tables.DORMANT_LEGEND in joined.splitlines()


CLAUSE_END = re.compile(r"[,;]$")


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("name", list(COMMANDS))
def test_legends_and_footers_break_between_clauses(
    screens: dict[tuple[str, int], str], name: str, width: int
) -> None:
    """No line ends in a space (it is copied along, and underlined where the style says so);
    a legend or footer that does not fit goes on on the next line, indented by two spaces,
    from where a clause ends, or from a line at least a third full (never one word alone)."""
    out = screens[name, width]
    lines = out.splitlines()
    for line in lines:
        assert line == line.rstrip(), f"{name} at {width}: a space at the end of {line!r}"
    if name.startswith("changes"):  # its sections list items, indented: only its head goes on
        lines = lines[: lines.index("")]
    for above, line in itertools.pairwise(lines):
        if re.match(r"  [^ │]", line) and not above.startswith(("│", " ")):  # goes on
            assert (
                CLAUSE_END.search(above) or line.startswith("  (") or cell_len(above) * 3 >= width
            ), f"{name} at {width}: {above!r} / {line!r}"
    if MARK in out and not name.startswith("show"):
        joined = re.sub(r"\n  (?=\S)", " ", out)  # each legend on one line again
        assert tables.DORMANT_LEGEND in joined.splitlines(), f"{name} at {width}"


@pytest.mark.parametrize("args", [("top",), ("grid", GRID_OF_40)])
def test_no_more_slugs_spill_than_the_width_needs(mirror: Path, args: tuple[str, ...]) -> None:
    """Where long slugs spill (a line of their own, to keep the sparkline), the package column
    takes all the room the other columns leave: the table is as wide as the terminal, and only
    the slugs longer than that room spill (at 84 to 110 columns the top 20 spilled its five
    longest slugs in a table 83 wide)."""
    mp = pytest.MonkeyPatch()
    try:
        for width in range(60, 141, 2):
            code, out, err = _run(mp, args, mirror, width)
            assert code == 0, err
            lines = out.splitlines()
            rule = next(line for line in lines if line and set(line) == {"─"})
            spilled = [line for line in lines if re.fullmatch(r" ?\d+  \S+( †)?", line)]
            if spilled:
                assert len(rule) == width, (width, len(rule), spilled)
    finally:
        mp.undo()


# --- a real terminal ------------------------------------------------------------------------

INSTALLED = Path(sys.executable).parent / "pkgharvest"


@pytest.fixture
def tmux() -> Iterator[Any]:
    """Run a command in a real terminal, tmux's 80x24 pane, and read the pane back whole."""
    if shutil.which("tmux") is None or not INSTALLED.is_file():
        pytest.skip("tmux or the installed pkgharvest command is missing")
    socket = f"pkgharvest-screens-{uuid.uuid4().hex[:8]}"
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "TMUX")}

    def tmux_run(*args: str) -> str:
        return subprocess.run(
            ["tmux", "-L", socket, *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout

    def screen(command: list[str]) -> str:
        channel = f"done-{uuid.uuid4().hex[:8]}"
        script = (
            f"{subprocess.list2cmdline(command)}; tmux -L {socket} wait-for -S {channel}; exec cat"
        )
        tmux_run("new-session", "-d", "-x", "80", "-y", "24", "-s", channel, "sh", "-c", script)
        tmux_run("set-option", "-t", channel, "history-limit", "5000")
        tmux_run("wait-for", channel)  # returns once the command is done (no sleeping)
        return tmux_run("capture-pane", "-p", "-J", "-t", channel, "-S", "-", "-E", "-")

    try:
        yield screen
    finally:
        subprocess.run(
            ["tmux", "-L", socket, "kill-server"], env=env, capture_output=True, check=False
        )


@pytest.mark.parametrize(
    "name", ["top", "grid", "grid --layout columns", "show", "grids", "trends", "status"]
)
def test_screens_in_a_real_80_column_terminal(
    tmux: Any, mirror: Path, slugs: set[str], name: str
) -> None:
    """tmux gives the command a real terminal of 80 columns (no $COLUMNS): rich measures it
    itself. The clock is the real one, so only the shapes are checked."""
    out = tmux([str(INSTALLED), *COMMANDS[name], "--data-dir", str(mirror)])
    listed = subprocess.run(
        [str(INSTALLED), "top", "--limit", "0", "--json", "--data-dir", str(mirror)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    dormant = {row["slug"] for row in json.loads(listed.stdout) if row["dormant"]}  # by now
    assert out.strip()
    assert_fits(out, 80, name)
    assert_nothing_cut(out, slugs, name)
    if name in ("top", "grid"):
        _, rows = header_and_rows(out)
        for row in rows:
            slug = row.split()[1]
            assert (row.split()[2] == MARK) == (slug in dormant), row
    if name == "grid --layout columns":
        assert len(column_headers(out)) == 40


def test_verify_in_a_real_80_column_terminal(tmux: Any, mirror: Path) -> None:
    """verify's one `ok` line (140 characters here) on a terminal of 80 columns: broken after
    its commas and semicolons, never inside a word."""
    out = tmux([str(INSTALLED), "verify", "--data-dir", str(mirror)])
    lines = [line for line in out.splitlines() if line.strip()]
    assert lines[0].startswith("verify: ok: 406 packages, 40 grids, 5 categories")
    assert len(lines) > 1 and all(line.startswith("  ") for line in lines[1:])
    assert all(cell_len(line) <= 80 and line == line.rstrip() for line in lines)
    assert all(line.endswith((",", ";")) for line in lines[:-1])


def test_fetch_summary_in_a_real_80_column_terminal(tmux: Any, tmp_path: Path) -> None:
    """fetch's summary (230 characters) on a terminal of 80 columns: broken after its
    semicolons and commas, never by the terminal inside a word, no line ending in a space;
    read back whole, it is the one line a pipe gets."""
    from tests.fakeproc import serve_in_subprocess

    with serve_in_subprocess(packages=40, grids=3, seed=4) as url:
        argv = [str(INSTALLED), "fetch", "--data-dir", str(tmp_path / "mirror")]
        out = tmux(["env", f"PKGHARVEST_BASE_URL={url}", *argv])
        piped = subprocess.run(
            [*argv, "--data-dir", str(tmp_path / "again")],
            env={**os.environ, "PKGHARVEST_BASE_URL": url},
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        ).stdout
    lines = out.splitlines()
    start = next(n for n, line in enumerate(lines) if line.startswith("fetch complete:"))
    summary = [lines[start]]
    summary += itertools.takewhile(lambda line: line.startswith("  "), lines[start + 1 :])
    assert len(summary) > 1
    assert all(cell_len(line) <= 80 and line == line.rstrip() for line in summary)
    assert all(line.endswith((",", ";")) for line in summary[:-1])
    assert re.sub(r"seconds?|[\d.]+ s", "", " ".join(line.strip() for line in summary)) == (
        re.sub(r"seconds?|[\d.]+ s", "", piped.strip())
    )


# --- the README's screens -------------------------------------------------------------------


def readme_screens() -> list[tuple[list[str], list[str]]]:
    """Each `$ pkgharvest ...` block of the README's "Reading the mirror": (its arguments, the
    lines shown under it; "…" stands for lines left out)."""
    text = (REPO / "README.md").read_text("utf-8")
    start = text.index("## Reading the mirror")
    section = text[start : text.index("\n## ", start)]  # to the next section (deps' own)
    screens: list[tuple[list[str], list[str]]] = []
    for line in section.splitlines():
        if line.startswith("    $ pkgharvest "):
            screens.append((line.removeprefix("    $ pkgharvest ").split(), []))
        elif screens and line.startswith("    "):
            screens[-1][1].append(line.removeprefix("    "))
        elif screens and line.strip():
            screens.append(([], []))  # prose ends a block
    return [screen for screen in screens if screen[0]]


def test_the_readme_shows_real_80_column_screens(mirror: Path) -> None:
    """The README's screens are what the commands print at 80 columns on the test catalogue,
    line for line (a "…" line skips to the next line shown)."""
    shown = readme_screens()
    assert [args[0] for args, _ in shown] == ["top", "grid", "show", "trends"]
    mp = pytest.MonkeyPatch()
    try:
        for args, lines in shown:
            code, out, err = _run(mp, args, mirror, 80)
            assert code == 0, err
            printed = out.splitlines()  # as printed: a space at a line's end is a difference
            assert all(len(line) <= 80 for line in lines)
            at = 0
            for line in lines:
                if line == "…":
                    at = -1
                    continue
                if at < 0:
                    at = printed.index(line)
                assert printed[at] == line, (args, at, line)
                at += 1
    finally:
        mp.undo()
