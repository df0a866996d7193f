"""The catalogue database, `<data-dir>/catalogue.db`: the mirror's read index and its history.

SQLite through the standard library (WAL journal). The JSON files stay the mirror and the truth;
the database follows them (catalogue/write.py) and remembers what they forget: observations of
stars and forks, weekly commits beyond 52 weeks, runs and their changes. Every reading command
reads through it (catalogue/reader.py); how it is opened and what its errors become is
catalogue/edge.py.

- `open_catalogue(root)`: the data folder's database, up to date with the mirror (the writer's
  way in: `fetch`, and a reading command that may write the folder). It is created when
  missing, moved aside as `catalogue.db.corrupt` and rebuilt when damaged or not pkgharvest's,
  and caught up when behind the manifest (a crash between the JSON commit and the database
  commit, a mirror copied by hand); `Catalogue.notice` then says so in one line. A database of
  a newer schema raises CatalogueError (exit 65) untouched; one that breaks the file rules
  CatalogueUnsafe (65); a write lock held past the wait CatalogueLocked; no room or no right
  to write CatalogueUnwritable (73).
- `open_private(root)`: a private database built from the record files in a temporary file
  outside the data folder (SQLite deletes it on close, even after kill -9), for a reader
  that cannot use the folder's.
- `after_commit(root)`: a sync from the files right after a JSON commit, for a fetch whose
  records could not be fed to the database as it staged them (catalogue/feed.py).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pkgharvest.catalogue import schema, write
from pkgharvest.catalogue.edge import (
    CATALOGUE_NAME,
    CORRUPT_SUFFIX,
    FolderFacts,
    Wait,
    check_room,
    check_schema,
    connect,
    create,
    damaged_error,
    fill_wal_index,
    free_aside,
    inspect,
    may_write,
    translated,
    while_busy,
)
from pkgharvest.catalogue.values import checked_row
from pkgharvest.errors import (
    CatalogueDamaged,
    CatalogueLocked,
    CatalogueUnwritable,
    LockHeld,
    PkgHarvestError,
)
from pkgharvest.records import Kind
from pkgharvest.runtime import DEFAULT_DATABASE_WAIT
from pkgharvest.store.owner import CREATOR, Owner

if TYPE_CHECKING:
    from pkgharvest.runtime import Dependencies

__all__ = [
    "CATALOGUE_NAME",
    "CORRUPT_SUFFIX",
    "Catalogue",
    "Outcome",
    "Wait",
    "after_commit",
    "catalogue_path",
    "open_catalogue",
    "open_private",
    "run_changes",
    "wait_of",
]

DEFAULT_WAIT = Wait(DEFAULT_DATABASE_WAIT, time.monotonic, time.sleep)
NO_MANIFEST_STAMP = "no-manifest"
"""The stamp of a database brought up to date with a folder that has no manifest (no mirror)."""


def wait_of(deps: Dependencies) -> Wait:
    """The wait for the database's write lock that `deps` asks for (its clock and sleep)."""
    return Wait(deps.database_wait, deps.clock, deps.sleep or time.sleep)


@dataclass
class Catalogue:
    """An open catalogue database.

    Attributes:
        root: the data folder.
        path: the database file (for a private copy, where it was built from).
        conn: the connection (autocommit mode; writes use explicit transactions). Every row
            it returns is checked against the column types (values.checked_row).
        manifest: the manifest the database was opened against.
        stamp: that manifest's digest.
        notice: one line when this open had to build, rebuild or catch up the database.
        private: a copy built from the record files, outside the data folder.
        in_step: the database agrees with `manifest` (False: read as it is, behind).
        file_id: (device, inode) of the database file (None for a private copy).
        repaired: this open moved a damaged database aside and rebuilt it.
    """

    root: Path
    path: Path
    conn: sqlite3.Connection
    manifest: dict[str, Any]
    stamp: str = ""
    notice: str | None = None
    private: bool = False
    in_step: bool = True
    file_id: tuple[int, int] | None = None
    repaired: bool = False

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Catalogue:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def catalogue_path(root: Path) -> Path:
    return Path(root) / CATALOGUE_NAME


def read_manifest(root: Path) -> tuple[dict[str, Any], str]:
    """The manifest and its digest (the stamp a synced database stores)."""
    from pkgharvest.store.manifest import MANIFEST_NAME, parse_manifest, read_manifest_bytes

    path = Path(root) / MANIFEST_NAME
    data = read_manifest_bytes(path)
    if data is None:
        return {}, NO_MANIFEST_STAMP
    return parse_manifest(path, data), hashlib.sha256(data).hexdigest()


