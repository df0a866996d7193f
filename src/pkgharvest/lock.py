"""The data folder's lock: one run updates a folder at a time.

The lock is an OS lock (flock, or a byte-range lock on Windows) on `<root>/.lock`. The OS drops
it when the holding process dies, even by kill -9, so a lock is never stale. The file itself
stays (removing it would let two runs lock different files). Its content is a note for a run
that finds the lock held: `{"pid": ..., "started": ...}`.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

from pkgharvest.errors import LockHeld
from pkgharvest.fileio import BINARY, write_all

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


class FolderLock:
    """A held lock on one lock file; `acquire` takes it, `release` gives it back."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd = fd

    @classmethod
    def acquire(cls, path: Path) -> FolderLock:
        """Lock `path` (created if missing), or raise LockHeld at once if another process
        holds it. OSError propagates unchanged."""
        fd = os.open(path, os.O_RDWR | os.O_CREAT | BINARY, 0o666)
        try:
            if not _try_lock(fd):
                raise LockHeld(f"another pkgharvest run holds the lock {path} ({_holder_note(fd)})")
            note = json.dumps({"pid": os.getpid(), "started": _now_iso()}) + "\n"
            os.ftruncate(fd, 0)
            os.lseek(fd, 0, os.SEEK_SET)
            write_all(fd, note.encode())
        except BaseException:
            os.close(fd)
            raise
        return cls(path, fd)

    def release(self) -> None:
        """Unlock and close; safe to call once the lock is held."""
        try:
            # Clear the note before unlocking: after, it may already be the next holder's.
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)
            _unlock(self._fd)
        finally:
            os.close(self._fd)
