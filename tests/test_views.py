"""The reading commands as a user sees them: tables, panels, --json, hostile text, errors."""

from __future__ import annotations

import io
import json
import random
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from rich.cells import cell_len
from rich.text import Text

from pkgharvest.store.mirror import GroupSummary
from pkgharvest.views.charts import (
    activity_chart,
    bucket,
    month_labels,
    relative_date,
    sparkline,
    thousands,
)
from pkgharvest.views.columns import wrapped_lines
from pkgharvest.views.text import clip_lines, display, sanitize, title_differs
from tests.mirrorbuilder import (
    HOSTILE_DESCRIPTION,
    NOW,
    MirrorContent,
    link_grids,
    ref,
    run_cli,
    seed_content,
    synthetic_grids,
    synthetic_package,
    write_mirror,
)

# django-comments-xtd's 52 weeks, as the API sent them (fixtures/seeds/1083.json).
XTD_WEEKS = [0, 2, 1, 0, 4, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 3, 1]
XTD_WEEKS += [0, 2, 0, 3, 1, 4, 3, 1, 0, 2, 0, 0, 0, 1, 0, 0, 0, 6, 0, 0, 0, 0, 0, 0, 0, 1]
XTD_SPARK = "▁▄▃▁▆▁▁▄▁▁▁▁▁▁▁▁▁▁▁▁▃▁▁▁▅▃▁▄▁▅▃▆▅▃▁▄▁▁▁▃▁▁▁█▁▁▁▁▁▁▁▃"
XTD_SHIFT = 15
"""Weeks from xtd's last_fetched week (2026-02-09) to the synthetic packages' (2026-05-25)."""
ESC = "\x1b"
SGR_COLOUR = re.compile(r"\x1b\[[0-9;]*\b(3[0-9]|4[0-9]|9[0-7]|10[0-7])[;m]")


@pytest.fixture
def seeds() -> MirrorContent:
    return seed_content()


@pytest.fixture
def mirror(tmp_path: Path, seeds: MirrorContent) -> Path:
    """The five seeds, plus one big package whose activity is unknown."""
    seeds.packages.append(
        synthetic_package(
            9001,
            "django-big-unknown",
            title="Big Unknown",
            stars=12345,
            forks=1234,
            commits_52w=None,
            last_commit="2026-05-31T12:00:00Z",
            pypi_version="3.0",
            category=ref(seeds.categories[0]),
        )
    )
    return write_mirror(tmp_path / "mirror", seeds)


@pytest.fixture
def hostile(tmp_path: Path, seeds: MirrorContent) -> Path:
    """A mirror with one package whose texts try markup, escapes and bidi tricks."""
    grid = seeds.grids[0]
    seeds.packages = [
        synthetic_package(
            9002,
            "Evil/../Pkg",  # unsafe: stored as _id-9002.json
            title="[bold red]loud[/bold red] \x1b[31mred\x1b[0m",
            repo_description=HOSTILE_DESCRIPTION,
            pypi_version="[link=https://evil.example]1.0[/link]",
            commits_52w=[1] * 52,
            grids=[ref(grid)],
            category=ref(seeds.categories[0]),
        )
    ]
    grid["packages"] = []
    grid["description"] = "[italic]grid[/italic] \x1b]8;;https://evil.example\x07link"
    link_grids(seeds)
    return write_mirror(tmp_path / "hostile", seeds)


def lines_of(text: str) -> list[str]:
    return text.splitlines()


def row_of(output: str, slug: str) -> str:
    """The table line whose first or second cell (after the rank) is `slug`."""
    rows = [line for line in lines_of(output) if slug in line.split()[:2]]
    assert len(rows) == 1, f"{slug!r} in {len(rows)} lines:\n{output}"
    return rows[0]


# --- pure helpers ----------------------------------------------------------------------------


def test_sparkline_of_a_known_commit_list() -> None:
    assert sparkline(XTD_WEEKS) == XTD_SPARK


def test_sparkline_levels_zero_is_lowest_and_any_commit_shows() -> None:
    assert sparkline([0, 1, 2, 3, 6]) == "▁▃▄▅█"
    assert sparkline([0, 0, 0]) == "▁▁▁"
    # On a shared scale a single commit is still higher than none.
    assert sparkline([0, 1], scale_max=100) == "▁▂"


