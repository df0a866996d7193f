"""Which file holds which id in one kind's folder (`packages/`, `grids/`, `categories/`), as the
mirror was before a run, and what each file holds (a digest), so that a rerun learns that a
record did not change without reading its file back.

The digests persist in `<root>/.index.json`, written by each commit::

    {"format": 2, "packages": {"django.json": "<id> <size> <mtime_ns> <inode> <blake2b-hex>
     [<source>]", ...}, "grids": {...}, "categories": {...}}

`<source>`, when present, is the digest of what the record was normalized from (the API's raw
record and its resolved links, stage.py): a rerun that receives the same source again keeps the
file without normalizing or serializing the record. Entries without it (an index written by an
older version) are read as before.

It is a cache: an entry is used only when the file's size, mtime and inode are still the ones
recorded (a file edited or replaced by hand has another), otherwise the file is read as if there
were no index. A missing, unreadable or broken index costs one read per record, nothing more.
Only names, ids and digests are kept in memory, never records.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path
from typing import Any

from pkgharvest.records import is_record_id
from pkgharvest.store import paths
from pkgharvest.store.fileio import BINARY
from pkgharvest.store.recordfile import read_record_id

INDEX_NAME = ".index.json"
_INDEX_FORMAT = 2
_INDEX_MAX_BYTES = 1 << 30  # far above any real catalogue; a planted endless file is ignored

FileEntry = str
"""What the index records of one file, as one string (compact in memory and on disk, and
parsed only for the files a run looks at): "<id> <size> <mtime_ns> <inode> <digest>", then
" <source>" when the run that wrote it knew the record's source digest."""


def digest(data: bytes) -> str:
    """The digest of a record file's bytes (BLAKE2b, 128 bits, hex)."""
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def entry_for(
    record_id: int, info: os.stat_result, data_digest: str, source: str | None = None
) -> FileEntry:
    entry = f"{record_id} {info.st_size} {info.st_mtime_ns} {info.st_ino} {data_digest}"
    return entry if source is None else f"{entry} {source}"


def entry_digest(entry: FileEntry) -> str:
    return entry.split(" ", 5)[4]


def entry_source(entry: FileEntry) -> str | None:
    """The source digest the entry records, if any."""
    parts = entry.split(" ", 5)
    return parts[5] if len(parts) == 6 else None


def with_source(entry: FileEntry, source: str | None) -> FileEntry:
    """The same entry, recording `source` (or no source) instead."""
    head = " ".join(entry.split(" ", 5)[:5])
    return head if source is None else f"{head} {source}"


def _entry_id_if_same_file(entry: object, info: os.stat_result) -> int | None:
    """The record id the entry vouches for, if the file is still the one it describes."""
    if not isinstance(entry, str):
        return None
    parts = entry.split(" ")
    # The file's numbers compared as text: the digits the index wrote for this very file, or
    # anything else (which then means "not vouched for", whatever it is).
    if (
        len(parts) not in (5, 6)
        or parts[1] != str(info.st_size)
        or parts[2] != str(info.st_mtime_ns)
        or parts[3] != str(info.st_ino)
        or not (parts[0].isascii() and parts[0].isdecimal() and len(parts[0]) <= 16)
    ):
        return None
    record_id = int(parts[0])
    return record_id if is_record_id(record_id) else None


class SavedIndex:
    """`<root>/.index.json` as read at the start of a run: its entries by kind folder name, and
    the digest of its bytes (a commit that would write the same bytes leaves the file alone)."""

    def __init__(self, entries: dict[str, dict[str, FileEntry]], data_digest: str) -> None:
        self.entries = entries
        self.digest = data_digest


def load_saved_index(root: Path) -> SavedIndex:
    """The saved index; empty if there is none or it cannot be used."""
    data = _read_index_file(root / INDEX_NAME)
    try:
        saved = json.loads(data) if data else None
    except (ValueError, RecursionError):
        saved = None
    if not isinstance(saved, dict) or saved.get("format") != _INDEX_FORMAT:
        return SavedIndex({}, "")
    loaded = {
        kind: entries
        for kind, entries in saved.items()
        if kind != "format" and isinstance(entries, dict)
    }
    return SavedIndex(loaded, digest(data))


