"""Export columns: which exist, the default order, and each one's CSV and JSON value.

Weekly commit counts in CSV: 52 integer columns `w01` ... `w52`, oldest week first (`w52` is the
week the service last refreshed the package, `last_fetched`), so a spreadsheet can chart a row
range directly; all 52 are empty when the counts are unknown. `--fields commits_52w` gives
instead one cell with the 52 counts joined by ";". `--fields weeks` stands for w01..w52.

In CSV, lists (grids, participants, stale_fields) are joined by ";", a Ref (category, grid) is
written as its slug (its numeric id when the link could not be resolved), objects (invalid,
extra) as compact JSON, null as an empty cell. In JSON every record field keeps its stored form.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from pkgharvest.errors import UsageError
from pkgharvest.formats import DateFormat
from pkgharvest.records import (
    PACKAGE_FIELDS,
    WEEKS,
    Record,
    parse_timestamp,
    ref_slug,
    refs,
    weekly_commits,
)

WEEK_FIELDS: tuple[str, ...] = tuple(f"w{week:02d}" for week in range(1, WEEKS + 1))
WEEKS_ALIAS = "weeks"

CSV_DEFAULT_FIELDS: tuple[str, ...] = (
    "id",
    "slug",
    "title",
    "category",
    "grids",
    "stars",
    "forks",
    "commits_52w_total",
    "last_commit",
    "pypi_version",
    "repo_url",
    "repo_description",
    "documentation_url",
    "pypi_url",
    "created",
    "modified",
    "last_fetched",
    *WEEK_FIELDS,
)
"""The CSV columns without --fields, in this order."""

JSON_DEFAULT_FIELDS: tuple[str, ...] = PACKAGE_FIELDS
"""JSON and JSON Lines write the whole normalized record by default."""

ALL_FIELDS: tuple[str, ...] = PACKAGE_FIELDS + WEEK_FIELDS

_REF_LISTS = frozenset({"grids"})
_TEXT_LISTS = frozenset({"participants", "stale_fields"})
_OBJECTS = frozenset({"invalid", "extra"})


def parse_fields(spec: str) -> tuple[str, ...]:
    """`"slug,stars,weeks"` -> ("slug", "stars", "w01", ..., "w52"). Unknown names: UsageError."""
    names: list[str] = []
    for raw in spec.split(","):
        name = raw.strip()
        if not name:
            continue
        if name == WEEKS_ALIAS:
            names.extend(WEEK_FIELDS)
        elif name in ALL_FIELDS:
            names.append(name)
        else:
            raise UsageError(_unknown_field_message(name))
    if not names:
        raise UsageError("--fields names no field")
    return tuple(dict.fromkeys(names))  # drop repeats, keep the first position


def _unknown_field_message(name: str) -> str:
    import difflib

    close = difflib.get_close_matches(name, (*PACKAGE_FIELDS, WEEKS_ALIAS), n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    return (
        f"unknown field {name!r} in --fields{hint} "
        f"(fields: {', '.join(PACKAGE_FIELDS)}, w01..w52, weeks)"
    )


_WEEK_INDEX = {name: index for index, name in enumerate(WEEK_FIELDS)}


def json_object(record: Record, fields: Sequence[str]) -> dict[str, Any]:
    """The JSON object of one package: stored values; one weekly count for each wNN."""
    counts = weekly_commits(record) if any(f in _WEEK_INDEX for f in fields) else None
    result: dict[str, Any] = {}
    for name in fields:
        week = _WEEK_INDEX.get(name)
        if week is None:
            result[name] = record.get(name)
        else:
            result[name] = None if counts is None else counts[week]
    return result


DATE_FIELDS = frozenset({"last_commit", "last_fetched", "created", "modified"})
"""Record fields holding ISO 8601 UTC timestamps."""


def spreadsheet_date(value: str) -> str:
    """`2026-02-02T00:18:21.737467Z` -> `2026-02-02 00:18:21` (UTC, whole seconds): the form
    spreadsheets recognise as a date and time. Text that is no timestamp stays as it is."""
    when = parse_timestamp(value)
    return value if when is None else f"{when:%Y-%m-%d %H:%M:%S}"


def csv_cells(
    record: Record, fields: Sequence[str], date_format: DateFormat = DateFormat.SPREADSHEET
) -> list[str | int]:
    """The CSV cells of one package: an int stays an int; everything else becomes text;
    timestamps in `date_format`."""
    counts = weekly_commits(record) if any(f in _WEEK_INDEX for f in fields) else None
    spreadsheet = date_format is DateFormat.SPREADSHEET
    cells: list[str | int] = []
    for name in fields:
        week = _WEEK_INDEX.get(name)
        if week is None:
            value = csv_value(record, name)
            if spreadsheet and name in DATE_FIELDS and isinstance(value, str) and value:
                value = spreadsheet_date(value)
            cells.append(value)
        else:
            cells.append("" if counts is None else counts[week])
    return cells


def csv_value(record: Record, name: str) -> str | int:
    """The cell of record field `name` (not wNN) as text, or an int."""
    value = record.get(name)
    if value is None:
        return ""
    if isinstance(value, bool):  # before int: bool is an int subclass
        return "true" if value else "false"
    if isinstance(value, int | str):
        return value
    if name == "category":
        return ";".join(ref_slug(ref) for ref in refs(value))
    if name in _REF_LISTS:
        return ";".join(ref_slug(ref) for ref in refs(value))
    if name == "commits_52w" and isinstance(value, list):
        return ";".join(str(count) for count in value)
    if name in _TEXT_LISTS and isinstance(value, list):
        return ";".join(str(item) for item in value)
    if name in _OBJECTS and not value:
        return ""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def default_fields(csv: bool) -> Sequence[str]:
    return CSV_DEFAULT_FIELDS if csv else JSON_DEFAULT_FIELDS
