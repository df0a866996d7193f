"""Tables for `top`, `grid`, `grids` and `categories`.

Every piece of API text goes through `text.sanitize` and into a `rich.text.Text`, so it is shown
literally: "[bold]x[/bold]" stays those characters. The `top` ranking fits `width`: sparklines
shrink from one column per week to one per two or four weeks, then columns go (category,
version, sparkline, forks, last commit), then package names are cut with an ellipsis; numbers
are never cut.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from rich import box
from rich.cells import cell_len, set_cell_size
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Span, Text

from pkgharvest.mirror import (
    GroupSummary,
    category_ref,
    commits_total,
    int_field,
    parse_timestamp,
    text_field,
    weekly_commits,
)
from pkgharvest.records import Record
from pkgharvest.views import ActivityScale
from pkgharvest.views.charts import SPARK_WIDTHS, bucket, relative_date, sparkline, thousands
from pkgharvest.views.text import ELLIPSIS, clip_lines, display, title_differs

UNKNOWN_ACTIVITY = "unknown"
SLUG_STYLE = "bold cyan"
SPARK_STYLE = "green"
MISSING = "—"
_PACKAGE_MAX = 40
_PACKAGE_MIN = 12
_PACKAGE_FIT = 20
_VERSION_MAX = 14
_CATEGORY_MAX = 18
_GROUP_TEXT_MAX = 36
_GROUP_DESCRIPTION_MIN = 12
_GROUP_TEXT_MIN = 6


# --- cells ---------------------------------------------------------------------------------


def last_commit_text(record: Record, now: datetime) -> str:
    when = parse_timestamp(record.get("last_commit"))
    return relative_date(when, now) if when is not None else MISSING


def category_text(record: Record) -> str:
    ref = category_ref(record)
    if ref is None:
        return MISSING
    return display(ref.get("title") or ref.get("slug") or f"#{ref['id']}")


def activity_cells(records: Sequence[Record], width: int, scale: ActivityScale) -> list[Text]:
    """Each record's sparkline, `width` characters wide; "unknown" when the API sent none."""
    bucketed = [
        bucket(counts, width) if (counts := weekly_commits(r)) is not None else None
        for r in records
    ]
    shared = max((max(b) for b in bucketed if b), default=0)
    return [
        Text(UNKNOWN_ACTIVITY, style="dim italic")
        if counts is None
        else Text(
            sparkline(counts, shared if scale is ActivityScale.SHARED else None),
            style=SPARK_STYLE,
        )
        for counts in bucketed
    ]


def _number(value: int | None) -> Text:
    return Text(thousands(value, MISSING), justify="right")


# --- top ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Layout:
    """What a ranking table shows at a given terminal width.

    Attributes:
        spark_width: sparkline characters per row (52, 26 or 13; 0 hides the column).
        hidden: optional columns left out, by header.
        package_width: the most the package column may take (cut with an ellipsis beyond).
    """

    spark_width: int
    hidden: frozenset[str]
    package_width: int


_GAP = 2
"""Between two columns: one space of padding (collapsed) and the blank divider."""

# Narrowing steps, widest first: sparkline width, then the columns given up, least useful first.
_STEPS: tuple[tuple[int, frozenset[str]], ...] = (
    (52, frozenset()),
    (26, frozenset()),
    (13, frozenset()),
    (13, frozenset({"Category"})),
    (13, frozenset({"Category", "Version"})),
    (0, frozenset({"Category", "Version"})),
    (0, frozenset({"Category", "Version", "Forks"})),
    (0, frozenset({"Category", "Version", "Forks", "Last commit"})),
)


def _choose_layout(fixed: dict[str, int], package: int, width: int) -> _Layout:
    """The first step of _STEPS whose columns fit in `width` with a package column of
    _PACKAGE_FIT characters (or the longest name, if shorter); longer names are cut.

    `fixed` maps every column but the package and sparkline columns to its width.
    """
    room = 0
    for spark, hidden in _STEPS:
        shown = [w for header, w in fixed.items() if header not in hidden]
        if spark:
            shown.append(spark)
        room = width - sum(shown) - _GAP * len(shown)
        if room >= min(package, _PACKAGE_FIT):
            return _Layout(spark, hidden, min(room, package))
    # Too narrow even for the bare ranking: cut the names, never the numbers.
    return _Layout(0, _STEPS[-1][1], max(room, _PACKAGE_MIN))


@dataclass(frozen=True)
class _Column:
    """One column of a ranking, its cells already sanitized and measured.

    Attributes:
        header: the column's title.
        cells: per row, the cell's lines as (text, style) pairs (the package cell may have two).
        width: the column's width in terminal cells; longer text is cut with an ellipsis.
        right: right-aligned (numbers) rather than left.
    """

    header: str
    cells: list[list[tuple[str, str]]]
    width: int
    right: bool = False


def _fit(text: str, width: int, right: bool) -> str:
    """`text` cut with an ellipsis or padded to exactly `width` terminal cells."""
    length = len(text) if text.isascii() else cell_len(text)
    if length > width:
        text = set_cell_size(text, max(width - 1, 0)) + ELLIPSIS if width > 0 else ""
        length = width
    padding = " " * (width - length)
    return padding + text if right else text + padding


