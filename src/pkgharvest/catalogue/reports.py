"""What the history says: the changes between two states of the catalogue, and trends.

Pure SQL over the catalogue database plus small dataclasses; no rich, no typer. The text is
drawn by views/history.py; `--json` prints `as_dict()`. The rules are in history.py and
docs/database.md; in short, every report compares two states, never adds up events:

- A *state* of a package is its latest observation at a moment (for a window starting at a
  date) or before a run (for the last run's own changes); whether a record exists and under
  which slug comes from the runs' `new`, `removed` and `rename` rows of `changes`.
- `change_report`: new, removed and renamed packages, grids and categories; releases and
  versions that went back; star moves; packages that went dormant or came back. Something that
  went and came back inside the window is not a change.
- `trends`: a package's gain is its newest observation minus its observation at the window's
  start (its first one, for a package first seen inside the window).

Every start and end state is found by a seek in the observations' primary key (package, time):
the cost follows the catalogue's size, not the length of its history.
"""

from __future__ import annotations

import heapq
import itertools
import json
import operator
import re
import sqlite3
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from pkgharvest.activity import dormant_since
from pkgharvest.catalogue import history
from pkgharvest.errors import PkgHarvestError
from pkgharvest.records import (
    HISTORY_FIELDS,
    Kind,
    Record,
    commits_total,
    iso_utc,
    parse_timestamp,
)


@dataclass
class GroupChanges:
    """Grids' or categories' changes: `new` and `removed` items carry `slug` and `title`;
    `renamed` items `from` and `to` (the slugs; the id is the same)."""

    new: list[dict[str, Any]] = field(default_factory=list)
    removed: list[dict[str, Any]] = field(default_factory=list)
    renamed: list[dict[str, Any]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.new or self.removed or self.renamed)


@dataclass
class ChangeReport:
    """The catalogue's changes between two states (`pkgharvest changes`, the fetch digest).

    Attributes:
        since: the start: the run before the reported one (its start time), or the moment
            asked for.
        until: the start of the last run reported.
        runs: how many recorded runs (that committed to the mirror) the window holds.
        baseline: the only run in the window is the one that created the database (its
            changes are unknown).
        new, removed, renamed, releases, rollbacks, stars, dormant, revived: packages, one
            object each with `slug` (new and removed add `title`, new `stars`; renames,
            releases and rollbacks add `from` and `to`; stars `from`, `to` and `gained`, biggest
            gain first; dormant and revived `last_commit`).
        grids, categories: their new, removed and renamed (GroupChanges).
    """

    since: str | None
    until: str | None
    runs: int
    baseline: bool = False
    new: list[dict[str, Any]] = field(default_factory=list)
    removed: list[dict[str, Any]] = field(default_factory=list)
    renamed: list[dict[str, Any]] = field(default_factory=list)
    releases: list[dict[str, Any]] = field(default_factory=list)
    rollbacks: list[dict[str, Any]] = field(default_factory=list)
    stars: list[dict[str, Any]] = field(default_factory=list)
    dormant: list[dict[str, Any]] = field(default_factory=list)
    revived: list[dict[str, Any]] = field(default_factory=list)
    grids: GroupChanges = field(default_factory=GroupChanges)
    categories: GroupChanges = field(default_factory=GroupChanges)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def digest(self) -> str:
        """One line: `3 new, 1 removed, 12 releases, top gainer django-foo +54; grids: 1 new`."""
        if self.baseline:
            return "catalogue database started; changes are reported from the next run"
        parts = [
            f"{len(self.new):,} new",
            f"{len(self.removed):,} removed",
            f"{len(self.releases):,} release{'s' if len(self.releases) != 1 else ''}",
        ]
        for label, items in (
            ("renamed", self.renamed),
            ("went back a version", self.rollbacks),
            ("dormant", self.dormant),
            ("revived", self.revived),
        ):
            if items:
                parts.append(f"{len(items):,} {label}")
        top = self.stars[0] if self.stars and self.stars[0]["gained"] > 0 else None
        if top is not None:
            parts.append(f"top gainer {top['slug']} +{top['gained']:,}")
        line = ", ".join(parts)
        for noun, groups in (("grids", self.grids), ("categories", self.categories)):
            if groups:
                counted = [
                    f"{len(items):,} {label}"
                    for label, items in (
                        ("new", groups.new),
                        ("removed", groups.removed),
                        ("renamed", groups.renamed),
                    )
                    if items
                ]
                line += f"; {noun}: " + ", ".join(counted)
        return line


