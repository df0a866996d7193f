"""The mirror's write side: a folder of JSON files that a failed run never damages.

Layout of the data folder (a public contract)::

    <root>/manifest.json                 format version, last runs, record counts
    <root>/packages/<name>.json          one record per file, see records.py
    <root>/grids/<name>.json
    <root>/categories/<name>.json
    <root>/.lock                         held (flock) by the run that updates the folder
    <root>/.index.json                   digest of each record file (a cache, kindindex.py)
    <root>/.commit-journal.json          only while a commit runs or was cut short (journal.py)

`<name>` is `paths.record_filename(slug, id)`, or the fallback `_id-<id>` when the slug is unsafe
or its name is taken by another id. Readers must find records by the `id` inside the file, never
by guessing the file name.

How a run stays safe (the bandersnatch model): every write of a run goes into a staging folder
inside the root (same file system), and only `Transaction.commit()` moves the staged files into
place, each with one atomic `os.replace`. Anything that data needs (the manifest too) is written,
and the free space the moves need checked, before the first file is moved, so a full disk or a
failed API leaves every mirror file byte-for-byte as it was. The moves follow a journal written
first, under held signals (signals.py): a commit cut short anyway (kill -9) is finished by the
next `open_for_update()` (or a reading command), each file old or new in between, the manifest
replaced last. Other leftovers of killed runs are removed by the next `open_for_update()`.

The pieces it builds on, each usable alone: `recordfile` (a record's bytes), `fileio` (plain and
atomic file writes), `lock` (the folder's lock), `manifest` (its format and parsing) and
`kindindex` (which file holds which id, and its digest), `journal` (the commit's steps).
Readers import those, never this module.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
from collections.abc import Iterable, Iterator
from enum import StrEnum
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

from pkgharvest import __version__
from pkgharvest.errors import SourceMismatch, StoreWriteError
from pkgharvest.records import Kind, Record
from pkgharvest.store import journal, paths, signals
from pkgharvest.store.fileio import (
    PART_SUFFIX,
    create_temp,
    read_small_file_and_stat,
    remove_leftover_temps,
    write_new_file,
)
from pkgharvest.store.index import (
    INDEX_NAME,
    FileEntry,
    KindIndex,
    SavedIndex,
    digest,
    dump_index,
    entry_digest,
    entry_for,
    entry_source,
    load_saved_index,
    with_source,
)
from pkgharvest.store.lock import LOCK_NAME, FolderLock
from pkgharvest.store.manifest import (
    FORMAT_VERSION,
    MANIFEST_NAME,
    dump_manifest,
    last_complete_catalogue_run,
    read_manifest,
)
from pkgharvest.store.owner import CREATOR, Owner, owner_of
from pkgharvest.store.recordfile import corrupt_record, parse_record, serialize_record

_STAGING_PREFIX = journal.STAGING_PREFIX
# Free space a commit wants beyond what staging used (the staged files already hold their
# blocks): see Transaction._commit_blocks.
_DIR_ENTRY_HEAD = 8  # ext4's directory entry: inode, record length, name length, type
_SPARE_BYTES = 64 * 1024
_SPARE_BLOCKS = 16
# ext4 keeps 2% of its blocks (at most 4096) for its own metadata: statvfs counts them in
# f_bfree, but no file may use them, root's included.
_EXT4_RESERVE_MAX = 4096


class Change(StrEnum):
    """What `Transaction.put` did with a record, compared with the mirror before this run."""

    NEW = "new"
    CHANGED = "changed"
    UNCHANGED = "unchanged"


def _same_source(recorded: str, wanted: str) -> bool:
    """Whether two API base URLs name the same API (a trailing slash makes no difference)."""
    return recorded.strip().rstrip("/") == wanted.strip().rstrip("/")


def _serial(manifest: dict[str, Any]) -> int:
    """The manifest's `run_serial` (0 when it has none: a first run, or an older manifest)."""
    value = manifest.get("run_serial")
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _record_id(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"a record id must be an int, not {value!r}")
    return value


