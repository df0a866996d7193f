"""The mirror's write side: a folder of JSON files that a failed run never damages.

Layout of the data folder (a public contract)::

    <root>/manifest.json                 format version, last runs, record counts
    <root>/packages/<name>.json          one record per file, see records.py
    <root>/grids/<name>.json
    <root>/categories/<name>.json
    <root>/.lock                         held (flock) by the run that updates the folder

`<name>` is `paths.record_filename(slug, id)`, or the fallback `_id-<id>` when the slug is unsafe
or its name is taken by another id. Readers must find records by the `id` inside the file, never
by guessing the file name.

How a run stays safe (the bandersnatch model): every write of a run goes into a staging folder
inside the root (same file system), and only `Transaction.commit()` moves the staged files into
place, each with one atomic `os.replace`. Anything that data needs (the manifest too) is written
before the first file is moved, so a full disk or a failed API leaves every mirror file
byte-for-byte as it was. A crash during commit leaves each file old or new, never partial; the
manifest is replaced last. Leftovers of killed runs are removed by the next `open_for_update()`.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import secrets
import shutil
import stat
import sys
import tempfile
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO

from pkgharvest import __version__, paths
from pkgharvest.errors import CorruptStore, LockHeld, StoreError, StoreWriteError
from pkgharvest.records import Kind, Record

FORMAT_VERSION = 1
"""Version of the data folder's layout; a folder with a newer one is refused, never rewritten."""

MANIFEST_NAME = "manifest.json"
LOCK_NAME = ".lock"

_STAGING_PREFIX = ".staging-"
_TEMP_SUFFIX = ".tmp"
_BINARY = getattr(os, "O_BINARY", 0)  # Windows would otherwise translate newlines
# Files we write start with `{\n  "id": 123,`; reading this much of the head finds the id.
_HEAD_BYTES = 64
_HEAD_ID = re.compile(rb'\A\{\s*"id"\s*:\s*(-?[0-9]+)\s*[,}]')
_AGAIN = "move it away or delete it, then run `pkgharvest fetch` again"


class Change(StrEnum):
    """What `Transaction.put` did with a record, compared with the mirror before this run."""

    NEW = "new"
    CHANGED = "changed"
    UNCHANGED = "unchanged"


# --- small file helpers ---------------------------------------------------------------------


_FIELD_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(", ", ": "))
_ASCII_FIELD_ENCODER = json.JSONEncoder(ensure_ascii=True, separators=(", ", ": "))
_encode_text: Any = getattr(json.encoder, "c_encode_basestring", None) or (
    json.encoder.encode_basestring
)


def _c_container_encoder() -> Any:
    """The C encoder JSONEncoder.encode would build on every call, built once (or None)."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:
        return None

    def unsupported(value: object) -> None:
        raise TypeError(f"{type(value).__name__} is not JSON serializable")

    # Arguments: markers (None: no cycle check, records are trees), default, string encoder,
    # indent, key separator, item separator, sort_keys, skipkeys, allow_nan.
    return make(None, unsupported, _encode_text, None, ": ", ", ", False, False, True)


_encode_container = _c_container_encoder()


def _fast_value(value: Any) -> str:
    """JSON for one field value, skipping the encoder's per-call set-up where it can."""
    kind = type(value)
    if kind is str:
        return _encode_text(value)  # type: ignore[no-any-return]
    if value is None:
        return "null"
    if kind is int:
        return int.__repr__(value)
    if not value and (kind is list or kind is dict):
        return "[]" if kind is list else "{}"
    if _encode_container is not None:
        return "".join(_encode_container(value, 0))
    return _FIELD_ENCODER.encode(value)


def _record_text(record: Record, encode: Any) -> str:
    # One top-level field per line, each value on its line: `diff` shows which field changed.
    # Values go through the C encoder: json.dumps with indent= falls back to pure Python, which
    # would cost about half the harvester's CPU on a full catalogue.
    body = ",\n".join(f"  {encode(key)}: {encode(value)}" for key, value in record.items())
    return "{\n" + body + "\n}\n"