# --- runs ---------------------------------------------------------------------------------------

_COMMITTED = "manifest_sha256 IS NOT NULL"
"""A run that committed to the mirror (failed runs are recorded too, and changed nothing)."""


@dataclass(frozen=True)
class _Run:
    id: int
    started: str
    baseline: bool


def _runs(conn: sqlite3.Connection, where: str, params: tuple[object, ...]) -> list[_Run]:
    return [
        _Run(run_id, started, recorded == "rebuild")
        for run_id, started, recorded in conn.execute(
            f"SELECT id, started, recorded FROM runs WHERE {_COMMITTED} AND {where} ORDER BY id",
            params,
        )
    ]


def last_committed_run(conn: sqlite3.Connection) -> int | None:
    """The last run that committed to the mirror (None: none recorded)."""
    row = conn.execute(f"SELECT max(id) FROM runs WHERE {_COMMITTED}").fetchone()
    return None if row is None or row[0] is None else int(row[0])


_RUN_FIELDS = (
    "started",
    "finished",
    "scope",
    "complete",
    "exit_code",
    "error",
    "counts",
    "requests",
    "retries",
    "seconds",
)


def last_recorded_run(conn: sqlite3.Connection) -> dict[str, Any] | None:
    """The last run the database recorded, failed ones included, as a manifest entry (`status`:
    a run that failed committed nothing to the manifest); None when it holds none, or cannot
    be read as it is (an older schema, a damaged row)."""
    try:
        row = conn.execute(
            f"SELECT {', '.join(_RUN_FIELDS)} FROM runs ORDER BY id DESC LIMIT 1"
        ).fetchone()
    except (sqlite3.Error, PkgHarvestError):
        return None
    if row is None:
        return None
    entry = dict(zip(_RUN_FIELDS, row, strict=True))
    if isinstance(entry["complete"], int):
        entry["complete"] = bool(entry["complete"])
    try:
        entry["counts"] = json.loads(entry["counts"]) if entry["counts"] else None
    except (TypeError, ValueError):
        entry["counts"] = None
    return entry


def synced_run_id(conn: sqlite3.Connection) -> int | None:
    """The run whose manifest the database was last synced with (None: no run recorded)."""
    row = conn.execute(
        "SELECT runs.id FROM runs JOIN catalogue_meta ON key = 'manifest_sha256'"
        " AND value = runs.manifest_sha256"
    ).fetchone()
    return int(row[0]) if row else None


# --- the report -------------------------------------------------------------------------------


def change_report(
    conn: sqlite3.Connection, since: datetime | None = None, *, run_id: int | None = None
) -> ChangeReport:
    """The changes of the last run that committed (default: the state before it against the
    state after it), or between the state at `since` and the state now. `run_id`: the run the
    caller has just synced, which must be that last run (a fetch asking for its own report)."""
    if since is None:
        last = last_committed_run(conn)
        if last is None:
            return ChangeReport(since=None, until=None, runs=0)
        if run_id is not None and run_id != last:
            raise ValueError(f"run {run_id} is not the last run that committed ({last})")
        (run,) = _runs(conn, "id = ?", (last,))
        before = _runs(conn, "id < ?", (last,))
        start = before[-1].started if before else None
        report = ChangeReport(since=start, until=run.started, runs=1, baseline=run.baseline)
        if run.baseline:
            return report
        window = [run]
        start_moment = parse_timestamp(start)
    else:
        window = _runs(conn, "started >= ?", (iso_utc(since),))
        start = iso_utc(since)
        report = ChangeReport(
            since=start,
            until=window[-1].started if window else None,
            runs=len(window),
            baseline=len(window) == 1 and window[0].baseline,
        )
        if not window or report.baseline:
            return report
        start_moment = since
    events = _events(conn, [run.id for run in window if not run.baseline])
    for kind in Kind:
        _existence(conn, kind, events.get(kind.value, {}), report)
    gone = {item["id"] for item in report.new} | {item["id"] for item in report.removed}
    _package_moves(
        conn,
        report,
        run_id=window[0].id if since is None else None,
        since=start if since is not None else None,
        start_moment=start_moment,
        end_moment=parse_timestamp(report.until),
        skip=gone,
    )
    for items in (report.new, report.removed):
        for item in items:
            del item["id"]
    return report


