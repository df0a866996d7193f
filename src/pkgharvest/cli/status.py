"""Commands for the operator: `status` (freshness, monitoring) and `verify` (integrity).

Both are offline and read-only. The facts come from pkgharvest.status and pkgharvest.verify
(pure core); this module only prints them. Plain text rather than rich: the output is read by
people and by scripts alike, and must look the same in a cron mail as on a terminal.
"""

from __future__ import annotations

import json
import re
import sys
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from pkgharvest.cli.common import invocation, write_fitted
from pkgharvest.cli.options import DataDirOption, JsonOption
from pkgharvest.cli.params import Duration

if TYPE_CHECKING:
    from pkgharvest.errors import NoMirror
    from pkgharvest.status import MirrorStatus, RunFacts


def _size_text(size: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} bytes"


def _counts_text(counts: dict[str, dict[str, int]]) -> str:
    parts = []
    for kind, values in counts.items():
        shown = ", ".join(f"{n:,} {name}" for name, n in values.items() if n or name == "seen")
        parts.append(f"{kind} {shown}")
    return "; ".join(parts)


_LABEL = 16
"""The label column's width: values start here, and their continuation lines too (the longest
label, "last full fetch", and a space)."""


def _line(label: str, value: str, width: int) -> list[str]:
    """`label` and `value` in lines of at most `width` characters: the value is broken after
    its ", " and "; " separators (between words in a piece longer than a line), and continued
    under itself. A word longer than a line, a long path say, is not broken."""
    lines = [f"{label:<{_LABEL}}"]
    pieces: list[str] = []
    for piece in re.split(r"(?<=[,;]) ", value):
        pieces += piece.split(" ") if _LABEL + len(piece) > width else [piece]
    for piece in pieces:
        start = len(lines[-1]) == _LABEL
        if not start and len(lines[-1]) + 1 + len(piece) > width:
            lines.append(" " * _LABEL)
            start = True
        lines[-1] += piece if start else " " + piece
    return lines


def _run_lines(
    label: str, run: RunFacts | None, now: datetime, width: int, *, counts: bool = True
) -> list[str]:
    from pkgharvest.views.charts import relative_date
    from pkgharvest.views.text import display

    if run is None or run.finished is None:
        return [f"{label:<{_LABEL}}never"]
    facts = [f"{run.finished:%Y-%m-%d %H:%M:%S} UTC ({relative_date(run.finished, now)})"]
    if run.exit_code is not None:
        facts.append(f"exit {run.exit_code}")
    if run.complete is not None:
        if run.complete:
            facts.append("complete")
        else:
            facts.append("partial" if run.exit_code == 3 else "failed")
    if run.scope:
        facts.append(run.scope)
    if run.seconds is not None:
        facts.append(f"{run.seconds:.1f} s")
    if run.requests is not None:
        facts.append(f"{run.requests:,} requests")
    lines = _line(label, ", ".join(facts), width)
    if run.error and counts:  # why it failed, in place of the counts of what it did
        lines += _line("", display(run.error), width)
    elif run.counts and counts:
        lines += _line("", _counts_text(run.counts), width)
    return lines


def status_text(status: MirrorStatus, width: int = 80) -> str:
    """The status as aligned `label  value` lines of at most `width` characters (API text
    sanitized for the terminal)."""
    from pkgharvest.views.text import display

    records = ", ".join(f"{n:,} {kind}" for kind, n in status.records.items())
    differs = status.manifest_records and status.manifest_records != status.records
    if differs:
        records += " (the manifest says " + ", ".join(
            f"{n:,} {kind}" for kind, n in status.manifest_records.items()
        )
        records += ": run `pkgharvest verify`)"
    lock = (
        f"held by pid {status.lock.pid if status.lock.pid is not None else 'unknown'} "
        "(a fetch is running)"
        if status.lock.held
        else "free (no fetch running)"
    )
    lines = [
        *_line("data folder", display(str(status.data_dir)), width),
        *_line("source", display(status.source), width),
        *_run_lines("last run", status.last_run, status.now, width),
        *_run_lines("last complete", status.last_complete_run, status.now, width, counts=False),
        *_run_lines(
            "last full fetch",
            status.last_complete_catalogue_run,
            status.now,
            width,
            counts=False,
        ),
        *_line("records", records, width),
        *_line("size on disk", f"{_size_text(status.size_bytes)} ({status.files:,} files)", width),
        *_line("lock", lock, width),
        *_line("catalogue", display(status.catalogue[1]), width),
    ]
    if status.unfinished_commit:
        from pkgharvest.store.journal import refusal

        refused = refusal(status.data_dir)
        lines += _line(
            "commit",
            "unfinished: a run was cut short while moving its records into place;"
            " the next command finishes it"
            if refused is None
            else f"refused by every command (exit 65): {display(refused)}",
            width,
        )
    return "\n".join(lines) + "\n"


