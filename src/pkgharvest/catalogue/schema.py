"""The catalogue database's schema, its version and the migrations that bring an older one up.

The version is SQLite's `PRAGMA user_version`. `MIGRATIONS[n]` takes a database from version n
to n + 1; a new database runs them all, in one transaction each. A database whose version is
newer than `SCHEMA_VERSION` is refused (exit 65) before anything is written. The tables and
columns are a public contract, documented in the README ("The catalogue database").
"""

from __future__ import annotations

import sqlite3

from pkgharvest.activity import dormant_sql
from pkgharvest.errors import CatalogueError

_V1 = """
CREATE TABLE catalogue_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE categories (
    id INTEGER PRIMARY KEY, slug TEXT NOT NULL, title TEXT, title_plural TEXT,
    description TEXT, show_pypi INTEGER, created TEXT, modified TEXT, api_url TEXT,
    invalid TEXT, extra TEXT
);
CREATE TABLE grids (
    id INTEGER PRIMARY KEY, slug TEXT NOT NULL, title TEXT, description TEXT,
    is_locked INTEGER, header INTEGER, created TEXT, modified TEXT, packages TEXT,
    api_url TEXT, invalid TEXT, extra TEXT
);
CREATE TABLE packages (
    id INTEGER PRIMARY KEY, slug TEXT NOT NULL, title TEXT, category TEXT,
    category_id INTEGER, grids TEXT, stars INTEGER, forks INTEGER, commits_52w TEXT,
    commits_52w_total INTEGER, last_commit TEXT, last_fetched TEXT, created TEXT,
    modified TEXT, pypi_version TEXT, pypi_url TEXT, repo_url TEXT, repo_description TEXT,
    documentation_url TEXT, participants TEXT, api_url TEXT, stale_fields TEXT,
    invalid TEXT, extra TEXT
);
CREATE TABLE grid_packages (
    grid_id      INTEGER NOT NULL,
    package_id   INTEGER NOT NULL,
    from_grid    INTEGER NOT NULL DEFAULT 0,
    from_package INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (grid_id, package_id)
) WITHOUT ROWID;
CREATE TABLE runs (
    id INTEGER PRIMARY KEY, started TEXT NOT NULL, finished TEXT, scope TEXT,
    complete INTEGER, exit_code INTEGER, counts TEXT, seconds REAL, recorded TEXT NOT NULL,
    manifest_sha256 TEXT NOT NULL UNIQUE
);
CREATE TABLE changes (
    run_id    INTEGER NOT NULL REFERENCES runs (id),
    change    TEXT NOT NULL,
    kind      TEXT NOT NULL,
    record_id INTEGER NOT NULL,
    slug      TEXT,
    old, new,
    PRIMARY KEY (run_id, change, kind, record_id)
) WITHOUT ROWID;
CREATE TABLE observations (
    package_id INTEGER NOT NULL, observed_at TEXT NOT NULL, stars INTEGER, forks INTEGER,
    commits_52w_total INTEGER, pypi_version TEXT, run_id INTEGER,
    PRIMARY KEY (package_id, observed_at)
) WITHOUT ROWID;
CREATE TABLE weekly_commits (
    package_id INTEGER NOT NULL, week_start TEXT NOT NULL, commits INTEGER NOT NULL,
    PRIMARY KEY (package_id, week_start)
) WITHOUT ROWID;
CREATE TABLE record_files (
    kind TEXT NOT NULL, name TEXT NOT NULL, record_id INTEGER NOT NULL,
    inode INTEGER, mtime_ns INTEGER, ctime_ns INTEGER, size INTEGER,
    PRIMARY KEY (kind, name)
) WITHOUT ROWID;
CREATE INDEX packages_slug ON packages (slug);
CREATE INDEX packages_category ON packages (category_id);
CREATE INDEX packages_stars ON packages (stars);
CREATE INDEX grids_slug ON grids (slug);
CREATE INDEX categories_slug ON categories (slug);
CREATE INDEX grid_packages_package ON grid_packages (package_id);
CREATE INDEX observations_date ON observations (observed_at);
CREATE INDEX changes_kind ON changes (change, run_id);
CREATE INDEX runs_started ON runs (started);
"""

_V2 = """
-- Version 2: the view that joins each package's newest observation, and ranking indexes.
CREATE INDEX packages_forks ON packages (forks);
CREATE INDEX observations_run ON observations (run_id);
CREATE VIEW package_latest AS
SELECT p.id, p.slug, p.title, p.category_id, p.stars, p.forks, p.commits_52w_total,
       p.last_commit, p.pypi_version, p.last_fetched,
       o.observed_at, o.stars AS observed_stars, o.forks AS observed_forks
FROM packages AS p
LEFT JOIN observations AS o
       ON o.package_id = p.id
      AND o.observed_at = (SELECT max(observed_at) FROM observations WHERE package_id = p.id);
"""