def _render_columns(columns: Sequence[_Column]) -> Text:
    """Header, rule and rows as one Text, columns _GAP apart, no trailing spaces.

    Drawn by hand rather than with rich.table.Table: with the widths known already, this is
    about ten times faster for thousands of rows (`top --limit 0` on a whole mirror).
    """
    gap = " " * _GAP
    parts: list[str] = []
    spans: list[Span] = []
    offset = 0

    def line(pieces: list[tuple[str, str]]) -> None:
        nonlocal offset
        while pieces and not pieces[-1][0].strip():
            pieces.pop()
        for index, (text, style) in enumerate(pieces):
            if index:
                parts.append(gap)
                offset += len(gap)
            if index == len(pieces) - 1:
                text = text.rstrip()
            if style:
                spans.append(Span(offset, offset + len(text), style))
            parts.append(text)
            offset += len(text)
        parts.append("\n")
        offset += 1

    line([(_fit(c.header, c.width, c.right), "bold") for c in columns])
    line([("─" * (sum(c.width for c in columns) + _GAP * (len(columns) - 1)), "dim")])
    rows = len(columns[0].cells) if columns else 0
    for row in range(rows):
        height = max(len(c.cells[row]) for c in columns)
        for depth in range(height):
            pieces = []
            for column in columns:
                cell = column.cells[row]
                text, style = cell[depth] if depth < len(cell) else ("", "")
                pieces.append((_fit(text, column.width, column.right), style))
            line(pieces)
    # One Text built at once: Text.append per piece costs more than the rest put together.
    return Text("".join(parts).rstrip("\n"), spans=spans, no_wrap=True, overflow="ellipsis")


def ranking_table(
    records: Sequence[Record],
    *,
    now: datetime,
    width: int,
    scale: ActivityScale = ActivityScale.ROW,
    first_rank: int = 1,
) -> Text:
    """`top`: rank, package, stars, forks, activity, 52-week total, last commit, version,
    category; narrowed to `width` as _STEPS says. Every line fits `width` (print it with
    soft_wrap=True: there is nothing left to wrap)."""

    def plain(values: Sequence[str], style: str = "") -> list[list[tuple[str, str]]]:
        return [[(value, style)] for value in values]

    cells = {
        "#": plain([str(first_rank + i) for i in range(len(records))]),
        "Stars": plain([thousands(int_field(r, "stars"), MISSING) for r in records]),
        "Forks": plain([thousands(int_field(r, "forks"), MISSING) for r in records]),
        "52 w": plain([thousands(commits_total(r), MISSING) for r in records]),
        "Last commit": plain([last_commit_text(r, now) for r in records]),
        "Version": plain([display(text_field(r, "pypi_version")) for r in records]),
        "Category": plain([category_text(r) for r in records]),
    }
    caps = {"Version": _VERSION_MAX, "Category": _CATEGORY_MAX}
    widths = {
        header: min(
            max([len(header), *(cell_len(c[0][0]) for c in column)]), caps.get(header, 1000)
        )
        for header, column in cells.items()
    }
    packages = [_package_lines(r) for r in records]
    package_natural = max([len("Package"), *(cell_len(t) for c in packages for t, _ in c)])
    layout = _choose_layout(widths, max(min(package_natural, _PACKAGE_MAX), _PACKAGE_MIN), width)

    columns: list[_Column] = []
    for header in (
        "#",
        "Package",
        "Stars",
        "Forks",
        "Activity",
        "52 w",
        "Last commit",
        "Version",
        "Category",
    ):
        if header == "Package":
            columns.append(_Column(header, packages, layout.package_width))
        elif header == "Activity":
            if layout.spark_width:
                spark_header = {52: "Commits per week", 26: "Per 2 weeks", 13: "Per 4 weeks"}
                sparks = [
                    [(cell.plain, str(cell.style))]
                    for cell in activity_cells(records, layout.spark_width, scale)
                ]
                columns.append(
                    _Column(spark_header[layout.spark_width], sparks, layout.spark_width)
                )
        elif header not in layout.hidden:
            right = header in ("#", "Stars", "Forks", "52 w")
            columns.append(_Column(header, cells[header], widths[header], right))
    return _render_columns(columns)


def _package_lines(record: Record) -> list[tuple[str, str]]:
    """The slug; under it the title, when it says something the slug does not."""
    slug = display(record.get("slug"))
    title = display(record.get("title"), missing="")
    lines = [(slug, SLUG_STYLE)]
    if title_differs(slug, title):
        lines.append((title, "dim"))
    return lines


# --- grid: packages side by side -------------------------------------------------------------

_GRID_CELL_MIN = 16  # the 13-character sparkline and a little air
_GRID_CELL_MAX = 30
_GRID_LABEL = 12
_GRID_DESCRIPTION_LINES = 3


