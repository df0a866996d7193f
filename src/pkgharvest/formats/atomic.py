"""Writing an output file so that a failed export never leaves half a file behind."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from pkgharvest.errors import StoreWriteError
from pkgharvest.fileio import atomic_replace


def write_atomically(path: Path, write: Callable[[TextIO], None]) -> None:
    """Call `write` on a temporary file beside `path`, then rename it over `path`.

    The file is UTF-8, opened with newline="" (the writer chooses line endings), durable once
    renamed, and keeps an existing file's permissions. If anything fails, `path` is left as it
    was. OS errors become StoreWriteError (exit 73) naming the file.
    """
    try:
        with atomic_replace(path, fsync=True, keep_mode=True) as raw:
            out = io.TextIOWrapper(raw, encoding="utf-8", newline="")
            write(out)
            out.flush()
            out.detach()  # leave `raw` open: atomic_replace fsyncs and closes it
    except OSError as err:
        raise StoreWriteError(f"cannot write {path}: {err.strerror or err}") from None
