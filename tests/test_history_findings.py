"""Issue 19, "History you can trust": one test per finding, each against real fetches of the fake
API (in-process), with the clock the test moves. Each failed on the code before the fix."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from pkgharvest.catalogue import CATALOGUE_NAME
from tests.fakeproc import REPO_ROOT
from tests.faultkit import mirror_files
from tests.historyworld import World, api_down, service_time

Cap = pytest.CaptureFixture[str]

XTD = 1083  # django-comments-xtd, in the seeds
REGISTRATION = 4100  # django-rest-registration
HSTORE = 1327  # django-hstore


@pytest.fixture
def world(tmp_path: Path) -> World:
    world = World(tmp_path)
    assert world.fetch() == 0
    return world


# --- 1. Stale commit counts are never filed under other weeks ----------------------------------


def test_a_kept_commit_list_is_not_filed_again_under_later_weeks(world: World, capsys: Cap) -> None:
    first = world.query(
        "SELECT week_start, commits FROM weekly_commits WHERE package_id = ? ORDER BY 1", XTD
    )
    assert len(first) == 52
    # Three weeks later the service re-measures the package but sends `[]` (unknown): the
    # record keeps its counts (stale), which are as old as the first `last_fetched`.
    world.later(weeks=3)
    world.touch(XTD, commits_over_52=[], repo_watchers=700)
    assert world.fetch() == 0
    record = json.loads(
        next((world.data / "packages").glob("django-comments-xtd*.json")).read_text()
    )
    assert record["stale_fields"] == ["commits_52w"]
    assert (
        world.query(
            "SELECT week_start, commits FROM weekly_commits WHERE package_id = ? ORDER BY 1", XTD
        )
        == first
    )
    shown = world.cli(capsys, "show", "django-comments-xtd")
    assert "Commit activity" not in shown.out  # no stitched span beyond the 52 weeks sent


# --- 2. Grids and categories in `changes` ------------------------------------------------------


def test_changes_report_grids_and_categories(world: World, capsys: Cap) -> None:
    catalogue = world.catalogue
    gone_id, renamed_id = sorted(catalogue.grids)[:2]
    gone = catalogue.grids.pop(gone_id)
    for package_id, package in list(catalogue.packages.items()):
        if gone_id in package["grids"]:
            catalogue.packages[package_id] = {
                **package,
                "grids": [g for g in package["grids"] if g != gone_id],
            }
    old_slug = catalogue.grids[renamed_id]["slug"]
    catalogue.grids[renamed_id] = {**catalogue.grids[renamed_id], "slug": "renamed-grid"}
    category_id = max(catalogue.categories) + 1
    catalogue.categories[category_id] = {
        **catalogue.categories[min(catalogue.categories)],
        "id": category_id,
        "slug": "plugins",
        "title": "Plugin",
    }
    catalogue.touched()
    world.later(days=1)
    fetched = world.fetch_json(capsys)
    assert fetched.code == 0, fetched.err
    report = world.cli(capsys, "changes", "--json").json()
    assert report["grids"] == {
        "new": [],
        "removed": [{"slug": gone["slug"], "title": gone["title"]}],
        "renamed": [{"from": old_slug, "to": "renamed-grid"}],
    }
    assert report["categories"] == {
        "new": [{"slug": "plugins", "title": "Plugin"}],
        "removed": [],
        "renamed": [],
    }
    assert fetched.json()["changes"]["grids"] == report["grids"]
    text = world.cli(capsys, "changes").out
    assert "Removed grids (1)" in text and "renamed-grid  was " + old_slug in text
    assert "grids: 1 removed, 1 renamed; categories: 1 new" in text


# --- 3. `changes` and `trends` read the same observations -------------------------------------


def test_stars_changed_without_last_fetched_moving_show_everywhere(
    world: World, capsys: Cap
) -> None:
    # The GitHub webhook saves stars before it moves `last_fetched`.
    world.later(days=1)
    before = world.catalogue.packages[XTD]["repo_watchers"]
    world.update(XTD, repo_watchers=before + 1000, pypi_version="9.0.0")
    assert world.fetch() == 0
    changes = world.cli(capsys, "changes", "--json").json()
    assert changes["stars"] == [
        {"slug": "django-comments-xtd", "from": before, "to": before + 1000, "gained": 1000}
    ]
    assert [r["to"] for r in changes["releases"]] == ["9.0.0"]
    trends = world.cli(capsys, "trends", "--since", "2026-02-16", "--json").json()
    assert [(t["slug"], t["stars_gained"]) for t in trends] == [("django-comments-xtd", 1000)]
    gained = world.cli(capsys, "top", "--by", "stars-gained", "--since", "2026-02-16", "--json")
    assert gained.json() == trends
    show = world.cli(capsys, "show", "django-comments-xtd").out
    assert f"{before:,} → {before + 1000:,} (+1,000)" in show
    export = world.cli(capsys, "export", "--history", "--format", "jsonl").out
    rows = [json.loads(line) for line in export.splitlines()]
    xtd = [(r["stars"], r["pypi_version"]) for r in rows if r["slug"] == "django-comments-xtd"]
    assert xtd[-1] == (before + 1000, "9.0.0") and len(xtd) == 2
    # Dated by the run that saw it: the service's `last_fetched` did not move.
    assert rows[[r["slug"] for r in rows].index("django-comments-xtd") + 1]["observed_at"] == (
        "2026-02-17T12:00:00Z"
    )


# --- 4. A server restored from a backup ---------------------------------------------------------


def test_a_restored_backup_is_the_current_state_and_its_version_went_back(
    world: World, capsys: Cap
) -> None:
    backup = dict(world.catalogue.packages[XTD])
    world.later(days=1)
    world.touch(XTD, repo_watchers=backup["repo_watchers"] + 1005, pypi_version="99.0.0")
    assert world.fetch() == 0
    world.later(days=1)
    world.catalogue.packages[XTD] = backup  # data and last_fetched back in time
    world.catalogue.touched()
    assert world.fetch() == 0

    changes = world.cli(capsys, "changes", "--json").json()
    assert changes["releases"] == []
    assert changes["rollbacks"] == [
        {"slug": "django-comments-xtd", "from": "99.0.0", "to": backup["pypi_version"]}
    ]
    assert [s["gained"] for s in changes["stars"]] == [-1005]
    trends = world.cli(capsys, "trends", "--since", "2026-02-17", "--json").json()
    assert [(t["slug"], t["stars"]) for t in trends] == [
        ("django-comments-xtd", backup["repo_watchers"])
    ]
    show = world.cli(capsys, "show", "django-comments-xtd").out
    assert f"→ {backup['repo_watchers']:,} (+0)" in show  # back where it started
    assert "went back" in world.cli(capsys, "changes").out


# --- 5. A window compares two states -----------------------------------------------------------


def test_changes_since_compares_the_start_with_the_end(world: World, capsys: Cap) -> None:
    """Over five runs a version goes null -> 1.0.0 -> null, one package goes dormant and back
    (0 -> 7 -> 0 commits), another back and dormant again (4 -> 0 -> 4): all end where they
    began, so the window has none of them; the last run's own changes still do."""
    old_commit = service_time(world.now.replace(year=2023))
    quiet, busy, four = [0] * 52, [0] * 51 + [7], [0] * 51 + [4]
    world.later(hours=1)
    world.touch(XTD, pypi_version=None)
    world.touch(REGISTRATION, commits_over_52=quiet, last_updated=old_commit)  # dormant
    world.touch(HSTORE, commits_over_52=four, last_updated=old_commit)  # not dormant
    assert world.fetch() == 0
    start = world.later(minutes=1)  # the state after that run
    for run in range(5):
        world.later(days=1)
        odd = run % 2 == 1
        world.touch(XTD, pypi_version="1.0.0" if odd else None)
        world.touch(REGISTRATION, commits_over_52=busy if odd else quiet)
        world.touch(HSTORE, commits_over_52=quiet if odd else four)
        assert world.fetch() == 0
    report = world.cli(capsys, "changes", "--since", start.isoformat(), "--json").json()
    assert report["runs"] == 5
    assert report["releases"] == [] and report["rollbacks"] == []
    assert report["dormant"] == [] and report["revived"] == []
    # The last run's own changes: 1.0.0 -> null is no release; 7 -> 0 commits went dormant.
    last = world.cli(capsys, "changes", "--json").json()
    assert last["releases"] == []
    assert [d["slug"] for d in last["dormant"]] == ["django-rest-registration"]
    assert [d["slug"] for d in last["revived"]] == ["django-hstore"]


