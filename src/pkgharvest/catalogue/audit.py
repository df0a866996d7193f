"""Looking at the catalogue database without changing it: for `verify` and `status`.

`examine(root, stamp)` says in one short line what state `catalogue.db` is in: none yet, in step
with the mirror, behind it, refused by the file rules, of a newer schema, locked, or damaged
(SQLite's integrity check, a value of the wrong type, a log that is not SQLite's). `verify` adds
`compare` (the database against the record files, column for column, when it is in step).

Nothing here writes: the database is opened read-only, and as immutable (no lock, no wal-index
created) when it has no log to read, or when the log is not one SQLite wrote.
"""

from __future__ import annotations

import os
import sqlite3
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pkgharvest.catalogue import write
from pkgharvest.catalogue.edge import (
    CATALOGUE_NAME,
    CORRUPT_SUFFIX,
    aside_names,
    check_room,
    check_schema,
    connect,
    problems,
    translated,
)
from pkgharvest.catalogue.values import COLUMN_TYPES, KEY_COLUMNS, SQL_TYPES
from pkgharvest.catalogue.write import _JSON_COLUMNS as JSON_COLUMNS
from pkgharvest.errors import CatalogueError, PkgHarvestError
from pkgharvest.records import Kind, Record

_HEADER = b"SQLite format 3\x00"
_WAL_MAGIC = (0x377F0682, 0x377F0683)
_LINE = 100  # the most characters of SQLite's own words a problem quotes


@dataclass
class Examined:
    """What `examine` found.

    Attributes:
        state: "missing", "ok", "behind", "refused", "newer", "damaged", "unreadable".
        problems: (file, one line) for each thing wrong, for verify (empty when fine).
        notes: what was not checked, and why, or what is worth knowing.
        conn: the database, open read-only, when it could be opened and is pkgharvest's (the
            caller closes it).
        in_step: it agrees with the manifest whose digest was given.
    """

    state: str
    problems: list[tuple[Path, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    conn: sqlite3.Connection | None = None
    in_step: bool = False

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    @property
    def line(self) -> str:
        """The state in one line, with the first problem and what happens next (`status`)."""
        if self.problems:
            path, problem = self.problems[0]
            refused = any(problem.startswith(words) for words in _REFUSALS)
            advice = _NEXT["refused" if refused else self.state] if self.state in _NEXT else ""
            return f"{path.name} {problem}{advice}"
        return {
            "missing": "none yet (the next reading command builds it)",
            "ok": "in step with the mirror",
            "behind": "behind the mirror (the next reading command catches it up)",
        }.get(self.state, self.state)


_REFUSALS = ("is a symlink", "is not a regular file", "is a hard link", "is owned by")
_NEXT = {
    "damaged": " (the next reading command or fetch moves it aside and rebuilds it)",
    "refused": " (never opened: move it away; it is rebuilt from the JSON files)",
    "newer": "",
}


def _read_head(path: Path, size: int) -> bytes:
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0))
    try:
        return os.read(fd, size)
    finally:
        os.close(fd)


def _wal_problem(wal: Path) -> str | None:
    """What is wrong with a write-ahead log's header, if anything (None: it is SQLite's, or
    empty)."""
    try:
        head = _read_head(wal, 32)
    except FileNotFoundError:
        return None
    if not head:
        return None
    if len(head) < 32 or struct.unpack(">I", head[:4])[0] not in _WAL_MAGIC:
        return (
            "is not an SQLite write-ahead log (damaged or planted; the next command that "
            "writes the database discards it)"
        )
    return None


