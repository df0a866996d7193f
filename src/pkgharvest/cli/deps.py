"""`pkgharvest deps`: a project's dependencies against the catalogue. Thin: the project wing
reads the files and holds the rules, catalogue/dependencies.py builds the report, views/ and
formats/ show it. PyPI (`--django`) is asked through api/pypi.py, imported only when an answer
is missing or stale: offline, or answered from the catalogue database, no HTTP code loads.
"""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from pkgharvest.cli.common import invocation, open_reader, print_json, write_stdout
from pkgharvest.cli.options import DataDirOption, JsonOption
from pkgharvest.cli.params import IndexUrl, Number, OneOf, WholeNumber
from pkgharvest.config import DEFAULT_PYPI_URL, ENV_PYPI_URL
from pkgharvest.errors import DependencyCheckFailed, UsageError

if TYPE_CHECKING:
    from sqlite3 import Connection

    from pkgharvest.catalogue.pypi_cache import PypiCache
    from pkgharvest.project.answers import Remote
    from pkgharvest.project.model import Project
    from pkgharvest.project.readiness import Target
    from pkgharvest.project.report import Report
    from pkgharvest.runtime import Dependencies


class DepsFormat(StrEnum):
    """How `deps` prints its report (`--json` aside)."""

    TABLE = "table"
    MARKDOWN = "markdown"
    CSV = "csv"


def _fail_on(text: str | None, django: str | None) -> frozenset[str]:
    from pkgharvest.project.report import FAIL_ON_CHOICES

    if text is None:
        return frozenset()
    wanted = [item.strip().lower() for item in text.split(",") if item.strip()]
    if not wanted:
        raise UsageError(f"--fail-on names nothing (choose from {', '.join(FAIL_ON_CHOICES)})")
    for item in wanted:
        if item not in FAIL_ON_CHOICES:
            import difflib

            close = difflib.get_close_matches(item, FAIL_ON_CHOICES, n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise UsageError(
                f"--fail-on: {item!r} is not one of {', '.join(FAIL_ON_CHOICES)}{hint}"
            )
        if item in ("blocked", "not-declared") and django is None:
            raise UsageError(f"--fail-on {item} needs --django VERSION")
    return frozenset(wanted)


commands = typer.Typer()


@commands.command(
    epilog=(
        "Examples: pkgharvest deps;  pkgharvest deps requirements.txt --all;  "
        "pkgharvest deps --django 5.2 --fail-on dormant,blocked --format markdown"
    ),
)
def deps(
    ctx: typer.Context,
    paths: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="[FILE]...",
            help=(
                "Dependency files (requirements*.txt, *.in, pyproject.toml, uv.lock, "
                "poetry.lock, Pipfile, Pipfile.lock) or folders holding them "
                "[default: those in the current folder]."
            ),
            show_default=False,
        ),
    ] = None,
    show_all: Annotated[
        bool,
        typer.Option(
            "--all",
            help="Also the lock files' transitive dependencies, and list the ones not in the "
            "catalogue.",
        ),
    ] = False,
    django: Annotated[
        str | None,
        typer.Option(
            "--django",
            metavar="VERSION",
            help="Upgrade readiness for this Django (5.2): asks PyPI, keeps the answers.",
        ),
    ] = None,
    fail_on: Annotated[
        str | None,
        typer.Option(
            "--fail-on",
            metavar="WHAT[,WHAT]",
            help="Exit 8 when a dependency is dormant, behind, blocked or not-declared "
            "(the last two need --django).",
        ),
    ] = None,
    json_output: JsonOption = False,
    output_format: Annotated[
        DepsFormat,
        typer.Option(
            "--format",
            click_type=OneOf(DepsFormat),
            help="table (default), markdown (a CI summary or pull-request comment) or csv.",
        ),
    ] = DepsFormat.TABLE,
    pypi_url: Annotated[
        str,
        typer.Option(
            "--pypi-url",
            envvar=ENV_PYPI_URL,
            click_type=IndexUrl(),
            help="PyPI's JSON API, or a mirror or proxy serving it (devpi, Artifactory, Nexus).",
        ),
    ] = DEFAULT_PYPI_URL,
    offline: Annotated[
        bool,
        typer.Option("--offline", help="Ask PyPI nothing: answer from what is kept, however old."),
    ] = False,
    concurrency: Annotated[
        int,
        typer.Option(
            "--concurrency", click_type=WholeNumber(1, 16), help="PyPI requests in flight at most."
        ),
    ] = 4,
    timeout: Annotated[
        float,
        typer.Option(
            "--timeout",
            click_type=Number(1, 86_400),
            metavar="SECONDS",
            help="The most asking PyPI may take; what is not answered by then is unknown.",
        ),
    ] = 300.0,
    data_dir: DataDirOption = None,
) -> None:
    """Your project's dependencies against the catalogue: dormant, behind or active, the
    alternatives in their grids, and (--django) whether each is ready for the next Django."""
    from pkgharvest.project import read_project

    if json_output and output_format is not DepsFormat.TABLE:
        raise UsageError("--json and --format are one or the other")
    checks = _fail_on(fail_on, django)
    target = None
    if django is not None:
        from pkgharvest.project.readiness import Target

        try:
            target = Target.parse(django)
        except ValueError as err:
            raise UsageError(f"--django: {err}") from None
    source = ctx.get_parameter_source("pypi_url")
    url_name = ENV_PYPI_URL if source is not None and source.name == "ENVIRONMENT" else "--pypi-url"
    index_url = pypi_url if pypi_url.endswith("/") else pypi_url + "/"
    run = invocation(ctx).deps
    files = [Path(path) for path in paths or []]
    project = read_project(files, Path.cwd(), include_transitive=show_all)
    report, kept_notice = _report(
        run, project, data_dir, target, index_url, url_name, offline, concurrency, timeout
    )
    if kept_notice:
        sys.stderr.write(f"pkgharvest: {kept_notice}\n")
    _print(report, run, json_output, output_format, show_all)
    failing = report.failing(checks)
    if failing:
        from pkgharvest.views.text import display

        names = ", ".join(display(row.dependency.name) for row in failing[:5])
        more = f" and {len(failing) - 5:,} more" if len(failing) > 5 else ""
        raise DependencyCheckFailed(
            f"--fail-on {','.join(sorted(checks))}: {len(failing):,} "
            f"dependenc{'y' if len(failing) == 1 else 'ies'} ({names}{more})"
        )