class StagedRecords(Protocol):
    """Who takes each record as a transaction stages it (the catalogue database's feed), so
    that nothing has to read the files back after the commit."""

    def staged(self, kind: Kind, name: str, record: Record, info: os.stat_result) -> None:
        """`record` was staged as `kind`/`name`; `info`: the staged file's stat."""

    def withdrawn(self, kind: Kind, record_id: int) -> None:
        """A record staged earlier in this transaction will not be committed as staged."""


# --- the store ------------------------------------------------------------------------------


class Store:
    """The data folder. Usage by a run that updates it::

    store = Store(root)
    with store.lock():
        store.open_for_update()
        with store.begin() as txn:
            txn.put(Kind.PACKAGE, record)
            ...
            txn.commit(source=base_url, run=run_summary)
    """

    def __init__(self, root: Path, *, fsync: bool = False) -> None:
        self.root = Path(root)
        self.fsync = fsync
        """fsync every record file (slow); the manifest is always fsynced."""
        self._locked = False
        self._opened = False
        # What this lock session created (the folders, `.lock`): a run into a new folder that
        # never commits leaves none of it behind.
        self._made: list[Path] = []
        self.recovered: int | None = None
        """Files moved into place by finishing a commit an earlier run began (None: none)."""
        self.owner: Owner = CREATOR
        """Whom every file and folder the run creates is given to (owner.py): the data
        folder's owner when root updates another user's folder. Known once locked."""

    @property
    def manifest_path(self) -> Path:
        return self.root / MANIFEST_NAME

    @property
    def lock_path(self) -> Path:
        return self.root / LOCK_NAME

    def kind_folder(self, kind: Kind) -> Path:
        return self.root / Kind(kind).value

    def write_error(self, err: OSError, *, doing: str = "write") -> StoreWriteError:
        """The one-line error for an OSError met while updating the data folder."""
        reason = err.strerror or str(err)
        return StoreWriteError(f"cannot {doing} the data folder {self.root}: {reason}")

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the data folder's lock (see lock.py), or raise LockHeld at once if another run
        holds it."""
        made: list[Path] = []
        try:
            if self.root.exists() and not self.root.is_dir():
                raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR))
            if not self.root.exists():
                new_folders = [self.root, *(p for p in self.root.parents if not p.exists())]
                made.extend(reversed(new_folders))
            self.root.mkdir(parents=True, exist_ok=True)
            self.owner = owner_of(self.root)
            if not os.path.lexists(self.lock_path):
                made.append(self.lock_path)
            held = FolderLock.acquire(self.lock_path, self.owner)
        except OSError as err:
            self._remove_made(made)
            raise self.write_error(err) from None
        except BaseException:
            self._remove_made(made)
            raise
        self._made = made
        self._locked = True
        try:
            yield
        finally:
            self._locked = False
            self._opened = False
            leave = self._made if not os.path.lexists(self.manifest_path) else []
            self._made = []
            # The kind folders and `.lock` go while the lock is held; the folders above them
            # once it is released (the held lock keeps the data folder open).
            files = [path for path in leave if path == self.lock_path or path.parent == self.root]
            self._remove_made(files)
            held.release()
            self._remove_made([path for path in leave if path not in files])

    @staticmethod
    def _remove_made(paths: list[Path]) -> None:
        """Remove what a run that never committed created, newest first: a folder only while
        it is empty (anything put there since stays, and so do the folders holding it)."""
        for path in reversed(paths):
            with contextlib.suppress(OSError):
                if path.name == LOCK_NAME:
                    os.unlink(path)
                else:
                    os.rmdir(path)

    def open_for_update(self, *, source: str | None = None, switch_source: bool = False) -> None:
        """Check the folder can be updated, and clean what killed runs left. Call under lock().

        source: the API this run reads. A mirror fetched from another one is refused
        (SourceMismatch) unless `switch_source`: two catalogues are never mixed silently.
        """
        if not self._locked:
            raise RuntimeError("Store.open_for_update() must be called under Store.lock()")
        # First, so that a folder this version must not touch is left exactly as it is.
        manifest = self.read_manifest()
        try:
            for kind in Kind:
                if not self._check_folder(self.kind_folder(kind), f"{kind.singular} folder"):
                    self.owner.make_folder(self.kind_folder(kind))
                    self._made.append(self.kind_folder(kind))
            for folder in (self.root, *(self.kind_folder(kind) for kind in Kind)):
                # A real create+remove: permissions, read-only mounts and ACLs all show here.
                fd, probe = create_temp(folder, "probe", self.owner)
                os.close(fd)
                os.unlink(probe)
            # A commit a dead run began is finished before anything else (journal.py).
            self.recovered = journal.recover(self.root, fsync=self.fsync, owner=self.owner)
            if self.recovered is not None:
                manifest = self.read_manifest()
            self._check_source(manifest, source, switch_source)
            with os.scandir(self.root) as entries:
                stagings = [
                    Path(entry.path) for entry in entries if entry.name.startswith(_STAGING_PREFIX)
                ]
            for staging in stagings:
                if self._check_folder(staging, "staging folder"):
                    shutil.rmtree(staging)
            for folder in (self.root, *(self.kind_folder(kind) for kind in Kind)):
                remove_leftover_temps(folder)
        except OSError as err:
            raise self.write_error(err) from None
        self._opened = True

    def _check_source(
        self, manifest: dict[str, Any] | None, source: str | None, switch_source: bool
    ) -> None:
        recorded = (manifest or {}).get("source")
        mismatch = isinstance(recorded, str) and not _same_source(recorded, source or recorded)
        if mismatch and not switch_source:
            raise SourceMismatch(
                f"the mirror in {self.root} was fetched from {recorded}, not {source}; "
                "to replace its catalogue with this one use --switch-source "
                "(or another --data-dir)"
            )

    @staticmethod
    def _check_folder(path: Path, what: str) -> bool:
        """Whether `path` exists; CorruptStore (one line naming it) if it is a symlink or not a
        folder: the run would otherwise write, or delete, wherever it leads."""
        return journal.check_folder(path, what)

    def read_manifest(self) -> dict[str, Any] | None:
        """The manifest, None if there is none yet; CorruptStore if it is broken or newer."""
        return read_manifest(self.manifest_path)

    def begin(self, *, feed: StagedRecords | None = None) -> Transaction:
        """Start staging a run's writes; usable as a context manager (an exception discards).
        `feed` takes every record as it is staged."""
        if not self._opened:
            raise RuntimeError("Store.begin() needs Store.open_for_update() under Store.lock()")
        try:
            staging = self.owner.make_temp_folder(self.root, _STAGING_PREFIX)
            for kind in Kind:
                self.owner.make_folder(staging / kind.value)
        except OSError as err:
            raise self.write_error(err) from None
        return Transaction(self, staging, feed=feed)


class Transaction:
    """One run's changes to the mirror: staged by `put`, applied only by `commit`."""

    def __init__(self, store: Store, staging: Path, *, feed: StagedRecords | None = None) -> None:
        self._store = store
        self._staging = staging
        self._feed = feed
        self._closed = False
        self._indexes: dict[Kind, KindIndex] = {}
        # For every id put in this run: its final file name, and the reverse map. A name in
        # `_claimed` is the file this run leaves for that id (written or left unchanged).
        self._final_name: dict[Kind, dict[int, str]] = {kind: {} for kind in Kind}
        self._claimed: dict[Kind, dict[str, int]] = {kind: {} for kind in Kind}
        # Ids whose new bytes are in staging (in put order: see commit).
        self._staged: dict[Kind, dict[int, str]] = {kind: {} for kind in Kind}
        self._removals: dict[Kind, set[int]] = {kind: set() for kind in Kind}
        # What the index will say of each file this run leaves, by name (see kindindex.py).
        self._entries: dict[Kind, dict[str, FileEntry]] = {kind: {} for kind in Kind}
        self._saved_index: SavedIndex | None = None
        # Once the journal is written, the staging folder belongs to it (journal.recover).
        self._journal_begun = False
        self._written: dict[str, dict[str, int]] | None = None

    def __enter__(self) -> Transaction:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        # Leaving the block without commit() (an exception, or a caller that decided not to
        # commit) leaves the mirror as it was.
        self.discard()

    # --- reading the mirror as it was -----------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("this transaction was already committed or discarded")

    def _index(self, kind: Kind) -> KindIndex:
        index = self._indexes.get(kind)
        if index is None:
            if self._saved_index is None:
                self._saved_index = load_saved_index(self._store.root)
            try:
                index = KindIndex.load(
                    self._store.kind_folder(kind), self._saved_index.entries.pop(kind.value, None)
                )
            except OSError as err:
                raise self._store.write_error(err, doing="read") from None
            self._indexes[kind] = index
            self._entries[kind] = index.take_entries()
        return index

    def _read_mirror(self, kind: Kind, name: str) -> tuple[bytes, os.stat_result]:
        # Plain os calls on string paths: this runs once per record the index cannot vouch for.
        try:
            return read_small_file_and_stat(os.path.join(self._store.root, kind.value, name))
        except OSError as err:
            raise self._store.write_error(err, doing="read") from None

    def previous(self, kind: Kind, record_id: int) -> Record | None:
        """The mirror's record with this id as it was before this run, or None."""
        self._check_open()
        kind = Kind(kind)
        name = self._index(kind).name_by_id.get(_record_id(record_id))
        if name is None:
            return None
        data, _ = self._read_mirror(kind, name)
        return parse_record(self._store.kind_folder(kind) / name, data)

    def load_indexes(self) -> None:
        """Read which file holds which id in every kind folder now (what the first put of
        each kind would read): a fetch does it while its first pages are on their way. (Not
        in a thread of its own: the reading holds the interpreter lock.)"""
        self._check_open()
        for kind in Kind:
            self._index(kind)

    def mirror_ids(self, kind: Kind) -> frozenset[int]:
        """The ids the mirror held before this run."""
        self._check_open()
        return frozenset(self._index(Kind(kind)).name_by_id)

    def put_ids(self, kind: Kind) -> frozenset[int]:
        """The ids put so far in this run (written to staging or found unchanged)."""
        self._check_open()
        return frozenset(self._final_name[Kind(kind)])

    # --- changing ---------------------------------------------------------------------------

    def _name_is_free(self, kind: Kind, name: str, record_id: int) -> bool:
        claimant = self._claimed[kind].get(name)
        if claimant is not None and claimant != record_id:
            return False
        holder = self._index(kind).id_by_name.get(name)
        if holder is None or holder == record_id:
            return True
        # The holder's file is free when this run moves that record elsewhere or removes it.
        return holder in self._final_name[kind] or holder in self._removals[kind]

    def _choose_name(self, kind: Kind, slug: object, record_id: int) -> str:
        wanted = paths.record_filename(slug, record_id)
        if self._name_is_free(kind, wanted, record_id):
            return wanted
        fallback = paths.fallback_stem(record_id) + paths.RECORD_SUFFIX
        if self._name_is_free(kind, fallback, record_id):
            return fallback
        # Only a hand-made file can hold another id under this id's reserved name.
        holder = self._index(kind).id_by_name[fallback]
        raise corrupt_record(
            self._store.kind_folder(kind) / fallback,
            f"holds id {holder}, but that name is reserved for id {record_id}",
        )

    def _forget_put(self, kind: Kind, record_id: int) -> None:
        name = self._final_name[kind].pop(record_id, None)
        if name is None:
            return
        del self._claimed[kind][name]
        if self._staged[kind].pop(record_id, None) is not None:
            self._entries[kind].pop(name, None)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(self._staging, kind.value, name + PART_SUFFIX))
            if self._feed is not None:
                self._feed.withdrawn(kind, record_id)

    def _unchanged(self, kind: Kind, name: str, data: bytes, data_digest: str) -> bool | None:
        """Whether the mirror's file `name` holds exactly `data`: from the index when it vouches
        for the file, else by reading it (and then the index learns it). None when the file
        differs and is not a record file (something else broke it)."""
        entry = self._entries[kind].get(name)
        if entry is not None:
            return entry_digest(entry) == data_digest
        old, info = self._read_mirror(kind, name)
        if old == data:
            self._entries[kind][name] = entry_for(
                self._index(kind).id_by_name[name], info, data_digest
            )
            return True
        # About to replace it: a file something else broke stops the run (the user decides
        # what to do with it) rather than being silently overwritten.
        parse_record(self._store.kind_folder(kind) / name, old)
        return False

    def keep_if_same_source(self, kind: Kind, record_id: int, source: str) -> bool:
        """Keep the mirror's file of `record_id` as it is, without the record's bytes, when the
        index says that file was made from `source` (the digest of what the record is
        normalized from: stage.py) and is still the file it describes. True if kept; then it
        counts as an unchanged `put`. False: the caller puts the record as usual.

        What a rerun with nothing new does for almost every record: no normalizing, no
        serializing, no reading the old file back."""
        self._check_open()
        kind = Kind(kind)
        record_id = _record_id(record_id)
        current = self._index(kind).name_by_id.get(record_id)
        if current is None or record_id in self._final_name[kind]:
            return False
        entry = self._entries[kind].get(current)
        if entry is None or entry_source(entry) != source:
            return False
        if not self._name_is_free(kind, current, record_id):
            return False
        self._removals[kind].discard(record_id)
        self._claim(kind, record_id, current)
        return True

    def put(self, kind: Kind, record: Record, *, source: str | None = None) -> Change:
        """Stage `record`, unless the mirror already holds exactly these bytes for its id.

        `source`: the digest of what the record was normalized from, recorded in the index for
        `keep_if_same_source` (None: not known). The last put of an id wins; a put cancels an
        earlier `schedule_removal` of that id.
        """
        self._check_open()
        kind = Kind(kind)
        record_id = _record_id(record.get("id"))
        data = serialize_record(record)
        data_digest = digest(data)
        index = self._index(kind)
        self._forget_put(kind, record_id)
        self._removals[kind].discard(record_id)
        current = index.name_by_id.get(record_id)
        if (
            current is not None
            and self._name_is_free(kind, current, record_id)
            and self._unchanged(kind, current, data, data_digest)
        ):
            # Same bytes: the file stays as it is, even under a fallback name whose slug name
            # has become free since (no rename churn for records that did not change).
            name = current
            change = Change.UNCHANGED
            entries = self._entries[kind]
            entries[current] = with_source(entries[current], source)
        else:
            name = self._choose_name(kind, record.get("slug"), record_id)
            staged = os.path.join(self._staging, kind.value, name + PART_SUFFIX)
            try:
                info = write_new_file(
                    staged, data, fsync=self._store.fsync, owner=self._store.owner
                )
            except FileExistsError:
                raise StoreWriteError(
                    f"cannot write the data folder {self._store.root}: the staged file "
                    f"{staged} already exists (another process is writing into the staging "
                    "folder); the mirror is unchanged"
                ) from None
            except OSError as err:
                raise self._store.write_error(err) from None
            self._staged[kind][record_id] = name
            self._entries[kind][name] = entry_for(record_id, info, data_digest, source)
            change = Change.NEW if current is None else Change.CHANGED
            if self._feed is not None:
                self._feed.staged(kind, name, record, info)
        self._claim(kind, record_id, name)
        return change

    def _claim(self, kind: Kind, record_id: int, name: str) -> None:
        """This run leaves the file `name` for `record_id` (written, or kept as it is)."""
        self._final_name[kind][record_id] = name
        self._claimed[kind][name] = record_id

    def schedule_removal(self, kind: Kind, ids: Iterable[int]) -> int:
        """Remove these ids' files at commit; returns how many of them the mirror holds.

        Cancels an earlier put of the same id in this run; a later put cancels the removal.
        """
        self._check_open()
        kind = Kind(kind)
        index = self._index(kind)
        existing = 0
        for record_id in {_record_id(value) for value in ids}:
            self._forget_put(kind, record_id)
            if record_id in index.name_by_id:
                self._removals[kind].add(record_id)
                existing += 1
        return existing

    def _final_ids(self, kind: Kind) -> set[int]:
        before = set(self._index(kind).name_by_id)
        return (before - self._removals[kind]) | set(self._final_name[kind])

    def commit(self, *, source: str, run: dict[str, Any]) -> dict[str, Any]:
        """Apply the run to the mirror, write the manifest last, and return the manifest."""
        self._check_open()
        store = self._store
        try:
            previous = store.read_manifest() or {}
            complete = run.get("complete") is True
            manifest: dict[str, Any] = {
                "format_version": FORMAT_VERSION,
                "pkgharvest_version": __version__,
                "source": source,
                "last_run": run,
                "last_complete_run": run if complete else previous.get("last_complete_run"),
                "last_complete_catalogue_run": (
                    run
                    if complete and run.get("scope") == "catalogue"
                    else last_complete_catalogue_run(previous)
                ),
                "records": {kind.value: len(self._final_ids(kind)) for kind in Kind},
                # The catalogue database knows a run by its manifest's digest: two runs in the
                # same second over the same data must still write different bytes.
                "run_serial": _serial(previous) + 1,
            }
            # Everything that needs disk space is written before the mirror is touched.
            staged_manifest = self._staging / (MANIFEST_NAME + PART_SUFFIX)
            write_new_file(staged_manifest, dump_manifest(manifest), fsync=True, owner=store.owner)
            index_data = self._index_bytes()
            plan = self._plan()
            if self._saved_index is None or digest(index_data) != self._saved_index.digest:
                staged_index = self._staging / (INDEX_NAME + PART_SUFFIX)
                write_new_file(staged_index, index_data, fsync=store.fsync, owner=store.owner)
                plan.index = True
            self._check_targets(plan)
            self._check_free_space(plan)
        except OSError as err:
            self.discard()
            raise store.write_error(err) from None
        except BaseException:
            self.discard()
            raise
        self._closed = True
        begun = False
        try:
            # From the journal on, the commit finishes: here, or on the next run (journal.py).
            with signals.held_during_commit():
                journal.write(store.root, plan, store.owner)
                begun = self._journal_begun = True
                journal.apply(store.root, plan, fsync=store.fsync)
                journal.finish(store.root, plan)
            self._release()
        except OSError as err:
            if not begun:
                self.discard()
                raise store.write_error(err) from None
            reason = err.strerror or str(err)
            raise StoreWriteError(
                f"the commit into {store.root} stopped part-way ({reason}): some records are "
                f"new, the manifest is not yet; the next `pkgharvest fetch` finishes it from "
                f"{store.root / journal.JOURNAL_NAME}"
            ) from None
        return manifest

    def _release(self) -> None:
        """After the commit: keep only what `written_ids` answers, and let the rest (indexes,
        names and entries of every record) go before the catalogue
        sync that follows reads the files."""
        self._written = {
            kind.value: {name: record_id for record_id, name in self._staged[kind].items()}
            for kind in Kind
        }
        self._indexes = {}
        self._saved_index = None
        self._final_name = {kind: {} for kind in Kind}
        self._claimed = {kind: {} for kind in Kind}
        self._staged = {kind: {} for kind in Kind}
        self._entries = {kind: {} for kind in Kind}
        self._removals = {kind: set() for kind in Kind}

    def written_ids(self) -> dict[str, dict[str, int]]:
        """The files the committed run wrote, by kind folder: name -> the id it holds (what
        the catalogue sync orders its reads by, without reading `.index.json` again)."""
        if self._written is None:
            raise RuntimeError("this transaction was not committed")
        return self._written

    def _plan(self) -> journal.CommitPlan:
        """The commit's moves and removals, per kind, in the order they must happen."""
        plan = journal.CommitPlan(staging=self._staging.name)
        for kind in Kind:
            # Put order is safe: a file is overwritten by another id only when that id was put
            # earlier under a new name, so its new file is already in place.
            plan.moves[kind.value] = list(self._staged[kind].values())
            index = self._index(kind)
            removals: list[str] = []
            for record_id in self._final_name[kind].keys() | self._removals[kind]:
                for name in index.names_of(record_id):
                    if name not in self._claimed[kind]:  # old name of a renamed id, or removed
                        removals.append(name)
            plan.removals[kind.value] = removals
        return plan

    def _check_targets(self, plan: journal.CommitPlan) -> None:
        """CorruptStore, before the journal, when a folder holds a name the commit moves a file
        to (journal.check_target); the kind folders' scans already know their folders."""
        for kind in Kind:
            folders = self._index(kind).folders if plan.moves.get(kind.value) else None
            if folders:
                for name in sorted(folders.intersection(plan.moves[kind.value])):
                    raise journal.folder_in_the_way(self._store.kind_folder(kind) / name)
        if plan.index:
            journal.check_target(self._store.root / INDEX_NAME)

    def _check_free_space(self, plan: journal.CommitPlan) -> None:
        """StoreWriteError unless the file system has room for what the commit allocates:
        checked before the first move, so a full disk stops the run with the mirror unchanged.
        """
        root = self._store.root
        info = os.statvfs(root)
        block = info.f_frsize or info.f_bsize or 4096
        if getattr(os, "geteuid", lambda: -1)() == 0:
            # Root may use the blocks reserved for root, never those the file system keeps.
            # Both are in f_bfree and neither in f_bavail, and statvfs cannot tell them apart:
            # at most 4,096 of the difference are the file system's, so that many are never
            # counted (2% of f_blocks fell short: f_blocks leaves out the file system's own
            # overhead, and the commit then stopped part-way).
            kept = min(info.f_bfree - info.f_bavail, _EXT4_RESERVE_MAX)
            free_blocks = max(0, info.f_bfree - kept)
        else:
            free_blocks = info.f_bavail
        needed_blocks = self._commit_blocks(plan, block)
        if free_blocks < needed_blocks:
            raise StoreWriteError(
                f"not enough free space in {root} to commit ({free_blocks * block // 1024} KiB "
                f"free, about {needed_blocks * block // 1024} KiB needed); the mirror is unchanged"
            )

    def _commit_blocks(self, plan: journal.CommitPlan, block: int) -> int:
        """File system blocks the commit may allocate, at `block` bytes each: the journal (a
        temporary file renamed into place), the new directory entries of the record folders
        (a name the folder does not hold yet: 8 bytes and the name rounded up to 4; a
        directory block that splits keeps half of its entries, so twice that), a block for
        each folder's index, and a spare."""
        journal_bytes = len(plan.to_bytes())
        blocks = 2 * -(-journal_bytes // block) + 2
        for kind in Kind:
            existing = self._index(kind).id_by_name
            entry_bytes = sum(
                _DIR_ENTRY_HEAD + -(-len(os.fsencode(name)) // 4) * 4
                for name in plan.moves.get(kind.value, [])
                if name not in existing
            )
            if entry_bytes:
                blocks += -(-2 * entry_bytes // block) + 1
        return blocks + max(_SPARE_BLOCKS, -(-_SPARE_BYTES // block))

    def _index_bytes(self) -> bytes:
        """The index after this run: every file it leaves that it knows the digest of."""
        kept: dict[str, dict[str, FileEntry]] = {}
        for kind in Kind:
            index = self._index(kind)
            entries = self._entries[kind]
            final = dict.fromkeys(self._claimed[kind])
            gone = self._removals[kind] | self._final_name[kind].keys()
            for record_id, name in index.name_by_id.items():
                if record_id not in gone:
                    final[name] = None  # a record this run did not touch
            kept[kind.value] = {name: entries[name] for name in final if name in entries}
        return dump_index(kept)

    def discard(self) -> None:
        """Drop everything staged; the mirror stays as it was. Safe to call twice."""
        self._closed = True
        if self._journal_begun:
            return  # the commit was begun: the next run finishes it from these files
        # A staging folder that can't be removed now is removed by the next open_for_update().
        shutil.rmtree(self._staging, ignore_errors=True)