def _read_index_file(path: Path) -> bytes:
    """The bytes of a regular file at `path` (never through a symlink), b"" if unusable."""
    try:
        # O_NONBLOCK: opening a FIFO planted under the name would wait for a writer for ever.
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | BINARY)
    except OSError:
        return b""
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > _INDEX_MAX_BYTES:
            return b""
        chunks = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
        return b"".join(chunks)
    except OSError:
        return b""
    finally:
        os.close(fd)


def index_problem(root: Path) -> str | None:
    """What is wrong with `<root>/.index.json` for `verify`, in words; None when it is absent
    or an index this version wrote (a run ignores a broken one, and writes it again)."""
    path = root / INDEX_NAME
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as err:
        return f"cannot be read ({err.strerror or err})"
    if stat.S_ISLNK(info.st_mode):
        return "is a symlink (never followed)"
    if not stat.S_ISREG(info.st_mode):
        return "is not a regular file"
    if info.st_size > _INDEX_MAX_BYTES:
        return "is larger than any index"
    try:
        document = json.loads(_read_index_file(path))
    except (ValueError, RecursionError):
        return "is not valid JSON"
    if not isinstance(document, dict) or document.get("format") != _INDEX_FORMAT:
        return "is not an index this version wrote"
    for kind, entries in document.items():
        if kind == "format":
            continue
        if not isinstance(entries, dict) or not all(
            isinstance(name, str) and isinstance(entry, str) for name, entry in entries.items()
        ):
            return f"holds {kind!r} entries that are not an index's"
    return None


def dump_index(entries_by_kind: dict[str, dict[str, FileEntry]]) -> bytes:
    """The index file's bytes; keys sorted, so the same entries always give the same bytes."""
    document: dict[str, Any] = {"format": _INDEX_FORMAT}
    document.update(entries_by_kind)
    return json.dumps(document, separators=(",", ":"), sort_keys=True).encode("ascii")


class KindIndex:
    """The record files of one kind's folder: by id, by name, and what each holds."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.name_by_id: dict[int, str] = {}
        self.id_by_name: dict[str, int] = {}
        # Files whose content the saved index vouches for (size, mtime and inode unchanged).
        self.entries: dict[str, FileEntry] = {}
        # Further files holding an id that already has one (left by a crash between moving a
        # renamed record into place and removing its old name). They are removed when the id
        # is next put or removed.
        self.extra_names: dict[int, list[str]] = {}
        # Files holding an integer id no record may have (records.is_record_id).
        self.invalid_names: list[str] = []
        # Folders named like a record file: never read, but no file can be renamed onto one.
        self.folders: set[str] = set()

    @classmethod
    def load(cls, folder: Path, saved: dict[str, FileEntry] | None = None) -> KindIndex:
        """Read the folder: every `*.json` not starting with "." is a record. A file that
        `saved` vouches for is not opened; others are read up to their id. OSError and
        CorruptStore propagate."""
        index = cls(folder)
        saved = saved or {}
        # Each entry is judged while the scan holds it: keeping the DirEntry objects (and the
        # stat results they cache) until the end grows memory with the folder.
        found: list[tuple[str, int | None]] = []
        with os.scandir(folder) as entries:
            for entry in entries:
                name = entry.name
                if not name.endswith(paths.RECORD_SUFFIX) or name.startswith("."):
                    continue
                if not entry.is_file(follow_symlinks=False):
                    if entry.is_dir(follow_symlinks=False):
                        index.folders.add(name)
                    continue  # a folder, or a link to a file elsewhere: never a record
                known = saved.get(name)
                vouched = None
                if known is not None:
                    vouched = _entry_id_if_same_file(known, entry.stat())
                    if vouched is not None:
                        index.entries[name] = known
                found.append((name, vouched))
        # Name order, so that which of two files holding one id is "extra" does not depend on
        # the order the file system lists them in.
        found.sort()
        for name, vouched in found:
            record_id = read_record_id(os.path.join(folder, name)) if vouched is None else vouched
            if record_id is None:
                # An id no record may have: the file is left alone, and its name is free for
                # the record the run writes there.
                index.invalid_names.append(name)
                continue
            index._add(name, record_id)
        return index

    def take_entries(self) -> dict[str, FileEntry]:
        """The entries the saved index vouched for, handed over (not copied: a transaction
        keeps them up to date from here on)."""
        entries, self.entries = self.entries, {}
        return entries

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
