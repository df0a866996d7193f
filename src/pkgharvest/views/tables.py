"""Tables for `top`, `grid`, `grids` and `categories`.

Every piece of API text goes through `text.sanitize` and into a `rich.text.Text`, so it is shown
literally: "[bold]x[/bold]" stays those characters. `top` and `grid` draw one line per package
that fits `width`, giving up what NARROWING names, in its order; a dormant package keeps its
mark (DORMANT_MARK after the slug) at every width. Slugs (what a user types next) and numbers
are never cut.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, Group, RenderableType
from rich.segment import Segment
from rich.style import Style
from rich.text import Text

from pkgharvest.activity import aligned_weeks, end_week, is_dormant
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
from pkgharvest.views.columns import (
    DORMANT_LEGEND,
    GAP,
    SLUG_STYLE,
    Column,
    fit_cell,
    legend_text,
    measured,
    render_columns,
    slug_cell,
    widest,
    wrapped_lines,
)
from pkgharvest.views.text import clip_lines, display, title_differs

if TYPE_CHECKING:  # rich.table (and the fractions and decimal it imports) only where drawn
    from rich.table import Table

UNKNOWN_ACTIVITY = "unknown"
DORMANT = "dormant"
DORMANT_STYLE = "yellow"
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
) -> tuple[list[tuple[str, str]], int, bool]:
    """Each row's sparkline `width` characters wide ("dormant" or "unknown" instead where that
    is the news), the scale's top (commits in the busiest bar; 0 for per-row scales), and
    whether a sparkline holds a blank bar (weeks after the service last measured a package)."""
    bucketed = [bucket(weeks, width) if weeks is not None else None for weeks in rows.weeks]
    shared = max((c for b in bucketed if b for c in b if c is not None), default=0)
    cells: list[tuple[str, str]] = []
    blank = False
    for counts, dormant in zip(bucketed, rows.dormant, strict=True):
        if dormant:
            cells.append((DORMANT, DORMANT_STYLE))
        elif counts is None:
            cells.append((UNKNOWN_ACTIVITY, "dim italic"))
        else:
            top = shared if scale is ActivityScale.SHARED else None
            cells.append((sparkline(counts, top), SPARK_STYLE))
            blank = blank or None in counts
    return cells, shared if scale is ActivityScale.SHARED else 0, blank


def activity_legend(
    rows: ActivityRows, spark_width: int, scale: ActivityScale, top: int, blank: bool = False
) -> str:
    """What one bar is, the weeks shown, the scale, and what a blank bar is (when one is on
    screen): printed under a table."""
    per = {52: "one week", 26: "two weeks", 13: "four weeks"}[spark_width]
    text = f"Activity: one bar = commits in {per}, 52 weeks"
    if rows.last_week is not None:
        text += f" to the week of {rows.last_week:%Y-%m-%d}"
    if scale is ActivityScale.SHARED:
        text += f"; one scale: full bar = {top:,} commits"
    else:
        text += "; each row to its own busiest bar"
    if blank:
        text += f"; {BLANK_LEGEND}"
    return text


BLANK_LEGEND = "blank: weeks after the service last measured that package"
"""Rows are lined up on the newest week of the table (pkgharvest.activity): a package the
service measured earlier has no count for the weeks since."""


def _number(value: int | None) -> Text:
    return Text(thousands(value, MISSING), justify="right")


# --- top and grid: one row per package ----------------------------------------------------------


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
    "52 w",
    "Last commit",
    "Version",
    "Description",
)
"""`grid`'s columns (rows layout), in order."""

KEPT_COLUMNS = frozenset({"#", "Package", "Stars"})
"""Never given up, however narrow the terminal: the rank, the slug (with its dormant mark)
and the stars."""

SPILL = "Package spills"
"""The last try to keep the sparkline: the package column stops being as wide as the longest
slug, and a slug longer than it gets a line of its own, the rest of its row on the next line.
It narrows only as far as a few rows spill (SPILL_SHARE, SPILL_MOST), and only as far as the
room left needs. When the sparkline goes anyway, the column is as wide as the longest slug
again."""

