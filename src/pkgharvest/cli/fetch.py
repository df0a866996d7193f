"""`pkgharvest fetch`: mirror the catalogue (or some packages or grids) into the data folder."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer

# typer 0.28 vendors click as typer._click (pyproject caps typer below 0.29).
from typer._click.core import Parameter
from typer._click.exceptions import BadParameter
from typer._click.types import ParamType

from pkgharvest.cli.common import invocation, write_fitted
from pkgharvest.cli.options import DataDirOption, JsonOption, QuietOption
from pkgharvest.cli.params import Number, WholeNumber, shown
from pkgharvest.config import (
    DEFAULT_BASE_URL,
    DEFAULT_PAGE_SIZE,
    ENV_BASE_URL,
    MAX_CONCURRENCY,
    MAX_PAGE_SIZE,
    default_data_dir,
)
from pkgharvest.errors import ExitCode, PkgHarvestError, TargetsNotFound
from pkgharvest.events import Event, EventSink, Notice
from pkgharvest.records import Kind, iso_utc
from pkgharvest.runtime import DEFAULT_RUN_TIMEOUT, MAX_RUN_TIMEOUT, Dependencies, RequestLimits
from pkgharvest.store.signals import stop_on_signals

if TYPE_CHECKING:
    from pkgharvest.cli.bar import BarSink
    from pkgharvest.fetch.run import FetchOptions, FetchReport

FETCH_HELP = f"""Mirror the Django Packages catalogue into the data folder.

With no TARGET: the whole catalogue (every package, grid and category). With TARGETs (package
slugs or ids): those packages, their category and their grids. --grid SLUG: that grid and all of
its packages. Records are written as one JSON file each; unchanged records are not rewritten; a
record gone from the API is removed only after a complete crawl proves it gone. A failed run
leaves the mirror exactly as it was.

Examples:

  pkgharvest fetch

  pkgharvest fetch django-star-ratings --grid rest-frameworks

  pkgharvest fetch --quiet --data-dir /srv/mirror   (cron)

Default base URL: {DEFAULT_BASE_URL} (env {ENV_BASE_URL}).

Exit codes: see `pkgharvest --help`.
"""


class BaseUrl(ParamType):
    """An API's base URL: http:// or https://, with a host (api/links.py says what is wrong)."""

    name = "URL"

    def get_metavar(self, param: Parameter, ctx: Any) -> str:
        return "URL"

    def convert(self, value: Any, param: Parameter | None, ctx: Any) -> str:
        from pkgharvest.config import base_url_problem

        problem = base_url_problem(str(value))
        if problem is not None:
            raise BadParameter(f"{shown(value)} {problem}", ctx, param)
        return str(value)


commands = typer.Typer()


@commands.command(help=FETCH_HELP)
def fetch(
    ctx: typer.Context,
    targets: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="[TARGET]...",
            help="Package slugs or ids to fetch (default: everything).",
            show_default=False,
        ),
    ] = None,
    grid: Annotated[
        list[str] | None,
        typer.Option(
            "--grid",
            metavar="SLUG",
            help="A grid slug or id to fetch with all its packages (repeatable).",
            show_default=False,
        ),
    ] = None,
    base_url: Annotated[
        str | None,
        typer.Option(
            "--base-url",
            envvar=ENV_BASE_URL,
            click_type=BaseUrl(),
            show_default=False,
            help=f"The API to read [default: {DEFAULT_BASE_URL}].",
        ),
    ] = None,
    data_dir: DataDirOption = None,
    concurrency: Annotated[
        int,
        typer.Option(
            "--concurrency",
            click_type=WholeNumber(1, MAX_CONCURRENCY),
            help="Most requests in flight at once.",
        ),
    ] = 4,
    page_size: Annotated[
        int,
        typer.Option(
            "--page-size",
            click_type=WholeNumber(1, MAX_PAGE_SIZE),
            help="Records per list page.",
        ),
    ] = DEFAULT_PAGE_SIZE,
    fsync: Annotated[
        bool, typer.Option("--fsync", help="fsync every record file (slower, safer on power loss).")
    ] = False,
    switch_source: Annotated[
        bool,
        typer.Option(
            "--switch-source",
            help="The mirror was fetched from another base URL: replace it with this one's "
            "catalogue (without this, such a fetch is refused, exit 2).",
        ),
    ] = False,
    timeout: Annotated[
        float,
        typer.Option(
            "--timeout",
            click_type=Number(0, MAX_RUN_TIMEOUT),
            metavar="SECONDS",
            help=(
                "The most the run may take, waits for a slow or throttling server included; "
                "past it the run ends with exit 75 and the mirror unchanged. 0: no limit. "
                f"Each request also has its own {RequestLimits().deadline:g} s deadline."
            ),
        ),
    ] = DEFAULT_RUN_TIMEOUT,
    quiet: QuietOption = False,
    json_output: JsonOption = False,
) -> None:
    from pkgharvest.cli.progress import LineSink, QuietSink
    from pkgharvest.fetch.memory import pin_mmap_threshold
    from pkgharvest.fetch.run import FetchOptions  # httpx: not for the reading commands
    from pkgharvest.fetch.run import fetch as run_fetch

    deps = invocation(ctx).deps
    pin_mmap_threshold()  # this process is ours: keep a long crawl's RSS flat (see memory.py)
    options = FetchOptions(
        base_url=base_url or DEFAULT_BASE_URL,
        data_dir=data_dir or default_data_dir(),
        targets=tuple(t for t in targets or ()),
        grids=tuple(grid or ()),
        concurrency=concurrency,
        page_size=page_size,
        fsync=fsync,
        timeout=timeout or None,
        switch_source=switch_source,
    )
    sink: BarSink | LineSink | QuietSink  # rich only on a terminal
    if quiet or json_output:
        sink = QuietSink()
    elif sys.stderr.isatty():
        from rich.console import Console

        from pkgharvest.cli.bar import BarSink

        sink = BarSink(Console(stderr=True))
    else:
        sink = LineSink()
    started, started_clock = deps.now(), deps.clock()
    try:
        with sink, stop_on_signals():  # SIGTERM, SIGHUP like Ctrl-C; held during the commit
            report = run_fetch(options, deps.with_events(_targets_said_at_the_end(sink)))
    except (PkgHarvestError, KeyboardInterrupt) as err:
        if json_output:  # a script always gets a document, a failed run's too
            write_json(_failure_document(options, err, deps, started, started_clock))
        raise
    missing = _not_found_lines(options, report, deps)
    if report.exit_code == ExitCode.NOT_FOUND:
        # Nothing asked for exists: one error line, not a summary of a run that did nothing.
        error = TargetsNotFound("not found: " + "; ".join(missing))
        if json_output:
            write_json({**report.as_dict(), "changes": None, "error": str(error)})
        raise error
    changes = report.changes
    # What cron must see even under --quiet: the database was repaired (its history is in
    # catalogue.db.corrupt), or not updated (the mirror is committed all the same).
    if report.catalogue_notice:
        _say(report.catalogue_notice)
    if report.catalogue_problem:
        _warn(report.catalogue_problem)
    if json_output:
        data = report.as_dict()
        data["changes"] = changes.as_dict() if changes is not None else None
        data["catalogue_problem"] = report.catalogue_problem
        data["catalogue_notice"] = report.catalogue_notice
        data["error"] = None
        write_json(data)
    elif not quiet:
        for line in missing:
            sys.stderr.write(f"pkgharvest: warning: {line}\n")
        write_fitted(report.summary_line())
        if changes is not None and not changes.baseline:  # a baseline has nothing to compare
            from pkgharvest.views.text import sanitize  # the digest names slugs from the API

            write_fitted(f"changes: {sanitize(changes.digest())}")
    elif report.exit_code and report.exit_code != ExitCode.CATALOGUE_BEHIND:
        sys.stderr.write(f"pkgharvest: {report.summary_line()}\n")
    if report.exit_code:
        raise typer.Exit(int(report.exit_code))