def test_bucket_sums_consecutive_weeks_oldest_first() -> None:
    assert bucket(list(range(52)), 13)[:2] == [0 + 1 + 2 + 3, 4 + 5 + 6 + 7]
    assert sum(bucket(XTD_WEEKS, 26)) == sum(XTD_WEEKS)
    with pytest.raises(ValueError):
        bucket(XTD_WEEKS, 10)


@pytest.mark.parametrize(
    ("then", "words"),
    [
        (datetime(2026, 6, 1, 11, 59, 30, tzinfo=UTC), "just now"),
        (datetime(2026, 6, 1, 11, 0, tzinfo=UTC), "1 hour ago"),
        (datetime(2026, 6, 1, 9, 0, tzinfo=UTC), "3 hours ago"),
        (datetime(2026, 5, 31, 10, 0, tzinfo=UTC), "yesterday"),
        (datetime(2026, 5, 20, tzinfo=UTC), "12 days ago"),
        (datetime(2026, 5, 1, tzinfo=UTC), "4 weeks ago"),
        (datetime(2026, 2, 14, 9, 43, tzinfo=UTC), "3 months ago"),
        (datetime(2024, 2, 19, tzinfo=UTC), "2 years ago"),
        (datetime(2026, 6, 2, tzinfo=UTC), "in the future"),
    ],
)
def test_relative_date(then: datetime, words: str) -> None:
    assert relative_date(then, NOW) == words


def test_activity_chart_rows_axis_and_months() -> None:
    chart = activity_chart([0, 4, 8], height=2)
    assert chart == ["8 ┤  █", "0 ┤ ██"]
    # A half-height bar ends in a partial block.
    assert activity_chart([0, 1, 16], height=1) == ["16 ┤ ▁█"]
    # Months: the 52 weeks up to 2026-02-15 begin in late February 2025.
    labels = month_labels(52, datetime(2026, 2, 15, tzinfo=UTC))
    assert labels.split() == [
        "Mar",
        "Apr",
        "May",
        "Jun",
        "Jul",
        "Aug",
        "Sep",
        "Oct",
        "Nov",
        "Dec",
        "Jan",
        "Feb",
    ]
    assert len(labels) <= 52


def test_thousands() -> None:
    assert thousands(12345) == "12,345"
    assert thousands(None) == "—"


def test_sanitize_removes_what_moves_or_restyles_the_terminal() -> None:
    assert sanitize("\x1b[31mred\x1b[0m") == "red"
    assert sanitize("a\x1b]0;title\x07b") == "ab"
    assert sanitize("a\x1b]8;;https://x\x1b\\link\x1b]8;;\x1b\\b") == "alinkb"
    assert sanitize("\u202eevil\u202c \u2066x\u2069 \u200e\u200f\u061c") == "evil x "
    assert sanitize("a\x9b2Jb\x85c") == "ab c"  # 8-bit CSI; NEL breaks a line
    assert sanitize("line\r\nnext\tcol") == "line next col"
    assert sanitize("bell\x07 null\x00 del\x7f") == "bell null del"
    kept = "日本語 café 🎉 [bold]x[/bold]"
    assert sanitize(kept) == kept


def test_clip_lines_and_title_differs() -> None:
    assert clip_lines("one two three four five six", 9, 2) == "one two\nthree…"
    assert clip_lines("abcdefghijkl mno", 5, 1) == "abcd…"  # never wider than the column
    assert clip_lines("short", 9, 2) == "short"
    assert not title_differs("django-star-ratings", "Django Star Ratings")
    assert title_differs("django-dbsettings-new", "django-dbsettings")


# --- top ---------------------------------------------------------------------------------


