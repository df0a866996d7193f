"""Raw API records in, normalized records out: pure functions, no I/O.

Rules (the record contract is in records.py):
- Text is kept exactly as sent; sanitizing is for display only.
- Datetimes become ISO 8601 in UTC with a `Z`; the API sends America/New_York offsets.
- A value of the wrong type becomes null, and the raw value is kept under `invalid`.
- Fields this version does not know are kept under `extra`, never dropped.
- Links are kept in id order (the service sends a package's grids in no fixed order).
- `commits_over_52: []` means "unknown": null, or the previous run's counts marked stale;
  anything but exactly 52 non-negative integer counts is invalid.
- Every number stored is finite (record files are standard JSON that any reader parses):
  NaN and Infinity, wherever they appear, are kept as the text "NaN", "Infinity", "-Infinity".
- Ids and counts are integers from 0 (ids from 1) to MAX_INTEGER. A wrong-typed or unknown
  value nested deeper than MAX_DEPTH or holding more than MAX_KEPT_ITEMS items is kept as a
  note saying so.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, cast

from pkgharvest.errors import RecordError
from pkgharvest.records import (
    CATEGORY_FIELDS,
    GRID_FIELDS,
    MAX_INTEGER,
    PACKAGE_FIELDS,
    STALE_COMMITS,
    WEEKS,
    PackageRef,
    Record,
    Ref,
)

MAX_DEPTH = 100
"""The deepest nesting kept in `extra` or `invalid`; real records nest three levels at most.
Deeper values would make writers and readers recurse towards Python's limit."""

MAX_KEPT_ITEMS = 10_000
"""A wrong-typed or unknown value with more items than this is kept as a note saying so, not
as sent: one hostile field must not turn a record of a few kilobytes into megabytes."""

_NON_FINITE_TEXT = {math.inf: "Infinity", -math.inf: "-Infinity"}


def _service_zone() -> Any:
    # Imported here: the API sends offsets, and zoneinfo's import reads the build's sysconfig
    # (every fetch paid for it, for the rare time without an offset).
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

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
    try:
        # `0001-01-01T00:00:00+05:00` or `9999-12-31T23:00:00` (New York) fall outside the
        # years 1-9999 once in UTC: the conversion overflows.
        text = parsed.astimezone(UTC).isoformat()
    except OverflowError:
        raise ValueError(f"not a datetime in the years 1-9999 in UTC: {value!r}") from None
    return text.removesuffix("+00:00") + "Z"


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _text(value: object) -> bool:
    return value is None or isinstance(value, str)


def _count(value: object) -> bool:
    return value is None or (_is_int(value) and 0 <= value <= MAX_INTEGER)  # type: ignore[operator]


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
        self.invalid[name] = storable(value)
        return None

    def datetime(self, name: str) -> str | None:
        self.used.add(name)
        value = self.raw.get(name)
        if value is None:
            return None
        try:
            return to_utc_iso(value)
        except (TypeError, ValueError):
            self.invalid[name] = storable(value)
            return None

    def extra(self) -> dict[str, Any]:
        return {k: storable(self.raw[k]) for k in sorted(self.raw) if k not in self.used}


def storable(value: Any) -> Any:
    """`value` as it can be stored: itself when it already is (nearly always, at no cost for
    text, integers and flat lists), else a copy with every non-finite number as its JSON token
    in text ("NaN", "Infinity", "-Infinity"). A value with more than MAX_KEPT_ITEMS items, or
    nested deeper than MAX_DEPTH, is replaced by a note saying so.
    """
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return value
    if kind is float:
        return value if math.isfinite(value) else _NON_FINITE_TEXT.get(value, "NaN")
    items, too_deep = _measure(value)
    if too_deep:
        return f"<a {_json_type(value)} nested deeper than {MAX_DEPTH} levels, not kept>"
    if items > MAX_KEPT_ITEMS:
        return f"<a {_json_type(value)} of more than {MAX_KEPT_ITEMS:,} items, not kept>"
    return _copy_finite(value)


def _storable_items(values: Mapping[str, Any] | None) -> dict[str, Any]:
    return {key: storable(value) for key, value in (values or {}).items()}


def _json_type(value: object) -> str:
    return "list" if isinstance(value, list) else "object"


