"""Bringing the catalogue database up to date with the JSON mirror: one transaction per sync.

The JSON files are the truth; the database follows them. A sync compares every record file's
identity (inode, mtime, ctime, size: as git's index does) with what the database saw last time,
reads only the files that differ, and applies the difference: current tables, observations,
stitched weekly commits, grid membership, and the run's changes (against the rows the database
held before). So the same routine serves the fetch that has just committed (only its rewritten
files are read), a catch-up after a crash between the JSON commit and the database commit, and a
rebuild of a lost database (every file is read; no change is recorded, since the state before is
unknown: that sync is a *baseline*). The history rules themselves are in history.py (and
docs/database.md). An observation is added only where a package's values differ from its latest
one, a week only where a list the API sent says something new, and a run is its manifest: a
rerun, a catch-up or a rebuild never adds a row twice.
"""

from __future__ import annotations

import contextlib
import functools
import json
import operator
import os
import sqlite3
import stat
from array import array
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from itertools import repeat
from pathlib import Path
from typing import Any

from pkgharvest.catalogue import history, nameindex
from pkgharvest.errors import FeedMismatch
from pkgharvest.records import (
    FIELDS_BY_KIND,
    STALE_COMMITS,
    WEEKS,
    Kind,
    Record,
    iso_utc,
    parse_timestamp,
)
from pkgharvest.store.index import load_saved_index
from pkgharvest.store.recordfile import encode_compact

_JSON_COLUMNS = frozenset(
    {"category", "grids", "commits_52w", "participants", "stale_fields", "invalid", "extra"}
    | {"packages"}
)
_INT_COLUMNS = frozenset({"id", "stars", "forks", "commits_52w_total"})
_BOOL_COLUMNS = frozenset({"is_locked", "header", "show_pypi"})

COLUMNS = FIELDS_BY_KIND
"""The record fields each table stores, in record order (packages add `category_id`)."""

# Kinds in the order a sync applies them (packages link to grids and categories).
SYNC_ORDER = (Kind.CATEGORY, Kind.GRID, Kind.PACKAGE)


# Compact JSON text, through the C encoder when this Python has it (the same text as
# json.JSONEncoder's, checked at import; the public encoder is slower per value).
_ENCODE = encode_compact


def _is_int(value: object) -> bool:
    return type(value) is int


def column_value(name: str, value: object) -> object:
    """A record field as its column stores it: lists and objects as JSON text, booleans as
    0/1, integers and text as they are, anything of the wrong type as NULL."""
    if value is None:
        return None
    if name in _JSON_COLUMNS:
        return _ENCODE(value)
    if name in _BOOL_COLUMNS:
        return int(value) if isinstance(value, bool) else None
    if name in _INT_COLUMNS:
        return value if _is_int(value) else None
    return value if isinstance(value, str) else None


def category_id(record: Record) -> int | None:
    ref = record.get("category")
    if isinstance(ref, dict) and _is_int(ref.get("id")):
        return int(ref["id"])
    return None


def ref_ids(value: object) -> set[int]:
    items = value if isinstance(value, list) else []
    return {item["id"] for item in items if isinstance(item, dict) and _is_int(item.get("id"))}


def _json_or_null(value: object) -> object:
    return None if value is None else _encode_json(value)


def _bool_or_null(value: object) -> object:
    return int(value) if isinstance(value, bool) else None


def _int_or_null(value: object) -> object:
    return value if type(value) is int else None


def _text_or_null(value: object) -> object:
    return value if isinstance(value, str) else None


def _converter(name: str) -> Callable[[object], object]:
    """`column_value` for one column, chosen once (a sync converts every field of every record)."""
    if name in _JSON_COLUMNS:
        return _json_or_null
    if name in _BOOL_COLUMNS:
        return _bool_or_null
    if name in _INT_COLUMNS:
        return _int_or_null
    return _text_or_null


_CONVERTERS = {kind: [(name, _converter(name)) for name in COLUMNS[kind]] for kind in Kind}

_NONE = type(None)


Picker = Callable[[Any], tuple[object, ...]]


def _picker(keys: list[Any]) -> Picker:
    """The values under `keys`, as a tuple (built in C by itemgetter), even for one key."""
    get = operator.itemgetter(*keys)
    if len(keys) == 1:
        return lambda values: (get(values),)
    return get


@dataclass(frozen=True)
class _RowShape:
    """Where each kind of column sits in a kind's row, for `_row`'s fast path: one C call
    takes the values out, one type check per kind of column vouches for them, and only the
    JSON columns need work."""

    values: Picker
    text: Picker
    ints: Picker
    flags: tuple[int, ...]
    json: tuple[int, ...]

    @staticmethod
    def of(kind: Kind) -> _RowShape:
        names = COLUMNS[kind]
        return _RowShape(
            values=_picker(list(names)),
            text=_picker([i for i, name in enumerate(names) if _converter(name) is _text_or_null]),
            ints=_picker([i for i, name in enumerate(names) if name in _INT_COLUMNS]),
            flags=tuple(i for i, name in enumerate(names) if name in _BOOL_COLUMNS),
            json=tuple(i for i, name in enumerate(names) if name in _JSON_COLUMNS),
        )


_ROW_SHAPES = {kind: _RowShape.of(kind) for kind in Kind}
_TEXT_TYPES = frozenset({str, _NONE})
_INT_TYPES = frozenset({int, _NONE})
_FLAG_TYPES = frozenset({bool, _NONE})


