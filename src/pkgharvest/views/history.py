"""Drawing the catalogue's history: `trends` tables, the `changes` digest, `show`'s star history.

Text from the API goes through `display()` (terminal-safe) like every other view.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from pkgharvest.catalogue.reports import ChangeReport, Trend
from pkgharvest.views.charts import SPARK_LEVELS, thousands
from pkgharvest.views.text import display

SLUG_STYLE = "bold cyan"


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


def trends_table(rows: Sequence[Trend], *, by: str, caption: str) -> Table:
    table = Table(box=None, caption=caption, caption_justify="left", pad_edge=False)
    table.add_column("#", justify="right", style="dim")
    table.add_column("Package", no_wrap=True, overflow="ellipsis", max_width=40)
    table.add_column("Stars", justify="right")
    table.add_column("Gained", justify="right", style="green" if by == "stars" else None)
    table.add_column("%", justify="right")
    table.add_column("Forks", justify="right")
    table.add_column("Gained", justify="right", style="green" if by == "forks" else None)
    table.add_column("Stars over the window", no_wrap=True)
    for position, row in enumerate(rows, start=1):
        percent = row.stars_percent if by == "stars" else row.forks_percent
        table.add_row(
            str(position),
            Text(display(row.slug), style=SLUG_STYLE),
            thousands(row.stars),
            _signed(row.stars_gained),
            _percent(percent),
            thousands(row.forks),
            _signed(row.forks_gained),
            value_sparkline(row.history),
        )
    return table


def _section(title: str, lines: list[Text], more: int = 0) -> list[RenderableType]:
    if not lines:
        return []
    head = Text(title, style="bold")
    body = [Text("  ").append_text(line) for line in lines]
    if more:
        body.append(Text(f"  … and {more:,} more", style="dim"))
    return [head, *body, Text("")]


def _slug(item: dict[str, Any]) -> Text:
    return Text(display(item.get("slug")), style=SLUG_STYLE)


def _when(stamp: str | None) -> str:
    """`2026-06-01T03:00:00Z` as `2026-06-01 03:00 UTC`."""
    if not stamp:
        return "the start"
    return stamp[:16].replace("T", " ") + " UTC" if len(stamp) >= 16 else stamp


def changes_view(report: ChangeReport, *, shown: int = 15) -> RenderableType:
    """The weekly digest: what is new, gone, released, rising, falling, gone quiet, back."""
    parts: list[RenderableType] = []
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
    parts.append(Text(title, style="bold underline"))
    parts.append(Text(display(report.digest()), style="dim"))  # it names slugs
    parts.append(Text(""))

    def cut(items: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
        return items[:shown], max(0, len(items) - shown)

    items, more = cut(report.new)
    parts += _section(
        f"New packages ({len(report.new):,})",
        [
            _slug(i)
            .append(f"  {thousands(i.get('stars'))} stars", style="dim")
            .append(f"  {display(i.get('title'), missing='')}")
            for i in items
        ],
        more,
    )
    items, more = cut(report.releases)
    parts += _section(
        f"Releases ({len(report.releases):,})",
        [_slug(i).append(f"  {display(i.get('from'))} → {display(i.get('to'))}") for i in items],
        more,
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
                _slug(i)
                .append(f"  {i['gained']:+,}", style=style)
                .append(f"  ({i['from']:,} → {i['to']:,})", style="dim")
                for i in items
            ],
            more,
        )
    for title, key in (
        ("Went dormant (no commits in 52 weeks)", "dormant"),
        ("Came back (commits again)", "revived"),
    ):
        items, more = cut(getattr(report, key))
        parts += _section(
            f"{title} ({len(getattr(report, key)):,})", [_slug(i) for i in items], more
        )
    items, more = cut(report.renamed)
    parts += _section(
        f"Renamed ({len(report.renamed):,})",
        [_slug(i).append(f"  was {display(i.get('from'))}", style="dim") for i in items],
        more,
    )
    items, more = cut(report.removed)
    parts += _section(f"Removed ({len(report.removed):,})", [_slug(i) for i in items], more)
    if len(parts) == 3:
        parts.append(Text("Nothing changed.", style="dim"))
    return Group(*parts)


def star_history_text(history: Sequence[tuple[str, int]]) -> Text:
    """`show`: one line with a sparkline of the star count over the observations."""
    first, last = history[0], history[-1]
    gained = last[1] - first[1]
    return Text.assemble(
        ("Star history  ", "bold"),
        (value_sparkline([stars for _, stars in history], width=40), "green"),
        f"  {first[1]:,} → {last[1]:,} ({gained:+,}) from {first[0][:10]} to {last[0][:10]},"
        f" {len(history):,} observations",
    )


STITCHED_WIDTH = 60
"""At most this many sparkline cells for the stitched activity (weeks are summed to fit)."""


def stitched_activity_text(weeks: Sequence[tuple[str, int]]) -> Text | None:
    """`show`: the stitched weekly commits as one sparkline, when they span more than 52 weeks
    (weeks no observation covered are blanks); None when they do not."""
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
    size = -(-span // STITCHED_WIDTH)  # weeks per cell, rounded up
    cells: list[int | None] = []
    for start in range(0, span, size):
        chunk = [c for c in series[start : start + size] if c is not None]
        cells.append(sum(chunk) if chunk else None)
    total = sum(c for c in series if c is not None)
    per = "week" if size == 1 else f"{size} weeks"
    return Text.assemble(
        ("Commit activity  ", "bold"),
        (sparkline(cells), "green"),
        f"  {total:,} commits from {first} to {last} ({span} weeks, one cell per {per};"
        " stitched from every run, blank: not observed)",
    )


def history_lines(stars: Sequence[tuple[str, int]], weeks: Sequence[tuple[str, int]]) -> list[Text]:
    """The lines `show` adds from the catalogue database (none without history)."""
    lines = []
    if len(stars) >= 2:
        lines.append(star_history_text(stars))
    activity = stitched_activity_text(weeks)
    if activity is not None:
        lines.append(activity)
    return lines
