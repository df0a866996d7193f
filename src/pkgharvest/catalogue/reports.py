"""What the history says: the changes between runs, and trends over a window.

Pure SQL over the catalogue database plus small dataclasses; no rich, no typer. The text is
drawn by views/history.py; `--json` prints `as_dict()`.

Changes over several runs are folded per package: a release goes from the version before the
first release in the window to the last one; stars go from the count before the first change
to the count after the last; a package that is new and later removed in the window shows as
neither; dormant and revived keep the last word.

Trends: a package's gain is its newest observation minus its *baseline*, the last observation at
or before the window's start (or, for a package first seen inside the window, its first one).
"""

from __future__ import annotations

import sqlite3
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from pkgharvest.catalogue import history
from pkgharvest.records import Record, iso_utc


@dataclass
class ChangeReport:
    """The catalogue's changes over some runs (`pkgharvest changes`, the fetch digest).

    Attributes:
        since: start of the window (the first run's start, or the date asked for).
        until: start of the last run in the window.
        runs: how many recorded runs the window holds.
        baseline: the only run in the window is the one that created the database (its
            changes are unknown).
        new, removed, renamed, releases, stars, dormant, revived: one object per package, each
            with `slug` (releases and renames add `from` and `to`; stars add `from`, `to`,
            `gained`), biggest star gains first.
    """

    since: str | None
    until: str | None
    runs: int
    baseline: bool = False
    new: list[dict[str, Any]] = field(default_factory=list)
    removed: list[dict[str, Any]] = field(default_factory=list)
    renamed: list[dict[str, Any]] = field(default_factory=list)
    releases: list[dict[str, Any]] = field(default_factory=list)
    stars: list[dict[str, Any]] = field(default_factory=list)
    dormant: list[dict[str, Any]] = field(default_factory=list)
    revived: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def digest(self) -> str:
        """One line: `3 new, 1 removed, 12 releases, top gainer django-foo +54`."""
        if self.baseline:
            return "catalogue database started; changes are reported from the next run"
        parts = [
            f"{len(self.new):,} new",
            f"{len(self.removed):,} removed",
            f"{len(self.releases):,} release{'s' if len(self.releases) != 1 else ''}",
        ]
        for label, items in (("renamed", self.renamed), ("dormant", self.dormant)):
            if items:
                parts.append(f"{len(items):,} {label}")
        if self.revived:
            parts.append(f"{len(self.revived):,} revived")
        top = self.stars[0] if self.stars and self.stars[0]["gained"] > 0 else None
        if top is not None:
            parts.append(f"top gainer {top['slug']} +{top['gained']:,}")
        return ", ".join(parts)


def _run_window(
    conn: sqlite3.Connection, since: datetime | None
) -> tuple[list[int], str | None, str | None, bool]:
    """(run ids, since, until, baseline) of the window: the last run, or runs since `since`."""
    if since is None:
        row = conn.execute(
            "SELECT id, started, recorded FROM runs ORDER BY id DESC LIMIT 1"
        ).fetchone()
        if row is None:
            return [], None, None, False
        before = conn.execute(
            "SELECT started FROM runs WHERE id < ? ORDER BY id DESC LIMIT 1", (row[0],)
        ).fetchone()
        return [row[0]], before[0] if before else None, row[1], row[2] == "rebuild"
    rows = conn.execute(
        "SELECT id, started, recorded FROM runs WHERE started >= ? ORDER BY id",
        (iso_utc(since),),
    ).fetchall()
    baseline = len(rows) == 1 and rows[0][2] == "rebuild"
    until = rows[-1][1] if rows else None
    return [r[0] for r in rows], iso_utc(since), until, baseline


def synced_run_id(conn: sqlite3.Connection) -> int | None:
    """The run whose manifest the database was last synced with (None: no run recorded)."""
    row = conn.execute(
        "SELECT runs.id FROM runs JOIN catalogue_meta ON key = 'manifest_sha256'"
        " AND value = runs.manifest_sha256"
    ).fetchone()
    return int(row[0]) if row else None


