"""`top` and `grid` as comparisons: one line per package, full slugs at every width, dormant
packages marked (and hidden with --active), activity ranked and calendar-aligned, compact JSON."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from rich.cells import cell_len

from pkgharvest.activity import aligned_weeks, end_week, is_dormant
from pkgharvest.records import WEEKS
from tests.gridcolumns import column_headers
from tests.mirrorbuilder import (
    NOW,
    MirrorContent,
    category_record,
    link_grids,
    many_packages,
    ref,
    run_cli,
    synthetic_grids,
    synthetic_package,
    write_mirror,
)

REPO = Path(__file__).resolve().parent.parent

LONG_SLUGS = [
    "django-queue-thumbnail-generator-for-s3-storage",  # 47 characters: longer than any cap
    "djangorestframework-simplejwt-token-blacklist",
    "wagtail-accessibility-checker-and-report-tool",
]
DESCRIPTION = "Thumbnails for queued uploads, generated off the request cycle."


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


@pytest.fixture
def wide(tmp_path: Path) -> Path:
    """60 varied packages and three long-slugged ones, all in one grid, with descriptions."""
    grids = synthetic_grids(1)
    packages = many_packages(60, grids, [], seed=11)
    for index, slug in enumerate(LONG_SLUGS):
        packages.append(
            synthetic_package(
                500 + index,
                slug,
                stars=90_000 - index,  # the top three rows
                forks=1_234,
                commits_52w=[index + 1] * WEEKS,
                last_commit="2026-05-20T10:00:00Z",
                pypi_version="12.3.4",
                repo_description=DESCRIPTION,
                grids=[ref(grids[0])],
            )
        )
    content = MirrorContent(packages, grids, [])
    link_grids(content)
    return write_mirror(tmp_path / "wide", content)


def _table_rows(out: str) -> list[str]:
    """The table's rows: the lines after the rule under the header that start with a rank."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if set(line) == {"─"}) + 1
    rows = []
    for line in lines[start:]:
        if not line.lstrip()[:1].isdigit():
            break
        rows.append(line)
    return rows


def _flat(out: str) -> str:
    """The output with line breaks as spaces (a legend may wrap at narrow widths)."""
    return " ".join(out.split())


@pytest.mark.parametrize("columns", [60, 120, 220])
@pytest.mark.parametrize("command", [("top", "--limit", "0"), ("grid", "synthetic-grid-0")])
def test_one_line_per_package_and_whole_slugs(monkeypatch, capsys, wide, columns, command) -> None:
    result = run_cli(monkeypatch, capsys, *command, "--data-dir", str(wide), columns=columns)
    assert result.code == 0, result.err
    rows = _table_rows(result.out)
    assert len(rows) == 63  # one line each, none wrapped, no title lines
    slugs = [row.split()[1] for row in rows]
    assert set(LONG_SLUGS) <= set(slugs)  # never cut
    assert all("…" not in slug for slug in slugs)
    assert max(cell_len(line) for line in result.out.splitlines()) <= columns
    # Numbers are never cut either; the ranks run 1..63.
    assert [row.split()[0] for row in rows] == [str(n) for n in range(1, 64)]
    assert "90,000" in rows[0]


def test_what_each_width_shows(monkeypatch, capsys, wide) -> None:
    def top(columns: int) -> str:
        return run_cli(monkeypatch, capsys, "top", "--data-dir", str(wide), columns=columns).out

    def grid(columns: int) -> str:
        args = ("grid", "synthetic-grid-0", "--data-dir", str(wide))
        return run_cli(monkeypatch, capsys, *args, columns=columns).out

    # 220: everything, 52 weekly bars and the description (cut to fit).
    assert "Commits per week" in top(220) and "Description" in top(220)
    assert "Thumbnails for queued uploads" in top(220)
    assert "Category" in top(220) and "Version" in top(220)
    assert "one bar = commits in one week" in top(220)
    # 120: top gives up the description, then sparkline width, before any slug is cut.
    assert "Description" not in top(120) and "Per 4 weeks" in top(120)
    assert "one bar = commits in four weeks" in top(120)
    # The grid has no category column: two-week bars at 140 (beside a 47-character slug), and
    # part of the description as well at 160.
    assert "Commits per 2 weeks" in grid(140) and "Description" not in grid(140)
    assert "one bar = commits in two weeks" in grid(140)
    assert "Commits per 2 weeks" in grid(160) and "Thumbnails for queued" in grid(160)
    # 60: the bare ranking with whole slugs; no sparkline, no category, version or description.
    narrow = top(60)
    for gone in ("Per 4 weeks", "Category", "Version", "Description", "Activity:"):
        assert gone not in narrow