def _row(kind: Kind, record: Record) -> list[object]:
    """The record as its table's row: `column_value` of every column (packages add
    `category_id`)."""
    shape = _ROW_SHAPES[kind]
    try:
        row = list(shape.values(record))
    except KeyError:  # a field missing from a hand-edited file
        row = _slow_row(kind, record)
    else:
        if (
            set(map(type, shape.text(row))) <= _TEXT_TYPES
            and set(map(type, shape.ints(row))) <= _INT_TYPES
            and {type(row[i]) for i in shape.flags} <= _FLAG_TYPES
        ):
            for i in shape.flags:
                if row[i] is not None:
                    row[i] = int(row[i])  # type: ignore[call-overload]
            for i in shape.json:
                if row[i] is not None:
                    row[i] = _encode_json(row[i])
        else:  # a value of the wrong type somewhere: the column decides, one by one
            row = _slow_row(kind, record)
    if kind is Kind.PACKAGE:
        if row[_TOTAL] is None:  # the column is the sum of the counts, whatever the file says
            row[_TOTAL] = package_total(record)
        row.append(category_id(record))
    return row


_TOTAL = COLUMNS[Kind.PACKAGE].index("commits_52w_total")


def stored_values(kind: Kind, record: Record) -> tuple[object, ...]:
    """The record's fields as its table stores them (COLUMNS[kind], in order): what `verify`
    holds the database to."""
    return tuple(_row(kind, record)[: len(COLUMNS[kind])])


def _slow_row(kind: Kind, record: Record) -> list[object]:
    get = record.get
    return [convert(get(name)) for name, convert in _CONVERTERS[kind]]


_NO_COMMITS = [0] * WEEKS
_NO_COMMITS_TEXT = _ENCODE(_NO_COMMITS)


def _encode_json(value: object) -> str:
    """`_ENCODE`, with the 52 weeks of a package without commits (most packages of a
    catalogue are dormant) answered without encoding them."""
    # == also holds for 0.0 and False: only a list of exact ints is the constant text.
    if type(value) is list and value == _NO_COMMITS and set(map(type, value)) == {int}:
        return _NO_COMMITS_TEXT
    return _ENCODE(value)


def _upsert_sql(kind: Kind) -> str:
    names = list(COLUMNS[kind]) + (["category_id"] if kind is Kind.PACKAGE else [])
    marks = ", ".join("?" for _ in names)
    return f"INSERT OR REPLACE INTO {kind.value} ({', '.join(names)}) VALUES ({marks})"


def package_total(record: Record) -> int | None:
    total = record.get("commits_52w_total")
    if isinstance(total, int) and not isinstance(total, bool):
        return total
    counts = history.weekly_counts(record.get("commits_52w"))
    return sum(counts) if counts is not None else None


# --- scanning the mirror ----------------------------------------------------------------------

FileId = tuple[int, int, int | None, int]
"""inode, mtime_ns, ctime_ns, size: a record file rewritten by a commit differs in one of them
(ctime None: a file a fetch fed while staging it, until the commit renames it; see Feed)."""


def scan_folder(folder: Path) -> dict[str, FileId]:
    """The record files of one kind folder (names not starting with '.', ending in .json)."""
    found: dict[str, FileId] = {}
    try:
        entries = os.scandir(folder)
    except FileNotFoundError:
        return found
    with entries:
        for entry in entries:
            name = entry.name
            if not name.endswith(".json") or name.startswith("."):
                continue
            try:
                info = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            if not stat.S_ISREG(info.st_mode):
                continue  # a folder or a link of a record's name is no record (store.mirror)
            found[name] = (info.st_ino, info.st_mtime_ns, info.st_ctime_ns, info.st_size)
    return found


# --- the sync ---------------------------------------------------------------------------------


@dataclass
class SyncCounts:
    """What one sync did, for the one-line notice and the tests (`fed`: records a fetch
    handed over while staging them, applied without reading their files)."""

    read: dict[str, int] = field(default_factory=dict)
    fed: dict[str, int] = field(default_factory=dict)
    removed: dict[str, int] = field(default_factory=dict)
    observations: int = 0
    changes: int = 0


def sync(
    conn: sqlite3.Connection,
    root: Path,
    manifest: dict[str, Any],
    stamp: str,
    *,
    baseline: bool,
    read_record: Any,
    id_hints: IdHints | None = None,
    feed: Feed | None = None,
    before_commit: Callable[[], None] | None = None,
) -> SyncCounts | None:
    """Apply the mirror under `root` to the database in one transaction; None if it was
    already up to date (its stamp equals `stamp`, the manifest's digest).

    `baseline`: the database does not know the state before (new or rebuilt): record no
    changes. `read_record(path) -> Record | None` reads one file (CorruptStore when broken).
    `id_hints`: the ids of the files a fetch has just written, when it knows them (an order
    only: a wrong hint costs speed, never a row).
    `feed`: the records the fetch applied while it staged them (`Feed`), inside the
    transaction this sync finishes: their files are confirmed by their identity instead of
    read; FeedMismatch (and nothing committed) when one is not the file the feed saw staged.
    `before_commit`: called last inside the transaction; what it raises rolls the sync back (a
    reader checks that no fetch committed while it read the files).
    """
    if feed is None:
        if stored_stamp(conn) == stamp:  # the common case, answered without the write lock
            return None
        _begin(conn)
    try:
        if feed is None and stored_stamp(conn) == stamp:
            conn.execute("ROLLBACK")  # another process synced while we waited for the lock
            return None
        # Asked before anything is written (a feed asked when its transaction began).
        names = feed.names if feed is not None else nameindex.is_current(conn)
        counts = feed.flush_all() if feed is not None else SyncCounts()
        run_id = _record_run(conn, manifest, stamp, baseline=baseline)
        if feed is not None and run_id != feed.run_id:
            raise FeedMismatch(f"the run was recorded as run {run_id}, not {feed.run_id}")
        changes_run = None if baseline else run_id
        hints = _IndexHints(root, id_hints)
        run = _SyncRun(run_id, changes_run, _run_started(manifest), names)
        for kind in SYNC_ORDER:
            _sync_kind(conn, root, kind, run, counts, read_record, hints, fed=feed is not None)
        conn.execute("DELETE FROM grid_packages WHERE from_grid = 0 AND from_package = 0")
        # The name index commits with the packages it names: `deps` finds it current.
        if names:
            nameindex.mark_current(conn, stamp)
        else:
            nameindex.rebuild(conn, stamp)
        conn.execute(
            "INSERT OR REPLACE INTO catalogue_meta (key, value) VALUES ('manifest_sha256', ?)",
            (stamp,),
        )
        if before_commit is not None:
            before_commit()
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return counts


