"""One-line-per-row tables fitted to the terminal: `top`, `grid` (rows) and `trends`.

Each column is measured from its cells; a table that does not fit the width gives up whole
columns (or narrower forms of one) in an order the caller names, lowest priority first. Slugs
and numbers are never cut: when even the columns that never go do not fit, the lines are longer
than the terminal rather than wrong. Text columns that may be cut (descriptions) are given a
width and end in an ellipsis.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from rich.cells import cell_len, set_cell_size
from rich.console import Console, ConsoleOptions, RenderableType
from rich.segment import Segment
from rich.text import Span, Text

from pkgharvest.activity import DORMANT_AFTER_DAYS
from pkgharvest.views.text import ELLIPSIS

SLUG_STYLE = "bold cyan"

DORMANT_MARK = "†"
"""After a dormant package's slug, at every width and in every table (an activity column,
which also says "dormant", is given up on narrow terminals)."""

DORMANT_LEGEND = (
    f"{DORMANT_MARK} Dormant: no commits in 52 weeks, last commit over"
    f" {DORMANT_AFTER_DAYS} days ago"
)
"""Printed under a table that has a dormant row."""

GAP = 2
"""Between two columns: one space of padding (collapsed) and the blank divider."""


@dataclass(frozen=True)
class Column:
    """One column of a table, its cells already sanitized and measured.

    Attributes:
        header: the column's title.
        cells: per row, the cell's (text, style).
        width: the column's width in terminal cells; longer text is cut with an ellipsis.
        right: right-aligned (numbers) rather than left.
        spill: a longer cell is not cut: it runs on to the end of its line (the cells after it
            are left out), and the row goes on on the next line under the cells after it.
    """

    header: str
    cells: list[tuple[str, str]]
    width: int
    right: bool = False
    spill: bool = False


CONTINUATION = 2
"""A legend or footer line that goes on on the next line goes on indented by this much, so
that it reads as one with the line above and apart from the next legend."""

_CLAUSE_BREAK = re.compile(r"(?<=[,;]) +| +(?=\()")
"""Where a legend reads well broken: after a comma or semicolon, before a parenthesis (not
after a colon: "blank: not observed" is one thing)."""


def wrapped_lines(text: str, width: int, indent: int = CONTINUATION) -> list[str]:
    """`text` in lines of at most `width` terminal cells: broken where a clause ends (see
    _CLAUSE_BREAK) where it can, between words only inside a clause longer than a line, each
    line after the first indented by `indent`; no line ends in a space, and no line is left
    less than a third full for the sake of a clause. A word longer than a
    line (a path, a URL) is never broken: its line runs past the edge."""
    lines: list[str] = []
    for paragraph in text.split("\n"):
        lines += _wrapped_paragraph(paragraph.strip(), width, " " * indent)
    return lines


def _wrapped_paragraph(text: str, width: int, indent: str) -> list[str]:
    lines = [""]

    def room_for(piece: str) -> bool:
        line = lines[-1]
        gap = 1 if line.strip() else 0
        return cell_len(line) + gap + cell_len(piece) <= width

    def add(piece: str) -> None:
        lines[-1] += (" " if lines[-1].strip() else "") + piece

    for clause in _CLAUSE_BREAK.split(text):
        if room_for(clause):
            add(clause)
            continue
        # A new line for the clause, unless that would leave this one short (a third).
        if cell_len(lines[-1]) * 3 >= width:
            lines.append(indent)
            if room_for(clause):
                add(clause)
                continue
        for word in clause.split(" "):  # between the clause's words
            if not room_for(word) and lines[-1].strip():
                lines.append(indent)
            add(word)
    return lines


def legend_text(text: str, width: int, style: str = "dim", indent: int = CONTINUATION) -> Text:
    """A legend or footer under a table, in lines that fit `width` (see wrapped_lines): print
    it with soft_wrap=True, so that rich neither wraps it again nor crops a word that has to
    run past the edge."""
    lines = wrapped_lines(text, width, indent)
    return Text("\n".join(lines), style=style, no_wrap=True, overflow="ignore")


class TrimmedLines:
    """A renderable drawn as rich draws it (its words wrapped to the width), each line without
    the spaces rich leaves at its end."""

    def __init__(self, renderable: RenderableType) -> None:
        self.renderable = renderable

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> Iterator[Segment]:
        for line in console.render_lines(self.renderable, options, pad=False):
            while line and not line[-1].control and not line[-1].text.rstrip(" "):
                line.pop()
            if line and not line[-1].control:
                last = line[-1]
                line[-1] = Segment(last.text.rstrip(" "), last.style)
            yield from line
            yield Segment.line()


def slug_cell(slug: str, dormant: bool) -> tuple[str, str]:
    """A package column cell: the slug, and the dormant mark after it."""
    if dormant:
        return f"{slug} {DORMANT_MARK}", "dim"
    return slug, SLUG_STYLE


def widest(texts: Sequence[str]) -> int:
    """The widest of `texts` in terminal cells (0 for none)."""
    return max((len(t) if t.isascii() else cell_len(t) for t in texts), default=0)


def measured(
    header: str, cells: list[tuple[str, str]], *, right: bool = False, cap: int | None = None
) -> Column:
    """A column as wide as its header or widest cell (at most `cap`: longer cells are cut)."""
    width = max(len(header), widest([text for text, _ in cells]))
    return Column(header, cells, min(width, cap) if cap is not None else width, right)


def table_width(columns: Sequence[Column]) -> int:
    """The width of a table of `columns`, GAP apart."""
    return sum(c.width for c in columns) + GAP * max(len(columns) - 1, 0)


def squeezed(columns: list[Column], index: int, width: int) -> list[Column]:
    """`columns` with the one at `index` narrowed to what the others leave of `width` (not
    below its header), spilling longer cells (see Column.spill), when they do not fit."""
    if table_width(columns) <= width:
        return columns
    column = columns[index]
    room = width - (table_width(columns) - column.width)
    narrower = Column(column.header, column.cells, max(room, len(column.header)), spill=True)
    return [*columns[:index], narrower, *columns[index + 1 :]]


def fit_cell(text: str, width: int, right: bool) -> str:
    """`text` cut with an ellipsis or padded to exactly `width` terminal cells."""
    length = len(text) if text.isascii() else cell_len(text)
    if length > width:
        text = set_cell_size(text, max(width - 1, 0)) + ELLIPSIS if width > 0 else ""
        length = width
    padding = " " * (width - length)
    return padding + text if right else text + padding


def render_columns(columns: Sequence[Column]) -> Text:
    """Header, rule and rows as one Text, one line per row, columns GAP apart, no trailing
    spaces.

    Drawn by hand rather than with rich.table.Table: the widths are known already, and rich
    would measure every cell again (`top --limit 0` draws a whole mirror).
    """
    gap = " " * GAP
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

    line([(fit_cell(c.header, c.width, c.right), "bold") for c in columns])
    line([("─" * table_width(columns), "dim")])
    rows = len(columns[0].cells) if columns else 0
    for row in range(rows):
        pieces = [(fit_cell(c.cells[row][0], c.width, c.right), c.cells[row][1]) for c in columns]
        for index, column in enumerate(columns):
            text, style = column.cells[row]
            if column.spill and (len(text) if text.isascii() else cell_len(text)) > column.width:
                line([*pieces[:index], (text, style)])
                pieces[: index + 1] = [(" " * c.width, "") for c in columns[: index + 1]]
                break
        line(pieces)
    # One Text built at once: Text.append per piece costs more than the rest put together.
    return Text("".join(parts).rstrip("\n"), spans=spans, no_wrap=True, overflow="ellipsis")