_manifest = read_manifest


# --- the schema ------------------------------------------------------------------------------


def _check_columns(conn: sqlite3.Connection, path: Path) -> None:
    """The record tables have every column the readers read (a prepared SELECT says so)."""
    for kind in Kind:
        try:
            conn.execute(f"SELECT {', '.join(write.COLUMNS[kind])} FROM {kind.value} LIMIT 0")
        except sqlite3.OperationalError:
            raise damaged_error(path, f"its table {kind.value} lacks columns") from None


def _ready(conn: sqlite3.Connection, path: Path, *, write_access: bool) -> None:
    """Check the schema, migrate it (with write access), and put the database in WAL mode."""
    version = check_schema(conn, path)
    if write_access:
        schema.migrate(conn, str(path))
        if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")  # WAL: durable at checkpoints, never corrupt
    elif version != schema.SCHEMA_VERSION:
        raise CatalogueUnwritable(
            f"the catalogue database {path} has schema version {version} and cannot be "
            "migrated here (no write access)"
        )
    _check_columns(conn, path)
    conn.row_factory = checked_row


# --- opening the data folder's database for writing ---------------------------------------------


def _file_id(info: os.stat_result) -> tuple[int, int]:
    return info.st_dev, info.st_ino


@contextlib.contextmanager
def _folder_locked(root: Path, locked: bool, owner: Owner) -> Iterator[None]:
    """The data folder's lock around a change of the catalogue's files (create, move aside),
    unless the caller holds it; CatalogueLocked when a run holds it. `.lock`, if made, is
    given to `owner`."""
    if locked:
        yield
        return
    from pkgharvest.store.lock import LOCK_NAME, FolderLock

    try:
        held = FolderLock.acquire(root / LOCK_NAME, owner)
    except LockHeld:
        raise CatalogueLocked(
            f"a pkgharvest fetch holds {root}: the catalogue database is left to it"
        ) from None
    except OSError as err:
        raise CatalogueUnwritable(f"cannot lock {root}: {err.strerror or err}") from None
    try:
        yield
    finally:
        held.release()


def _move_aside(facts: FolderFacts, damaged_id: tuple[int, int] | None) -> Path | None:
    """Rename the damaged database (and its log) to `.corrupt` (and `.corrupt-wal`), or to the
    first free `.corrupt.N` when an earlier one is there (its history is kept too); drop its
    wal-index. None when the file at the name is no longer the damaged one (another command
    has already moved it aside). Call under the data folder's lock."""
    root, path = facts.root, facts.database
    try:
        here = os.lstat(path)
    except FileNotFoundError:
        return None
    if damaged_id is not None and _file_id(here) != damaged_id:
        return None
    aside = root / free_aside(root)  # neither it nor its -wal is there: nothing is replaced
    try:
        os.replace(path, aside)
        wal = path.with_name(path.name + "-wal")
        if os.path.lexists(wal):
            os.replace(wal, aside.with_name(aside.name + "-wal"))
        for suffix in ("-shm", "-journal"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path.with_name(path.name + suffix))
    except OSError as err:
        raise CatalogueUnwritable(
            f"cannot move the damaged catalogue database {path} aside: {err.strerror or err}"
        ) from None
    return aside


