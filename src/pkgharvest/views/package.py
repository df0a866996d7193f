"""`pkgharvest show`: one package in a panel, every field, and a 52-week activity chart; its
links under the panel, each on a line of its own, never wrapped."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from rich.cells import cell_len
from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from pkgharvest.activity import is_dormant
from pkgharvest.records import (
    Record,
    commits_total,
    int_field,
    parse_timestamp,
    ref_slug,
    refs,
    weekly_commits,
)
from pkgharvest.views.charts import activity_chart, relative_date, thousands
from pkgharvest.views.columns import DORMANT_LEGEND, DORMANT_MARK
from pkgharvest.views.text import display, sanitize

MISSING = "—"

_LABELS: dict[str, str] = {
    "id": "ID",
    "slug": "Slug",
    "title": "Title",
    "category": "Category",
    "grids": "Grids",
    "stars": "Stars",
    "forks": "Forks",
    "commits_52w_total": "Commits, 52 weeks",
    "last_commit": "Last commit",
    "last_fetched": "Last fetched",
    "created": "Created",
    "modified": "Modified",
    "pypi_version": "PyPI version",
    "pypi_url": "PyPI",
    "repo_url": "Repository",
    "documentation_url": "Documentation",
    "participants": "Participants",
    "api_url": "API",
    "stale_fields": "Stale fields",
    "invalid": "Invalid values",
    "extra": "Extra fields",
}
LINK_FIELDS = ("repo_url", "pypi_url", "documentation_url", "api_url")
"""Shown under the panel (`link_lines`): a URL is never wrapped in the middle."""

# Shown elsewhere: the description under the title, the counts as the chart, the links below.
_SHOWN_APART = frozenset({"repo_description", "commits_52w", *LINK_FIELDS})


def moment_text(value: object, now: datetime) -> str:
    """ "2026-01-23 13:32 UTC (3 weeks ago)"; the raw text (sanitized) if it is no timestamp."""
    when = parse_timestamp(value)
    if when is None:
        return display(value)
    return f"{when:%Y-%m-%d %H:%M} UTC ({relative_date(when, now)})"


def _ref_text(ref: dict[str, Any]) -> str:
    title = ref.get("title")
    if not isinstance(ref.get("slug"), str):
        return f"#{ref['id']} (not fetched)"
    return f"{display(title)} ({display(ref_slug(ref))})" if title else display(ref_slug(ref))


def _json_text(value: Any) -> str:
    if value in ({}, [], None):
        return MISSING
    return sanitize(json.dumps(value, ensure_ascii=False, sort_keys=True))


def _field_text(name: str, record: Record, now: datetime) -> str:
    value = record.get(name)
    renderers: dict[str, Callable[[], str]] = {
        "category": lambda: ", ".join(map(_ref_text, refs(value))) or MISSING,
        "grids": lambda: "\n".join(map(_ref_text, refs(value))) or MISSING,
        "stars": lambda: thousands(int_field(record, name)),
        "forks": lambda: thousands(int_field(record, name)),
        "commits_52w_total": lambda: thousands(commits_total(record)),
        "participants": lambda: (
            f"{len(value)}: " + ", ".join(display(p) for p in value)
            if isinstance(value, list) and value
            else MISSING
        ),
        "stale_fields": lambda: (
            ", ".join(display(v) for v in value) + " (kept from an earlier fetch)"
            if isinstance(value, list) and value
            else MISSING
        ),
    }
    if name in renderers:
        return renderers[name]()
    if name in ("last_commit", "last_fetched", "created", "modified"):
        return moment_text(value, now)
    if isinstance(value, dict | list):
        return _json_text(value)
    return display(value)


_PANEL_EDGES = 4
"""A panel's borders and the padding inside them."""
_LABEL_GAP = 2


def package_panel(record: Record, *, now: datetime, width: int = 80) -> Panel:
    """Title and description, a label/value list of every field but the links, then the
    activity chart, in a panel at most `width` wide. A dormant package has the dormant mark
    after its slug, explained inside.

    Values wrap between words beside their labels; a value holding a word too long for that
    column (a slug, a URL) goes on a line of its own under its label instead, so that it is
    never broken (it is folded only where even the panel's whole width cannot hold it)."""
    rows = [
        (_LABELS.get(name, name), _field_text(name, record, now))
        for name in record
        if name not in _SHOWN_APART
    ]
    label_width = max((len(label) for label, _ in rows), default=0)
    inner = max(width - _PANEL_EDGES, 1)
    beside = inner - label_width - _LABEL_GAP
    fields: list[RenderableType] = []
    grid: Table | None = None
    for label, value in rows:
        longest = max((cell_len(word) for word in value.split()), default=0)
        if longest <= beside:
            if grid is None:
                grid = Table.grid(padding=(0, _LABEL_GAP))
                # As wide in every grid: the values line up across the lines set apart.
                grid.add_column(style="dim", no_wrap=True, width=label_width)
                grid.add_column(overflow="fold")
                fields.append(grid)
            grid.add_row(Text(label), Text(value))
            continue
        grid = None
        indent = " " * _LABEL_GAP if longest + _LABEL_GAP <= inner else ""
        fields.append(Text(label, style="dim"))
        fields.append(Text("\n".join(indent + line for line in value.split("\n")), overflow="fold"))

    parts: list[RenderableType] = [Text(display(record.get("title")), style="bold")]
    description = display(record.get("repo_description"), missing="")
    if description:
        parts.append(Text(description))
    title = Text(display(record.get("slug")), style="bold")
    if is_dormant(record, now):
        parts.append(Text(DORMANT_LEGEND, style="yellow"))
        title.append(f" {DORMANT_MARK}")
    parts += [Text(""), *fields, Text(""), *activity_section(record)]
    return Panel(Group(*parts), title=title, title_align="left", expand=False)


def link_lines(record: Record, width: int) -> list[Text]:
    """The package's links, one a line: `Repository  https://...`, or the label on one line and
    the URL alone on the next when both do not fit `width`. A URL is never cut or wrapped:
    print these with soft_wrap=True (one longer than the terminal runs past its edge, and the
    terminal shows the rest on the next row as one line that copies whole)."""
    labels = {name: _LABELS[name] for name in LINK_FIELDS if name in record}
    label_width = max((len(label) for label in labels.values()), default=0)
    lines = []
    for name, label in labels.items():
        url = display(record.get(name))
        if label_width + 2 + cell_len(url) <= width:
            lines.append(Text.assemble((label.ljust(label_width + 2), "dim"), url))
        else:
            lines += [Text(label, style="dim"), Text(url)]
    return lines


def activity_section(record: Record) -> list[Text]:
    """A heading and the chart; one line when the activity is unknown or there was none."""
    counts = weekly_commits(record)
    if counts is None:
        return [Text("Commits per week: unknown (the API sent no weekly counts)", style="dim")]
    last_week = parse_timestamp(record.get("last_fetched"))
    to = f" to {last_week:%Y-%m-%d}" if last_week is not None else ""
    if not any(counts):
        return [Text(f"No commits in the {len(counts)} weeks{to}", style="bold")]
    heading = Text(f"Commits per week, {len(counts)} weeks", style="bold")
    heading.append(f"{to} (total {sum(counts):,})")
    chart = activity_chart(counts, last_week)
    return [heading, *(Text(line, no_wrap=True, overflow="crop") for line in chart)]
