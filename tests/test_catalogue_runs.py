"""The catalogue database as fetch and the commands meet it (issue 8): runs against the fake API,
a kill -9 between the JSON commit and the database commit, the history commands, and the reading
commands giving the same rows from the database as from the JSON files."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import subprocess
import sys
import textwrap
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from pkgharvest.catalogue import CATALOGUE_NAME
from pkgharvest.cli import run
from pkgharvest.runtime import Dependencies, RetryPolicy
from tests.fakeapi import PUBLIC_BASE_URL, FakeApi, seed_catalogue, service_datetime
from tests.fakeproc import REPO_ROOT

MP = pytest.MonkeyPatch
Cap = pytest.CaptureFixture[str]


NOW = datetime(2026, 2, 23, 12, tzinfo=UTC)
"""Every run's clock: a week after the seeds' `last_fetched`."""


def deps_for(api: FakeApi) -> Dependencies:
    return Dependencies(
        transport=httpx.MockTransport(api.handler),
        retry=RetryPolicy(attempts=2),
        sleep=lambda seconds: None,
        now=lambda: NOW,
    )


def fetch(api: FakeApi, data: Path, *args: str) -> int:
    argv = ["fetch", "--base-url", PUBLIC_BASE_URL, "--data-dir", str(data), *args]
    return run(argv, deps_for(api))


def query(data: Path, sql: str, *params: object) -> list[tuple[Any, ...]]:
    with sqlite3.connect(data / CATALOGUE_NAME) as conn:
        return conn.execute(sql, params).fetchall()


# The second run's world: the service re-measured two packages, one shipped a release, one went
# quiet (no commit in 52 weeks, the last one over a year ago), one package is new.
SECOND_RUN = textwrap.dedent(
    """
    def second_run(catalogue):
        catalogue.update_package(
            1083, repo_watchers=672, pypi_version="2.11.0",
            last_fetched="2026-02-22T18:02:37.757866-05:00",
        )
        catalogue.update_package(
            4100, repo_watchers=540, commits_over_52=[0] * 52,
            last_updated="2024-11-02T08:32:25-04:00",
            last_fetched="2026-02-22T18:01:40.058837-05:00",
        )
        catalogue.add_package(id=5000, slug="django-brand-new", repo_watchers=12)
    """
)
namespace: dict[str, Any] = {}
exec(SECOND_RUN, namespace)
second_run = namespace["second_run"]


def test_three_fetches_record_history_once(capsys: Cap, tmp_path: Path) -> None:
    data = tmp_path / "mirror"
    catalogue = seed_catalogue()
    api = FakeApi(catalogue)
    assert fetch(api, data) == 0
    first_out = capsys.readouterr().out
    assert "changes:" not in first_out  # the first run is the baseline: nothing to compare
    assert query(data, "SELECT count(*) FROM observations") == [(5,)]

    second_run(catalogue)
    assert fetch(api, data) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[-1] == (
        "changes: 1 new, 0 removed, 1 release, 1 dormant, top gainer django-comments-xtd +54"
    )
    observations = query(data, "SELECT count(*) FROM observations")[0][0]
    assert observations == 5 + 3  # two re-measured, one new

    assert fetch(api, data, "--json") == 0  # nothing changed on the server
    report = json.loads(capsys.readouterr().out)
    assert report["changes"]["new"] == [] and report["changes"]["stars"] == []
    assert query(data, "SELECT count(*) FROM observations") == [(observations,)]
    assert query(data, "SELECT count(*) FROM runs") == [(3,)]


def test_a_targeted_fetch_adds_observations_for_what_it_fetched(tmp_path: Path) -> None:
    data = tmp_path / "mirror"
    catalogue = seed_catalogue()
    api = FakeApi(catalogue)
    assert fetch(api, data) == 0
    second_run(catalogue)
    assert fetch(api, data, "django-comments-xtd") == 0
    rows = query(data, "SELECT package_id, stars FROM observations WHERE run_id = 2")
    assert rows == [(1083, 672)]  # only the package it fetched
    assert query(data, "SELECT count(*) FROM observations") == [(6,)]


def test_kill_9_between_the_json_commit_and_the_database_commit(
    capsys: Cap, tmp_path: Path
) -> None:
    data = tmp_path / "mirror"
    catalogue = seed_catalogue()
    assert fetch(FakeApi(catalogue), data) == 0
    before = query(data, "SELECT count(*) FROM runs")
    child = SECOND_RUN + textwrap.dedent(
        f"""
        import os, signal, sys
        from datetime import UTC, datetime
        import httpx
        from pkgharvest.catalogue.feed import RunFeed
        from pkgharvest.cli import run
        from pkgharvest.runtime import Dependencies, RetryPolicy
        from tests.fakeapi import PUBLIC_BASE_URL, FakeApi, seed_catalogue, service_datetime

        # The moment between the two commits: the JSON files are in place, and the records the
        # run fed the database while staging them are in its transaction, not yet committed.
        RunFeed.finish = lambda self, **_: os.kill(os.getpid(), signal.SIGKILL)
        catalogue = seed_catalogue()
        second_run(catalogue)
        deps = Dependencies(transport=httpx.MockTransport(FakeApi(catalogue).handler),
                            retry=RetryPolicy(attempts=2), sleep=lambda s: None,
                            now=lambda: datetime(2026, 2, 23, 12, tzinfo=UTC))
        sys.exit(run(["fetch", "--base-url", PUBLIC_BASE_URL, "--data-dir", {str(data)!r}], deps))
        """
    )
    done = subprocess.run([sys.executable, "-c", child], cwd=REPO_ROOT, capture_output=True)
    assert done.returncode == -9, done.stderr
    stamp = hashlib.sha256((data / "manifest.json").read_bytes()).hexdigest()
    assert query(data, "SELECT count(*) FROM runs") == before  # the database missed the run
    assert query(data, "SELECT count(*) FROM runs WHERE manifest_sha256 = ?", stamp) == [(0,)]

    capsys.readouterr()
    assert run(["top", "--json", "--data-dir", str(data)]) == 0
    out, err = capsys.readouterr()
    assert err.count("\n") == 1 and "behind the mirror: caught up" in err
    assert "django-brand-new" in out
    run_id = query(data, "SELECT id FROM runs WHERE manifest_sha256 = ?", stamp)
    assert run_id, "the catch-up recorded the run"
    changes = "SELECT change, record_id FROM changes WHERE run_id = ? ORDER BY 1, 2"
    assert query(data, changes, run_id[0][0]) == [("new", 5000), ("release", 1083)]
    assert query(data, "SELECT package_id FROM observations WHERE run_id = ?", run_id[0][0]) == [
        (1083,),
        (4100,),
        (5000,),
    ]
    observations = query(data, "SELECT count(*) FROM observations")
    assert observations == [(8,)]
    # The next fetch (nothing changed on the server) adds nothing, and says nothing about it.
    assert fetch(FakeApi(_second_catalogue()), data) == 0
    assert "behind" not in capsys.readouterr().err
    assert query(data, "SELECT count(*) FROM observations") == observations


def _second_catalogue() -> Any:
    catalogue = seed_catalogue()
    second_run(catalogue)
    return catalogue


# --- the history commands -----------------------------------------------------------------------


def two_runs(tmp_path: Path) -> Path:
    """A mirror fetched twice from the fake API, the second time after `second_run`."""
    data = tmp_path / "mirror"
    catalogue = seed_catalogue()
    api = FakeApi(catalogue)
    assert fetch(api, data) == 0
    second_run(catalogue)
    assert fetch(api, data) == 0
    return data


@pytest.fixture
def history(tmp_path: Path) -> Path:
    return two_runs(tmp_path)


def test_trends_rank_by_what_was_gained(capsys: Cap, history: Path) -> None:
    capsys.readouterr()
    assert run(["trends", "--since", "2026-02-20", "--json", "--data-dir", str(history)]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["slug"], r["stars"], r["stars_gained"]) for r in rows] == [
        ("django-comments-xtd", 672, 54),
        ("django-rest-registration", 540, -11),
    ]
    assert rows[0]["stars_percent"] == round(100 * 54 / 618, 1)
    assert rows[0]["since"] < rows[0]["until"] and {"forks", "forks_gained"} <= set(rows[0])
    assert (
        run(["trends", "--since", "2026-02-20", "--by", "forks", "--data-dir", str(history)]) == 0
    )
    assert "django-comments-xtd" in capsys.readouterr().out


def test_trends_with_one_observation_say_when_they_start(capsys: Cap, tmp_path: Path) -> None:
    data = tmp_path / "mirror"
    assert fetch(FakeApi(seed_catalogue()), data) == 0
    capsys.readouterr()
    assert run(["trends", "--data-dir", str(data)]) == 0
    assert capsys.readouterr().out.startswith("Trends start with the second run")


LATER = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
"""A fixed "now" for the history screens, when django-rest-registration (last commit on
2026-01-23, no commit in its 52 weeks after the second run) is dormant."""


def read(capsys: Cap, *argv: str, columns: int = 200) -> str:
    """A reading command's stdout at `columns` and the fixed moment LATER."""
    capsys.readouterr()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("COLUMNS", str(columns))
        for name in ("LINES", "NO_COLOR", "FORCE_COLOR", "TERM"):
            mp.delenv(name, raising=False)
        assert run(list(argv), Dependencies(now=lambda: LATER)) == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("columns", [40, 60, 80, 200])