def change_report(
    conn: sqlite3.Connection, since: datetime | None = None, *, run_id: int | None = None
) -> ChangeReport:
    """The changes of the last run (default), of runs started at or after `since`, or of the
    run `run_id`."""
    if run_id is not None:
        row = conn.execute("SELECT started, recorded FROM runs WHERE id = ?", (run_id,)).fetchone()
        ids, start, until, baseline = [run_id], None, row[0] if row else None, False
        baseline = bool(row) and row[1] == "rebuild"
    else:
        ids, start, until, baseline = _run_window(conn, since)
    report = ChangeReport(since=start, until=until, runs=len(ids), baseline=baseline)
    if not ids:
        return report
    marks = ",".join("?" * len(ids))
    rows = conn.execute(
        f"SELECT c.change, c.record_id, c.slug, c.old, c.new, p.slug, p.title, p.stars,"
        f" p.last_commit FROM changes AS c LEFT JOIN packages AS p ON p.id = c.record_id"
        f" WHERE c.kind = 'packages' AND c.change != 'stars' AND c.run_id IN ({marks})"
        f" ORDER BY c.run_id",
        ids,
    ).fetchall()
    first: dict[tuple[str, int], Any] = {}
    last: dict[tuple[str, int], Any] = {}
    activity: dict[int, str] = {}
    current: dict[int, tuple[Any, ...]] = {}
    created: set[int] = set()
    removed: dict[int, str] = {}
    for change, record_id, slug, old, new, now_slug, title, stars, last_commit in rows:
        current[record_id] = (now_slug or slug, title, stars, last_commit, now_slug is not None)
        if change == "new":
            created.add(record_id)
            removed.pop(record_id, None)
        elif change == "removed":
            removed[record_id] = slug
        elif change in ("dormant", "revived"):
            activity[record_id] = change
        else:
            first.setdefault((change, record_id), old)
            last[(change, record_id)] = new
    for record_id in sorted(created, key=lambda r: str(current[r][0])):
        slug, title, stars, _, present = current[record_id]
        if present:
            report.new.append({"slug": slug, "title": title, "stars": stars})
    for record_id, slug in sorted(removed.items(), key=lambda item: str(item[1])):
        if record_id not in created and not current[record_id][4]:
            report.removed.append({"slug": slug})
    for (change, record_id), old in first.items():
        new = last[(change, record_id)]
        slug = current[record_id][0]
        if change == "release" and new != old:
            report.releases.append({"slug": slug, "from": old, "to": new})
        elif change == "rename" and new != old:
            report.renamed.append({"slug": slug, "from": old, "to": new})
    report.stars = _star_moves(conn, ids)
    report.releases.sort(key=lambda item: str(item["slug"]))
    report.renamed.sort(key=lambda item: str(item["slug"]))
    for record_id, change in sorted(activity.items(), key=lambda item: str(current[item[0]][0])):
        slug, _, _, last_commit, present = current[record_id]
        if present:
            getattr(report, change).append({"slug": slug, "last_commit": last_commit})
    return report


def _star_moves(conn: sqlite3.Connection, ids: list[int]) -> list[dict[str, Any]]:
    """Per package, stars before its first change in the runs `ids` and after its last,
    biggest gain first. In SQL: a month of daily runs holds a star change for most packages
    every day. One read of the runs' star changes, in run order (`+c.change`: by the primary
    key, run by run, instead of the (change, run_id) index and a row lookup per change)."""
    marks = ",".join("?" * len(ids))
    first_old: dict[int, Any] = {}
    last: dict[int, tuple[Any, str]] = {}
    for record_id, old, new, slug in conn.execute(
        f"SELECT c.record_id, c.old, c.new, coalesce(p.slug, c.slug) FROM changes AS c"
        f" LEFT JOIN packages AS p ON p.id = c.record_id"
        f" WHERE c.run_id IN ({marks}) AND +c.change = 'stars' AND c.kind = 'packages'"
        f" ORDER BY c.run_id",
        ids,
    ):
        first_old.setdefault(record_id, old)
        last[record_id] = (new, slug)
    moves: list[dict[str, Any]] = []
    for record_id in sorted(last):
        old = first_old[record_id]
        new, slug = last[record_id]
        if isinstance(old, int) and isinstance(new, int) and new != old:
            moves.append({"slug": slug, "from": old, "to": new, "gained": new - old})
    moves.sort(key=lambda item: (-item["gained"], str(item["slug"])))
    return moves


# --- trends -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Trend:
    """One package's gain over the window (a `trends` row)."""

    slug: str
    title: str | None
    stars: int | None
    stars_gained: int | None
    stars_percent: float | None
    forks: int | None
    forks_gained: int | None
    forks_percent: float | None
    since: str
    until: str
    history: tuple[int, ...] = ()
    """Stars at each observation from the baseline to the newest (for the sparkline)."""

    def as_dict(self) -> dict[str, Any]:
        row = asdict(self)
        row["history"] = list(self.history)
        return row