def examine(root: Path, stamp: str | None, *, deep: bool = True) -> Examined:
    """The catalogue database's state (see the module docs). `deep`: run SQLite's integrity
    check and look at every value's type (a read of the whole file)."""
    path = root / CATALOGUE_NAME
    found = Examined("missing")
    broken = problems(root)
    found.problems += broken
    if any(p == path for p, _ in broken):
        found.state = "refused"
        return found
    numbered = sorted(
        (name for name in aside_names(root) if not name.endswith("-wal")),
        key=lambda name: int(name.rsplit(".", 1)[1]),
    )
    for name in (CATALOGUE_NAME + CORRUPT_SUFFIX, *numbered):
        aside = root / name
        if os.path.lexists(aside) and not any(p == aside for p, _ in broken):
            found.notes.append(
                f"{aside.name}: a damaged database moved aside earlier (with its history); "
                "delete it when it is no longer wanted"
            )
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return found
    if info.st_size == 0:
        found.notes.append(f"{path.name} is empty (the next reading command builds it)")
        return found
    try:
        head = _read_head(path, len(_HEADER))
    except OSError as err:
        found.state = "unreadable"
        found.problems.append((path, f"cannot be read: {err.strerror or err}"))
        return found
    if head != _HEADER:
        found.state = "damaged"
        found.problems.append((path, "is not an SQLite database"))
        return found
    wal = root / (CATALOGUE_NAME + "-wal")
    wal_refused = any(p == wal for p, _ in broken)
    wal_problem = None
    if os.path.lexists(wal) and not wal_refused:
        try:
            wal_problem = _wal_problem(wal)
        except OSError as err:
            wal_problem = f"cannot be read: {err.strerror or err}"
        if wal_problem is not None:
            found.problems.append((wal, wal_problem))
    # A log that is refused or not SQLite's is not read (immutable: SQLite then ignores it).
    log = 0 if wal_refused or wal_problem is not None else _size(wal)
    immutable = log == 0
    if not immutable:
        try:
            check_room(root, log)
        except PkgHarvestError as err:
            # Its log may hold what a checkpoint cut short by the full disk has not copied
            # in: the file alone would look damaged. It is not judged until there is room.
            found.state = "unreadable"
            found.problems.append((path, f"cannot be checked: {_tail(str(err))}"))
            return found
    found.state = "refused" if broken else "damaged" if wal_problem else "ok"
    try:
        conn, _ = connect(path, -1, write=False, immutable=immutable)
    except PkgHarvestError as err:
        found.state = "unreadable"
        found.problems.append((path, _tail(str(err))))
        return found
    try:
        with translated(path, "read"):
            check_schema(conn, path)
            found.in_step = stamp is not None and write.stored_stamp(conn) == stamp
    except CatalogueError as err:
        conn.close()
        found.state = "newer" if type(err) is CatalogueError else "damaged"
        found.problems.append((path, _tail(str(err))))
        return found
    except PkgHarvestError as err:
        conn.close()
        found.state = "unreadable"
        found.problems.append((path, _tail(str(err))))
        return found
    found.conn = conn
    if deep:
        found_damage = damage(conn, path, json=True)
        if found_damage:
            found.state = "damaged"
            found.problems += [(path, line) for line in found_damage]
            return found
    if not found.in_step and found.state == "ok":
        found.state = "behind"
    return found


def _size(path: Path) -> int:
    try:
        return os.lstat(path).st_size
    except OSError:
        return 0


def _tail(message: str) -> str:
    """'the catalogue database /x/catalogue.db is damaged: ...' -> 'is damaged: ...'."""
    for marker in (CATALOGUE_NAME + " ", CATALOGUE_NAME + "-wal "):
        if marker in message:
            return message.split(marker, 1)[1]
    return message


def _integrity(conn: sqlite3.Connection, path: Path) -> Iterator[str]:
    """SQLite's quick check, as one short line."""
    try:
        with translated(path, "check"):
            rows = [str(row[0]) for row in conn.execute("PRAGMA quick_check")]
    except PkgHarvestError as err:
        yield _tail(str(err))
        return
    if rows and rows != ["ok"]:
        # SQLite may put many problems in one row, one a line, under a "*** in database
        # main ***" header: count the problems, quote the first.
        found = [
            line.strip()
            for row in rows
            for line in row.splitlines()
            if line.strip() and not line.startswith("*** in database")
        ] or ["no detail"]
        first = found[0] if len(found[0]) <= _LINE else found[0][: _LINE - 3] + "..."
        capped = "+" if len(found) >= 100 else ""  # SQLite stops counting at 100
        more = f" (and {len(found) - 1:,}{capped} more)" if len(found) > 1 else ""
        yield f"fails SQLite's integrity check: {first}{more}"