_Event = tuple[str, str | None, str | None, Any, Any]  # change, slug, title, old, new


def _events(conn: sqlite3.Connection, run_ids: list[int]) -> dict[str, dict[int, list[_Event]]]:
    """kind -> record id -> its new/removed/rename rows in the runs `run_ids`, in run order."""
    found: dict[str, dict[int, list[_Event]]] = {}
    if not run_ids:
        return found
    marks = ",".join("?" * len(run_ids))
    for kind, record_id, change, slug, title, old, new in conn.execute(
        "SELECT kind, record_id, change, slug, title, old, new FROM changes"
        f" WHERE run_id IN ({marks}) AND change IN ('new', 'removed', 'rename') ORDER BY run_id",
        run_ids,
    ):
        found.setdefault(kind, {}).setdefault(record_id, []).append((change, slug, title, old, new))
    return found


def _existence(
    conn: sqlite3.Connection, kind: Kind, events: dict[int, list[_Event]], report: ChangeReport
) -> None:
    """New, removed and renamed records of one kind: whether each existed, and under which
    slug, at the start (from its first change in the window) and at the end (the table)."""
    if not events:
        return
    now = _current(conn, kind, list(events))
    new: list[dict[str, Any]] = []
    removed: list[dict[str, Any]] = []
    renamed: list[dict[str, Any]] = []
    for record_id, changes in events.items():
        first = changes[0]
        existed = first[0] != "new"
        start_slug = first[3] if first[0] == "rename" else first[1]
        current = now.get(record_id)
        if not existed and current is not None:
            new.append({"id": record_id, "slug": current[0], "title": current[1], **current[2]})
        elif existed and current is None:
            last_removal = next(c for c in reversed(changes) if c[0] == "removed")
            removed.append({"id": record_id, "slug": last_removal[1], "title": last_removal[2]})
        elif existed and current is not None and current[0] != start_slug:
            renamed.append({"id": record_id, "from": start_slug, "to": current[0]})
    new.sort(key=lambda item: (str(item["slug"]), item["id"]))
    removed.sort(key=lambda item: (str(item["slug"]), item["id"]))
    renamed.sort(key=lambda item: (str(item["to"]), item["id"]))
    if kind is Kind.PACKAGE:
        report.new, report.removed = new, removed
        report.renamed = [
            {"slug": item["to"], "from": item["from"], "to": item["to"]} for item in renamed
        ]
        return
    groups = report.grids if kind is Kind.GRID else report.categories
    groups.new = [{"slug": item["slug"], "title": item["title"]} for item in new]
    groups.removed = [{"slug": item["slug"], "title": item["title"]} for item in removed]
    groups.renamed = [{"from": item["from"], "to": item["to"]} for item in renamed]


