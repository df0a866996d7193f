"""The catalogue database fed by the run (issue 16, item 4): a fetch hands the database the
records it stages, so that neither a first run nor a rerun reads a record file back, and the
database it leaves is the one a sync from the files would build; whatever the feed cannot vouch
for is synced from the files instead."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from pkgharvest.catalogue import CATALOGUE_NAME, after_commit
from pkgharvest.catalogue.feed import RunFeed
from pkgharvest.records import Kind
from pkgharvest.store.transaction import Store
from tests.fakeproc import REPO_ROOT
from tests.mirrorbuilder import synthetic_package

# The child counts, per command, the files it opens for reading in the record folders: an
# audit hook sees every open() and os.open(), whoever makes it.
COUNTING_CHILD = textwrap.dedent(
    """
    import json, os, sys
    import httpx
    from pkgharvest.cli import run
    from pkgharvest.runtime import Dependencies, RetryPolicy
    from tests.fakeapi import PUBLIC_BASE_URL, FakeApi, generate_catalogue

    data = os.path.realpath(sys.argv[1])
    kinds = ("packages", "grids", "categories")
    folders = tuple(os.path.join(data, kind) + os.sep for kind in kinds)
    reads = [0]

    def hook(event, args):
        if event != "open" or not isinstance(args[0], (str, bytes, os.PathLike)):
            return
        path = os.path.realpath(os.fsdecode(args[0]))
        flags = args[2] if isinstance(args[2], int) else 0
        if path.startswith(folders) and path.endswith(".json") and flags & os.O_ACCMODE == 0:
            reads[0] += 1

    sys.addaudithook(hook)
    api = FakeApi(generate_catalogue(300, 20, seed=4))
    deps = Dependencies(transport=httpx.MockTransport(api.handler),
                        retry=RetryPolicy(attempts=2), sleep=lambda s: None)
    counts = {}
    for step, argv in (
        ("first run", ["fetch", "--base-url", PUBLIC_BASE_URL, "--data-dir", data, "--quiet"]),
        ("rerun", ["fetch", "--base-url", PUBLIC_BASE_URL, "--data-dir", data, "--quiet"]),
    ):
        reads[0] = 0
        assert run(argv, deps) == 0, step
        counts[step] = reads[0]
    os.unlink(os.path.join(data, "catalogue.db"))  # a rebuild reads every file: the hook sees it
    reads[0] = 0
    assert run(["top", "--data-dir", data, "--json", "--limit", "1"]) == 0
    counts["rebuild"] = reads[0]
    sys.stderr.write(json.dumps(counts) + "\\n")
    """
)


def test_a_first_run_and_a_rerun_read_no_record_file_back(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", COUNTING_CHILD, str(tmp_path / "mirror")],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    counts = json.loads(done.stderr.strip().splitlines()[-1])
    assert counts["rebuild"] >= 300  # the hook does see record files being read
    assert counts["first run"] == 0
    assert counts["rerun"] == 0


# --- the feed and the store, directly -------------------------------------------------------


def _rows(root: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every table of the database, files by name and id only (their inodes differ)."""
    tables = ("packages", "grids", "categories", "grid_packages", "observations")
    tables += ("weekly_commits", "changes", "runs")
    with sqlite3.connect(root / CATALOGUE_NAME) as conn:
        rows = {
            table: sorted(conn.execute(f"SELECT * FROM {table}").fetchall(), key=repr)
            for table in tables
        }
        files = "SELECT kind, name, record_id, ctime_ns IS NULL FROM record_files"
        rows["record_files"] = sorted(conn.execute(files).fetchall())
        # The schema too: a first run builds some indexes after its rows, not before.
        schema = "SELECT type, name, tbl_name, sql FROM sqlite_master"
        rows["schema"] = sorted(conn.execute(schema).fetchall(), key=repr)
        plan = "EXPLAIN QUERY PLAN SELECT id FROM packages WHERE slug = 'package-3'"
        rows["plan"] = [row[-1] for row in conn.execute(plan)]
    return rows


def _package(package_id: int, stars: int) -> dict[str, Any]:
    return synthetic_package(package_id, f"package-{package_id}", stars=stars)


def _active_package(package_id: int, stars: int) -> dict[str, Any]:
    """A package with its own 52 counts, fetched in one of several weeks (windows differ)."""
    day = 1 + package_id % 20
    counts = [(package_id * (week + 3)) % 7 for week in range(52)]
    return synthetic_package(
        package_id,
        f"package-{package_id}",
        stars=stars,
        commits_52w=counts,
        last_fetched=f"2026-05-{day:02}T{package_id % 24:02}:30:00Z",
    )