@dataclass
class _Writer:
    """One writer's open of the folder's database (see `open_catalogue`)."""

    root: Path
    manifest: dict[str, Any]
    stamp: str
    wait: Wait
    locked: bool
    id_hints: write.IdHints | None = None
    before_commit: Callable[[], None] | None = None
    check: bool = False
    owner: Owner = CREATOR
    """Whom the database file is given to when this open creates it (store/owner.py)."""
    left_out: list[str] = field(default_factory=list)
    """Record files the sync left out: their id is one no record may have."""

    def open(
        self, damaged: CatalogueDamaged | None, damaged_id: tuple[int, int] | None
    ) -> Catalogue:
        if not may_write(self.root, self.owner):
            raise CatalogueUnwritable(
                f"cannot update the catalogue database in {self.root}: the folder is not "
                "writable by this user, or belongs to another"
            )
        reason = None
        if damaged is not None:
            reason = self._aside(damaged, damaged_id)
        for _ in range(3):
            try:
                return self._open_once(reason)
            except CatalogueDamaged as err:
                reason = self._aside(err, err_id(err))
        raise CatalogueDamaged(f"the catalogue database in {self.root} keeps being damaged")

    def _aside(self, damage: CatalogueDamaged, damaged_id: tuple[int, int] | None) -> str:
        with _folder_locked(self.root, self.locked, self.owner):
            aside = _move_aside(inspect(self.root), damaged_id)
        why = str(damage).split(" is damaged: ", 1)[-1]
        if aside is None:
            return f"damaged ({why}; already moved aside)"
        return f"damaged ({why}): moved aside as {aside.name} and rebuilt"

    def _open_once(self, reason: str | None) -> Catalogue:
        facts = inspect(self.root)
        path = facts.database
        check_room(self.root, facts.size(CATALOGUE_NAME + "-wal"))
        with contextlib.ExitStack() as building:
            if CATALOGUE_NAME not in facts.present:
                # Built under the folder's lock, so that no other command takes the new,
                # empty file for a database of its own to set up.
                building.enter_context(_folder_locked(self.root, self.locked, self.owner))
                with contextlib.suppress(FileExistsError):
                    create(path, self.owner)
                reason = reason or "missing: built"
            conn, info = connect(path, facts.owner, write=True)
            catalogue = Catalogue(
                self.root, path, conn, self.manifest, self.stamp, file_id=_file_id(info)
            )
            try:
                with translated(path, "update"), _tag(catalogue):
                    _ready(conn, path, write_access=True)
                    if self.check and reason is None:
                        _check_whole(conn, path)
                    fill_wal_index(conn, self.root)
                    stamp_before = write.stored_stamp(conn)
                    had_stamp = stamp_before is not None
                    # A database that has only seen an empty folder knows no state before.
                    known_before = stamp_before not in (None, NO_MANIFEST_STAMP)
                    counts = while_busy(
                        self.wait, conn, lambda: self._sync(conn, reason, known_before)
                    )
            except BaseException:
                conn.close()
                raise
        if isinstance(counts, write.SyncCounts) and self.stamp != NO_MANIFEST_STAMP:
            packages = counts.read.get("packages", 0)
            catalogue.repaired = reason is not None and reason.startswith("damaged")
            if reason is not None:
                catalogue.notice = (
                    f"the catalogue database {path.name} was {reason} from the JSON files "
                    f"({packages:,} packages)"
                )
            elif had_stamp:
                catalogue.notice = (
                    f"the catalogue database {path.name} was behind the mirror: caught up from "
                    f"the JSON files ({packages:,} packages read)"
                )
        catalogue.notice = _with_left_out(catalogue.notice, self.left_out)
        return catalogue

    def _sync(self, conn: sqlite3.Connection, reason: str | None, known_before: bool) -> object:
        from pkgharvest.store.mirror import read_record_file

        self.left_out.clear()  # a sync tried again reads the files again

        def before_commit() -> None:
            _store_left_out(conn, self.left_out)
            if self.before_commit is not None:
                self.before_commit()

        return write.sync(
            conn,
            self.root,
            self.manifest,
            self.stamp,
            baseline=reason is not None or not known_before,
            read_record=lambda path: read_record_file(path, self.left_out),
            id_hints=self.id_hints,
            before_commit=before_commit,
        )


@contextlib.contextmanager
def _tag(catalogue: Catalogue) -> Iterator[None]:
    """Mark a CatalogueDamaged raised inside with the file it is about (so that the repair
    moves aside that file, not one another command has put there since)."""
    try:
        yield
    except CatalogueDamaged as err:
        err.file_id = catalogue.file_id  # type: ignore[attr-defined]
        raise


_LEFT_OUT_KEY = "left_out"
"""catalogue_meta: the record files the last sync left out (a JSON list of paths), so that
every reader says so, not only the one that synced."""


def _store_left_out(conn: sqlite3.Connection, left_out: list[str]) -> None:
    """Inside a sync's transaction: remember the files it left out (or that there are none)."""
    if left_out:
        conn.execute(
            "INSERT OR REPLACE INTO catalogue_meta (key, value) VALUES (?, ?)",
            (_LEFT_OUT_KEY, json.dumps(left_out)),
        )
    else:
        conn.execute("DELETE FROM catalogue_meta WHERE key = ?", (_LEFT_OUT_KEY,))


def _stored_left_out(conn: sqlite3.Connection) -> list[str]:
    row = conn.execute(
        "SELECT value FROM catalogue_meta WHERE key = ?", (_LEFT_OUT_KEY,)
    ).fetchone()
    try:
        paths = json.loads(row[0]) if row else []
    except ValueError:
        return []
    return [path for path in paths if isinstance(path, str)] if isinstance(paths, list) else []


