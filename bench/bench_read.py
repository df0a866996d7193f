"""Benchmark of the reading commands on synthetic mirrors (issues 3 and 8).

Run from the repository root:

    python bench/bench_read.py [--sizes 6000,30000] [--repeat 5] [--rss-packages 50000]

For each size it writes the mirror in a temporary folder (tests/mirrorbuilder.py), builds its
catalogue database, simulates a second day (half the packages re-measured) so that `trends`
and `changes` have history, then times each command as a subprocess, best of `--repeat`, minus
a bare `python -c pass`: once from the database, and once from the private copy a command
builds from the record files when it cannot use the folder's database (a read-only or another
user's folder, a database locked too long). `--rss-packages N` adds the peak RSS of
`top --json --limit 0` on N packages with each. Last, what `python -X importtime -c
"import pkgharvest.cli"` spends most on. A script, not a test: figures depend on the machine.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "src"))

from tests.mirrorbuilder import (  # noqa: E402
    MirrorContent,
    grown_content,
    seed_content,
    write_mirror,
)


def build(root: Path, packages: int, grids: int, *, catalogue: bool = True) -> MirrorContent:
    seeds = seed_content()
    content = grown_content(packages - len(seeds.packages), grids - len(seeds.grids))
    write_mirror(root, content, catalogue=catalogue)
    return content


def median_ms(action: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def in_process(argv: Sequence[str]) -> Callable[[], None]:
    from pkgharvest.cli import run

    def action() -> None:
        sink = io.StringIO()
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(io.StringIO()):
            code = run(list(argv))
        if code != 0:
            raise SystemExit(f"pkgharvest {' '.join(argv)} failed with {code}")

    return action


def subprocess_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # measure with cached bytecode, as users run it
    env["PYTHONPATH"] = str(REPO / "src")
    env["COLUMNS"] = "160"
    return env


def as_subprocess(argv: Sequence[str]) -> Callable[[], None]:
    command = [sys.executable, "-m", "pkgharvest", *argv]

    def action() -> None:
        subprocess.run(command, env=subprocess_env(), stdout=subprocess.DEVNULL, check=True)

    return action


def importtime_top(count: int = 8) -> tuple[float, list[tuple[float, str]]]:
    """Total ms of `import pkgharvest.cli`, and the heaviest modules (cumulative ms)."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import pkgharvest.cli"],
        env=subprocess_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    rows = []
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative_us, name = line.removeprefix("import time:").split("|")
        rows.append((int(cumulative_us) / 1000, name[1:]))  # nested names are indented more
    total = next(ms for ms, name in rows if name == "pkgharvest.cli")
    # Direct imports of pkgharvest.cli and its own submodules: where start-up time goes.
    direct = [
        (ms, name.strip())
        for ms, name in rows
        if name.startswith(("  ", "pkgharvest"))
        and not name.startswith("   ")
        and name != "pkgharvest.cli"
    ]
    return total, sorted(direct, reverse=True)[:count]


PRIVATE_READER = (
    "import sys, pkgharvest.catalogue.reader as r; "
    "from pkgharvest.errors import CatalogueUnwritable; "
    "r._as_is = lambda mirror: (None, CatalogueUnwritable('the benchmark')); "
    "r.may_write = lambda root: False; "
    "from pkgharvest.cli import main; sys.argv[0] = 'pkgharvest'; main()"
)
"""`python -c PRIVATE_READER ARGS`: the CLI as it runs where the folder's database cannot be
used: it reads a private copy built from the record files."""


def subprocess_argv(argv: Sequence[str], reader: str) -> list[str]:
    if reader == "private":
        return [sys.executable, "-c", PRIVATE_READER, *argv]
    return [sys.executable, "-m", "pkgharvest", *argv]


