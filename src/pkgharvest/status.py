"""`pkgharvest status`: what a data folder holds and how fresh it is, for people and monitors.

Pure core: reads the manifest and the runs the catalogue database recorded (read-only: a run
that failed committed nothing to the manifest, and is recorded only there), counts record
files, sums their size and looks at the lock, without writing anything, taking the lock, or
importing typer or rich. The CLI prints a `MirrorStatus` as text, JSON or the Prometheus text
exposition format (`prometheus_text`).

Three runs: the last run (whatever its outcome), the last complete run (any scope: a targeted
run that got all it asked for counts), and the last complete catalogue run, which is what the
mirror's freshness is (`--max-age`, the reading commands' footers).

Whether a fetch holds the lock is read without trying to take it (store/lock.py,
`lock_facts`).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from pkgharvest.errors import NoMirror
from pkgharvest.records import Kind, iso_utc, parse_timestamp
from pkgharvest.store.journal import JOURNAL_NAME
from pkgharvest.store.lock import PROC_LOCKS as PROC_LOCKS
from pkgharvest.store.lock import LockFacts as LockFacts
from pkgharvest.store.lock import lock_facts as lock_facts
from pkgharvest.store.manifest import (
    MANIFEST_NAME,
    last_complete_catalogue_run,
    parse_manifest,
    read_manifest_bytes,
)
from pkgharvest.store.paths import RECORD_SUFFIX

# --- durations (--max-age) -------------------------------------------------------------------

_DURATION = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([smhdw]?)\s*", re.ASCII | re.IGNORECASE)
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
MAX_DURATION = 100 * 366 * 86400.0
"""The longest `--max-age` (a century: longer means no check at all)."""


def parse_duration(text: str) -> float:
    """`36h` -> 129600.0 seconds. Units s, m, h, d, w (none: seconds). ValueError otherwise,
    saying what is wrong without the value (the caller quotes it)."""
    match = _DURATION.fullmatch(text)
    if match is None or float(match.group(1)) <= 0:
        raise ValueError("is not a duration: a number and a unit s, m, h, d or w (36h, 2d, 90m)")
    if len(match.group(1)) > 20:  # float() of it may be inf; either way it is too long
        raise ValueError("is longer than 100 years")
    seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2).lower()]
    if seconds > MAX_DURATION:
        raise ValueError("is longer than 100 years")
    return seconds


def duration_text(seconds: float) -> str:
    """129600 -> "36h"; 5400 -> "90m"; 3 days -> "3d" (the largest unit that divides evenly)."""
    for unit in ("w", "d", "h", "m"):
        size = _UNIT_SECONDS[unit]
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


# --- the facts -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunFacts:
    """One run as the manifest records it (every field may be missing in an old manifest).

    Attributes:
        started, finished: when it began and ended (aware UTC), or None.
        age_seconds: how long before "now" it finished, or None.
        exit_code: the run's exit code (0 complete, 3 partial, 75 the API failed...), or None.
        complete: whether it got everything it asked for.
        error: why it failed (one line), None when it committed.
        scope: "catalogue" or "targeted".
        seconds: how long it took.
        requests, retries: HTTP requests made, and retried.
        counts: per kind, seen / new / changed / unchanged / removed / failed / missing.
    """

    started: datetime | None
    finished: datetime | None
    age_seconds: float | None
    exit_code: int | None
    complete: bool | None
    scope: str | None
    seconds: float | None
    requests: int | None
    retries: int | None
    counts: dict[str, dict[str, int]]
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "started": _iso(self.started),
            "finished": _iso(self.finished),
            "age_seconds": None if self.age_seconds is None else round(self.age_seconds, 3),
            "exit_code": self.exit_code,
            "complete": self.complete,
            "error": self.error,
            "scope": self.scope,
            "seconds": self.seconds,
            "requests": self.requests,
            "retries": self.retries,
            "counts": self.counts,
        }


@dataclass(frozen=True)
class MirrorStatus:
    """Everything `pkgharvest status` reports.

    Attributes:
        data_dir: the data folder (absolute).
        source: the API the mirror was fetched from (from the manifest: untrusted text).
        format_version, pkgharvest_version: of the manifest and of the run that wrote it (None
            where there is no mirror).
        last_run: the last fetch that took the lock, failed ones included (None: none).
        last_complete_run: the last that got everything it asked for, any scope.
        last_complete_catalogue_run: the last complete catalogue fetch: the mirror's age.
        records: record files on disk, per kind (what readers see now).
        manifest_records: the counts the last run wrote into the manifest.
        size_bytes: disk space the folder uses (allocated blocks, like `du`).
        files: files in the folder.
        lock: whether a fetch is running.
        now: the moment ages are measured from.
        catalogue: the catalogue database's state ("missing", "ok", "behind", "refused",
            "newer", "damaged", "unreadable"; catalogue/audit.py) and that state in one line.
        unfinished_commit: a commit journal is there: a run was cut short while moving its
            records into place (the record counts are then half old, half new); the next
            command finishes it.
    """

    data_dir: Path
    source: str | None
    format_version: int | None
    pkgharvest_version: str | None
    last_run: RunFacts | None
    last_complete_run: RunFacts | None
    last_complete_catalogue_run: RunFacts | None
    records: dict[str, int]
    manifest_records: dict[str, int]
    size_bytes: int
    files: int
    lock: LockFacts
    now: datetime = field(compare=False)
    catalogue: tuple[str, str] = ("missing", "none yet")
    unfinished_commit: bool = False
    mirror: bool = True
    """False where the folder holds no mirror (no manifest: missing, or never fetched into)."""

    def is_stale(self, max_age_seconds: float) -> bool:
        """True when there is no complete catalogue run, or the last one finished longer ago."""
        complete = self.last_complete_catalogue_run
        if complete is None or complete.age_seconds is None:
            return True
        return complete.age_seconds > max_age_seconds

    def as_dict(self) -> dict[str, Any]:
        return {
            "data_dir": str(self.data_dir),
            "mirror": self.mirror,
            "source": self.source,
            "format_version": self.format_version,
            "pkgharvest_version": self.pkgharvest_version,
            "now": _iso(self.now),
            "last_run": None if self.last_run is None else self.last_run.as_dict(),
            "last_complete_run": (
                None if self.last_complete_run is None else self.last_complete_run.as_dict()
            ),
            "last_complete_catalogue_run": (
                None
                if self.last_complete_catalogue_run is None
                else self.last_complete_catalogue_run.as_dict()
            ),
            "records": self.records,
            "manifest_records": self.manifest_records,
            "size_bytes": self.size_bytes,
            "files": self.files,
            "lock": {"held": self.lock.held, "pid": self.lock.pid},
            "catalogue": {"state": self.catalogue[0], "detail": self.catalogue[1]},
            "unfinished_commit": self.unfinished_commit,
        }


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else iso_utc(moment)


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _run_facts(entry: object, now: datetime) -> RunFacts | None:
    if not isinstance(entry, dict):
        return None
    started = parse_timestamp(entry.get("started"))
    finished = parse_timestamp(entry.get("finished"))
    seconds = entry.get("seconds")
    complete = entry.get("complete")
    scope = entry.get("scope")
    counts: dict[str, dict[str, int]] = {}
    raw_counts = entry.get("counts")
    if isinstance(raw_counts, dict):
        for kind, values in raw_counts.items():
            if isinstance(values, dict):
                counts[str(kind)] = {
                    str(name): number
                    for name, value in values.items()
                    if (number := _int(value)) is not None
                }
    error = entry.get("error")
    return RunFacts(
        started=started,
        finished=finished,
        age_seconds=None if finished is None else (now - finished).total_seconds(),
        exit_code=_int(entry.get("exit_code")),
        complete=complete if isinstance(complete, bool) else None,
        scope=scope if isinstance(scope, str) else None,
        seconds=float(seconds) if isinstance(seconds, int | float) else None,
        requests=_int(entry.get("requests")),
        retries=_int(entry.get("retries")),
        counts=counts,
        error=error if isinstance(error, str) else None,
    )


def _later(manifest_run: object, recorded_run: dict[str, Any] | None) -> object:
    """The manifest's last run, or the database's when that one started later (a run that
    committed nothing is only in the database)."""
    if recorded_run is None:
        return manifest_run
    if not isinstance(manifest_run, dict):
        return recorded_run
    ours, theirs = (
        parse_timestamp(recorded_run.get("started")),
        parse_timestamp(manifest_run.get("started")),
    )
    if ours is not None and (theirs is None or ours > theirs):
        return recorded_run
    return manifest_run


def _walk(root: Path) -> Iterator[os.DirEntry[str]]:
    """Every file under `root`, symlinks not followed."""
    folders = [str(root)]
    while folders:
        with contextlib.suppress(OSError), os.scandir(folders.pop()) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    folders.append(entry.path)
                elif entry.is_file(follow_symlinks=False):
                    yield entry


def _count_records(root: Path) -> dict[str, int]:
    counts = {}
    for kind in Kind:
        try:
            with os.scandir(root / kind.value) as entries:
                counts[kind.value] = sum(
                    1
                    for entry in entries
                    if entry.name.endswith(RECORD_SUFFIX)
                    and not entry.name.startswith(".")
                    and entry.is_file(follow_symlinks=False)  # what readers take for records
                )
        except OSError:
            counts[kind.value] = 0
    return counts


def _disk_usage(root: Path) -> tuple[int, int]:
    """(bytes allocated, files) under `root`; st_size where the OS has no block counts."""
    size = files = 0
    for entry in _walk(root):
        with contextlib.suppress(OSError):
            info = entry.stat(follow_symlinks=False)
            blocks = getattr(info, "st_blocks", None)
            size += blocks * 512 if blocks is not None else info.st_size
            files += 1
    return size, files


# --- collecting ----------------------------------------------------------------------------


def collect_status(root: Path, *, now: datetime, proc_locks: Path = PROC_LOCKS) -> MirrorStatus:
    """The status of the data folder `root`. NoMirror when it has no manifest yet,
    CorruptStore when the manifest is broken (the reading commands' rules)."""
    root = root.absolute()
    manifest_path = root / MANIFEST_NAME
    data = read_manifest_bytes(manifest_path)
    if data is None:
        raise NoMirror(f"no mirror in {root} yet: run `pkgharvest fetch` first")
    manifest = parse_manifest(manifest_path, data)
    catalogue, recorded_run = _catalogue(root, hashlib.sha256(data).hexdigest())
    size, files = _disk_usage(root)
    source = manifest.get("source")
    version = manifest.get("pkgharvest_version")
    raw_records = manifest.get("records")
    manifest_records: dict[str, int] = {}
    if isinstance(raw_records, Mapping):
        manifest_records = {str(k): n for k, v in raw_records.items() if (n := _int(v)) is not None}
    return MirrorStatus(
        data_dir=root,
        source=source if isinstance(source, str) else None,
        format_version=int(manifest["format_version"]),
        pkgharvest_version=version if isinstance(version, str) else None,
        last_run=_run_facts(_later(manifest.get("last_run"), recorded_run), now),
        last_complete_run=_run_facts(manifest.get("last_complete_run"), now),
        last_complete_catalogue_run=_run_facts(last_complete_catalogue_run(manifest), now),
        records=_count_records(root),
        manifest_records=manifest_records,
        size_bytes=size,
        files=files,
        lock=lock_facts(root, proc_locks),
        now=now,
        catalogue=catalogue,
        unfinished_commit=os.path.lexists(root / JOURNAL_NAME),
    )


def no_mirror_status(root: Path, *, now: datetime, proc_locks: Path = PROC_LOCKS) -> MirrorStatus:
    """The status of a data folder that holds no mirror (no manifest; the folder may not even
    exist): no run, no record, for `--json` and `--prometheus` to say so. Creates nothing."""
    root = root.absolute()
    catalogue, recorded_run = _catalogue(root, None)
    size, files = _disk_usage(root)
    return MirrorStatus(
        data_dir=root,
        source=None,
        format_version=None,
        pkgharvest_version=None,
        last_run=_run_facts(recorded_run, now),
        last_complete_run=None,
        last_complete_catalogue_run=None,
        records=_count_records(root),
        manifest_records={},
        size_bytes=size,
        files=files,
        lock=lock_facts(root, proc_locks),
        now=now,
        catalogue=catalogue,
        unfinished_commit=os.path.lexists(root / JOURNAL_NAME),
        mirror=False,
    )


def _catalogue(root: Path, stamp: str | None) -> tuple[tuple[str, str], dict[str, Any] | None]:
    """The catalogue database's state, read-only (its whole file is checked: a damaged page
    shows here before a command meets it), and the last run it recorded (a run that failed
    committed nothing to the manifest) when it could be read."""
    from pkgharvest.catalogue.audit import examine
    from pkgharvest.catalogue.reports import last_recorded_run

    found = examine(root, stamp)
    try:
        conn = found.conn if found.state in ("ok", "behind") else None
        recorded = last_recorded_run(conn) if conn is not None else None
    finally:
        found.close()
    return (found.state, found.line), recorded


# --- Prometheus text exposition format -------------------------------------------------------


def _label_value(text: str) -> str:
    """A label value escaped as the text format requires: backslash, double quote, newline."""
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    return repr(float(value)) if isinstance(value, float) else str(value)


def prometheus_text(status: MirrorStatus) -> str:
    """The status as Prometheus text exposition format 0.0.4, for node_exporter's textfile
    collector. Ages are not exported (they go stale in the file): alert on
    `time() - pkgharvest_last_complete_catalogue_run_timestamp_seconds`."""
    lines: list[str] = []

    def metric(
        name: str, help_text: str, samples: list[tuple[dict[str, str], float | int]]
    ) -> None:
        if not samples:
            return
        lines.append(f"# HELP {name} {help_text}")
        lines.append(f"# TYPE {name} gauge")
        for labels, value in samples:
            label_text = ",".join(f'{k}="{_label_value(v)}"' for k, v in labels.items())
            lines.append(
                f"{name}{{{label_text}}} {_number(value)}" if labels else f"{name} {_number(value)}"
            )

    dir_label = {"data_dir": str(status.data_dir)}
    metric(
        "pkgharvest_info",
        "The mirror's data folder, source API and format version (value always 1).",
        [
            (
                {
                    **dir_label,
                    "source": status.source or "",
                    "format_version": (
                        "" if status.format_version is None else str(status.format_version)
                    ),
                    "version": status.pkgharvest_version or "",
                },
                1,
            )
        ],
    )
    for prefix, run, what in (
        ("pkgharvest_last_run", status.last_run, "the last fetch run (failed ones included)"),
        (
            "pkgharvest_last_complete_run",
            status.last_complete_run,
            "the last complete fetch (any scope)",
        ),
        (
            "pkgharvest_last_complete_catalogue_run",
            status.last_complete_catalogue_run,
            "the last complete catalogue fetch",
        ),
    ):
        if run is None or run.finished is None:
            # 0, never: `time() - ..._timestamp_seconds > AGE` then fires for a folder that
            # never fetched too, where a missing series would fire nothing.
            metric(
                f"{prefix}_timestamp_seconds",
                f"When {what} finished, in seconds since the Unix epoch (0: never).",
                [(dir_label, 0)],
            )
        if run is None:
            continue
        if run.finished is not None:
            metric(
                f"{prefix}_timestamp_seconds",
                f"When {what} finished, in seconds since the Unix epoch (0: never).",
                [(dir_label, run.finished.timestamp())],
            )
        if run.exit_code is not None:
            metric(
                f"{prefix}_exit_code",
                f"The exit code of {what} (0 complete, 3 partial, 75 the API failed, ...).",
                [(dir_label, run.exit_code)],
            )
        if run.seconds is not None:
            metric(
                f"{prefix}_duration_seconds",
                f"How long {what} took.",
                [(dir_label, run.seconds)],
            )
        if run.requests is not None:
            metric(f"{prefix}_requests", f"HTTP requests {what} made.", [(dir_label, run.requests)])
        if run.retries is not None:
            metric(f"{prefix}_retries", f"Requests {what} retried.", [(dir_label, run.retries)])
        metric(
            f"{prefix}_records",
            f"Records of {what}, by kind and outcome (seen, new, changed, ...).",
            [
                ({**dir_label, "kind": kind, "outcome": outcome}, count)
                for kind, outcomes in sorted(run.counts.items())
                for outcome, count in outcomes.items()
            ],
        )
    metric(
        "pkgharvest_mirror_present",
        "1 when the data folder holds a mirror (a manifest), 0 when it never got one.",
        [(dir_label, int(status.mirror))],
    )
    metric(
        "pkgharvest_records",
        "Record files in the mirror, by kind.",
        [({**dir_label, "kind": kind}, count) for kind, count in status.records.items()],
    )
    metric(
        "pkgharvest_data_size_bytes",
        "Disk space the data folder uses.",
        [(dir_label, status.size_bytes)],
    )
    metric(
        "pkgharvest_catalogue_ok",
        "1 when the catalogue database is usable (in step, behind or not built yet), else 0.",
        [(dir_label, int(status.catalogue[0] in ("ok", "behind", "missing")))],
    )
    metric(
        "pkgharvest_lock_held",
        "1 while a fetch holds the data folder's lock, else 0.",
        [(dir_label, int(status.lock.held))],
    )
    return "\n".join(lines) + "\n"
