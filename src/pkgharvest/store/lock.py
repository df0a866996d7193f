"""The data folder's lock: one run updates a folder at a time.

The lock is an OS lock (flock, or a byte-range lock on Windows) on `<root>/.lock`. The OS drops
it when the holding process dies, even by kill -9, so a lock is never stale. The file itself
stays (removing it would let two runs lock different files). Its content is a note for a run
that finds the lock held: `{"pid": ..., "started": ...}`, padded with spaces to a fixed width so
that it is rewritten in place, never truncated.

The lock file is opened without following links and must be a regular file with one link: a
planted symlink or hard link to a file elsewhere is refused, never written through. Deleting
`.lock` while a run holds it cannot let a second run in: besides the file, the holder locks the
data folder itself (which cannot be swapped while it holds the mirror), and a run checks after
locking that the file it locked is still the one at the path. Like every file in the data
folder, it is the folder's owner's, even when root takes the lock (owner.py).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import stat
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pkgharvest.errors import CorruptStore, LockHeld
from pkgharvest.records import _is_int, iso_utc
from pkgharvest.store.fileio import BINARY
from pkgharvest.store.owner import Owner, owner_of
from pkgharvest.store.recordfile import REPAIR_HINT

LOCK_NAME = ".lock"

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

    def _lock_folder(folder: Path) -> int | None:
        return None  # folders cannot be opened here; Windows cannot delete an open .lock

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

    def _lock_folder(folder: Path) -> int | None:
        """flock the data folder itself: it stays the same folder while it holds the mirror,
        so a run that got the lock of a new `.lock` file still finds the folder locked."""
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise LockHeld(
                f"another pkgharvest run holds the data folder {folder} (its lock file "
                f"{folder / LOCK_NAME} was removed or replaced while that run held it)"
            ) from None
        except BaseException:
            os.close(fd)
            raise
        return fd


_NOTE_WIDTH = 200
_ATTEMPTS = 5  # times the lock file may be swapped under a run that is taking it


def _holder_note(fd: int) -> str:
    """'pid N, started ISO' from the lock file, as its holder wrote it."""
    try:
        note = json.loads(os.pread(fd, _NOTE_WIDTH, 0))
        return f"pid {int(note['pid'])}, started {note['started']}"
    except (ValueError, TypeError, KeyError, OSError):
        # The holder has opened the file but not written its note yet.
        return "pid unknown"


def _write_note(fd: int, note: str) -> None:
    """Overwrite the note in place: padded to a fixed width, so no truncation is needed."""
    data = note.encode()[: _NOTE_WIDTH - 1].ljust(_NOTE_WIDTH - 1) + b"\n"
    view = memoryview(data)
    offset = 0
    while offset < len(data):
        offset += os.pwrite(fd, view[offset:], offset)


def _open_lock_file(path: Path, owner: Owner) -> int:
    """The lock file, opened without following a link and given to `owner` (owner.py: the data
    folder's owner, even when root takes the lock); CorruptStore if it is not a plain file of
    its own (a symlink, a folder, a device, a hard link to a file elsewhere)."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | BINARY, 0o666)
    except OSError as err:
        if err.errno in (errno.ELOOP, errno.EISDIR, errno.ENXIO) or os.path.islink(path):
            raise CorruptStore(
                f"the lock file {path} is a symlink or not a regular file; {REPAIR_HINT}"
            ) from None
        raise
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1:
        os.close(fd)
        what = "not a regular file" if not stat.S_ISREG(info.st_mode) else "a hard link"
        raise CorruptStore(f"the lock file {path} is {what}; {REPAIR_HINT}")
    try:
        owner.give(fd)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _is_the_file_at(fd: int, path: Path) -> bool:
    try:
        here = os.lstat(path)
    except FileNotFoundError:
        return False
    there = os.fstat(fd)
    return (here.st_dev, here.st_ino) == (there.st_dev, there.st_ino)


class FolderLock:
    """A held lock on a data folder; `acquire` takes it, `release` gives it back."""

    def __init__(self, path: Path, fd: int, folder_fd: int | None) -> None:
        self.path = path
        self._fd = fd
        self._folder_fd = folder_fd

    @classmethod
    def acquire(cls, path: Path, owner: Owner | None = None) -> FolderLock:
        """Lock `path` (created if missing, and given to `owner`: by default the owner of the
        folder holding it, see owner.py) and that folder, or raise LockHeld at once if another
        process holds either. CorruptStore if the lock file is not a plain file; other OSErrors
        propagate unchanged."""
        if owner is None:
            owner = owner_of(path.parent)
        for _ in range(_ATTEMPTS):
            fd = _open_lock_file(path, owner)
            try:
                if not _try_lock(fd):
                    raise LockHeld(
                        f"another pkgharvest run holds the lock {path} ({_holder_note(fd)})"
                    )
                if not _is_the_file_at(fd, path):
                    # Removed or replaced between open and lock: lock the file now there.
                    os.close(fd)
                    continue
                folder_fd = _lock_folder(path.parent)
                try:
                    note = json.dumps({"pid": os.getpid(), "started": iso_utc(datetime.now(UTC))})
                    _write_note(fd, note)
                except BaseException:
                    if folder_fd is not None:
                        os.close(folder_fd)
                    raise
            except BaseException:
                os.close(fd)
                raise
            return cls(path, fd, folder_fd)
        raise LockHeld(f"the lock file {path} keeps being replaced; is another program at work?")

    def release(self) -> None:
        """Unlock and close; safe to call once the lock is held."""
        try:
            # Clear the note before unlocking: after, it may already be the next holder's.
            with contextlib.suppress(OSError):
                _write_note(self._fd, "{}")
            _unlock(self._fd)
        finally:
            os.close(self._fd)
            if self._folder_fd is not None:
                os.close(self._folder_fd)  # closing drops its flock


# --- who holds it (read without taking it) ---------------------------------------------------
#
# Taking the lock, even for an instant, could make a fetch starting at that moment fail with
# "locked": on Linux the kernel's own list of flock holders (/proc/locks) says; elsewhere the
# note the holder writes into the lock file (its pid), trusted only while that process lives.


@dataclass(frozen=True)
class LockFacts:
    """Whether a fetch holds the data folder's lock, and its pid when known."""

    held: bool
    pid: int | None = None


PROC_LOCKS = Path("/proc/locks")


def _flock_holder(lock_path: Path, proc_locks: Path) -> LockFacts | None:
    """The kernel's answer from /proc/locks (Linux), or None where it cannot be read.

    A line reads `1: FLOCK  ADVISORY  WRITE 12345 08:01:1048602 0 EOF`: pid, then
    major:minor:inode of the locked file.
    """
    try:
        info = lock_path.stat()
        table = proc_locks.read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    for line in table.splitlines():
        fields = line.split()
        if "FLOCK" not in fields or len(fields) < 6:
            continue
        index = fields.index("FLOCK")
        try:
            pid = int(fields[index + 3])
            inode = int(fields[index + 4].rsplit(":", 1)[1])
        except (IndexError, ValueError):
            continue
        if inode == info.st_ino:
            return LockFacts(held=True, pid=pid)
    return LockFacts(held=False)


def _note_holder(lock_path: Path) -> LockFacts:
    """From the note `{"pid": N, ...}` the holder writes (and clears before it unlocks)."""
    try:
        note = json.loads(lock_path.read_bytes() or b"null")
    except (OSError, ValueError):
        return LockFacts(held=False)
    pid = note.get("pid") if isinstance(note, dict) else None
    if not isinstance(pid, int) or not _is_int(pid) or pid <= 0:
        return LockFacts(held=False)
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except PermissionError:
        return LockFacts(held=True, pid=pid)  # alive, someone else's
    except OSError:
        return LockFacts(held=False)  # died without clearing the note (kill -9)
    return LockFacts(held=True, pid=pid)


def lock_facts(root: Path, proc_locks: Path = PROC_LOCKS) -> LockFacts:
    """Whether a fetch holds `root`'s lock now (never takes the lock itself)."""
    lock_path = root / LOCK_NAME
    if not lock_path.exists():
        return LockFacts(held=False)
    found = _flock_holder(lock_path, proc_locks)
    return found if found is not None else _note_holder(lock_path)