def serialize_record(record: Record) -> bytes:
    """The exact bytes of a record file: JSON with one field per line, indented two spaces, in
    the dict's key order (the normalizer's contract order), UTF-8, ending in a newline."""
    try:
        return _record_text(record, _fast_value).encode("utf-8")
    except UnicodeEncodeError:
        # A lone surrogate (the API can send "\ud800") has no UTF-8 form: escape it instead.
        return _record_text(record, _ASCII_FIELD_ENCODER.encode).encode("ascii")


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _read_small_file(path: str) -> bytes:
    """A whole file, without the buffered-reader machinery of open() (record files are small)."""
    fd = os.open(path, os.O_RDONLY | _BINARY)
    try:
        chunks = []
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def _write_file(path: str | Path, data: bytes, *, fsync: bool) -> None:
    """Create or truncate `path` and write `data` (not atomic: used inside staging only)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | _BINARY, 0o666)
    try:
        _write_all(fd, data)
        if fsync:
            os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(folder: Path) -> None:
    """Make renames and removals inside `folder` durable (a no-op where folders can't be opened)."""
    if os.name == "nt":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _create_temp(folder: Path, name: str) -> tuple[int, Path]:
    # Not tempfile.mkstemp: that creates files with mode 0600, and the result must get the
    # umask's usual permissions. The name is capped so a long target name stays under 255 bytes.
    while True:
        temp = folder / f".{name[:100]}.{secrets.token_hex(6)}{_TEMP_SUFFIX}"
        try:
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _BINARY, 0o666)
        except FileExistsError:
            continue
        return fd, temp


@contextlib.contextmanager
def atomic_replace(
    path: Path, *, fsync: bool = False, keep_mode: bool = False
) -> Iterator[BinaryIO]:
    """Write `path` through the yielded binary file; readers see the old file or the new one,
    never a part.

    The file is a temp `.<name>.<random>.tmp` in the same folder, renamed over `path` when the
    block ends, and removed if it raises. New files get the umask's usual permissions;
    `keep_mode` keeps an existing file's. `fsync=True` also makes the result durable (file and
    folder). OSError propagates unchanged: callers turn it into their own message.
    """
    fd, temp = _create_temp(path.parent, path.name)
    try:
        with open(fd, "wb") as out:
            yield out
            if fsync:
                out.flush()
                os.fsync(out.fileno())
        if keep_mode:
            with contextlib.suppress(FileNotFoundError):
                os.chmod(temp, stat.S_IMODE(path.stat().st_mode))
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    if fsync:
        fsync_dir(path.parent)


def atomic_write_bytes(path: Path, data: bytes, *, fsync: bool = False) -> None:
    """Replace `path` with `data` atomically (see `atomic_replace`)."""
    with atomic_replace(path, fsync=fsync) as out:
        out.write(data)


def _is_leftover_temp(name: str) -> bool:
    return name.startswith(".") and name.endswith(_TEMP_SUFFIX)


def _remove_leftover_temps(folder: Path) -> None:
    with os.scandir(folder) as entries:
        for entry in entries:
            if _is_leftover_temp(entry.name) and entry.is_file(follow_symlinks=False):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)


# --- the manifest ---------------------------------------------------------------------------


def parse_manifest(path: Path, data: bytes) -> dict[str, Any]:
    """The manifest's content, or CorruptStore (one line) if this version must not use it."""
    try:
        manifest = json.loads(data)
    except ValueError as err:
        raise CorruptStore(f"the manifest {path} is not valid JSON ({err}); {_AGAIN}") from None
    if not isinstance(manifest, dict):
        raise CorruptStore(f"the manifest {path} is not a JSON object; {_AGAIN}")
    version = manifest.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise CorruptStore(f"the manifest {path} has no valid format_version; {_AGAIN}")
    if version > FORMAT_VERSION:
        raise CorruptStore(
            f"the manifest {path} has format_version {version}, newer than this pkgharvest "
            f"{__version__} reads ({FORMAT_VERSION}): upgrade pkgharvest, or {_AGAIN}"
        )
    return manifest


