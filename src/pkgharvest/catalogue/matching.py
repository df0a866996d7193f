"""Matching a project's dependencies to catalogue packages, and what `deps` reads about them:
their records, the alternatives in their grids, their star history.

The catalogue says a package's PyPI name only inside `pypi_url`, in several forms; to look
30,000 of them up fast, the names are kept in the `package_names` table, normalized (PEP 503):
each package's PyPI name, the repository its `repo_url` names (`host/owner/name`) and its
slug. The sync that writes the packages keeps it current (nameindex.py); when it is not (a
database no sync has touched since it was made by an older pkgharvest) it is rebuilt here, and
where the database cannot be written (a read-only data folder) the same names are worked out
in memory instead.

Matching order (docs/deps.md): the PyPI name; then, for a VCS or archive requirement, its
repository; then the slug. Several packages claiming one name: the one with the most stars
(then the lowest id), and the match says which others claimed it.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from pkgharvest.catalogue import nameindex, write
from pkgharvest.catalogue.edge import CATALOGUE_NAME, rollback, translate
from pkgharvest.catalogue.nameindex import PYPI, REPOSITORY, SLUG
from pkgharvest.catalogue.queries import _record
from pkgharvest.project.model import Dependency
from pkgharvest.records import Record

_CHUNK = 500  # parameters per IN (...) list: far below SQLite's limit


@dataclass(frozen=True)
class Match:
    """A dependency's catalogue package.

    Attributes:
        package_id: the package.
        how: what matched: `pypi` (its PyPI name), `repository`, or `slug`.
        others: slugs of the other packages that claimed the same name (fewer stars).
    """

    package_id: int
    how: str
    others: tuple[str, ...] = ()


class NameIndex:
    """Name lookups against the catalogue: from `package_names` (made current here when no
    sync has kept it: nameindex.py) or, when the database cannot be written, from a dict built
    in memory.

    Attributes:
        rebuilt: whether this open had to work the names out (the index was not current).
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self._memory: dict[tuple[str, str], list[int]] | None = None
        self.rebuilt = False
        self._refresh()

    def _refresh(self) -> None:
        if nameindex.is_current(self.conn):
            return
        self.rebuilt = True
        try:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                if not nameindex.is_current(self.conn):  # a sync may have made it meanwhile
                    nameindex.rebuild(self.conn, write.stored_stamp(self.conn))
                self.conn.execute("COMMIT")
            except BaseException:
                rollback(self.conn)
                raise
        except sqlite3.OperationalError:  # read-only: the same lookups, in memory
            memory: dict[tuple[str, str], list[int]] = defaultdict(list)
            for kind, name, package_id in nameindex.all_rows(self.conn):
                memory[(kind, name)].append(package_id)
            self._memory = memory

    def lookup(self, kind: str, keys: Iterable[str]) -> dict[str, list[int]]:
        """name -> the ids of the packages claiming it, for every name of `keys` that has any."""
        wanted = sorted(set(keys))
        found: dict[str, list[int]] = defaultdict(list)
        if self._memory is not None:
            for key in wanted:
                ids = self._memory.get((kind, key))
                if ids:
                    found[key] = list(ids)
            return dict(found)
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            for name, package_id in self.conn.execute(
                f"SELECT name, package_id FROM package_names WHERE kind = ? AND name IN ({marks})",
                (kind, *chunk),
            ):
                found[name].append(package_id)
        return dict(found)


def match(conn: sqlite3.Connection, dependencies: Sequence[Dependency]) -> dict[str, Match]:
    """Each dependency's catalogue package, by normalized name (missing: not in the
    catalogue)."""
    try:
        index = NameIndex(conn)
        by_pypi = index.lookup(PYPI, (d.normalized for d in dependencies))
        by_repo = index.lookup(
            REPOSITORY, (str(d.repository) for d in dependencies if d.repository is not None)
        )
        by_slug = index.lookup(SLUG, (d.normalized for d in dependencies))
        claimed = {
            i for ids in (*by_pypi.values(), *by_repo.values(), *by_slug.values()) for i in ids
        }
        stars = _stars(conn, claimed)
    except sqlite3.Error as err:
        raise translate(err, CATALOGUE_NAME, "read") from None
    matches: dict[str, Match] = {}
    for dependency in dependencies:
        chosen = None
        for how, ids in (
            (PYPI, by_pypi.get(dependency.normalized)),
            (
                REPOSITORY,
                by_repo.get(str(dependency.repository)) if dependency.repository else None,
            ),
            (SLUG, by_slug.get(dependency.normalized)),
        ):
            if ids:
                ranked = sorted(set(ids), key=lambda i: (-(stars.get(i, (None, -1))[1] or -1), i))
                others = tuple(stars[i][0] for i in ranked[1:] if i in stars)
                chosen = Match(ranked[0], how, others)
                break
        if chosen is not None:
            matches[dependency.normalized] = chosen
    return matches


