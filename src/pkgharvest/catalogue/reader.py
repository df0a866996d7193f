"""What the reading commands read from: the catalogue database, or the JSON files.

`open_reader(root)` checks the mirror (its manifest, at least one package: NoMirror otherwise),
brings the catalogue database up to date and answers from SQL (`DatabaseReader`). When the
database cannot be used at all (a read-only data folder whose database is missing or behind),
it says so in one line and reads the JSON files instead (`FileReader`, the reader of earlier
versions): slower, the same rows. Both have the same methods, so a command does not care.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pkgharvest.catalogue import Catalogue, open_catalogue, queries
from pkgharvest.errors import StoreWriteError
from pkgharvest.records import Kind, Record, category_ref
from pkgharvest.store import mirror as files
from pkgharvest.store.mirror import GroupOrder, GroupSummary, Mirror, SortKey


@dataclass
class DatabaseReader:
    """Answers from the catalogue database."""

    mirror: Mirror
    catalogue: Catalogue
    notices: list[str] = field(default_factory=list)

    @property
    def conn(self) -> sqlite3.Connection:
        return self.catalogue.conn

    def find(self, kind: Kind, key: str) -> Record:
        return queries.find(self.conn, kind, key)

    def package_count(self) -> int:
        return queries.package_count(self.conn)

    def count_selected(
        self, *, grid: Record | None, category: Record | None, match: str | None
    ) -> int:
        return queries.count_selected(self.conn, grid=grid, category=category, match=match)

    def ranked(
        self,
        by: SortKey,
        *,
        reverse: bool = False,
        grid: Record | None = None,
        category: Record | None = None,
        match: str | None = None,
        limit: int = 0,
        fields: tuple[str, ...] | None = None,
    ) -> Iterator[Record]:
        return queries.ranked(
            self.conn,
            by,
            reverse=reverse,
            grid=grid,
            category=category,
            match=match,
            limit=limit,
            fields=fields,
        )

    def group_summaries(
        self, kind: Kind, order: GroupOrder, fields: tuple[str, ...] | None = None
    ) -> list[GroupSummary]:
        """fields: the record fields wanted (default: all)."""
        return queries.group_summaries(self.conn, kind, order, fields)

    def history(self, package_id: int) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
        """(observed_at, stars) of every observation, and the stitched (week_start, commits)."""
        from pkgharvest.catalogue import reports

        return (
            reports.star_history(self.conn, package_id),
            reports.stitched_weeks(self.conn, package_id),
        )

    def close(self) -> None:
        self.catalogue.close()


@dataclass
class FileReader:
    """Answers from the JSON files (every record is parsed)."""

    mirror: Mirror
    notices: list[str] = field(default_factory=list)

    def find(self, kind: Kind, key: str) -> Record:
        return self.mirror.find(kind, key)

    def package_count(self) -> int:
        return len(self.mirror.packages())

    def _selected(
        self, grid: Record | None, category: Record | None, match: str | None
    ) -> list[Record]:
        packages = files.grid_members(self.mirror, grid) if grid else self.mirror.packages()
        if category is not None:
            packages = [
                p
                for p in packages
                if (ref := category_ref(p)) is not None and ref["id"] == category["id"]
            ]
        if match:
            packages = [p for p in packages if files.matches_text(p, match)]
        return packages

    def count_selected(
        self, *, grid: Record | None, category: Record | None, match: str | None
    ) -> int:
        return len(self._selected(grid, category, match))

    def ranked(
        self,
        by: SortKey,
        *,
        reverse: bool = False,
        grid: Record | None = None,
        category: Record | None = None,
        match: str | None = None,
        limit: int = 0,
        fields: tuple[str, ...] | None = None,
    ) -> Iterator[Record]:
        ranked = files.rank(self._selected(grid, category, match), by, reverse=reverse)
        return iter(ranked[:limit] if limit else ranked)

    def group_summaries(
        self, kind: Kind, order: GroupOrder, fields: tuple[str, ...] | None = None
    ) -> list[GroupSummary]:
        """Whole records whatever `fields` asks for: they are parsed whole anyway."""
        return files.summarize_groups(self.mirror, kind, order)

    def export_records(
        self, *, grid: Record | None, category: Record | None, match: str | None
    ) -> Iterator[Record]:
        selected = self._selected(grid, category, match)
        return iter(sorted(selected, key=lambda r: (str(r.get("slug")), r.get("id"))))

    def history(self, package_id: int) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
        return [], []  # the files hold the present only

    def close(self) -> None:
        pass


Reader = DatabaseReader | FileReader


def open_reader(root: Path, *, database: bool = True) -> Reader:
    """The mirror in `root`, read through its catalogue database when it can be used."""
    mirror = files.open_mirror(root)
    if not database:
        return FileReader(mirror)
    try:
        catalogue = open_catalogue(root)
    except StoreWriteError as err:
        return FileReader(mirror, [f"{err}; reading the JSON files instead"])
    notices = [catalogue.notice] if catalogue.notice else []
    return DatabaseReader(mirror, catalogue, notices)
