"""Reading one dependency file: a regular file only, at most MAX_FILE_BYTES, UTF-8.

A path that is a FIFO, a device (`-r /dev/zero`), a folder or a /proc or /sys file (which
reads more than its size) is refused, so no include can make the command hang, read without
end or print what such a file holds; a file larger than any real dependency file is refused
rather than read into memory.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from pkgharvest.errors import DependencyFileError, DependencyFileMissing

MAX_FILE_BYTES = 16 * 1024 * 1024
"""The largest dependency file read. Real lock files of large applications are well under
1 MB (saleor's uv.lock: 0.3 MB)."""


def shown_path(path: Path, cwd: Path) -> str:
    """`path` as the user would type it: relative to `cwd` when it lies below it."""
    try:
        return str(path.relative_to(cwd))
    except ValueError:
        return str(path)


def read_text(path: Path, shown: str, *, included_from: str | None = None) -> str:
    """The file's text. DependencyFileMissing (exit 7) when a file named on the command line
    is missing or unreadable; DependencyFileError (exit 65) naming `included_from` ("FILE:LINE")
    when an included one is; DependencyFileError for anything that is not a regular UTF-8
    file within the size limit."""

    def fail(reason: str) -> Exception:
        if included_from is not None:
            return DependencyFileError(f"{included_from}: cannot read {shown}: {reason}")
        return DependencyFileMissing(f"cannot read {shown}: {reason}")

    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise fail("no such file") from None
    except OSError as err:
        raise fail(err.strerror or str(err)) from None
    if stat.S_ISDIR(info.st_mode):
        raise fail("it is a folder")
    if not stat.S_ISREG(info.st_mode):
        raise fail("not a regular file")
    if info.st_size > MAX_FILE_BYTES:
        raise DependencyFileError(
            f"{shown}: larger than {MAX_FILE_BYTES // (1024 * 1024)} MB; not a dependency file"
        )
    try:
        # O_NONBLOCK: had the path become a FIFO since the stat, opening it must not wait.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except OSError as err:
        raise fail(err.strerror or str(err)) from None
    try:
        opened = os.fstat(fd)
        if not stat.S_ISREG(opened.st_mode):
            raise fail("not a regular file")
        chunks: list[bytes] = []
        size = 0
        while chunk := os.read(fd, 1 << 20):
            size += len(chunk)
            if size > MAX_FILE_BYTES:
                raise DependencyFileError(f"{shown}: larger than the limit; not a dependency file")
            if size > opened.st_size:
                # A /proc or /sys file says it is a regular file of size 0 (or 4096) and reads
                # more: `-r /proc/self/environ` would print the environment's secrets.
                raise fail("not a regular file (a /proc or /sys file)")
            chunks.append(chunk)
    except OSError as err:
        raise fail(err.strerror or str(err)) from None
    finally:
        os.close(fd)
    data = b"".join(chunks)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise DependencyFileError(f"{shown}:{line}: not UTF-8 text") from None
    return text


def line_of(text: str, offset: int) -> int:
    """The 1-based line holding character `offset` of `text`."""
    return text.count("\n", 0, max(offset, 0)) + 1