def _run(
    root: Path,
    puts: list[int],
    removals: tuple[int, ...] = (),
    *,
    twice: int = 0,
    fed: bool,
    make: Any = _package,
) -> bool:
    """One fetch-like run through the store: put the synthetic packages `puts`, put `twice`
    again, remove `removals`, commit; then the database is finished by the feed (`fed`) or
    synced from the files as before the feed (after_commit). Whether the feed was used."""
    store = Store(root)
    with store.lock():
        store.open_for_update(source="https://example.org/api/v4/")
        database = RunFeed.open(root) if fed else None
        try:
            txn = store.begin(feed=database)
            for package_id in puts:
                txn.put(Kind.PACKAGE, make(package_id, package_id % 97))
            if twice:
                txn.put(Kind.PACKAGE, _package(twice, 5000))
            txn.schedule_removal(Kind.PACKAGE, removals)
            run = {"started": f"2026-06-0{len(puts) % 9 + 1}T00:00:00Z", "complete": True}
            txn.commit(source="https://example.org/api/v4/", run=run)
            if database is None:
                outcome = after_commit(root, id_hints=txn.written_ids(), locked=True)
                assert outcome.problem is None
                return False
            outcome = database.finish(id_hints=txn.written_ids())
        finally:
            if database is not None:
                database.close()
    assert outcome.problem is None
    return bool(outcome.fed)


@pytest.mark.parametrize("case", ["fed", "staged then removed", "staged twice"])
def test_the_database_a_run_leaves_is_the_one_a_sync_from_its_files_leaves(
    tmp_path: Path, case: str
) -> None:
    second: dict[str, Any] = {
        "fed": {"removals": (1, 2)},
        "staged then removed": {"removals": (1, 55)},  # listed, then proven deleted meanwhile
        "staged twice": {"twice": 45},
    }[case]
    for fed in (True, False):
        root = tmp_path / ("fed" if fed else "synced") / "mirror"
        assert _run(root, list(range(1, 40)), fed=fed) is fed
        assert _run(root, list(range(20, 60)), **second, fed=fed) is (fed and case == "fed")
    fed_rows = _rows(tmp_path / "fed" / "mirror")
    assert fed_rows == _rows(tmp_path / "synced" / "mirror")
    assert not any(waiting for *_, waiting in fed_rows["record_files"])  # all confirmed
    changes = {(change, record_id) for _, change, _, record_id, *_ in fed_rows["changes"]}
    assert ("new", 59) in changes
    if case == "staged twice":
        assert ("new", 45) in changes and ("stars", 45) not in changes  # as committed
    else:
        assert ("removed", 1) in changes
    if case == "staged then removed":
        assert not any(record_id == 55 for _, record_id in changes)  # never in the mirror


def test_a_first_run_fed_in_many_batches_files_the_weeks_a_sync_from_its_files_files(
    tmp_path: Path,
) -> None:
    # Newest first, as the API lists them: several feed batches, each in its own id range;
    # the feed files the first lists' weeks after the last batch.
    puts = list(range(700, 0, -1))
    for fed in (True, False):
        root = tmp_path / ("fed" if fed else "synced") / "mirror"
        assert _run(root, puts, fed=fed, make=_active_package) is fed
        assert _run(root, puts[::3], fed=fed, make=_package) is fed  # later lists, all zero
    fed_rows = _rows(tmp_path / "fed" / "mirror")
    assert fed_rows == _rows(tmp_path / "synced" / "mirror")
    assert any("packages_slug" in step for step in fed_rows["plan"])
    # 52 weeks each, over 53 calendar weeks or more: every package's first list was filed.
    weeks = fed_rows["weekly_commits"]
    assert {package_id for package_id, *_ in weeks} == set(puts)
    assert len({week for _, week, _ in weeks}) >= 53
    assert len(weeks) >= 52 * 700


def test_a_run_killed_before_its_commit_leaves_the_database_as_it_was(tmp_path: Path) -> None:
    root = tmp_path / "mirror"
    assert _run(root, list(range(1, 10)), fed=True) is True
    before = _rows(root)
    store = Store(root)
    with store.lock():
        store.open_for_update(source="https://example.org/api/v4/")
        database = RunFeed.open(root)
        txn = store.begin(feed=database)
        for package_id in range(5, 700):  # more than a batch: some of it applied already
            txn.put(Kind.PACKAGE, _package(package_id, 1))
        txn.discard()
        database.close()
    assert _rows(root) == before
