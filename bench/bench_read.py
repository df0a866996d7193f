"""Benchmark of the reading commands on a synthetic mirror of 6,000 packages (issue 3).

Run from the repository root:

    python bench/bench_read.py [--packages 6000] [--grids 380] [--repeat 5]

It builds the mirror in a temporary folder (tests/mirrorbuilder.py), then times each command
  - in-process: `pkgharvest.cli.run(argv)` with output to /dev/null, imports already warm;
  - as a subprocess: `python -m pkgharvest ...`, minus a bare `python -c pass`;
and lists what `python -X importtime -c "import pkgharvest.cli"` spends most on. It prints a
table of medians (milliseconds). A script, not a test: figures depend on the machine.
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
    link_grids,
    many_packages,
    seed_content,
    synthetic_grids,
    write_mirror,
)


def build(root: Path, packages: int, grids: int) -> MirrorContent:
    seeds = seed_content()
    all_grids = seeds.grids + synthetic_grids(grids - len(seeds.grids))
    content = MirrorContent(
        seeds.packages + many_packages(packages - len(seeds.packages), all_grids, seeds.categories),
        all_grids,
        seeds.categories,
    )
    link_grids(content)
    write_mirror(root, content)
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
        with contextlib.redirect_stdout(sink):
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--packages", type=int, default=6000)
    parser.add_argument("--grids", type=int, default=380)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="pkgharvest-bench-") as folder:
        root = Path(folder) / "mirror"
        started = time.perf_counter()
        build(root, args.packages, args.grids)
        built_s = time.perf_counter() - started
        size_mb = sum(p.stat().st_size for p in root.rglob("*.json")) / 1e6
        output = Path(folder) / "export.csv"
        data = ["--data-dir", str(root)]
        commands: list[tuple[str, list[str]]] = [
            ("top (20 rows)", ["top", *data]),
            ("top --limit 0 (all rows)", ["top", "--limit", "0", *data]),
            ("top --json --limit 0", ["top", "--json", "--limit", "0", *data]),
            ("grid postgresql", ["grid", "postgresql", *data]),
            ("show django-hstore", ["show", "django-hstore", *data]),
            ("show 100042 (by id: scan)", ["show", "100042", *data]),
            ("grids", ["grids", *data]),
            ("export csv -o FILE", ["export", "-o", str(output), *data]),
            ("export --format jsonl", ["export", "--format", "jsonl", *data]),
        ]
        interpreter = median_ms(
            lambda: subprocess.run(
                [sys.executable, "-c", "pass"], env=subprocess_env(), check=True
            ),
            args.repeat,
        )
        as_subprocess(["--help"])()  # warm the bytecode cache
        help_ms = median_ms(as_subprocess(["--help"]), args.repeat) - interpreter

        print(
            f"mirror: {args.packages:,} packages, {args.grids} grids, 5 categories, "
            f"{size_mb:.1f} MB of JSON (built in {built_s:.1f} s); "
            f"Python {sys.version.split()[0]}; "
            f"median of {args.repeat} runs; subprocess figures minus `python -c pass` "
            f"({interpreter:.0f} ms)"
        )
        print()
        print(f"{'command':<30} {'in-process ms':>14} {'subprocess ms':>14}")
        print(f"{'-' * 30} {'-' * 14} {'-' * 14}")
        print(f"{'--help':<30} {'':>14} {help_ms:>14.0f}")
        for label, argv in commands:
            in_ms = median_ms(in_process(argv), args.repeat)
            out_ms = median_ms(as_subprocess(argv), args.repeat) - interpreter
            print(f"{label:<30} {in_ms:>14.0f} {out_ms:>14.0f}")
        total, heaviest = importtime_top()
        print()
        print(f"python -X importtime -c 'import pkgharvest.cli': {total:.0f} ms; heaviest imports:")
        for ms, name in heaviest:
            print(f"  {ms:>7.1f} ms  {name.strip()}")


if __name__ == "__main__":
    main()