# --- 6. One report, one `since` ----------------------------------------------------------------


def test_fetch_json_and_changes_json_are_the_same_report(world: World, capsys: Cap) -> None:
    first_run = world.now
    world.later(days=1)
    world.touch(XTD, repo_watchers=1)
    fetched = world.fetch_json(capsys).json()["changes"]
    printed = world.cli(capsys, "changes", "--json").json()
    assert fetched == printed
    assert printed["since"] == first_run.strftime("%Y-%m-%dT%H:%M:%SZ")


# --- 7. Canonical record files -----------------------------------------------------------------


def test_grid_links_in_another_order_change_nothing(world: World, capsys: Cap) -> None:
    package = max(world.catalogue.packages.values(), key=lambda p: len(p["grids"]))
    assert len(package["grids"]) >= 2
    path = next((world.data / "packages").glob(f"{package['slug']}*.json"))
    before = path.stat()
    world.update(package["id"], grids=list(reversed(package["grids"])))
    world.later(days=1)
    report = world.fetch_json(capsys).json()
    assert report["counts"]["packages"]["changed"] == 0
    assert report["changes"]["new"] == [] and report["changes"]["stars"] == []
    after = path.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


# --- 8. A targeted run that got everything is complete ------------------------------------------


def test_a_targeted_run_that_got_everything_is_complete(world: World, capsys: Cap) -> None:
    world.later(hours=1)
    report = world.fetch_json(capsys, "django-comments-xtd").json()
    assert report["exit_code"] == 0 and report["complete"] is True
    status = " ".join(world.cli(capsys, "status").out.split())  # lines break at 80 columns
    assert "exit 0, complete, targeted" in status
    assert "last full fetch 2026-02-16 12:00:00 UTC (1 hour ago), exit 0, complete, catalogue" in (
        status
    )