SPILL_SHARE = 4
SPILL_MOST = 5
"""At the SPILL step, at most one row in SPILL_SHARE and SPILL_MOST rows in all (and at least
one) spill: a few long slugs, not a whole catalogue's (`top --limit 0` keeps one line a
package and gives up the sparkline instead)."""

NARROWING: tuple[str, ...] = (
    "Activity 26",
    "Description",
    "Activity 13",
    "Category",
    "Version",
    SPILL,
    "Activity",
    "Forks",
    "Last commit",
    "52 w",
)
"""What a package table gives up when it does not fit, first to last: the sparkline narrows
from 52 bars to 26, the description goes (it is first cut to fit, down to _DESCRIPTION_MIN),
the sparkline narrows to 13 bars, Category and Version go, a few long slugs get lines of their
own if that keeps the sparkline (SPILL), then the sparkline, Forks, Last commit and the
52-week total go. When even KEPT_COLUMNS do not fit, every slug too long for the room left
spills. Then what went comes back where it fits, the last step first (_restored).
docs/reading.md states this order; tests/test_screens.py holds the tables to it."""

_SPARK_HEADERS = {52: "Commits per week", 26: "Commits per 2 weeks", 13: "Per 4 weeks"}

_DESCRIPTION_MIN = 16
"""A description column narrower than this says too little to be worth its room."""

_RIGHT = frozenset({"#", "Stars", "Forks", "52 w"})


@dataclass(frozen=True)
class _Layout:
    """What a package table shows at a given terminal width.

    Attributes:
        spark_width: sparkline characters per row (52, 26 or 13; 0 hides the column).
        hidden: columns given up, by header ("Activity" once the sparkline is gone).
        description_width: the description column's width (0: not shown).
        package_width: the package column's width; a longer slug spills (see SPILL).
    """

    spark_width: int
    hidden: frozenset[str]
    description_width: int
    package_width: int


def _layouts(columns: Sequence[str]) -> list[tuple[int, frozenset[str], bool]]:
    """Every (sparkline width, hidden columns, spill) a table of `columns` passes through as
    it narrows, widest first."""
    spark = 52 if "Activity" in columns else 0
    hidden: frozenset[str] = frozenset()
    spill = False
    states = [(spark, hidden, spill)]
    for step in NARROWING:
        name, _, left = step.partition(" ")
        # Only while it keeps the sparkline: a list stays one line a package where
        # the sparkline goes anyway.
        spill = step == SPILL
        if spill:
            pass
        elif name == "Activity" and "Activity" in columns:
            spark = int(left) if left else 0
        elif step in columns:
            hidden = hidden | {step}
        else:
            continue
        states.append((spark, hidden, spill))
    return states