_V3 = """
-- Version 3: `pkgharvest deps`. package_names: each package's PyPI name (from pypi_url), the
-- repository its repo_url names and its slug, PEP 503-normalized, kept by the sync that writes
-- the packages (catalogue_meta 'package_names_manifest': the mirror it was made for).
-- pypi_projects and pypi_releases: PyPI's JSON answers, distilled, kept per index URL (a
-- project's for a day, a release's for good).
CREATE TABLE package_names (
    kind       TEXT NOT NULL,
    name       TEXT NOT NULL,
    package_id INTEGER NOT NULL,
    PRIMARY KEY (kind, name, package_id)
) WITHOUT ROWID;
CREATE TABLE pypi_projects (
    index_url  TEXT NOT NULL,
    name       TEXT NOT NULL,
    fetched_at TEXT NOT NULL,
    found      INTEGER NOT NULL,
    data       TEXT,
    PRIMARY KEY (index_url, name)
) WITHOUT ROWID;
CREATE TABLE pypi_releases (
    index_url  TEXT NOT NULL,
    name       TEXT NOT NULL,
    version    TEXT NOT NULL,
    fetched_at TEXT NOT NULL,
    found      INTEGER NOT NULL,
    data       TEXT,
    PRIMARY KEY (index_url, name, version)
) WITHOUT ROWID;
"""


def _v4() -> str:
    """Version 4: foreign keys (declared for tools such as Datasette), history by change.

    SQLite cannot add a foreign key or drop NOT NULL with ALTER: every such table is built
    anew, filled from the old one, and takes its name (the documented twelve-step way; the
    view goes first, since a rename checks every view). Observations keep only the rows whose
    values differ from the package's previous row (the old rule added one per re-measurement);
    `changes` drops its star and activity rows (computed from the observations now).
    """
    dormant = dormant_sql("p.last_commit", "p.commits_52w_total", "'now'")
    return f"""
DROP VIEW package_latest;
CREATE TABLE packages_v4 (
    id INTEGER PRIMARY KEY, slug TEXT NOT NULL, title TEXT, category TEXT,
    category_id INTEGER REFERENCES categories (id), grids TEXT, stars INTEGER, forks INTEGER,
    commits_52w TEXT, commits_52w_total INTEGER, last_commit TEXT, last_fetched TEXT,
    created TEXT, modified TEXT, pypi_version TEXT, pypi_url TEXT, repo_url TEXT,
    repo_description TEXT, documentation_url TEXT, participants TEXT, api_url TEXT,
    stale_fields TEXT, invalid TEXT, extra TEXT
);
INSERT INTO packages_v4 SELECT id, slug, title, category, category_id, grids, stars, forks,
    commits_52w, commits_52w_total, last_commit, last_fetched, created, modified, pypi_version,
    pypi_url, repo_url, repo_description, documentation_url, participants, api_url,
    stale_fields, invalid, extra FROM packages;
DROP TABLE packages;
ALTER TABLE packages_v4 RENAME TO packages;
CREATE INDEX packages_slug ON packages (slug);
CREATE INDEX packages_category ON packages (category_id);
CREATE INDEX packages_stars ON packages (stars);
CREATE INDEX packages_forks ON packages (forks);
CREATE TABLE grid_packages_v4 (
    grid_id      INTEGER NOT NULL REFERENCES grids (id),
    package_id   INTEGER NOT NULL REFERENCES packages (id),
    from_grid    INTEGER NOT NULL DEFAULT 0,
    from_package INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (grid_id, package_id)
) WITHOUT ROWID;
INSERT INTO grid_packages_v4 SELECT grid_id, package_id, from_grid, from_package
    FROM grid_packages;
DROP TABLE grid_packages;
ALTER TABLE grid_packages_v4 RENAME TO grid_packages;
CREATE INDEX grid_packages_package ON grid_packages (package_id);
CREATE TABLE runs_v4 (
    id INTEGER PRIMARY KEY, started TEXT NOT NULL, finished TEXT, scope TEXT,
    complete INTEGER, exit_code INTEGER, error TEXT, counts TEXT, requests INTEGER,
    retries INTEGER, seconds REAL, recorded TEXT NOT NULL, manifest_sha256 TEXT UNIQUE
);
INSERT INTO runs_v4 (id, started, finished, scope, complete, exit_code, counts, seconds,
    recorded, manifest_sha256)
    SELECT id, started, finished, scope, complete, exit_code, counts, seconds, recorded,
    manifest_sha256 FROM runs;
DROP TABLE runs;
ALTER TABLE runs_v4 RENAME TO runs;
CREATE INDEX runs_started ON runs (started);
CREATE TABLE changes_v4 (
    run_id    INTEGER NOT NULL REFERENCES runs (id),
    change    TEXT NOT NULL,
    kind      TEXT NOT NULL,
    record_id INTEGER NOT NULL,
    slug      TEXT,
    title     TEXT,
    old, new,
    PRIMARY KEY (run_id, change, kind, record_id)
) WITHOUT ROWID;
INSERT INTO changes_v4 (run_id, change, kind, record_id, slug, old, new)
    SELECT run_id, change, kind, record_id, slug, old, new FROM changes
    WHERE change IN ('new', 'removed', 'rename', 'release');
DROP TABLE changes;
ALTER TABLE changes_v4 RENAME TO changes;
CREATE INDEX changes_kind ON changes (change, run_id);
CREATE INDEX changes_record ON changes (record_id);
CREATE TABLE observations_v4 (
    package_id INTEGER NOT NULL REFERENCES packages (id), observed_at TEXT NOT NULL,
    stars INTEGER, forks INTEGER, commits_52w_total INTEGER, pypi_version TEXT,
    last_commit TEXT, run_id INTEGER REFERENCES runs (id),
    PRIMARY KEY (package_id, observed_at)
) WITHOUT ROWID;
INSERT INTO observations_v4 (package_id, observed_at, stars, forks, commits_52w_total,
    pypi_version, run_id)
    SELECT package_id, observed_at, stars, forks, commits_52w_total, pypi_version, run_id
    FROM (SELECT *, row_number() OVER w AS n, lag(stars) OVER w AS s, lag(forks) OVER w AS f,
                 lag(commits_52w_total) OVER w AS t, lag(pypi_version) OVER w AS v
          FROM observations WINDOW w AS (PARTITION BY package_id ORDER BY observed_at))
    WHERE n = 1 OR stars IS NOT s OR forks IS NOT f OR commits_52w_total IS NOT t
       OR pypi_version IS NOT v;
UPDATE observations_v4 SET last_commit = (SELECT last_commit FROM packages AS p
    WHERE p.id = observations_v4.package_id)
    WHERE observed_at = (SELECT max(observed_at) FROM observations_v4 AS o
                         WHERE o.package_id = observations_v4.package_id);
DROP TABLE observations;
ALTER TABLE observations_v4 RENAME TO observations;
CREATE TABLE weekly_commits_v4 (
    package_id INTEGER NOT NULL REFERENCES packages (id), week_start TEXT NOT NULL,
    commits INTEGER NOT NULL,
    PRIMARY KEY (package_id, week_start)
) WITHOUT ROWID;
INSERT INTO weekly_commits_v4 SELECT package_id, week_start, commits FROM weekly_commits;
DROP TABLE weekly_commits;
ALTER TABLE weekly_commits_v4 RENAME TO weekly_commits;
CREATE TABLE weekly_windows (
    package_id INTEGER PRIMARY KEY, last_fetched TEXT NOT NULL, commits_52w TEXT NOT NULL
);
INSERT INTO weekly_windows SELECT id, last_fetched, commits_52w FROM packages
    WHERE last_fetched IS NOT NULL AND commits_52w IS NOT NULL
      AND coalesce(stale_fields, '[]') NOT LIKE '%commits_52w%';
CREATE VIEW package_latest AS
SELECT p.id, p.slug, p.title, p.category_id, c.slug AS category, p.stars, p.forks,
       p.commits_52w_total, p.last_commit, p.pypi_version, p.last_fetched,
       o.observed_at, o.stars AS observed_stars, o.forks AS observed_forks,
       {dormant} AS dormant
FROM packages AS p
LEFT JOIN categories AS c ON c.id = p.category_id
LEFT JOIN observations AS o
       ON o.package_id = p.id
      AND o.observed_at = (SELECT max(observed_at) FROM observations WHERE package_id = p.id)
"""