def _with_left_out(notice: str | None, left_out: list[str]) -> str | None:
    """`notice`, and the line about record files a sync left out, if any."""
    from pkgharvest.store.mirror import left_out_notice

    skipped = left_out_notice(left_out)
    if skipped is None:
        return notice
    return f"{notice}; {skipped}" if notice else skipped


def _check_whole(conn: sqlite3.Connection, path: Path) -> None:
    """CatalogueDamaged when SQLite's integrity check finds a damaged page anywhere in the file
    (a read of the whole file: `fetch` does it before it starts; a value of the wrong type is
    found where it is read)."""
    from pkgharvest.catalogue.audit import integrity

    found = integrity(conn, path)
    conn.row_factory = checked_row
    if found:
        raise damaged_error(path, found[0].removeprefix("is damaged: "))


def err_id(err: CatalogueDamaged) -> tuple[int, int] | None:
    file_id: tuple[int, int] | None = getattr(err, "file_id", None)
    return file_id


def open_catalogue(
    root: Path,
    *,
    id_hints: write.IdHints | None = None,
    wait: Wait = DEFAULT_WAIT,
    locked: bool = False,
    damaged: CatalogueDamaged | None = None,
    before_commit: Callable[[], None] | None = None,
    check: bool = False,
    owner: Owner = CREATOR,
) -> Catalogue:
    """The catalogue of the mirror in `root`, brought up to date with its JSON files (see the
    module docs). `id_hints`: see `write.sync`. `locked`: the caller holds the data folder's
    lock (a fetch). `damaged`: the database was found damaged by a query: move it aside first.
    `before_commit`: see `write.sync`. `check`: read the whole file for damage first (SQLite's
    integrity check, every value's type). `owner`: a fetch's (store/owner.py): root may then
    update another user's folder, every file it creates given to that user."""
    root = Path(root)
    manifest, stamp = read_manifest(root)
    writer = _Writer(
        root, manifest, stamp, wait, locked, id_hints, before_commit, check, owner=owner
    )
    return writer.open(damaged, err_id(damaged) if damaged is not None else None)


# --- reading what cannot be written ------------------------------------------------------------


def open_as_is(root: Path, manifest: dict[str, Any], stamp: str) -> Catalogue:
    """The folder's database read as it is, without writing anything: for a reader that may
    not write the folder, or must not catch the database up now (a fetch is committing).
    `in_step` says whether it agrees with the manifest. Raises CatalogueUnsafe,
    CatalogueDamaged, CatalogueError (newer), CatalogueUnwritable (cannot be opened or read
    here), FileNotFoundError (none)."""
    facts = inspect(root)
    path = facts.database
    if CATALOGUE_NAME not in facts.present:
        raise FileNotFoundError(path)
    log = facts.size(CATALOGUE_NAME + "-wal")
    writable = may_write(root)
    # With no log to read and no right to write, nothing is locked or created (immutable);
    # otherwise SQLite maps the wal-index, which needs room (see edge.py).
    immutable = not writable and log == 0
    if not immutable:
        check_room(root, log)
    # Opened for writing where this user may write (nothing is written here): only such a
    # connection removes the log and wal-index SQLite creates for any reader, when it closes.
    conn, info = connect(path, facts.owner, write=writable, immutable=immutable)
    catalogue = Catalogue(root, path, conn, manifest, stamp, file_id=_file_id(info))
    try:
        with translated(path, "read"), _tag(catalogue):
            _ready(conn, path, write_access=False)
            catalogue.in_step = write.stored_stamp(conn) == stamp
            if catalogue.in_step:
                catalogue.notice = _with_left_out(None, _stored_left_out(conn))
    except BaseException:
        conn.close()
        raise
    return catalogue


def open_private(
    root: Path, manifest: dict[str, Any], stamp: str, *, wait: Wait = DEFAULT_WAIT
) -> Catalogue:
    """A private catalogue built from the record files, in a temporary file outside the data
    folder that SQLite deletes on close. CatalogueLocked when a fetch keeps committing while
    the files are read (the copy would mix two catalogues)."""
    from pkgharvest.store.mirror import read_record_file

    where = Path(root) / CATALOGUE_NAME
    from pkgharvest.store.journal import JOURNAL_NAME

    for _ in wait.attempts():
        if os.path.lexists(Path(root) / JOURNAL_NAME):
            continue  # a commit is moving files: wait for it to end
        conn = sqlite3.connect("", isolation_level=None, check_same_thread=False)
        left_out: list[str] = []
        try:
            with translated("a private copy of the catalogue", "build"):
                conn.execute("PRAGMA journal_mode = MEMORY")
                conn.execute("PRAGMA synchronous = OFF")
                schema.migrate(conn, "a private copy of the catalogue")
                write.sync(
                    conn,
                    root,
                    manifest,
                    stamp,
                    baseline=True,
                    read_record=lambda path, skipped=left_out: read_record_file(path, skipped),
                    before_commit=unchanged_since(root, stamp),
                )
            conn.row_factory = checked_row
        except CatalogueLocked:
            conn.close()
            manifest, stamp = read_manifest(root)
            continue
        except BaseException:
            conn.close()
            raise
        notice = _with_left_out(None, left_out)
        return Catalogue(root, where, conn, manifest, stamp, notice=notice, private=True)
    raise CatalogueLocked(f"a fetch is committing to {root}; run the command again in a moment")


