"""The SQL behind `trends` (issue 8), held to its plain definition on random histories: the
queries were rewritten for speed at 30,000 packages and again for a year of history (issue 19),
the answers must not move. `changes` is held to its definition by tests/test_history_model.py."""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pkgharvest.catalogue import CATALOGUE_NAME, reports
from tests.mirrorbuilder import grown_content, write_mirror

DAY0 = datetime(2026, 5, 1, 6, 0, tzinfo=UTC)


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sqlite3.Connection]:
    """The seed mirror's database with a random month of observations per package (none, one
    or many, some with unknown stars), and observations of packages no longer in it."""
    content = grown_content(300, 4)
    root = write_mirror(tmp_path_factory.mktemp("history") / "mirror", content)
    conn = sqlite3.connect(root / CATALOGUE_NAME)
    rng = random.Random(8)
    ids = [row[0] for row in conn.execute("SELECT id FROM packages")]
    conn.execute("DELETE FROM observations")
    for package_id in [*ids, 990_001, 990_002]:  # the last two were removed from the catalogue
        stars = rng.randint(0, 500)
        for day in sorted(rng.sample(range(30), rng.choice([0, 1, 2, 5, 12]))):
            stars += rng.randint(-5, 30)
            conn.execute(
                "INSERT INTO observations (package_id, observed_at, stars, forks)"
                " VALUES (?, ?, ?, ?)",
                (
                    package_id,
                    stamp(DAY0 + timedelta(days=day, minutes=rng.randint(0, 600))),
                    None if rng.random() < 0.05 else stars,
                    rng.choice([None, rng.randint(0, 90)]),
                ),
            )
    conn.commit()
    yield conn
    conn.close()


def plain_trends(
    conn: sqlite3.Connection, since: str, by: str, members: set[int] | None
) -> list[tuple[Any, ...]]:
    """Trends by their definition: per package still in the catalogue, its newest observation
    against its last one at or before `since` (else its first), ranked by gain, then by gain
    relative to the start, then slug."""
    slugs = dict(conn.execute("SELECT id, slug FROM packages"))
    observed: dict[int, list[tuple[str, int | None, int | None]]] = {}
    for package_id, at, stars, forks in conn.execute(
        "SELECT package_id, observed_at, stars, forks FROM observations ORDER BY observed_at"
    ):
        observed.setdefault(package_id, []).append((at, stars, forks))
    rows = []
    for package_id, series in observed.items():
        if package_id not in slugs or (members is not None and package_id not in members):
            continue
        until = series[-1]
        before = [o for o in series if o[0] <= since]
        start = before[-1] if before else series[0]
        column = 1 if by == "stars" else 2
        if start[0] >= until[0] or until[column] is None or start[column] is None:
            continue
        gained = until[column] - start[column]
        rows.append((slugs[package_id], gained, start[0], until[0], start[column]))
    rows.sort(key=lambda r: (-r[1], -(r[1] / max(r[4], 1)), r[0]))
    return [row[:4] for row in rows]


@pytest.mark.parametrize("by", ["stars", "forks"])
@pytest.mark.parametrize("since_day", [-1, 0, 3, 15, 29, 40])
@pytest.mark.parametrize("scope", ["all", "grid", "category"])
def test_trends_are_their_definition(
    database: sqlite3.Connection, by: str, since_day: int, scope: str
) -> None:
    since = DAY0 + timedelta(days=since_day, hours=5)
    grid = category = None
    members = None
    if scope == "grid":
        grid = {
            "id": database.execute("SELECT id FROM grids WHERE slug = 'postgresql'").fetchone()[0]
        }
    if scope == "category":
        biggest = "SELECT category_id FROM packages GROUP BY category_id ORDER BY count(*) DESC"
        category_id = database.execute(biggest).fetchone()
        category = {"id": category_id[0]}
        members = {
            r[0]
            for r in database.execute("SELECT id FROM packages WHERE category_id = ?", category_id)
        }
    if grid is not None:
        members = {
            r[0]
            for r in database.execute(
                "SELECT package_id FROM grid_packages WHERE grid_id = ?", (grid["id"],)
            )
        }
    got = reports.trends(database, since, by=by, grid=grid, category=category, limit=0)
    want = plain_trends(database, stamp(since), by, members)
    gained = "stars_gained" if by == "stars" else "forks_gained"
    assert [(t.slug, getattr(t, gained), t.since, t.until) for t in got] == want
    if 0 <= since_day < 29:
        assert want  # the case has rows to compare
    assert [
        t.slug
        for t in reports.trends(database, since, by=by, grid=grid, category=category, limit=3)
    ] == [w[0] for w in want[:3]]