def write_json(document: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(document, indent=2) + "\n")


def _failure_document(
    options: FetchOptions,
    err: BaseException,
    deps: Dependencies,
    started: datetime,
    started_clock: float,
) -> dict[str, Any]:
    """The --json document of a run that could not finish."""
    # A PkgHarvestError, or an Interrupted (SIGINT/SIGTERM/SIGHUP: 130/143/129), or Ctrl-C.
    return failure_document(
        int(getattr(err, "exit_code", ExitCode.INTERRUPTED)),
        str(err) or "interrupted; the mirror is unchanged",
        scope=options.scope,
        source=options.base_url,
        started=iso_utc(started),
        finished=iso_utc(deps.now()),
        seconds=round(deps.clock() - started_clock, 3),
    )


def failure_document(
    exit_code: int,
    error: str,
    *,
    scope: str | None = None,
    source: str | None = None,
    started: str | None = None,
    finished: str | None = None,
    seconds: float | None = None,
) -> dict[str, Any]:
    """A `fetch --json` document for a run that failed (or never started: a usage error): the
    report's keys, the exit code and the error; what was not established is null."""
    return {
        "scope": scope,
        "source": source,
        "complete": False,
        "exit_code": exit_code,
        "error": error,
        "counts": None,
        "requests": None,
        "retries": None,
        "bytes_received": None,
        "started": started,
        "finished": finished,
        "seconds": seconds,
        "notices": [],
        "removal_withheld": None,
        "not_found": [],
        "catalogue_problem": None,
        "catalogue_notice": None,
        "changes": None,
    }


def _targets_said_at_the_end(sink: EventSink) -> EventSink:
    """`sink` without the "no package 'x' in the API" notices: those are said once, at the
    end, with suggestions (and as the error itself when nothing asked for exists)."""

    def forward(event: Event) -> None:
        if not (isinstance(event, Notice) and event.topic == "not found"):
            sink(event)

    return forward


def _not_found_lines(options: FetchOptions, report: FetchReport, deps: Dependencies) -> list[str]:
    """One line per target the API does not have, with close slugs from the mirror and the
    API's search: "no package 'django-serch' in the API, did you mean 'django-search'?"."""
    from pkgharvest.fetch.suggest import close_slugs

    lines = []
    for kind, key in report.not_found:
        close = close_slugs(
            kind,
            key,
            base_url=options.base_url,
            data_dir=options.data_dir,
            deps=deps,
        )
        hint = f", did you mean {', '.join(map(repr, close))}?" if close else ""
        lines.append(f"no {Kind(kind).singular} {key!r} in the API{hint}")
    return lines


def _warn(message: str) -> None:
    from pkgharvest.views.text import visible  # file names from the data folder

    sys.stderr.write(f"pkgharvest: warning: {visible(message)}\n")


def _say(message: str) -> None:
    from pkgharvest.views.text import visible  # file names from the data folder

    sys.stderr.write(f"pkgharvest: {visible(message)}\n")
