"""Benchmark of `pkgharvest deps --all` (issue 18, "Speed"): a real 3,214-line uv.lock (saleor's,
fixtures/projects/saleor-uv/) against a 30,000-package catalogue must cost under 0.1 s beyond
the stack's start-up.

Run from the repository root:

    python bench/bench_deps.py [--packages 30000] [--repeat 15] [--data-root /tmp] [--callgrind]
                               [--compare OTHER/src]

It writes a synthetic mirror (tests/mirrorbuilder.py) of `--packages` packages, every one with a
`pypi_url` in one of the forms the catalogue holds, a few hundred of them named after the lock's
packages so that most of the lock matches, and builds its catalogue database. Then:

1. **In process, imports warm** (the work itself, best and median of `--repeat`): reading the
   project (uv.lock and its pyproject.toml), opening the catalogue, matching and judging (the
   report), and writing `--json`; and once, the name index (`package_names`) rebuilt whole,
   which only a database no sync has kept it in pays (one made by an older pkgharvest): the
   sync that writes the packages keeps it, so the mirror built here, like any fetch, leaves it
   current (checked).
2. **As the user runs it** (child processes, interleaved so that machine load hits all alike,
   best and median of `--repeat`, wall and CPU time from `os.wait4`): `pkgharvest deps
   saleor-uv --all --json` against two readings of "the stack's start-up": `pkgharvest deps
   --help` (`help`: the interpreter, typer and the CLI's own start-up, nothing of `deps`'
   work) and `python -c "import typer, httpx, rich"` (`stack`: the libraries every command
   stands on, imported whole); and against `help` with the libraries `deps` reads with
   imported first (`libraries`: packaging, tomllib, sqlite3). The differences are what `deps`
   costs beyond each. `--callgrind` also counts the runs' instructions (valgrind; independent
   of the machine's load) and converts the differences to time at the pace `deps --help`'s
   best CPU time shows on this machine now (under load that pace is slow: say the load).
   `--compare OTHER/src` runs the same children from another checkout's sources too (the code
   before a change), interleaved with these, so that before and after come from one run.

A script, not a test: the figures depend on the machine (this one is shared; say so with them).
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
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "src"))

from tests.mirrorbuilder import grown_content, seed_content, write_mirror  # noqa: E402

PROJECT = REPO / "fixtures" / "projects" / "saleor-uv"
STACK_IMPORTS = "import typer, httpx, rich"
"""The libraries every command stands on, imported whole: one reading of the stack's start-up
(typer, httpx and rich are the CLI's runtime dependencies; the CLI itself imports less of them
at start-up)."""
LIBRARY_IMPORTS = (
    "import sys; sys.argv = ['pkgharvest', 'deps', '--help']; "
    "import packaging.requirements, packaging.specifiers, packaging.utils, tomllib, sqlite3; "
    "from pkgharvest.cli import main; main()"
)
"""`deps --help` with the libraries `deps` needs imported first: the stack's start-up with
packaging (a runtime dependency since this command), tomllib and sqlite3."""
FORMS = (
    "http://pypi.python.org/pypi/{name}",
    "https://pypi.org/project/{name}/",
    "https://pypi.org/project/{name}/1.0/",
    "pypi.python.org/pypi/{name}/",
)


def lock_names() -> list[str]:
    import tomllib

    document = tomllib.loads((PROJECT / "uv.lock").read_text(encoding="utf-8"))
    return sorted({p["name"] for p in document["package"]} - {"saleor", "django"})


def build(root: Path, packages: int) -> None:
    seeds = seed_content()
    content = grown_content(packages - len(seeds.packages), 380 * packages // 6000)
    names = lock_names()
    for index, record in enumerate(content.packages[len(seeds.packages) :]):
        name = names[index] if index < len(names) else record["slug"]
        if index < len(names):
            record["slug"] = name if index % 3 else f"{name}-app"
        record["pypi_url"] = FORMS[index % len(FORMS)].format(name=name)
    write_mirror(root, content)


def stats(times: list[float]) -> str:
    return f"best {min(times) * 1000:6.1f} ms, median {statistics.median(times) * 1000:6.1f} ms"


def timed(action: Callable[[], object], repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return times


def in_process(root: Path, repeat: int) -> None:
    from pkgharvest.catalogue import matching, nameindex
    from pkgharvest.catalogue.dependencies import dependency_report
    from pkgharvest.catalogue.reader import open_reader
    from pkgharvest.formats.deps import write_json
    from pkgharvest.project import read_project
    from pkgharvest.project.model import Project
    from pkgharvest.project.report import Report
    from pkgharvest.runtime import utc_now

    now = utc_now()
    reader = open_reader(root)
    conn = reader.conn
    if matching.NameIndex(conn).rebuilt:
        raise SystemExit("the sync that built the catalogue left the name index behind")
    conn.execute("DELETE FROM catalogue_meta WHERE key = ?", (nameindex.NAMES_STAMP_KEY,))
    build_index = timed(lambda: matching.NameIndex(conn), 1)
    reader.close()
    print("  name index after a fetch: current (no rebuild)")
    print(f"  name index rebuilt (an older database):  {build_index[0] * 1000:6.1f} ms")

    def read() -> Project:
        return read_project([PROJECT], REPO, include_transitive=True)

    project = read()
    count = len(project.dependencies)
    print(f"  read uv.lock + pyproject.toml ({count} deps): {stats(timed(read, repeat))}")

    def report() -> Report:
        with contextlib.closing(open_reader(root)) as opened:
            return dependency_report(opened.conn, project, now)

    result = report()
    print(f"  open catalogue, match, judge:           {stats(timed(report, repeat))}")
    writing = timed(lambda: write_json(result, io.StringIO()), repeat)
    print(f"  write --json:                           {stats(writing)}")
    matched = sum(1 for row in result.rows if row.record is not None)
    print(f"  ({matched} of {len(result.rows)} dependencies matched)")

    def whole() -> None:
        from pkgharvest.cli import run

        with contextlib.redirect_stdout(io.StringIO()):
            code = run(["deps", str(PROJECT), "--all", "--json", "--data-dir", str(root)])
        assert code == 0, code

    print(f"  the whole command (cli.run):            {stats(timed(whole, repeat))}")


def _child(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds: user + system) of one child run, from os.wait4."""
    started = time.perf_counter()
    child = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(command)} failed")
    return wall, usage.ru_utime + usage.ru_stime