def _dump_manifest(manifest: dict[str, Any]) -> bytes:
    return (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


# --- the lock -------------------------------------------------------------------------------

if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt

    # Lock a byte far past the holder's note, so that a blocked run can still read the note.
    _WIN_LOCK_OFFSET = 1 << 20

    def _try_lock(fd: int) -> bool:
        os.lseek(fd, _WIN_LOCK_OFFSET, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock(fd: int) -> None:
        os.lseek(fd, _WIN_LOCK_OFFSET, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)


def _holder_note(fd: int) -> str:
    """'pid N, started ISO' from the lock file, as its holder wrote it."""
    os.lseek(fd, 0, os.SEEK_SET)
    try:
        note = json.loads(os.read(fd, 4096))
        return f"pid {int(note['pid'])}, started {note['started']}"
    except (ValueError, TypeError, KeyError):
        # The holder has opened the file but not written its note yet.
        return "pid unknown"


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


# --- the index of one kind's folder ---------------------------------------------------------


def corrupt_record(path: str | Path, problem: str) -> CorruptStore:
    """The one-line error for a record file that something else broke (readers use it too)."""
    return CorruptStore(f"the record file {path} {problem}; {_AGAIN}")


def _read_record_id(path: Path) -> int:
    """The id of the record in `path`, from the head of the file when it looks like ours."""
    fd = os.open(path, os.O_RDONLY | _BINARY)
    try:
        head = os.read(fd, _HEAD_BYTES)
        match = _HEAD_ID.match(head)
        if match is not None:
            return int(match.group(1))
        chunks = [head]
        while chunk := os.read(fd, 1 << 16):
            chunks.append(chunk)
    finally:
        os.close(fd)
    record = _parse_record(path, b"".join(chunks))
    return int(record["id"])


def _parse_record(path: Path, data: bytes) -> Record:
    try:
        record = json.loads(data)
    except ValueError as err:
        raise corrupt_record(path, f"is not valid JSON ({err})") from None
    if not isinstance(record, dict):
        raise corrupt_record(path, "is not a JSON object")
    record_id = record.get("id")
    if not isinstance(record_id, int) or isinstance(record_id, bool):
        raise corrupt_record(path, 'has no integer "id"')
    return record


class _KindIndex:
    """Which file holds which id in one kind's folder, as the mirror was before this run.

    Only names are kept, never records, so memory stays small for tens of thousands of files.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.name_by_id: dict[int, str] = {}
        self.id_by_name: dict[str, int] = {}
        # Further files holding an id that already has one (left by a crash between moving a
        # renamed record into place and removing its old name). They are removed when the id
        # is next put or removed.
        self.extra_names: dict[int, list[str]] = {}

    @classmethod
    def load(cls, folder: Path) -> _KindIndex:
        index = cls(folder)
        with os.scandir(folder) as entries:
            names = sorted(
                entry.name
                for entry in entries
                if entry.name.endswith(paths.RECORD_SUFFIX)
                and not entry.name.startswith(".")
                and entry.is_file()
            )
        for name in names:
            index._add(name, _read_record_id(folder / name))
        return index

    def _add(self, name: str, record_id: int) -> None:
        self.id_by_name[name] = record_id
        primary = self.name_by_id.get(record_id)
        if primary is None:
            self.name_by_id[record_id] = name
            return
        # Two files, one id: the newer one is the record (it was moved in by the later run).
        if (self.folder / name).stat().st_mtime_ns > (self.folder / primary).stat().st_mtime_ns:
            self.name_by_id[record_id] = name
            name = primary
        self.extra_names.setdefault(record_id, []).append(name)

    def names_of(self, record_id: int) -> list[str]:
        primary = self.name_by_id.get(record_id)
        if primary is None:
            return []
        return [primary, *self.extra_names.get(record_id, [])]


def _record_id(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"a record id must be an int, not {value!r}")
    return value


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
        """Hold the data folder's lock, or raise LockHeld at once if another run holds it.

        The OS drops the lock when the holding process dies, even by kill -9: a lock is never
        stale. The lock file itself stays (removing it would let two runs lock different files).
        """
        try:
            if self.root.exists() and not self.root.is_dir():
                raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR))
            self.root.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | _BINARY, 0o666)
        except OSError as err:
            raise self.write_error(err) from None
        try:
            try:
                locked = _try_lock(fd)
                if not locked:
                    raise LockHeld(
                        f"another pkgharvest run holds the lock {self.lock_path} "
                        f"({_holder_note(fd)})"
                    )
                note = json.dumps({"pid": os.getpid(), "started": _now_iso()}) + "\n"
                os.ftruncate(fd, 0)
                os.lseek(fd, 0, os.SEEK_SET)
                _write_all(fd, note.encode())
            except OSError as err:
                raise self.write_error(err) from None
            self._locked = True
            try:
                yield
            finally:
                self._locked = False
                self._opened = False
                # Clear the note before unlocking: after, it may already be the next holder's.
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, 0)
                _unlock(fd)
        finally:
            os.close(fd)

    def open_for_update(self) -> None:
        """Check the folder can be updated, and clean what killed runs left. Call under lock()."""
        if not self._locked:
            raise RuntimeError("Store.open_for_update() must be called under Store.lock()")
        # First, so that a folder this version must not touch is left exactly as it is.
        self.read_manifest()
        try:
            for kind in Kind:
                self.kind_folder(kind).mkdir(exist_ok=True)
            for folder in (self.root, *(self.kind_folder(kind) for kind in Kind)):
                # A real create+remove: permissions, read-only mounts and ACLs all show here.
                fd, probe = _create_temp(folder, "probe")
                os.close(fd)
                os.unlink(probe)
            with os.scandir(self.root) as entries:
                stagings = [
                    entry.path
                    for entry in entries
                    if entry.name.startswith(_STAGING_PREFIX) and entry.is_dir()
                ]
            for staging in stagings:
                shutil.rmtree(staging)
            for folder in (self.root, *(self.kind_folder(kind) for kind in Kind)):
                _remove_leftover_temps(folder)
        except OSError as err:
            raise self.write_error(err) from None
        self._opened = True

    def read_manifest(self) -> dict[str, Any] | None:
        """The manifest, None if there is none yet; CorruptStore if it is broken or newer."""
        try:
            data = self.manifest_path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as err:
            raise StoreError(f"cannot read {self.manifest_path}: {err.strerror or err}") from None
        return parse_manifest(self.manifest_path, data)

    def begin(self) -> Transaction:
        """Start staging a run's writes; usable as a context manager (an exception discards)."""
        if not self._opened:
            raise RuntimeError("Store.begin() needs Store.open_for_update() under Store.lock()")
        try:
            staging = Path(tempfile.mkdtemp(prefix=_STAGING_PREFIX, dir=self.root))
            for kind in Kind:
                (staging / kind.value).mkdir()
        except OSError as err:
            raise self.write_error(err) from None
        return Transaction(self, staging)


class Transaction:
    """One run's changes to the mirror: staged by `put`, applied only by `commit`."""

    def __init__(self, store: Store, staging: Path) -> None:
        self._store = store
        self._staging = staging
        self._closed = False
        self._indexes: dict[Kind, _KindIndex] = {}
        # For every id put in this run: its final file name, and the reverse map. A name in
        # `_claimed` is the file this run leaves for that id (written or left unchanged).
        self._final_name: dict[Kind, dict[int, str]] = {kind: {} for kind in Kind}
        self._claimed: dict[Kind, dict[str, int]] = {kind: {} for kind in Kind}
        # Ids whose new bytes are in staging (in put order: see commit).
        self._staged: dict[Kind, dict[int, str]] = {kind: {} for kind in Kind}
        self._removals: dict[Kind, set[int]] = {kind: set() for kind in Kind}

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

    def _index(self, kind: Kind) -> _KindIndex:
        index = self._indexes.get(kind)
        if index is None:
            try:
                index = _KindIndex.load(self._store.kind_folder(kind))
            except OSError as err:
                raise self._store.write_error(err, doing="read") from None
            self._indexes[kind] = index
        return index

    def _read_mirror(self, kind: Kind, name: str) -> bytes:
        # Plain os calls on string paths: this runs once per record per run.
        try:
            return _read_small_file(os.path.join(self._store.root, kind.value, name))
        except OSError as err:
            raise self._store.write_error(err, doing="read") from None

    def previous(self, kind: Kind, record_id: int) -> Record | None:
        """The mirror's record with this id as it was before this run, or None."""
        self._check_open()
        kind = Kind(kind)
        name = self._index(kind).name_by_id.get(_record_id(record_id))
        if name is None:
            return None
        return _parse_record(self._store.kind_folder(kind) / name, self._read_mirror(kind, name))

    def mirror_ids(self, kind: Kind) -> frozenset[int]:
        """The ids the mirror held before this run."""
        self._check_open()
        return frozenset(self._index(Kind(kind)).name_by_id)

    def has_put(self, kind: Kind, record_id: int) -> bool:
        """Whether this run already put the record with this id (without copying put_ids)."""
        return record_id in self._final_name[Kind(kind)]

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
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._staging / kind.value / name)

    def put(self, kind: Kind, record: Record) -> Change:
        """Stage `record`, unless the mirror already holds exactly these bytes for its id.

        The last put of an id wins; a put cancels an earlier `schedule_removal` of that id.
        """
        self._check_open()
        kind = Kind(kind)
        record_id = _record_id(record.get("id"))
        data = serialize_record(record)
        index = self._index(kind)
        self._forget_put(kind, record_id)
        self._removals[kind].discard(record_id)
        current = index.name_by_id.get(record_id)
        if (
            current is not None
            and self._name_is_free(kind, current, record_id)
            and self._read_mirror(kind, current) == data
        ):
            # Same bytes: the file stays as it is, even under a fallback name whose slug name
            # has become free since (no rename churn for records that did not change).
            name = current
            change = Change.UNCHANGED
        else:
            if current is not None:
                # About to replace it: a file something else broke stops the run (the user
                # decides what to do with it) rather than being silently overwritten.
                path = self._store.kind_folder(kind) / current
                _parse_record(path, self._read_mirror(kind, current))
            name = self._choose_name(kind, record.get("slug"), record_id)
            try:
                staged = os.path.join(self._staging, kind.value, name)
                _write_file(staged, data, fsync=self._store.fsync)
            except OSError as err:
                raise self._store.write_error(err) from None
            self._staged[kind][record_id] = name
            change = Change.NEW if current is None else Change.CHANGED
        self._final_name[kind][record_id] = name
        self._claimed[kind][name] = record_id
        return change

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
            previous = store.read_manifest()
            manifest: dict[str, Any] = {
                "format_version": FORMAT_VERSION,
                "pkgharvest_version": __version__,
                "source": source,
                "last_run": run,
                "last_complete_run": (
                    run if run.get("complete") else (previous or {}).get("last_complete_run")
                ),
                "records": {kind.value: len(self._final_ids(kind)) for kind in Kind},
            }
            # Everything that needs disk space is written before the mirror is touched.
            staged_manifest = self._staging / MANIFEST_NAME
            _write_file(staged_manifest, _dump_manifest(manifest), fsync=True)
            for kind in Kind:
                self._apply(kind)
            os.replace(staged_manifest, store.manifest_path)
            fsync_dir(store.root)
        except OSError as err:
            raise store.write_error(err) from None
        finally:
            self.discard()
        return manifest

    def _apply(self, kind: Kind) -> None:
        folder = self._store.kind_folder(kind)
        staging = self._staging / kind.value
        # Put order is safe: a file is overwritten by another id only when that id was put
        # earlier under a new name, so its new file is already in place.
        for name in self._staged[kind].values():
            os.replace(staging / name, folder / name)
        index = self._index(kind)
        for record_id in self._final_name[kind].keys() | self._removals[kind]:
            for name in index.names_of(record_id):
                if name not in self._claimed[kind]:  # old name of a renamed id, or a removal
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(folder / name)
        if self._store.fsync:
            fsync_dir(folder)

    def discard(self) -> None:
        """Drop everything staged; the mirror stays as it was. Safe to call twice."""
        self._closed = True
        # A staging folder that can't be removed now is removed by the next open_for_update().
        shutil.rmtree(self._staging, ignore_errors=True)