def _stars(conn: sqlite3.Connection, ids: Iterable[int]) -> dict[int, tuple[str, int | None]]:
    """id -> (slug, stars) of the packages `ids`."""
    found: dict[int, tuple[str, int | None]] = {}
    wanted = sorted(set(ids))
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        marks = ",".join("?" * len(chunk))
        for package_id, slug, stars in conn.execute(
            f"SELECT id, slug, stars FROM packages WHERE id IN ({marks})", chunk
        ):
            found[package_id] = (slug, stars if type(stars) is int else None)
    return found


DEPS_FIELDS: tuple[str, ...] = (
    "id",
    "slug",
    "stars",
    "commits_52w",
    "commits_52w_total",
    "last_commit",
    "last_fetched",
    "pypi_version",
    "pypi_url",
    "repo_url",
)
"""The record fields `deps` reads of a package: its judging, its row and its alternatives need
no more (and every other JSON column would cost decoding)."""

_RANKED = "p.stars IS NULL, p.stars DESC, p.slug"
"""judge.alternatives' ranking (stars, most first, unknown last; then slug), in SQL."""


def package_records(conn: sqlite3.Connection, ids: Iterable[int]) -> dict[int, Record]:
    """The records (DEPS_FIELDS) of the packages `ids`."""
    found: dict[int, Record] = {}
    wanted = sorted(set(ids))
    columns = ", ".join(DEPS_FIELDS)
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        marks = ",".join("?" * len(chunk))
        try:
            rows = conn.execute(
                f"SELECT {columns} FROM packages WHERE id IN ({marks})", chunk
            ).fetchall()
        except sqlite3.Error as err:
            raise translate(err, CATALOGUE_NAME, "read") from None
        for row in rows:
            record = _record(DEPS_FIELDS, row)
            found[int(record["id"])] = record
    return found


def star_histories(
    conn: sqlite3.Connection, ids: Iterable[int]
) -> dict[int, list[tuple[str, int]]]:
    """id -> (observed_at, stars) of every observation with known stars of each package `ids`
    that has one, in time order: reports.star_history's, for all the packages in one query
    (per 500) instead of one each."""
    found: dict[int, list[tuple[str, int]]] = defaultdict(list)
    wanted = sorted(set(ids))
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        marks = ",".join("?" * len(chunk))
        try:
            rows = conn.execute(
                "SELECT package_id, observed_at, stars FROM observations"
                f" WHERE package_id IN ({marks}) AND stars IS NOT NULL"
                " ORDER BY package_id, observed_at",
                chunk,
            ).fetchall()
        except sqlite3.Error as err:
            raise translate(err, CATALOGUE_NAME, "read") from None
        for package_id, observed_at, stars in rows:
            found[package_id].append((observed_at, stars))
    return dict(found)


def grid_peers(conn: sqlite3.Connection, package_id: int) -> Iterator[tuple[str, Record]]:
    """(grid slug, record) of every other package of the grids `package_id` is in, in
    judge.alternatives' ranking order, read as they are consumed (so that the three best
    active ones cost a few rows, not the whole grid). A package in several of those grids
    comes once per grid."""
    columns = ", ".join(f"p.{name}" for name in DEPS_FIELDS)
    try:
        cursor = conn.execute(
            f"SELECT g.slug, {columns} FROM grid_packages AS mine"
            " JOIN grid_packages AS other ON other.grid_id = mine.grid_id"
            " JOIN grids AS g ON g.id = mine.grid_id"
            " JOIN packages AS p ON p.id = other.package_id"
            f" WHERE mine.package_id = ? AND other.package_id != ? ORDER BY {_RANKED}, g.slug",
            (package_id, package_id),
        )
        for row in cursor:
            yield row[0], _record(DEPS_FIELDS, row[1:])
    except sqlite3.Error as err:
        raise translate(err, CATALOGUE_NAME, "read") from None