def _instructions(command: list[str], env: dict[str, str]) -> int:
    """Instructions one run executes (valgrind's callgrind: independent of machine load)."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "callgrind.out"
        subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *command],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True,
        )  # fmt: skip
        for line in out.read_text().splitlines():
            if line.startswith("summary:") or line.startswith("totals:"):
                return int(line.split()[1])
    raise SystemExit("callgrind wrote no totals")


def as_user(root: Path, repeat: int, callgrind: bool, compare: Path | None) -> None:
    sources = {"": REPO / "src"}
    if compare is not None:
        sources["before: "] = compare
    commands: dict[str, tuple[list[str], dict[str, str]]] = {}
    for prefix, src in sources.items():
        env = dict(os.environ, PYTHONPATH=str(src), COLUMNS="120", PYTHONHASHSEED="0")
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        commands[prefix + "deps"] = (
            [sys.executable, "-m", "pkgharvest", "deps", str(PROJECT), "--all", "--json",
             "--data-dir", str(root)],
            env,
        )  # fmt: skip
        commands[prefix + "help"] = ([sys.executable, "-m", "pkgharvest", "deps", "--help"], env)
        commands[prefix + "libraries"] = ([sys.executable, "-c", LIBRARY_IMPORTS], env)
    commands["stack"] = ([sys.executable, "-c", STACK_IMPORTS], commands["help"][1])
    for command, env in commands.values():  # warm the bytecode caches and the page cache
        subprocess.run(command, env=env, stdout=subprocess.DEVNULL, check=True)
    wall: dict[str, list[float]] = {name: [] for name in commands}
    cpu: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(repeat):
        for name, (command, env) in commands.items():
            seconds, used = _child(command, env)
            wall[name].append(seconds)
            cpu[name].append(used)
    labels = {
        "deps": "pkgharvest deps saleor-uv --all --json",
        "help": "pkgharvest deps --help",
        "libraries": "the same, and packaging, tomllib, sqlite3",
        "stack": 'python -c "import typer, httpx, rich"',
    }
    for name in commands:
        label = name.removeprefix("before: ")
        print(f"  {name[: -len(label)]}{labels[label]:41s} wall {stats(wall[name])}; "
              f"CPU {stats(cpu[name])}")  # fmt: skip
    for prefix in sources:
        for base in (prefix + "help", "stack", prefix + "libraries"):
            for what, runs in (("wall", wall), ("CPU", cpu)):
                best = min(runs[prefix + "deps"]) - min(runs[base])
                middle = statistics.median(runs[prefix + "deps"]) - statistics.median(runs[base])
                print(f"  {prefix}deps beyond `{base.removeprefix(prefix)}`, {what:4s}: "
                      f"best {best * 1000:6.1f} ms, median {middle * 1000:6.1f} ms")  # fmt: skip
    if callgrind:
        counts = {name: _instructions(command, env) for name, (command, env) in commands.items()}
        # Seconds per instruction of this machine now, from the CLI's own best CPU time.
        rate = min(cpu["help"]) / counts["help"]
        for name, count in counts.items():
            print(f"  instructions, {name}: {count / 1e6:,.0f} M")
        for prefix in sources:
            for base in (prefix + "help", "stack", prefix + "libraries"):
                extra = counts[prefix + "deps"] - counts[base]
                print(f"  {prefix}instructions beyond `{base.removeprefix(prefix)}`: "
                      f"{extra / 1e6:,.0f} M, about {extra * rate * 1000:.0f} ms at this "
                      f"machine's pace now ({rate * 1e9:.3f} ns per instruction)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packages", type=int, default=30_000)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--data-root", type=Path, default=None)
    parser.add_argument(
        "--callgrind", action="store_true", help="also count instructions (needs valgrind)"
    )
    parser.add_argument(
        "--compare", type=Path, default=None, help="another checkout's src/, run alongside"
    )
    options = parser.parse_args()
    lines = sum(1 for _ in (PROJECT / "uv.lock").open(encoding="utf-8"))
    with tempfile.TemporaryDirectory(dir=options.data_root) as folder:
        root = Path(folder) / "mirror"
        started = time.perf_counter()
        build(root, options.packages)
        print(f"catalogue of {options.packages:,} packages written in "
              f"{time.perf_counter() - started:.0f} s; uv.lock: {lines:,} lines")  # fmt: skip
        print("In process, imports warm:")
        in_process(root, options.repeat)
        print("As the user runs it (child processes, interleaved):")
        as_user(root, options.repeat, options.callgrind, options.compare)
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