def best_ms(command: list[str], repeat: int) -> float:
    """Best wall time of `repeat` runs (the issue's "best of 5"), output to /dev/null."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(command, env=subprocess_env(), stdout=subprocess.DEVNULL, check=True)
        times.append((time.perf_counter() - start) * 1000)
    return min(times)


_MEASURE_CHILD = (
    "import os, subprocess, sys; "
    "p = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL); "
    "_, status, usage = os.wait4(p.pid, 0); "
    "sys.exit(os.waitstatus_to_exitcode(status) or print(usage.ru_maxrss))"
)
"""Runs a command and prints its peak RSS (KiB). Through this small parent, because Linux
carries a parent's high-water RSS into a forked child's `ru_maxrss`, and this script holds a
whole synthetic mirror in memory."""


def peak_rss_mb(command: list[str]) -> float:
    """Peak RSS of one child run (wait4's ru_maxrss, via a small parent), in MB."""
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE_CHILD, *command],
        env=subprocess_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    return int(done.stdout.split()[-1]) / 1024


def simulate_next_day(root: Path, content: MirrorContent, share: float = 0.5) -> float:
    """A second run's JSON commit: the service re-measured `share` of the packages (stars up,
    last_fetched a day later, one more week of commits), then the database sync. Returns the
    sync's seconds."""
    import json
    import random

    from pkgharvest.catalogue import after_commit
    from tests.mirrorbuilder import write_records

    rng = random.Random(8)
    changed = []
    for package in content.packages:
        if rng.random() < share:
            package["stars"] = (package["stars"] or 0) + rng.randint(0, 40)
            package["last_fetched"] = "2026-06-02T14:07:14Z"
            if package["commits_52w"] is not None:
                package["commits_52w"] = [*package["commits_52w"][1:], rng.randint(0, 5)]
                package["commits_52w_total"] = sum(package["commits_52w"])
            changed.append(package)
    write_records(root / "packages", changed)
    manifest_path = root / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["last_run"] = dict(manifest["last_run"], started="2026-06-02T14:00:00Z")
    manifest_path.write_text(json.dumps(manifest, indent=2))
    started = time.perf_counter()
    problem = after_commit(root).problem
    if problem:
        raise SystemExit(problem)
    return time.perf_counter() - started


def in_process_ms(argv: Sequence[str], reader: str, repeat: int) -> float:
    """Best in-process time of `pkgharvest.cli.run(argv)`, imports warm: the command's own
    work (finding, ranking, drawing) without the interpreter and import start-up."""
    import pkgharvest.catalogue.reader as readers
    from pkgharvest.errors import CatalogueUnwritable

    originals = readers._as_is, readers.may_write
    if reader == "private":
        readers._as_is = lambda mirror: (None, CatalogueUnwritable("the benchmark"))
        readers.may_write = lambda root: False
    try:
        action = in_process(argv)
        action()  # warm: imports, first open
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            action()
            times.append((time.perf_counter() - start) * 1000)
        return min(times)
    finally:
        readers._as_is, readers.may_write = originals


GOAL_COMMANDS = (
    "top (20 rows)",
    "grid postgresql",
    "show django-hstore",
    "grids",
    "categories",
    "trends --since 30d",
    "changes",
)
GOAL_MS = (100, 200)
"""Issue 8: each of these under 0.1 s of its own at 6,000 packages, under 0.2 s at 30,000."""