def test_top_ranks_seeds_by_stars_with_values(monkeypatch, capsys, mirror: Path) -> None:
    result = run_cli(monkeypatch, capsys, "top", "--data-dir", str(mirror))
    assert result.code == 0, result.err
    order = [
        "django-big-unknown",
        "django-comments-xtd",
        "django-rest-registration",
        "django-hstore",
        "django-star-ratings",
        "django-dbsettings-new",
    ]
    positions = [result.out.index(row_of(result.out, slug)) for slug in order]
    assert positions == sorted(positions)
    xtd = row_of(result.out, "django-comments-xtd").split()
    assert xtd[:4] == ["2", "django-comments-xtd", "618", "158"]
    # The 52 weeks, calendar-aligned: the table ends with the newest row's week (big-unknown,
    # fetched 2026-05-26), 15 weeks after xtd's (2026-02-15), so xtd's first 15 weeks are
    # before the table and its last 15 columns are blank (no data); then the 52-week total.
    aligned = XTD_SPARK[XTD_SHIFT:] + " " * XTD_SHIFT
    assert aligned in row_of(result.out, "django-comments-xtd") and "38" in xtd
    assert "3 months ago" in row_of(result.out, "django-comments-xtd")  # 2026-02-14
    assert "2.10.11" in xtd and "App" in xtd
    big = row_of(result.out, "django-big-unknown")
    assert "12,345" in big and "1,234" in big  # thousands separators
    assert "unknown" in big and "▁" not in big  # unknown activity is not a flat line
    assert "yesterday" in big
    # One line per package: header, rule, six rows, the legends (activity, dormant), the caption.
    assert len(lines_of(result.out)) == 2 + 6 + 3
    assert "6 of 6 packages, by stars" in result.out


@pytest.mark.parametrize(
    ("by", "first_three"),
    [
        ("forks", ["django-big-unknown", "django-comments-xtd", "django-hstore"]),
        ("commits", ["django-comments-xtd", "django-rest-registration", "django-dbsettings-new"]),
        ("last-commit", ["django-big-unknown", "django-comments-xtd", "django-dbsettings-new"]),
    ],
)
def test_top_by(monkeypatch, capsys, mirror: Path, by: str, first_three: list[str]) -> None:
    result = run_cli(monkeypatch, capsys, "top", "--by", by, "--json", "--data-dir", str(mirror))
    assert [row["slug"] for row in json.loads(result.out)[:3]] == first_three


def test_top_reverse_keeps_unknown_last_and_ties_by_slug(monkeypatch, capsys, mirror) -> None:
    result = run_cli(
        monkeypatch,
        capsys,
        "top",
        "--by",
        "commits",
        "--reverse",
        "--json",
        "--data-dir",
        str(mirror),
    )
    slugs = [row["slug"] for row in json.loads(result.out)]
    assert slugs[:2] == ["django-hstore", "django-star-ratings"]  # 0 commits each, by slug
    assert slugs[-1] == "django-big-unknown"  # unknown activity, last either way


def test_top_filters_and_limit(monkeypatch, capsys, mirror: Path) -> None:
    def slugs(*args: str) -> list[str]:
        result = run_cli(monkeypatch, capsys, "top", "--json", "--data-dir", str(mirror), *args)
        assert result.code == 0, result.err
        return [row["slug"] for row in json.loads(result.out)]

    assert slugs("--grid", "postgresql") == ["django-hstore"]
    assert slugs("--grid", "161") == ["django-hstore"]
    assert slugs("--match", "HSTORE") == ["django-hstore"]  # title, slug or description
    assert slugs("--match", "follow-up notifications") == ["django-comments-xtd"]
    assert len(slugs("--category", "apps")) == 6
    assert slugs("--category", "frameworks") == []
    assert slugs("--limit", "2") == ["django-big-unknown", "django-comments-xtd"]


def test_top_json_rows_use_record_field_names(monkeypatch, capsys, mirror, seeds) -> None:
    result = run_cli(monkeypatch, capsys, "top", "--json", "--data-dir", str(mirror))
    rows = {row["slug"]: row for row in json.loads(result.out)}
    stored = json.loads((mirror / "packages" / "django-comments-xtd.json").read_text("utf-8"))
    xtd = rows["django-comments-xtd"]
    assert xtd["rank"] == 2
    for name in (
        "id",
        "title",
        "stars",
        "forks",
        "commits_52w",
        "commits_52w_total",
        "last_commit",
        "pypi_version",
        "category",
    ):
        assert xtd[name] == stored[name], name
    assert rows["django-big-unknown"]["commits_52w"] is None


@pytest.mark.parametrize("columns", [40, 60, 80, 100, 120, 160])
def test_top_fits_the_terminal_width(monkeypatch, capsys, mirror, columns: int) -> None:
    result = run_cli(monkeypatch, capsys, "top", "--data-dir", str(mirror), columns=columns)
    assert result.code == 0
    assert max(cell_len(line) for line in lines_of(result.out)) <= columns
    # Numbers are never cut, however narrow.
    assert "12,345" in result.out and "618" in result.out


