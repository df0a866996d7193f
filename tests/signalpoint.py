"""`python -m tests.signalpoint ARGS`: `pkgharvest ARGS`, paused at a chosen point so that a
test can send it a real signal there.

PKGHARVEST_TEST_PAUSE_AT is `stage:N` (just before the Nth record file is created in the
staging folder: mid-run, before the commit), `created:N` (just after it is created, still
empty: a kill there leaves an unfinished file) or `commit:N` (right after the Nth staged file
is moved into a record folder: inside the commit). At that point the child writes "ready" to the
file descriptor PKGHARVEST_TEST_READY_FD and reads one line from stdin before going on. The
test, once it has read "ready", sends its signal, then writes a line (or closes stdin). It
patches OS calls, not pkgharvest, so the pause proves where the signal lands whatever the
store's code looks like.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

KIND_FOLDERS = {"packages", "grids", "categories"}


def _pause() -> None:
    os.write(int(os.environ["PKGHARVEST_TEST_READY_FD"]), b"ready\n")
    sys.stdin.buffer.readline()


def main() -> None:
    where, count = os.environ["PKGHARVEST_TEST_PAUSE_AT"].split(":")
    after = int(count)
    seen = 0

    if where in ("stage", "created"):
        real_open = os.open

        def staging_open(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
            nonlocal seen
            name = os.fsdecode(path)
            staged = ".staging-" in name and Path(name).parent.name in KIND_FOLDERS
            if flags & os.O_EXCL and staged:
                seen += 1
                if seen == after and where == "stage":
                    _pause()
            fd = real_open(path, flags, *args, **kwargs)
            if flags & os.O_EXCL and staged and seen == after and where == "created":
                _pause()
            return fd

        os.open = staging_open
    else:
        real_replace = os.replace

        def moving(src: Any, dst: Any, *args: Any, **kwargs: Any) -> None:
            nonlocal seen
            real_replace(src, dst, *args, **kwargs)
            from_staging = ".staging-" in os.fsdecode(src)
            if from_staging and Path(os.fsdecode(dst)).parent.name in KIND_FOLDERS:
                seen += 1
                if seen == after:
                    _pause()

        os.replace = moving

    from pkgharvest.cli import run

    sys.exit(run(sys.argv[1:]))


if __name__ == "__main__":
    main()