def test_trends_never_cut_a_number(capsys: Cap, history: Path, columns: int) -> None:
    """Whatever the width: a rule under the header, every number whole, the Trend column as
    wide as it holds (two observations: the 5-character header), dormant rows marked."""
    argv = ("trends", "--since", "2026-02-20", "--data-dir", str(history))
    out = read(capsys, *argv, columns=columns)
    lines = out.splitlines()
    assert set(lines[1]) == {"─"} and lines[0].split()[:4] == ["#", "Package", "Stars", "Gained"]
    rows = " ".join(out.split("\n\n")[0].splitlines()[2 : 4 if columns > 40 else 6]).split()
    # (At 40 columns the slugs spill: each gets a line of its own, its numbers the next.)
    assert rows[:4] == ["1", "django-comments-xtd", "672", "+54"]
    second = rows.index("2")
    assert rows[second : second + 5] == ["2", "django-rest-registration", "†", "540", "-11"]
    assert "…" not in out and max(len(line) for line in lines) <= columns
    assert "† Dormant: no commits in 52 weeks" in " ".join(out.split())
    if columns == 200:
        header = ["#", "Package", "Stars", "Gained", "%", "Forks", "Gained", "Trend"]
        assert lines[0].split() == header
        # Two observations make two bars: the column is as wide as its header, no wider.
        assert lines[0].endswith("Trend") and lines[2].endswith("▁█")
        assert len(lines[0]) == max(len(line) for line in lines[:4])


