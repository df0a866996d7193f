"""`pkgharvest deps` on a terminal: one line per dependency, its alternatives under it.

Columns: dependency (as written), the version used, the catalogue's latest, stars, the star
trend over 90 days, the 52-week activity (the sparkline on the shared scale the other tables
use), last commit, status, and with `--django` the readiness. The table fits `width`: the
name, version, status and readiness always show, then as many of these as fit, most important
first: last commit, stars, the latest version, the activity (13 bars, widened to 26 or 52
with room to spare), the 90-day trend. Names, versions and numbers are never cut. Every text
from a file, the catalogue or PyPI goes through the one sanitizer (views/text.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from rich.cells import cell_len
from rich.console import RenderableType
from rich.text import Text

from pkgharvest.activity import is_dormant
from pkgharvest.project.judge import Status
from pkgharvest.project.report import READINESS, Alternative, Report, Row
from pkgharvest.records import int_field, parse_timestamp
from pkgharvest.views import ActivityScale
from pkgharvest.views.charts import relative_date, thousands
from pkgharvest.views.columns import (
    DORMANT_LEGEND,
    GAP,
    SLUG_STYLE,
    Column,
    legend_text,
    render_columns,
    slug_cell,
)
from pkgharvest.views.tables import (
    MISSING,
    ActivityRows,
    activity_cells,
    activity_legend,
    last_commit_text,
)
from pkgharvest.views.text import display

_STATUS_TEXT = {
    Status.DORMANT: ("dormant", "yellow"),
    Status.BEHIND: ("behind", "magenta"),
    Status.ACTIVE: ("active", "green"),
    Status.NOT_IN_CATALOGUE: ("not in catalogue", "dim"),
}
_READINESS_STYLE = {
    "ready": "green",
    "upgrade": "cyan",
    "blocked": "bold red",
    "not-declared": "yellow",
    "unknown": "dim",
}

_OPTIONAL = ("Last commit", "Stars", "Latest", "Activity", "90 d")
"""The columns that give way, most important first; each is shown when it fits after those
before it (the activity at 13 bars, widened to 26 or 52 when the room is left over)."""
_SPARK_WIDTHS = (13, 26, 52)
_SPARK_HEADERS = {52: "Commits per week", 26: "Per 2 weeks", 13: "Per 4 wks"}


def readiness_text(row: Row) -> tuple[str, str]:
    """The Django cell: `ready`, `→ 5.0.0` (the smallest step), `blocked`, `not declared`,
    `unknown`; empty for a dependency not in the catalogue."""
    assessed = row.readiness
    if assessed is None:
        return "", ""
    style = _READINESS_STYLE[assessed.readiness.value]
    if assessed.readiness.value == "upgrade" and assessed.step:
        return f"→ {display(assessed.step)}", style
    return assessed.readiness.value.replace("-", " "), style


def _version(row: Row) -> str:
    dependency = row.dependency
    if dependency.version:
        return display(dependency.version)
    return display(dependency.specifier, missing=MISSING)


def _trend(value: int | None) -> str:
    return MISSING if value is None else f"{value:+,}"


@dataclass(frozen=True)
class DepsView:
    """The drawn report, in order: the heading and the footer (prose: print them wrapped to
    the width) around the table's lines (already fitted: print them as they are)."""

    heading: tuple[RenderableType, ...]
    table: tuple[RenderableType, ...]
    footer: tuple[RenderableType, ...]


