"""The catalogue database built from the JSON files: what a first `fetch` pays after its commit,
and what any command pays when the database is missing or corrupt.

    python -m bench.bench_rebuild [--sizes 6000,30000] [--repeat 5] [--data-root /tmp]
                                  [--src OTHER_CHECKOUT/src]

For each size it starts the fake API (tests/fakeapi.py, grids in proportion as in bench.run),
mirrors it once with `pkgharvest fetch` into `--data-root`, then `--repeat` times deletes
`catalogue.db` and opens the catalogue in a child process (`open_catalogue`, which rebuilds it
from every record file: the sync of a first run). Each child is measured with `os.wait4` (its own
user and system CPU, peak RSS); the table shows the best and the median, and the start-up alone
(the same child without the rebuild). `--src` runs the children on another checkout's `src`,
for a before/after comparison on the same mirror. A script, not a test: the figures depend on
the machine; say its load (printed at the end) with them.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

from bench.run import (
    GRIDS_PER_6000,
    REPO_ROOT,
    ChildRun,
    fake_api,
    fetch_argv,
    file_system_type,
    run_child,
)

_CHILD = """
import sys
from pathlib import Path
if {src!r}:
    sys.path.insert(0, {src!r})
from pkgharvest.catalogue import open_catalogue
from pkgharvest.store.mirror import read_record_file
if {rebuild!r}:
    open_catalogue(Path({root!r})).close()
"""


def child_argv(root: Path, src: str, *, rebuild: bool) -> list[str]:
    return [sys.executable, "-c", _CHILD.format(src=src, root=str(root), rebuild=rebuild)]


def remove_catalogue(root: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        path = root / f"catalogue.db{suffix}"
        if path.exists():
            path.unlink()


def rebuilds(root: Path, src: str, repeat: int) -> list[ChildRun]:
    runs = []
    for _ in range(repeat):
        remove_catalogue(root)
        run = run_child(child_argv(root, src, rebuild=True), cwd=REPO_ROOT)
        if run.exit_code != 0:
            raise SystemExit(f"the rebuild failed (exit {run.exit_code})")
        runs.append(run)
    return runs


def summary(label: str, runs: list[ChildRun]) -> str:
    def both(values: list[float]) -> str:
        return f"{min(values):6.2f} {statistics.median(values):6.2f}"

    return (
        f"{label:>16} | {both([r.wall for r in runs])} | {both([r.cpu_user for r in runs])} |"
        f" {both([r.cpu_sys for r in runs])} | {max(r.peak_rss_mb for r in runs):6.1f}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="6000,30000")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--data-root", default=tempfile.gettempdir())
    parser.add_argument("--src", default="", help="another checkout's src folder")
    args = parser.parse_args(argv)
    src = str(Path(args.src).resolve()) if args.src else ""
    print(f"{'best, median:':>16} | {'wall s':>13} | {'user s':>13} | {'sys s':>13} | rss MB")
    for size in [int(part) for part in args.sizes.split(",") if part.strip()]:
        grids = max(1, size * GRIDS_PER_6000 // 6000)
        with (
            tempfile.TemporaryDirectory(dir=args.data_root, prefix="pkgharvest-rebuild-") as tmp,
            fake_api(size, grids, 0.0) as base_url,
        ):
            root = Path(tmp) / "mirror"
            fetched = run_child(fetch_argv(base_url, root, 4), cwd=REPO_ROOT)
            if fetched.exit_code != 0:
                raise SystemExit(f"the fetch that builds the mirror failed ({fetched.exit_code})")
            fs = file_system_type(root)
            print(summary(f"{size:,} {fs}", rebuilds(root, src, args.repeat)))
            startup = [
                run_child(child_argv(root, src, rebuild=False), cwd=REPO_ROOT)
                for _ in range(args.repeat)
            ]
            print(summary("start-up alone", startup))
    print("load average at the end: " + " ".join(f"{n:.2f}" for n in os.getloadavg()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