FEED_CACHE_KIB = 256
"""The page cache of a Feed's connection (SQLite's default: 2,000 KiB)."""

FEED_BATCH = 250
"""Records a Feed applies at a time, per kind: held while the run's pages are in memory too."""

StagedFile = tuple[int, int, int]
"""inode, mtime_ns, size of a file as staged: its ctime changes when the commit renames it."""


class Feed:
    """The records a fetch stages, applied to the database as it stages them, so that its
    sync reads no record file back.

    It opens one write transaction on a database already up to date with the mirror before
    the run, and applies each kind's records in batches of FEED_BATCH (the history rules as in
    any sync: the run's id is the one the run's row will get, nothing else can write to the
    database meanwhile). Their `record_files` rows wait with no ctime. After the JSON commit,
    `sync(..., feed=feed)` confirms each of those files by its inode, mtime and size, applies
    whatever else changed on disk from the files, records the run, and commits. Readers see the
    database as it was until then (WAL); a run that dies before leaves the transaction
    uncommitted, that is a database behind the manifest, which the next command catches up from
    the files. A record the store withdraws (removed, or staged again) raises FeedMismatch:
    the caller rolls the feed back and syncs from the files.
    """

    def __init__(
        self, conn: sqlite3.Connection, *, baseline: bool, started: datetime | None = None
    ) -> None:
        """`started`: the run's start, which dates a change the service did not date (the
        manifest will say the same, for whatever the sync reads from the files)."""
        self.conn = conn
        self.baseline = baseline
        # Its transaction lives as long as the run's pages and maps: a small page cache (the
        # spilled pages go to the WAL, where the commit wants them anyway).
        conn.execute(f"PRAGMA cache_size = -{FEED_CACHE_KIB}")
        _begin(conn)
        row = conn.execute("SELECT coalesce(max(id), 0) + 1 FROM runs").fetchone()
        self.run_id = int(row[0])
        self.counts = SyncCounts()
        self.names = nameindex.is_current(conn)
        """The name index was current when the feed began (see _SyncRun.names)."""
        self._run = _SyncRun(self.run_id, None if baseline else self.run_id, started, self.names)
        self._pending: dict[Kind, list[tuple[str, FileId, Record]]] = {k: [] for k in Kind}
        self._was_empty: dict[Kind, bool] = {}
        self._no_history: bool | None = None
        self._windows = _Windows()
        self._dropped_indexes: list[str] = []

    def add(self, kind: Kind, name: str, record: Record, staged: StagedFile) -> None:
        """A record the run has just staged as `kind`/`name` (the file as staged). The store
        stages an id once per run unless it withdraws it first (`withdraw`)."""
        inode, mtime_ns, size = staged
        batch = self._pending[kind]
        batch.append((name, (inode, mtime_ns, None, size), record))
        if len(batch) >= FEED_BATCH:
            self._flush(kind)

    def withdraw(self, kind: Kind, record_id: int) -> None:
        """The run took back a record it staged (removed, or staged again): what was fed of
        it may be in the database already, so the feed cannot go on."""
        raise FeedMismatch(f"{kind.singular} {record_id} was staged, then withdrawn")

    def _flush(self, kind: Kind) -> None:
        batch = self._pending[kind]
        if not batch:
            return
        self._pending[kind] = []
        was_empty = self._was_empty.get(kind)
        if was_empty is None:
            was_empty = self._was_empty[kind] = _is_empty(self.conn, kind.value)
        if kind is Kind.PACKAGE and self._no_history is None:  # before the first is applied
            self._no_history = (
                was_empty
                and _is_empty(self.conn, "observations")
                and _is_empty(self.conn, "weekly_windows")
            )
            # Tables filled from empty get their indexes built once, at the end (flush_all),
            # instead of kept up to date row by row in the order the pages bring the ids.
            if was_empty:
                self._dropped_indexes += _drop_indexes(self.conn, kind.value)
            if self._no_history:
                self._dropped_indexes += _drop_indexes(self.conn, "observations")
        batch.sort(key=lambda item: item[2]["id"])  # rows in id order: see _changed_files
        # A table empty before the run holds no row of these ids (the store stages an id
        # once): nothing to look up.
        _apply_batch(
            self.conn,
            kind,
            batch,
            self._run,
            self.counts,
            set() if was_empty else None,
            bool(self._no_history),
            self._windows,
        )
        self.counts.fed[kind.value] = self.counts.fed.get(kind.value, 0) + len(batch)

    def flush_all(self) -> SyncCounts:
        """Apply what waits; the counts so far (the sync that finishes the feed goes on)."""
        for kind in SYNC_ORDER:
            self._flush(kind)
        self._windows.file(self.conn)
        while self._dropped_indexes:
            self.conn.execute(self._dropped_indexes.pop())
        return self.counts

    def rollback(self) -> None:
        """Undo everything fed (safe to call twice, and on a closed connection)."""
        with contextlib.suppress(sqlite3.Error):
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")


