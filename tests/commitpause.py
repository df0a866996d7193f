"""`python -m tests.commitpause ARGS`: `pkgharvest ARGS`, stopped inside the commit.

For the kill-during-commit tests. Every `os.replace` / `os.rename` that moves a file out of a
`.staging*` folder into a kind folder (`packages/`, `grids/`, `categories/`) is counted; right
after the Nth (env PKGHARVEST_TEST_PAUSE_AFTER) the child writes the count to the file named
by PKGHARVEST_TEST_PAUSE_MARKER and waits until it is killed. The marker is the proof that
the kill lands inside the commit, after exactly N records were moved into place, whatever
the store's code looks like (it patches the OS calls, not the store).
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


def main() -> None:
    after = int(os.environ["PKGHARVEST_TEST_PAUSE_AFTER"])
    marker = Path(os.environ["PKGHARVEST_TEST_PAUSE_MARKER"])
    os.replace = _pausing(os.replace, after, marker)
    os.rename = _pausing(os.rename, after, marker)
    from pkgharvest.cli import run

    sys.exit(run(sys.argv[1:]))


if __name__ == "__main__":
    main()
