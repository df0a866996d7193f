"""The fetch benchmark: `pkgharvest fetch` against a local stand-in of the API, and a naive crawler.

    python -m bench.run [--sizes 1000,6000,30000] [--latency 0.05] [--concurrency 4]
                        [--out bench/results/latest.json]

Run it from the repository root (it starts `python -m tests.fakeapi`). For each size it:

1. starts the fake API in its own process (N packages, grids in proportion: 400 per 6,000), so
   that the harvester's CPU time and memory are measured alone;
2. runs `pkgharvest fetch --json` into an empty data folder as a child process: wall time, and
   the child's own CPU time (user + system) and peak RSS from `os.wait4`;
3. runs it again with nothing changed, and counts the record files created, rewritten (mtime
   changed) or deleted: a rerun must write none (the manifest is rewritten on purpose, it holds
   the run's report, and is shown apart);
4. runs the raw crawler (`bench/raw.py`: the same list pages at the same concurrency, bodies
   read and dropped) at page sizes 100, 500 and 1,000, and reports the harvester's first run and
   rerun as ratios to the best of them (issue 10);
5. runs the naive crawler (`bench/naive.py`: sequential, follows `next`, 20 a page) as a child
   process against the same server, and reports harvester time / naive time.

`--data-root` may be given more than once (for example the ext4 temp folder and /dev/shm): every
size is measured on each. It prints a table and writes everything as JSON, with the targets of
issues 4 and 10 checked.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pkgharvest.config import DEFAULT_PAGE_SIZE
from tests.fakeproc import harvester_argv, serve_in_subprocess

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SIZES = (1000, 6000, 30000)
DEFAULT_OUT = REPO_ROOT / "bench" / "results" / "latest.json"
GRIDS_PER_6000 = 400
# Targets from issue 4.
TARGET_RATIO = 0.2
TARGET_CPU_PER_6000 = 1.0
TARGET_RSS_GROWTH = 1.5
# Targets from issue 10 (at 6,000 packages).
TARGET_RATIO_TO_RAW = 1.25
TARGET_USER_CPU_6000 = 0.8
TARGET_EXT4_SYS_CPU_6000 = 0.5
TARGET_RSS_30000_MB = 70.0  # issue 10: "as flat as today (70 MB at 30,000 packages)"
# Targets from issue 16 (at 6,000 packages): user CPU beyond the stack's import.
TARGET_OWN_USER_FIRST_6000 = 0.6
TARGET_OWN_USER_RERUN_6000 = 0.2
STACK_IMPORT = "import typer, httpx, rich"
DEFAULT_RAW_PAGE_SIZES = (250, 1000, DEFAULT_PAGE_SIZE)  # the last: the harvester's own


@dataclass(frozen=True)
class ChildRun:
    """One child process, measured.

    wall: seconds from spawn to exit. cpu: the child's user + system CPU seconds (cpu_user and
    cpu_sys apart: system time is mostly the file system's, creating and renaming files).
    peak_rss_mb: the child's peak resident set size (MiB). exit_code: its exit status.
    stdout: what it printed (the `--json` report for pkgharvest).
    """

    wall: float
    cpu: float
    cpu_user: float
    cpu_sys: float
    peak_rss_mb: float
    exit_code: int
    stdout: str


@dataclass(frozen=True)
class FileChanges:
    """Files of the data folder a run touched: record files created, rewritten (mtime changed)
    or deleted; and whether the manifest was rewritten."""

    created: int
    rewritten: int
    deleted: int
    manifest_rewritten: bool

    @property
    def record_files_written(self) -> int:
        return self.created + self.rewritten + self.deleted


def _mb(max_rss: int) -> float:
    """ru_maxrss in MiB (it is in KiB on Linux, in bytes on macOS)."""
    return round(max_rss * (1 if sys.platform == "darwin" else 1024) / 2**20, 1)


def run_child(argv: list[str], *, cwd: Path = REPO_ROOT) -> ChildRun:
    """Run `argv` to its end; CPU and peak RSS are the child's own (os.wait4's rusage)."""
    with tempfile.TemporaryFile() as out:
        started = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=cwd, stdout=out, stderr=subprocess.PIPE)
        assert proc.stderr is not None
        errors = proc.stderr.read()  # drained while the child runs, so it never blocks
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)  # tell Popen it was reaped
        out.seek(0)
        stdout = out.read().decode("utf-8", "replace")
    exit_code = proc.returncode
    if exit_code != 0:
        sys.stderr.write(errors.decode("utf-8", "replace")[-2000:])
    return ChildRun(
        wall=round(wall, 3),
        cpu=round(usage.ru_utime + usage.ru_stime, 3),
        cpu_user=round(usage.ru_utime, 3),
        cpu_sys=round(usage.ru_stime, 3),
        peak_rss_mb=_mb(usage.ru_maxrss),
        exit_code=exit_code,
        stdout=stdout,
    )


@contextmanager
def fake_api(packages: int, grids: int, latency: float) -> Iterator[str]:
    """The fake API in its own process, warmed up; yields its base URL, stops it after."""
    with serve_in_subprocess(packages=packages, grids=grids, latency=latency) as base_url:
        warm_up(base_url)
        yield base_url


def warm_up(base_url: str) -> None:
    """Ask for every list once, whole: the fake renders each record's JSON on first use and
    caches it, and that cost is the stand-in's, not the harvester's (nor the naive crawler's).

    The body is read in chunks and dropped: this process must stay small, because on Linux a
    child's peak RSS (ru_maxrss) counts the parent's memory at the moment it was spawned.
    """
    for kind in ("categories", "grids", "packages"):
        with urllib.request.urlopen(f"{base_url}{kind}/?limit=1000000", timeout=300) as answer:
            while answer.read(1 << 16):
                pass


def mtimes(data_dir: Path) -> dict[str, int]:
    """Relative path -> mtime (ns) of every record file and the manifest."""
    found: dict[str, int] = {}
    for kind in ("packages", "grids", "categories"):
        folder = data_dir / kind
        if folder.is_dir():
            for entry in os.scandir(folder):
                found[f"{kind}/{entry.name}"] = entry.stat().st_mtime_ns
    manifest = data_dir / "manifest.json"
    if manifest.exists():
        found["manifest.json"] = manifest.stat().st_mtime_ns
    return found


def compare(before: dict[str, int], after: dict[str, int]) -> FileChanges:
    records_before = {k: v for k, v in before.items() if k != "manifest.json"}
    records_after = {k: v for k, v in after.items() if k != "manifest.json"}
    return FileChanges(
        created=len(records_after.keys() - records_before.keys()),
        rewritten=sum(
            1
            for k in records_after.keys() & records_before.keys()
            if records_after[k] != records_before[k]
        ),
        deleted=len(records_before.keys() - records_after.keys()),
        manifest_rewritten=before.get("manifest.json") != after.get("manifest.json"),
    )


def fetch_argv(
    base_url: str, data_dir: Path, concurrency: int, page_size: int | None = None
) -> list[str]:
    extra = ["--page-size", str(page_size)] if page_size else []
    return harvester_argv(base_url, data_dir, "--concurrency", str(concurrency), *extra, "--json")


def file_system_type(path: Path) -> str:
    """The type of the file system holding `path` (ext4, tmpfs...), from /proc/mounts."""
    best, kind = "", "?"
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return kind
    target = str(path.resolve())
    for line in mounts:
        fields = line.split()
        if len(fields) < 3:
            continue
        mount_point = fields[1]
        inside = target == mount_point or target.startswith(mount_point.rstrip("/") + "/")
        if inside and len(mount_point) > len(best):
            best, kind = mount_point, fields[2]
    return kind


def raw_runs(base_url: str, page_sizes: list[int], concurrency: int) -> dict[str, Any]:
    """The raw crawler at each page size (child processes), and the best of them."""
    runs: dict[str, Any] = {}
    for page_size in page_sizes:
        child = run_child(
            [
                sys.executable,
                "-m",
                "bench.raw",
                base_url,
                "--page-size",
                str(page_size),
                "--concurrency",
                str(concurrency),
            ]
        )
        report = json.loads(child.stdout) if child.exit_code == 0 else {}
        runs[str(page_size)] = {
            "wall_s": child.wall,
            "cpu_user_s": child.cpu_user,
            "cpu_sys_s": child.cpu_sys,
            "peak_rss_mb": child.peak_rss_mb,
            "exit_code": child.exit_code,
            "requests": report.get("requests"),
        }
    ok = {size: run for size, run in runs.items() if run["exit_code"] == 0}
    best = min(ok, key=lambda size: ok[size]["wall_s"]) if ok else None
    return {
        "runs": runs,
        "best_page_size": best,
        "best_wall_s": ok[best]["wall_s"] if best else None,
    }


def harvest_summary(run: ChildRun) -> dict[str, Any]:
    """The measurements of one `pkgharvest fetch --json` child run."""
    report: dict[str, Any] = json.loads(run.stdout) if run.stdout.strip() else {}
    counts = report.get("counts", {})
    return {
        "wall_s": run.wall,
        "cpu_s": run.cpu,
        "cpu_user_s": run.cpu_user,
        "cpu_sys_s": run.cpu_sys,
        "peak_rss_mb": run.peak_rss_mb,
        "exit_code": run.exit_code,
        "requests": report.get("requests"),
        "retries": report.get("retries"),
        "bytes_received": report.get("bytes_received"),
        "records": {kind: c.get("seen") for kind, c in counts.items()},
        "new": sum(c.get("new", 0) for c in counts.values()),
        "changed": sum(c.get("changed", 0) for c in counts.values()),
    }


def bench_size(
    packages: int,
    latency: float,
    concurrency: int,
    work: Path,
    *,
    naive: bool = True,
    raw_page_sizes: list[int] | None = None,
    page_size: int | None = None,
) -> dict[str, Any]:
    grids = max(10, packages * GRIDS_PER_6000 // 6000)
    data_dir = work / f"mirror-{packages}"
    naive_dir = work / f"naive-{packages}"
    with fake_api(packages, grids, latency) as base_url:
        first = run_child(fetch_argv(base_url, data_dir, concurrency, page_size))
        before = mtimes(data_dir)
        # mtime granularity: make sure a rewrite in the rerun would show as a new mtime.
        time.sleep(0.05)
        rerun = run_child(fetch_argv(base_url, data_dir, concurrency, page_size))
        changes = compare(before, mtimes(data_dir))
        raw = raw_runs(base_url, raw_page_sizes or [], concurrency)
        naive_run = None
        if naive:
            naive_run = run_child([sys.executable, "-m", "bench.naive", base_url, str(naive_dir)])
    naive_report = json.loads(naive_run.stdout) if naive_run and naive_run.exit_code == 0 else {}
    shutil.rmtree(data_dir, ignore_errors=True)
    shutil.rmtree(naive_dir, ignore_errors=True)
    raw_best = raw["best_wall_s"]
    # The same pages as the harvester asked for: what its page size costs on the network alone.
    own_page = str(page_size or DEFAULT_PAGE_SIZE)
    raw_same = raw["runs"].get(own_page, {}).get("wall_s")
    return {
        "packages": packages,
        "grids": grids,
        "data_root": str(work),
        "file_system": file_system_type(work),
        "full": harvest_summary(first),
        "rerun": {
            **harvest_summary(rerun),
            **asdict(changes),
            "record_files_written": changes.record_files_written,
        },
        "raw": raw,
        "ratio_full_to_raw": round(first.wall / raw_best, 3) if raw_best else None,
        "ratio_rerun_to_raw": round(rerun.wall / raw_best, 3) if raw_best else None,
        "raw_same_page_size": own_page if raw_same else None,
        "ratio_full_to_raw_same_page": round(first.wall / raw_same, 3) if raw_same else None,
        "ratio_rerun_to_raw_same_page": round(rerun.wall / raw_same, 3) if raw_same else None,
        "naive": {
            "wall_s": naive_run.wall if naive_run else None,
            "cpu_s": naive_run.cpu if naive_run else None,
            "peak_rss_mb": naive_run.peak_rss_mb if naive_run else None,
            "exit_code": naive_run.exit_code if naive_run else None,
            "requests": naive_report.get("requests"),
            "bytes_received": naive_report.get("bytes_received"),
            "records": naive_report.get("records"),
        },
        "ratio_full_to_naive": round(first.wall / naive_run.wall, 3) if naive_run else None,
    }


def startup_cost() -> ChildRun:
    """`python -m pkgharvest --version`: the interpreter and CLI start-up every run pays."""
    return run_child([sys.executable, "-m", "pkgharvest", "--version"])


def stack_cost(repeat: int = 5) -> ChildRun:
    """`python -c "import typer, httpx, rich"`, least user CPU of `repeat`: what a run's own
    CPU is counted beyond (issue 16)."""
    runs = [run_child([sys.executable, "-c", STACK_IMPORT]) for _ in range(repeat)]
    return min(runs, key=lambda run: run.cpu_user)


def add_own_cpu(results: list[dict[str, Any]], stack: ChildRun) -> None:
    """Each run's user CPU beyond the stack's import (`own_user_s`)."""
    for result in results:
        for run in ("full", "rerun"):
            result[run]["own_user_s"] = round(result[run]["cpu_user_s"] - stack.cpu_user, 3)


def check_targets(results: list[dict[str, Any]], concurrency: int) -> dict[str, Any]:
    """The targets of issues 4 and 10, each with its measured value and whether it is met, per
    file system; a target whose sizes were not run is left out."""
    targets: dict[str, Any] = {}
    by_fs: dict[str, list[dict[str, Any]]] = {}
    for result in results:
        by_fs.setdefault(result["file_system"], []).append(result)
    for fs, runs in by_fs.items():
        by_size = {r["packages"]: r for r in runs}
        at_6000, at_30000 = by_size.get(6000), by_size.get(30000)
        if at_6000 and at_6000["ratio_full_to_naive"] is not None:
            ratio = at_6000["ratio_full_to_naive"]
            targets[f"{fs}: full_6000_vs_naive"] = {
                "target": f"<= {TARGET_RATIO} with --concurrency {concurrency} (<= 4)",
                "value": ratio,
                "met": ratio <= TARGET_RATIO and concurrency <= 4,
            }
        if at_6000:
            cpu = at_6000["full"]["cpu_s"]
            targets[f"{fs}: cpu_per_6000"] = {
                "target": f"<= {TARGET_CPU_PER_6000} s",
                "value": cpu,
                "met": cpu <= TARGET_CPU_PER_6000,
            }
            user = at_6000["full"]["cpu_user_s"]
            targets[f"{fs}: user_cpu_6000"] = {
                "target": f"< {TARGET_USER_CPU_6000} s",
                "value": user,
                "met": user < TARGET_USER_CPU_6000,
            }
            if fs == "ext4":
                system = at_6000["full"]["cpu_sys_s"]
                targets[f"{fs}: sys_cpu_6000"] = {
                    "target": f"< {TARGET_EXT4_SYS_CPU_6000} s",
                    "value": system,
                    "met": system < TARGET_EXT4_SYS_CPU_6000,
                }
            for run in ("full", "rerun"):
                ratio = at_6000[f"ratio_{run}_to_raw"]
                if ratio is not None:
                    targets[f"{fs}: {run}_6000_vs_raw"] = {
                        "target": f"<= {TARGET_RATIO_TO_RAW}",
                        "value": ratio,
                        "met": ratio <= TARGET_RATIO_TO_RAW,
                    }
        if at_6000 and "own_user_s" in at_6000["full"]:
            for run, goal in (
                ("full", TARGET_OWN_USER_FIRST_6000),
                ("rerun", TARGET_OWN_USER_RERUN_6000),
            ):
                own = at_6000[run]["own_user_s"]
                targets[f"{fs}: own_user_cpu_{run}_6000"] = {
                    "target": f"<= {goal} s beyond `python -c '{STACK_IMPORT}'`",
                    "value": own,
                    "met": own <= goal,
                }
        if at_6000 and at_30000:
            growth = at_30000["full"]["peak_rss_mb"] / at_6000["full"]["peak_rss_mb"]
            targets[f"{fs}: rss_30000_vs_6000"] = {
                "target": f"< {TARGET_RSS_GROWTH}",
                "value": round(growth, 3),
                "met": growth < TARGET_RSS_GROWTH,
            }
        if at_30000:
            peak = max(at_30000[run]["peak_rss_mb"] for run in ("full", "rerun"))
            targets[f"{fs}: rss_30000"] = {
                "target": f"<= {TARGET_RSS_30000_MB} MB (first run and rerun)",
                "value": peak,
                "met": peak <= TARGET_RSS_30000_MB,
            }
        written = {r["packages"]: r["rerun"]["record_files_written"] for r in runs}
        targets[f"{fs}: rerun_writes_nothing"] = {
            "target": "0 record files",
            "value": written,
            "met": all(n == 0 for n in written.values()),
        }
    return targets


def _num(value: float | None, width: int, decimals: int) -> str:
    return f"{'-':>{width}}" if value is None else f"{value:>{width}.{decimals}f}"


def print_table(
    results: list[dict[str, Any]],
    startup: ChildRun,
    parent_rss_mb: float,
    targets: dict[str, Any],
    stack: ChildRun | None = None,
) -> None:
    header = (
        f"{'fs':>5} {'packages':>8} | {'full s':>6} {'usr s':>5} {'sys s':>5} {'rss MB':>6} "
        f"{'reqs':>4} {'/raw':>5} | {'rerun s':>7} {'usr s':>5} {'sys s':>5} {'rss MB':>6} "
        f"{'/raw':>5} {'written':>7} | {'raw s':>5} {'page':>4} {'usr s':>5} {'sys s':>5} | "
        f"{'naive s':>7} {'/naive':>6}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        full, rerun, naive, raw = r["full"], r["rerun"], r["naive"], r["raw"]
        best = raw["runs"].get(raw["best_page_size"] or "", {})
        print(
            f"{r['file_system']:>5} {r['packages']:>8} | {full['wall_s']:>6.2f} "
            f"{full['cpu_user_s']:>5.2f} {full['cpu_sys_s']:>5.2f} {full['peak_rss_mb']:>6.1f} "
            f"{full['requests'] or 0:>4} {_num(r['ratio_full_to_raw'], 5, 2)} | "
            f"{rerun['wall_s']:>7.2f} {rerun['cpu_user_s']:>5.2f} {rerun['cpu_sys_s']:>5.2f} "
            f"{rerun['peak_rss_mb']:>6.1f} {_num(r['ratio_rerun_to_raw'], 5, 2)} "
            f"{rerun['record_files_written']:>7} | {_num(raw['best_wall_s'], 5, 2)} "
            f"{raw['best_page_size'] or '-':>4} {_num(best.get('cpu_user_s'), 5, 2)} "
            f"{_num(best.get('cpu_sys_s'), 5, 2)} | {_num(naive['wall_s'], 7, 2)} "
            f"{_num(r['ratio_full_to_naive'], 6, 3)}"
        )
        if full["exit_code"] or rerun["exit_code"] or naive["exit_code"] not in (0, None):
            codes = (full["exit_code"], rerun["exit_code"], naive["exit_code"])
            print(f"{'':>14}   exit codes (full, rerun, naive): {codes}")
        if "own_user_s" in full:
            print(
                f"{'':>14}   user CPU beyond the stack's import: first run "
                f"{full['own_user_s']:.2f} s, rerun {rerun['own_user_s']:.2f} s"
            )
        walls = ", ".join(f"{size}: {run['wall_s']:.2f} s" for size, run in raw["runs"].items())
        if walls:
            print(f"{'':>14}   raw crawler by page size: {walls}")
        if r.get("ratio_full_to_raw_same_page") is not None:
            print(
                f"{'':>14}   against the raw crawler at the harvester's page size "
                f"({r['raw_same_page_size']}): full {r['ratio_full_to_raw_same_page']:.2f}x, "
                f"rerun {r['ratio_rerun_to_raw_same_page']:.2f}x"
            )
    print(
        f"start-up alone (python -m pkgharvest --version): {startup.wall:.2f} s wall, "
        f"{startup.cpu_user:.2f} s user, {startup.cpu_sys:.2f} s sys, {startup.peak_rss_mb:.1f} MB"
    )
    if stack is not None:
        print(
            f"the stack's import alone (python -c '{STACK_IMPORT}', best of 5): "
            f"{stack.cpu_user:.2f} s user, {stack.cpu_sys:.2f} s sys"
        )
    print(f"this benchmark process: {parent_rss_mb:.1f} MB peak (children's RSS include it)")
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    if load:
        print(f"load average at the end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    for name, target in targets.items():
        state = "met" if target["met"] else "MISSED"
        print(f"target {name}: {target['value']} (target {target['target']}): {state}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--sizes",
        default=",".join(str(s) for s in DEFAULT_SIZES),
        help="comma-separated package counts (default: %(default)s)",
    )
    parser.add_argument(
        "--latency", type=float, default=0.05, help="seconds added to every response"
    )
    parser.add_argument("--concurrency", type=int, default=4, help="pkgharvest --concurrency")
    parser.add_argument(
        "--page-size", type=int, default=None, help="pkgharvest --page-size (default: its own)"
    )
    parser.add_argument(
        "--raw-page-sizes",
        default=",".join(str(s) for s in DEFAULT_RAW_PAGE_SIZES),
        help="page sizes of the raw crawler, comma-separated; empty for none "
        "(default: %(default)s)",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON results file")
    parser.add_argument(
        "--skip-naive", action="store_true", help="do not run the naive crawler (no ratio)"
    )
    parser.add_argument(
        "--data-root",
        type=Path,
        action="append",
        default=None,
        help="where the mirrors are written; repeat to measure several file systems (default: "
        "the temp dir; /dev/shm takes the disk's cost out of the CPU figures)",
    )
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    raw_page_sizes = [int(s) for s in args.raw_page_sizes.split(",") if s.strip()]
    data_roots: list[Path | None] = list(args.data_root or [None])

    results: list[dict[str, Any]] = []
    for data_root in data_roots:
        with tempfile.TemporaryDirectory(prefix="pkgharvest-bench-", dir=data_root) as work:
            for size in sizes:
                sys.stderr.write(f"benchmarking {size} packages in {work}...\n")
                result = bench_size(
                    size,
                    args.latency,
                    args.concurrency,
                    Path(work),
                    naive=not args.skip_naive,
                    raw_page_sizes=raw_page_sizes,
                    page_size=args.page_size,
                )
                results.append(result)
    startup = startup_cost()
    stack = stack_cost()
    add_own_cpu(results, stack)
    parent_rss_mb = _mb(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    targets = check_targets(results, args.concurrency)
    print_table(results, startup, parent_rss_mb, targets, stack)

    from pkgharvest import __version__

    document = {
        "pkgharvest_version": __version__,
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        },
        "settings": {
            "sizes": sizes,
            "latency_s": args.latency,
            "concurrency": args.concurrency,
            "page_size": args.page_size,
            "raw_page_sizes": raw_page_sizes,
            "naive_page_size": 20,
            "data_roots": [str(root or tempfile.gettempdir()) for root in data_roots],
        },
        "startup": asdict(startup) | {"stdout": None},
        "stack_import": asdict(stack) | {"stdout": None},
        "bench_process_peak_rss_mb": parent_rss_mb,
        "results": results,
        "targets": targets,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    print(f"results written to {args.out}")
    return 0 if all(t["met"] for t in targets.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