def _current(
    conn: sqlite3.Connection, kind: Kind, ids: list[int]
) -> dict[int, tuple[Any, Any, dict[str, Any]]]:
    """id -> (slug, title, extra fields of a new item) of the records `ids` the table holds."""
    table = kind.value
    extra = ", stars" if kind is Kind.PACKAGE else ""
    found: dict[int, tuple[Any, Any, dict[str, Any]]] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        marks = ",".join("?" * len(chunk))
        for row in conn.execute(
            f"SELECT id, slug, title{extra} FROM {table} WHERE id IN ({marks})", chunk
        ):
            found[row[0]] = (row[1], row[2], {"stars": row[3]} if kind is Kind.PACKAGE else {})
    return found


_STATES_SQL = """
SELECT p.id, p.slug,
       e.observed_at, e.stars, e.pypi_version, e.commits_52w_total, e.last_commit,
       s.observed_at, s.stars, s.pypi_version, s.commits_52w_total, s.last_commit
FROM packages AS p
JOIN observations AS e
  ON e.package_id = p.id
 AND e.observed_at = (SELECT max(observed_at) FROM observations WHERE package_id = p.id)
JOIN observations AS s
  ON s.package_id = p.id
 AND s.observed_at = {start}
"""
"""Per package in the catalogue: its latest observation (the end state) and the one in force at
the start; each found by a seek in the observations' primary key."""

_START_AT_MOMENT = """coalesce(
      (SELECT max(observed_at) FROM observations WHERE package_id = p.id AND observed_at <= :since),
      (SELECT min(observed_at) FROM observations WHERE package_id = p.id))"""
"""The observation in force at :since, else the package's first (first seen after it)."""

_START_BEFORE_RUN = """CASE WHEN e.run_id = :run THEN coalesce(
      (SELECT max(observed_at) FROM observations
        WHERE package_id = p.id AND observed_at < e.observed_at), e.observed_at)
      ELSE e.observed_at END"""
"""The observation before the one run :run recorded (the latest run: no later run recorded
any), else the latest: a package the run did not change."""


def _dormancy_facts(last_commit: object, total: object) -> tuple[datetime | None, int | None]:
    """What `dormant_since` needs of an observation's values (as `is_dormant` reads them);
    the last commit is not parsed when the total alone says the package is active."""
    record = {"last_commit": last_commit, "commits_52w_total": total}
    counted = commits_total(record)
    if counted is not None and counted != 0:
        return None, counted
    return parse_timestamp(last_commit), counted


def _package_moves(
    conn: sqlite3.Connection,
    report: ChangeReport,
    *,
    run_id: int | None,
    since: str | None,
    start_moment: datetime | None,
    end_moment: datetime | None,
    skip: set[int],
) -> None:
    """Releases, versions gone back, star moves, dormant and revived: each package's state at
    the start against its state at the end. `skip`: packages new or removed in the window."""
    if run_id is not None:
        rows = conn.execute(_STATES_SQL.format(start=_START_BEFORE_RUN), {"run": run_id})
    else:
        rows = conn.execute(_STATES_SQL.format(start=_START_AT_MOMENT), {"since": since})
    for (
        package_id,
        slug,
        _end_at,
        end_stars,
        end_version,
        end_total,
        end_commit,
        _start_at,
        start_stars,
        start_version,
        start_total,
        start_commit,
    ) in rows:
        if package_id in skip:
            continue
        move = history.version_move(start_version, end_version)
        if move is not None:
            item = {"slug": slug, "from": start_version, "to": end_version}
            (report.releases if move == history.RELEASE else report.rollbacks).append(item)
        if type(start_stars) is int and type(end_stars) is int and start_stars != end_stars:
            report.stars.append(
                {
                    "slug": slug,
                    "from": start_stars,
                    "to": end_stars,
                    "gained": end_stars - start_stars,
                }
            )
        if start_moment is None or end_moment is None:
            continue
        end = _dormancy_facts(end_commit, end_total)
        same = (start_commit, type(start_total), start_total) == (
            end_commit,
            type(end_total),
            end_total,
        )
        start = end if same else _dormancy_facts(start_commit, start_total)
        was = dormant_since(*start, start_moment)
        now = dormant_since(*end, end_moment)
        if was != now:
            (report.dormant if now else report.revived).append(
                {"slug": slug, "last_commit": end_commit}
            )
    report.releases.sort(key=lambda item: str(item["slug"]))
    report.rollbacks.sort(key=lambda item: str(item["slug"]))
    report.stars.sort(key=lambda item: (-item["gained"], str(item["slug"])))
    report.dormant.sort(key=lambda item: str(item["slug"]))
    report.revived.sort(key=lambda item: str(item["slug"]))


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
    """Stars at each observation from the start to the newest (for the sparkline)."""

    def as_dict(self) -> dict[str, Any]:
        row = asdict(self)
        row["history"] = list(self.history)
        return row