def test_grid_uses_one_shared_scale(monkeypatch, capsys, tmp_path: Path) -> None:
    grid = synthetic_grids(1)[0]
    content = MirrorContent(
        [
            synthetic_package(n, f"commits-{n}-a-week", stars=n, commits_52w=[n] * 52)
            for n in (1, 2, 4)
        ],
        [grid],
        [],
    )
    for package in content.packages:
        package["grids"] = [ref(grid)]
    link_grids(content)
    root = write_mirror(tmp_path / "m", content)
    result = run_cli(monkeypatch, capsys, "grid", "synthetic-grid-0", "--data-dir", str(root))
    bars = {row.split()[1]: row.split()[4] for row in _table_rows(result.out)}
    # One scale for the grid: 1, 2 and 4 commits a week against the busiest bar's 4.
    assert bars == {
        "commits-4-a-week": "█" * 52,
        "commits-2-a-week": "▅" * 52,
        "commits-1-a-week": "▃" * 52,
    }
    assert "one scale: full bar = 4 commits" in _flat(result.out)
    own = run_cli(
        monkeypatch, capsys, "grid", "synthetic-grid-0", "--scale", "row", "--data-dir", str(root)
    )
    assert {row.split()[4] for row in _table_rows(own.out)} == {"█" * 52}


def test_the_side_by_side_layout_stays_available(monkeypatch, capsys, wide) -> None:
    args = ("grid", "synthetic-grid-0", "--layout", "columns", "--data-dir", str(wide))
    result = run_cli(monkeypatch, capsys, *args, columns=220)
    assert result.code == 0
    assert "│ Stars" in result.out
    # A slug longer than a column wraps after its hyphens, whole.
    assert "1. django-queue-thumbnail-generator-for-s3-storage" in column_headers(result.out)


# --- dormant ---------------------------------------------------------------------------------

YEARS_AGO = _iso(NOW - timedelta(days=800))
MONTHS_AGO = _iso(NOW - timedelta(days=300))


@pytest.fixture
def ages(tmp_path: Path) -> Path:
    grid = synthetic_grids(1)[0]
    packages = [
        # No commit in 52 weeks, last commit two years ago: dormant.
        synthetic_package(1, "old-and-quiet", stars=500, last_commit=YEARS_AGO),
        # Weekly counts unknown, last commit two years ago: dormant.
        synthetic_package(2, "old-unknown", stars=400, last_commit=YEARS_AGO, commits_52w=None),
        # Quiet for 52 weeks but the last commit is under a year old: not dormant.
        synthetic_package(3, "resting", stars=300, last_commit=MONTHS_AGO),
        # An old last_commit contradicted by commits in the 52 weeks: not dormant.
        synthetic_package(4, "busy", stars=200, last_commit=YEARS_AGO, commits_52w=[1] * 52),
        # No known last commit: not known to be dormant.
        synthetic_package(5, "no-date", stars=100, last_commit=None),
    ]
    for package in packages:
        package["grids"] = [ref(grid)]
    content = MirrorContent(packages, [grid], [])
    link_grids(content)
    return write_mirror(tmp_path / "ages", content)


DORMANT = {"old-and-quiet", "old-unknown"}
ALL = ["old-and-quiet", "old-unknown", "resting", "busy", "no-date"]


def test_dormant_definition() -> None:
    quiet = synthetic_package(1, "a", last_commit=YEARS_AGO)
    assert is_dormant(quiet, NOW)
    assert not is_dormant(quiet, NOW - timedelta(days=500))  # seen from when it was younger
    assert not is_dormant(synthetic_package(2, "b", last_commit=MONTHS_AGO), NOW)