def integrity(conn: sqlite3.Connection, path: Path) -> list[str]:
    """What SQLite's integrity check finds wrong, in one line (empty: nothing)."""
    return list(_integrity(conn, path))


def damage(conn: sqlite3.Connection, path: Path, *, json: bool = False) -> list[str]:
    """What SQLite's integrity check, then the look at the values' types, find wrong (one line
    each; empty: nothing). `json`: also parse every JSON column of the record tables (which the
    reading commands do anyway as they read them)."""
    return list(_integrity(conn, path)) or list(_types(conn, json=json))


def _types(conn: sqlite3.Connection, *, json: bool) -> Iterator[str]:
    """One line per table holding a value of a type pkgharvest never writes there. The key
    columns are left out (a query reading a row checks them: values.checked_row), which halves
    the cost on the big history tables; each table is one scan that stops at the first."""
    conn.row_factory = None
    json_valid = json and write.has_json_each()
    try:
        tables = [
            name
            for (name,) in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite%'"
            )
        ]
        for table in tables:
            quoted = '"' + table.replace('"', '""') + '"'
            columns = [str(row[1]) for row in conn.execute(f"PRAGMA table_info({quoted})")]
            record_table = table in {kind.value for kind in Kind}
            tests: list[tuple[str, str]] = []
            for column in columns:
                allowed = COLUMN_TYPES.get(column)
                if allowed is None or column in KEY_COLUMNS:
                    continue
                kinds = ", ".join(f"'{SQL_TYPES[kind]}'" for kind in sorted(allowed, key=str))
                test = f'typeof("{column}") NOT IN ({kinds})'
                if record_table and column in JSON_COLUMNS and json_valid:
                    test = f"({test} OR NOT json_valid(coalesce(\"{column}\", 'null')))"
                tests.append((column, test))
            if not tests:
                continue
            which = " ".join(f"WHEN {test} THEN '{column}'" for column, test in tests)
            anywhere = " OR ".join(test for _, test in tests)
            found = conn.execute(
                f"SELECT CASE {which} END FROM {quoted} WHERE {anywhere} LIMIT 1"
            ).fetchone()
            if found is not None:
                yield f"holds a value of the wrong type (table {table}, column {found[0]})"
    except sqlite3.DatabaseError as err:
        yield f"cannot be read: {getattr(err, 'sqlite_errorname', 'error')}"


# --- against the record files --------------------------------------------------------------


def compare(
    conn: sqlite3.Connection,
    records: dict[Kind, dict[int, tuple[Path, Record]]],
) -> Iterator[str]:
    """The database against the record files, column for column (call when it is in step)."""
    conn.row_factory = None
    for kind in Kind:
        names = list(write.COLUMNS[kind])
        held: dict[Any, tuple[Any, ...]] = {
            row[0]: tuple(row)
            for row in conn.execute(f"SELECT {', '.join(names)} FROM {kind.value}")
        }
        files = {
            record_id: write.stored_values(kind, record)
            for record_id, (_, record) in records.get(kind, {}).items()
        }
        lacking = sorted(files.keys() - held.keys())
        extra = sorted(held.keys() - files.keys(), key=str)
        differ = sorted(i for i in files.keys() & held.keys() if files[i] != held[i])
        if lacking:
            yield f"lacks {len(lacking):,} {kind.value} the files hold (first: id {lacking[0]})"
        if extra:
            yield f"holds {len(extra):,} {kind.value} no file holds (first: id {extra[0]})"
        if differ:
            first = differ[0]
            name = next(
                n for n, a, b in zip(names, files[first], held[first], strict=True) if a != b
            )
            yield (
                f"disagrees with the files on {len(differ):,} {kind.value} (first: id {first}, "
                f"field {name})"
            )


def compare_safely(
    conn: sqlite3.Connection, path: Path, records: dict[Kind, dict[int, tuple[Path, Record]]]
) -> list[str]:
    """`compare`, with a database error turned into one line."""
    try:
        with translated(path, "read"):
            return list(compare(conn, records))
    except PkgHarvestError as err:
        return [_tail(str(err))]