def _report(
    run: Dependencies,
    project: Project,
    data_dir: Path | None,
    target: Target | None,
    index_url: str,
    url_name: str,
    offline: bool,
    concurrency: int,
    timeout: float,
) -> tuple[Report, str | None]:
    from pkgharvest.catalogue.dependencies import dependency_report
    from pkgharvest.records import iso_utc

    # The catalogue as the mirror has it now (a private copy where the folder's database is
    # behind and cannot be brought up to date here); the star histories and PyPI's answers
    # from the folder's database when there is one to read, as of its last update.
    reader = open_reader(data_dir, run)
    clients: list[object] = []

    def asking() -> Remote:
        from pkgharvest.api.pypi import PypiClient  # httpx: only when PyPI must be asked

        client = PypiClient(
            index_url, run, concurrency=concurrency, run_timeout=timeout, option=url_name
        )
        clients.append(client)
        return client

    now = run.now()
    updated = reader.mirror.last_updated()

    def judged(conn: Connection) -> tuple[Report, PypiCache | None]:
        folder = reader.history_db  # None or the catalogue itself: `conn` holds it all
        kept = conn if folder is None else folder.conn
        cache = answers = None
        if target is not None:  # PyPI's answers: only with --django
            from pkgharvest.catalogue.pypi_cache import PypiCache
            from pkgharvest.project.answers import PypiAnswers

            cache = PypiCache(kept, index_url)
            answers = PypiAnswers(cache, None if offline else asking, now)
        report = dependency_report(
            conn,
            project,
            now,
            target=target,
            answers=answers,
            mirror_updated=iso_utc(updated) if updated else None,
            offline=offline,
            index_url=index_url,
            history=kept,
        )
        return report, cache

    try:
        # Through the reader's edge, as every reading command: a damaged database met here is
        # moved aside and rebuilt, and the report made again from the rebuilt one.
        report, cache = reader.call(judged)
    finally:
        for client in clients:
            close = getattr(client, "close", None)
            if callable(close):
                close()
        reader.close()
    return report, cache.notice if cache is not None else None


def _print(
    report: Report, run: Dependencies, json_output: bool, output_format: DepsFormat, show_all: bool
) -> None:
    if json_output:
        print_json(report.as_dict())
        return
    from pkgharvest.formats import deps as written
    from pkgharvest.views.text import sanitize

    if output_format is DepsFormat.MARKDOWN:
        write_stdout(
            lambda out: written.write_markdown(report, out, clean=sanitize, show_all=show_all)
        )
        return
    if output_format is DepsFormat.CSV:
        # On a terminal, text must not drive it (the export's rule); files and pipes get it
        # exact, with the formula guard either way.
        clean = sanitize if sys.stdout.isatty() else str
        write_stdout(lambda out: written.write_csv(report, out, clean=clean))
        return
    from pkgharvest.views.console import make_console
    from pkgharvest.views.deps import deps_view

    console = make_console()
    view = deps_view(report, now=run.now(), width=console.width, show_all=show_all)
    for line in view.heading:  # fitted to the width already
        console.print(line, soft_wrap=True)
    for line in view.table:  # fitted to the width already (names are never cut)
        console.print(line, soft_wrap=True)
    for line in view.footer:  # fitted to the width already
        console.print(line, soft_wrap=True)
