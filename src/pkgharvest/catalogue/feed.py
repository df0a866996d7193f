"""The catalogue database during a fetch: opened once, fed by the run, finished after its commit.

A fetch enters the database twice, in this order, and nowhere else:

1. `RunFeed.open(root)`, under the data folder's lock once the store is open (a commit a dead
   run began is finished by then): the database is created, migrated, or caught up with the
   mirror as it is before this run (so a crashed run's changes stay its own), and SQLite's
   integrity check runs on the whole file (a damaged one is moved aside and rebuilt). A database
   of a newer schema, or one the file rules refuse, stops the fetch before any request
   (CatalogueError, CatalogueUnsafe: exit 65), and so does a disk too full to open it
   (CatalogueNoSpace, 73); one locked by another program or not writable is fed nothing (the
   run syncs it after its commit, or says it was not updated). Then the feed's write
   transaction begins (write.Feed).
2. The store hands every record it stages to `staged` (the transaction's `StagedRecords`), and
   `finish` follows the JSON commit: the fed files are confirmed, not read; the run is recorded;
   its changes come back for the summary.

The database is never allowed to fail a fetch once it has fetched: a feed that cannot go on
(a record staged twice, a database error) is rolled back, and `finish` syncs the database from
the files as a catch-up does; if even that fails, `finish` returns the one-line problem and
the next command catches up.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from pkgharvest.catalogue import (
    DEFAULT_WAIT,
    NO_MANIFEST_STAMP,
    Catalogue,
    Wait,
    _manifest,
    after_commit,
    catalogue_path,
    open_catalogue,
    write,
)
from pkgharvest.catalogue.edge import room_to_read
from pkgharvest.errors import (
    CatalogueLocked,
    CatalogueNoSpace,
    CatalogueUnwritable,
    FeedMismatch,
    PkgHarvestError,
)
from pkgharvest.records import Kind, Record
from pkgharvest.store.manifest import MANIFEST_NAME
from pkgharvest.store.owner import CREATOR, Owner


@dataclass(frozen=True)
class FeedOutcome:
    """What `finish` did: the run's changes (a reports.ChangeReport; None when they could not
    be read), the one-line problem when the database was not updated, whether the records went
    in as fed (False: synced from the files), and one line when the database had to be
    repaired (moved aside and rebuilt)."""

    changes: Any
    problem: str | None
    fed: bool
    notice: str | None = None


class RunFeed:
    """The catalogue database of one fetch (see the module docs)."""

    def __init__(
        self,
        root: Path,
        catalogue: Catalogue | None,
        feed: write.Feed | None,
        *,
        created: bool = False,
        wait: Wait = DEFAULT_WAIT,
        notice: str | None = None,
        owner: Owner = CREATOR,
    ) -> None:
        self.root = root
        self.notice = catalogue.notice if catalogue is not None else notice
        self.repaired = catalogue is not None and catalogue.repaired
        """The open moved a damaged database aside and rebuilt it (said even under --quiet)."""
        self._catalogue = catalogue
        self._feed = feed
        self._created = created  # this open made the database file (a first fetch)
        self._wait = wait
        self._owner = owner

    @classmethod
    def open(
        cls,
        root: Path,
        *,
        wait: Wait = DEFAULT_WAIT,
        owner: Owner = CREATOR,
        started: datetime | None = None,
    ) -> RunFeed:
        """The database, up to date with the mirror before the run and checked whole, its feed
        begun (none when the database cannot be written now: the run then syncs it from the
        files after its commit). `started`: the run's start, as its manifest will say (it
        dates a change the service did not). CatalogueError for a database of a newer schema,
        CatalogueUnsafe for one the file rules refuse, CatalogueNoSpace for a disk too full to
        open it; the run stops on those before any request. `owner`: the store's
        (store/owner.py): root updates another user's database as that user's own run would,
        every file it creates given to that user."""
        root = Path(root)
        created = not os.path.lexists(catalogue_path(root))
        try:
            catalogue = open_catalogue(root, wait=wait, locked=True, check=True, owner=owner)
        except CatalogueNoSpace:
            raise
        except (CatalogueLocked, CatalogueUnwritable) as err:
            said = f"the catalogue database could not be caught up before the run: {err}"
            if isinstance(err, CatalogueLocked):
                # The run has waited for that lock once: after its commit it tries again
                # without waiting, so the lock costs a fetch one wait, not two.
                wait = dataclasses.replace(wait, seconds=0.0)
            return cls(root, None, None, created=created, wait=wait, notice=said, owner=owner)
        try:
            # A database that has only seen an empty folder knows no state before this run:
            # its first records record no changes (a "rebuild", like a database built later).
            baseline = write.stored_stamp(catalogue.conn) in (None, NO_MANIFEST_STAMP)
            feed = write.Feed(catalogue.conn, baseline=baseline, started=started)
        except sqlite3.Error:  # read-only, or another program holds the write lock
            feed = None
        return cls(root, catalogue, feed, created=created, wait=wait, owner=owner)

    @property
    def feeding(self) -> bool:
        return self._feed is not None

    # --- the store's hand-over (store.transaction.StagedRecords) ------------------------------

    def staged(self, kind: Kind, name: str, record: Record, info: os.stat_result) -> None:
        if self._feed is None:
            return
        try:
            self._feed.add(kind, name, record, (info.st_ino, info.st_mtime_ns, info.st_size))
        except (FeedMismatch, sqlite3.Error):
            self._stop_feeding()

    def withdrawn(self, kind: Kind, record_id: int) -> None:
        if self._feed is None:
            return
        try:
            self._feed.withdraw(kind, record_id)
        except FeedMismatch:
            self._stop_feeding()

    def _stop_feeding(self) -> None:
        if self._feed is not None:
            self._feed.rollback()
            self._feed = None

    # --- after the JSON commit ----------------------------------------------------------------

    def finish(self, id_hints: write.IdHints | None = None) -> FeedOutcome:
        """Bring the database in line with the committed mirror (`id_hints`: the ids of the
        files the run wrote, for a sync from the files); never raises for the database. A run
        that leaves the disk too full for a command to open the database says so as its
        problem: every reading command would stop (exit 73) until there is room."""
        outcome = self._finish(id_hints)
        if outcome.problem is None and (full := room_to_read(self.root)) is not None:
            return dataclasses.replace(
                outcome,
                problem=f"the catalogue database was updated, but {full}; until then every "
                "reading command stops",
            )
        return outcome

    def _finish(self, id_hints: write.IdHints | None) -> FeedOutcome:
        feed = self._feed
        try:
            if feed is not None and self._catalogue is not None:
                conn = self._catalogue.conn
                try:
                    manifest, stamp = _manifest(self.root)
                    write.sync(
                        conn,
                        self.root,
                        manifest,
                        stamp,
                        baseline=feed.baseline,
                        read_record=_read_record,
                        id_hints=id_hints,
                        feed=feed,
                    )
                    return FeedOutcome(_changes(conn, feed.run_id), None, True)
                except (FeedMismatch, sqlite3.Error, OSError, PkgHarvestError):
                    feed.rollback()  # and sync from the files, below
        finally:
            self.close()
        outcome = after_commit(
            self.root, id_hints=id_hints, wait=self._wait, locked=True, owner=self._owner
        )
        if outcome.problem is not None:
            return FeedOutcome(None, outcome.problem, False)
        return FeedOutcome(_run_changes(self.root), None, False, outcome.notice)

    def close(self) -> None:
        """Let the database go (what was fed and not finished is rolled back). A database this
        run created in a folder that still has no mirror (the run never committed) goes too:
        a failed first fetch leaves nothing behind."""
        if self._feed is not None:
            self._feed.rollback()
            self._feed = None
        if self._catalogue is not None:
            self._catalogue.close()
            self._catalogue = None
        if self._created and not (self.root / MANIFEST_NAME).exists():
            self._created = False
            path = catalogue_path(self.root)
            for name in (path.name, path.name + "-wal", path.name + "-shm"):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path.with_name(name))


def _read_record(path: str) -> Record | None:
    from pkgharvest.store.mirror import read_record_file

    return read_record_file(path)


def _changes(conn: sqlite3.Connection, run_id: int) -> Any:
    from pkgharvest.catalogue import reports

    try:
        return reports.change_report(conn, run_id=run_id)
    except sqlite3.Error:
        return None


def _run_changes(root: Path) -> Any:
    from pkgharvest.catalogue import run_changes

    try:
        return run_changes(root)
    except (PkgHarvestError, sqlite3.Error, OSError):
        return None
