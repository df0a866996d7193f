"""Raw API records in, normalized records out: pure functions, no I/O.

Rules (the record contract is in records.py):
- Text is kept exactly as sent; sanitizing is for display only.
- Datetimes become ISO 8601 in UTC with a `Z`; the API sends America/New_York offsets.
- A value of the wrong type becomes null, and the raw value is kept under `invalid`.
- Fields this version does not know are kept under `extra`, never dropped.
- `commits_over_52: []` means "unknown": null, or the previous run's counts marked stale.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pkgharvest.errors import RecordError
from pkgharvest.records import (
    CATEGORY_FIELDS,
    GRID_FIELDS,
    PACKAGE_FIELDS,
    PackageRef,
    Record,
    Ref,
)

STALE_COMMITS = "commits_52w"


def _service_zone() -> Any:
    try:
        return ZoneInfo("America/New_York")
    except ZoneInfoNotFoundError:  # no tz database: treat naive times as UTC
        return UTC


def to_utc_iso(value: str) -> str:
    """`2024-02-19T12:26:39-05:00` -> `2024-02-19T17:26:39Z` (fractions kept as sent).

    Raises ValueError for text that is not an ISO 8601 datetime. A time without an offset is
    taken as the service's local time (America/New_York).
    """
    if not isinstance(value, str) or len(value) < 10:
        raise ValueError(f"not a datetime: {value!r}")
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=_service_zone())
    text = parsed.astimezone(UTC).isoformat()
    return text.removesuffix("+00:00") + "Z"


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _text(value: object) -> bool:
    return value is None or isinstance(value, str)


def _count(value: object) -> bool:
    return value is None or (_is_int(value) and value >= 0)  # type: ignore[operator]


def _flag(value: object) -> bool:
    return value is None or isinstance(value, bool)


def _text_list(value: object) -> bool:
    # The set of element types is built in C: participants lists run to dozens of names.
    return value is None or (isinstance(value, list) and set(map(type, value)) <= {str})


Check = Callable[[object], bool]


class _Fields:
    """Copies checked fields from a raw record, collecting wrong-typed values in `invalid`."""

    def __init__(self, raw: Mapping[str, Any]) -> None:
        self.raw = raw
        self.used: set[str] = set()
        self.invalid: dict[str, Any] = {}

    def value(self, name: str, check: Check) -> Any:
        self.used.add(name)
        value = self.raw.get(name)
        if check(value):
            return value
        self.invalid[name] = value
        return None

    def datetime(self, name: str) -> str | None:
        self.used.add(name)
        value = self.raw.get(name)
        if value is None:
            return None
        try:
            return to_utc_iso(value)
        except (TypeError, ValueError):
            self.invalid[name] = value
            return None

    def extra(self) -> dict[str, Any]:
        return {k: self.raw[k] for k in sorted(self.raw) if k not in self.used}


def _identity(raw: object) -> tuple[_Fields, int, str]:
    if not isinstance(raw, Mapping):
        raise RecordError(f"expected a JSON object, got {type(raw).__name__}")
    record_id, slug = raw.get("id"), raw.get("slug")
    if not isinstance(record_id, int) or isinstance(record_id, bool) or record_id <= 0:
        raise RecordError(f"record without a usable id: {record_id!r}")
    if not isinstance(slug, str) or not slug:
        raise RecordError(f"record {record_id} without a usable slug: {slug!r}")
    fields = _Fields(raw)
    fields.used.update({"id", "slug"})
    return fields, record_id, slug


def record_identity(raw: object) -> tuple[int, str]:
    """(id, slug) of a raw record; RecordError if it has none usable."""
    _, record_id, slug = _identity(raw)
    return record_id, slug


def _ordered(values: dict[str, Any], order: Sequence[str]) -> Record:
    return {name: values[name] for name in order}


def _commits(fields: _Fields, previous: Mapping[str, Any] | None) -> tuple[Any, Any, list[str]]:
    """(commits_52w, commits_52w_total, stale_fields) from `commits_over_52`."""
    fields.used.add("commits_over_52")
    weeks = fields.raw.get("commits_over_52")
    # `type(w) is int` excludes bools; the set and min run in C (52 checks x 6,000 packages).
    if isinstance(weeks, list) and weeks and set(map(type, weeks)) == {int} and min(weeks) >= 0:
        return weeks, sum(weeks), []
    if weeks == [] or weeks is None:
        # Unknown this time. Never replace real counts with "unknown": keep the last ones.
        kept = previous.get("commits_52w") if previous else None
        if isinstance(kept, list):
            return kept, previous.get("commits_52w_total") if previous else None, [STALE_COMMITS]
        return None, None, []
    fields.invalid["commits_over_52"] = weeks
    return None, None, []


def normalize_package(
    raw: Mapping[str, Any],
    *,
    api_url: str,
    category: Ref | None,
    grids: Sequence[Ref],
    link_problems: Mapping[str, Any] | None = None,
    previous: Mapping[str, Any] | None = None,
) -> Record:
    """A package record from its raw API form.

    category / grids: the package's links, already resolved by the crawler.
    link_problems: links that could not be used (foreign, malformed), kept under `invalid`.
    previous: the mirror's current record for this id, if any (for stale commit counts).
    """
    fields, record_id, slug = _identity(raw)
    fields.used.update({"category", "grids"})
    commits, total, stale = _commits(fields, previous)
    values = {
        "id": record_id,
        "slug": slug,
        "title": fields.value("title", _text),
        "category": category,
        "grids": list(grids),
        "stars": fields.value("repo_watchers", _count),
        "forks": fields.value("repo_forks", _count),
        "commits_52w": commits,
        "commits_52w_total": total,
        "last_commit": fields.datetime("last_updated"),
        "last_fetched": fields.datetime("last_fetched"),
        "created": fields.datetime("created"),
        "modified": fields.datetime("modified"),
        "pypi_version": fields.value("pypi_version", _text),
        "pypi_url": fields.value("pypi_url", _text),
        "repo_url": fields.value("repo_url", _text),
        "repo_description": fields.value("repo_description", _text),
        "documentation_url": fields.value("documentation_url", _text),
        "participants": fields.value("participants", _text_list),
        "api_url": api_url,
        "stale_fields": stale,
    }
    values["invalid"] = {**dict(link_problems or {}), **fields.invalid}
    values["extra"] = fields.extra()
    return _ordered(values, PACKAGE_FIELDS)


def normalize_grid(
    raw: Mapping[str, Any],
    *,
    api_url: str,
    packages: Sequence[PackageRef],
    link_problems: Mapping[str, Any] | None = None,
) -> Record:
    """A grid record; `packages` are its package links, resolved to id and slug."""
    fields, record_id, slug = _identity(raw)
    fields.used.add("packages")
    values = {
        "id": record_id,
        "slug": slug,
        "title": fields.value("title", _text),
        "description": fields.value("description", _text),
        "is_locked": fields.value("is_locked", _flag),
        "header": fields.value("header", _flag),
        "created": fields.datetime("created"),
        "modified": fields.datetime("modified"),
        "packages": list(packages),
        "api_url": api_url,
    }
    values["invalid"] = {**dict(link_problems or {}), **fields.invalid}
    values["extra"] = fields.extra()
    return _ordered(values, GRID_FIELDS)


def normalize_category(raw: Mapping[str, Any], *, api_url: str) -> Record:
    fields, record_id, slug = _identity(raw)
    values = {
        "id": record_id,
        "slug": slug,
        "title": fields.value("title", _text),
        "title_plural": fields.value("title_plural", _text),
        "description": fields.value("description", _text),
        "show_pypi": fields.value("show_pypi", _flag),
        "created": fields.datetime("created"),
        "modified": fields.datetime("modified"),
        "api_url": api_url,
    }
    values["invalid"] = fields.invalid
    values["extra"] = fields.extra()
    return _ordered(values, CATEGORY_FIELDS)


def ref_of(record: Mapping[str, Any]) -> Ref:
    """The {"id", "slug", "title"} reference other records use to point at `record`."""
    return {"id": record["id"], "slug": record["slug"], "title": record.get("title")}


def missing_ref(record_id: int) -> Ref:
    """The reference to a linked record that could not be fetched."""
    return {"id": record_id, "slug": None, "title": None}
