"""Tables for `top`, `grid`, `grids` and `categories`.

Every piece of API text goes through `text.sanitize` and into a `rich.text.Text`, so it is shown
literally: "[bold]x[/bold]" stays those characters. `top` and `grid` draw one line per package
that fits `width`: the description gives way first, then sparklines shrink from one column per
week to one per two or four weeks, then columns go (category, version, sparkline, forks, last
commit). Slugs (what a user types next) and numbers are never cut.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING

from rich.cells import cell_len, set_cell_size
from rich.console import Console, ConsoleOptions, Group, RenderableType
from rich.constrain import Constrain
from rich.segment import Segment
from rich.style import Style
from rich.text import Span, Text

from pkgharvest.activity import DORMANT_AFTER_DAYS, aligned_weeks, end_week, is_dormant
from pkgharvest.records import (
    Record,
    category_ref,
    commits_total,
    int_field,
    parse_timestamp,
    text_field,
)
from pkgharvest.store.mirror import GroupSummary
from pkgharvest.views import ActivityScale
from pkgharvest.views.charts import SPARK_WIDTHS, bucket, relative_date, sparkline, thousands
from pkgharvest.views.text import ELLIPSIS, clip_lines, display, title_differs

if TYPE_CHECKING:  # rich.table (and the fractions and decimal it imports) only where drawn
    from rich.table import Table

UNKNOWN_ACTIVITY = "unknown"
DORMANT = "dormant"
DORMANT_STYLE = "yellow"
SLUG_STYLE = "bold cyan"
SPARK_STYLE = "green"
MISSING = "—"
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


def description_text(record: Record) -> str:
    """The repository description; the title when there is none and it says more than the
    slug; else nothing."""
    description = display(text_field(record, "repo_description"), missing="")
    if description:
        return description
    title = display(record.get("title"), missing="")
    return title if title_differs(display(record.get("slug")), title) else ""


@dataclass(frozen=True)
class ActivityRows:
    """The activity of a table's rows, calendar-aligned (see pkgharvest.activity).

    Attributes:
        weeks: per row, 52 aligned weekly counts (None items: no data for that week), or
            None when the API sent no counts.
        dormant: per row, whether the package is dormant.
        last_week: the Monday of the table's last week (None when no row has a date).
    """

    weeks: list[list[int | None] | None]
    dormant: list[bool]
    last_week: date | None

    @classmethod
    def of(cls, records: Sequence[Record], now: datetime) -> ActivityRows:
        last = end_week(records)
        return cls(
            weeks=[aligned_weeks(r, last) for r in records],
            dormant=[is_dormant(r, now) for r in records],
            last_week=last,
        )


def activity_cells(
    rows: ActivityRows, width: int, scale: ActivityScale
) -> tuple[list[tuple[str, str]], int]:
    """Each row's sparkline `width` characters wide ("dormant" or "unknown" instead where that
    is the news), and the scale's top (commits in the busiest bar; 0 for per-row scales)."""
    bucketed = [bucket(weeks, width) if weeks is not None else None for weeks in rows.weeks]
    shared = max((c for b in bucketed if b for c in b if c is not None), default=0)
    cells: list[tuple[str, str]] = []
    for counts, dormant in zip(bucketed, rows.dormant, strict=True):
        if dormant:
            cells.append((DORMANT, DORMANT_STYLE))
        elif counts is None:
            cells.append((UNKNOWN_ACTIVITY, "dim italic"))
        else:
            top = shared if scale is ActivityScale.SHARED else None
            cells.append((sparkline(counts, top), SPARK_STYLE))
    return cells, shared if scale is ActivityScale.SHARED else 0


def activity_legend(rows: ActivityRows, spark_width: int, scale: ActivityScale, top: int) -> str:
    """What one bar is, the weeks shown, and the scale: printed under a table."""
    per = {52: "one week", 26: "two weeks", 13: "four weeks"}[spark_width]
    text = f"Activity: one bar = commits in {per}, 52 weeks"
    if rows.last_week is not None:
        text += f" to the week of {rows.last_week:%Y-%m-%d}"
    if scale is ActivityScale.SHARED:
        return text + f"; one scale: full bar = {top:,} commits"
    return text + "; each row to its own busiest bar"