def deps_view(report: Report, *, now: datetime, width: int, show_all: bool) -> DepsView:
    """The terminal view of `report` at `width` columns (see the module's text)."""
    rows = [r for r in report.rows if show_all or r.status is not Status.NOT_IN_CATALOGUE]
    heading = (_heading(report, width),)
    if not rows:
        footer = [Text("No dependency is in the catalogue.", style="dim")]
        footer += [legend_text(line, width) for line in summary_lines(report, now, show_all)]
        return DepsView(heading, (), tuple(footer))
    records = [r.record if r.record is not None else {} for r in rows]
    activity = ActivityRows.of(records, now)
    django = f"Django {report.target}" if report.target else None
    cells: dict[str, list[tuple[str, str]]] = {
        "Dependency": [
            slug_cell(display(r.dependency.name), r.status is Status.DORMANT) for r in rows
        ],
        "Version": [(_version(r), "") for r in rows],
        "Latest": [(display(r.latest_version), "") for r in rows],
        "Stars": [(thousands(int_field(rec, "stars"), MISSING), "") for rec in records],
        "90 d": [(_trend(r.star_trend), "") for r in rows],
        "Last commit": [
            (last_commit_text(rec, now) if r.record is not None else MISSING, "")
            for r, rec in zip(rows, records, strict=True)
        ],
        "Status": [_STATUS_TEXT[r.status] for r in rows],
    }
    order = ["Dependency", "Version", "Latest", "Stars", "90 d", "Activity", "Last commit"]
    order += ["Status"]
    if django:
        cells[django] = [readiness_text(r) for r in rows]
        order.append(django)
    widths = {
        name: max([cell_len(name), *(cell_len(text) for text, _ in column)])
        for name, column in cells.items()
    }
    spark, hidden = _choose(order, widths, width)
    columns: list[Column] = []
    legend: list[str] = []
    for name in order:
        if name == "Activity":
            if spark:
                sparks, top, blank = activity_cells(activity, spark, ActivityScale.SHARED)
                sparks = [
                    cell if r.record is not None else (MISSING, "dim")
                    for cell, r in zip(sparks, rows, strict=True)
                ]
                columns.append(Column(_SPARK_HEADERS[spark], sparks, spark))
                if top:  # some row has bars to read
                    legend.append(
                        activity_legend(activity, spark, ActivityScale.SHARED, top, blank)
                    )
        elif name not in hidden:
            right = name in ("Stars", "90 d")
            columns.append(Column(name, cells[name], widths[name], right))
    table = render_columns(columns).split("\n")
    lines: list[RenderableType] = list(table[:2])
    for index, row in enumerate(rows):
        lines.append(table[2 + index])
        lines += [_alternative_line(alt, report, now, width) for alt in row.alternatives]
    if any(r.record is not None and is_dormant(r.record, now) for r in rows):
        legend.append(DORMANT_LEGEND)
    footer = [legend_text(line, width) for line in (*legend, *summary_lines(report, now, show_all))]
    return DepsView(heading, tuple(lines), tuple(footer))


def _choose(order: Sequence[str], widths: dict[str, int], width: int) -> tuple[int, frozenset[str]]:
    """(sparkline width, 0 for none; the optional columns left out) for `width`."""
    kept = [n for n in order if n not in _OPTIONAL]
    used = sum(widths[n] for n in kept) + GAP * (len(kept) - 1)
    shown: set[str] = set()
    spark = 0
    for name in _OPTIONAL:
        if name not in order:
            continue
        cost = (_SPARK_WIDTHS[0] if name == "Activity" else widths[name]) + GAP
        if used + cost <= width:
            used += cost
            shown.add(name)
            spark = _SPARK_WIDTHS[0] if name == "Activity" else spark
    for wider in _SPARK_WIDTHS[1:]:
        if spark and used + wider - spark <= width:
            used += wider - spark
            spark = wider
    return spark, frozenset(n for n in _OPTIONAL if n not in shown)


_TRY = "  ↳ try "
_DETAILS = " · "