MIGRATIONS: tuple[str, ...] = (_V1, _V2, _V3, _v4())
SCHEMA_VERSION = len(MIGRATIONS)


def schema_version(conn: sqlite3.Connection) -> int:
    row = conn.execute("PRAGMA user_version").fetchone()
    return int(row[0])


def migrate(conn: sqlite3.Connection, path: str, *, upto: int = SCHEMA_VERSION) -> bool:
    """Bring the database to version `upto` (default: the current one); True if it changed.

    Raises CatalogueError (exit 65) without writing when the database is newer than this code.
    """
    version = schema_version(conn)
    if version > SCHEMA_VERSION:
        raise CatalogueError(
            f"the catalogue database {path} has schema version {version}, newer than this "
            f"pkgharvest reads ({SCHEMA_VERSION}): upgrade pkgharvest, or move the file away "
            "(it is rebuilt from the JSON files)"
        )
    if version >= upto:
        return False
    for number in range(version, upto):
        # executescript would commit on its own; one explicit transaction per step keeps a
        # failed step from leaving half a schema behind.
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _statements(MIGRATIONS[number]):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {number + 1}")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:  # SQLite rolls back itself on a full disk (edge.rollback)
                conn.execute("ROLLBACK")
            raise
    return True


def _statements(script: str) -> list[str]:
    """A migration script split into statements (none of ours has `;` inside a statement)."""
    lines = [line for line in script.splitlines() if not line.lstrip().startswith("--")]
    return [part.strip() for part in "\n".join(lines).split(";") if part.strip()]
