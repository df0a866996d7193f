"""The normalized record schema: the contract between `fetch` (writer) and every reader.

A record is a plain JSON object whose keys appear in exactly the order given here, so that
mirror files diff cleanly. Field names are a public contract (README, CSV columns, `--json`).

Package record (`packages/<name>.json`):
    id                  int, the API's id (unique per kind, never changes)
    slug                str, exactly as the API sent it (the file name may differ, see store.py)
    title               str
    category            Ref or null: the package's category, resolved by following its link
    grids               list[Ref]: the grids it appears in, in the API's order
    stars               int or null (API `repo_watchers`)
    forks               int or null (API `repo_forks`)
    commits_52w         list[int] of 52 weekly commit counts, oldest first; null = unknown
                        (the API sent `[]`, which means "unknown", not "no commits")
    commits_52w_total   int or null (sum of commits_52w)
    last_commit         ISO 8601 UTC `...Z` or null (API `last_updated`)
    last_fetched        ISO 8601 UTC or null: when the *service* last refreshed the record
    created, modified   ISO 8601 UTC or null
    pypi_version        str or null, as sent
    pypi_url            str or null, as sent (often the legacy http://pypi.python.org form, or "")
    repo_url            str or null, as sent
    repo_description    str or null, as sent (may hold markup or control characters: sanitize
                        for display, never for storage)
    documentation_url   str or null, as sent
    participants        list[str], as sent
    api_url             str: the record's canonical detail URL under the base URL
    stale_fields        list[str]: fields kept from an earlier run because this run's API data
                        was worse (today only "commits_52w", when the API sent `[]`)
    invalid             object: API fields whose value had the wrong type, as sent (the
                        normalized field is null)
    extra               object: API fields this version does not know, as sent, keys sorted

Grid record (`grids/<name>.json`): id, slug, title, description, is_locked, header, created,
    modified, packages (list of PackageRef {"id", "slug"}; slug null if unknown), api_url,
    invalid, extra.

Category record (`categories/<name>.json`): id, slug, title, title_plural, description,
    show_pypi, created, modified, api_url, invalid, extra.

A Ref is `{"id": int, "slug": str | null, "title": str | null}`; slug and title are null only
when the linked record could not be fetched (reported as missing during the run).
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TypedDict

Record = dict[str, Any]
"""A normalized record, ready for `json.dumps`."""


class Kind(StrEnum):
    """The three record kinds; the value is the store's folder and the API's list path."""

    PACKAGE = "packages"
    GRID = "grids"
    CATEGORY = "categories"

    @property
    def singular(self) -> str:
        return {"packages": "package", "grids": "grid", "categories": "category"}[self.value]


class Ref(TypedDict):
    id: int
    slug: str | None
    title: str | None


class PackageRef(TypedDict):
    id: int
    slug: str | None


PACKAGE_FIELDS: tuple[str, ...] = (
    "id",
    "slug",
    "title",
    "category",
    "grids",
    "stars",
    "forks",
    "commits_52w",
    "commits_52w_total",
    "last_commit",
    "last_fetched",
    "created",
    "modified",
    "pypi_version",
    "pypi_url",
    "repo_url",
    "repo_description",
    "documentation_url",
    "participants",
    "api_url",
    "stale_fields",
    "invalid",
    "extra",
)

GRID_FIELDS: tuple[str, ...] = (
    "id",
    "slug",
    "title",
    "description",
    "is_locked",
    "header",
    "created",
    "modified",
    "packages",
    "api_url",
    "invalid",
    "extra",
)

CATEGORY_FIELDS: tuple[str, ...] = (
    "id",
    "slug",
    "title",
    "title_plural",
    "description",
    "show_pypi",
    "created",
    "modified",
    "api_url",
    "invalid",
    "extra",
)

FIELDS_BY_KIND: dict[Kind, tuple[str, ...]] = {
    Kind.PACKAGE: PACKAGE_FIELDS,
    Kind.GRID: GRID_FIELDS,
    Kind.CATEGORY: CATEGORY_FIELDS,
}

WEEKS = 52

MAX_INTEGER = 2**53 - 1
"""The largest id or count a record holds: the largest integer every JSON reader keeps exactly
(JavaScript's Number.MAX_SAFE_INTEGER), well inside SQLite's and C's 64-bit integers. A record
with a larger id is not stored; a larger count is invalid."""


def iso_utc(moment: datetime) -> str:
    """An instant as the records, the manifest and the database write it:
    `YYYY-MM-DDTHH:MM:SSZ` (UTC, whole seconds, zero-padded, so the text sorts as time does)."""
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


# --- field access (records are data from disk: never trust their types) -------------------


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_record_id(value: object) -> bool:
    """An id a record may have: an integer from 1 to MAX_INTEGER (not a bool)."""
    return _is_int(value) and 0 < value <= MAX_INTEGER  # type: ignore[operator]


def int_field(record: Record, name: str) -> int | None:
    """An integer field, or None when null or of the wrong type."""
    value = record.get(name)
    return value if _is_int(value) else None


def text_field(record: Record, name: str) -> str | None:
    value = record.get(name)
    return value if isinstance(value, str) else None


def weekly_commits(record: Record) -> list[int] | None:
    """The 52 weekly commit counts, oldest first, or None when unknown."""
    counts = record.get("commits_52w")
    # set(map(type, ...)) checks all 52 in C; `type is int` also excludes bools.
    if isinstance(counts, list) and len(counts) == WEEKS and set(map(type, counts)) == {int}:
        return counts
    return None


def commits_total(record: Record) -> int | None:
    total = int_field(record, "commits_52w_total")
    if total is None:
        counts = weekly_commits(record)
        total = sum(counts) if counts is not None else None
    return total


def refs(value: object) -> list[dict[str, Any]]:
    """A Ref or list of Refs from a record, keeping only well-formed ones."""
    items = value if isinstance(value, list) else [value]
    return [item for item in items if isinstance(item, dict) and _is_int(item.get("id"))]


def ref_slug(ref: dict[str, Any]) -> str:
    """The slug of a Ref, or its id as text when the linked record could not be fetched."""
    slug = ref.get("slug")
    return slug if isinstance(slug, str) and slug else str(ref["id"])


def category_ref(record: Record) -> dict[str, Any] | None:
    found = refs(record.get("category"))
    return found[0] if found else None


def parse_timestamp(value: object) -> datetime | None:
    """An ISO 8601 timestamp as an aware UTC datetime; None when null or unreadable."""
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        parsed = datetime.fromisoformat(value)
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except (ValueError, OverflowError):  # OverflowError: year 0 or 10000 once in UTC
        return None
