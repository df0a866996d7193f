"""The catalogue database (issue 8): history rules, syncs, rebuilds, migrations.

Mirrors are written as a fetch leaves them (record files, then the manifest with the run), then
the database is opened as every command opens it. Times are fixed strings, never the clock.
"""

from __future__ import annotations

import json
import os
import sqlite3
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from pkgharvest.catalogue import CATALOGUE_NAME, after_commit, open_catalogue, schema, write
from pkgharvest.catalogue.history import (
    RELEASE,
    WENT_BACK,
    calendar_weeks,
    parse_since,
    stitch,
    version_move,
    week_start,
    weeks_to_write,
)
from pkgharvest.errors import CatalogueError, CorruptStore
from pkgharvest.store.paths import record_filename
from tests.mirrorbuilder import API, synthetic_package

MONDAY = datetime(2026, 5, 25, tzinfo=UTC)  # a Monday


# --- pure rules -----------------------------------------------------------------------------


def test_week_start_is_the_monday_of_the_utc_week() -> None:
    sunday_night_in_new_york = datetime.fromisoformat("2026-05-31T22:30:00-04:00")  # Mon 02:30Z
    assert week_start(sunday_night_in_new_york) == date(2026, 6, 1)
    assert week_start(datetime(2026, 5, 31, 23, 59, tzinfo=UTC)) == date(2026, 5, 25)


def test_the_last_count_is_the_week_of_last_fetched() -> None:
    weeks = calendar_weeks(list(range(52)), MONDAY + timedelta(days=3))
    assert weeks[-1] == (date(2026, 5, 25), 51)
    assert weeks[0] == (date(2026, 5, 25) - timedelta(weeks=51), 0)


def test_overlapping_windows_stitch_with_the_newest_winning() -> None:
    first = (MONDAY, [1] * 52)
    second = (MONDAY + timedelta(weeks=1, days=2), [2] * 52)
    series = stitch([second, first])  # order does not matter
    assert len(series) == 53
    assert series[date(2026, 5, 25) - timedelta(weeks=51)] == 1  # only the first covers it
    assert set(list(series.values())[1:]) == {2}


def test_gapped_windows_leave_unknown_weeks_out() -> None:
    first = (MONDAY, [1] * 52)
    second = (MONDAY + timedelta(weeks=60), [2] * 52)
    series = stitch([first, second])
    assert len(series) == 104  # 8 weeks between the windows are unknown, not zero
    gap = [MONDAY.date() + timedelta(weeks=w) for w in range(1, 9)]
    assert not any(week in series for week in gap)


def test_weeks_to_write_is_what_stitching_changes() -> None:
    first = (MONDAY, [week % 3 for week in range(52)])
    second = (MONDAY + timedelta(weeks=2), [week % 3 for week in range(2, 54)])
    second[1][-1] = 9  # the running week grew
    changed = dict(weeks_to_write(first, second))
    whole = stitch([first, second])
    assert changed == {w: c for w, c in whole.items() if dict(stitch([first])).get(w) != c}
    assert len(changed) == 2  # one new week; one whose count moved


def test_releases_follow_pep_440_order() -> None:
    assert version_move("0.9.0", "0.10.0") == RELEASE  # as text, "0.10.0" < "0.9.0"
    assert version_move("1.0.0rc1", "1.0.0") == RELEASE
    assert version_move("0.8.0", "0.7.7") == WENT_BACK
    assert version_move(None, "1.0") == RELEASE  # the first version known
    assert version_move("1.0", "1.0.0") is None  # the same version in PEP 440
    assert version_move("1.0", None) is None and version_move("1.0", "") is None
    assert version_move("banana", "apple") == RELEASE  # no order where one does not parse


def test_since_accepts_days_weeks_and_dates() -> None:
    now = datetime(2026, 6, 1, 12, tzinfo=UTC)
    assert parse_since("7d", now) == now - timedelta(days=7)
    assert parse_since("2026-05-01", now) == datetime(2026, 5, 1, tzinfo=UTC)
    assert parse_since("36h", now) == now - timedelta(hours=36)
    with pytest.raises(ValueError, match="is not a duration or a date"):
        parse_since("last tuesday", now)


