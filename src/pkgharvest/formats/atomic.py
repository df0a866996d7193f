"""Writing an output file so that a failed export never leaves half a file behind."""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from pkgharvest.errors import StoreWriteError


def write_atomically(path: Path, write: Callable[[TextIO], None]) -> None:
    """Call `write` on a temporary file beside `path`, then rename it over `path`.

    The file is UTF-8, opened with newline="" (the writer chooses line endings). If anything
    fails, the temporary file is removed and `path` is left as it was. OS errors become
    StoreWriteError (exit 73) naming the file.
    """
    folder = path.parent
    try:
        handle, temporary = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as err:
        raise StoreWriteError(f"cannot write {path}: {err.strerror or err}") from None
    try:
        with open(handle, "w", encoding="utf-8", newline="") as out:
            write(out)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, _mode_for(path))
        os.replace(temporary, path)
    except BaseException as err:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        if isinstance(err, OSError):
            raise StoreWriteError(f"cannot write {path}: {err.strerror or err}") from None
        raise


def _mode_for(path: Path) -> int:
    """Keep an existing file's permissions; a new file gets the usual 0666 less the umask
    (mkstemp alone would make it 0600)."""
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask
