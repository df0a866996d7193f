"""History commands: `trends` and `changes`, answered from the catalogue database. Offline."""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TextIO

import typer

from pkgharvest.cli.common import invocation, open_reader, print_json
from pkgharvest.cli.options import CategoryOption, DataDirOption, GridOption, JsonOption
from pkgharvest.cli.params import LAST_RUN, MAX_ROWS, OneOf, Since, SinceType, WholeNumber
from pkgharvest.records import Kind, Record

if TYPE_CHECKING:
    from pkgharvest.catalogue.reader import Reader
    from pkgharvest.runtime import Dependencies


class TrendKey(StrEnum):
    STARS = "stars"
    FORKS = "forks"


def _database(data_dir: Path | None, deps: Dependencies) -> Reader:
    """The mirror, with the history of its catalogue database (the reason there is none, in
    one line and its exit code, when there is none this command can read)."""
    return open_reader(data_dir, deps, history=True)


commands = typer.Typer()


@commands.command(
    epilog="Example: pkgharvest trends --since 30d --grid rest-frameworks --limit 10",
)
def trends(
    ctx: typer.Context,
    since: Annotated[
        Since,
        typer.Option(
            "--since",
            click_type=SinceType(),
            metavar="7d|30d|90d|DATE",
            help="Start of the window.",
        ),
    ] = "30d",  # type: ignore[assignment]  # the type converts the default too
    by: Annotated[
        TrendKey,
        typer.Option("--by", click_type=OneOf(TrendKey), help="Rank by stars or forks gained."),
    ] = TrendKey.STARS,
    grid: GridOption = None,
    category: CategoryOption = None,
    limit: Annotated[
        int,
        typer.Option(
            "--limit", click_type=WholeNumber(0, MAX_ROWS), help="Show this many rows; 0 shows all."
        ),
    ] = 20,
    json_output: JsonOption = False,
    data_dir: DataDirOption = None,
) -> None:
    """Packages ranked by the stars (or forks) they gained in a window, from the history."""
    reader = _database(data_dir, invocation(ctx).deps)
    show_trends(
        reader,
        since,
        by.value,
        now=invocation(ctx).deps.now(),
        grid=reader.find(Kind.GRID, grid) if grid is not None else None,
        category=reader.find(Kind.CATEGORY, category) if category is not None else None,
        limit=limit,
        json_output=json_output,
    )


def show_trends(
    reader: Any,
    since: Since,
    by: str,
    *,
    now: datetime,
    grid: Record | None,
    category: Record | None,
    limit: int,
    json_output: bool,
) -> None:
    """`trends`, and `top --by stars-gained`: the ranking and its table (or --json rows)."""
    from pkgharvest.catalogue import reports

    reader.require_history()
    start = since.start
    assert start is not None  # only `changes` takes last-run
    rows = reader.history_call(
        reports.trends, start, by=by, limit=limit, grid=grid, category=category
    )
    if json_output:
        print_json([row.as_dict() for row in rows])
        return

    from pkgharvest.views.columns import legend_text
    from pkgharvest.views.console import make_console
    from pkgharvest.views.history import trends_table

    console = make_console()
    if not rows:
        day = f"{start:%Y-%m-%d}"
        shown = day if since.text.strip() == day else f"{day} ({since.text.strip()})"
        console.print(legend_text(_no_trends(reader, by, shown), console.width, style=""))
        return
    from pkgharvest.activity import is_dormant
    from pkgharvest.catalogue.queries import dormancy_fields

    fields = dormancy_fields(reader.conn, [row.slug for row in rows])
    dormant = [row.slug in fields and is_dormant(fields[row.slug], now) for row in rows]
    table = trends_table(rows, by=by, width=console.width, dormant=dormant)
    # soft_wrap: the lines are fitted already; slugs and numbers are never cut.
    console.print(table.table, soft_wrap=True)
    caption = (
        f"{len(rows):,} packages by {by} gained since {start:%Y-%m-%d} (from each package's"
        " last observation before then, or its first after)"
    )
    for line in (*table.legend, caption):
        console.print(legend_text(line, console.width), soft_wrap=True)