_TRENDS_SQL = """
WITH bounds AS (
    SELECT p.id, p.slug, p.title,
           (SELECT max(observed_at) FROM observations WHERE package_id = p.id) AS until_at,
           {start} AS since_at
    FROM packages AS p {where}
)
SELECT b.slug, b.title, l.stars, l.stars - s.stars, s.stars, l.forks, l.forks - s.forks,
       s.forks, s.observed_at, l.observed_at, b.id
FROM bounds AS b
JOIN observations AS l ON l.package_id = b.id AND l.observed_at = b.until_at
JOIN observations AS s ON s.package_id = b.id AND s.observed_at = b.since_at
WHERE b.since_at < b.until_at AND {gained} IS NOT NULL
ORDER BY {gained} DESC, ({gained}) * 1.0 / max({base}, 1) DESC, b.slug
"""
"""Per package in the catalogue (or the grid or category): its newest observation and the one
in force at :since (else its first: then every one is after :since), by primary-key seeks.
Packages that did not change in the window have no trend; removed ones are left out."""


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
        clauses.append("p.id IN (SELECT package_id FROM grid_packages WHERE grid_id = :grid)")
        params["grid"] = grid["id"]
    if category is not None:
        clauses.append("p.category_id = :category")
        params["category"] = category["id"]
    where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
    gained, base = (
        ("l.stars - s.stars", "s.stars") if by == "stars" else ("l.forks - s.forks", "s.forks")
    )
    sql = _TRENDS_SQL.format(start=_START_AT_MOMENT, where=where, gained=gained, base=base)
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
    """Whether any package has two observations (changed at least once since it was first
    seen): trends need two."""
    row = conn.execute(
        "SELECT 1 FROM observations AS o WHERE o.observed_at >"
        " (SELECT min(observed_at) FROM observations WHERE package_id = o.package_id) LIMIT 1"
    ).fetchone()
    return row is not None


def run_count(conn: sqlite3.Connection) -> int:
    """How many recorded runs committed to the mirror (a failed run observed nothing)."""
    return int(conn.execute(f"SELECT count(*) FROM runs WHERE {_COMMITTED}").fetchone()[0])


def star_history(conn: sqlite3.Connection, package_id: int) -> list[tuple[str, int]]:
    """(observed_at, stars) of every observation of a package with known stars, in time order
    (the same observations `trends` and `changes` compare)."""
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


HISTORY_COLUMNS = HISTORY_FIELDS
"""The columns of `export --history`, one row per observation (records.HISTORY_FIELDS)."""


def observation_rows(conn: sqlite3.Connection, since: datetime | None) -> Iterator[Any]:
    """`export --history`: HISTORY_COLUMNS of every observation (from `since` on), by slug
    then date, a package's rows together; a removed package keeps the slug it had when it was
    removed (its id as text when none is known). The packages' slug index gives the order, and
    each package's rows are one range of the observations' primary key: no sort."""
    start = iso_utc(since) if since is not None else ""
    present = conn.execute(
        "SELECT p.slug, o.observed_at, o.stars, o.forks, o.commits_52w_total, o.pypi_version,"
        " o.last_commit FROM packages AS p CROSS JOIN observations AS o"
        " ON o.package_id = p.id AND o.observed_at >= ? ORDER BY p.slug, p.id, o.observed_at",
        (start,),
    )
    gone = _removed_packages(conn)
    if not gone:
        return present

    def removed_rows() -> Iterator[tuple[Any, ...]]:
        for record_id, slug in gone:
            for row in _package_rows(conn, record_id, start):
                yield (slug, *row)

    return heapq.merge(present, removed_rows(), key=operator.itemgetter(0))


