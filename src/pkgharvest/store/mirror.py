"""Read-only access to a mirror that `pkgharvest fetch` wrote, and the queries the views run.

The layout is a public contract (see records.py for the record fields):

    <data-dir>/manifest.json
    <data-dir>/packages/<name>.json, grids/<name>.json, categories/<name>.json

A file's name is `paths.record_filename(slug, id)`, but readers never trust it to be the slug:
unsafe slugs are stored as `_id-<id>.json`, so the record's own "slug" is the truth. Only
`*.json` files whose names do not start with "." are records (a writer's temporary files are
skipped). Nothing here writes, imports rich or typer, or touches the network.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from pkgharvest.errors import NoMirror, RecordNotFound, StoreError
from pkgharvest.records import (
    MAX_INTEGER,
    Kind,
    Record,
    _is_int,
    category_ref,
    commits_total,
    int_field,
    is_record_id,
    parse_timestamp,
    refs,
    text_field,
)
from pkgharvest.store.fileio import read_small_file_and_stat
from pkgharvest.store.journal import finish_for_readers
from pkgharvest.store.manifest import MANIFEST_NAME, parse_manifest, read_manifest_bytes
from pkgharvest.store.paths import RECORD_SUFFIX, is_safe_slug, record_filename
from pkgharvest.store.recordfile import corrupt_record, describe_id

# --- opening and reading ------------------------------------------------------------------


@dataclass(frozen=True)
class Mirror:
    """A data folder whose manifest has been read.

    Attributes:
        root: the data folder.
        manifest: manifest.json as parsed (a JSON object).
        left_out: record files read and left out: their id is one no record may have.
        _cache: records already read, by kind (each kind is read at most once).
    """

    root: Path
    manifest: dict[str, Any]
    left_out: list[str] = field(default_factory=list, compare=False)
    _cache: dict[Kind, list[Record]] = field(default_factory=dict, compare=False, repr=False)

    def folder(self, kind: Kind) -> Path:
        return self.root / kind.value

    def record_paths(self, kind: Kind) -> list[str]:
        """The record files of one kind, sorted by name; none if the folder is missing.

        Plain strings, not Paths: for 6,000 files pathlib's parsing costs more than JSON's.
        """
        folder = str(self.folder(kind))
        try:
            with os.scandir(folder) as entries:
                # A regular file (from the directory entry, no stat): a folder or a link of a
                # record's name is no record, and a link is never followed out of the folder.
                names = [
                    entry.name
                    for entry in entries
                    if _is_record_name(entry.name) and entry.is_file(follow_symlinks=False)
                ]
        except FileNotFoundError:
            return []
        except OSError as err:
            raise StoreError(f"cannot read {folder}: {err.strerror or err}") from err
        return [os.path.join(folder, name) for name in sorted(names)]

    def records(self, kind: Kind) -> list[Record]:
        """Every record of one kind, in file-name order."""
        cached = self._cache.get(kind)
        if cached is None:
            read = [_read_record(path, self.left_out) for path in self.record_paths(kind)]
            cached = [record for record in read if record is not None]
            self._cache[kind] = cached
        return cached

    def packages(self) -> list[Record]:
        return self.records(Kind.PACKAGE)

    def find(self, kind: Kind, key: str) -> Record:
        """The record whose slug is `key`, else whose id is `key` (digits).

        Reads one file when the slug names its own file; otherwise scans the kind. Raises
        RecordNotFound with up to three close slugs as suggestions.
        """
        if is_safe_slug(key) and kind not in self._cache:
            path = self.folder(kind) / record_filename(key, 0)
            if path.is_file() and not path.is_symlink():
                record = _read_record(str(path), self.left_out)
                if record is not None and record.get("slug") == key:
                    return record
        records = self.records(kind)
        for record in records:
            if record.get("slug") == key:
                return record
        # Ids are below 2**53 (16 digits); int() of a longer key could even raise (Python
        # refuses to convert more than 4,300 digits).
        if key.isascii() and key.isdigit() and len(key) <= 16:
            for record in records:
                if record.get("id") == int(key):
                    return record
        folded = key.casefold()
        for record in records:
            slug = record.get("slug")
            if isinstance(slug, str) and slug.casefold() == folded:
                return record
        raise _not_found(kind, key, [r.get("slug") for r in records])

    def last_updated(self) -> datetime | None:
        """When the last complete fetch finished (else the last run), from the manifest."""
        for entry in (self.manifest.get("last_complete_run"), self.manifest.get("last_run")):
            if isinstance(entry, dict):
                entry = entry.get("finished")
            when = parse_timestamp(entry)
            if when is not None:
                return when
        return None

    def last_run_complete(self) -> bool | None:
        last_run = self.manifest.get("last_run")
        complete = last_run.get("complete") if isinstance(last_run, dict) else None
        return complete if isinstance(complete, bool) else None


def open_mirror(root: Path) -> Mirror:
    """Read `root/manifest.json`. Raises NoMirror when there is no manifest or no package."""
    finish_for_readers(root)  # a commit a killed fetch began (journal.py): see it whole
    manifest_path = root / MANIFEST_NAME
    data = read_manifest_bytes(manifest_path)
    if data is None:
        raise NoMirror(_no_mirror_message(root))
    manifest = parse_manifest(manifest_path, data)
    mirror = Mirror(root=root, manifest=manifest)
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


# --- queries ------------------------------------------------------------------------------


class SortKey(StrEnum):
    """What `top` ranks by; every order is largest or newest first."""

    STARS = "stars"
    FORKS = "forks"
    COMMITS = "commits"
    ACTIVITY = "activity"
    LAST_COMMIT = "last-commit"
    STARS_GAINED = "stars-gained"
    """From the catalogue database's history (like `trends`), never from the files."""