DORMANT_LEGEND = f"Dormant: no commits in 52 weeks, last commit over {DORMANT_AFTER_DAYS} days ago"


def _number(value: int | None) -> Text:
    return Text(thousands(value, MISSING), justify="right")


# --- top and grid: one row per package ----------------------------------------------------------


@dataclass(frozen=True)
class _Layout:
    """What a package table shows at a given terminal width.

    Attributes:
        spark_width: sparkline characters per row (52, 26 or 13; 0 hides the column).
        hidden: optional columns left out, by header.
        description_width: the description column's width (0: not shown).
    """

    spark_width: int
    hidden: frozenset[str]
    description_width: int


_GAP = 2
"""Between two columns: one space of padding (collapsed) and the blank divider."""

_DESCRIPTION_MIN = 16
"""A description column narrower than this says too little to be worth its room."""

# Narrowing steps, widest first: (sparkline width, columns given up, whether the step wants a
# description of at least _DESCRIPTION_MIN). The slug is never cut: every other column gives
# way first (description, then sparkline width, category, version, ...). A step that does not
# want a description still shows one when there is room.
_STEPS: tuple[tuple[int, frozenset[str], bool], ...] = (
    (52, frozenset(), True),
    (26, frozenset(), True),
    (26, frozenset(), False),
    (13, frozenset(), False),
    (13, frozenset({"Category"}), False),
    (13, frozenset({"Category", "Version"}), False),
    (0, frozenset({"Category", "Version"}), False),
    (0, frozenset({"Category", "Version", "Forks"}), False),
    (0, frozenset({"Category", "Version", "Forks", "Last commit"}), False),
    (0, frozenset({"Category", "Version", "Forks", "Last commit", "52 w"}), False),
)


def _choose_layout(
    fixed: dict[str, int], description: int, width: int, sparkless: dict[str, int]
) -> _Layout:
    """The first step of _STEPS whose columns fit in `width`.

    `fixed` maps every column but the sparkline and description to its width (the package
    column at its full width: slugs are never cut); `sparkless` overrides some of those widths
    when the sparkline is hidden. `description` is the longest description.
    """
    for spark, hidden, wants_description in _STEPS:
        widths = fixed if spark else {**fixed, **sparkless}
        shown = [w for header, w in widths.items() if header not in hidden]
        if spark:
            shown.append(spark)
        room = width - sum(shown) - _GAP * (len(shown) - 1) - _GAP
        need = min(description, _DESCRIPTION_MIN)  # 0: no description to show
        if room < 0 or (wants_description and need and room < need):
            continue
        # Once the sparkline has gone, the room left is not the description's: it is lower
        # priority than every column given up so far.
        room = min(room, description) if spark and need else 0
        return _Layout(spark, hidden, room if room >= need else 0)
    # Too narrow even for the bare ranking: the line is longer than the terminal rather than
    # a slug being cut.
    return _Layout(0, _STEPS[-1][1], 0)


@dataclass(frozen=True)
class _Column:
    """One column of a table, its cells already sanitized and measured.

    Attributes:
        header: the column's title.
        cells: per row, the cell's (text, style).
        width: the column's width in terminal cells; longer text is cut with an ellipsis.
        right: right-aligned (numbers) rather than left.
    """

    header: str
    cells: list[tuple[str, str]]
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
    """Header, rule and rows as one Text, one line per row, columns _GAP apart, no trailing
    spaces.

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
        line([(_fit(c.cells[row][0], c.width, c.right), c.cells[row][1]) for c in columns])
    # One Text built at once: Text.append per piece costs more than the rest put together.
    return Text("".join(parts).rstrip("\n"), spans=spans, no_wrap=True, overflow="ellipsis")


TOP_COLUMNS: tuple[str, ...] = (
    "#",
    "Package",
    "Stars",
    "Forks",
    "Activity",
    "52 w",
    "Last commit",
    "Version",
    "Category",
    "Description",
)
"""`top`'s columns, in order."""