@pytest.mark.parametrize("columns", [50, 80, 120])
@pytest.mark.parametrize("command", [("grid", "postgresql"), ("grids",), ("show", "1083")])
def test_other_views_fit_the_width(monkeypatch, capsys, mirror, columns: int, command) -> None:
    result = run_cli(monkeypatch, capsys, *command, "--data-dir", str(mirror), columns=columns)
    assert result.code == 0, result.err
    assert max(cell_len(line) for line in lines_of(result.out)) <= columns


def test_top_sparkline_narrows_before_columns_go(monkeypatch, capsys, mirror) -> None:
    wide = run_cli(monkeypatch, capsys, "top", "--data-dir", str(mirror), columns=200).out
    narrow = run_cli(monkeypatch, capsys, "top", "--data-dir", str(mirror), columns=90).out
    assert XTD_SPARK[XTD_SHIFT:] + " " * XTD_SHIFT in wide and "Category" in wide
    four_weekly = sparkline(bucket([*XTD_WEEKS[XTD_SHIFT:], *[None] * XTD_SHIFT], 13))
    assert four_weekly in row_of(narrow, "django-comments-xtd")
    assert "Per 4 weeks" in narrow


def test_top_shared_scale_compares_rows(monkeypatch, capsys, tmp_path: Path) -> None:
    quiet = [0] * 51 + [1]
    busy = [0] * 51 + [10]
    content = MirrorContent(
        [
            synthetic_package(1, "quiet", stars=1, commits_52w=quiet),
            synthetic_package(2, "busy", stars=2, commits_52w=busy),
        ]
    )
    root = write_mirror(tmp_path / "m", content)
    row = run_cli(monkeypatch, capsys, "top", "--data-dir", str(root)).out
    shared = run_cli(monkeypatch, capsys, "top", "--scale", "shared", "--data-dir", str(root)).out
    assert row_of(row, "quiet").split()[4] == "▁" * 51 + "█"  # its own busiest week
    assert row_of(shared, "quiet").split()[4] == "▁" * 51 + "▂"  # against busy's 10
    assert row_of(shared, "busy").split()[4] == "▁" * 51 + "█"


# --- grid, show, grids, categories --------------------------------------------------------


def test_grid_shows_its_packages_side_by_side(monkeypatch, capsys, tmp_path, seeds) -> None:
    grid = next(g for g in seeds.grids if g["slug"] == "postgresql")
    extra = synthetic_package(
        9100, "django-pg-extra", stars=2000, grids=[ref(grid)], commits_52w=None
    )
    seeds.packages.append(extra)
    link_grids(seeds)
    root = write_mirror(tmp_path / "m", seeds)
    result = run_cli(
        monkeypatch, capsys, "grid", "postgresql", "--layout", "columns", "--data-dir", str(root)
    )
    assert result.code == 0, result.err
    header = next(line for line in lines_of(result.out) if "django-hstore" in line)
    # Side by side, by stars: the 2,000-star package comes first, in the same header row.
    assert header.index("1. django-pg-extra") < header.index("2. django-hstore")
    stars = next(line for line in lines_of(result.out) if line.startswith("│ Stars"))
    assert stars.index("2,000") < stars.index("519")
    activity = next(line for line in lines_of(result.out) if "Per 4 weeks" in line)
    # pg-extra: unknown activity; hstore: no commit in 52 weeks, last one in 2019.
    assert "unknown" in activity and "dormant" in activity
    assert grid["title"] in result.out
    as_json = run_cli(monkeypatch, capsys, "grid", "postgresql", "--json", "--data-dir", str(root))
    assert [row["slug"] for row in json.loads(as_json.out)] == ["django-pg-extra", "django-hstore"]


def test_show_every_field_and_the_chart(monkeypatch, capsys, mirror: Path) -> None:
    result = run_cli(monkeypatch, capsys, "show", "django-comments-xtd", "--data-dir", str(mirror))
    assert result.code == 0, result.err
    out = result.out
    for text in (
        "1083",
        "App (apps)",
        "Commenting (commenting)",
        "618",
        "158",
        "2026-02-14 09:43 UTC (3 months ago)",
        "2.10.11",
        "https://github.com/danirus/django-comments-xtd",
        "https://django-comments.xtd.readthedocs.io",
        "39: danirus, JanMalte",
        "https://djangopackages.org/api/v4/packages/1083/",
        "A pluggable Django comments application",
        "Commits per week, 52 weeks to 2026-02-15 (total 38)",
    ):
        assert text in out, text
    chart = [line for line in lines_of(out) if "┤" in line]
    assert len(chart) == 6 and "6 ┤" in chart[0] and "0 ┤" in chart[-1]
    assert "Mar" in out and "Feb" in out  # month labels
    by_id = run_cli(monkeypatch, capsys, "show", "1083", "--data-dir", str(mirror))
    assert by_id.out == out