def _measure(value: Any) -> tuple[int, bool]:
    """(how many values `value` holds at any depth, whether it nests deeper than MAX_DEPTH).
    Stops counting past MAX_KEPT_ITEMS, so a hostile list of millions costs little; iterative,
    so a deep value cannot exhaust the stack here either."""
    total = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack and total <= MAX_KEPT_ITEMS:
        current, depth = stack.pop()
        if isinstance(current, dict):
            children: Any = current.values()
        elif isinstance(current, list):
            children = current
        else:
            continue
        if depth >= MAX_DEPTH:
            return total, True
        total += len(children)
        stack.extend((child, depth + 1) for child in children if isinstance(child, list | dict))
    return total, False


def _copy_finite(value: Any) -> Any:
    # Recursion is safe here: _measure has bounded the depth to MAX_DEPTH.
    if isinstance(value, float):
        return value if math.isfinite(value) else _NON_FINITE_TEXT.get(value, "NaN")
    if isinstance(value, list):
        return [_copy_finite(item) for item in value]
    if isinstance(value, dict):
        return {key: _copy_finite(item) for key, item in value.items()}
    return value


def _identity(raw: object) -> tuple[_Fields, int, str]:
    record_id, slug = record_identity(raw)
    fields = _Fields(cast(Mapping[str, Any], raw))  # record_identity checked it is one
    fields.used.update({"id", "slug"})
    return fields, record_id, slug


def record_identity(raw: object) -> tuple[int, str]:
    """(id, slug) of a raw record; RecordError if it has none usable."""
    if not isinstance(raw, Mapping):
        raise RecordError(f"expected a JSON object, got {type(raw).__name__}")
    record_id, slug = raw.get("id"), raw.get("slug")
    if not isinstance(record_id, int) or isinstance(record_id, bool):
        raise RecordError(f"record without a usable id: {_short(record_id)}")
    if not 0 < record_id <= MAX_INTEGER:
        raise RecordError(f"record without a usable id: {_short(record_id)}")
    if not isinstance(slug, str) or not slug:
        raise RecordError(f"record {record_id} without a usable slug: {_short(slug)}")
    return record_id, slug


def _short(value: object) -> str:
    """A value in an error message: repr, cut to 80 characters. (repr of an int of 5,000 digits
    raises ValueError: Python limits int-to-text conversion to 4,300 digits.)"""
    if isinstance(value, int) and abs(value) >= 10**80:
        return f"an integer of about {value.bit_length() * 30103 // 100000} digits"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _ordered(values: dict[str, Any], order: Sequence[str]) -> Record:
    return {name: values[name] for name in order}


def _commits(fields: _Fields, previous: Mapping[str, Any] | None) -> tuple[Any, Any, list[str]]:
    """(commits_52w, commits_52w_total, stale_fields) from `commits_over_52`."""
    fields.used.add("commits_over_52")
    weeks = fields.raw.get("commits_over_52")
    # `type(w) is int` excludes bools; the set, min and max run in C (52 checks x 6,000
    # packages). Exactly 52 weeks: 3 or 2,000,000 "weeks" are not this API's weekly counts.
    if (
        isinstance(weeks, list)
        and len(weeks) == WEEKS
        and set(map(type, weeks)) == {int}
        and min(weeks) >= 0
        and max(weeks) <= MAX_INTEGER // WEEKS  # so that the total is stored exactly too
    ):
        return weeks, sum(weeks), []
    if weeks == [] or weeks is None:
        # Unknown this time. Never replace real counts with "unknown": keep the last ones.
        kept = previous.get("commits_52w") if previous else None
        if isinstance(kept, list):
            return kept, previous.get("commits_52w_total") if previous else None, [STALE_COMMITS]
        return None, None, []
    fields.invalid["commits_over_52"] = storable(weeks)
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
    clean = _clean_package(raw, record_id, slug, api_url, category, grids, link_problems, previous)
    if clean is not None:
        return clean
    return _package_field_by_field(fields, api_url, category, grids, link_problems, previous)