GRID_COLUMNS: tuple[str, ...] = (
    "#",
    "Package",
    "Stars",
    "Forks",
    "Activity",
    "Last commit",
    "Version",
    "Description",
)
"""`grid`'s columns (rows layout), in order."""

_SPARK_HEADERS = {52: "Commits per week", 26: "Commits per 2 weeks", 13: "Per 4 weeks"}


@dataclass(frozen=True)
class PackageTable:
    """A rendered table and the lines of its legend (what one bar is, the weeks, the scale;
    what dormant means, when a row is)."""

    table: Text
    legend: tuple[str, ...]


def package_table(
    records: Sequence[Record],
    *,
    now: datetime,
    width: int,
    columns: Sequence[str] = TOP_COLUMNS,
    scale: ActivityScale = ActivityScale.ROW,
    first_rank: int = 1,
) -> PackageTable:
    """One line per package: `columns` (from TOP_COLUMNS), narrowed to `width` as _STEPS says.

    Every line fits `width` unless a slug alone does not (slugs are never cut); print it with
    soft_wrap=True: there is nothing left to wrap.
    """
    rows = ActivityRows.of(records, now)

    def plain(values: Sequence[str], style: str = "") -> list[tuple[str, str]]:
        return [(value, style) for value in values]

    cells = {
        "#": plain([str(first_rank + i) for i in range(len(records))], "dim"),
        "Package": [
            (display(r.get("slug")), "dim" if dormant else SLUG_STYLE)
            for r, dormant in zip(records, rows.dormant, strict=True)
        ],
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
            max([len(header), *(cell_len(c[0]) for c in cells[header])]), caps.get(header, 1000)
        )
        for header in columns
        if header in cells
    }
    descriptions = plain([description_text(r) for r in records], "")
    longest = max([0, *(cell_len(text) for text, _ in descriptions)])
    if longest:
        longest = max(longest, len("Description"))
    wanted = "Description" in columns
    # Without an activity column to say "dormant", the last commit cell says it.
    marked = [
        (f"{text} (dormant)" if dormant else text, style)
        for (text, style), dormant in zip(cells["Last commit"], rows.dormant, strict=True)
    ]
    sparkless = {"Last commit": max([widths["Last commit"], *(cell_len(t) for t, _ in marked)])}
    layout = _choose_layout(widths, longest if wanted else 0, width, sparkless)
    if layout.spark_width == 0:
        cells["Last commit"] = marked
        widths.update(sparkless)

    shown: list[_Column] = []
    legend: list[str] = []
    for header in columns:
        if header == "Activity":
            if layout.spark_width and "Activity" in columns:
                sparks, top = activity_cells(rows, layout.spark_width, scale)
                shown.append(
                    _Column(_SPARK_HEADERS[layout.spark_width], sparks, layout.spark_width)
                )
                legend.append(activity_legend(rows, layout.spark_width, scale, top))
        elif header == "Description":
            if layout.description_width:
                shown.append(_Column(header, descriptions, layout.description_width))
        elif header not in layout.hidden:
            right = header in ("#", "Stars", "Forks", "52 w")
            shown.append(_Column(header, cells[header], widths[header], right))
    if any(rows.dormant):
        legend.append(DORMANT_LEGEND)
    return PackageTable(_render_columns(shown), tuple(legend))


# --- grid: packages side by side (--layout columns) ----------------------------------------------

_GRID_CELL_MIN = 16  # the 13-character sparkline and a little air
_GRID_LABEL = 12
_GRID_DESCRIPTION_LINES = 3


def grid_header(grid: Record, count: int, hidden: int = 0) -> Text:
    """The grid's title, slug and description, and how many packages follow."""
    header = Text(display(grid.get("title")), style="bold")
    header.append(f"  ({display(grid.get('slug'))})", style="dim")
    description = display(grid.get("description"), missing="")
    if description:
        header.append("\n" + description)
    noun = "package" if count == 1 else "packages"
    line = f"\n{count:,} {noun}, by stars"
    if hidden:
        line += f" ({hidden:,} dormant hidden)"
    header.append(line, style="dim")
    return header


