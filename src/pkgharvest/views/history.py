"""Drawing the catalogue's history: `trends` tables, the `changes` digest, `show`'s star history.

Text from the API goes through `display()` (terminal-safe) like every other view.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from rich.cells import cell_len
from rich.console import Group, RenderableType
from rich.text import Text

from pkgharvest.catalogue.reports import ChangeReport, Trend
from pkgharvest.views.charts import SPARK_LEVELS, thousands
from pkgharvest.views.columns import (
    CONTINUATION,
    DORMANT_LEGEND,
    SLUG_STYLE,
    Column,
    TrimmedLines,
    legend_text,
    measured,
    render_columns,
    slug_cell,
    squeezed,
    table_width,
    wrapped_lines,
)
from pkgharvest.views.text import display


def value_sparkline(values: Sequence[int], width: int = 16) -> str:
    """A sparkline of a series of values (stars over time), lowest to highest; the last
    `width` points when there are more. A flat series is a flat line."""
    points = list(values)[-width:]
    if not points:
        return ""
    low, high = min(points), max(points)
    if high == low:
        return SPARK_LEVELS[0] * len(points)
    top = len(SPARK_LEVELS) - 1
    return "".join(SPARK_LEVELS[round((v - low) * top / (high - low))] for v in points)


def _signed(value: int | None) -> str:
    return "—" if value is None else f"{value:+,}"


def _percent(value: float | None) -> str:
    return "" if value is None else f"{value:+.1f}%"


TREND_WIDTHS = (16, 8)
"""Observations the Trend column shows (the last ones), widest first."""

TRENDS_NARROWING = ("Trend 8", "Trend", "other Gained", "other count", "%")
"""What a `trends` table gives up when it does not fit, first to last: the Trend column
narrows to its last 8 observations, then goes; then the gain of the count not ranked by (forks
for `--by stars`), that count, and the percentage. The rank, the slug, the ranked count and its
gain always stay. Then what went comes back where it fits, the last step first (the other
count's gain only beside that count). docs/reading.md states this order."""

TREND_LEGEND = "Trend: the stars at each observation in the window, lowest to highest"


@dataclass(frozen=True)
class TrendsTable:
    """A rendered `trends` table and the lines of its legend."""

    table: Text
    legend: tuple[str, ...]


def trends_table(
    rows: Sequence[Trend], *, by: str, width: int, dormant: Sequence[bool] = ()
) -> TrendsTable:
    """One line per package (two for a slug too long for the terminal), fitted to `width` as
    TRENDS_NARROWING says; slugs and numbers are never cut. `dormant`: per row, whether the
    package is dormant (marked after its slug)."""
    quiet = list(dormant) or [False] * len(rows)
    ranked = "Stars" if by == "stars" else "Forks"

    def cells(values: Sequence[str], style: str = "") -> list[tuple[str, str]]:
        return [(value, style) for value in values]

    columns = {
        "#": measured("#", cells([str(n) for n in range(1, len(rows) + 1)], "dim"), right=True),
        "Package": measured(
            "Package",
            [slug_cell(display(r.slug), q) for r, q in zip(rows, quiet, strict=True)],
        ),
        "Stars": measured("Stars", cells([thousands(r.stars) for r in rows]), right=True),
        "Stars gained": measured(
            "Gained",
            cells([_signed(r.stars_gained) for r in rows], "green" if by == "stars" else ""),
            right=True,
        ),
        "Forks": measured("Forks", cells([thousands(r.forks) for r in rows]), right=True),
        "Forks gained": measured(
            "Gained",
            cells([_signed(r.forks_gained) for r in rows], "green" if by == "forks" else ""),
            right=True,
        ),
        "%": measured(
            "%",
            cells([_percent(r.stars_percent if by == "stars" else r.forks_percent) for r in rows]),
            right=True,
        ),
    }
    order = ["#", "Package", "Stars", "Stars gained", "Forks", "Forks gained"]
    order.insert(order.index(f"{ranked} gained") + 1, "%")
    other = "Forks" if by == "stars" else "Stars"
    giving_way = {"other Gained": f"{other} gained", "other count": other, "%": "%"}

    def trend(points: int) -> Column:
        return measured("Trend", cells([value_sparkline(r.history, points) for r in rows]))

    def table(hidden: frozenset[str], points: int | None) -> list[Column]:
        shown = [columns[key] for key in order if key not in hidden]
        return [*shown, trend(points)] if points is not None else shown

    hidden: frozenset[str] = frozenset()
    trend_points: int | None = TREND_WIDTHS[0]
    fits = False
    for step in (None, *TRENDS_NARROWING):
        if step == "Trend 8":
            trend_points = TREND_WIDTHS[1]
        elif step == "Trend":
            trend_points = None
        elif step is not None:
            hidden |= {giving_way[step]}
        fits = table_width(table(hidden, trend_points)) <= width
        if fits:
            break
    if fits:
        # What was given up comes back where it fits beside what is shown, most important
        # first: a wide column that had to go does not take a narrower one with it.
        for step in reversed(TRENDS_NARROWING):
            candidate: tuple[frozenset[str], int | None]
            if step == "Trend":
                if trend_points is not None:
                    continue
                candidate = (hidden, TREND_WIDTHS[1])
            elif step == "Trend 8":
                if trend_points != TREND_WIDTHS[1]:
                    continue
                candidate = (hidden, TREND_WIDTHS[0])
            elif step == "other Gained" and other in hidden:
                continue  # a gain beside no count would read as the ranked one's
            elif giving_way[step] in hidden:
                candidate = (hidden - {giving_way[step]}, trend_points)
            else:
                continue
            if table_width(table(*candidate)) <= width:
                hidden, trend_points = candidate
    # Even the columns that always stay are too wide: a long slug gets a line of its own.
    shown = squeezed(table(hidden, trend_points), 1, width)
    legend = [TREND_LEGEND] if trend_points is not None else []
    if any(quiet):
        legend.append(DORMANT_LEGEND)
    return TrendsTable(render_columns(shown), tuple(legend))


_ITEM_INDENT = 2
"""A `changes` list item is indented this much under its section's title."""


def _section(title: str, lines: list[Text], more: int, width: int) -> list[RenderableType]:
    """A `changes` section: its title and its items, each fitted to `width` (_item)."""
    if not lines:
        return []
    # Not indented where it goes on, as the digest's title: the items are.
    head = legend_text(title, width, style="bold", indent=0)
    body = [_item(line, width) for line in lines]
    if more:
        body.append(Text(f"{' ' * _ITEM_INDENT}… and {more:,} more", style="dim"))
    return [head, *body, Text("")]


_PARTS = re.compile(r" {2,}")
_WORDS = re.compile(r"\S+")


def _item(line: Text, width: int) -> Text:
    """A list item (its parts two spaces apart: a slug, a number, `(1,234 → 1,290)`, a
    title), indented, in lines that fit `width`: broken between its parts, between words only
    inside a part longer than a line (never inside a slug or a number); the lines after the
    first go on under the item's text, indented by CONTINUATION more, as a legend does."""
    goes_on = _ITEM_INDENT + CONTINUATION
    out = Text(" " * _ITEM_INDENT)
    used, fresh = _ITEM_INDENT, True

    def place(piece: Text, gap: int) -> None:
        nonlocal used, fresh
        if not fresh and used + gap + piece.cell_len > width:
            out.append("\n" + " " * goes_on)
            used, fresh = goes_on, True
        out.append(" " * (0 if fresh else gap))
        out.append_text(piece)
        used += (0 if fresh else gap) + piece.cell_len
        fresh = False

    start = 0
    pieces = []
    for match in _PARTS.finditer(line.plain):
        pieces.append(line[start : match.start()])
        start = match.end()
    pieces.append(line[start:])
    for piece in pieces:
        if not piece.plain:
            continue
        here = width - used - (0 if fresh else 2)
        if piece.cell_len <= max(here, width - goes_on):  # on this line or the next
            place(piece, 2)
            continue
        for number, word in enumerate(_WORDS.finditer(piece.plain)):
            place(piece[word.start() : word.end()], 1 if number else 2)
    return out


def _slug(item: dict[str, Any]) -> Text:
    return Text(display(item.get("slug")), style=SLUG_STYLE)


def _when(stamp: str | None) -> str:
    """`2026-06-01T03:00:00Z` as `2026-06-01 03:00 UTC`."""
    if not stamp:
        return "the start"
    return stamp[:16].replace("T", " ") + " UTC" if len(stamp) >= 16 else stamp


def changes_view(
    report: ChangeReport,
    *,
    shown: int = 15,
    hint: str | None = None,
    width: int = 80,
    dormant: Callable[[str], bool] = lambda slug: False,
) -> RenderableType:
    """The weekly digest: what is new, gone, released, rising, falling, gone quiet, back.
    `hint`: a line under "Nothing changed." (where to look instead). The title, the digest
    and the hint are broken between clauses to `width`; no line ends in a space. `dormant`:
    whether the package with this slug is dormant (asked only of the packages shown), marked
    in the lists as in every table."""
    parts: list[RenderableType] = []
    marked = False

    def package(item: dict[str, Any]) -> Text:
        nonlocal marked
        slug = item.get("slug")
        quiet = isinstance(slug, str) and dormant(slug)
        marked = marked or quiet
        return Text(*slug_cell(display(item.get("slug")), quiet))

    if report.runs == 0:
        title = f"No run recorded since {_when(report.since)}"
    elif report.runs == 1:
        title = f"Catalogue changes in the run of {_when(report.until)}"
        if report.since:
            title += f", against the run of {_when(report.since)}"
    else:
        title = (
            f"Catalogue changes in {report.runs:,} runs since {_when(report.since)}"
            f" (the last on {_when(report.until)})"
        )
    parts.append(legend_text(title, width, style="bold underline", indent=0))
    parts.append(legend_text(display(report.digest()), width))  # it names slugs
    parts.append(Text(""))

    def cut(items: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
        return items[:shown], max(0, len(items) - shown)

    items, more = cut(report.new)
    parts += _section(
        f"New packages ({len(report.new):,})",
        [
            package(i)
            .append(f"  {thousands(i.get('stars'))} stars", style="dim")
            .append(f"  {display(i.get('title'), missing='')}")
            for i in items
        ],
        more,
        width,
    )
    for title, moves in (
        ("Releases", report.releases),
        ("Versions that went back (a restored or corrected record)", report.rollbacks),
    ):
        items, more = cut(moves)
        parts += _section(
            f"{title} ({len(moves):,})",
            [
                package(i).append(f"  {display(i.get('from'))} → {display(i.get('to'))}")
                for i in items
            ],
            more,
            width,
        )
    gains = [i for i in report.stars if i["gained"] > 0]
    losses = sorted((i for i in report.stars if i["gained"] < 0), key=lambda i: i["gained"])
    for title, moves, style in (
        ("Biggest star gains", gains, "green"),
        ("Star losses", losses, "red"),
    ):
        items, more = cut(moves)
        parts += _section(
            title,
            [
                package(i)
                .append(f"  {i['gained']:+,}", style=style)
                .append(f"  ({i['from']:,} → {i['to']:,})", style="dim")
                for i in items
            ],
            more,
            width,
        )
    for title, key in (
        ("Went dormant (no commits in 52 weeks, the last over a year ago)", "dormant"),
        ("Came back (no longer dormant)", "revived"),
    ):
        items, more = cut(getattr(report, key))
        parts += _section(
            f"{title} ({len(getattr(report, key)):,})", [package(i) for i in items], more, width
        )
    items, more = cut(report.renamed)
    parts += _section(
        f"Renamed ({len(report.renamed):,})",
        [package(i).append(f"  was {display(i.get('from'))}", style="dim") for i in items],
        more,
        width,
    )
    items, more = cut(report.removed)
    parts += _section(f"Removed ({len(report.removed):,})", [_slug(i) for i in items], more, width)
    for noun, groups in (("grids", report.grids), ("categories", report.categories)):
        for label, listed in (("New", groups.new), ("Removed", groups.removed)):
            items, more = cut(listed)
            parts += _section(
                f"{label} {noun} ({len(listed):,})",
                [
                    _slug(i).append(f"  {display(i.get('title'), missing='')}", style="dim")
                    for i in items
                ],
                more,
                width,
            )
        items, more = cut(groups.renamed)
        parts += _section(
            f"Renamed {noun} ({len(groups.renamed):,})",
            [
                Text(display(i.get("to")), style=SLUG_STYLE).append(
                    f"  was {display(i.get('from'))}", style="dim"
                )
                for i in items
            ],
            more,
            width,
        )
    if len(parts) == 3 and not report.baseline:  # a baseline's digest says why it is empty
        parts.append(Text("Nothing changed.", style="dim"))
        if hint:
            parts.append(legend_text(hint, width))
    if marked:
        parts.append(legend_text(DORMANT_LEGEND, width))
    return TrimmedLines(Group(*parts))


STAR_CHART_MIN = 8
"""With this many observations or more, `show` draws the star history as a chart."""

_STAR_CHART_WIDTH = 52  # as wide as the 52-week commit chart, where the terminal allows


def star_history_text(history: Sequence[tuple[str, int]], width: int | None = None) -> Text:
    """`show`: one line with a sparkline of the star count over the observations (see
    _labelled_chart where it does not fit `width`)."""
    first, last = history[0], history[-1]
    gained = last[1] - first[1]
    return _labelled_chart(
        "Star history",
        value_sparkline([stars for _, stars in history], width=40),
        f"{first[1]:,} → {last[1]:,} ({gained:+,}) from {first[0][:10]} to {last[0][:10]},"
        f" {len(history):,} observations",
        width,
    )


def _labelled_chart(label: str, chart: str, details: str, width: int | None) -> Text:
    """`label  chart  details` on one line where it fits `width` (None: any width); else the
    label and the chart on a line (the chart on a line of its own when even they do not fit),
    and the details under them, indented, broken between clauses: no word split, no line
    ending in a space."""
    line = Text.assemble((f"{label}  ", "bold"), (chart, "green"), f"  {details}")
    if width is None or line.cell_len <= width:
        return line
    text = Text(label, style="bold")
    if cell_len(label) + 2 + cell_len(chart) <= width:
        text.append("  ")
    else:
        text.append("\n")
    text.append(chart, style="green")
    for piece in wrapped_lines(details, max(width - CONTINUATION, 1), indent=0):
        text.append("\n" + " " * CONTINUATION + piece)
    return text


def star_history_chart(history: Sequence[tuple[str, int]], width: int) -> list[Text]:
    """`show`: a heading and a chart of the stars over time, dates on the x axis (as the
    commit chart), for a history of STAR_CHART_MIN observations or more."""
    from pkgharvest.records import parse_timestamp
    from pkgharvest.views.charts import value_chart

    points = [
        (moment, stars) for at, stars in history if (moment := parse_timestamp(at)) is not None
    ]
    if len(points) < 2:  # no dates to draw against (never from the database's own stamps)
        return [star_history_text(history, width)]
    first, last = history[0], history[-1]
    heading = Text.assemble(
        ("Stars", "bold"),
        f", {len(history):,} observations: {first[1]:,} → {last[1]:,} ({last[1] - first[1]:+,})",
    )
    axis = max(len(f"{stars:,}") for _, stars in points) + 2
    chart = value_chart(points, max(min(_STAR_CHART_WIDTH, width - axis), 1))
    return [heading, *(Text(line, no_wrap=True, overflow="crop") for line in chart)]


STITCHED_WIDTH = 60
"""At most this many sparkline cells for the stitched activity (weeks are summed to fit)."""


def stitched_activity_text(
    weeks: Sequence[tuple[str, int]], width: int | None = None
) -> Text | None:
    """`show`: the stitched weekly commits as one sparkline (at most `width` cells), when they
    span more than 52 weeks (weeks no observation covered are blanks); None when they do not.
    See _labelled_chart for where it does not fit `width`."""
    from datetime import date, timedelta

    from pkgharvest.views.charts import sparkline

    if not weeks:
        return None
    first, last = date.fromisoformat(weeks[0][0]), date.fromisoformat(weeks[-1][0])
    span = (last - first).days // 7 + 1
    if span <= 52:
        return None
    known = dict(weeks)
    series = [known.get((first + timedelta(weeks=i)).isoformat()) for i in range(span)]
    most = STITCHED_WIDTH if width is None else max(min(STITCHED_WIDTH, width), 1)
    size = -(-span // most)  # weeks per cell, rounded up
    cells: list[int | None] = []
    for start in range(0, span, size):
        chunk = [c for c in series[start : start + size] if c is not None]
        cells.append(sum(chunk) if chunk else None)
    total = sum(c for c in series if c is not None)
    per = "week" if size == 1 else f"{size} weeks"
    return _labelled_chart(
        "Commit activity",
        sparkline(cells),
        f"{total:,} commits from {first} to {last} ({span} weeks, one cell per {per};"
        " stitched from every run, blank: not observed)",
        width,
    )


def history_lines(
    stars: Sequence[tuple[str, int]], weeks: Sequence[tuple[str, int]], width: int = 80
) -> list[Text]:
    """The lines `show` adds from the catalogue database (none without history): the star
    history (a chart from STAR_CHART_MIN observations, else one line), and the commit activity
    stitched from every run when it spans more than 52 weeks."""
    lines = []
    if len(stars) >= STAR_CHART_MIN:
        lines += star_history_chart(stars, width)
    elif len(stars) >= 2:
        lines.append(star_history_text(stars, width))
    activity = stitched_activity_text(weeks, width)
    if activity is not None:
        lines.append(activity)
    return lines