def test_show_unknown_activity_and_json(monkeypatch, capsys, mirror: Path) -> None:
    result = run_cli(monkeypatch, capsys, "show", "django-big-unknown", "--data-dir", str(mirror))
    assert "Commits per week: unknown" in result.out and "┤" not in result.out
    as_json = run_cli(
        monkeypatch, capsys, "show", "django-hstore", "--json", "--data-dir", str(mirror)
    )
    stored = json.loads((mirror / "packages" / "django-hstore.json").read_text("utf-8"))
    assert json.loads(as_json.out) == stored


def test_show_says_no_commits_in_one_line(monkeypatch, capsys, mirror: Path) -> None:
    """django-hstore sent 52 zero weeks: one line instead of an empty six-row chart."""
    result = run_cli(monkeypatch, capsys, "show", "django-hstore", "--data-dir", str(mirror))
    assert "No commits in the 52 weeks to 20" in result.out
    assert "┤" not in result.out and "Commits per week" not in result.out


@pytest.mark.parametrize("columns", [50, 60, 80, 200])
def test_show_never_wraps_a_url(monkeypatch, capsys, mirror: Path, columns: int) -> None:
    """Each link is whole on one line: beside its label where both fit, else alone."""
    result = run_cli(
        monkeypatch, capsys, "show", "django-comments-xtd", "--data-dir", str(mirror),
        columns=columns,
    )  # fmt: skip
    lines = [line.strip(" │") for line in lines_of(result.out)]
    for url in (
        "https://djangopackages.org/api/v4/packages/1083/",
        "https://github.com/danirus/django-comments-xtd",
        "https://django-comments.xtd.readthedocs.io",
        "http://pypi.python.org/pypi/django-comments-xtd",
    ):
        line = next(line for line in lines if url[:20] in line)
        assert line.endswith(url), (url, line)
        assert len(line) <= columns


def test_show_marks_a_dormant_package(monkeypatch, capsys, mirror: Path) -> None:
    out = run_cli(monkeypatch, capsys, "show", "django-hstore", "--data-dir", str(mirror)).out
    assert lines_of(out)[0].startswith("╭─ django-hstore † ─")
    assert "† Dormant: no commits in 52 weeks" in out
    lively = run_cli(monkeypatch, capsys, "show", "django-comments-xtd", "--data-dir", str(mirror))
    assert "†" not in lively.out


def test_grids_and_categories_count_packages_and_stars(monkeypatch, capsys, mirror) -> None:
    grids = run_cli(monkeypatch, capsys, "grids", "--json", "--data-dir", str(mirror))
    by_slug = {row["slug"]: row for row in json.loads(grids.out)}
    assert by_slug["postgresql"]["package_count"] == 1
    assert by_slug["postgresql"]["total_stars"] == 519
    categories = run_cli(
        monkeypatch, capsys, "categories", "--by", "stars", "--json", "--data-dir", str(mirror)
    )
    rows = json.loads(categories.out)
    assert rows[0]["slug"] == "apps"
    assert rows[0]["package_count"] == 6
    assert rows[0]["total_stars"] == 618 + 551 + 519 + 301 + 64 + 12345
    table = run_cli(monkeypatch, capsys, "categories", "--by", "stars", "--data-dir", str(mirror))
    assert row_of(table.out, "apps").split()[:4] == ["apps", "App", "6", "14,398"]
    grid_table = run_cli(monkeypatch, capsys, "grids", "--data-dir", str(mirror))
    assert "Packages built on PostgreSQL" in row_of(grid_table.out, "postgresql")