def _drop_indexes(conn: sqlite3.Connection, table: str) -> list[str]:
    """Drop the indexes of `table` (inside the caller's transaction); the statements that
    create them again, as the schema holds them."""
    found = conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ?"
        " AND sql IS NOT NULL",
        (table,),
    ).fetchall()
    for name, _ in found:
        conn.execute('DROP INDEX "{}"'.format(name.replace('"', '""')))
    return [sql for _, sql in found]


def _begin(conn: sqlite3.Connection) -> None:
    """Begin a sync's write transaction."""
    # Statement journals (an UPSERT that may touch several rows keeps one while it runs) in
    # memory, not in temp files: at no cost in peak memory, most of a big sync's writes less.
    conn.execute("PRAGMA temp_store = MEMORY")
    conn.execute("BEGIN IMMEDIATE")


def stored_stamp(conn: sqlite3.Connection) -> str | None:
    row = conn.execute("SELECT value FROM catalogue_meta WHERE key = 'manifest_sha256'").fetchone()
    return str(row[0]) if row else None


@dataclass(frozen=True)
class _SyncRun:
    """The run a sync records: its row (None: the manifest names none), the row its changes
    go under (None: a baseline records none) and its start, which dates a change the service
    did not date itself (see history.observation_time), and whether it keeps the name index
    along."""

    run_id: int | None
    changes_run: int | None
    started: datetime | None
    names: bool = False
    """The name index was current when the sync began: it follows the packages written and
    removed (otherwise the sync rebuilds it whole before it commits)."""


def _run_started(manifest: dict[str, Any]) -> datetime | None:
    run = manifest.get("last_run")
    return parse_timestamp(run.get("started")) if isinstance(run, dict) else None


RUN_COLUMNS = (
    "started, finished, scope, complete, exit_code, error, counts, requests, retries, seconds,"
    " recorded, manifest_sha256"
)


def run_row(run: dict[str, Any], *, recorded: str, stamp: str | None) -> tuple[object, ...]:
    """A `runs` row (RUN_COLUMNS) from a run's summary as the manifest and `fetch --json` hold
    it; a value of the wrong type is stored as NULL. `stamp`: the manifest's digest, None for a
    run that committed nothing."""
    counts = run.get("counts")
    seconds = run.get("seconds")
    error = run.get("error")

    def text(name: str) -> str | None:
        value = run.get(name)
        return value if isinstance(value, str) else None

    def integer(name: str) -> int | None:
        value = run.get(name)
        return value if _is_int(value) else None

    return (
        text("started"),
        text("finished"),
        text("scope"),
        int(run["complete"]) if isinstance(run.get("complete"), bool) else None,
        integer("exit_code"),
        error if isinstance(error, str) else None,
        json.dumps(counts, separators=(",", ":")) if isinstance(counts, dict) else None,
        integer("requests"),
        integer("retries"),
        float(seconds) if isinstance(seconds, int | float) else None,
        recorded,
        stamp,
    )


def _record_run(
    conn: sqlite3.Connection, manifest: dict[str, Any], stamp: str, *, baseline: bool
) -> int | None:
    """The runs row of the manifest's last run (inserted once), or None without one."""
    run = manifest.get("last_run")
    if not isinstance(run, dict) or not isinstance(run.get("started"), str):
        return None
    conn.execute(
        f"INSERT OR IGNORE INTO runs ({RUN_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        run_row(run, recorded="rebuild" if baseline else "fetch", stamp=stamp),
    )
    # A run is its manifest: two runs may start in the same second, never write the same bytes.
    row = conn.execute("SELECT id FROM runs WHERE manifest_sha256 = ?", (stamp,)).fetchone()
    return int(row[0])


def record_uncommitted_run(conn: sqlite3.Connection, run: dict[str, Any]) -> int:
    """A run that committed nothing to the mirror (it failed, was interrupted, or found none of
    its targets): its row, without a manifest. Returns its id."""
    cursor = conn.execute(
        f"INSERT INTO runs ({RUN_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        run_row(run, recorded="fetch", stamp=None),
    )
    return int(cursor.lastrowid or 0)


SYNC_BATCH = 500
"""Record files read and applied at a time: a full rebuild of 30,000 packages keeps no more
than this many records (and their 52 weeks) in memory, like the fetch that wrote them."""


def _changed_files(
    root: Path, kind: Kind, conn: sqlite3.Connection, hints: _IndexHints, *, fed: bool = False
) -> tuple[list[tuple[str, FileId]], list[str], set[int]]:
    """The files that are new or rewritten, the names that are gone, and the ids those gone
    files held.

    The files come in the order of the ids the store's index (`hints`: name -> its entry,
    "<id> ...") says they hold, then by name: rows then go to the end of the tables' B-trees,
    and SQLite's page cache holds the pages a sync touches instead of spilling them to the
    WAL again and again (several times the writes in name order). The hint only orders: a
    wrong or missing one costs speed, never a row."""
    on_disk = scan_folder(root / kind.value)
    known = {
        name: ((inode, mtime, ctime, size), record_id)
        for name, record_id, inode, mtime, ctime, size in conn.execute(
            "SELECT name, record_id, inode, mtime_ns, ctime_ns, size FROM record_files"
            " WHERE kind = ?",
            (kind.value,),
        )
    }
    if fed:
        _confirm_fed_files(conn, kind, known, on_disk)
    changed = [
        (name, file_id)
        for name, file_id in on_disk.items()
        if (seen := known.get(name)) is None or seen[0] != file_id
    ]
    if changed:  # a rerun that changed nothing does not even read the index
        id_hints = hints.take(kind, [name for name, _ in changed])
        changed.sort(key=lambda item: (_id_hint(id_hints.get(item[0])), item[0]))
    gone_names = [name for name in known if name not in on_disk]
    return changed, gone_names, {known[name][1] for name in gone_names}