def _sort_value(record: Record, key: SortKey) -> float | None:
    if key is SortKey.STARS:
        return int_field(record, "stars")
    if key is SortKey.FORKS:
        return int_field(record, "forks")
    if key is SortKey.COMMITS:
        return commits_total(record)
    when = parse_timestamp(record.get("last_commit"))
    return when.timestamp() if when is not None else None


def rank(records: Iterable[Record], key: SortKey, reverse: bool = False) -> list[Record]:
    """Largest (or newest) first; `reverse` smallest first. Unknown values always come last;
    ties are broken by slug so the order is stable across runs."""
    known: list[tuple[float, str, Record]] = []
    unknown: list[Record] = []
    records = list(records)
    if key is SortKey.ACTIVITY:
        from pkgharvest.activity import activity_scores  # it reads records through this module

        values = activity_scores(records)
    else:
        values = [_sort_value(record, key) for record in records]
    for record, value in zip(records, values, strict=True):
        if value is None:
            unknown.append(record)
        else:
            known.append((value if reverse else -value, _slug(record), record))
    known.sort(key=lambda item: (item[0], item[1]))
    unknown.sort(key=_slug)
    return [record for _, _, record in known] + unknown


def _slug(record: Record) -> str:
    slug = record.get("slug")
    return slug if isinstance(slug, str) else ""


def grid_members(mirror: Mirror, grid: Record) -> list[Record]:
    """The mirror's packages in a grid: those the grid lists, and those that list the grid."""
    grid_id = grid.get("id")
    listed = {ref.get("id") for ref in refs(grid.get("packages"))}
    return [
        package
        for package in mirror.packages()
        if package.get("id") in listed
        or any(ref["id"] == grid_id for ref in refs(package.get("grids")))
    ]


def category_members(mirror: Mirror, category: Record) -> list[Record]:
    category_id = category.get("id")
    return [
        package
        for package in mirror.packages()
        if (ref := category_ref(package)) is not None and ref["id"] == category_id
    ]


def matches_text(record: Record, text: str) -> bool:
    """Case-insensitive substring search in title, slug and repo_description."""
    needle = text.casefold()
    return any(
        needle in value.casefold()
        for name in ("title", "slug", "repo_description")
        if (value := text_field(record, name))
    )


def select_packages(
    mirror: Mirror,
    *,
    grid: str | None = None,
    category: str | None = None,
    match: str | None = None,
) -> list[Record]:
    """The mirror's packages, narrowed to a grid, a category and a search text (each optional).

    An unknown grid or category slug raises RecordNotFound.
    """
    packages: Sequence[Record] = mirror.packages()
    if grid is not None:
        packages = grid_members(mirror, mirror.find(Kind.GRID, grid))
    if category is not None:
        wanted = mirror.find(Kind.CATEGORY, category).get("id")
        packages = [
            p for p in packages if (ref := category_ref(p)) is not None and ref["id"] == wanted
        ]
    if match:
        packages = [p for p in packages if matches_text(p, match)]
    return list(packages)


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


def summarize_groups(mirror: Mirror, kind: Kind, order: GroupOrder) -> list[GroupSummary]:
    """Every grid (or category) with its package count and total stars, in `order`.

    Counting goes through the packages once, so 400 grids over 6,000 packages stay fast.
    """
    members: dict[int, set[int]] = {}
    stars: dict[int, int] = {}
    groups = mirror.records(kind)
    for group in groups:
        members[group["id"]] = set()
        if kind is Kind.GRID:
            members[group["id"]].update(ref["id"] for ref in refs(group.get("packages")))
    for package in mirror.packages():
        stars[package["id"]] = int_field(package, "stars") or 0
        package_groups = (
            refs(package.get("grids")) if kind is Kind.GRID else refs(package.get("category"))
        )
        for ref in package_groups:
            if ref["id"] in members:
                members[ref["id"]].add(package["id"])
    summaries = []
    for group in groups:
        present = [pid for pid in members[group["id"]] if pid in stars]
        summaries.append(GroupSummary(group, len(present), sum(stars[p] for p in present)))
    if order is GroupOrder.NAME:
        summaries.sort(key=lambda s: _slug(s.record))
    elif order is GroupOrder.PACKAGES:
        summaries.sort(key=lambda s: (-s.package_count, _slug(s.record)))
    else:
        summaries.sort(key=lambda s: (-s.total_stars, _slug(s.record)))
    return summaries


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