commands = typer.Typer()


@commands.command(
    epilog=(
        "Examples: pkgharvest status --max-age 36h (a monitoring check: exit 6 when stale);  "
        "pkgharvest status --prometheus > pkgharvest.prom.tmp && mv pkgharvest.prom.tmp "
        "pkgharvest.prom (node_exporter's textfile folder)"
    ),
)
def status(
    ctx: typer.Context,
    max_age: Annotated[
        float | None,
        typer.Option(
            "--max-age",
            click_type=Duration(),
            metavar="AGE",
            help=(
                "Exit 6 when the last complete catalogue fetch finished longer ago than AGE "
                "(36h, 2d, 90m), or never did."
            ),
        ),
    ] = None,
    prometheus: Annotated[
        bool,
        typer.Option(
            "--prometheus",
            help="Print Prometheus text format (for node_exporter's textfile collector).",
        ),
    ] = False,
    json_output: JsonOption = False,
    data_dir: DataDirOption = None,
) -> None:
    """The mirror's data folder, source, last runs, record counts, size, and whether a fetch
    is running."""
    from pkgharvest.config import default_data_dir
    from pkgharvest.errors import MirrorStale, NoMirror, UsageError
    from pkgharvest.status import (
        collect_status,
        duration_text,
        no_mirror_status,
        prometheus_text,
    )

    if prometheus and json_output:
        raise UsageError("--prometheus and --json cannot be used together")
    limit = max_age
    root = data_dir or default_data_dir()
    now = invocation(ctx).deps.now()
    missing: NoMirror | None = None
    try:
        facts = collect_status(root, now=now)
    except NoMirror as err:
        if not (prometheus or json_output):
            _no_mirror(err, limit)
        # A monitor still gets its document (no run, no record), then the exit code.
        missing, facts = err, no_mirror_status(root, now=now)
    if prometheus:
        sys.stdout.write(prometheus_text(facts))
    elif json_output:
        data = facts.as_dict()
        if limit is not None:
            data["max_age_seconds"] = limit
            data["stale"] = facts.is_stale(limit)
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
    else:
        import shutil

        # The terminal's width, as the tables take it ($COLUMNS first; 80 when piped).
        sys.stdout.write(status_text(facts, shutil.get_terminal_size((80, 24)).columns))
    if missing is not None:
        sys.stdout.flush()
        _no_mirror(missing, limit)
    if limit is not None and facts.is_stale(limit):
        complete = facts.last_complete_catalogue_run
        if complete is None or complete.finished is None:
            raise MirrorStale(f"no complete catalogue fetch has finished in {facts.data_dir}")
        raise MirrorStale(
            f"the last complete catalogue fetch finished "
            f"{complete.finished:%Y-%m-%d %H:%M:%S} UTC, more than --max-age "
            f"{duration_text(limit)} ago"
        )


def _no_mirror(err: NoMirror, limit: float | None) -> NoReturn:
    """No mirror in the folder: exit 66, or under --max-age 6 (a monitoring check keyed on 6
    must see a machine that never fetched, too)."""
    from pkgharvest.errors import MirrorStale

    if limit is None:
        raise err
    raise MirrorStale(f"{err} (so no complete fetch has finished there)") from None


@commands.command(epilog="Example: pkgharvest verify --data-dir /srv/djp-mirror")
def verify(
    json_output: JsonOption = False,
    data_dir: DataDirOption = None,
) -> None:
    """Check the data folder: every record parses and is in its right file, the manifest's
    counts match, no reference dangles, no leftovers of a dead run. Exit 65 on problems."""
    from pkgharvest.config import default_data_dir
    from pkgharvest.errors import VerifyFailed
    from pkgharvest.verify import SHOWN_PROBLEMS
    from pkgharvest.verify import verify as run_verify
    from pkgharvest.views.text import sanitize

    report = run_verify(data_dir or default_data_dir())
    if json_output:
        sys.stdout.write(json.dumps(report.as_dict(), indent=2) + "\n")
    else:
        # Paths and slugs come from the disk and the API: sanitized before the terminal.
        for problem in report.problems[:SHOWN_PROBLEMS]:
            sys.stdout.write(sanitize(problem.line()) + "\n")
        hidden = len(report.problems) - SHOWN_PROBLEMS
        if hidden > 0:
            sys.stdout.write(f"... and {hidden:,} more problems (see --json for all)\n")
        for note in report.notes:
            write_fitted(f"note: {note}")
        if report.ok:
            held = ", ".join(f"{n:,} {kind}" for kind, n in report.records.items())
            write_fitted(f"verify: ok: {held}; checked {', '.join(report.checks)}")
    if not report.ok:
        noun = "problem" if len(report.problems) == 1 else "problems"
        raise VerifyFailed(f"verify found {len(report.problems):,} {noun} in {report.root}")