def _confirm_fed_files(
    conn: sqlite3.Connection,
    kind: Kind,
    known: dict[str, tuple[tuple[Any, ...], int]],
    on_disk: dict[str, FileId],
) -> None:
    """Complete the rows of the files a fetch fed while staging them (their ctime is unknown
    until the commit renames them: NULL until then) with the identity the commit gave them,
    in `known` too, so that they do not count as changed; FeedMismatch when one of them is
    not the file that was staged (another inode, mtime or size) or is gone."""
    confirmed = []
    for name, ((inode, mtime, ctime, size), _) in known.items():
        if ctime is not None:
            continue
        now = on_disk.get(name)
        if now is None or (now[0], now[1], now[3]) != (inode, mtime, size):
            raise FeedMismatch(f"{kind.value}/{name} is not the file that was staged")
        confirmed.append((now[2], kind.value, name))
        known[name] = (now, known[name][1])
    conn.executemany("UPDATE record_files SET ctime_ns = ? WHERE kind = ? AND name = ?", confirmed)


IdHints = dict[str, dict[str, int]]
"""Kind folder -> file name -> the id it holds, as the fetch that has just written the files
knows them (`Transaction.written_ids`)."""


class _IndexHints:
    """Which id each file holds, for the order of a sync's reads, handed out one kind at a
    time: what the fetch that has just written the files says (`given`), and for any other
    file (a database that was behind before that fetch) the store's index, `.index.json`,
    read only then and not kept."""

    def __init__(self, root: Path, given: IdHints | None = None) -> None:
        self.root = root
        self.given = dict(given) if given is not None else None
        self.saved: dict[str, dict[str, Any]] | None = None

    def take(self, kind: Kind, names: list[str]) -> dict[str, Any]:
        """Hints covering `names` where anything knows them (name -> id, or an index entry)."""
        given = self.given.pop(kind.value, {}) if self.given is not None else {}
        if self.given is not None and all(name in given for name in names):
            return given
        if self.saved is None:
            self.saved = load_saved_index(self.root).entries
        saved = self.saved.pop(kind.value, {})
        return {**saved, **given} if given else saved


def _id_hint(entry: object) -> int:
    """The id a hint names: an int, or the head of an index entry ("<id> ..."); anything else
    sorts last."""
    if type(entry) is int:
        return entry if 0 <= entry < 1 << 63 else 1 << 63
    head = entry.partition(" ")[0] if isinstance(entry, str) else ""
    usable = head.isascii() and head.isdecimal() and len(head) < 19  # "²".isdigit() is True
    return int(head) if usable else 1 << 63


def _sync_kind(
    conn: sqlite3.Connection,
    root: Path,
    kind: Kind,
    run: _SyncRun,
    counts: SyncCounts,
    read_record: Any,
    hints: _IndexHints,
    *,
    fed: bool = False,
) -> None:
    changed, gone_names, gone_ids = _changed_files(root, kind, conn, hints, fed=fed)
    table = kind.value
    present_ids: set[int] = set()
    # A table with no rows yet (a first sync, a rebuild) has no row before to compare with,
    # except for an id two files hold (a hand-made copy): the second finds the first's row.
    was_empty = bool(changed) and _is_empty(conn, table)
    # Nothing to compare a package's values and weeks with: a first sync or a rebuild.
    no_history = (
        kind is Kind.PACKAGE
        and was_empty
        and _is_empty(conn, "observations")
        and _is_empty(conn, "weekly_windows")
    )
    read = 0
    for start in range(0, len(changed), SYNC_BATCH):
        batch = []
        for name, file_id in changed[start : start + SYNC_BATCH]:
            record = read_record(os.path.join(root, kind.value, name))
            if record is not None:  # None: it vanished since the scan
                batch.append((name, file_id, record))
        _apply_batch(conn, kind, batch, run, counts, present_ids if was_empty else None, no_history)
        present_ids.update(record["id"] for _, _, record in batch)
        read += len(batch)
    conn.executemany(
        "DELETE FROM record_files WHERE kind = ? AND name = ?",
        ((kind.value, name) for name in gone_names),
    )
    # A gone file's id may live on in a file that did not change (a hand-made duplicate).
    removed = [
        record_id
        for record_id in sorted(gone_ids - present_ids)
        if conn.execute(
            "SELECT 1 FROM record_files WHERE kind = ? AND record_id = ?", (kind.value, record_id)
        ).fetchone()
        is None
    ]
    change_rows: list[tuple[object, ...]] = []
    names_gone: list[nameindex.PackageNames] = []
    # A package's names go with it: its pypi_url and repo_url say which they were.
    wanted = "slug, title" + (", pypi_url, repo_url" if kind is Kind.PACKAGE else "")
    for record_id in removed:
        row = conn.execute(f"SELECT {wanted} FROM {table} WHERE id = ?", (record_id,)).fetchone()
        if row is None:
            continue
        if run.changes_run is not None:
            change_rows.append(
                (run.changes_run, "removed", kind.value, record_id, row[0], row[1], None, None)
            )
        if kind is Kind.PACKAGE:
            names_gone.append((record_id, row[0], row[2], row[3]))
        conn.execute(f"DELETE FROM {table} WHERE id = ?", (record_id,))
    if run.names and names_gone:
        nameindex.update(conn, names_gone, [])
    if kind is Kind.GRID:
        _grid_members_from_grids(conn, [], removed)
    elif kind is Kind.PACKAGE:
        _grid_members_from_packages(conn, [], removed)
    _insert_changes(conn, change_rows, counts)
    counts.read[kind.value] = read
    counts.removed[kind.value] = len(removed)