def bench_size(
    packages: int, grids: int, repeat: int, folder: Path, *, subprocesses: bool = True
) -> None:
    from pkgharvest.catalogue import CATALOGUE_NAME, open_catalogue

    root = folder / f"mirror-{packages}"
    started = time.perf_counter()
    content = build(root, packages, grids, catalogue=False)
    built_s = time.perf_counter() - started
    size_mb = sum(p.stat().st_size for p in root.rglob("*.json")) / 1e6
    started = time.perf_counter()
    open_catalogue(root).close()
    db_s = time.perf_counter() - started
    sync_s = simulate_next_day(root, content)
    db_mb = sum(p.stat().st_size for p in root.glob(CATALOGUE_NAME + "*")) / 1e6
    data = ["--data-dir", str(root)]
    output = folder / "export.csv"
    commands: list[tuple[str, list[str], bool]] = [
        ("top (20 rows)", ["top", *data], True),
        ("top --limit 0 (all rows)", ["top", "--limit", "0", *data], True),
        ("top --json --limit 0", ["top", "--json", "--limit", "0", *data], True),
        ("grid postgresql", ["grid", "postgresql", *data], True),
        ("show django-hstore", ["show", "django-hstore", *data], True),
        ("show 100042 (by id)", ["show", "100042", *data], True),
        ("grids", ["grids", *data], True),
        ("categories", ["categories", *data], True),
        ("trends --since 30d", ["trends", "--since", "30d", *data], False),
        ("changes", ["changes", *data], False),
        ("export csv -o FILE", ["export", "-o", str(output), *data], True),
    ]
    interpreter = best_ms([sys.executable, "-c", "pass"], repeat)
    print(
        f"mirror: {packages:,} packages, {grids} grids, 5 categories, {size_mb:.1f} MB of JSON "
        f"(written in {built_s:.1f} s); catalogue.db built from it in {db_s:.1f} s, then a "
        f"day's sync (half the packages re-measured) {sync_s:.2f} s; database {db_mb:.1f} MB"
    )
    print(
        f"best of {repeat} subprocess runs, minus `python -c pass` ({interpreter:.0f} ms); "
        "'database' reads the folder's catalogue database, 'private copy' builds one from the "
        "record files first (history commands have none)"
    )
    print()
    print(
        f"{'':<28} {'subprocess ms':^27} {'in-process ms (warm)':^27}\n"
        f"{'command':<28} {'private copy':>13} {'database':>13} {'private copy':>13} "
        f"{'database':>13}"
    )
    print(f"{'-' * 28} {'-' * 13} {'-' * 13} {'-' * 13} {'-' * 13}")
    own: dict[str, float] = {}  # subprocess ms from the database, minus the interpreter
    for label, argv, has_before in commands:
        cells = []
        for reader in ("private", "database"):
            if reader == "private" and not has_before:
                cells.append(f"{'(none)':>13}")
            elif subprocesses:
                ms = best_ms(subprocess_argv(argv, reader), repeat) - interpreter
                cells.append(f"{ms:>13.0f}")
                if reader == "database":
                    own[label] = ms
            else:
                cells.append(f"{'':>13}")
        for reader in ("private", "database"):
            if reader == "private" and not has_before:
                cells.append(f"{'(none)':>13}")
            else:
                cells.append(f"{in_process_ms(argv, reader, repeat):>13.0f}")
        print(f"{label:<28} {' '.join(cells)}")
    if own:
        goal = GOAL_MS[0] if packages <= 6000 else GOAL_MS[1]
        missed = [f"{label} {own[label]:.0f}" for label in GOAL_COMMANDS if own[label] >= goal]
        print(
            f"issue 8's goal, each of {len(GOAL_COMMANDS)} commands under {goal} ms of its own "
            f"(subprocess, database): {'met' if not missed else 'missed by ' + ', '.join(missed)}"
        )
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="6000,30000", help="package counts, comma-separated")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--rss-packages", type=int, default=0, help="also peak RSS of top --json --limit 0 here"
    )
    parser.add_argument(
        "--in-process-only", action="store_true", help="skip the subprocess columns (quick)"
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="pkgharvest-bench-") as name:
        folder = Path(name)
        as_subprocess(["--help"])()  # warm the bytecode cache
        for packages in (int(size) for size in args.sizes.split(",") if size):
            grids = max(380, packages * 380 // 6000)
            bench_size(packages, grids, args.repeat, folder, subprocesses=not args.in_process_only)
        if args.rss_packages:
            from pkgharvest.catalogue import open_catalogue

            root = folder / "mirror-rss"
            build(root, args.rss_packages, 380, catalogue=False)
            open_catalogue(root).close()
            argv = ["top", "--json", "--limit", "0", "--data-dir", str(root)]
            before = peak_rss_mb(subprocess_argv(argv, "private"))
            after = peak_rss_mb(subprocess_argv(argv, "database"))
            print(
                f"peak RSS of `top --json --limit 0` on {args.rss_packages:,} packages: "
                f"private copy {before:.0f} MB, database {after:.0f} MB"
            )
        total, heaviest = importtime_top()
        print()
        print(f"python -X importtime -c 'import pkgharvest.cli': {total:.0f} ms; heaviest imports:")
        for ms, name in heaviest:
            print(f"  {ms:>7.1f} ms  {name.strip()}")


if __name__ == "__main__":
    main()
