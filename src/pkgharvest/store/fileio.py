"""Plain file I/O for the data folder and for exports: whole-file reads and writes with `os`
calls (no buffered-reader machinery: record files are small and there are tens of thousands),
and `atomic_replace`, the one mechanism that replaces a file so that readers see the old file or
the new one, never a part. Errors are OSError, unchanged: callers turn them into their message.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from pkgharvest.store.owner import Owner

BINARY = getattr(os, "O_BINARY", 0)  # Windows would otherwise translate newlines
TEMP_SUFFIX = ".tmp"
"""Temporary files are `.<name>.<random>.tmp`: hidden, and never taken for a record."""
PART_SUFFIX = ".part"
"""Staged files are `<name>.json.part` until the commit renames them: every `*.json` under the
data folder is a complete file."""


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def read_small_file_and_stat(path: str | Path) -> tuple[bytes, os.stat_result]:
    """A whole file and its stat (of the file read, not of whatever is at the path after),
    without the buffered-reader machinery of open(): record files are small."""
    fd = os.open(path, os.O_RDONLY | BINARY)
    try:
        chunks = []
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
        return b"".join(chunks), os.fstat(fd)
    finally:
        os.close(fd)


def write_new_file(path: str | Path, data: bytes, *, fsync: bool, owner: Owner) -> os.stat_result:
    """Create `path`, which must not exist (FileExistsError, and nothing is touched, if it
    does), give it to `owner` (owner.py), write `data`, and return the file's stat.

    Used for staged files: a fresh staging folder never holds the file, and O_EXCL both says so
    and costs less than O_TRUNC, which made some file systems do truncation work per file.
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | BINARY, 0o666)
    try:
        owner.give(fd)
        write_all(fd, data)
        if fsync:
            os.fsync(fd)
        return os.fstat(fd)
    finally:
        os.close(fd)


def fsync_dir(folder: str | Path) -> None:
    """Make renames and removals inside `folder` durable (a no-op where folders can't be opened)."""
    if os.name == "nt":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def create_temp(folder: Path, name: str, owner: Owner) -> tuple[int, Path]:
    """A new, empty `.<name>.<random>.tmp` in `folder`, open for writing, given to `owner`."""
    # Not tempfile.mkstemp: that creates files with mode 0600, and the result must get the
    # umask's usual permissions. The name is capped so a long target name stays under 255 bytes.
    while True:
        temp = folder / f".{name[:100]}.{os.urandom(6).hex()}{TEMP_SUFFIX}"
        try:
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | BINARY, 0o666)
        except FileExistsError:
            continue
        try:
            owner.give(fd)
        except BaseException:
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise
        return fd, temp


@contextlib.contextmanager
def atomic_replace(
    path: Path, *, owner: Owner, fsync: bool = False, keep_mode: bool = False
) -> Iterator[BinaryIO]:
    """Write `path` through the yielded binary file; readers see the old file or the new one,
    never a part.

    The file is a temp `.<name>.<random>.tmp` in the same folder, renamed over `path` when the
    block ends, and removed if it raises. New files get the umask's usual permissions;
    `keep_mode` keeps an existing file's; `owner`: whom the new file is given to (owner.py).
    `fsync=True` also makes the result durable (file and folder). OSError propagates
    unchanged: callers turn it into their own message.
    """
    fd, temp = create_temp(path.parent, path.name, owner)
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


def atomic_write_bytes(path: Path, data: bytes, *, owner: Owner, fsync: bool = False) -> None:
    """Replace `path` with `data` atomically (see `atomic_replace`)."""
    with atomic_replace(path, fsync=fsync, owner=owner) as out:
        out.write(data)


def is_leftover_temp(name: str) -> bool:
    return name.startswith(".") and name.endswith(TEMP_SUFFIX)


def remove_leftover_temps(folder: Path) -> None:
    """Remove the temporary files a killed writer left in `folder`."""
    with os.scandir(folder) as entries:
        for entry in entries:
            if is_leftover_temp(entry.name) and entry.is_file(follow_symlinks=False):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)