def grid_columns_view(
    grid: Record,
    packages: Sequence[Record],
    *,
    now: datetime,
    width: int,
    scale: ActivityScale = ActivityScale.SHARED,
    hidden: int = 0,
) -> Group:
    """One grid as the website shows it: a header, then its packages as columns (in as many
    blocks as the width needs), one row per feature."""
    parts: list[RenderableType] = [grid_header(grid, len(packages), hidden)]
    if not packages:
        parts.append(Text("None of this grid's packages are in the mirror.", style="dim"))
        return Group(*parts)
    # As wide as the longest "NN. slug" needs, within limits; then as many as fit side by side.
    longest = max(cell_len(f"{len(packages)}. {display(p.get('slug'))}") for p in packages)
    # Slugs are not cut while one column of the longest fits the width.
    cell = min(max(longest, _GRID_CELL_MIN), max(width - _GRID_LABEL - 7, 8))
    per_block = max(1, (width - _GRID_LABEL - 4) // (cell + 3))
    rows = ActivityRows.of(packages, now)
    spark_cells, top = activity_cells(rows, SPARK_WIDTHS[-1], scale)
    sparks = [Text(text, style=style) for text, style in spark_cells]
    for start in range(0, len(packages), per_block):
        block = packages[start : start + per_block]
        parts.append(_grid_block(block, sparks[start : start + per_block], start + 1, now, cell))
    parts.append(Text(activity_legend(rows, SPARK_WIDTHS[-1], scale, top), style="dim"))
    if any(rows.dormant):
        parts.append(Text(DORMANT_LEGEND, style="dim"))
    return Group(*parts)


def _grid_block(
    block: Sequence[Record], sparks: Sequence[Text], first_rank: int, now: datetime, cell: int
) -> Table:
    from rich import box
    from rich.table import Table

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
) -> RenderableType:
    """`grids` / `categories`: slug, title, package count, total stars, and as much of the
    description as the width leaves (cut with an ellipsis).

    The lines are those of a rich Table (box SIMPLE_HEAD, no edge, padding collapsed), drawn
    here by hand when the columns fit as measured (always, unless the terminal is narrower than
    the numbers): rich measures and renders every cell through several layers, ~0.4 ms a row,
    most of `grids`' time. `tests/test_views.py` holds the two to the same characters and
    styles.
    """
    slugs = [display(s.record.get("slug")) for s in summaries]
    titles = [display(s.record.get("title")) for s in summaries]
    counts = [thousands(s.package_count, MISSING) for s in summaries]
    stars = [thousands(s.total_stars, MISSING) for s in summaries]
    descriptions = [display(text_field(s.record, "description"), missing="") for s in summaries]
    measured = [_widest(column) for column in (slugs, titles, counts, stars, descriptions)]

    widths = [
        min(max(len(noun), measured[0]), _GROUP_TEXT_MAX),
        min(max(len("Title"), measured[1]), _GROUP_TEXT_MAX),
        min(max(len("Packages"), measured[2]), 20),
        min(max(len("Stars"), measured[3]), 20),
    ]
    # Numbers are never cut: the slug and title columns give up room first, equally.
    text_room = width - widths[2] - widths[3] - _GAP * 3
    while widths[0] + widths[1] > text_room and max(widths[:2]) > _GROUP_TEXT_MIN:
        widths[0 if widths[0] >= widths[1] else 1] -= 1
    room = width - sum(widths) - _GAP * len(widths)
    columns = [
        _GroupColumn(noun, slugs, measured[0], widths[0], style="bold"),
        _GroupColumn("Title", titles, measured[1], widths[1]),
        _GroupColumn("Packages", counts, measured[2], None, right=True),
        _GroupColumn("Stars", stars, measured[3], None, right=True),
    ]
    if room >= _GROUP_DESCRIPTION_MIN:
        columns.append(_GroupColumn("Description", descriptions, measured[4], room))
    drawn = _draw_simple_head(columns, width, caption)
    return drawn if drawn is not None else _rich_groups_table(columns, caption)


def _widest(cells: Sequence[str]) -> int:
    return max((len(c) if c.isascii() else cell_len(c) for c in cells), default=0)