def _alternative_line(alt: Alternative, report: Report, now: datetime, width: int) -> Text:
    """`  ↳ try SLUG  ★ 1,234 · last commit 2 weeks ago · Django 5.1 ready · grid NAME`, in
    lines that fit `width`: broken between the details (a line that goes on ends in `·`), the
    lines after the first under the slug; a detail longer than a line is broken between its
    words. Nothing is cut: a slug or number longer than the room runs past the edge."""
    record = alt.record
    details = [f"★ {thousands(int_field(record, 'stars'), MISSING)}"]
    when = parse_timestamp(record.get("last_commit"))
    details.append(f"last commit {relative_date(when, now)}" if when else "no commit known")
    if report.target is not None:
        said = alt.django.verdict.value if alt.django else "unknown"
        details.append(f"Django {report.target} {said.replace('-', ' ')}")
    if alt.in_project:
        details.append("already a dependency")
    details.append(f"grid {display(alt.grid)}")

    line = Text(_TRY, style="dim")
    line.append(display(record.get("slug")), style=SLUG_STYLE)
    indent = " " * cell_len(_TRY)
    used = line.cell_len
    joiner = "  "
    for index, detail in enumerate(details):
        last = index == len(details) - 1
        # Room for the `·` that ends the line when the next detail goes on the next one.
        tail = 0 if last else len(_DETAILS.rstrip())
        if used + len(joiner) + cell_len(detail) + tail > width and used > len(indent):
            if index:
                line.append(_DETAILS.rstrip(), style="dim")
            line.append("\n" + indent)
            used, joiner = len(indent), ""
        words = detail.split(" ")
        if used + len(joiner) + cell_len(detail) + tail > width:  # broken between its words
            for number, word in enumerate(words):
                end = tail if number == len(words) - 1 else 0
                if number and used + 1 + cell_len(word) + end > width:
                    line.append("\n" + indent)
                    used, joiner = len(indent), ""
                line.append(joiner + word, style="dim")
                used += len(joiner) + cell_len(word)
                joiner = " "
        else:
            line.append(joiner + detail, style="dim")
            used += len(joiner) + cell_len(detail)
        joiner = _DETAILS
    return line


def _heading(report: Report, width: int) -> Text:
    files = ", ".join(display(f) for f in report.project.files) or "no file"
    heading = legend_text(f"Dependencies of {files}", width, style="bold")
    said = []
    framework = report.project.framework
    if framework is not None:
        version = framework.version or framework.specifier or "version unknown"
        said.append(f"Django {display(version)} (the framework, not judged)")
    if report.target is not None:
        said.append(f"readiness for Django {report.target}")
    if said:
        heading.append("\n")
        heading.append_text(legend_text("; ".join(said), width))
    return heading


def summary_lines(report: Report, now: datetime, show_all: bool) -> list[str]:
    """The lines under the table: what was counted, PyPI's answers, notes, the mirror's age."""
    counts = report.status_counts()
    inside = sum(n for status, n in counts.items() if status != Status.NOT_IN_CATALOGUE.value)
    parts = [
        f"{counts.get(s.value, 0):,} {s.value}"
        for s in (Status.DORMANT, Status.BEHIND, Status.ACTIVE)
        if counts.get(s.value)
    ]
    line = f"{inside:,} in the catalogue"
    if parts:
        line += f" ({', '.join(parts)})"
    outside = counts.get(Status.NOT_IN_CATALOGUE.value, 0)
    if outside:
        line += f"; {outside:,} not in the catalogue"
        if not show_all:
            line += " (listed with --all)"
    lines = [line + "."]
    if report.target is not None:
        ready = report.readiness_counts()
        said = ", ".join(f"{ready[r]:,} {r.replace('-', ' ')}" for r in READINESS if ready.get(r))
        lines.append(f"Django {report.target}: {said or 'nothing to judge'}.")
    if report.pypi is not None:
        lines.append(pypi_line(report, now))
        lines += [f"PyPI unknown: {display(reason)}" for reason in report.pypi.failed[:5]]
        if len(report.pypi.failed) > 5:
            lines.append(f"PyPI unknown: … and {len(report.pypi.failed) - 5:,} more")
    lines += [display(note) for note in report.notes]
    updated = parse_timestamp(report.mirror_updated)
    if updated is not None:
        lines.append(f"Catalogue: mirror updated {relative_date(updated, now)}.")
    return lines


def pypi_line(report: Report, now: datetime) -> str:
    """`PyPI: 3 answers asked now, 12 kept (the oldest from 5 hours ago).`"""
    pypi = report.pypi
    assert pypi is not None
    parts = []
    if pypi.asked:
        parts.append(f"{pypi.asked:,} answers asked now")
    if pypi.kept:
        kept = f"{pypi.kept:,} kept"
        if pypi.oldest is not None:
            kept += f" (the oldest from {relative_date(now - pypi.oldest, now)})"
        parts.append(kept)
    if pypi.failed:
        parts.append(f"{len(pypi.failed):,} unknown")
    where = " (offline)" if pypi.offline else ""
    return f"PyPI{where}: {', '.join(parts) or 'nothing asked'}."