# `observed_at` as the database writes it (records.iso_utc). A package's times joined by ","
# are checked at once: their digits made 0, they are this form, repeated.
_OWN_STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", re.ASCII)
_STAMP_SHAPE = b"0000-00-00T00:00:00Z,"
_DIGITS_TO_0 = bytes.maketrans(b"123456789", b"000000000")

# The checks the read path's row factory makes (catalogue/values.py), as SQL conditions, cheap
# ones: the columns' affinity leaves an INTEGER column only integers, non-integral reals, text
# that is no number, or blobs, and CAST(x AS INTEGER) IS x holds for integers and null only; a
# TEXT column only text or blobs, and CAST(x AS TEXT) IS x holds for text only. (The form of
# the times is checked on the Python side, on a whole package's at once.)
_CHECKED = """CAST(o.stars AS INTEGER) IS o.stars
          AND CAST(o.forks AS INTEGER) IS o.forks
          AND CAST(o.commits_52w_total AS INTEGER) IS o.commits_52w_total
          AND CAST(o.observed_at AS TEXT) IS o.observed_at"""

# A package's observations in a window as four texts SQLite joins (the numbers in decimal,
# null as :null): the Python side then handles a package, not a row. A row that fails a check,
# or whose version or last commit differ from the package's own, has no time in the join: its
# package is read row by row instead (`_package_runs`).
_OBSERVATION_COLUMNS_SQL = f"""
SELECT p.id, p.slug, p.pypi_version, p.last_commit, count(*),
       group_concat(CASE WHEN {_CHECKED}
                          AND o.pypi_version IS p.pypi_version
                          AND o.last_commit IS p.last_commit
                         THEN o.observed_at END),
       group_concat(ifnull(o.stars, :null)), group_concat(ifnull(o.forks, :null)),
       group_concat(ifnull(o.commits_52w_total, :null))
FROM packages AS p CROSS JOIN observations AS o ON o.package_id = p.id AND o.observed_at >= :start
GROUP BY p.slug, p.id
ORDER BY p.slug, p.id
"""

_PACKAGE_SQL = f"""
SELECT CASE WHEN {_CHECKED} THEN o.observed_at END,
       CAST(ifnull(o.stars, :null) AS TEXT), CAST(ifnull(o.forks, :null) AS TEXT),
       CAST(ifnull(o.commits_52w_total, :null) AS TEXT), o.pypi_version, o.last_commit
FROM observations AS o WHERE o.package_id = :id AND o.observed_at >= :start
ORDER BY o.observed_at
"""

ObservationRun = tuple[Any, Any, list[str], list[str], list[str], list[str]]
"""Observations with the same pypi_version and last_commit, in time order: (pypi_version,
last_commit, observed_at, stars, forks, commits_52w_total), each column a list of texts: the
times as the database writes them (records.iso_utc), the numbers in decimal or `null`."""

ObservationBlock = tuple[str, list[ObservationRun] | None, list[tuple[Any, ...]] | None]
"""A package's observations for `observation_blocks`: (slug, runs, rows): its runs, or None and
its checked rows as `observation_rows` gives them without the slug (a time that is not the
database's own, or a value of the wrong type: the caller writes those the careful way, which
raises the read path's error for the latter)."""

_TEXT_OR_NULL = (str, type(None))