@pytest.mark.parametrize("command", [("top",), ("grid", "synthetic-grid-0")])
def test_dormant_is_marked_and_active_hides_it(monkeypatch, capsys, ages, command) -> None:
    result = run_cli(monkeypatch, capsys, *command, "--data-dir", str(ages), columns=160)
    rows = {row.split()[1]: row for row in _table_rows(result.out)}
    assert list(rows) == ALL
    for slug, row in rows.items():
        assert ("dormant" in row) == (slug in DORMANT), row
    assert "Dormant: no commits in 52 weeks, last commit over 365 days ago" in _flat(result.out)

    active = run_cli(
        monkeypatch, capsys, *command, "--active", "--data-dir", str(ages), columns=160
    )
    assert [row.split()[1] for row in _table_rows(active.out)] == [
        s for s in ALL if s not in DORMANT
    ]
    assert "2 dormant hidden" in active.out

    as_json = run_cli(monkeypatch, capsys, *command, "--json", "--data-dir", str(ages))
    assert {r["slug"] for r in json.loads(as_json.out) if r["dormant"]} == DORMANT
    active_json = run_cli(
        monkeypatch, capsys, *command, "--json", "--active", "--data-dir", str(ages)
    )
    assert [r["slug"] for r in json.loads(active_json.out)] == [s for s in ALL if s not in DORMANT]


@pytest.mark.parametrize("columns", [30, 60])
def test_narrow_tables_still_mark_dormant(monkeypatch, capsys, ages, columns: int) -> None:
    result = run_cli(monkeypatch, capsys, "top", "--data-dir", str(ages), columns=columns)
    rows = {row.split()[1]: row for row in _table_rows(result.out)}
    assert "Commits" not in result.out  # no activity column at this width
    assert rows["old-and-quiet"].split()[2] == "†" and rows["old-unknown"].split()[2] == "†"
    assert "†" not in rows["resting"]
    assert "† Dormant: no commits in 52 weeks" in _flat(result.out)


def test_show_says_dormant(monkeypatch, capsys, ages) -> None:
    dormant = run_cli(monkeypatch, capsys, "show", "old-and-quiet", "--data-dir", str(ages))
    assert "Dormant: no commits in 52 weeks, last commit over 365 days ago" in dormant.out
    lively = run_cli(monkeypatch, capsys, "show", "resting", "--data-dir", str(ages))
    assert "Dormant" not in lively.out


# --- activity: calendar alignment and ranking -------------------------------------------------


def test_weeks_are_aligned_on_the_newest_fetch_week() -> None:
    fetched = datetime(2026, 5, 26, 14, 0, tzinfo=UTC)  # a Tuesday
    newer = synthetic_package(1, "a", last_fetched=_iso(fetched), commits_52w=list(range(52)))
    older = synthetic_package(
        2, "b", last_fetched=_iso(fetched - timedelta(weeks=3)), commits_52w=list(range(52))
    )
    last = end_week([newer, older])
    assert last is not None and last.isoformat() == "2026-05-25"  # that week's Monday
    assert aligned_weeks(newer, last) == list(range(52))
    # The older record's data ends three weeks early: its first three weeks fall off the left,
    # and the last three columns have no data.
    assert aligned_weeks(older, last) == [*range(3, 52), None, None, None]
    assert aligned_weeks(synthetic_package(3, "c", commits_52w=None), last) is None


def test_top_by_activity_ranks_recent_commits(monkeypatch, capsys, tmp_path: Path) -> None:
    fetched = "2026-05-26T14:00:00Z"
    stale_fetch = _iso(datetime(2026, 5, 26, 14, tzinfo=UTC) - timedelta(weeks=20))
    content = MirrorContent(
        [
            # Many commits, but all more than 13 weeks ago.
            synthetic_package(1, "used-to-be-busy", commits_52w=[9] * 30 + [0] * 22),
            # A few, recently.
            synthetic_package(2, "recently-active", commits_52w=[0] * 49 + [1, 1, 1]),
            # Busy in its own last weeks, but the service last counted them 20 weeks ago.
            synthetic_package(
                3, "counted-long-ago", commits_52w=[0] * 42 + [5] * 10, last_fetched=stale_fetch
            ),
            synthetic_package(4, "unknown", commits_52w=None),
        ]
    )
    for package in content.packages:
        if package["slug"] != "counted-long-ago":
            package["last_fetched"] = fetched
    root = write_mirror(tmp_path / "m", content)
    result = run_cli(
        monkeypatch, capsys, "top", "--by", "activity", "--json", "--data-dir", str(root)
    )
    assert [row["slug"] for row in json.loads(result.out)] == [
        "recently-active",  # 3 commits in the last 13 weeks
        "used-to-be-busy",  # 0 recent, 270 in 52 weeks
        "counted-long-ago",  # 0 recent (its weeks end 20 weeks before the others), 50 in all
        "unknown",  # unknown always last
    ]