# --- hostile text, colour ------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ("top",),
        ("show", "Evil/../Pkg"),
        ("show", "9002"),
        ("grid", "commenting"),
        ("grids",),
        ("top", "--match", "boom"),
    ],
)
def test_api_text_is_never_markup_nor_escape_codes(monkeypatch, capsys, hostile, args) -> None:
    result = run_cli(monkeypatch, capsys, *args, "--data-dir", str(hostile), columns=250)
    assert result.code == 0, result.err
    out = result.out
    assert ESC not in out and "\x07" not in out and "\x9b" not in out
    for char in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c\r":
        assert char not in out
    if args[0] == "show":
        assert "[bold red]loud[/bold red] red" in out  # markup shown literally, escapes gone
    if args[0] == "top":  # the description column
        assert "[bold red]boom[/bold red] [link=https://evil.example]click[/link] red" in out
    if args[0] == "show":
        assert "[link=https://evil.example]1.0[/link]" in out
        assert "[bold red]boom[/bold red] [link=https://evil.example]click[/link] red" in out
        assert "pwned title" not in out  # an OSC window title is dropped whole
    if args[0] in ("grid", "grids"):
        assert "[italic]grid[/italic] link" in out


def test_no_colour_when_piped_or_no_color(monkeypatch, capsys, mirror: Path) -> None:
    piped = run_cli(monkeypatch, capsys, "top", "--data-dir", str(mirror))
    assert ESC not in piped.out
    forced = run_cli(
        monkeypatch, capsys, "top", "--data-dir", str(mirror), env={"FORCE_COLOR": "1"}
    )
    assert SGR_COLOUR.search(forced.out)  # a terminal: colours are used
    no_color = run_cli(
        monkeypatch,
        capsys,
        "top",
        "--data-dir",
        str(mirror),
        env={"FORCE_COLOR": "1", "NO_COLOR": "1"},
    )
    assert SGR_COLOUR.search(no_color.out) is None
    assert "\x1b[1m" in no_color.out  # bold is not a colour: NO_COLOR keeps it


# --- errors --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command", [("top",), ("grid", "x"), ("show", "x"), ("grids",), ("categories",), ("export",)]
)
def test_no_mirror_yet(monkeypatch, capsys, tmp_path: Path, command) -> None:
    result = run_cli(monkeypatch, capsys, *command, "--data-dir", str(tmp_path / "nothing"))
    assert result.code == 66
    assert result.err.strip() == (
        f"pkgharvest: error: no mirror in {tmp_path / 'nothing'} yet: run `pkgharvest fetch` first"
    )
    assert result.out == ""


def test_empty_mirror_is_no_mirror(monkeypatch, capsys, tmp_path: Path) -> None:
    root = write_mirror(tmp_path / "empty", MirrorContent())
    result = run_cli(monkeypatch, capsys, "top", "--data-dir", str(root))
    assert result.code == 66 and "run `pkgharvest fetch` first" in result.err


def test_unknown_slug_suggests_close_matches(monkeypatch, capsys, mirror: Path) -> None:
    result = run_cli(monkeypatch, capsys, "show", "django-hstor", "--data-dir", str(mirror))
    assert result.code == 5
    assert result.err.strip() == (
        "pkgharvest: error: no package 'django-hstor' in the mirror; "
        "did you mean 'django-hstore', 'django-star-ratings'?"
    )
    grid = run_cli(monkeypatch, capsys, "top", "--grid", "postgres", "--data-dir", str(mirror))
    assert grid.code == 5 and "no grid 'postgres'" in grid.err and "'postgresql'" in grid.err
    nothing = run_cli(monkeypatch, capsys, "show", "zzzzzz", "--data-dir", str(mirror))
    assert nothing.code == 5 and "did you mean" not in nothing.err


def test_corrupt_record_names_the_file(monkeypatch, capsys, mirror: Path) -> None:
    broken = mirror / "packages" / "django-hstore.json"
    broken.write_text('{"id": 1327, "slug": ', "utf-8")
    (mirror / "catalogue.db").unlink()  # so that the database is rebuilt from the files
    result = run_cli(monkeypatch, capsys, "top", "--data-dir", str(mirror))
    assert result.code == 65
    assert str(broken) in result.err and len(result.err.strip().splitlines()) == 1


# --- help and start-up ---------------------------------------------------------------------


@pytest.mark.parametrize("command", ["top", "grid", "show", "grids", "categories", "export"])
def test_every_command_help_has_an_example(monkeypatch, capsys, command: str) -> None:
    result = run_cli(monkeypatch, capsys, command, "--help")
    assert result.code == 0
    assert f"Example: pkgharvest {command}" in result.out or "Examples: pkgharvest" in result.out