# --- 9. Runs as they happened ---------------------------------------------------------------------


def test_a_failed_run_is_recorded_and_the_mirror_is_unchanged(world: World, capsys: Cap) -> None:
    before = mirror_files(world.data)
    world.later(days=1)
    assert world.fetch(handler=api_down) == 75
    assert mirror_files(world.data) == before
    status = world.cli(capsys, "status", "--json").json()
    assert status["last_run"]["exit_code"] == 75
    assert status["last_run"]["complete"] is False
    assert "the mirror is unchanged" in status["last_run"]["error"]
    assert status["last_complete_catalogue_run"]["exit_code"] == 0
    metrics = world.cli(capsys, "status", "--prometheus").out
    assert f'pkgharvest_last_run_exit_code{{data_dir="{world.data}"}} 75' in metrics
    assert "exit 75, failed, catalogue" in " ".join(world.cli(capsys, "status").out.split())


def test_a_fetch_of_an_unknown_slug_changes_no_footer_check_or_report(
    world: World, capsys: Cap
) -> None:
    world.later(hours=2)
    world.touch(XTD, repo_watchers=5)
    assert world.fetch() == 0
    last_changes = world.cli(capsys, "changes", "--json").json()
    assert last_changes["stars"]
    before = mirror_files(world.data)
    world.later(hours=1)
    assert world.fetch("django-serch") == 5
    assert mirror_files(world.data) == before  # nothing to commit
    assert world.cli(capsys, "status", "--json").json()["last_run"]["exit_code"] == 5
    top = world.cli(capsys, "top")
    assert "mirror updated 1 hour ago" in top.out
    assert "partial" not in top.out and "did not finish" not in top.out
    verify = world.cli(capsys, "verify")
    assert verify.code == 0 and "references not checked" not in verify.out
    assert world.cli(capsys, "changes", "--json").json() == last_changes


def test_runs_in_the_same_second_are_each_their_own_row(world: World, capsys: Cap) -> None:
    """Two reruns over identical data, started and finished in the same second and taking the
    same time, once wrote the same manifest bytes: the runs table is keyed by the manifest, so
    the second shared the first's row (and its changes were the first's)."""
    world.clock = lambda: 100.0  # every run takes 0.0 s
    world.later(days=1)
    world.touch(XTD, repo_watchers=5)
    assert world.fetch() == 0
    assert world.fetch() == 0
    assert world.fetch() == 0
    rows = world.query("SELECT id, started, manifest_sha256 FROM runs ORDER BY id")
    assert [row[0] for row in rows] == [1, 2, 3, 4]
    assert len({row[1] for row in rows[1:]}) == 1  # the same second
    assert len({row[2] for row in rows}) == 4
    # The last run changed nothing: its report says so, not the report of the run it shared.
    assert world.cli(capsys, "changes", "--json").json()["stars"] == []
    status = world.cli(capsys, "status", "--json").json()
    assert status["last_run"]["started"] == rows[-1][1]


