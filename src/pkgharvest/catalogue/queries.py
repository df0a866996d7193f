"""The reading commands' queries, answered by SQL on the catalogue database.

Records are rebuilt from their columns, each value checked against what the writer stores
(values.py: a value of the wrong type is damage, raised for the reader to repair); rankings put
unknown values last and break ties by slug. Only the rows a view shows are turned back into
records; `top --json --limit 0` and `export` stream them. Each query runs on its own cursor
without the connection's generic row check: the records are checked field by field here.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Iterator, Sequence
from typing import Any

from pkgharvest.catalogue.values import Decoder, record_decoders
from pkgharvest.catalogue.write import COLUMNS
from pkgharvest.records import MAX_INTEGER, Kind, Record
from pkgharvest.store.mirror import GroupOrder, GroupSummary, SortKey, _not_found

_ORDER_VALUE = {
    SortKey.STARS: "p.stars",
    SortKey.FORKS: "p.forks",
    SortKey.COMMITS: "p.commits_52w_total",
    SortKey.LAST_COMMIT: "julianday(p.last_commit)",
}


def _columns(names: Sequence[str], alias: str = "") -> str:
    """The SELECT list of the columns `names` (under the table alias `alias`, if any)."""
    prefix = f"{alias}." if alias else ""
    return ", ".join(prefix + name for name in names)


def _rows(conn: sqlite3.Connection, sql: str, params: Sequence[object] = ()) -> sqlite3.Cursor:
    cursor = conn.cursor()
    cursor.row_factory = None  # checked by _record, field by field
    return cursor.execute(sql, params)


@functools.lru_cache(maxsize=64)
def _decoders(names: tuple[str, ...]) -> list[Decoder]:
    return record_decoders(names)


def record_from_row(kind: Kind, row: tuple[Any, ...]) -> Record:
    """A record rebuilt from its table row (the columns of COLUMNS[kind], in order)."""
    return _record(COLUMNS[kind], row)


def _record(names: tuple[str, ...], row: Sequence[Any]) -> Record:
    """The fields `names` rebuilt from their columns: JSON text decoded, 0/1 as booleans;
    `values.wrong_type` for a value the writer never stores."""
    return {
        name: decode(value)
        for name, decode, value in zip(names, _decoders(names), row, strict=False)
    }


def _match(title: object, slug: object, description: object, needle: str) -> bool:
    return any(
        isinstance(value, str) and needle in value.casefold()
        for value in (title, slug, description)
    )


def _register(conn: sqlite3.Connection) -> None:
    conn.create_function("pkgharvest_match", 4, _match, deterministic=True)


# --- finding one record ---------------------------------------------------------------------


def find(conn: sqlite3.Connection, kind: Kind, key: str) -> Record:
    """The record whose slug is `key`, else whose id is `key` (digits), else whose slug equals
    it ignoring case. RecordNotFound with close slugs as suggestions."""
    table = kind.value
    columns = _columns(COLUMNS[kind])
    row = _rows(
        conn, f"SELECT {columns} FROM {table} WHERE slug = ? ORDER BY id LIMIT 1", (key,)
    ).fetchone()
    # An id is at most MAX_INTEGER; a longer number is no id (SQLite could not even take it).
    is_id = key.isascii() and key.isdigit() and len(key) <= 16 and int(key) <= MAX_INTEGER
    if row is None and is_id:
        row = _rows(conn, f"SELECT {columns} FROM {table} WHERE id = ?", (int(key),)).fetchone()
    if row is not None:
        return record_from_row(kind, row)
    slugs = [slug for (slug,) in conn.execute(f"SELECT slug FROM {table} ORDER BY id")]
    folded = key.casefold()
    for slug in slugs:
        if slug.casefold() == folded:
            return find(conn, kind, slug)
    raise _not_found(kind, key, slugs)


def package_count(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT count(*) FROM packages").fetchone()[0])


_DORMANCY_FIELDS = ("slug", "last_commit", "commits_52w")


def dormancy_fields(conn: sqlite3.Connection, slugs: Sequence[str]) -> dict[str, Record]:
    """slug -> the fields `activity.is_dormant` reads, for the packages with these slugs (a
    `trends` table marks its dormant rows)."""
    found: dict[str, Record] = {}
    unique = list(dict.fromkeys(slugs))
    for start in range(0, len(unique), 500):  # within SQLite's limit on bound parameters
        chunk = unique[start : start + 500]
        sql = (
            f"SELECT {_columns(_DORMANCY_FIELDS)} FROM packages"
            f" WHERE slug IN ({','.join('?' * len(chunk))}) ORDER BY id"
        )
        for row in conn.execute(sql, chunk):
            found.setdefault(row[0], _record(_DORMANCY_FIELDS, row))
    return found


# --- ranking --------------------------------------------------------------------------------


def _where(
    conn: sqlite3.Connection,
    grid: Record | None,
    category: Record | None,
    match: str | None,
) -> tuple[str, list[object]]:
    clauses: list[str] = []
    params: list[object] = []
    if grid is not None:
        clauses.append("p.id IN (SELECT package_id FROM grid_packages WHERE grid_id = ?)")
        params.append(grid["id"])
    if category is not None:
        clauses.append("p.category_id = ?")
        params.append(category["id"])
    if match:
        _register(conn)
        clauses.append("pkgharvest_match(p.title, p.slug, p.repo_description, ?)")
        params.append(match.casefold())
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


def count_selected(
    conn: sqlite3.Connection,
    *,
    grid: Record | None = None,
    category: Record | None = None,
    match: str | None = None,
) -> int:
    where, params = _where(conn, grid, category, match)
    return int(conn.execute(f"SELECT count(*) FROM packages AS p{where}", params).fetchone()[0])


def ranked(
    conn: sqlite3.Connection,
    by: SortKey,
    *,
    reverse: bool = False,
    grid: Record | None = None,
    category: Record | None = None,
    match: str | None = None,
    limit: int = 0,
    fields: tuple[str, ...] | None = None,
) -> Iterator[Record]:
    """Packages, largest (or newest) first, unknown last, ties by slug; `limit` 0 means all;
    `fields` picks the record fields to rebuild (default: all). Rows stream from the cursor."""
    where, params = _where(conn, grid, category, match)
    value = _ORDER_VALUE[by]
    direction = "ASC" if reverse else "DESC"
    names = fields or COLUMNS[Kind.PACKAGE]
    sql = (
        f"SELECT {_columns(names, 'p')} FROM packages AS p{where}"
        f" ORDER BY {value} IS NULL, {value} {direction}, p.slug"
    )
    if limit:
        sql += " LIMIT ?"
        params.append(limit)
    for row in _rows(conn, sql, params):
        yield _record(names, row)


def export_records(
    conn: sqlite3.Connection,
    *,
    grid: Record | None = None,
    category: Record | None = None,
    match: str | None = None,
) -> Iterator[Record]:
    """`export`: whole records, by slug then id; streamed from the cursor."""
    where, params = _where(conn, grid, category, match)
    names = COLUMNS[Kind.PACKAGE]
    sql = f"SELECT {_columns(names, 'p')} FROM packages AS p{where} ORDER BY p.slug, p.id"
    for row in _rows(conn, sql, params):
        yield _record(names, row)


# --- grids and categories -------------------------------------------------------------------


def group_summaries(
    conn: sqlite3.Connection,
    kind: Kind,
    order: GroupOrder,
    fields: tuple[str, ...] | None = None,
) -> list[GroupSummary]:
    """Every grid (or category) with its package count and total stars, in `order`.

    fields: the record fields to rebuild (default: all); a grid's package list is most of the
    decoding work and no view of summaries shows it.
    """
    table = kind.value
    # Both sums read packages through their `stars` index (it holds the id too), never the
    # wide table rows, which a lookup per membership would read. CROSS JOIN keeps SQLite from
    # reordering that; NOT INDEXED has the categories read as a scan rather than through the
    # category index with a row lookup each (docs/benchmarks.md has the query plans' times).
    if kind is Kind.GRID:
        counted = (
            "SELECT gp.grid_id AS group_id, count(*) AS n, coalesce(sum(p.stars), 0) AS stars"
            " FROM packages AS p CROSS JOIN grid_packages AS gp ON gp.package_id = p.id"
            " GROUP BY gp.grid_id"
        )
    else:
        counted = (
            "SELECT p.category_id AS group_id, count(*) AS n, coalesce(sum(p.stars), 0) AS stars"
            " FROM packages AS p NOT INDEXED WHERE p.category_id IS NOT NULL"
            " GROUP BY p.category_id"
        )
    ordering = {
        GroupOrder.NAME: "g.slug",
        GroupOrder.PACKAGES: "coalesce(c.n, 0) DESC, g.slug",
        GroupOrder.STARS: "coalesce(c.stars, 0) DESC, g.slug",
    }[order]
    names = fields or COLUMNS[kind]
    sql = (
        f"SELECT {_columns(names, 'g')}, coalesce(c.n, 0), coalesce(c.stars, 0)"
        f" FROM {table} AS g LEFT JOIN ({counted}) AS c ON c.group_id = g.id"
        f" ORDER BY {ordering}"
    )
    width = len(names)
    return [
        GroupSummary(_record(names, row[:width]), _count(row[width]), _count(row[width + 1]))
        for row in _rows(conn, sql)
    ]


def _count(value: object) -> int:
    if type(value) is not int:  # a sum over stars of the wrong type (text adds up as 0.0)
        from pkgharvest.catalogue.values import wrong_type

        raise wrong_type("stars")
    return value