def test_trends_on_a_young_mirror_say_what_is_true(capsys: Cap, tmp_path: Path) -> None:
    data = tmp_path / "mirror"
    api = FakeApi(seed_catalogue())
    assert fetch(api, data) == 0
    assert read(capsys, "trends", "--data-dir", str(data)).startswith(
        "Trends start with the second run"
    )
    assert fetch(api, data) == 0  # the service re-measured nothing since
    out = read(capsys, "trends", "--data-dir", str(data))
    assert out.startswith("No package has changed since its first observation (2 runs so far)")
    assert "second run" not in out


def test_trends_with_nothing_in_the_window_name_its_start(capsys: Cap, history: Path) -> None:
    out = read(capsys, "trends", "--since", "30d", "--data-dir", str(history))
    assert out == "No package gained or lost stars since 2027-01-30 (30d).\n"  # LATER - 30 days
    out = read(capsys, "trends", "--since", "2026-12-01", "--data-dir", str(history))
    assert out == "No package gained or lost stars since 2026-12-01.\n"


def test_changes_with_nothing_changed_suggest_a_longer_window(capsys: Cap, history: Path) -> None:
    assert fetch(FakeApi(_second_catalogue()), history) == 0  # a rerun: nothing new
    out = read(capsys, "changes", "--data-dir", str(history))
    assert "Nothing changed." in out
    assert "`pkgharvest changes --since 7d` shows what the runs of the last week changed." in out
    week = read(capsys, "changes", "--since", "2026-02-01", "--data-dir", str(history))
    assert "Nothing changed." not in week and "--since 7d" not in week