_TRENDS_SQL = """
WITH bounds AS (
    SELECT o.package_id AS id, max(o.observed_at) AS until_at,
           coalesce(max(CASE WHEN o.observed_at <= :since THEN o.observed_at END),
                    min(o.observed_at)) AS since_at
    FROM observations AS o {where}
    GROUP BY o.package_id
    HAVING count(*) > 1
)
SELECT p.slug, p.title, l.stars, l.stars - b.stars, b.stars, l.forks, l.forks - b.forks,
       b.forks, b.observed_at, l.observed_at, p.id
FROM bounds
JOIN packages AS p ON p.id = bounds.id
JOIN observations AS l ON l.package_id = bounds.id AND l.observed_at = bounds.until_at
JOIN observations AS b ON b.package_id = bounds.id AND b.observed_at = bounds.since_at
WHERE bounds.since_at < bounds.until_at AND {gained} IS NOT NULL
ORDER BY {gained} DESC, ({gained}) * 1.0 / max({base}, 1) DESC, p.slug
"""
"""Per package: its newest observation, and its last one at or before :since (else its first:
then every one is after :since). One pass over the observations in key order: three
correlated subqueries per package took ~3 times as long at 30,000 packages. Packages observed
once have no trend; removed packages (not in `packages`) are left out by the join."""


def trends(
    conn: sqlite3.Connection,
    since: datetime,
    *,
    by: str = "stars",
    grid: Record | None = None,
    category: Record | None = None,
    limit: int = 20,
) -> list[Trend]:
    """Packages ranked by what they gained since `since` (`by` "stars" or "forks")."""
    clauses: list[str] = []
    params: dict[str, object] = {"since": iso_utc(since)}
    if grid is not None:
        clauses.append(
            "o.package_id IN (SELECT package_id FROM grid_packages WHERE grid_id = :grid)"
        )
        params["grid"] = grid["id"]
    if category is not None:
        clauses.append("o.package_id IN (SELECT id FROM packages WHERE category_id = :category)")
        params["category"] = category["id"]
    where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
    gained, base = (
        ("l.stars - b.stars", "b.stars") if by == "stars" else ("l.forks - b.forks", "b.forks")
    )
    sql = _TRENDS_SQL.format(where=where, gained=gained, base=base)
    if limit:
        sql += " LIMIT :limit"
        params["limit"] = limit
    rows = conn.execute(sql, params).fetchall()
    result = []
    for slug, title, stars, s_gain, s_base, forks, f_gain, f_base, since_at, until_at, pid in rows:
        series = tuple(
            value
            for (value,) in conn.execute(
                "SELECT stars FROM observations WHERE package_id = ? AND observed_at >= ?"
                " AND stars IS NOT NULL ORDER BY observed_at",
                (pid, since_at),
            )
        )
        result.append(
            Trend(
                slug=slug,
                title=title,
                stars=stars,
                stars_gained=s_gain,
                stars_percent=history.percent(s_gain, s_base) if s_gain is not None else None,
                forks=forks,
                forks_gained=f_gain,
                forks_percent=history.percent(f_gain, f_base) if f_gain is not None else None,
                since=since_at,
                until=until_at,
                history=series,
            )
        )
    return result


def has_history(conn: sqlite3.Connection) -> bool:
    """Whether any package has been observed twice (trends need two observations)."""
    row = conn.execute(
        "SELECT 1 FROM observations AS o WHERE EXISTS (SELECT 1 FROM observations AS e"
        " WHERE e.package_id = o.package_id AND e.observed_at > o.observed_at) LIMIT 1"
    ).fetchone()
    return row is not None


def run_count(conn: sqlite3.Connection) -> int:
    """How many runs the database has recorded."""
    return int(conn.execute("SELECT count(*) FROM runs").fetchone()[0])


def star_history(conn: sqlite3.Connection, package_id: int) -> list[tuple[str, int]]:
    """(observed_at, stars) of every observation of a package with known stars, oldest first."""
    return [
        (at, stars)
        for at, stars in conn.execute(
            "SELECT observed_at, stars FROM observations WHERE package_id = ?"
            " AND stars IS NOT NULL ORDER BY observed_at",
            (package_id,),
        )
    ]


def stitched_weeks(conn: sqlite3.Connection, package_id: int) -> list[tuple[str, int]]:
    """(week_start, commits) of a package's stitched series, oldest first."""
    return list(
        conn.execute(
            "SELECT week_start, commits FROM weekly_commits WHERE package_id = ?"
            " ORDER BY week_start",
            (package_id,),
        )
    )


def observation_rows(conn: sqlite3.Connection, since: datetime | None) -> sqlite3.Cursor:
    """`export --history`: (slug, observed_at, stars, forks, commits_52w_total, pypi_version),
    by slug then date; removed packages keep the slug of their last row in `changes`."""
    return conn.execute(
        "SELECT coalesce(p.slug, (SELECT slug FROM changes WHERE record_id = o.package_id"
        " AND kind = 'packages' ORDER BY run_id DESC LIMIT 1), CAST(o.package_id AS TEXT)),"
        " o.observed_at, o.stars, o.forks, o.commits_52w_total, o.pypi_version"
        " FROM observations AS o LEFT JOIN packages AS p ON p.id = o.package_id"
        " WHERE o.observed_at >= ? ORDER BY 1, 2",
        (iso_utc(since) if since is not None else "",),
    )
