"""Read-only access to a mirror that `pkgharvest fetch` wrote: its manifest, and the record files
the catalogue database is built from. The reading commands' queries are SQL on that database
(catalogue/queries.py); what they are asked in (SortKey, GroupOrder) and the rows their
`--json` prints are defined here, beside the records.

The layout is a public contract (see records.py for the record fields):

    <data-dir>/manifest.json
    <data-dir>/packages/<name>.json, grids/<name>.json, categories/<name>.json

A file's name is `paths.record_filename(slug, id)`, but readers never trust it to be the slug:
unsafe slugs are stored as `_id-<id>.json`, so the record's own "slug" is the truth. Only
`*.json` files whose names do not start with "." are records (a writer's temporary files are
skipped). Nothing here writes, imports rich or typer, or touches the network.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from pkgharvest.errors import LockHeld, NoMirror, RecordNotFound, StoreError
from pkgharvest.records import MAX_INTEGER, Kind, Record, _is_int, is_record_id, parse_timestamp
from pkgharvest.store.fileio import read_small_file_and_stat
from pkgharvest.store.journal import finish_for_readers
from pkgharvest.store.manifest import (
    MANIFEST_NAME,
    last_complete_catalogue_run,
    parse_manifest,
    read_manifest_bytes,
)
from pkgharvest.store.paths import RECORD_SUFFIX
from pkgharvest.store.recordfile import corrupt_record, describe_id

# --- opening and reading ------------------------------------------------------------------


@dataclass(frozen=True)
class Mirror:
    """A data folder whose manifest has been read.

    Attributes:
        root: the data folder.
        manifest: manifest.json as parsed (a JSON object).
        stamp: the SHA-256 of the manifest's bytes (what a catalogue database in step with
            this mirror stores).
    """

    root: Path
    manifest: dict[str, Any]
    stamp: str = ""

    def folder(self, kind: Kind) -> Path:
        return self.root / kind.value

    def last_updated(self) -> datetime | None:
        """When the last complete catalogue fetch finished, from the manifest (None: none has).
        A targeted fetch, complete or not, leaves the rest of the catalogue as old as that."""
        run = last_complete_catalogue_run(self.manifest)
        return parse_timestamp(run.get("finished")) if run is not None else None


def open_mirror(root: Path) -> Mirror:
    """Read `root/manifest.json`. Raises NoMirror when there is no manifest or no package."""
    # A commit a killed fetch began is finished first, to be seen whole. One a fetch holding
    # the lock is making is that fetch's to finish: meanwhile the catalogue database still
    # holds the catalogue as it was before that run (catalogue/reader.py), so no one waits.
    with contextlib.suppress(LockHeld):
        finish_for_readers(root, patience=0)
    manifest_path = root / MANIFEST_NAME
    data = read_manifest_bytes(manifest_path)
    if data is None:
        raise NoMirror(_no_mirror_message(root))
    manifest = parse_manifest(manifest_path, data)
    mirror = Mirror(root=root, manifest=manifest, stamp=hashlib.sha256(data).hexdigest())
    if not _has_record_file(mirror.folder(Kind.PACKAGE)):
        raise NoMirror(_no_mirror_message(root))
    return mirror


def _no_mirror_message(root: Path) -> str:
    return f"no mirror in {root} yet: run `pkgharvest fetch` first"


def _is_record_name(name: str) -> bool:
    return name.endswith(RECORD_SUFFIX) and not name.startswith(".")


def _has_record_file(folder: Path) -> bool:
    try:
        with os.scandir(folder) as entries:
            return any(_is_record_name(entry.name) for entry in entries)
    except OSError:
        return False


def _read_record(path: str, left_out: list[str] | None = None) -> Record | None:
    """One record file, or None if it vanished since the folder was listed (a fetch replacing
    files as we read) or holds an integer id no record may have (then its path is added to
    `left_out`: everything else still works, and a fetch replaces it)."""
    try:
        # Not open(): its buffered reader costs an ioctl and an lseek per file (the catalogue
        # sync reads every record file of a first run back).
        data, _ = read_small_file_and_stat(path)
    except FileNotFoundError:
        return None
    except OSError as err:
        raise StoreError(f"cannot read {path}: {err.strerror or err}") from err
    try:
        record = json.loads(data)
    except UnicodeDecodeError as err:
        raise corrupt_record(path, f"is not UTF-8 text (byte {err.start})") from None
    except json.JSONDecodeError as err:
        raise corrupt_record(
            path, f"is not valid JSON ({err.msg}, line {err.lineno} column {err.colno})"
        ) from None
    except (ValueError, RecursionError) as err:  # an integer of 5,000 digits, [[[[...
        raise corrupt_record(path, f"is not JSON this version reads ({err})") from None
    if not isinstance(record, dict):
        raise corrupt_record(path, "is not a JSON object")
    if not _is_int(record.get("id")) or not isinstance(record.get("slug"), str):
        raise corrupt_record(path, 'has no integer "id" or text "slug"')
    if not is_record_id(record["id"]):
        if left_out is not None:
            left_out.append(path)
        return None
    return record


read_record_file = _read_record
"""One record file, or None if it vanished or holds an id no record may have (CorruptStore
when it does not parse)."""


def left_out_notice(paths: list[str]) -> str | None:
    """The one line saying which record files a reader left out, if any."""
    if not paths:
        return None
    first = paths[0]
    try:
        record_id = json.loads(read_small_file_and_stat(first)[0])["id"]
        held = describe_id(record_id)
    except (OSError, ValueError, KeyError, TypeError):
        held = "an id"
    more = f" (and {len(paths) - 1:,} more)" if len(paths) > 1 else ""
    return (
        f"left out the record file {first}{more}: it holds {held}, and ids run from 1 to "
        f"{MAX_INTEGER:,}; the next `pkgharvest fetch` replaces it (or move it away)"
    )


def _not_found(kind: Kind, key: str, slugs: Iterable[object]) -> RecordNotFound:
    import difflib  # only on this error path

    known = [s for s in slugs if isinstance(s, str)]
    by_fold: dict[str, str] = {s.casefold(): s for s in known}
    close = difflib.get_close_matches(key.casefold(), list(by_fold), n=3, cutoff=0.6)
    # repr() quotes the text and escapes control characters, so that neither the user's input
    # nor a slug from the API can act on the terminal through this message.
    shown = key if len(key) <= 80 else key[:60] + "..."  # one line, even for 5,000 characters
    message = f"no {kind.singular} {shown!r} in the mirror"
    if close:
        message += "; did you mean " + ", ".join(repr(by_fold[c]) for c in close) + "?"
    return RecordNotFound(message)


# --- what the queries are asked in -----------------------------------------------------------


class SortKey(StrEnum):
    """What `top` ranks by; every order is largest or newest first."""

    STARS = "stars"
    FORKS = "forks"
    COMMITS = "commits"
    ACTIVITY = "activity"
    LAST_COMMIT = "last-commit"
    STARS_GAINED = "stars-gained"
    """From the catalogue database's history (like `trends`), never from the files."""