# --- a mirror that changes from run to run ----------------------------------------------------


class Mirror:
    """A data folder written the way a fetch writes it, one run at a time."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.packages: dict[int, dict[str, Any]] = {}
        self.runs = 0
        for kind in ("packages", "grids", "categories"):
            (root / kind).mkdir(parents=True, exist_ok=True)

    def put(self, package_id: int, slug: str, **fields: Any) -> None:
        old = self.packages.get(package_id)
        if old is not None and old["slug"] != slug:
            (self.root / "packages" / record_filename(old["slug"], package_id)).unlink()
        record = synthetic_package(package_id, slug, **fields)
        self.packages[package_id] = record
        path = self.root / "packages" / record_filename(slug, package_id)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(record, indent=2) + "\n", "utf-8")
        tmp.replace(path)  # a new inode, as the store's atomic rename gives

    def remove(self, package_id: int) -> None:
        record = self.packages.pop(package_id)
        (self.root / "packages" / record_filename(record["slug"], package_id)).unlink()

    def commit(self, *, sync: bool = True) -> str:
        """Write the manifest of a new run (and, like fetch, sync the database)."""
        self.runs += 1
        started = f"2026-05-{self.runs:02d}T03:00:00Z"
        run = {"started": started, "finished": started, "scope": "catalogue", "complete": True}
        manifest = {
            "format_version": 1,
            "source": API,
            "last_run": run,
            "last_complete_run": run,
            "records": {"packages": len(self.packages), "grids": 0, "categories": 0},
        }
        (self.root / "manifest.json").write_text(json.dumps(manifest, indent=2), "utf-8")
        if sync:
            assert after_commit(self.root).problem is None
        return started

    def query(self, sql: str, *params: object) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self.root / CATALOGUE_NAME) as conn:
            return conn.execute(sql, params).fetchall()


def fetched(day: int) -> str:
    return f"2026-05-{day:02d}T02:00:00Z"


@pytest.fixture
def mirror(tmp_path: Path) -> Mirror:
    m = Mirror(tmp_path / "mirror")
    m.put(1, "alpha", stars=10, pypi_version="1.0", last_fetched=fetched(1))
    m.put(2, "beta", stars=20, pypi_version="2.0", last_fetched=fetched(1))
    m.put(3, "gamma", stars=5, commits_52w=[1] * 52, last_fetched=fetched(1))
    m.put(4, "delta", stars=7, commits_52w=[0] * 52, last_fetched=fetched(1))
    m.put(5, "old-name", stars=1, last_fetched=fetched(1))
    m.commit()
    return m


def test_a_new_database_is_a_baseline_with_one_observation_each(mirror: Mirror) -> None:
    assert mirror.query("SELECT count(*) FROM observations") == [(5,)]
    assert mirror.query("SELECT count(*) FROM changes") == [(0,)]
    assert mirror.query("SELECT recorded FROM runs") == [("rebuild",)]
    assert mirror.query("SELECT count(*) FROM weekly_commits WHERE package_id = 3") == [(52,)]


def test_three_runs_observe_changes_once(mirror: Mirror) -> None:
    # Run 2: everything that can change does.
    mirror.put(1, "alpha", stars=64, pypi_version="1.1", last_fetched=fetched(2))
    mirror.put(3, "gamma", stars=5, commits_52w=[0] * 52, last_fetched=fetched(2))
    mirror.put(4, "delta", stars=7, commits_52w=[0] * 51 + [2], last_fetched=fetched(2))
    mirror.put(5, "new-name", stars=1, last_fetched=fetched(2))
    mirror.remove(2)
    mirror.put(6, "epsilon", stars=3, last_fetched=fetched(2))
    started = mirror.commit()
    changes = mirror.query(
        "SELECT change, record_id, old, new FROM changes JOIN runs ON runs.id = run_id"
        " WHERE runs.started = ? ORDER BY change, record_id",
        started,
    )
    assert changes == [
        ("new", 6, None, None),
        ("release", 1, "1.0", "1.1"),
        ("removed", 2, None, None),
        ("rename", 5, "old-name", "new-name"),
    ]
    observations = mirror.query("SELECT count(*) FROM observations")[0][0]
    # alpha, gamma and delta changed, epsilon is new; new-name's values did not change.
    assert observations == 5 + 4
    # Run 3: the service re-measured nothing; the manifest is new, the records are not.
    mirror.commit()
    assert mirror.query("SELECT count(*) FROM observations") == [(observations,)]
    assert mirror.query("SELECT count(*) FROM changes WHERE run_id = 3") == [(0,)]
    assert mirror.query("SELECT count(*) FROM runs") == [(3,)]
    # The removed package's history stays.
    assert mirror.query("SELECT stars FROM observations WHERE package_id = 2") == [(20,)]


def test_a_re_measurement_that_changed_nothing_adds_no_observation(mirror: Mirror) -> None:
    mirror.put(1, "alpha", stars=10, pypi_version="1.0", last_fetched=fetched(2))
    mirror.commit()
    assert mirror.query("SELECT count(*) FROM observations WHERE package_id = 1") == [(1,)]
    mirror.put(1, "alpha", stars=11, pypi_version="1.0", last_fetched=fetched(3))
    mirror.commit()
    assert mirror.query(
        "SELECT observed_at, stars FROM observations WHERE package_id = 1 ORDER BY 1"
    ) == [(fetched(1), 10), (fetched(3), 11)]


def test_weekly_commits_in_the_database_are_the_stitched_series(mirror: Mirror) -> None:
    windows = []
    for run, week in enumerate((1, 2, 70), start=2):  # overlapping, then a gap of 17 weeks
        moment = MONDAY + timedelta(weeks=week)
        counts = [(run * 7 + i) % 5 for i in range(52)]
        windows.append((moment, counts))
        mirror.put(3, "gamma", commits_52w=counts, last_fetched=moment.isoformat())
        mirror.commit()
    first = (datetime.fromisoformat(fetched(1)), [1] * 52)
    stored = dict(mirror.query("SELECT week_start, commits FROM weekly_commits WHERE package_id=3"))
    assert stored == {w.isoformat(): c for w, c in stitch([first, *windows]).items()}


def test_a_rerun_of_the_same_sync_adds_nothing(mirror: Mirror) -> None:
    before = [mirror.query(f"SELECT count(*) FROM {t}") for t in ("observations", "changes")]
    (mirror.root / CATALOGUE_NAME).touch()
    conn = sqlite3.connect(mirror.root / CATALOGUE_NAME)
    conn.execute("DELETE FROM catalogue_meta")  # forget the stamp: the sync runs again
    conn.commit()
    conn.close()
    assert after_commit(mirror.root).problem is None
    after = [mirror.query(f"SELECT count(*) FROM {t}") for t in ("observations", "changes")]
    assert after == before


# --- missing, corrupt, behind -------------------------------------------------------------------


def test_a_missing_database_is_rebuilt_and_says_so(mirror: Mirror) -> None:
    (mirror.root / CATALOGUE_NAME).unlink()
    catalogue = open_catalogue(mirror.root)
    catalogue.close()
    assert catalogue.notice is not None and "missing" in catalogue.notice
    assert mirror.query("SELECT count(*) FROM packages") == [(5,)]
    assert mirror.query("SELECT count(*) FROM changes") == [(0,)]  # no invented changes


def test_a_planted_index_does_not_stop_a_rebuild(mirror: Mirror) -> None:
    # The rebuild orders files by the ids `.index.json` names: "²" and 5,000 digits pass
    # str.isdigit() but int() refuses them. A hint only orders; the rows come from the files.
    index = {"format": 2, "packages": {}}
    for number, path in enumerate(sorted((mirror.root / "packages").glob("*.json"))):
        planted = ("²", "9" * 5000, "x")[number % 3]
        index["packages"][path.name] = f"{planted} 1 2 3 {'0' * 32}"
    (mirror.root / ".index.json").write_text(json.dumps(index))
    (mirror.root / CATALOGUE_NAME).unlink()
    open_catalogue(mirror.root).close()
    assert mirror.query("SELECT count(*) FROM packages") == [(5,)]


def _read_order(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the record files the sync reads, in the order it reads them."""
    from pkgharvest.store import mirror as mirror_module

    order: list[str] = []
    read = mirror_module.read_record_file

    def spy(path: Any, *rest: Any) -> Any:
        order.append(os.path.basename(path))
        return read(path, *rest)

    monkeypatch.setattr(mirror_module, "read_record_file", spy)
    return order


