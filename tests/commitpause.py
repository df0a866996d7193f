"""`python -m tests.commitpause ARGS`: `pkgharvest ARGS`, stopped inside the commit.

For the kill-during-commit tests. Every `os.replace` / `os.rename` that moves a file out of a
`.staging*` folder into a kind folder (`packages/`, `grids/`, `categories/`) is counted; right
after the Nth (env PKGHARVEST_TEST_PAUSE_AFTER) the child writes the count to the file named
by PKGHARVEST_TEST_PAUSE_MARKER and waits until it is killed. The marker is the proof that
the kill lands inside the commit, after exactly N records were moved into place, whatever
the store's code looks like (it patches the OS calls, not the store).

PKGHARVEST_TEST_PAUSE_ON picks another moment: `manifest` right after the new manifest is moved
into place (the journal still there), `journal` right after the journal is removed (the
commit done, the catalogue database not yet updated).
"""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path
from typing import Any

KIND_FOLDERS = {"packages", "grids", "categories"}


def _pausing(real: Any, after: int, marker: Path) -> Any:
    moved = 0
    lock = threading.Lock()

    def move(src: Any, dst: Any, *args: Any, **kwargs: Any) -> None:
        nonlocal moved
        real(src, dst, *args, **kwargs)
        source, target = Path(os.fsdecode(src)), Path(os.fsdecode(dst))
        from_staging = any(part.startswith(".staging") for part in source.parts)
        if from_staging and target.parent.name in KIND_FOLDERS:
            with lock:
                moved += 1
                if moved == after:
                    marker.write_text(str(moved))
                    threading.Event().wait()  # inside the commit until the test kills us

    return move


def _pausing_at(real: Any, name: str, marker: Path, *, target_arg: int) -> Any:
    """`real` (os.replace or os.unlink), pausing right after it touched a file called `name`
    (the path at position `target_arg`: os.replace's destination, os.unlink's path)."""

    def call(*args: Any, **kwargs: Any) -> Any:
        result = real(*args, **kwargs)
        if Path(os.fsdecode(args[target_arg])).name == name:
            marker.write_text(name)
            threading.Event().wait()  # inside the commit until the test kills us
        return result

    return call


def main() -> None:
    marker = Path(os.environ["PKGHARVEST_TEST_PAUSE_MARKER"])
    moment = os.environ.get("PKGHARVEST_TEST_PAUSE_ON", "move")
    if moment == "manifest":
        os.replace = _pausing_at(os.replace, "manifest.json", marker, target_arg=1)
    elif moment == "journal":
        os.unlink = _pausing_at(os.unlink, ".commit-journal.json", marker, target_arg=0)
    else:
        after = int(os.environ["PKGHARVEST_TEST_PAUSE_AFTER"])
        os.replace = _pausing(os.replace, after, marker)
        os.rename = _pausing(os.rename, after, marker)
    from pkgharvest.cli import run

    sys.exit(run(sys.argv[1:]))


if __name__ == "__main__":
    main()