@dataclass(frozen=True)
class GroupSummary:
    """A grid or category with the size of its share of the mirror.

    Attributes:
        record: the grid or category record.
        package_count: how many of the mirror's packages belong to it.
        total_stars: the sum of those packages' stars (unknown stars count as 0).
    """

    record: Record
    package_count: int
    total_stars: int


class GroupOrder(StrEnum):
    """How `grids` and `categories` are listed."""

    NAME = "name"
    PACKAGES = "packages"
    STARS = "stars"


# --- rows for --json ----------------------------------------------------------------------

PACKAGE_ROW_FIELDS: tuple[str, ...] = (
    "id",
    "slug",
    "title",
    "stars",
    "forks",
    "commits_52w",
    "commits_52w_total",
    "last_commit",
    "pypi_version",
    "category",
)
"""The fields of a `top` / `grid` row in --json, named and shaped as in the record."""

PACKAGE_VIEW_FIELDS: tuple[str, ...] = (*PACKAGE_ROW_FIELDS, "last_fetched", "repo_description")
"""The fields the `top` and `grid` tables read (the database rebuilds only these; the test
comparing the database's tables with the files' catches a view that reads one more)."""


def package_rows(records: Iterable[Record]) -> Iterator[dict[str, Any]]:
    """`top` / `grid` rows for --json: a 1-based `rank`, then PACKAGE_ROW_FIELDS as stored."""
    for position, record in enumerate(records, start=1):
        row: dict[str, Any] = {"rank": position}
        row.update((name, record.get(name)) for name in PACKAGE_ROW_FIELDS)
        yield row


def group_rows(summaries: Iterable[GroupSummary]) -> Iterator[dict[str, Any]]:
    """`grids` / `categories` rows for --json: id, slug, title, package_count, total_stars."""
    for summary in summaries:
        yield {
            "id": summary.record.get("id"),
            "slug": summary.record.get("slug"),
            "title": summary.record.get("title"),
            "package_count": summary.package_count,
            "total_stars": summary.total_stars,
        }