# --- JSON ------------------------------------------------------------------------------------


def test_json_keeps_52_weeks_on_one_line(monkeypatch, capsys, wide) -> None:
    result = run_cli(monkeypatch, capsys, "top", "--limit", "3", "--json", "--data-dir", str(wide))
    rows = json.loads(result.out)
    assert len(rows) == 3 and all(len(row["commits_52w"]) == 52 for row in rows)
    week_lines = [line for line in result.out.splitlines() if '"commits_52w": [' in line]
    assert len(week_lines) == 3 and all(line.endswith("],") for line in week_lines)
    assert len(result.out.splitlines()) < 3 * 25  # about 20 lines a row, not 70
    show = run_cli(monkeypatch, capsys, "show", LONG_SLUGS[0], "--json", "--data-dir", str(wide))
    assert json.loads(show.out)["commits_52w"] == [1] * 52
    assert "[1, 1, 1, 1" in show.out


def test_readme_says_what_one_bar_is() -> None:
    readme = (REPO / "docs" / "reading.md").read_text("utf-8")
    for phrase in (
        "one bar = commits in one week",
        "one bar = commits in two weeks",
        "one bar = commits in four weeks",
        "Dormant: no commits in 52 weeks, last commit over 365 days ago",
    ):
        assert phrase in readme, phrase


# --- issue 17: narrow terminals ----------------------------------------------------------------


def test_one_long_slug_does_not_cost_the_top_its_sparkline(monkeypatch, capsys, tmp_path) -> None:
    """`top --limit 3` at 80 columns with a 47-character slug in it: the sparkline stays, and
    that slug gets a line of its own, its row going on below it."""
    packages = [
        synthetic_package(1, LONG_SLUGS[0], stars=90_000, forks=1_234, commits_52w=[1] * WEEKS),
        synthetic_package(2, "django-filter", stars=4_500, forks=800, commits_52w=[2] * WEEKS),
        synthetic_package(3, "django-taggit", stars=3_300, forks=600, commits_52w=[0] * WEEKS),
    ]
    for package in packages:
        package["last_commit"] = "2026-05-20T10:00:00Z"
    root = write_mirror(tmp_path / "m", MirrorContent(packages))
    args = ("top", "--limit", "3", "--data-dir", str(root))
    out = run_cli(monkeypatch, capsys, *args, columns=80).out
    assert "Per 4 weeks" in out and "Forks" in out and "Last commit" in out
    lines = out.splitlines()
    spilled = next(i for i, line in enumerate(lines) if LONG_SLUGS[0] in line)
    assert lines[spilled].split() == ["1", LONG_SLUGS[0]]
    assert lines[spilled + 1].split()[:2] == ["90,000", "1,234"]
    assert max(cell_len(line) for line in lines) <= 80


def test_the_description_goes_before_any_column_does(monkeypatch, capsys, tmp_path) -> None:
    """The description goes before any column does: it never shows once Category (or any other
    column) has gone; the sparkline narrows before Category goes."""
    category = category_record(
        {"id": 1, "slug": "starter-projects", "title": "Starter Project Templates"}
    )
    packages = [
        synthetic_package(
            n,
            f"django-starter-{n}",
            stars=n,
            category=ref(category),
            repo_description=DESCRIPTION,
            commits_52w=[n % 3] * WEEKS,
        )
        for n in range(1, 6)
    ]
    root = write_mirror(tmp_path / "m", MirrorContent(packages, [], [category]))
    for columns in range(60, 221):
        out = run_cli(monkeypatch, capsys, "top", "--data-dir", str(root), columns=columns).out
        header = out.splitlines()[0]
        if "Description" in header:
            assert "Category" in header and "Version" in header, (columns, header)
        if "Category" in header:
            assert "Per 4 weeks" in header or "Commits per" in header, (columns, header)