def test_help_imports_neither_rich_nor_the_writers() -> None:
    """httpx comes with the fetch command's module (imported at its top, so that nothing
    depends on where it is imported); rich, csv and the writers wait for a command."""
    code = (
        "import sys, io, contextlib\n"
        "from pkgharvest.cli import run\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    assert run(['--help']) == 0\n"
        "heavy = [m for m in sys.modules if m.split('.')[0] in ('rich', 'csv')\n"
        "         or m.startswith(('pkgharvest.views.', 'pkgharvest.formats.'))]\n"
        "print(heavy)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


# --- grids / categories: the hand-drawn table is rich's table, character for character -------

_SGR = re.compile(r"\x1b\[([0-9;]*)m")


def _styled_chars(ansi: str) -> list[tuple[str, str]]:
    """Each printed character with the SGR parameters in force: what a terminal shows, whatever
    the escape sequences were split into."""
    chars: list[tuple[str, str]] = []
    style = ""
    for index, piece in enumerate(_SGR.split(ansi)):
        if index % 2:
            style = "" if piece in ("", "0") else piece
        else:
            chars.extend((char, style if char not in " \n" else "") for char in piece)
    return chars


def _group_summaries(rng: random.Random, count: int) -> list[GroupSummary]:
    words = ["django", "rest", "ÄÖÜ", "数据库", "🚀", "x" * 45, "", "auth", "  spaced  "]

    def text(most: int) -> str | None:
        picked = " ".join(rng.choice(words) for _ in range(rng.randint(0, most)))
        return picked if rng.random() > 0.1 else None

    return [
        GroupSummary(
            {"id": n, "slug": text(3) or f"g{n}", "title": text(4), "description": text(30)},
            rng.choice([0, 7, 1_234, 10**9]),
            rng.choice([0, 55, 123_456, 10**12]),
        )
        for n in range(count)
    ]


def _rich_groups_table(columns: list[Any], caption: str | None) -> Any:
    """The table rich draws for `groups_table`'s columns (each at most its width)."""
    from rich import box
    from rich.table import Table

    table = Table(
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        collapse_padding=True,
        caption=Text(caption) if caption else None,
        caption_justify="left",
    )
    for column in columns:
        table.add_column(
            column.header,
            justify="right" if column.right else "left",
            no_wrap=True,
            overflow="ellipsis",
            max_width=column.width,
        )
    for row in zip(*(column.cells for column in columns), strict=True):
        table.add_row(
            *(
                Text(cell, style=column.style, justify="right" if column.right else None)
                for cell, column in zip(row, columns, strict=True)
            )
        )
    return table


def _printed(renderable: Any, width: int, colour: bool) -> str:
    from rich.console import Console

    console = Console(
        width=width,
        force_terminal=colour,
        color_system="truecolor" if colour else None,
        markup=False,
        emoji=False,
        highlight=False,
        soft_wrap=False,
        record=False,
        file=io.StringIO(),
    )
    console.print(renderable, crop=False)
    return console.file.getvalue()  # type: ignore[attr-defined,no-any-return]


@pytest.mark.parametrize("seed", range(40))
def test_groups_table_drawn_by_hand_is_what_rich_draws(seed: int) -> None:
    """Random grids (wide characters, emoji, long slugs, no description, huge numbers) at
    random widths: the same text, and in colour the same style on every character. Where
    even the slugs and numbers do not fit (rich would cut them), they are drawn whole."""
    from pkgharvest.views import tables

    rng = random.Random(seed)
    summaries = _group_summaries(rng, rng.choice([0, 1, 5, 40]))
    width = rng.choice([12, 30, 50, 80, 120, 200])
    caption = rng.choice([None, "380 grids; mirror updated 6 months ago"])
    noun = rng.choice(["Grid", "Category"])
    drawn = tables.groups_table(summaries, noun, width=width, caption=caption)
    columns = tables.group_columns(summaries, noun, width=width)
    spills = any(cell_len(slug) > columns[0].width for slug in columns[0].cells)
    if spills or sum(c.width for c in columns) + 2 * (len(columns) - 1) > width:
        # Too narrow for the slugs and numbers (rich would cut them): a slug that does not
        # fit beside the numbers spills (a line of its own); nothing is cut.
        out = _printed(drawn, width, colour=False)
        words = out.split()
        for summary in summaries:
            # (a spilled slug's line ends where the slug does: no space after it)
            assert display(summary.record.get("slug")).rstrip() in out
            assert f"{summary.package_count:,}" in words and f"{summary.total_stars:,}" in words
        assert "…" not in "".join(line[: columns[0].width] for line in out.splitlines())
        return
    # rich's lines, less the spaces rich pads them with; the caption under them, wrapped to
    # the terminal as every legend and footer is (no space at a line's end either).
    table = tables.groups_table(summaries, noun, width=width)
    by_rich = _rich_groups_table(columns, None)
    for colour in (False, True):
        outputs = [_printed(renderable, width, colour) for renderable in (table, by_rich)]
        if colour:
            assert _styled_chars(outputs[0]) == _line_ends_trimmed(_styled_chars(outputs[1]))
        else:
            assert outputs[0] == "\n".join(line.rstrip(" ") for line in outputs[1].split("\n"))
    if caption:
        under = wrapped_lines(caption, width)
        lines = _printed(drawn, width, colour=False).splitlines()
        assert lines[: -len(under)] == _printed(table, width, colour=False).splitlines()
        assert lines[-len(under) :] == under


def _line_ends_trimmed(chars: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Styled characters without the (unstyled) spaces before each line's end."""
    trimmed: list[tuple[str, str]] = []
    for char in chars:
        if char[0] == "\n":
            while trimmed and trimmed[-1] == (" ", ""):
                trimmed.pop()
        trimmed.append(char)
    return trimmed


def test_grids_never_cut_a_slug(monkeypatch, capsys, tmp_path: Path) -> None:
    """A grid slug longer than the old 36-character cap: whole, at 80 columns in its column,
    at 50 on a line of its own (its numbers on the next)."""
    grid = {**synthetic_grids(1)[0], "slug": "authentication-and-authorization-for-rest-apis"}
    package = synthetic_package(1, "django-one", stars=5, grids=[ref(grid)])
    content = MirrorContent([package], [grid], [])
    link_grids(content)
    root = write_mirror(tmp_path / "m", content)
    for columns in (50, 80):
        out = run_cli(monkeypatch, capsys, "grids", "--data-dir", str(root), columns=columns).out
        assert "authentication-and-authorization-for-rest-apis" in out.split()
        assert max(cell_len(line) for line in out.splitlines()) <= columns


@pytest.mark.parametrize("seed", range(30))
def test_wrapped_lines_keep_every_word_and_fit(seed: int) -> None:
    """Legends and footers (views/columns.wrapped_lines): the words in order, none split, no
    line wider than the terminal unless it is one word too long for any line, no line ending
    in a space, every line after the first indented."""
    rng = random.Random(seed)
    words = ["a", "bar", "2026-02-23;", "commits,", "(from", "数据库", "🚀", "x" * 70, "last", "z"]
    text = " ".join(rng.choice(words) for _ in range(rng.randint(1, 40)))
    width = rng.choice([1, 5, 20, 40, 60, 80, 120])
    lines = wrapped_lines(text, width)
    assert " ".join(line.strip() for line in lines) == text
    assert all(line == line.rstrip() for line in lines)
    assert all(line.startswith("  ") and line[2] != " " for line in lines[1:])
    for line in lines:
        assert cell_len(line) <= width or " " not in line.strip(), (width, line)


def test_trends_shows_a_gain_only_beside_its_count() -> None:
    """Where the other count (forks, for `--by stars`) does not fit and its narrower `Gained`
    would, neither is shown: a gain beside no count would read as the ranked one's; the
    percentage, narrower, comes back instead where it fits."""
    from pkgharvest.catalogue.reports import Trend
    from pkgharvest.views.history import trends_table

    row = Trend("django-x", None, 1_234, 56, 4.8, 12_345_678, 1, 0.0, "a", "b", (1, 2))
    full = trends_table([row], by="stars", width=200).table.plain.splitlines()[0].split()
    assert full == ["#", "Package", "Stars", "Gained", "%", "Forks", "Gained", "Trend"]
    # Room for the percentage and the forks' gain, not for the forks.
    for width in range(len("#  Package   Stars  Gained      %"), 60):
        header = trends_table([row], by="stars", width=width).table.plain.splitlines()[0]
        assert header.split().count("Gained") == 1 or "Forks" in header, (width, header)
        assert "%" in header, (width, header)