def test_show_draws_the_star_history_as_a_chart_from_8_observations(
    capsys: Cap, tmp_path: Path
) -> None:
    data = tmp_path / "mirror"
    catalogue = seed_catalogue()
    api = FakeApi(catalogue)
    for night in range(8):
        catalogue.update_package(
            1083,
            repo_watchers=618 + 10 * night,
            last_fetched=service_datetime(datetime(2026, 2, 16 + night, 22, 0)),
        )
        # One run a night (runs started in the same second share one `runs` row, and an
        # observation can be lost: a catalogue matter, not this test's).
        started = datetime(2026, 2, 17 + night, 4, 0, tzinfo=UTC)
        nightly = replace(deps_for(api), now=lambda started=started: started)
        argv = ["fetch", "--base-url", PUBLIC_BASE_URL, "--data-dir", str(data)]
        assert run(argv, nightly) == 0
        out = read(capsys, "show", "django-comments-xtd", "--data-dir", str(data), columns=80)
        if night == 6:  # seven observations: one line
            assert "Star history  ▁" in out and "7 observations" in " ".join(out.split())
    assert "Star history" not in out
    assert "Stars, 8 observations: 618 → 688 (+70)" in out
    lines = out.splitlines()
    chart = [line for line in lines if "┤" in line and "│" not in line]  # outside the panel
    assert len(chart) == 6
    assert chart[0].startswith("688 ┤") and chart[-1].startswith("618 ┤")
    dates = lines[lines.index(chart[-1]) + 1]
    assert dates.split()[0] == "2026-02-17" and dates.split()[-1] == "2026-02-24"  # UTC
    assert max(len(line) for line in lines) <= 80


