"""The catalogue database, `<data-dir>/catalogue.db`: the mirror's read index and its history.

SQLite through the standard library (WAL journal). The JSON files stay the mirror and the truth;
the database follows them (catalogue/write.py) and remembers what they forget: observations of
stars and forks, weekly commits beyond 52 weeks, runs and their changes.

- `open_catalogue(root)`: the database, up to date with the mirror. It is created when missing,
  moved aside and rebuilt when corrupt, and caught up when behind the manifest (a crash between
  the JSON commit and the database commit, a mirror copied by hand); `Catalogue.notice` then
  says so in one line. A database of a newer schema raises CatalogueError (exit 65) untouched.
- `after_commit(root)`: a sync from the files right after a JSON commit, for a fetch whose
  records could not be fed to the database as it staged them (catalogue/feed.py).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pkgharvest.catalogue import schema, write
from pkgharvest.errors import StoreWriteError

CATALOGUE_NAME = "catalogue.db"
CORRUPT_SUFFIX = ".corrupt"
NO_MANIFEST_STAMP = "no-manifest"
"""The stamp of a database brought up to date with a folder that has no manifest (no mirror)."""
_BUSY_TIMEOUT_MS = 30_000  # a reader may wait for a fetch's sync to finish


@dataclass
class Catalogue:
    """An open catalogue database that agrees with the mirror's manifest.

    Attributes:
        root: the data folder.
        path: the database file.
        conn: the connection (autocommit mode; writes use explicit transactions).
        manifest: the manifest the database agrees with.
        notice: one line when this open had to build, rebuild or catch up the database.
    """

    root: Path
    path: Path
    conn: sqlite3.Connection
    manifest: dict[str, Any]
    notice: str | None = None

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Catalogue:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def catalogue_path(root: Path) -> Path:
    return Path(root) / CATALOGUE_NAME


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
    return conn


def _open_schema(path: Path) -> sqlite3.Connection:
    """Connect and migrate. sqlite3.DatabaseError when the file is not a usable database."""
    conn = _connect(path)
    try:
        schema.migrate(conn, str(path))
        if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")  # WAL: durable at checkpoints, never corrupt
        conn.execute("SELECT count(*) FROM catalogue_meta").fetchone()
    except BaseException:
        conn.close()
        raise
    return conn


def _move_aside(path: Path) -> Path:
    aside = path.with_name(path.name + CORRUPT_SUFFIX)
    os.replace(path, aside)
    for suffix in ("-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path.with_name(path.name + suffix))
    return aside


def _manifest(root: Path) -> tuple[dict[str, Any], str]:
    """The manifest and its digest (the stamp a synced database stores)."""
    from pkgharvest.store.manifest import MANIFEST_NAME, parse_manifest, read_manifest_bytes

    path = Path(root) / MANIFEST_NAME
    data = read_manifest_bytes(path)
    if data is None:
        return {}, NO_MANIFEST_STAMP
    return parse_manifest(path, data), hashlib.sha256(data).hexdigest()


def open_catalogue(root: Path, *, id_hints: write.IdHints | None = None) -> Catalogue:
    """The catalogue of the mirror in `root`, brought up to date with its JSON files
    (`id_hints`: see `write.sync`)."""
    from pkgharvest.store.mirror import left_out_notice, read_record_file

    root = Path(root)
    left_out: list[str] = []
    path = catalogue_path(root)
    manifest, stamp = _manifest(root)
    existed = path.exists()
    reason = None if existed else "missing"
    try:
        try:
            conn = _open_schema(path)
        except sqlite3.DatabaseError as err:
            if isinstance(err, sqlite3.OperationalError) and not _looks_corrupt(err):
                raise
            aside = _move_aside(path)
            reason = f"corrupt ({err}; kept as {aside.name})"
            conn = _open_schema(path)
        catalogue = Catalogue(root, path, conn, manifest)
        try:
            stamp_before = write.stored_stamp(conn)
            had_stamp = stamp_before is not None
            counts = write.sync(
                conn,
                root,
                manifest,
                stamp,
                # A database that has only seen an empty folder knows no state before.
                baseline=reason is not None or stamp_before in (None, NO_MANIFEST_STAMP),
                read_record=lambda path: read_record_file(path, left_out),
                id_hints=id_hints,
            )
        except BaseException:
            conn.close()
            raise
    except (sqlite3.OperationalError, OSError) as err:
        # A folder we may not write to (a read-only mount, another user's mirror): a database
        # that is already up to date can still be read as it is.
        read_only = _read_only(path, stamp) if existed else None
        if read_only is None:
            raise StoreWriteError(f"cannot use the catalogue database {path}: {err}") from None
        return Catalogue(root, path, read_only, manifest)
    if counts is not None and stamp != NO_MANIFEST_STAMP:
        if reason is not None:
            catalogue.notice = (
                f"catalogue database {path.name} was {reason}: built from the JSON files "
                f"({counts.read.get('packages', 0):,} packages)"
            )
        elif had_stamp:
            catalogue.notice = (
                f"catalogue database {path.name} was behind the mirror: caught up from the JSON "
                f"files ({counts.read.get('packages', 0):,} packages read)"
            )
    skipped = left_out_notice(left_out)
    if skipped is not None:
        catalogue.notice = f"{catalogue.notice}; {skipped}" if catalogue.notice else skipped
    return catalogue


def _read_only(path: Path, stamp: str) -> sqlite3.Connection | None:
    """The database opened read-only and immutable, if it is of this schema and agrees with
    the manifest; else None."""
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro&immutable=1", uri=True)
    except sqlite3.Error:
        return None
    try:
        current = schema.schema_version(conn) == schema.SCHEMA_VERSION
        if current and write.stored_stamp(conn) == stamp:
            return conn
    except sqlite3.Error:
        pass
    conn.close()
    return None


def _looks_corrupt(err: sqlite3.OperationalError) -> bool:
    text = str(err)
    return "malformed" in text or "not a database" in text


def after_commit(root: Path, *, id_hints: write.IdHints | None = None) -> str | None:
    """Record a run that has just committed its JSON files (`id_hints`: the ids of the files it
    wrote, see `write.sync`); never raises for the database.

    The mirror is already committed: a database problem must not turn the run into a failure.
    It is returned as a one-line message instead, and the next command catches up.
    """
    try:
        open_catalogue(root, id_hints=id_hints).close()
    except Exception as err:  # even a bug here must not fail a run whose mirror is committed
        return f"the catalogue database was not updated ({err}); the next command catches up"
    return None


def run_changes(root: Path) -> Any:
    """The ChangeReport of the mirror's last run (None if it is not recorded): the same report
    `pkgharvest changes` prints afterwards."""
    from pkgharvest.catalogue import reports

    with open_catalogue(root) as catalogue:
        if reports.synced_run_id(catalogue.conn) is None:
            return None
        return reports.change_report(catalogue.conn)


def record_uncommitted_run(root: Path, run: dict[str, Any]) -> str | None:
    """Record a fetch that took the lock and committed nothing (it failed, was interrupted,
    or found none of its targets) in the database's `runs`, so that `status` and monitoring see
    it. The mirror's files and manifest stay as they were: only the database is written, and it
    is not brought up to date with the files here (the next command does that). Never raises:
    the run's own error is what the user must see; a problem here is returned as one line.
    A folder with no mirror yet (a first fetch that failed) is left as it was: empty, with
    nothing to report on."""
    from pkgharvest.store.manifest import MANIFEST_NAME

    path = catalogue_path(root)
    if not (path.exists() or (Path(root) / MANIFEST_NAME).exists()):
        return None
    try:
        conn = _open_schema(path)
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                write.record_uncommitted_run(conn, run)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        finally:
            conn.close()
    except Exception as err:  # even a bug here must not hide the run's own error
        return f"the failed run was not recorded in {path.name} ({err})"
    return None