# --- 10. One definition of dormant --------------------------------------------------------------


def test_dormant_is_one_definition_everywhere(tmp_path: Path, capsys: Cap) -> None:
    from tests.fakeapi import generate_catalogue

    world = World(tmp_path, generate_catalogue(packages=300, grids=10, seed=19))
    world.now = world.now.replace(year=2026, month=12)  # many last commits over a year ago
    assert world.fetch() == 0
    rows = world.cli(capsys, "top", "--json", "--limit", "0").json()
    dormant = {row["slug"] for row in rows if row["dormant"]}
    unknown = {row["slug"] for row in rows if row["last_commit"] is None}
    assert len(dormant) > 20 and unknown and not dormant & unknown
    active = world.cli(capsys, "top", "--active", "--json", "--limit", "0").json()
    assert {row["slug"] for row in active} == {row["slug"] for row in rows} - dormant
    # The database's column and the docs' query (which reads it), at the same moment: the
    # view says 'now'; a temporary view of the same text at the test's moment shadows it.
    moment = world.now.strftime("%Y-%m-%d %H:%M:%S")
    conn = sqlite3.connect(world.data / CATALOGUE_NAME)
    (view,) = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'package_latest'").fetchone()
    assert "'now'" in view
    conn.execute(view.replace("CREATE VIEW", "CREATE TEMP VIEW").replace("'now'", f"'{moment}'"))
    assert {slug for (slug,) in conn.execute("SELECT slug FROM package_latest WHERE dormant")} == (
        dormant
    )
    docs = (REPO_ROOT / "docs" / "database.md").read_text("utf-8")
    queries = docs.split("## The catalogue database", 1)[1].split("```sql", 1)[1].split("```")[0]
    (query,) = [q for q in queries.split(";") if "dormant" in q.lower()]
    assert {row[0] for row in conn.execute(query)} == dormant
    conn.close()


# --- 12. Datasette -----------------------------------------------------------------------------

METADATA = REPO_ROOT / "contrib" / "datasette" / "metadata.json"
BOOKKEEPING = {"record_files", "catalogue_meta", "weekly_windows"}
CACHES = {"package_names", "pypi_projects", "pypi_releases"}
"""What `deps` keeps: names rebuilt from the mirror, PyPI's answers (hidden too)."""


def test_tables_link_through_foreign_keys_and_the_view_has_category_and_dormant(
    world: World,
) -> None:
    links = {
        (table, column, target)
        for (table,) in world.query("SELECT name FROM sqlite_master WHERE type = 'table'")
        for _, _, target, column, *_ in world.query(f"PRAGMA foreign_key_list({table})")
    }
    assert links == {
        ("packages", "category_id", "categories"),
        ("grid_packages", "grid_id", "grids"),
        ("grid_packages", "package_id", "packages"),
        ("observations", "package_id", "packages"),
        ("observations", "run_id", "runs"),
        ("weekly_commits", "package_id", "packages"),
        ("changes", "run_id", "runs"),
    }
    columns = [row[1] for row in world.query("PRAGMA table_info(package_latest)")]
    assert {"category", "dormant", "observed_at", "observed_stars"} <= set(columns)
    rows = world.query("SELECT slug, category, dormant FROM package_latest ORDER BY id")
    assert ("django-comments-xtd", "apps", 0) in rows


def test_the_datasette_metadata_hides_the_bookkeeping_and_the_docs_pass_it(world: World) -> None:
    metadata = json.loads(METADATA.read_text("utf-8"))
    (name,) = metadata["databases"]
    assert name == Path(CATALOGUE_NAME).stem  # Datasette names a database after its file
    described = metadata["databases"][name]["tables"]
    hidden = {table for table, meta in described.items() if meta.get("hidden")}
    assert hidden == BOOKKEEPING | CACHES
    tables = {row[0] for row in world.query("SELECT name FROM sqlite_master WHERE type='table'")}
    assert set(described) == tables  # every table described or hidden, and no other
    for table in ("packages", "grids", "categories"):
        assert described[table]["label_column"] == "slug"
    docs = (REPO_ROOT / "docs" / "database.md").read_text("utf-8")
    line = "datasette ~/.local/share/pkgharvest/catalogue.db --metadata "
    assert line + METADATA.relative_to(REPO_ROOT).as_posix() in docs
