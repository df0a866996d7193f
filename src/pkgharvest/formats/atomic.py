"""Writing an export's output file (`export -o PATH`) so that a failed export never leaves half a
file behind, and never replaces what is not a plain file.

- A regular file (or a new name) is written to a temporary file beside it and renamed over it.
- A symlink is followed to its final target, which is then written the same way, in the
  target's own folder: the link stays a link.
- Anything else that exists (a character device such as /dev/null, a FIFO, a socket) is written
  into directly: nothing is ever renamed over it. Write errors there (`/dev/full`) are errors.
"""

from __future__ import annotations

import io
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from pkgharvest.errors import StoreWriteError
from pkgharvest.store.fileio import BINARY, atomic_replace
from pkgharvest.store.owner import CREATOR


def write_atomically(path: Path, write: Callable[[TextIO], None]) -> None:
    """Call `write` on a text stream that ends up in `path` (see the module docs).

    The text is UTF-8, written with newline="" (the writer chooses line endings). A regular
    file is durable once renamed and keeps an existing file's permissions; if anything fails,
    it is left as it was. OS errors become StoreWriteError (exit 73) naming `path`.
    """
    try:
        target = Path(os.path.realpath(path))
        try:
            info: os.stat_result | None = os.stat(target)
        except FileNotFoundError:
            info = None
        if info is not None and stat.S_ISDIR(info.st_mode):
            raise IsADirectoryError(21, "it is a folder")
        if info is not None and not stat.S_ISREG(info.st_mode):
            _write_into(target, write)
            return
        # The user's own file, wherever it goes: it belongs to whoever runs the export.
        with atomic_replace(target, owner=CREATOR, fsync=True, keep_mode=True) as raw:
            out = io.TextIOWrapper(raw, encoding="utf-8", newline="")
            write(out)
            out.flush()
            out.detach()  # leave `raw` open: atomic_replace fsyncs and closes it
    except OSError as err:
        raise StoreWriteError(f"cannot write {path}: {err.strerror or err}") from None


def _write_into(target: Path, write: Callable[[TextIO], None]) -> None:
    """Write into a device, FIFO or socket as it is (opening a FIFO waits for its reader)."""
    fd = os.open(target, os.O_WRONLY | os.O_NOCTTY | BINARY)
    with open(fd, "w", encoding="utf-8", newline="") as out:
        write(out)
        out.flush()  # here, not only in close(), so that ENOSPC (/dev/full) is raised