def test_changes_of_the_last_run(capsys: Cap, history: Path) -> None:
    capsys.readouterr()
    assert run(["changes", "--json", "--data-dir", str(history)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [i["slug"] for i in report["new"]] == ["django-brand-new"]
    assert report["releases"] == [
        {"slug": "django-comments-xtd", "from": "2.10.11", "to": "2.11.0"}
    ]
    assert [(i["slug"], i["gained"]) for i in report["stars"]] == [
        ("django-comments-xtd", 54),
        ("django-rest-registration", -11),
    ]
    assert [i["slug"] for i in report["dormant"]] == ["django-rest-registration"]
    assert report["removed"] == [] and report["revived"] == []
    assert run(["changes", "--data-dir", str(history)]) == 0
    text = capsys.readouterr().out
    assert "2.10.11 → 2.11.0" in text and "+54" in text and "Went dormant" in text


def test_changes_since_a_bad_date_is_a_usage_error(capsys: Cap, history: Path) -> None:
    assert run(["changes", "--since", "yesterday-ish", "--data-dir", str(history)]) == 2
    assert capsys.readouterr().err.startswith("pkgharvest: error: --since")


def test_top_by_stars_gained_works_like_trends(capsys: Cap, history: Path) -> None:
    data = ["--since", "2026-02-20", "--json", "--data-dir", str(history)]
    capsys.readouterr()
    assert run(["top", "--by", "stars-gained", *data]) == 0
    from_top = capsys.readouterr().out
    assert run(["trends", *data]) == 0
    assert from_top == capsys.readouterr().out and "django-comments-xtd" in from_top


def test_show_adds_the_star_history(capsys: Cap, history: Path) -> None:
    capsys.readouterr()
    assert run(["show", "django-comments-xtd", "--data-dir", str(history)]) == 0
    out = capsys.readouterr().out
    assert "Star history" in out and "618 → 672 (+54)" in out and "2 observations" in out
    assert run(["show", "django-hstore", "--data-dir", str(history)]) == 0
    assert "Star history" not in capsys.readouterr().out  # observed once: no chart


def test_export_history_is_long_form(capsys: Cap, history: Path) -> None:
    capsys.readouterr()
    assert run(["export", "--history", "--data-dir", str(history)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "slug,observed_at,stars,forks,commits_52w_total,pypi_version,last_commit"
    xtd = [line for line in lines if line.startswith("django-comments-xtd,")]
    assert [line.split(",")[2] for line in xtd] == ["618", "672"]  # by date
    argv = ["export", "--history", "--format", "jsonl", "--since", "2026-02-20"]
    assert run([*argv, "--data-dir", str(history)]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    slugs = {r["slug"] for r in rows}
    assert {"django-comments-xtd", "django-rest-registration"} <= slugs  # re-measured on the 22nd
    assert "django-hstore" not in slugs  # observed on 2026-02-15 only
    assert all(r["observed_at"] >= "2026-02-20" for r in rows)


def test_the_readme_example_queries_run(history: Path) -> None:
    readme = (REPO_ROOT / "docs" / "database.md").read_text("utf-8")
    section = readme.split("## The catalogue database", 1)[1].split("```sql", 1)[1]
    script = section.split("```", 1)[0]
    queries = [q.strip() for q in script.split(";") if q.strip()]
    assert len(queries) == 3
    with sqlite3.connect(history / CATALOGUE_NAME) as conn:
        results = [conn.execute(q).fetchall() for q in queries]
    # 'now' is today, far from the fixture's dates: the queries must run; the dormant query
    # finds nothing recent either way.
    assert all(isinstance(rows, list) for rows in results)


def test_a_newer_database_stops_fetch_before_anything_is_fetched(
    capsys: Cap, tmp_path: Path
) -> None:
    data = tmp_path / "mirror"
    catalogue = seed_catalogue()
    api = FakeApi(catalogue)
    assert fetch(api, data) == 0
    with sqlite3.connect(data / CATALOGUE_NAME) as conn:
        conn.execute("PRAGMA user_version = 99")
    manifest = (data / "manifest.json").read_bytes()
    api.reset_stats()
    second_run(catalogue)
    capsys.readouterr()
    assert fetch(api, data) == 65
    err = capsys.readouterr().err
    assert err.startswith("pkgharvest: error: the catalogue database") and "newer" in err
    assert api.stats.snapshot().paths == ()  # not one request
    assert (data / "manifest.json").read_bytes() == manifest
    assert query(data, "PRAGMA user_version") == [(99,)]


def test_export_history_keeps_removed_packages_and_guards_planted_cells(
    capsys: Cap, history: Path
) -> None:
    """A removed package's rows stay, under the slug it had, in slug order; a cell that is not
    the database's own timestamp (a planted catalogue.db is data too) gets the formula guard."""
    with sqlite3.connect(history / CATALOGUE_NAME) as conn:
        conn.execute(
            "INSERT INTO runs (id, started, recorded) VALUES (99, '2026-02-24T00:00:00Z', 'x')"
        )
        conn.execute(
            "INSERT INTO changes (run_id, change, kind, record_id, slug)"
            " VALUES (99, 'removed', 'packages', 777, 'django-aaa-gone')"
        )
        conn.execute(
            "INSERT INTO observations (package_id, observed_at, stars, pypi_version)"
            " VALUES (777, '2026-01-01T00:00:00Z', 3, '1.0'), (1083, '=1+1', 1, '@SUM(A1)')"
        )
    capsys.readouterr()
    assert run(["export", "--history", "--data-dir", str(history)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1] == "django-aaa-gone,2026-01-01 00:00:00,3,,,1.0,"  # first by slug
    planted = [line for line in lines if line.startswith("django-comments-xtd,'=1+1")]
    assert planted == ["django-comments-xtd,'=1+1,1,,,'@SUM(A1),"]
