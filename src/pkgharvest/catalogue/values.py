"""What each column of the catalogue database may hold, and the check of every row read.

SQLite stores any value in any column; pkgharvest's writer (catalogue/write.py) stores each
field as one type (integers, text, JSON text, 0/1), or NULL. A value of another type was put
there by something else (a planted row, a damaged page that still parses): the database is
then damaged, and the reader moves it aside and rebuilds it (catalogue/reader.py) instead of
handing views a number that is text. Columns are known by name, whatever table or query they
come from; a computed column (`count(*)`, an alias) is not checked, and no value anywhere may
be a BLOB (pkgharvest never writes one).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from typing import Any

from pkgharvest.catalogue.write import _BOOL_COLUMNS, _INT_COLUMNS, _JSON_COLUMNS, COLUMNS

_NONE: type = type(None)
Types = frozenset[type]
INTEGER: Types = frozenset({int})
INTEGER_OR_NULL: Types = frozenset({int, _NONE})
TEXT: Types = frozenset({str})
TEXT_OR_NULL: Types = frozenset({str, _NONE})
NUMBER_OR_NULL: Types = frozenset({int, float, _NONE})
SCALAR: Types = frozenset({int, float, str, _NONE})


def _record_column(name: str) -> Types:
    if name in ("id",):
        return INTEGER
    if name == "slug":
        return TEXT_OR_NULL  # NOT NULL in the record tables; NULL in `changes` when unknown
    if name in _INT_COLUMNS or name in _BOOL_COLUMNS:
        return INTEGER_OR_NULL
    return TEXT_OR_NULL  # text, and JSON text


COLUMN_TYPES: dict[str, Types] = {
    **{name: _record_column(name) for names in COLUMNS.values() for name in names},
    "category_id": INTEGER_OR_NULL,
    # grid_packages, observations, weekly_commits, changes, runs, record_files, catalogue_meta
    "grid_id": INTEGER,
    "package_id": INTEGER,
    "record_id": INTEGER,
    "from_grid": INTEGER,
    "from_package": INTEGER,
    "observed_at": TEXT,
    "run_id": INTEGER_OR_NULL,
    "week_start": TEXT,
    "commits": INTEGER,
    "change": TEXT,
    "kind": TEXT,
    "old": SCALAR,
    "new": SCALAR,
    "started": TEXT,
    "finished": TEXT_OR_NULL,
    "scope": TEXT_OR_NULL,
    "complete": INTEGER_OR_NULL,
    "exit_code": INTEGER_OR_NULL,
    "counts": TEXT_OR_NULL,
    "seconds": NUMBER_OR_NULL,
    "recorded": TEXT,
    "manifest_sha256": TEXT_OR_NULL,  # NULL: a run that committed nothing
    "error": TEXT_OR_NULL,
    "requests": INTEGER_OR_NULL,
    "retries": INTEGER_OR_NULL,
    "dormant": INTEGER,
    "name": TEXT,
    "inode": INTEGER_OR_NULL,
    "mtime_ns": INTEGER_OR_NULL,
    "ctime_ns": INTEGER_OR_NULL,
    "size": INTEGER_OR_NULL,
    "key": TEXT,
    "value": TEXT,
}
"""Column name -> the Python types its values may have when read."""

KEY_COLUMNS = frozenset(
    {"id", "package_id", "grid_id", "record_id", "run_id", "week_start", "observed_at"}
    | {"change", "kind", "name", "key"}
)
"""Columns of the tables' primary keys: a scan of the whole file for values of the wrong type
leaves them out (a query that reads a row still checks them)."""

SQL_TYPES = {
    int: "integer",
    float: "real",
    str: "text",
    _NONE: "null",
}
"""The `typeof()` of each Python type, for checks written in SQL (verify)."""

MISMATCH = 20  # SQLITE_MISMATCH: what a wrong type is reported as, at the edge


def wrong_type(column: str) -> sqlite3.Error:
    """The error a value of the wrong type in `column` is raised as (the edge translates it
    into CatalogueDamaged, as it does SQLite's own errors)."""
    err = sqlite3.DataError(f"a value of the wrong type in column {column}")
    err.sqlite_errorcode = MISMATCH
    err.sqlite_errorname = "SQLITE_MISMATCH"
    return err


class _Plan:
    """What the columns of one query may hold, and the type signatures of rows already found
    right (most rows of a query share a few: a row is then checked by one set lookup)."""

    __slots__ = ("accepted", "allowed", "description", "names")

    def __init__(self, description: tuple[Any, ...]) -> None:
        self.description = description
        self.names = [column[0] for column in description]
        self.allowed = [COLUMN_TYPES.get(name, SCALAR) for name in self.names]
        self.accepted: set[tuple[type, ...]] = set()


_PLANS: dict[int, _Plan] = {}
_MAX_PLANS = 64


def checked_row(cursor: sqlite3.Cursor, row: tuple[Any, ...]) -> tuple[Any, ...]:
    """A row factory: the row as it is, once every known column holds a value of its type."""
    description = cursor.description
    plan = _PLANS.get(id(description))
    if plan is None or plan.description is not description:
        if len(_PLANS) >= _MAX_PLANS:
            _PLANS.clear()
        plan = _PLANS[id(description)] = _Plan(description)
    types = tuple(map(type, row))
    if types in plan.accepted:
        return row
    for name, allowed, kind in zip(plan.names, plan.allowed, types, strict=True):
        if kind not in allowed:
            raise wrong_type(name)
    plan.accepted.add(types)
    return row


Decoder = Callable[[Any], Any]


def _text(name: str, allowed: Types) -> Decoder:
    def decode(value: Any) -> Any:
        if type(value) not in allowed:
            raise wrong_type(name)
        return value

    return decode


def _flag(name: str) -> Decoder:
    def decode(value: Any) -> Any:
        if value is None:
            return None
        if type(value) is not int or value not in (0, 1):
            raise wrong_type(name)
        return bool(value)

    return decode


def _json(name: str) -> Decoder:
    import json

    loads = json.loads

    def decode(value: Any) -> Any:
        if value is None:
            return None
        if type(value) is not str:
            raise wrong_type(name)
        try:
            return loads(value)
        except (ValueError, RecursionError):
            raise wrong_type(name) from None

    return decode


def field_decoder(name: str) -> Decoder:
    """Turns the column `name` of a record table back into the record's field: JSON text
    decoded, 0/1 as booleans; raises `wrong_type` for anything the writer never stores."""
    if name in _JSON_COLUMNS:
        return _json(name)
    if name in _BOOL_COLUMNS:
        return _flag(name)
    return _text(name, COLUMN_TYPES.get(name, SCALAR))


def record_decoders(names: Sequence[str]) -> list[Decoder]:
    return [field_decoder(name) for name in names]