def grid_view(
    grid: Record,
    packages: Sequence[Record],
    *,
    now: datetime,
    width: int,
    scale: ActivityScale = ActivityScale.ROW,
) -> Group:
    """One grid as the website shows it: a header, then its packages as columns (in as many
    blocks as the width needs), one row per feature."""
    parts: list[RenderableType] = [_grid_header(grid, len(packages))]
    if not packages:
        parts.append(Text("None of this grid's packages are in the mirror.", style="dim"))
        return Group(*parts)
    # As wide as the longest "NN. slug" needs, within limits; then as many as fit side by side.
    longest = max(cell_len(f"{len(packages)}. {display(p.get('slug'))}") for p in packages)
    cell = min(max(longest, _GRID_CELL_MIN), _GRID_CELL_MAX, max(width - _GRID_LABEL - 7, 8))
    per_block = max(1, (width - _GRID_LABEL - 4) // (cell + 3))
    spark_width = SPARK_WIDTHS[-1]
    sparks = activity_cells(packages, spark_width, scale)
    for start in range(0, len(packages), per_block):
        block = packages[start : start + per_block]
        parts.append(_grid_block(block, sparks[start : start + per_block], start + 1, now, cell))
    return Group(*parts)


def _grid_header(grid: Record, count: int) -> Text:
    header = Text(display(grid.get("title")), style="bold")
    header.append(f"  ({display(grid.get('slug'))})", style="dim")
    description = display(grid.get("description"), missing="")
    if description:
        header.append("\n" + description)
    noun = "package" if count == 1 else "packages"
    header.append(f"\n{count:,} {noun}, by stars", style="dim")
    return header


def _grid_block(
    block: Sequence[Record], sparks: Sequence[Text], first_rank: int, now: datetime, cell: int
) -> Table:
    table = Table(box=box.SQUARE, show_lines=True, pad_edge=True, expand=False)
    table.add_column("", width=_GRID_LABEL, no_wrap=True, style="dim")
    for offset, record in enumerate(block):
        header = Text(f"{first_rank + offset}. ", style="dim", no_wrap=True, overflow="ellipsis")
        header.append(display(record.get("slug")), style=SLUG_STYLE)
        table.add_column(header, width=cell, overflow="ellipsis")

    def row(label: str, cells: Sequence[RenderableType]) -> None:
        table.add_row(Text(label), *cells)

    row("Title", [Text(display(r.get("title")), no_wrap=True, overflow="ellipsis") for r in block])
    row(
        "Description",
        [
            Text(
                clip_lines(
                    display(r.get("repo_description"), missing=""),
                    cell,
                    _GRID_DESCRIPTION_LINES,
                )
            )
            for r in block
        ],
    )
    row("Stars", [_number(int_field(r, "stars")) for r in block])
    row("Forks", [_number(int_field(r, "forks")) for r in block])
    row("Per 4 weeks", sparks)
    row("52 w commits", [_number(commits_total(r)) for r in block])
    row("Last commit", [Text(last_commit_text(r, now)) for r in block])
    row("Version", [Text(display(text_field(r, "pypi_version"))) for r in block])
    row("Category", [Text(category_text(r)) for r in block])
    return table


# --- grids and categories ------------------------------------------------------------------


def groups_table(
    summaries: Sequence[GroupSummary], noun: str, *, width: int, caption: str | None = None
) -> Table:
    """`grids` / `categories`: slug, title, package count, total stars, and as much of the
    description as the width leaves (cut with an ellipsis)."""
    slugs = [Text(display(s.record.get("slug")), style="bold") for s in summaries]
    titles = [Text(display(s.record.get("title"))) for s in summaries]
    counts = [_number(s.package_count) for s in summaries]
    stars = [_number(s.total_stars) for s in summaries]
    descriptions = [
        Text(display(text_field(s.record, "description"), missing="")) for s in summaries
    ]

    def widest(cells: Sequence[Text], header: str, cap: int) -> int:
        return min(max([len(header), *(c.cell_len for c in cells)]), cap)

    widths = [
        widest(slugs, noun, _GROUP_TEXT_MAX),
        widest(titles, "Title", _GROUP_TEXT_MAX),
        widest(counts, "Packages", 20),
        widest(stars, "Stars", 20),
    ]
    # Numbers are never cut: the slug and title columns give up room first, equally.
    text_room = width - widths[2] - widths[3] - _GAP * 3
    while widths[0] + widths[1] > text_room and max(widths[:2]) > _GROUP_TEXT_MIN:
        widths[0 if widths[0] >= widths[1] else 1] -= 1
    room = width - sum(widths) - _GAP * len(widths)
    table = Table(
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        collapse_padding=True,
        caption=Text(caption) if caption else None,
        caption_justify="left",
    )
    table.add_column(noun, no_wrap=True, overflow="ellipsis", max_width=widths[0])
    table.add_column("Title", no_wrap=True, overflow="ellipsis", max_width=widths[1])
    table.add_column("Packages", justify="right", no_wrap=True)
    table.add_column("Stars", justify="right", no_wrap=True)
    columns: list[Sequence[Text]] = [slugs, titles, counts, stars]
    if room >= _GROUP_DESCRIPTION_MIN:
        table.add_column("Description", no_wrap=True, overflow="ellipsis", max_width=room)
        columns.append(descriptions)
    for row in zip(*columns, strict=True):
        table.add_row(*row)
    return table