def spill_width(slug_widths: Sequence[int], header: str = "Package") -> int:
    """The package column's width at the SPILL step: as wide as all but the few longest slugs
    (one in SPILL_SHARE, SPILL_MOST at most, at least one)."""
    ordered = sorted(slug_widths, reverse=True)
    spilled = max(1, min(len(ordered) // SPILL_SHARE, SPILL_MOST))
    return max(ordered[spilled] if spilled < len(ordered) else 0, len(header))


def _choose_layout(
    fixed: dict[str, int],
    description: int,
    width: int,
    columns: Sequence[str],
    spilled: int,
) -> _Layout:
    """The widest layout of _layouts(columns) that fits in `width`, with the columns it gave up
    brought back where the room left holds them (see _restored).

    `fixed` maps every shown column but the sparkline and the description to its width (the
    package column at its full width: slugs are not cut); `spilled` is the narrowest the
    package column gets from the SPILL step on (it takes what room is left, up to its full
    width). `description` is the longest description (0: none to show).
    """
    need = min(description, _DESCRIPTION_MIN)
    for spark, hidden, spill in _layouts(columns):
        widths = dict(fixed)
        if spill:
            others = [w for header, w in fixed.items() if header not in hidden | {"Package"}]
            room = width - sum(others) - GAP * len(others) - (spark + GAP if spark else 0)
            widths["Package"] = min(fixed["Package"], max(spilled, room))
        layout = _fitted(widths, spark, hidden, need, description, width, columns)
        if layout is None:
            continue
        # A spilled package column already takes all the room left: nothing comes back.
        return layout if spill else _restored(layout, fixed, need, description, width, columns)
    # Too narrow even for what is never given up: the package column takes the room the rest
    # leaves, and every slug longer than that spills.
    others = [w for header, w in fixed.items() if header in KEPT_COLUMNS - {"Package"}]
    room = width - sum(others) - GAP * len(others)
    return _Layout(0, frozenset(columns) - KEPT_COLUMNS, 0, max(room, len("Package")))


def _fitted(
    widths: dict[str, int],
    spark: int,
    hidden: frozenset[str],
    need: int,
    description: int,
    width: int,
    columns: Sequence[str],
) -> _Layout | None:
    """The layout showing every column of `widths` but `hidden` (and a sparkline `spark`
    wide, the description in the room left) if it fits in `width`, else None."""
    shown = [w for header, w in widths.items() if header not in hidden]
    if spark:
        shown.append(spark)
    used = sum(shown) + GAP * (len(shown) - 1)
    if used > width:
        return None
    if "Description" in columns and "Description" not in hidden and need:
        room = width - used - GAP
        if room < need:
            return None
        return _Layout(spark, hidden, min(room, description), widths["Package"])
    return _Layout(spark, hidden, 0, widths["Package"])


_SPARK_BACK = {"Activity": (0, 13), "Activity 13": (13, 26), "Activity 26": (26, 52)}
"""A sparkline step undone: (the sparkline's width it applies to, its width once undone)."""


def _restored(
    layout: _Layout,
    fixed: dict[str, int],
    need: int,
    description: int,
    width: int,
    columns: Sequence[str],
) -> _Layout:
    """`layout` with what NARROWING gave up brought back, most important first (the last step
    first), each where it fits beside what is shown: a wide column that had to go does not
    take a narrower one with it (at 80 columns, a whole catalogue's long slugs leave no room
    for `Last commit`, and room for `Forks`)."""
    spark, hidden = layout.spark_width, layout.hidden
    for step in reversed(NARROWING):
        if step in _SPARK_BACK and "Activity" in columns:
            before, after = _SPARK_BACK[step]
            if spark != before:
                continue
            candidate = (after, hidden)
        elif step in hidden:
            candidate = (spark, hidden - {step})
        else:
            continue
        wider = _fitted(fixed, *candidate, need, description, width, columns)
        if wider is not None:
            layout = wider
            spark, hidden = candidate
    return layout


@dataclass(frozen=True)
class PackageTable:
    """A rendered table and the lines of its legend (what one bar is, the weeks, the scale;
    what the dormant mark means, when a row has it)."""

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
    """One line per package: `columns` (from TOP_COLUMNS), narrowed to `width` as NARROWING
    says.

    Every line fits `width` unless the columns that are never given up do not (slugs and
    numbers are never cut); print it with soft_wrap=True: there is nothing left to wrap.
    """
    rows = ActivityRows.of(records, now)

    def plain(values: Sequence[str], style: str = "") -> list[tuple[str, str]]:
        return [(value, style) for value in values]

    cells = {
        "#": plain([str(first_rank + i) for i in range(len(records))], "dim"),
        "Package": [
            slug_cell(display(r.get("slug")), dormant)
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
        header: measured(header, cells[header], cap=caps.get(header)).width
        for header in columns
        if header in cells
    }
    descriptions = plain([description_text(r) for r in records])
    longest = widest([text for text, _ in descriptions])
    if longest:
        longest = max(longest, len("Description"))
    slug_widths = [len(t) if t.isascii() else cell_len(t) for t, _ in cells["Package"]]
    spilled = min(spill_width(slug_widths), widths["Package"])
    layout = _choose_layout(widths, longest, width, columns, spilled)

    shown: list[Column] = []
    legend: list[str] = []
    for header in columns:
        if header == "Activity":
            if layout.spark_width:
                sparks, top, blank = activity_cells(rows, layout.spark_width, scale)
                shown.append(Column(_SPARK_HEADERS[layout.spark_width], sparks, layout.spark_width))
                legend.append(activity_legend(rows, layout.spark_width, scale, top, blank))
        elif header == "Description":
            if layout.description_width:
                shown.append(Column(header, descriptions, layout.description_width))
        elif header == "Package":
            shown.append(Column(header, cells[header], layout.package_width, spill=True))
        elif header not in layout.hidden:
            shown.append(Column(header, cells[header], widths[header], header in _RIGHT))
    if any(rows.dormant):
        legend.append(DORMANT_LEGEND)
    return PackageTable(render_columns(shown), tuple(legend))


# --- grid: packages side by side (--layout columns) ----------------------------------------------

_GRID_CELL_MIN = 16  # the 13-character sparkline and a little air
_GRID_CELL_MAX = 24  # wider only when there is room to spare: a longer slug wraps instead
_GRID_SIDE_BY_SIDE = 3  # at least this many side by side where _GRID_CELL_MIN allows it
_GRID_LABEL = 12
_GRID_EDGES = 4  # the table's outer borders and the label column's padding
_GRID_PER_CELL = 3  # a column's padding and its border
_GRID_DESCRIPTION_LINES = 3


def grid_header(grid: Record, count: int, hidden: int = 0, *, width: int = 80) -> Text:
    """The grid's title, slug and description (wrapped to `width`, no line ending in a
    space), and how many packages follow."""
    header = Text(display(grid.get("title")), style="bold")
    header.append(f"  ({display(grid.get('slug'))})", style="dim")
    description = display(grid.get("description"), missing="")
    if description:
        header.append("\n" + "\n".join(wrapped_lines(description, width, indent=0)))
    noun = "package" if count == 1 else "packages"
    line = f"\n{count:,} {noun}, by stars"
    if hidden:
        line += f" ({hidden:,} dormant hidden)"
    header.append(line, style="dim")
    return header


def grid_cell_width(headers: Sequence[str], width: int) -> tuple[int, int]:
    """(packages per block, column width) for side-by-side columns headed by `headers`.

    A column is as wide as the longest header (within _GRID_CELL_MIN and _GRID_CELL_MAX);
    when that leaves fewer than _GRID_SIDE_BY_SIDE side by side, narrower columns are used
    where they fit (a header longer than its column wraps). Spare room widens the columns, up
    to the longest header.
    """
    room = width - _GRID_LABEL - _GRID_EDGES
    longest = max(widest(headers), _GRID_CELL_MIN)
    target = min(longest, _GRID_CELL_MAX)
    per_block = max(
        room // (target + _GRID_PER_CELL),
        min(_GRID_SIDE_BY_SIDE, room // (_GRID_CELL_MIN + _GRID_PER_CELL)),
        1,
    )
    per_block = min(per_block, len(headers))
    return per_block, max(min(room // per_block - _GRID_PER_CELL, longest), 1)


def wrap_slug(text: str, width: int) -> list[str]:
    """`text` (a rank and a slug) in lines of at most `width` cells, broken after hyphens where
    it can: nothing is cut, a long slug takes more lines."""
    lines = [""]
    for piece in re.findall(r"[^-]*-|[^-]+", text):
        for char in piece if cell_len(piece) > width else [piece]:
            if lines[-1] and cell_len(lines[-1]) + cell_len(char) > width:
                lines.append("")
            lines[-1] += char
    return lines


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
    parts: list[RenderableType] = [grid_header(grid, len(packages), hidden, width=width)]
    if not packages:
        parts.append(Text("None of this grid's packages are in the mirror.", style="dim"))
        return Group(*parts)
    rows = ActivityRows.of(packages, now)
    headers = [
        f"{rank}. {slug_cell(display(p.get('slug')), dormant)[0]}"
        for rank, (p, dormant) in enumerate(zip(packages, rows.dormant, strict=True), start=1)
    ]
    per_block, cell = grid_cell_width(headers, width)
    spark_cells, top, blank = activity_cells(rows, SPARK_WIDTHS[-1], scale)
    sparks = [Text(text, style=style) for text, style in spark_cells]
    for start in range(0, len(packages), per_block):
        end = start + per_block
        parts.append(
            _grid_block(
                packages[start:end], headers[start:end], rows.dormant[start:end],
                sparks[start:end], now, cell,
            )
        )  # fmt: skip
    parts.append(legend_text(activity_legend(rows, SPARK_WIDTHS[-1], scale, top, blank), width))
    if any(rows.dormant):
        parts.append(legend_text(DORMANT_LEGEND, width))
    return Group(*parts)


def _title_cell(record: Record) -> str:
    """The title where it says more than the slug (in the header above it), else nothing."""
    title = display(record.get("title"), missing="")
    return title if title_differs(display(record.get("slug")), title) else ""


def _grid_block(
    block: Sequence[Record],
    headers: Sequence[str],
    dormant: Sequence[bool],
    sparks: Sequence[Text],
    now: datetime,
    cell: int,
) -> Table:
    from rich import box
    from rich.table import Table

    # The packages' headers are the first row, not rich's header row: rich aligns a header row
    # to its bottom, and a wrapped slug would push the others down.
    table = Table(box=box.SQUARE, show_header=False, show_lines=True, pad_edge=True, expand=False)
    table.add_column(width=_GRID_LABEL, no_wrap=True, style="dim")
    heads: list[Text] = []
    for header, quiet in zip(headers, dormant, strict=True):
        rank_length = len(header.partition(" ")[0]) + 1  # "12. "
        text = Text(no_wrap=True, overflow="fold")
        # The rank dim, the slug (and its mark) as in the rows layout, in lines that fit.
        offset = 0
        for index, line in enumerate(wrap_slug(header, cell)):
            if index:
                text.append("\n")
            rank_part = line[: max(rank_length - offset, 0)]
            text.append(rank_part, style="dim")
            text.append(line[len(rank_part) :], style="dim" if quiet else SLUG_STYLE)
            offset += len(line)
        heads.append(text)
        table.add_column(width=cell, overflow="ellipsis")

    def row(label: str, cells: Sequence[RenderableType]) -> None:
        table.add_row(Text(label), *cells)

    row("", heads)

    titles = [_title_cell(r) for r in block]
    if any(titles):  # a row of blanks says nothing
        row("Title", [Text(title, no_wrap=True, overflow="ellipsis") for title in titles])
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
    description as the width leaves (cut with an ellipsis). Print it with crop=False: when
    even the slugs and numbers do not fit, the lines are longer than the terminal rather than
    a slug or a number cut.

    The lines are those of a rich Table (box SIMPLE_HEAD, no edge, padding collapsed), drawn
    here by hand: rich measures and renders every cell through several layers, most of
    `grids`' time (bench/README.md, "grids and categories"). `tests/test_views.py` holds the
    two to the same characters and styles.
    """
    columns = group_columns(summaries, noun, width=width)
    table = _draw_simple_head(columns)
    return Group(table, legend_text(caption, width)) if caption else table


def group_columns(
    summaries: Sequence[GroupSummary], noun: str, *, width: int
) -> list[_GroupColumn]:
    """The columns `groups_table` draws at `width`: the slug and the numbers whole, then the
    title (cut down to _GROUP_TEXT_MIN, then left out), then the description if room is left."""
    slugs = [display(s.record.get("slug")) for s in summaries]
    titles = [display(s.record.get("title")) for s in summaries]
    counts = [thousands(s.package_count, MISSING) for s in summaries]
    stars = [thousands(s.total_stars, MISSING) for s in summaries]
    descriptions = [display(text_field(s.record, "description"), missing="") for s in summaries]
    kept = [
        _GroupColumn(noun, slugs, max(len(noun), widest(slugs)), style="bold"),
        _GroupColumn("Packages", counts, max(len("Packages"), widest(counts)), right=True),
        _GroupColumn("Stars", stars, max(len("Stars"), widest(stars)), right=True),
    ]
    room = width - sum(c.width for c in kept) - GAP * len(kept)
    if room + GAP < 0:  # even the slug and the numbers do not fit: long slugs spill
        slug = kept[0]
        kept[0] = _GroupColumn(noun, slugs, max(slug.width + room + GAP, len(noun)), style="bold")
    title = min(max(len("Title"), widest(titles)), _GROUP_TEXT_MAX, room)
    columns = kept[:1]
    if title >= _GROUP_TEXT_MIN:
        columns.append(_GroupColumn("Title", titles, title))
        room -= title + GAP
    columns += kept[1:]
    if room >= _GROUP_DESCRIPTION_MIN:
        described = min(max(len("Description"), widest(descriptions)), room)
        columns.append(_GroupColumn("Description", descriptions, described))
    return columns


@dataclass(frozen=True)
class _GroupColumn:
    """A column of `groups_table`.

    Attributes:
        header: its title.
        cells: per row, its sanitized one-line text.
        width: its width; longer cells are cut with an ellipsis (the slug and the numbers are
            as wide as their widest cell: never cut; where even they do not fit, the slug
            column is narrower and a longer slug spills: it gets a line of its own, the rest of
            its row on the next line).
        right: right-aligned (numbers).
        style: the style of every cell (the header is bold anyway).
    """

    header: str
    cells: list[str]
    width: int
    right: bool = False
    style: str = ""


def _draw_simple_head(columns: Sequence[_GroupColumn]) -> _Lines:
    """What rich's Table(box=SIMPLE_HEAD, show_edge=False, pad_edge=False,
    collapse_padding=True) prints for `columns` with these widths (as max_width), without the
    spaces rich pads a line's end with.

    rich's rules followed here: every cell but the last column's has one space of right
    padding; columns are joined by the box's vertical (a space); the header row and its
    padding are bold; the rule under it spans the table.
    """
    padding = [1] * (len(columns) - 1) + [0]
    sizes = [column.width for column in columns]
    table_width = sum(sizes) + sum(padding) + len(columns) - 1
    lines: list[list[tuple[str, str]]] = []
    header: list[tuple[str, str]] = []
    for index, (column, size, pad) in enumerate(zip(columns, sizes, padding, strict=True)):
        if index:
            header.append((" ", ""))
        header.append((fit_cell(column.header, size, column.right) + " " * pad, "bold"))
    lines.append(header)
    lines.append([("─" * table_width, "")])
    fitted = [
        [fit_cell(cell, size, column.right) for cell in column.cells]
        for column, size in zip(columns, sizes, strict=True)
    ]
    styles = [column.style for column in columns]
    for number, row in enumerate(zip(*fitted, strict=True)):
        slug = columns[0].cells[number]
        if cell_len(slug) > sizes[0]:  # the slug spills (see _GroupColumn.width)
            lines.append([(slug, styles[0])])
            row = (" " * sizes[0], *row[1:])
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
    return _Lines([_without_trailing_spaces(line) for line in lines])


def _without_trailing_spaces(line: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """A line of (text, style) pieces without the spaces at its end (padding to copy and paste
    along, and underlined or coloured where its style says so)."""
    line = list(line)
    while line and not line[-1][0].rstrip():
        line.pop()
    if line:
        line[-1] = (line[-1][0].rstrip(), line[-1][1])
    return line


class _Lines:
    """Lines of (text, style) pieces, printed as they are: each line is already fitted, so
    there is nothing for rich to measure, wrap or crop (a Text of the same lines is split,
    wrapped and cropped again line by line)."""

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