def test_the_sync_after_a_fetch_reads_in_the_order_of_the_ids_it_hands_over(
    mirror: Mirror, monkeypatch: pytest.MonkeyPatch
) -> None:
    # after_commit takes the ids of the files the fetch wrote and orders its reads by them
    # (rows then go to the end of the B-trees), without parsing .index.json again.
    names = sorted(path.name for path in (mirror.root / "packages").glob("*.json"))
    hints = {"packages": {name: 100 - n for n, name in enumerate(names)}}  # reverse name order
    order = _read_order(monkeypatch)

    def no_index(root: Path) -> Any:
        raise AssertionError(".index.json read although the fetch named every file")

    monkeypatch.setattr(write, "load_saved_index", no_index)
    (mirror.root / CATALOGUE_NAME).unlink()
    assert after_commit(mirror.root, id_hints=hints).problem is None
    assert order == names[::-1]
    assert mirror.query("SELECT count(*) FROM packages") == [(5,)]


def test_files_the_fetch_did_not_write_are_ordered_by_the_index(
    mirror: Mirror, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A database that was behind before the fetch: the fetch names only its own files; the
    # others take their ids from .index.json. Wrong hints (out of range, for names that are
    # not there) cost order, never a row.
    names = sorted(path.name for path in (mirror.root / "packages").glob("*.json"))
    index = {"format": 2, "packages": {}}
    for n, name in enumerate(names):
        index["packages"][name] = f"{10 * (n + 1)} 1 2 3 {'0' * 32}"
    (mirror.root / ".index.json").write_text(json.dumps(index))
    hints = {"packages": {names[0]: 45, names[1]: 1 << 70, "not-there.json": -1}}
    order = _read_order(monkeypatch)
    (mirror.root / CATALOGUE_NAME).unlink()
    assert after_commit(mirror.root, id_hints=hints).problem is None
    # ids: names[2..4] 30, 40, 50 (the index), names[0] 45 (the fetch's, over the index's 10),
    # names[1] last (the fetch's hint is out of range; the index's 20 is not used).
    assert order == [names[2], names[3], names[0], names[4], names[1]]
    assert mirror.query("SELECT count(*) FROM packages") == [(5,)]


def test_a_corrupt_database_is_moved_aside_and_rebuilt(mirror: Mirror) -> None:
    path = mirror.root / CATALOGUE_NAME
    for suffix in ("-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)
    path.write_bytes(b"this is not a database" * 100)
    catalogue = open_catalogue(mirror.root)
    catalogue.close()
    assert catalogue.notice is not None and "corrupt" in catalogue.notice
    assert (mirror.root / "catalogue.db.corrupt").read_bytes().startswith(b"this is not")
    assert mirror.query("SELECT slug FROM packages ORDER BY id")[0] == ("alpha",)


def test_a_second_repair_keeps_the_first_damaged_copy(mirror: Mirror) -> None:
    """A second damaged database once replaced the first `.corrupt` (and its history): each is
    kept, the later ones under a number."""
    from pkgharvest.catalogue.audit import examine

    path = mirror.root / CATALOGUE_NAME
    for number, aside in enumerate(("catalogue.db.corrupt", "catalogue.db.corrupt.2")):
        for suffix in ("-wal", "-shm"):
            path.with_name(path.name + suffix).unlink(missing_ok=True)
        path.write_bytes(f"damaged database number {number + 1}".encode() * 100)
        catalogue = open_catalogue(mirror.root)
        catalogue.close()
        assert catalogue.notice is not None and f"moved aside as {aside} and" in catalogue.notice
    assert (
        (mirror.root / "catalogue.db.corrupt").read_bytes().startswith(b"damaged database number 1")
    )
    assert (
        (mirror.root / "catalogue.db.corrupt.2")
        .read_bytes()
        .startswith(b"damaged database number 2")
    )
    assert mirror.query("SELECT slug FROM packages ORDER BY id")[0] == ("alpha",)
    found = examine(mirror.root, None)
    found.close()
    assert [note.split(":")[0] for note in found.notes if "moved aside" in note] == [
        "catalogue.db.corrupt",
        "catalogue.db.corrupt.2",
    ]


def test_a_database_behind_the_manifest_catches_up_keeping_history(mirror: Mirror) -> None:
    mirror.put(1, "alpha", stars=99, last_fetched=fetched(2))
    mirror.commit(sync=False)  # the fetch died between the JSON commit and the database's
    catalogue = open_catalogue(mirror.root)
    catalogue.close()
    assert catalogue.notice is not None and "behind" in catalogue.notice
    assert mirror.query("SELECT stars FROM observations WHERE package_id = 1 ORDER BY 1") == [
        (10,),
        (99,),
    ]
    assert mirror.query("SELECT stars, observed_at FROM observations WHERE run_id = 2") == [
        (99, fetched(2))
    ]
    assert open_catalogue(mirror.root).notice is None  # caught up: silent from now on


def test_a_corrupt_record_file_stops_the_sync_and_changes_nothing(mirror: Mirror) -> None:
    broken = mirror.root / "packages" / "alpha.json"
    broken.write_text('{"id": 1, ', "utf-8")
    mirror.commit(sync=False)
    with pytest.raises(CorruptStore, match=r"alpha\.json"):
        open_catalogue(mirror.root)
    assert mirror.query("SELECT count(*) FROM runs") == [(1,)]  # the transaction rolled back


# --- schema versions --------------------------------------------------------------------------


def test_a_newer_schema_is_refused_untouched(mirror: Mirror) -> None:
    path = mirror.root / CATALOGUE_NAME
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {schema.SCHEMA_VERSION + 1}")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    before = path.read_bytes()
    mirror.put(1, "alpha", stars=11, last_fetched=fetched(3))
    mirror.commit(sync=False)
    with pytest.raises(CatalogueError, match="newer") as caught:
        open_catalogue(mirror.root)
    assert caught.value.exit_code == 65
    assert path.read_bytes() == before


def test_a_database_of_the_previous_schema_is_migrated_on_open(tmp_path: Path) -> None:
    """A version 2 database, as the previous pkgharvest left it (an observation per
    re-measurement, star and activity rows in `changes`), is rebuilt with foreign keys: its
    history kept as changes only, its runs and releases kept."""
    m = Mirror(tmp_path / "mirror")
    m.put(1, "alpha", stars=12, commits_52w=[1] * 52, last_fetched=fetched(3))
    m.commit(sync=False)
    conn = sqlite3.connect(m.root / CATALOGUE_NAME, isolation_level=None)
    schema.migrate(conn, "test", upto=2)
    conn.executescript(
        """
        INSERT INTO runs (id, started, recorded, manifest_sha256)
            VALUES (1, '2026-05-01T03:00:00Z', 'rebuild', 'a'), (2, '2026-05-02T03:00:00Z',
            'fetch', 'b'), (3, '2026-05-03T03:00:00Z', 'fetch', 'c');
        INSERT INTO packages (id, slug, stars, commits_52w, commits_52w_total, last_fetched,
            pypi_version) VALUES (1, 'alpha', 12, '[1]', 52, '2026-05-03T02:00:00Z', '1.1');
        INSERT INTO observations VALUES
            (1, '2026-05-01T02:00:00Z', 10, 0, 52, '1.0', 1),
            (1, '2026-05-02T02:00:00Z', 10, 0, 52, '1.0', 2),
            (1, '2026-05-03T02:00:00Z', 12, 0, 52, '1.1', 3);
        INSERT INTO changes VALUES (3, 'stars', 'packages', 1, 'alpha', 10, 12),
            (3, 'release', 'packages', 1, 'alpha', '1.0', '1.1'),
            (2, 'dormant', 'packages', 1, 'alpha', 3, 0);
        """
    )
    conn.execute("INSERT INTO catalogue_meta VALUES ('manifest_sha256', 'old')")
    conn.close()
    m.put(1, "alpha", stars=15, commits_52w=[1] * 52, last_fetched=fetched(4))
    m.commit()
    assert m.query("PRAGMA user_version") == [(schema.SCHEMA_VERSION,)]
    assert m.query("SELECT observed_at, stars, run_id FROM observations ORDER BY 1") == [
        ("2026-05-01T02:00:00Z", 10, 1),  # the re-measurement of the 2nd changed nothing
        ("2026-05-03T02:00:00Z", 12, 3),
        (fetched(4), 15, 4),
    ]
    assert m.query("SELECT run_id, change FROM changes") == [(3, "release")]
    assert m.query("SELECT slug, stars, observed_stars, dormant FROM package_latest") == [
        ("alpha", 15, 15, 0)
    ]
    references = {
        table: {(row[2], row[3], row[4]) for row in m.query(f"PRAGMA foreign_key_list({table})")}
        for table in ("packages", "observations", "weekly_commits", "grid_packages", "changes")
    }
    assert references == {
        "packages": {("categories", "category_id", "id")},
        "observations": {("packages", "package_id", "id"), ("runs", "run_id", "id")},
        "weekly_commits": {("packages", "package_id", "id")},
        "grid_packages": {("grids", "grid_id", "id"), ("packages", "package_id", "id")},
        "changes": {("runs", "run_id", "id")},
    }


def test_show_draws_stitched_activity_only_beyond_52_weeks() -> None:
    from pkgharvest.views.history import history_lines

    first = calendar_weeks([1] * 52, MONDAY)
    second = calendar_weeks([2] * 52, MONDAY + timedelta(weeks=60))  # a gap of 8 weeks
    weeks = [(w.isoformat(), c) for w, c in stitch([(MONDAY, [1] * 52)]).items()]
    assert history_lines([], weeks) == []  # 52 weeks: the panel's own chart says it all
    both = [(w.isoformat(), c) for w, c in [*first, *second]]
    (line,) = history_lines([], both)
    assert "Commit activity" in line.plain and "112 weeks" in line.plain
    chart = line.plain.removeprefix("Commit activity  ").split("  ")[0:3]
    # Two weeks a cell: 26 cells of the first window, 4 blank cells for the 8 unobserved weeks
    # (split("  ") leaves two empty strings for them), 26 cells of the busier second window.
    assert len(chart[0]) == 26 and chart[1] == "" and set(line.plain) >= {"█"}


def test_changes_over_several_runs_fold_per_package(mirror: Mirror) -> None:
    from pkgharvest.catalogue.reports import change_report

    mirror.put(1, "alpha", stars=64, pypi_version="1.1", last_fetched=fetched(2))
    mirror.commit()
    mirror.put(1, "alpha", stars=60, pypi_version="1.2", last_fetched=fetched(3))
    mirror.put(2, "beta", stars=25, pypi_version="2.0", last_fetched=fetched(3))
    mirror.commit()
    with open_catalogue(mirror.root) as catalogue:
        report = change_report(catalogue.conn, datetime(2026, 1, 1, tzinfo=UTC))
        last = change_report(catalogue.conn)
    assert report.runs == 3 and not report.baseline
    assert report.stars == [
        {"slug": "alpha", "from": 10, "to": 60, "gained": 50},
        {"slug": "beta", "from": 20, "to": 25, "gained": 5},
    ]
    assert report.releases == [{"slug": "alpha", "from": "1.0", "to": "1.2"}]
    assert [(i["slug"], i["gained"]) for i in last.stars] == [("beta", 5), ("alpha", -4)]
