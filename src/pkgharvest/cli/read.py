"""Reading commands: top, grid, show, grids, categories, export. Offline: no network at all.

Thin on purpose: the catalogue database finds and ranks records (catalogue/reader.py, the one
read path), pkgharvest.views draws them, pkgharvest.formats exports them. rich and the writers
are imported inside the commands so that `pkgharvest --help` stays fast. Failures are raised
as PkgHarvestError subclasses; the funnel in cli/__init__.py prints them as one line with their
exit code.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TextIO

import typer

from pkgharvest.cli.common import (
    invocation,
    open_reader,
    print_json,
    print_json_array,
    spooled,
    write_stdout,
)
from pkgharvest.cli.options import (
    CategoryOption,
    DataDirOption,
    GridOption,
    JsonOption,
    MatchOption,
    complete_slugs,
)
from pkgharvest.cli.params import MAX_ROWS, OneOf, OutputFile, Since, SinceType, WholeNumber
from pkgharvest.formats import DateFormat, ExportFormat
from pkgharvest.records import Kind, Record
from pkgharvest.store.mirror import GroupOrder, SortKey
from pkgharvest.views import ActivityScale

if TYPE_CHECKING:
    from rich.console import Console

    from pkgharvest.runtime import Dependencies
    from pkgharvest.store.mirror import GroupSummary, Mirror


ScaleOption = Annotated[
    ActivityScale,
    typer.Option(
        "--scale",
        click_type=OneOf(ActivityScale),
        help=(
            "Sparkline scale: 'row' scales each package to its own busiest week (shape); "
            "'shared' scales every row to the table's busiest week (rows compare)."
        ),
    ),
]
GroupOrderOption = Annotated[
    GroupOrder,
    typer.Option(
        "--by", click_type=OneOf(GroupOrder), help="Order by slug, package count or total stars."
    ),
]


def _console() -> Console:
    from pkgharvest.views.console import make_console

    return make_console()


def _freshness(mirror: Mirror, now: datetime) -> str:
    from pkgharvest.errors import ExitCode
    from pkgharvest.views.charts import relative_date

    # The catalogue is as fresh as its last complete fetch: a targeted fetch since, or one
    # that found nothing or failed, does not make it fresher or say it is broken.
    updated = mirror.last_updated()
    text = f"mirror updated {relative_date(updated, now)}" if updated else "no complete fetch yet"
    last_run = mirror.manifest.get("last_run")
    if isinstance(last_run, dict) and last_run.get("exit_code") == ExitCode.PARTIAL:
        # A targeted fetch is never "complete" (it is not the whole catalogue), and says nothing
        # here when it did all it was asked; a partial run kept what it fetched, and says so.
        text += "; the last fetch was partial (`pkgharvest status` says more)"
    return text


ActiveOption = Annotated[
    bool,
    typer.Option(
        "--active",
        help="Hide dormant packages (no commits in 52 weeks, last commit over a year ago).",
    ),
]


commands = typer.Typer()


class GridLayout(StrEnum):
    """How `grid` lays its packages out."""

    ROWS = "rows"
    COLUMNS = "columns"


def _rows_json(records: Iterable[Record], now: datetime) -> Iterator[dict[str, Any]]:
    """`top` / `grid` rows for --json, with `dormant` beside the record fields (streamed)."""
    from pkgharvest.activity import is_dormant
    from pkgharvest.store.mirror import package_rows

    for row in package_rows(records):
        row["dormant"] = is_dormant(row, now)
        yield row


def _without_dormant(records: list[Record], now: datetime) -> tuple[list[Record], int]:
    from pkgharvest.activity import is_dormant

    kept = [r for r in records if not is_dormant(r, now)]
    return kept, len(records) - len(kept)


@commands.command(
    epilog="Example: pkgharvest top --by activity --grid rest-frameworks --active --limit 10",
)
def top(
    ctx: typer.Context,
    by: Annotated[
        SortKey,
        typer.Option(
            "--by",
            click_type=OneOf(SortKey),
            help=(
                "Rank by this; largest or newest first. activity: commits in the last 13 "
                "weeks (then the 52-week total). stars-gained: stars gained since --since, "
                "from the history (as `trends`)."
            ),
        ),
    ] = SortKey.STARS,
    grid: GridOption = None,
    category: CategoryOption = None,
    match: MatchOption = None,
    limit: Annotated[
        int,
        typer.Option(
            "--limit", click_type=WholeNumber(0, MAX_ROWS), help="Show this many rows; 0 shows all."
        ),
    ] = 20,
    reverse: Annotated[
        bool, typer.Option("--reverse", help="Smallest or oldest first (unknown still last).")
    ] = False,
    active: ActiveOption = False,
    scale: ScaleOption = ActivityScale.ROW,
    since: Annotated[
        Since,
        typer.Option(
            "--since",
            click_type=SinceType(),
            metavar="7d|30d|DATE",
            help="With --by stars-gained: the window's start.",
        ),
    ] = "30d",  # type: ignore[assignment]  # the type converts the default too
    json_output: JsonOption = False,
    data_dir: DataDirOption = None,
) -> None:
    """Rank packages by stars, forks, commits, recent activity or last commit, one per line."""
    deps = invocation(ctx).deps
    now = deps.now()
    reader = open_reader(data_dir, deps, history=by is SortKey.STARS_GAINED)
    scope: dict[str, Any] = {
        "grid": reader.find(Kind.GRID, grid) if grid is not None else None,
        "category": reader.find(Kind.CATEGORY, category) if category is not None else None,
        "match": match,
    }
    if by is SortKey.STARS_GAINED:  # history: answered like `trends`
        from pkgharvest.cli.history import show_trends

        if match:
            from pkgharvest.errors import UsageError

            raise UsageError("--by stars-gained does not take --match")
        show_trends(
            reader, since, "stars", now=now, grid=scope["grid"], category=scope["category"],
            limit=limit, json_output=json_output,
        )  # fmt: skip
        return
    hidden = 0
    selected: int | None = None
    shown: Iterable[Record]
    if active or by is SortKey.ACTIVITY:
        # Both judge records against each other or the date: every selected record is needed.
        if by is SortKey.ACTIVITY:
            from pkgharvest.activity import rank_by_activity

            candidates = reader.ranked(SortKey.STARS, **scope)
        else:
            candidates = reader.ranked(by, reverse=reverse, **scope)
        if active:
            candidates, hidden = _without_dormant(candidates, now)
        selected = len(candidates)
        if by is SortKey.ACTIVITY:
            candidates = rank_by_activity(candidates, reverse=reverse)
        shown = candidates[:limit] if limit else candidates
    else:
        from pkgharvest.store.mirror import PACKAGE_ROW_FIELDS, PACKAGE_VIEW_FIELDS

        fields = PACKAGE_ROW_FIELDS if json_output else PACKAGE_VIEW_FIELDS
        if json_output:  # the whole catalogue may be asked for: one row at a time

            def rows(out: TextIO) -> None:
                ranked = reader.stream_ranked(
                    by, reverse=reverse, limit=limit, fields=fields, **scope
                )
                print_json_array(_rows_json(ranked, now), out)

            write_stdout(spooled(rows))
            return
        shown = reader.ranked(by, reverse=reverse, limit=limit, fields=fields, **scope)
    if json_output:
        print_json_array(_rows_json(shown, now))
        return
    shown = list(shown)
    mirror = reader.mirror
    from rich.text import Text

    from pkgharvest.views.columns import legend_text
    from pkgharvest.views.tables import TOP_COLUMNS, package_table

    console = _console()
    if not shown:
        console.print(Text("No package matches."))
        return
    total = reader.package_count()
    if selected is None:
        selected = reader.count_selected(**scope) if any(scope.values()) else total
    counts = f"{len(shown):,} of {selected:,} packages"
    if hidden:
        counts += f" ({hidden:,} dormant hidden)"
    if selected + hidden != total:
        counts += f" (of {total:,} in the mirror)"
    order = f"by {by.value}{' (reversed)' if reverse else ''}"
    caption = f"{counts}, {order}; {_freshness(mirror, now)}"
    table = package_table(shown, now=now, width=console.width, columns=TOP_COLUMNS, scale=scale)
    # soft_wrap: the lines are fitted already; rich must neither wrap nor crop them (a slug is
    # never cut), and need not measure them again.
    console.print(table.table, soft_wrap=True)
    for line in (*table.legend, caption):
        console.print(legend_text(line, console.width), soft_wrap=True)


@commands.command(
    epilog="Examples: pkgharvest grid rest-frameworks;  pkgharvest grid rest-frameworks "
    "--layout columns --active",
)
def grid(
    ctx: typer.Context,
    slug: Annotated[
        str,
        typer.Argument(
            metavar="SLUG", help="The grid's slug or id.", autocompletion=complete_slugs(Kind.GRID)
        ),
    ],
    layout: Annotated[
        GridLayout,
        typer.Option(
            "--layout",
            click_type=OneOf(GridLayout),
            help="rows: one line per package (default); columns: side by side, as the website.",
        ),
    ] = GridLayout.ROWS,
    active: ActiveOption = False,
    scale: Annotated[
        ActivityScale,
        typer.Option(
            "--scale",
            click_type=OneOf(ActivityScale),
            help="Sparkline scale: 'shared' (default) one scale for the grid, so rows compare; "
            "'row' each package to its own busiest week.",
        ),
    ] = ActivityScale.SHARED,
    json_output: JsonOption = False,
    data_dir: DataDirOption = None,
) -> None:
    """One grid: its packages by stars, one line each (or side by side with --layout columns)."""
    deps = invocation(ctx).deps
    now = deps.now()
    reader = open_reader(data_dir, deps)
    grid_record = reader.find(Kind.GRID, slug)
    from pkgharvest.store.mirror import PACKAGE_VIEW_FIELDS

    members = reader.ranked(SortKey.STARS, grid=grid_record, fields=PACKAGE_VIEW_FIELDS)
    hidden = 0
    if active:
        members, hidden = _without_dormant(members, now)
    if json_output:
        print_json_array(_rows_json(members, now))
        return
    from rich.text import Text

    from pkgharvest.views.columns import legend_text
    from pkgharvest.views.tables import (
        GRID_COLUMNS,
        grid_columns_view,
        grid_header,
        package_table,
    )

    console = _console()
    if layout is GridLayout.COLUMNS:
        view = grid_columns_view(
            grid_record, members, now=now, width=console.width, scale=scale, hidden=hidden
        )
        console.print(view)
        return
    console.print(grid_header(grid_record, len(members), hidden, width=console.width))
    if not members:
        console.print(Text("None of this grid's packages are in the mirror.", style="dim"))
        return
    table = package_table(members, now=now, width=console.width, columns=GRID_COLUMNS, scale=scale)
    console.print(table.table, soft_wrap=True)
    for line in table.legend:
        console.print(legend_text(line, console.width), soft_wrap=True)


@commands.command(
    epilog="Example: pkgharvest show django-rest-registration",
)
def show(
    ctx: typer.Context,
    slug_or_id: Annotated[
        str,
        typer.Argument(
            metavar="SLUG_OR_ID",
            help="The package's slug, or its numeric id.",
            autocompletion=complete_slugs(Kind.PACKAGE),
        ),
    ],
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the stored record as one JSON object.")
    ] = False,
    data_dir: DataDirOption = None,
) -> None:
    """One package: every field, its category and grids, 52 weeks of activity, and the history
    the catalogue database keeps (stars over time, activity older than 52 weeks)."""
    deps = invocation(ctx).deps
    reader = open_reader(data_dir, deps)
    record = reader.find(Kind.PACKAGE, slug_or_id)
    if json_output:
        print_json(record)
        return
    from pkgharvest.views.history import history_lines
    from pkgharvest.views.package import link_lines, package_panel

    history = reader.history(record["id"])  # read before anything is printed
    console = _console()
    console.print(package_panel(record, now=deps.now(), width=console.width))
    for line in history_lines(*history, width=console.width):
        console.print(line)
    for line in link_lines(record, console.width):
        console.print(line, soft_wrap=True)  # a URL is never wrapped in the middle


GROUP_FIELDS = ("id", "slug", "title", "description")
"""What `grids` and `categories` show of a grid or category record, as a table or JSON."""


def _groups(
    kind: Kind, order: GroupOrder, json_output: bool, data_dir: Path | None, deps: Dependencies
) -> None:
    from pkgharvest.store.mirror import group_rows

    now = deps.now()
    reader = open_reader(data_dir, deps)
    summaries: list[GroupSummary] = reader.group_summaries(kind, order, GROUP_FIELDS)
    if json_output:
        print_json(list(group_rows(summaries)))
        return
    from pkgharvest.views.tables import groups_table

    noun = "Grid" if kind is Kind.GRID else "Category"
    plural = "grids" if kind is Kind.GRID else "categories"
    caption = f"{len(summaries):,} {plural}; {_freshness(reader.mirror, now)}"
    console = _console()
    # crop=False: slugs and numbers are never cut, even where they do not fit.
    console.print(groups_table(summaries, noun, width=console.width, caption=caption), crop=False)


@commands.command(
    epilog="Example: pkgharvest grids --by stars",
)
def grids(
    ctx: typer.Context,
    by: GroupOrderOption = GroupOrder.NAME,
    json_output: JsonOption = False,
    data_dir: DataDirOption = None,
) -> None:
    """List the grids with their package counts and total stars."""
    _groups(Kind.GRID, by, json_output, data_dir, invocation(ctx).deps)


@commands.command(
    epilog="Example: pkgharvest categories --json",
)
def categories(
    ctx: typer.Context,
    by: GroupOrderOption = GroupOrder.NAME,
    json_output: JsonOption = False,
    data_dir: DataDirOption = None,
) -> None:
    """List the categories with their package counts and total stars."""
    _groups(Kind.CATEGORY, by, json_output, data_dir, invocation(ctx).deps)


@commands.command(
    epilog=(
        "Examples: pkgharvest export --output packages.csv --bom (for Excel);  "
        "pkgharvest export --format jsonl --grid rest-frameworks | jq .stars"
    ),
)
def export(
    ctx: typer.Context,
    export_format: Annotated[
        ExportFormat,
        typer.Option("--format", click_type=OneOf(ExportFormat), help="csv, jsonl or json."),
    ] = ExportFormat.CSV,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            click_type=OutputFile(),
            help="Write to FILE (replaced only once the export is complete) instead of stdout.",
            metavar="FILE",
        ),
    ] = None,
    grid: GridOption = None,
    category: CategoryOption = None,
    match: MatchOption = None,
    fields: Annotated[
        str | None,
        typer.Option(
            "--fields",
            metavar="A,B,C",
            help=(
                "Columns, in order: record fields, w01..w52, or 'weeks' for all 52 "
                "[default: CSV a fixed set ending in w01..w52; JSON every record field]."
            ),
        ),
    ] = None,
    bom: Annotated[
        bool,
        typer.Option("--bom", help="CSV: start with a UTF-8 byte order mark, as Excel needs."),
    ] = False,
    date_format: Annotated[
        DateFormat,
        typer.Option(
            "--date-format",
            click_type=OneOf(DateFormat),
            help=(
                "CSV timestamps, in UTC: 'spreadsheet' 2026-02-02 00:18:21 (read as dates by "
                "LibreOffice and Excel) or 'iso' 2026-02-02T00:18:21.737467Z as stored."
            ),
        ),
    ] = DateFormat.SPREADSHEET,
    history: Annotated[
        bool,
        typer.Option(
            "--history",
            help=(
                "Export the observations instead, one row each (slug, observed_at, stars, "
                "forks, commits_52w_total, pypi_version, last_commit), from the catalogue "
                "database."
            ),
        ),
    ] = False,
    since: Annotated[
        Since | None,
        typer.Option(
            "--since",
            click_type=SinceType(),
            metavar="7d|DATE",
            help="With --history: from then on.",
        ),
    ] = None,
    data_dir: DataDirOption = None,
) -> None:
    """Export packages as CSV (default), JSON Lines or JSON, sorted by slug.

    CSV: RFC 4180, UTF-8, one row per package; weekly commits in columns w01 (oldest) to w52;
    lists joined by ';'; a formula trigger (= + - @ tab CR) at the start of a cell, or after a
    , ; TAB quote or line break inside it, gets a ' so that no spreadsheet runs it as a formula,
    whatever separator it picks.
    """
    from pkgharvest.errors import UsageError
    from pkgharvest.formats.fields import parse_fields
    from pkgharvest.formats.writers import exporter_for

    if bom and export_format is not ExportFormat.CSV:
        raise UsageError("--bom applies to CSV only")
    if date_format is not DateFormat.SPREADSHEET and export_format is not ExportFormat.CSV:
        raise UsageError("--date-format applies to CSV only (JSON keeps the stored ISO text)")
    chosen = parse_fields(fields) if fields is not None else None
    reader = open_reader(data_dir, invocation(ctx).deps, history=history)
    to_file = output is not None and str(output) != "-"
    clean = None
    if not to_file and sys.stdout.isatty():
        # Shown on a terminal, API text must not drive it (the tables' rule); files and pipes
        # get the exact text.
        from pkgharvest.views.text import sanitize

        clean = sanitize
    if history:  # the observations in long form, from the catalogue database
        from pkgharvest.cli.history import history_writer

        write_history = history_writer(
            reader,
            since,
            export_format.value,
            bom=bom,
            clean=clean,
            date_format=date_format.value,
        )
        if output is not None and str(output) != "-":
            from pkgharvest.formats.atomic import write_atomically

            write_atomically(output, spooled(write_history))
        else:
            write_stdout(spooled(write_history))
        return
    scope: dict[str, Any] = {
        "grid": reader.find(Kind.GRID, grid) if grid is not None else None,
        "category": reader.find(Kind.CATEGORY, category) if category is not None else None,
        "match": match,
    }
    exporter = exporter_for(export_format, chosen, bom=bom, clean=clean, date_format=date_format)

    def write(out: TextIO) -> None:
        exporter.write(reader.export_records(**scope), out)

    if output is not None and to_file:
        from pkgharvest.formats.atomic import write_atomically

        write_atomically(output, spooled(write))
    else:
        write_stdout(spooled(write))
