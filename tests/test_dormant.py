"""Dormant has one definition (issue 19): `activity.is_dormant` for records and observations, and
`activity.dormant_sql`, the same test in SQL for the database's `package_latest.dormant`. Held
to each other on records of every shape, at the edges of the 365 days too."""

from __future__ import annotations

import random
import sqlite3
from datetime import UTC, datetime, timedelta

from pkgharvest.activity import DORMANT_AFTER_DAYS, dormant_since, dormant_sql, is_dormant

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)


def _last_commits(rng: random.Random) -> list[str | None]:
    edge = NOW - timedelta(days=DORMANT_AFTER_DAYS)
    return [
        None,
        "",
        "not a date",
        (edge - timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        edge.strftime("%Y-%m-%dT%H:%M:%SZ"),
        (edge + timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        (edge - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S.737467Z"),
        (NOW - timedelta(days=rng.randint(0, 3000))).strftime("%Y-%m-%dT%H:%M:%SZ"),
        (NOW - timedelta(days=rng.randint(0, 3000))).strftime("%Y-%m-%dT%H:%M:%S+02:00"),
        "2016-02-29",
    ]


def test_the_python_and_the_sql_definitions_agree() -> None:
    rng = random.Random(10)
    conn = sqlite3.connect(":memory:")
    expression = dormant_sql("last_commit", "total", ":now")
    checked = dormant = 0
    for _ in range(30):
        for last_commit in _last_commits(rng):
            for total in (None, 0, 1, 52, -1):
                record = {"last_commit": last_commit, "commits_52w_total": total}
                (sql,) = conn.execute(
                    f"SELECT {expression} FROM (SELECT :last AS last_commit, :total AS total)",
                    {"last": last_commit, "total": total, "now": NOW.strftime("%Y-%m-%d %H:%M:%S")},
                ).fetchone()
                assert sql == int(is_dormant(record, NOW)), record
                checked += 1
                dormant += sql
    assert checked == 1500 and 0 < dormant < checked


def test_a_package_without_a_known_last_commit_is_never_dormant() -> None:
    assert not is_dormant({"last_commit": None, "commits_52w_total": 0}, NOW)
    assert not is_dormant({"last_commit": None, "commits_52w": [0] * 52}, NOW)


def test_the_counts_stand_for_the_total_when_a_record_has_none() -> None:
    old = (NOW - timedelta(days=400)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert is_dormant({"last_commit": old, "commits_52w": [0] * 52}, NOW)
    assert not is_dormant({"last_commit": old, "commits_52w": [0] * 51 + [1]}, NOW)
    assert is_dormant({"last_commit": old, "commits_52w": None}, NOW)  # unknown counts


def test_the_changes_report_judges_a_state_at_two_moments_as_is_dormant_does() -> None:
    # changes parses an observation's last commit once for the start and the end moment.
    from pkgharvest.catalogue.reports import _dormancy_facts

    rng = random.Random(11)
    moments = [NOW, NOW - timedelta(days=40), NOW + timedelta(days=400)]
    for _ in range(10):
        for last_commit in _last_commits(rng):
            for total in (None, 0, 1, 52, -1):
                facts = _dormancy_facts(last_commit, total)
                record = {"last_commit": last_commit, "commits_52w_total": total}
                for moment in moments:
                    assert dormant_since(*facts, moment) == is_dormant(record, moment)
