"""What the reading commands read: one path, through a catalogue database.

`open_reader(root)` checks the mirror (its manifest, at least one package: NoMirror otherwise)
and picks the catalogue to read, saying in one line on stderr whenever it is not simply the
data folder's database in step with the mirror:

1. the folder's database, when it agrees with the manifest (the common case: nothing written);
2. else, where this user may write the folder and no fetch is committing, that database
   brought up to date: built when missing, moved aside and rebuilt when damaged, caught up when
   behind (waiting a bounded time for another process's write lock);
3. else, while a fetch is committing, the folder's database as it is: the catalogue as it was
   before that run, never a mix of the two;
4. else a private copy built from the record files outside the data folder (a read-only or
   another user's folder, a database locked too long or refused by the file rules).

History (`trends`, `changes`, `export --history`, the star history of `show`) is read from the
folder's database even when it is behind or read-only; where there is none it can read, the
history commands say why and fail.

A query that meets damage (SQLite's, or a value of the wrong type) has the database moved aside
and rebuilt (or a private copy read) and runs again, once: the command prints its output from
the repaired catalogue. A stream (`top --json`, `export`) that has already handed out rows
raises CatalogueRepaired; the command writes through a spool (cli/common.spooled), which runs it
again, so the output is whole.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pkgharvest.catalogue import (
    DEFAULT_WAIT,
    Catalogue,
    Wait,
    committing,
    open_as_is,
    open_catalogue,
    open_private,
    queries,
    unchanged_since,
)
from pkgharvest.catalogue.edge import may_write, translated
from pkgharvest.errors import (
    CatalogueDamaged,
    CatalogueError,
    CatalogueLocked,
    CatalogueNoSpace,
    CatalogueRepaired,
    CatalogueUnsafe,
    CatalogueUnwritable,
    PkgHarvestError,
)
from pkgharvest.records import Kind, Record
from pkgharvest.store.mirror import GroupOrder, GroupSummary, Mirror, SortKey, open_mirror

T = TypeVar("T")
Say = Callable[[str], None]


def _quiet(line: str) -> None:
    """The default: notices go nowhere."""


@dataclass
class Reader:
    """The catalogue a reading command reads, and the history it may show.

    Attributes:
        root: the data folder.
        mirror: its manifest.
        catalogue: what the catalogue queries read (the folder's database, or a private copy).
        history_db: the folder's database for history (`catalogue` itself when that is it),
            or None when there is none this command can read.
        history_error: why there is none.
        wait: how long to wait for another process's write lock.
        say: where one-line notices go (stderr).
    """

    root: Path
    mirror: Mirror
    catalogue: Catalogue
    history_db: Catalogue | None
    history_error: PkgHarvestError | None
    wait: Wait
    say: Say

    @property
    def conn(self) -> sqlite3.Connection:
        return self.catalogue.conn

    # --- the catalogue --------------------------------------------------------------------

    def find(self, kind: Kind, key: str) -> Record:
        return self._call(queries.find, kind, key)

    def package_count(self) -> int:
        return self._call(queries.package_count)

    def count_selected(
        self, *, grid: Record | None, category: Record | None, match: str | None
    ) -> int:
        return self._call(queries.count_selected, grid=grid, category=category, match=match)

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
    ) -> list[Record]:
        """Packages ranked by `by` (see queries.ranked), as a list."""

        def rows(conn: sqlite3.Connection) -> list[Record]:
            return list(
                queries.ranked(
                    conn,
                    by,
                    reverse=reverse,
                    grid=grid,
                    category=category,
                    match=match,
                    limit=limit,
                    fields=fields,
                )
            )

        return self._call(rows)

    def stream_ranked(
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
        """`ranked`, streamed from the cursor (`top --json`: the whole catalogue, one row at a
        time)."""
        return self._stream(
            lambda conn: queries.ranked(
                conn,
                by,
                reverse=reverse,
                grid=grid,
                category=category,
                match=match,
                limit=limit,
                fields=fields,
            )
        )

    def export_records(
        self, *, grid: Record | None, category: Record | None, match: str | None
    ) -> Iterator[Record]:
        """`export`: whole records by slug, streamed."""
        return self._stream(
            lambda conn: queries.export_records(conn, grid=grid, category=category, match=match)
        )

    def group_summaries(
        self, kind: Kind, order: GroupOrder, fields: tuple[str, ...] | None = None
    ) -> list[GroupSummary]:
        """fields: the record fields wanted (default: all)."""
        return self._call(queries.group_summaries, kind, order, fields)

    # --- history ---------------------------------------------------------------------------

    def history(self, package_id: int) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
        """(observed_at, stars) of every observation, and the stitched (week_start, commits);
        none where there is no history to read."""
        from pkgharvest.catalogue import reports

        if self.history_db is None:
            return [], []
        try:
            return self.history_call(
                lambda conn: (
                    reports.star_history(conn, package_id),
                    reports.stitched_weeks(conn, package_id),
                )
            )
        except (CatalogueDamaged, CatalogueLocked, CatalogueUnwritable, CatalogueUnsafe):
            return [], []  # damaged beyond what this command may repair: said already

    def require_history(self) -> None:
        """Raise the reason there is no history to read (its own exit code), if there is none."""
        self._target(on_history=True)

    def call(self, query: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """`query(conn, ...)` on the catalogue, through the database's edge (a damaged
        database repaired and the query run again)."""
        return self._call(query, *args, **kwargs)

    def history_call(self, query: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """`query(conn, *args, **kwargs)` on the folder's database (for `reports`); the
        reason there is none, raised, when there is none."""
        return self._call(query, *args, on_history=True, **kwargs)

    def history_stream(self, query: Callable[..., Any], *args: Any) -> Iterator[Any]:
        """`history_call` for a query that returns a cursor (rows streamed)."""
        return self._stream(lambda conn: iter(query(conn, *args)), on_history=True)

    def close(self) -> None:
        self.catalogue.close()
        if self.history_db is not None and self.history_db is not self.catalogue:
            self.history_db.close()

    # --- damage: repaired once, in the middle of a command -----------------------------------

    def _target(self, on_history: bool) -> Catalogue:
        if not on_history:
            return self.catalogue
        if self.history_db is None:
            err = self.history_error or CatalogueUnwritable("there is no catalogue database")
            raise type(err)(f"history needs the catalogue database: {err}")
        return self.history_db

    def _call(
        self, query: Callable[..., T], *args: Any, on_history: bool = False, **kwargs: Any
    ) -> T:
        for attempt in (1, 2):
            target = self._target(on_history)
            try:
                with translated(target.path, "read"):
                    return query(target.conn, *args, **kwargs)
            except CatalogueDamaged as damage:
                if attempt == 2 or target.private:
                    raise
                self._repair(target, damage)
        raise AssertionError("unreachable")

    def _stream(
        self, query: Callable[[sqlite3.Connection], Iterator[T]], *, on_history: bool = False
    ) -> Iterator[T]:
        for attempt in (1, 2):
            target = self._target(on_history)
            started = False
            try:
                with translated(target.path, "read"):
                    for item in query(target.conn):
                        started = True
                        yield item
                return
            except CatalogueDamaged as damage:
                if attempt == 2 or target.private:
                    raise
                self._repair(target, damage)
                if started:
                    raise CatalogueRepaired(
                        f"{damage}; it was repaired, but this output is incomplete: "
                        "run the command again"
                    ) from None

    def _repair(self, damaged: Catalogue, damage: CatalogueDamaged) -> None:
        """Replace the damaged database: rebuilt where this command may (and say so), else a
        private copy for the catalogue and no history."""
        shared = damaged is self.catalogue
        damaged.close()
        damage.file_id = damaged.file_id  # type: ignore[attr-defined]
        root, manifest, stamp = self.root, self.mirror.manifest, self.mirror.stamp
        if may_write(root) and not committing(root):
            try:
                rebuilt = open_catalogue(
                    root,
                    wait=self.wait,
                    damaged=damage,
                    before_commit=unchanged_since(root, stamp),
                )
            except (CatalogueLocked, CatalogueUnwritable, CatalogueUnsafe) as err:
                if isinstance(err, CatalogueNoSpace):
                    raise
                reason: PkgHarvestError = err
            else:
                if rebuilt.notice:
                    self.say(rebuilt.notice)
                if not shared:
                    self.catalogue.close()  # the private copy the rebuilt database replaces
                self.catalogue = self.history_db = rebuilt
                self.history_error = None
                return
        else:
            reason = damage
        self.history_db, self.history_error = None, reason
        if shared:
            self.catalogue = open_private(root, manifest, stamp, wait=self.wait)
            said = f"{damage}; reading a private copy built from the JSON files"
            self.say(said if self.catalogue.notice is None else f"{said}; {self.catalogue.notice}")


# --- choosing what to read -------------------------------------------------------------------


def open_reader(
    root: Path, *, wait: Wait = DEFAULT_WAIT, say: Say = _quiet, history: bool = False
) -> Reader:
    """The mirror in `root` and the catalogue to read it through (see the module docs).
    `history`: a history command, which reads the folder's database even when it is behind,
    and never a private copy (which has no history): the reason there is none is raised."""
    mirror = open_mirror(root)
    catalogue, history_db, error = _choose(mirror, wait, say, history=history)
    return Reader(mirror.root, mirror, catalogue, history_db, error, wait, say)


def _as_is(mirror: Mirror) -> tuple[Catalogue | None, PkgHarvestError | None]:
    """The folder's database as it is, or why it cannot be read (None: there is none). A newer
    schema and a disk too full to open it safely are raised: every command stops on those."""
    try:
        return open_as_is(mirror.root, mirror.manifest, mirror.stamp), None
    except FileNotFoundError:
        return None, None
    except CatalogueNoSpace:
        raise
    except CatalogueError as err:
        if type(err) is CatalogueError:  # a newer schema
            raise
        return None, err
    except (CatalogueLocked, CatalogueUnwritable) as err:
        return None, err


def _choose(
    mirror: Mirror, wait: Wait, say: Say, *, history: bool
) -> tuple[Catalogue, Catalogue | None, PkgHarvestError | None]:
    """(what the queries read, the database history is read from, why there is none)."""
    root = mirror.root
    found, problem = _as_is(mirror)
    if found is not None and found.in_step:
        if found.notice:  # record files the last sync left out
            say(found.notice)
        return found, found, None
    busy = committing(root)
    writable = may_write(root)
    if writable and not busy and not isinstance(problem, CatalogueUnsafe):
        if found is not None:
            found.close()  # the writer opens it again (never two opens of one file at once)
        damaged = problem if isinstance(problem, CatalogueDamaged) else None
        try:
            updated = open_catalogue(
                root,
                wait=wait,
                damaged=damaged,
                before_commit=unchanged_since(root, mirror.stamp),
            )
        except CatalogueNoSpace:
            raise
        except (CatalogueLocked, CatalogueUnwritable, CatalogueUnsafe) as err:
            problem = err
            if not isinstance(err, CatalogueUnsafe):
                found, _ = _as_is(mirror)
        else:
            if updated.notice:
                say(updated.notice)
            return updated, updated, None
    if found is not None and busy:
        say(
            f"a fetch is updating the mirror in {root}: showing the catalogue as it was "
            "before that run"
        )
        return found, found, None
    why = _why(root, found, problem, writable)
    if history:
        if found is None:
            reason = problem or CatalogueUnwritable(why)
            raise type(reason)(f"history needs the catalogue database: {reason}")
        say(f"{why}: its history is shown as of its last update")
        return found, found, None
    private = open_private(root, mirror.manifest, mirror.stamp, wait=wait)
    said = f"{why}: reading a private copy built from the JSON files"
    if found is not None:
        said += "; history as of the database's last update"
    say(said if private.notice is None else f"{said}; {private.notice}")
    return private, found, problem or CatalogueUnwritable(why)


def _why(
    root: Path, found: Catalogue | None, problem: PkgHarvestError | None, writable: bool
) -> str:
    """Why the folder's database is not what this command reads, in words."""
    if found is None and problem is not None:
        return str(problem)  # unsafe, damaged, locked, or cannot be built here
    what = (
        f"the catalogue database {found.path} is behind the mirror"
        if found is not None
        else f"there is no catalogue database in {root}"
    )
    if problem is not None:
        return f"{what} and cannot be updated ({problem})"
    if not writable:
        return f"{what} and this user may not write the folder"
    return what