def test_grid_rows_have_the_52_week_total(monkeypatch, capsys, ages) -> None:
    out = run_cli(monkeypatch, capsys, "grid", "synthetic-grid-0", "--data-dir", str(ages)).out
    assert "52 w" in out.splitlines()[3]
    busy = next(row for row in _table_rows(out) if row.split()[1] == "busy")
    assert "52" in busy.split()  # [1] * 52: 52 commits


def test_blank_weeks_are_explained_when_on_screen(monkeypatch, capsys, tmp_path: Path) -> None:
    """A package the service measured three weeks before the others ends in blank bars: the
    legend says what they are (and not when no bar is blank)."""
    fresh = synthetic_package(1, "measured-lately", commits_52w=[1] * 52)
    stale = synthetic_package(
        2,
        "measured-earlier",
        commits_52w=[1] * 52,
        last_fetched=_iso(datetime(2026, 5, 26, 14, tzinfo=UTC) - timedelta(weeks=3)),
    )
    both = write_mirror(tmp_path / "both", MirrorContent([fresh, stale]))
    out = run_cli(monkeypatch, capsys, "top", "--data-dir", str(both), columns=160).out
    assert "blank: weeks after the service last measured that package" in _flat(out)
    one = write_mirror(tmp_path / "one", MirrorContent([fresh]))
    out = run_cli(monkeypatch, capsys, "top", "--data-dir", str(one), columns=160).out
    assert "blank:" not in out


@pytest.mark.parametrize(("columns", "side_by_side"), [(60, 2), (80, 3), (200, 6)])
def test_grid_columns_put_several_packages_side_by_side(
    monkeypatch, capsys, wide, columns: int, side_by_side: int
) -> None:
    args = ("grid", "synthetic-grid-0", "--layout", "columns", "--data-dir", str(wide))
    out = run_cli(monkeypatch, capsys, *args, columns=columns).out
    lines = out.splitlines()
    top = next(i for i, line in enumerate(lines) if line.startswith("┌"))
    assert lines[top].count("┬") == side_by_side
    # The headers start on the block's first line, however many lines a wrapped slug takes.
    assert all(f"│ {n}. " in lines[top + 1] for n in range(1, side_by_side + 1))
    assert max(cell_len(line) for line in out.splitlines()) <= columns
    headers = column_headers(out)
    assert len(headers) == 63 and f"1. {LONG_SLUGS[0]}" in headers  # whole, though wrapped


def test_grid_columns_mark_dormant_packages(monkeypatch, capsys, ages) -> None:
    args = ("grid", "synthetic-grid-0", "--layout", "columns", "--data-dir", str(ages))
    out = run_cli(monkeypatch, capsys, *args, columns=80).out
    assert column_headers(out) == [
        "1. old-and-quiet †",
        "2. old-unknown †",
        "3. resting",
        "4. busy",
        "5. no-date",
    ]
    assert "† Dormant: no commits in 52 weeks" in _flat(out)


@pytest.mark.parametrize("layout", ["rows", "columns"])
def test_a_long_grid_description_wraps_between_words_with_no_space_at_a_line_end(
    monkeypatch, capsys, tmp_path: Path, layout: str
) -> None:
    description = (
        "This grid compares the packages that help you build REST APIs with Django, from full "
        "frameworks to small helpers for serializers, authentication and pagination."
    )
    grid = {**synthetic_grids(1)[0], "description": description}
    package = synthetic_package(1, "django-one", stars=5, grids=[ref(grid)])
    content = MirrorContent([package], [grid], [])
    link_grids(content)
    root = write_mirror(tmp_path / "m", content)
    args = ("grid", grid["slug"], "--layout", layout, "--data-dir", str(root))
    out = run_cli(monkeypatch, capsys, *args, columns=60).out
    lines = out.splitlines()
    assert all(line == line.rstrip() and cell_len(line) <= 60 for line in lines)
    shown = lines[1 : next(n for n, line in enumerate(lines) if line.startswith("1 package"))]
    assert len(shown) > 1 and " ".join(shown) == description
