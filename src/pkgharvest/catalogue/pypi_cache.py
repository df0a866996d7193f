"""PyPI answers kept in the catalogue database (`pypi_projects`, `pypi_releases`), per index
URL, so that a rerun and CI ask nothing (project/answers.py decides what is fresh).

Keeping is best effort: in a database that cannot be written (a read-only data folder) the
answers of the run are used and not kept, and `notice` says so once. No sqlite3 error leaves
this module.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import datetime

from pkgharvest.catalogue.edge import CATALOGUE_NAME, rollback, translate
from pkgharvest.project.answers import Kept, ReleaseKey
from pkgharvest.records import iso_utc, parse_timestamp

_CHUNK = 300


class PypiCache:
    """The kept answers of one index URL (answers.AnswerStore)."""

    def __init__(self, conn: sqlite3.Connection, index_url: str) -> None:
        self.conn = conn
        self.index_url = index_url
        self.notice: str | None = None

    def projects(self, names: Sequence[str]) -> dict[str, Kept]:
        found: dict[str, Kept] = {}
        for start in range(0, len(names), _CHUNK):
            chunk = list(names[start : start + _CHUNK])
            marks = ",".join("?" * len(chunk))
            for name, fetched_at, present, data in self._rows(
                "SELECT name, fetched_at, found, data FROM pypi_projects"
                f" WHERE index_url = ? AND name IN ({marks})",
                [self.index_url, *chunk],
            ):
                kept = _kept(fetched_at, present, data)
                if kept is not None and isinstance(name, str):
                    found[name] = kept
        return found

    def releases(self, keys: Sequence[ReleaseKey]) -> dict[ReleaseKey, Kept]:
        found: dict[ReleaseKey, Kept] = {}
        for name, version in keys:
            for fetched_at, present, data in self._rows(
                "SELECT fetched_at, found, data FROM pypi_releases"
                " WHERE index_url = ? AND name = ? AND version = ?",
                [self.index_url, name, version],
            ):
                kept = _kept(fetched_at, present, data)
                if kept is not None:
                    found[(name, version)] = kept
        return found

    def keep(self, projects: dict[str, Kept], releases: dict[ReleaseKey, Kept]) -> None:
        if self.notice is not None:
            return
        try:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                self.conn.executemany(
                    "INSERT OR REPLACE INTO pypi_projects (index_url, name, fetched_at, found,"
                    " data) VALUES (?, ?, ?, ?, ?)",
                    [
                        (self.index_url, name, *_columns(kept))
                        for name, kept in sorted(projects.items())
                    ],
                )
                self.conn.executemany(
                    "INSERT OR REPLACE INTO pypi_releases (index_url, name, version, fetched_at,"
                    " found, data) VALUES (?, ?, ?, ?, ?, ?)",
                    [
                        (self.index_url, name, version, *_columns(kept))
                        for (name, version), kept in sorted(releases.items())
                    ],
                )
                self.conn.execute("COMMIT")
            except BaseException:
                rollback(self.conn)
                raise
        except sqlite3.Error as err:
            self.notice = f"PyPI answers not kept for next time ({err})"

    def _rows(self, sql: str, params: list[object]) -> list[tuple[object, ...]]:
        try:
            return self.conn.execute(sql, params).fetchall()
        except sqlite3.Error as err:
            raise translate(err, CATALOGUE_NAME, "read") from None


def _columns(kept: Kept) -> tuple[str, int, str | None]:
    data = None if kept.data is None else json.dumps(kept.data, separators=(",", ":"))
    return iso_utc(kept.fetched_at), int(kept.found), data


def _kept(fetched_at: object, present: object, data: object) -> Kept | None:
    """A row as Kept; None for a row that is unreadable (it is asked again)."""
    moment: datetime | None = parse_timestamp(fetched_at)
    if moment is None:
        return None
    if not present:
        return Kept(False, None, moment)
    try:
        value = json.loads(data) if isinstance(data, str) else None
    except (ValueError, RecursionError):
        return None
    return Kept(True, value, moment) if isinstance(value, dict) else None