@dataclass(frozen=True)
class _GroupColumn:
    """A column of `groups_table`.

    Attributes:
        header: its title.
        cells: per row, its sanitized one-line text.
        widest: the widest cell, in terminal cells (headers not included).
        max_width: longer cells are cut with an ellipsis (None: never cut).
        right: right-aligned (numbers).
        style: the style of every cell (the header is bold anyway).
    """

    header: str
    cells: list[str]
    widest: int
    max_width: int | None
    right: bool = False
    style: str = ""


def _draw_simple_head(
    columns: Sequence[_GroupColumn], width: int, caption: str | None
) -> RenderableType | None:
    """What rich's Table(box=SIMPLE_HEAD, show_edge=False, pad_edge=False,
    collapse_padding=True) prints for `columns`, or None when rich would have to shrink a
    column to fit `width` (then it draws the table itself).

    rich's rules followed here: each column is as wide as its widest cell or header, capped
    at max_width; every cell but the last column's has one space of right padding; columns
    are joined by the box's vertical (a space); the header row and its padding are bold; the
    rule under it spans the table; the caption is wrapped and padded to the table's width.
    """
    room = width - (len(columns) - 1)  # the dividers
    padding = [1] * (len(columns) - 1) + [0]
    sizes = []
    for column, pad in zip(columns, padding, strict=True):
        if room - pad < 1:
            return None
        # A cell is measured within the table's room, then capped at max_width.
        size = min(max(len(column.header), column.widest) + pad, room)
        if column.max_width is not None:
            size = min(size, column.max_width + pad)
        if size - pad < 1:
            return None
        sizes.append(size - pad)
    if sum(sizes) + sum(padding) > room:
        return None
    table_width = sum(sizes) + sum(padding) + len(columns) - 1
    lines: list[list[tuple[str, str]]] = []
    header: list[tuple[str, str]] = []
    for index, (column, size, pad) in enumerate(zip(columns, sizes, padding, strict=True)):
        if index:
            header.append((" ", ""))
        header.append((_fit(column.header, size, column.right) + " " * pad, "bold"))
    lines.append(header)
    lines.append([("─" * table_width, "")])
    fitted = [
        [_fit(cell, size, column.right) for cell in column.cells]
        for column, size in zip(columns, sizes, strict=True)
    ]
    styles = [column.style for column in columns]
    for row in zip(*fitted, strict=True):
        line: list[tuple[str, str]] = []
        plain = ""  # unstyled text is gathered into one piece: fewer segments to print
        for index, (text, style) in enumerate(zip(row, styles, strict=True)):
            if index:
                plain += " "
            if style:
                if plain:
                    line.append((plain, ""))
                line.append((text, style))
                plain = " " * padding[index]
            else:
                plain += text + " " * padding[index]
        if plain:
            line.append((plain, ""))
        lines.append(line)
    table = _Lines(lines)
    if not caption:
        return table
    return Group(table, Constrain(Text(caption, justify="left"), width=table_width))


class _Lines:
    """Lines of (text, style) pieces, printed as they are: each line already fits the width,
    so there is nothing for rich to measure, wrap or crop (a Text of the same lines is split,
    wrapped and cropped again line by line: most of `grids`' time at 30,000 packages)."""

    def __init__(self, lines: list[list[tuple[str, str]]]) -> None:
        self.lines = lines

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> Iterator[Segment]:
        styles: dict[str, Style] = {}
        newline = Segment.line()
        for line in self.lines:
            for text, name in line:
                if not name:
                    yield Segment(text)
                    continue
                style = styles.get(name)
                if style is None:
                    style = styles[name] = console.get_style(name)
                yield Segment(text, style)
            yield newline


def _rich_groups_table(columns: Sequence[_GroupColumn], caption: str | None) -> Table:
    """`columns` through rich's Table, which shrinks columns to a width they do not fit."""
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
            max_width=column.max_width,
        )
    for row in zip(*(column.cells for column in columns), strict=True):
        table.add_row(
            *(
                Text(cell, style=column.style, justify="right" if column.right else None)
                for cell, column in zip(row, columns, strict=True)
            )
        )
    return table