def committing(root: Path) -> bool:
    """Whether a fetch may be moving record files in `root` now: its commit journal is there,
    or a run holds the folder's lock (read without taking it)."""
    from pkgharvest.store.journal import JOURNAL_NAME
    from pkgharvest.store.lock import lock_facts

    return os.path.lexists(Path(root) / JOURNAL_NAME) or lock_facts(Path(root)).held


def unchanged_since(root: Path, stamp: str) -> Callable[[], None]:
    """A `before_commit` for a sync that read the files without the folder's lock: it rolls
    the sync back (CatalogueLocked) when a fetch committed or began committing meanwhile."""
    from pkgharvest.store.journal import JOURNAL_NAME

    def check() -> None:
        if os.path.lexists(Path(root) / JOURNAL_NAME) or read_manifest(root)[1] != stamp:
            raise CatalogueLocked(f"a fetch committed to {root} while this command read it")

    return check


# --- around a fetch ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What a fetch's database update did.

    Attributes:
        problem: why the database was not updated (None: it was). The run's mirror is
            committed either way; the next command catches the database up.
        notice: one line when the update had to repair the database (moved aside, rebuilt).
    """

    problem: str | None = None
    notice: str | None = None


def after_commit(
    root: Path,
    *,
    id_hints: write.IdHints | None = None,
    wait: Wait = DEFAULT_WAIT,
    locked: bool = False,
    owner: Owner = CREATOR,
) -> Outcome:
    """Bring the database up to date with a run that has just committed its JSON files
    (`id_hints`: the ids of the files it wrote, see `write.sync`; `owner`: see
    `open_catalogue`); never raises for the database: the mirror is committed, so a database
    problem is reported, not a failure."""
    try:
        with open_catalogue(
            root, id_hints=id_hints, wait=wait, locked=locked, owner=owner
        ) as catalogue:
            return Outcome(notice=catalogue.notice if catalogue.repaired else None)
    except PkgHarvestError as err:
        return Outcome(problem=f"the catalogue database was not updated: {err}")


def run_changes(root: Path) -> Any:
    """The ChangeReport of the mirror's last run, read from the database as it is (None when
    it is not recorded, or the database does not agree with the manifest)."""
    from pkgharvest.catalogue import reports

    manifest, stamp = read_manifest(root)
    try:
        catalogue = open_as_is(root, manifest, stamp)
    except (PkgHarvestError, FileNotFoundError):
        return None
    with catalogue, translated(catalogue.path, "read"):
        if not catalogue.in_step:
            return None
        run_id = reports.synced_run_id(catalogue.conn)
        return None if run_id is None else reports.change_report(catalogue.conn, run_id=run_id)


def record_uncommitted_run(
    root: Path, run: dict[str, Any], *, wait: Wait = DEFAULT_WAIT, owner: Owner = CREATOR
) -> str | None:
    """Record a fetch that took the lock and committed nothing (it failed, was interrupted,
    or found none of its targets) in the database's `runs`, so that `status` and monitoring see
    it. The mirror's files and manifest stay as they were: only the database is written (the
    caller holds the data folder's lock). Never raises: the run's own error is what the user
    must see; a problem here is returned as one line. A folder with no mirror yet (a first
    fetch that failed) is left as it was: empty, with nothing to report on."""
    from pkgharvest.store.manifest import MANIFEST_NAME

    path = catalogue_path(root)
    if not (path.exists() or (Path(root) / MANIFEST_NAME).exists()):
        return None
    try:
        with open_catalogue(root, wait=wait, locked=True, owner=owner) as catalogue:
            conn = catalogue.conn
            with translated(catalogue.path, "write"):
                conn.execute("BEGIN IMMEDIATE")
                try:
                    write.record_uncommitted_run(conn, run)
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
    except Exception as err:  # even a bug here must not hide the run's own error
        return f"the failed run was not recorded in {path.name} ({err})"
    return None