def _package_field_by_field(
    fields: _Fields,
    api_url: str,
    category: Ref | None,
    grids: Sequence[Ref],
    link_problems: Mapping[str, Any] | None,
    previous: Mapping[str, Any] | None,
) -> Record:
    """`normalize_package`, each field checked on its own (wrong types go to `invalid` in
    field order). `fields`: from `_identity`."""
    record_id, slug = fields.raw["id"], fields.raw["slug"]
    fields.used.update({"category", "grids"})
    commits, total, stale = _commits(fields, previous)
    values = {
        "id": record_id,
        "slug": slug,
        "title": fields.value("title", _text),
        "category": category,
        "grids": in_id_order(grids),
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
    values["invalid"] = {**_storable_items(link_problems), **fields.invalid}
    values["extra"] = fields.extra()
    return _ordered(values, PACKAGE_FIELDS)


_PACKAGE_TEXT = (
    "title",
    "pypi_version",
    "pypi_url",
    "repo_url",
    "repo_description",
    "documentation_url",
)
_PACKAGE_TIMES = ("last_updated", "last_fetched", "created", "modified")
_PACKAGE_API_FIELDS = frozenset(
    {"id", "slug", "category", "grids", "commits_over_52", "repo_watchers", "repo_forks"}
    | {"participants", *_PACKAGE_TEXT, *_PACKAGE_TIMES}
)
"""Every field of the API's package that `normalize_package` reads: the rest is `extra`."""

_TEXT_TYPES = frozenset({str, type(None)})


def _clean_package(
    raw: Mapping[str, Any],
    record_id: int,
    slug: str,
    api_url: str,
    category: Ref | None,
    grids: Sequence[Ref],
    link_problems: Mapping[str, Any] | None,
    previous: Mapping[str, Any] | None,
) -> Record | None:
    """`normalize_package` of a package whose every field has the right type (nearly all of
    them), with the fields checked together;
    None when one has not, and the field-by-field way decides what is invalid."""
    get = raw.get
    texts = tuple(map(get, _PACKAGE_TEXT))
    stars, forks, participants = get("repo_watchers"), get("repo_forks"), get("participants")
    if not (
        set(map(type, texts)) <= _TEXT_TYPES
        and _count(stars)
        and _count(forks)
        and _text_list(participants)
    ):
        return None
    try:
        times = [None if value is None else to_utc_iso(value) for value in map(get, _PACKAGE_TIMES)]
    except ValueError:
        return None
    fields = _Fields(raw)
    commits, total, stale = _commits(fields, previous)
    if fields.invalid:
        return None
    title, pypi_version, pypi_url, repo_url, repo_description, documentation_url = texts
    last_commit, last_fetched, created, modified = times
    return {  # in PACKAGE_FIELDS order (a test holds the two to each other)
        "id": record_id,
        "slug": slug,
        "title": title,
        "category": category,
        "grids": in_id_order(grids),
        "stars": stars,
        "forks": forks,
        "commits_52w": commits,
        "commits_52w_total": total,
        "last_commit": last_commit,
        "last_fetched": last_fetched,
        "created": created,
        "modified": modified,
        "pypi_version": pypi_version,
        "pypi_url": pypi_url,
        "repo_url": repo_url,
        "repo_description": repo_description,
        "documentation_url": documentation_url,
        "participants": participants,
        "api_url": api_url,
        "stale_fields": stale,
        "invalid": _storable_items(link_problems),
        "extra": {}
        if raw.keys() <= _PACKAGE_API_FIELDS
        else {k: storable(raw[k]) for k in sorted(raw) if k not in _PACKAGE_API_FIELDS},
    }


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
        "packages": in_id_order(packages),
        "api_url": api_url,
    }
    values["invalid"] = {**_storable_items(link_problems), **fields.invalid}
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


def in_id_order(refs: Sequence[Any]) -> list[Any]:
    """Links in a fixed order, by id: the service lists a package's grids (and a grid's
    packages) in no fixed order, and the same data must make the same record file."""
    return sorted(refs, key=lambda ref: ref["id"])


def ref_of(record: Mapping[str, Any]) -> Ref:
    """The {"id", "slug", "title"} reference other records use to point at `record`."""
    return {"id": record["id"], "slug": record["slug"], "title": record.get("title")}


def missing_ref(record_id: int) -> Ref:
    """The reference to a linked record that could not be fetched."""
    return {"id": record_id, "slug": None, "title": None}
