"""How big catalogue.db grows, and what its sync costs, over simulated daily runs (issue 8).

Run from the repository root:

    python bench/bench_history.py [--packages 6000] [--days 30] [--remeasured 0.9]

It writes a synthetic mirror (tests/mirrorbuilder.py) as a first full fetch would leave it and
builds its database, then simulates `--days` daily runs the way the real service behaves: each
day it re-measures a share of the packages (`last_fetched` a day later, a few stars and forks
more, a new week of commits every seventh day, now and then a release), the run rewrites those
record files and the manifest, and the database syncs (`catalogue.after_commit`, what fetch
calls). It prints the database size after the first run and after the last, the rows per table
and the sync time per day. A script, not a test.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "src"))

from bench.bench_read import build  # noqa: E402


def database_mb(root: Path) -> float:
    from pkgharvest.catalogue import CATALOGUE_NAME

    return sum(p.stat().st_size for p in root.glob(CATALOGUE_NAME + "*")) / 1e6


def checkpoint(root: Path) -> None:
    """Fold the WAL into the database file, so that the size is the database's own."""
    import sqlite3

    from pkgharvest.catalogue import CATALOGUE_NAME

    with sqlite3.connect(root / CATALOGUE_NAME) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--packages", type=int, default=6000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--remeasured", type=float, default=0.9, help="share re-measured a day")
    args = parser.parse_args()

    from pkgharvest.catalogue import after_commit, open_catalogue
    from tests.mirrorbuilder import write_records

    rng = random.Random(11)
    with tempfile.TemporaryDirectory(prefix="pkgharvest-history-") as name:
        root = Path(name) / "mirror"
        grids = max(380, args.packages * 380 // 6000)
        content = build(root, args.packages, grids, catalogue=False)
        started = time.perf_counter()
        open_catalogue(root).close()
        first_s = time.perf_counter() - started
        checkpoint(root)
        first_mb = database_mb(root)
        day0 = datetime(2026, 5, 27, 14, tzinfo=UTC)
        manifest_path = root / "manifest.json"
        syncs = []
        for day in range(1, args.days + 1):
            moment = day0 + timedelta(days=day)
            changed = []
            for package in content.packages:
                if rng.random() >= args.remeasured:
                    continue
                package["last_fetched"] = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
                package["stars"] = (package["stars"] or 0) + rng.choice((0, 0, 0, 1, 1, 2, 5))
                package["forks"] = (package["forks"] or 0) + rng.choice((0, 0, 0, 0, 1))
                weeks = package["commits_52w"]
                if weeks is not None:
                    if day % 7 == 0:
                        weeks = [*weeks[1:], 0]
                    weeks[-1] += rng.choice((0, 0, 0, 1, 2))
                    package["commits_52w"] = weeks
                    package["commits_52w_total"] = sum(weeks)
                if rng.random() < 0.005:
                    package["pypi_version"] = f"{day}.{rng.randint(0, 9)}.0"
                changed.append(package)
            write_records(root / "packages", changed)
            manifest = json.loads(manifest_path.read_text())
            stamp = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
            manifest["last_run"] = dict(manifest["last_run"], started=stamp, finished=stamp)
            manifest_path.write_text(json.dumps(manifest, indent=2))
            started = time.perf_counter()
            problem = after_commit(root).problem
            syncs.append(time.perf_counter() - started)
            if problem:
                raise SystemExit(problem)
        checkpoint(root)
        last_mb = database_mb(root)
        catalogue = open_catalogue(root)
        counts = {
            table: catalogue.conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in ("packages", "observations", "weekly_commits", "runs", "changes")
        }
        catalogue.close()
        json_mb = sum(p.stat().st_size for p in root.rglob("*.json")) / 1e6
    print(
        f"{args.packages:,} packages ({json_mb:.1f} MB of JSON), {args.days} daily runs, "
        f"{args.remeasured:.0%} of the packages re-measured a day"
    )
    print(f"  database after the first full run: {first_mb:.1f} MB (built in {first_s:.1f} s)")
    print(f"  database after {args.days} more daily runs: {last_mb:.1f} MB")
    print(f"  sync per daily run: median {statistics.median(syncs):.2f} s, max {max(syncs):.2f} s")
    print("  rows: " + ", ".join(f"{table} {n:,}" for table, n in counts.items()))


if __name__ == "__main__":
    main()
