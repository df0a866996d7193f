"""The name index `deps` matches against (`package_names`): each package's PyPI name (from its
`pypi_url`), the repository its `repo_url` names (`host/owner/name`) and its slug, normalized
(PEP 503).

The sync that writes packages into the database keeps the index along, in the same
transaction: the names of the packages it writes or removes, and nothing else. So the index
and the packages commit together, and a kill at any moment leaves both as they were or both
new. `catalogue_meta` 'package_names_manifest' says which mirror the index was made for: equal
to the database's own 'manifest_sha256', it is current. A database whose index is not current
when a sync begins (one built before the index was kept by the sync, or by a version that
never kept it) has it rebuilt whole by that sync, and `deps` (matching.NameIndex) rebuilds it
when no sync has run since.

Light to import: the name rules (project/names.py, with `packaging`) load only when names are
worked out, so the reading commands' start-up does not pay for them.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from typing import Any

NAMES_STAMP_KEY = "package_names_manifest"

PYPI, REPOSITORY, SLUG = "pypi", "repository", "slug"

NameRow = tuple[str, str, int]
"""(kind, normalized name, package id): one row of `package_names`."""

PackageNames = tuple[Any, Any, Any, Any]
"""(id, slug, pypi_url, repo_url) of a package, as its `packages` row holds them."""


def name_rows(packages: Iterable[PackageNames]) -> Iterator[NameRow]:
    """The `package_names` rows of (id, slug, pypi_url, repo_url) rows."""
    from pkgharvest.project import names

    for package_id, slug, pypi_url, repo_url in packages:
        if type(package_id) is not int:
            continue
        pypi = names.pypi_name(pypi_url)
        if pypi is not None:
            yield PYPI, pypi, package_id
        repository = names.repository(repo_url) if repo_url else None
        if repository is not None:
            yield REPOSITORY, str(repository), package_id
        if isinstance(slug, str) and names.is_valid_name(slug):
            yield SLUG, names.normalize(slug), package_id


def _stamps(conn: sqlite3.Connection) -> tuple[str | None, str | None]:
    """(the index's stamp, the database's manifest stamp), None where absent."""
    found = dict(
        conn.execute(
            "SELECT key, value FROM catalogue_meta WHERE key IN (?, 'manifest_sha256')",
            (NAMES_STAMP_KEY,),
        ).fetchall()
    )
    return found.get(NAMES_STAMP_KEY), found.get("manifest_sha256")


def is_current(conn: sqlite3.Connection) -> bool:
    """Whether `package_names` holds exactly the names of the `packages` rows."""
    made_for, stamp = _stamps(conn)
    if made_for is not None:
        return made_for == (stamp or "")
    # Never made: current only while there is nothing to name (a new database).
    return (
        conn.execute("SELECT 1 FROM packages LIMIT 1").fetchone() is None
        and conn.execute("SELECT 1 FROM package_names LIMIT 1").fetchone() is None
    )


def all_rows(conn: sqlite3.Connection) -> list[NameRow]:
    """The index as the packages rows make it."""
    return list(name_rows(conn.execute("SELECT id, slug, pypi_url, repo_url FROM packages")))


def rebuild(conn: sqlite3.Connection, stamp: str | None) -> None:
    """Replace the index with the names of every package, made for the mirror `stamp`
    (inside the caller's write transaction)."""
    rows = all_rows(conn)
    conn.execute("DELETE FROM package_names")
    conn.executemany(
        "INSERT OR IGNORE INTO package_names (kind, name, package_id) VALUES (?, ?, ?)", rows
    )
    mark_current(conn, stamp)


def mark_current(conn: sqlite3.Connection, stamp: str | None) -> None:
    """Say the index is made for the mirror `stamp` (inside the caller's transaction)."""
    conn.execute(
        "INSERT OR REPLACE INTO catalogue_meta (key, value) VALUES (?, ?)",
        (NAMES_STAMP_KEY, stamp or ""),
    )


def update(
    conn: sqlite3.Connection, before: Iterable[PackageNames], after: Iterable[PackageNames]
) -> None:
    """Bring the index from the packages rows `before` to `after` (the same packages, as the
    sync found and leaves them; a removed package is in `before` only): only the names that
    differ are written."""
    earlier = {package[0]: package for package in before}
    later = {package[0]: package for package in after}
    # A package whose slug, pypi_url and repo_url are as they were keeps its names: most
    # packages a rerun rewrites changed only their numbers.
    old = set(name_rows(p for key, p in earlier.items() if later.get(key) != p))
    new = set(name_rows(p for key, p in later.items() if earlier.get(key) != p))
    if old != new:
        conn.executemany(
            "DELETE FROM package_names WHERE kind = ? AND name = ? AND package_id = ?",
            sorted(old - new),
        )
        conn.executemany(
            "INSERT OR IGNORE INTO package_names (kind, name, package_id) VALUES (?, ?, ?)",
            sorted(new - old),
        )