def _no_trends(reader: Reader, by: str, since: str) -> str:
    """What an empty `trends` table means on this mirror, in one line (`since`: the window's
    start, as shown)."""
    from pkgharvest.catalogue import reports

    if reader.history_call(reports.has_history):
        return f"No package gained or lost {by} since {since}."
    runs = reader.history_call(reports.run_count)
    if runs < 2:
        return "Trends start with the second run: so far each package was observed once."
    return (
        f"No package has changed since its first observation ({runs:,} runs so far): trends"
        " start once the service re-measures a package (it refreshes each about daily)."
    )


@commands.command(
    epilog="Example: pkgharvest changes --since 7d",
)
def changes(
    ctx: typer.Context,
    since: Annotated[
        Since,
        typer.Option(
            "--since",
            click_type=SinceType(last_run=True),
            metavar="last-run|7d|DATE",
            help=(
                "The last run's changes (default: the state before it against the state "
                "after), or the state at that moment against the state now."
            ),
        ),
    ] = LAST_RUN,  # type: ignore[assignment]  # the type converts the default too
    json_output: JsonOption = False,
    data_dir: DataDirOption = None,
) -> None:
    """What changed in the catalogue: new, removed and renamed packages, grids and categories;
    releases, star gains and losses, packages gone dormant or back."""
    from pkgharvest.catalogue import reports

    start = since.start  # None: the last run against the one before
    deps = invocation(ctx).deps
    reader = _database(data_dir, deps)
    report = reader.history_call(reports.change_report, start)
    if json_output:
        print_json(report.as_dict())
        return
    from pkgharvest.views.console import make_console
    from pkgharvest.views.history import changes_view

    hint = None
    if start is None:
        hint = "`pkgharvest changes --since 7d` shows what the runs of the last week changed."
    console = make_console()
    view = changes_view(
        report, hint=hint, width=console.width, dormant=_dormant(reader, deps.now())
    )
    console.print(view)
    sys.stdout.flush()


def _dormant(reader: Reader, now: datetime) -> Callable[[str], bool]:
    """Whether the package with a slug is dormant now (marked as in the tables), read only for
    the packages the view shows (a report may list thousands of star moves)."""
    from pkgharvest.activity import is_dormant
    from pkgharvest.catalogue.queries import dormancy_fields

    def dormant(slug: str) -> bool:
        record = dormancy_fields(reader.conn, [slug]).get(slug)
        return record is not None and is_dormant(record, now)

    return dormant


def history_writer(
    reader: Any,
    since: Since | None,
    export_format: str,
    *,
    bom: bool,
    clean: Callable[[str], str] | None = None,
    date_format: str = "spreadsheet",
) -> Callable[[TextIO], None]:
    """`export --history`: a function writing every observation (since `since`) as CSV, JSON
    Lines or a JSON array, by slug then date: CSV as the package export (timestamps as
    `date_format` says, the formula guard, and `clean` first: the terminal's sanitizer, when
    the CSV is shown on one)."""
    from pkgharvest.catalogue import reports
    from pkgharvest.formats import DateFormat, ExportFormat
    from pkgharvest.formats.writers import history_null, write_history, write_history_blocks

    reader.require_history()
    start = since.start if since is not None else None
    chosen = ExportFormat(export_format)
    dates = DateFormat(date_format)

    def write(out: TextIO) -> None:
        if chosen is not ExportFormat.CSV or clean is None:  # JSON never takes `clean`
            # A package at a time, its numbers written by SQLite (a year of history is
            # ~150,000 rows a month of 6,000 packages): the same bytes as row by row.
            null = history_null(chosen)
            blocks = reader.history_stream(reports.observation_blocks, start, null)
            write_history_blocks(blocks, chosen, out, bom=bom, date_format=dates)
            return
        rows = reader.history_stream(reports.observation_rows, start)
        write_history(rows, chosen, out, bom=bom, clean=clean, date_format=dates)

    return write