def _insert_changes(
    conn: sqlite3.Connection, rows: list[tuple[object, ...]], counts: SyncCounts
) -> None:
    conn.executemany(
        "INSERT OR IGNORE INTO changes (run_id, change, kind, record_id, slug, title, old, new)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    counts.changes += len(rows)


def _apply_batch(
    conn: sqlite3.Connection,
    kind: Kind,
    batch: list[tuple[str, FileId, Record]],
    run: _SyncRun,
    counts: SyncCounts,
    only_ids: set[int] | None,
    no_history: bool = False,
    windows: _Windows | None = None,
) -> None:
    """New and rewritten records: their changes against the rows before, the rows, their
    files, grid membership, observations and weeks. `only_ids`: the only ids that can have a
    row before (None: any); `no_history`: no package has an observation or a list filed yet;
    `windows`: where a feed collects the first lists of packages, to file their weeks last."""
    if not batch:
        return
    table = kind.value
    change_rows: list[tuple[object, ...]] = []
    rows = [_row(kind, record) for _, _, record in batch]
    # Membership as stored (JSON text): a record whose list did not change keeps its rows.
    members = {Kind.PACKAGE: "grids", Kind.GRID: "packages"}.get(kind)
    member_index = COLUMNS[kind].index(members) if members else 0
    wanted = "slug, " + (members or "NULL")
    if kind is Kind.PACKAGE:
        wanted += ", pypi_version, pypi_url, repo_url"
    ids = [record["id"] for _, _, record in batch]
    held = _rows_by_id(
        conn, table, wanted, ids if only_ids is None else [i for i in ids if i in only_ids]
    )
    moved: list[Record] = []
    for (_, _, record), row in zip(batch, rows, strict=True):
        previous = held.get(record["id"])
        if run.changes_run is not None:
            change_rows.extend(_record_changes(run.changes_run, kind, record, previous))
        if members and (previous is None or previous[1] != row[member_index]):
            moved.append(record)
    conn.executemany(_upsert_sql(kind), rows)
    conn.executemany(
        "INSERT OR REPLACE INTO record_files (kind, name, record_id, inode, mtime_ns, ctime_ns,"
        " size) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [(table, name, record["id"], *file_id) for name, file_id, record in batch],
    )
    if kind is Kind.GRID:
        _grid_members_from_grids(conn, moved, [], only_ids)
    elif kind is Kind.PACKAGE:
        _grid_members_from_packages(conn, moved, [], only_ids)
        counts.observations += _observe(conn, batch, rows, run, fresh=no_history, windows=windows)
        if run.names:
            _update_names(held, rows, conn)
    _insert_changes(conn, change_rows, counts)


_NAME_COLUMNS = operator.itemgetter(
    *(COLUMNS[Kind.PACKAGE].index(name) for name in ("id", "slug", "pypi_url", "repo_url"))
)


def _update_names(
    held: dict[int, tuple[Any, ...]], rows: list[list[object]], conn: sqlite3.Connection
) -> None:
    """The name index after a batch of packages rows (`held`: id -> (slug, grids,
    pypi_version, pypi_url, repo_url) of the rows before it)."""
    # An id written twice: its last row.
    after = {names[0]: names for names in map(_NAME_COLUMNS, rows)}
    before = [
        (package_id, previous[0], previous[3], previous[4])
        for package_id, previous in held.items()
        if package_id in after
    ]
    nameindex.update(conn, before, after.values())


def _is_empty(conn: sqlite3.Connection, table: str) -> bool:
    return conn.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchone() is None


_IDS_PER_QUERY = 500  # well below SQLite's oldest limit of bound parameters (999)


def _rows_by_id(
    conn: sqlite3.Connection, table: str, columns: str, ids: list[int]
) -> dict[int, tuple[Any, ...]]:
    """id -> (the columns) of the rows `ids` already have: a query per 500 ids, not per id."""
    found: dict[int, tuple[Any, ...]] = {}
    unique = list(dict.fromkeys(ids))
    for start in range(0, len(unique), _IDS_PER_QUERY):
        chunk = unique[start : start + _IDS_PER_QUERY]
        marks = ",".join("?" * len(chunk))
        for row in conn.execute(f"SELECT id, {columns} FROM {table} WHERE id IN ({marks})", chunk):
            found[row[0]] = row[1:]
    return found


def _record_changes(
    run_id: int, kind: Kind, record: Record, previous: tuple[Any, ...] | None
) -> Iterator[tuple[object, ...]]:
    """The changes rows of one new or rewritten record, against its previous database row
    (slug, member list, and a package's version)."""
    record_id, slug = record["id"], record.get("slug")
    title = column_value("title", record.get("title"))
    if previous is None:
        yield (run_id, "new", kind.value, record_id, slug, title, None, None)
        return
    if previous[0] != slug:
        yield (run_id, "rename", kind.value, record_id, slug, title, previous[0], slug)
    if kind is not Kind.PACKAGE:
        return
    old_version = previous[2]
    version = column_value("pypi_version", record.get("pypi_version"))
    move = history.version_move(old_version, version)
    if move is not None:
        yield (run_id, move, kind.value, record_id, slug, title, old_version, version)


def _grid_members_from_grids(
    conn: sqlite3.Connection,
    grids: list[Record],
    removed: Iterable[int],
    held: set[int] | None = None,
) -> None:
    """The grids' own member lists (`from_grid`), replaced for the grids given. `held`: the
    only ids that can have such rows already (None: any)."""
    conn.executemany(
        "UPDATE grid_packages SET from_grid = 0 WHERE grid_id = ?",
        ((g["id"],) for g in grids if held is None or g["id"] in held),
    )
    conn.executemany(
        "INSERT INTO grid_packages (grid_id, package_id, from_grid) VALUES (?, ?, 1)"
        " ON CONFLICT DO UPDATE SET from_grid = 1",
        (
            (grid["id"], package_id)
            for grid in grids
            for package_id in ref_ids(grid.get("packages"))
        ),
    )
    conn.executemany("DELETE FROM grid_packages WHERE grid_id = ?", ((g,) for g in removed))


def _grid_members_from_packages(
    conn: sqlite3.Connection,
    packages: list[Record],
    removed: Iterable[int],
    held: set[int] | None = None,
) -> None:
    """The packages' own grid lists (`from_package`), replaced for the packages given.
    `held`: the only ids that can have such rows already (None: any)."""
    conn.executemany(
        "UPDATE grid_packages SET from_package = 0 WHERE package_id = ?",
        [
            *((p["id"],) for p in packages if held is None or p["id"] in held),
            *((p,) for p in removed),
        ],
    )
    conn.executemany(
        "INSERT INTO grid_packages (grid_id, package_id, from_package) VALUES (?, ?, 1)"
        " ON CONFLICT DO UPDATE SET from_package = 1",
        ((grid_id, p["id"]) for p in packages for grid_id in ref_ids(p.get("grids"))),
    )


_PACKAGE_COLUMN = {name: index for index, name in enumerate(COLUMNS[Kind.PACKAGE])}
_OBSERVED = tuple(
    _PACKAGE_COLUMN[name]
    for name in ("stars", "forks", "commits_52w_total", "pypi_version", "last_commit")
)
"""Where a package row holds the values an observation records, in `observations` order."""


def _latest_observations(conn: sqlite3.Connection, ids: list[int]) -> dict[int, tuple[Any, ...]]:
    """id -> (observed_at, stars, forks, commits_52w_total, pypi_version, last_commit) of each
    package's latest observation: a seek by primary key each, never a scan of its history."""
    found: dict[int, tuple[Any, ...]] = {}
    unique = list(dict.fromkeys(ids))
    for start in range(0, len(unique), _IDS_PER_QUERY):
        chunk = unique[start : start + _IDS_PER_QUERY]
        marks = ",".join(["(?)"] * len(chunk))
        for row in conn.execute(
            f"WITH wanted (id) AS (VALUES {marks})"
            " SELECT o.package_id, o.observed_at, o.stars, o.forks, o.commits_52w_total,"
            " o.pypi_version, o.last_commit FROM wanted CROSS JOIN observations AS o"
            " ON o.package_id = wanted.id AND o.observed_at ="
            " (SELECT max(observed_at) FROM observations WHERE package_id = wanted.id)",
            chunk,
        ):
            found[row[0]] = row[1:]
    return found


def _windows_by_id(conn: sqlite3.Connection, ids: list[int]) -> dict[int, tuple[str, str]]:
    """id -> (last_fetched, commits_52w JSON text) of the newest list filed into weekly_commits
    for each package that has one."""
    found: dict[int, tuple[str, str]] = {}
    unique = list(dict.fromkeys(ids))
    for start in range(0, len(unique), _IDS_PER_QUERY):
        chunk = unique[start : start + _IDS_PER_QUERY]
        marks = ",".join("?" * len(chunk))
        for package_id, fetched, counts in conn.execute(
            "SELECT package_id, last_fetched, commits_52w FROM weekly_windows"
            f" WHERE package_id IN ({marks})",
            chunk,
        ):
            found[package_id] = (fetched, counts)
    return found


def _observe(
    conn: sqlite3.Connection,
    batch: list[tuple[str, FileId, Record]],
    rows: list[list[object]],
    run: _SyncRun,
    *,
    fresh: bool,
    windows: _Windows | None = None,
) -> int:
    """Observations and weekly commits of packages whose files changed (`rows`: their
    packages rows); returns how many observations were added. `fresh`: the database had no
    package before this sync (nothing to look up). `windows`: with `fresh`, the first lists
    go there (their weeks are filed by `windows.file`), not into weekly_commits at once."""
    ids = [package["id"] for _, _, package in batch]
    latest = {} if fresh else _latest_observations(conn, ids)
    newest = {} if fresh else _windows_by_id(conn, ids)
    observations: list[tuple[object, ...]] = []
    weeks: list[tuple[int, str, int]] = []
    gap_weeks: list[tuple[int, str, int]] = []
    whole: list[tuple[int, float, object]] = []  # id, first Monday (Julian day), counts JSON
    filed: list[tuple[int, str, object]] = []
    json_each = has_json_each()
    at = _PACKAGE_COLUMN
    for (_, _, package), row in zip(batch, rows, strict=True):
        package_id = package["id"]
        values = tuple(row[i] for i in _OBSERVED)
        before = latest.get(package_id)
        fetched = parse_timestamp(row[at["last_fetched"]])
        if before is None or tuple(before[1:]) != values:
            moment = history.observation_time(
                fetched, parse_timestamp(before[0]) if before else None, run.started
            )
            if moment is not None:
                observations.append((package_id, iso_utc(moment), *values, run.run_id))
        if fetched is None or not 2 <= fetched.year <= 9998:  # no 52 weeks around year 1
            continue
        fetched = fetched.replace(microsecond=0)  # as weekly_windows stores it
        counts = history.weekly_counts(package.get("commits_52w"))
        stale = package.get("stale_fields")
        if counts is None or (isinstance(stale, list) and STALE_COMMITS in stale):
            continue  # unknown, or a list kept from an earlier run: never filed again
        counts_text = row[at["commits_52w"]]
        week = history.week_start(fetched)
        held = newest.get(package_id)
        held_at = parse_timestamp(held[0]) if held is not None else None
        if held is None or held_at is None:  # the first list of this package: all 52 weeks
            if json_each and fresh and windows is not None:
                windows.add(package_id, _julian_day(history.window_mondays(week)[0]))
            elif json_each:
                first_week = history.window_mondays(week)[0]
                whole.append((package_id, _julian_day(first_week), counts_text))
            else:
                weeks.extend(zip(repeat(package_id), _week_labels(week), counts))
        elif fetched < held_at:  # older than a list already filed (a restored backup)
            gap_weeks.extend(zip(repeat(package_id), _week_labels(week), counts))
            continue
        elif held[1] != counts_text or held_at != fetched:
            previous = (held_at, json.loads(held[1]))
            weeks.extend(
                (package_id, monday.isoformat(), count)
                for monday, count in history.weeks_to_write(previous, (fetched, counts))
            )
        else:
            continue  # this very list is filed already
        filed.append((package_id, iso_utc(fetched), counts_text))
    before_changes = conn.total_changes
    conn.executemany(
        "INSERT INTO observations (package_id, observed_at, stars, forks, commits_52w_total,"
        " pypi_version, last_commit, run_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT DO NOTHING",
        observations,
    )
    added = conn.total_changes - before_changes
    conn.executemany(
        "INSERT INTO weekly_commits (package_id, week_start, commits) VALUES (?, ?, ?)"
        " ON CONFLICT DO UPDATE SET commits = excluded.commits",
        weeks,
    )
    conn.executemany(
        "INSERT INTO weekly_commits (package_id, week_start, commits) VALUES (?, ?, ?)"
        " ON CONFLICT DO NOTHING",
        gap_weeks,
    )
    # A whole window in one statement: SQLite files the 52 counts under their Mondays (the
    # first Monday plus 7 days per index), instead of Python binding 52 rows.
    conn.executemany(
        "INSERT INTO weekly_commits (package_id, week_start, commits)"
        " SELECT ?1, date(?2 + key * 7), value FROM json_each(?3) WHERE true"
        " ON CONFLICT DO UPDATE SET commits = excluded.commits",
        whole,
    )
    conn.executemany(
        "INSERT OR REPLACE INTO weekly_windows (package_id, last_fetched, commits_52w)"
        " VALUES (?, ?, ?)",
        filed,
    )
    return added


class _Windows:
    """The first lists of the packages a feed applies to a database with no history (a first
    fetch), filed into weekly_commits after the last batch, in package id order, from their
    weekly_windows rows: the rows then go to the end of the table's B-tree, where batch by
    batch (pages come newest first) they went into its middle. Holds two numbers a package."""

    def __init__(self) -> None:
        self.ids = array("q")
        self.first_mondays = array("d")  # Julian day numbers

    def add(self, package_id: int, first_monday: float) -> None:
        self.ids.append(package_id)
        self.first_mondays.append(first_monday)

    def file(self, conn: sqlite3.Connection) -> None:
        """The 52 weeks of each list collected, from the weekly_windows row filed with it."""
        if not self.ids:
            return
        order = sorted(range(len(self.ids)), key=self.ids.__getitem__)
        conn.executemany(
            "INSERT INTO weekly_commits (package_id, week_start, commits)"
            " SELECT ?1, date(?2 + j.key * 7), j.value"
            " FROM weekly_windows AS w, json_each(w.commits_52w) AS j WHERE w.package_id = ?1"
            " ON CONFLICT DO UPDATE SET commits = excluded.commits",
            ((self.ids[i], self.first_mondays[i]) for i in order),
        )
        self.ids, self.first_mondays = array("q"), array("d")


_JULIAN_DAY_OF_ORDINAL_ZERO = 1721424.5
"""`date.toordinal()` + this = SQLite's Julian day number of that date's midnight (exact in
binary floating point: every value is a whole number plus one half)."""


def _julian_day(day: date) -> float:
    return day.toordinal() + _JULIAN_DAY_OF_ORDINAL_ZERO


@functools.cache
def has_json_each() -> bool:
    """Whether this Python's SQLite has the JSON functions (built in since 3.38; an older or
    slimmed library falls back to binding every week from Python)."""
    probe = sqlite3.connect(":memory:")
    try:
        probe.execute("SELECT value FROM json_each('[1]')").fetchall()
    except sqlite3.OperationalError:
        return False
    finally:
        probe.close()
    return True


@functools.lru_cache(maxsize=256)
def _week_labels(last_week: date) -> tuple[str, ...]:
    return tuple(week.isoformat() for week in history.window_mondays(last_week))