def observation_blocks(
    conn: sqlite3.Connection, since: datetime | None, null: str
) -> Iterator[ObservationBlock]:
    """`export --history`'s fast read: the observations of `observation_rows`, in the same
    order, a package at a time, each package's values as columns of text (`null`: the text of
    a null number). Values the read path's checks refuse raise the same wrong-type error."""
    from pkgharvest.catalogue.values import wrong_type

    start = iso_utc(since) if since is not None else ""
    cursor = conn.cursor()
    cursor.row_factory = None  # the checks are in the SQL, and below
    cursor.execute(_OBSERVATION_COLUMNS_SQL, {"start": start, "null": null})

    def own_stamps(times: str, count: int) -> bool:
        return times.isascii() and (
            times.encode().translate(_DIGITS_TO_0) == (_STAMP_SHAPE * count)[:-1]
        )

    def present() -> Iterator[ObservationBlock]:
        for package_id, slug, version, commit, count, times, stars, forks, totals in cursor:
            if type(slug) is not str:  # (the id is an INTEGER PRIMARY KEY: an integer)
                raise wrong_type("slug")
            observed = times.split(",") if times is not None and own_stamps(times, count) else []
            # group_concat() joins in the order the rows come, which SQLite does not promise:
            # the times (a primary key's, so all different) show that order.
            plain = isinstance(version, _TEXT_OR_NULL) and isinstance(commit, _TEXT_OR_NULL)
            if plain and len(observed) == count and observed == sorted(observed):
                columns = (stars.split(","), forks.split(","), totals.split(","))
                yield slug, [(version, commit, observed, *columns)], None
            else:
                yield slug, *_package_runs(conn, package_id, start, null)

    def removed() -> Iterator[ObservationBlock]:
        for record_id, slug in _removed_packages(conn):
            runs, rows = _package_runs(conn, record_id, start, null)
            if runs or rows:
                yield slug, runs, rows

    return heapq.merge(present(), removed(), key=operator.itemgetter(0))


def _package_runs(
    conn: sqlite3.Connection, package_id: int, start: str, null: str
) -> tuple[list[ObservationRun] | None, list[tuple[Any, ...]] | None]:
    """One package's observations from `start` on as runs of the same version and last commit
    (a package that released in the window, say), or as its checked rows when a value is not
    the database's own."""
    cursor = conn.cursor()
    cursor.row_factory = None  # the checks are in the SQL, and below
    rows = cursor.execute(_PACKAGE_SQL, {"id": package_id, "start": start, "null": null})
    runs: list[ObservationRun] = []
    own_stamp = _OWN_STAMP.fullmatch
    for (version, commit), run in itertools.groupby(rows, key=operator.itemgetter(4, 5)):
        times, stars, forks, totals, _, _ = (list(column) for column in zip(*run, strict=True))
        if not (
            isinstance(version, _TEXT_OR_NULL)
            and isinstance(commit, _TEXT_OR_NULL)
            and all(type(time) is str and own_stamp(time) for time in times)
        ):
            # The checked rows: what they raise (or write) is what the read path does.
            return None, _package_rows(conn, package_id, start)
        runs.append((version, commit, times, stars, forks, totals))
    return runs, None


def _package_rows(conn: sqlite3.Connection, package_id: int, start: str) -> list[tuple[Any, ...]]:
    """One package's observations from `start` on, oldest first, through the checked rows."""
    rows: list[tuple[Any, ...]] = conn.execute(
        "SELECT observed_at, stars, forks, commits_52w_total, pypi_version, last_commit"
        " FROM observations WHERE package_id = ? AND observed_at >= ? ORDER BY observed_at",
        (package_id, start),
    ).fetchall()
    return rows


def _removed_packages(conn: sqlite3.Connection) -> list[tuple[int, str]]:
    """The packages no longer in the mirror that have observations, as (id, the slug they had
    when removed, or the id as text), by slug then id."""
    gone: dict[int, str] = {}
    for record_id, slug in conn.execute(
        "SELECT record_id, slug FROM changes WHERE kind = 'packages' AND change = 'removed'"
        " AND record_id NOT IN (SELECT id FROM packages) ORDER BY run_id"
    ):
        gone[record_id] = slug if isinstance(slug, str) else str(record_id)
    return sorted(gone.items(), key=lambda item: (item[1], item[0]))
