"""The catalogue database's edge: how `catalogue.db` is opened, and what SQLite's errors become.

Only catalogue/ imports sqlite3 (tests/test_architecture.py checks it), and every sqlite3.Error
raised in it is turned into an errors.py class by `translated`, so callers meet documented exit
codes and never a DatabaseError:

    a damaged page, not a database, another application's tables, a value of the wrong type
        -> CatalogueDamaged (the opener moves the file aside and rebuilds it)
    the write lock held by another process past the wait        -> CatalogueLocked (75)
    a full disk, a read-only file or folder, an I/O error         -> CatalogueUnwritable (73)
    anything else (a query this version got wrong)                -> CatalogueFailure (1)

The files: `catalogue.db`, what SQLite keeps beside it (`-wal`, `-shm`, `-journal`) and the
names a damaged database is moved to (`.corrupt`, `.corrupt-wal`) follow the rules `.lock` and
the kind folders follow: each is absent, or a regular file with one link owned by the data
folder's owner. Anything else is refused (CatalogueUnsafe, exit 65, naming it) and never opened:
SQLite follows a symlinked database to its target and writes its journal beside it, and writes
through a hard link into the other name's file. Only `create` makes a file here, given to the
folder's owner when root's fetch writes another user's folder (store/owner.py); SQLite, running
as root, gives the files it makes beside the database to the database file's owner itself.

`connect` closes the window between that check and SQLite's own open: it opens the name itself
without following links, checks what it got, lets SQLite open the name, and then checks that
the file SQLite holds is the one it checked (by device and inode, through /proc/self/fd). SQLite
opens `-wal` and `-shm` with O_NOFOLLOW itself; they are checked before the open (a hard link
swapped in between the check and SQLite's open is out of reach for a user who cannot write the
linked file, which Linux's protected_hardlinks ensures).

Free space: SQLite's wal-index (`-shm`) is a memory-mapped file that SQLite extends by writing
one byte per 4 KiB page. On a file system with smaller blocks (a 1 KiB-block ext4) that leaves
holes, and when the disk is full, touching a hole kills the process with SIGBUS. So nothing
maps the wal-index without room for all of it (`check_room`), and a connection that writes on
such a file system fills its holes first (`fill_wal_index`).
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import sqlite3
import stat
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from pkgharvest.catalogue import schema
from pkgharvest.errors import (
    CatalogueDamaged,
    CatalogueFailure,
    CatalogueLocked,
    CatalogueNoSpace,
    CatalogueUnsafe,
    CatalogueUnwritable,
    PkgHarvestError,
)
from pkgharvest.store.owner import CREATOR, Owner

CATALOGUE_NAME = "catalogue.db"
CORRUPT_SUFFIX = ".corrupt"
SIDE_SUFFIXES = ("-wal", "-shm", "-journal")
"""What SQLite keeps beside a database file."""
NAMES = (
    CATALOGUE_NAME,
    *(CATALOGUE_NAME + suffix for suffix in SIDE_SUFFIXES),
    CATALOGUE_NAME + CORRUPT_SUFFIX,
    CATALOGUE_NAME + CORRUPT_SUFFIX + "-wal",
)
"""Every name in the data folder the catalogue may create, open or move a file to, besides
the numbered copies (`catalogue.db.corrupt.2`, its `-wal`: `aside_names`)."""

_NUMBERED_ASIDE = re.compile(
    re.escape(CATALOGUE_NAME + CORRUPT_SUFFIX) + r"\.[1-9][0-9]{0,8}(?:-wal)?", re.ASCII
)
"""A later damaged database moved aside (the second is `.corrupt.2`): none replaces another."""


def aside_names(root: Path) -> list[str]:
    """The numbered `.corrupt.N` (and `-wal`) names in `root`, in no particular order."""
    try:
        with os.scandir(root) as entries:
            return [entry.name for entry in entries if _NUMBERED_ASIDE.fullmatch(entry.name)]
    except OSError:
        return []


def free_aside(root: Path) -> str:
    """The name the next damaged database is moved to: `catalogue.db.corrupt`, or when that
    (or its `-wal`) is taken, `catalogue.db.corrupt.2`, `.3`, ...: the first copy's history is
    kept beside the second's, never replaced."""
    base = CATALOGUE_NAME + CORRUPT_SUFFIX
    number = 1
    while True:
        name = base if number == 1 else f"{base}.{number}"
        if not (os.path.lexists(root / name) or os.path.lexists(root / (name + "-wal"))):
            return name
        number += 1


_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)

# --- SQLite's errors -----------------------------------------------------------------------

# Primary result codes (sqlite3.h); an extended code's low byte is its primary code.
_BUSY, _LOCKED = 5, 6
_READONLY, _IOERR, _CORRUPT, _FULL, _CANTOPEN = 8, 10, 11, 13, 14
_PERM, _CONSTRAINT, _MISMATCH, _NOTADB, _FORMAT, _RANGE = 3, 19, 20, 26, 24, 25

_DAMAGE_WORDS = {
    _CORRUPT: "its pages are damaged",
    _NOTADB: "it is not an SQLite database",
    _FORMAT: "its format is damaged",
    _CONSTRAINT: "it holds rows that break its own constraints",
    _MISMATCH: "it holds a value of the wrong type",
    _RANGE: "it holds a value out of range",
}
_UNWRITABLE_WORDS = {
    _READONLY: "it is read-only here",
    _IOERR: "an input/output error",
    _CANTOPEN: "it cannot be opened",
    _PERM: "permission denied",
}


def _code(err: sqlite3.Error) -> int:
    code = getattr(err, "sqlite_errorcode", None)
    return code & 0xFF if isinstance(code, int) else -1


def is_busy(err: sqlite3.Error) -> bool:
    return _code(err) in (_BUSY, _LOCKED)


def rollback(conn: sqlite3.Connection) -> None:
    """End the write transaction a failure interrupted. SQLite has already rolled it back
    after some errors (a full disk, an I/O error): a ROLLBACK then fails with "no transaction
    is active" and would hide the error worth reporting."""
    if conn.in_transaction:
        conn.execute("ROLLBACK")


def _hidden_by_rollback(err: sqlite3.Error) -> sqlite3.Error:
    """The error an `except: ROLLBACK` handler met, when its ROLLBACK failed because SQLite had
    already rolled back (see `rollback`): that error says what happened, this one does not."""
    cause = err.__context__
    if "no transaction is active" in str(err) and isinstance(cause, sqlite3.Error):
        return cause
    return err


def translate(err: sqlite3.Error, path: Path | str, doing: str) -> PkgHarvestError:
    """The errors.py error for `err`, met while `doing` (e.g. "read") the database `path`.

    The words are pkgharvest's own: SQLite's message can quote names from the file itself
    (a planted schema), which must not reach the terminal."""
    err = _hidden_by_rollback(err)
    code = _code(err)
    if code in _DAMAGE_WORDS or "malformed" in str(err):
        why = _DAMAGE_WORDS.get(code, "its schema is damaged")
        return CatalogueDamaged(f"the catalogue database {path} is damaged: {why}")
    if code in (_BUSY, _LOCKED):
        return CatalogueLocked(
            f"the catalogue database {path} is locked by another process; try again later"
        )
    if code == _FULL:
        return CatalogueNoSpace(f"cannot {doing} the catalogue database {path}: the disk is full")
    if code in _UNWRITABLE_WORDS:
        return CatalogueUnwritable(
            f"cannot {doing} the catalogue database {path}: {_UNWRITABLE_WORDS[code]}"
        )
    name = getattr(err, "sqlite_errorname", None) or type(err).__name__
    return CatalogueFailure(f"the catalogue database {path} failed to {doing} ({name})")


@contextlib.contextmanager
def translated(path: Path | str, doing: str) -> Iterator[None]:
    """Turn an sqlite3.Error raised inside into its errors.py class (see `translate`)."""
    try:
        yield
    except sqlite3.Error as err:
        raise translate(err, path, doing) from None


# --- the schema: pkgharvest's, of this version --------------------------------------------

_TABLE_STATEMENT = re.compile(
    r"CREATE TABLE (\w+)|DROP TABLE (?:IF EXISTS )?(\w+)|ALTER TABLE (\w+) RENAME TO (\w+)"
)


def _tables_at(version: int) -> set[str]:
    """The tables the migrations up to `version` leave, statement by statement (a migration
    may build a table anew under another name and rename it: schema.py, version 4)."""
    tables: set[str] = set()
    for script in schema.MIGRATIONS[:version]:
        for created, dropped, old, new in _TABLE_STATEMENT.findall(script):
            if created:
                tables.add(created)
            elif dropped:
                tables.discard(dropped)
            else:
                tables.discard(old)
                tables.add(new)
    return tables


def damaged_error(path: Path, why: str) -> CatalogueDamaged:
    return CatalogueDamaged(f"the catalogue database {path} is damaged: {why}")


def check_schema(conn: sqlite3.Connection, path: Path) -> int:
    """The database's schema version, once it is known to be pkgharvest's: CatalogueError
    (untouched) when newer than this version; CatalogueDamaged when it is another
    application's database or lacks a table its version has."""
    schema.migrate(conn, str(path), upto=0)  # refuses a newer schema, writes nothing
    version = schema.schema_version(conn)
    tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master")}
    if version == 0:
        if tables:
            raise damaged_error(path, "it is another application's database")
        return 0
    missing = _tables_at(version) - tables
    if missing:
        raise damaged_error(path, f"it has no table {sorted(missing)[0]}")
    return version


# --- the files -----------------------------------------------------------------------------


def folder_owner(root: Path) -> int:
    return os.lstat(root).st_uid


def may_write(root: Path, owner: Owner = CREATOR) -> bool:
    """Whether this process may create or change the catalogue's files in `root`: as the
    folder's owner where the folder is writable, or as root acting for that owner (`owner`, a
    fetch's: every file it creates is given to the folder's owner, store/owner.py). A reading
    command run by another user, root included, writes nothing there (it reads a private copy):
    the folder is its owner's."""
    try:
        folder_uid = folder_owner(root)
    except OSError:
        return False
    acting_for_owner = owner.gives and owner.uid == folder_uid
    return (acting_for_owner or _euid() in (folder_uid, -1)) and os.access(root, os.W_OK)


def _euid() -> int:
    return os.geteuid() if hasattr(os, "geteuid") else -1


def file_problem(info: os.stat_result, owner: int) -> str | None:
    """What is wrong with a catalogue file whose (l)stat is `info`, or None."""
    if stat.S_ISLNK(info.st_mode):
        return "is a symlink"
    if not stat.S_ISREG(info.st_mode):
        return "is not a regular file"
    if info.st_nlink != 1:
        return f"is a hard link ({info.st_nlink} names)"
    if owner != -1 and info.st_uid != owner:
        return f"is owned by uid {info.st_uid}, not by the data folder's owner (uid {owner})"
    return None


def unsafe(path: Path, problem: str) -> CatalogueUnsafe:
    return CatalogueUnsafe(
        f"the catalogue database file {path} {problem}; it is never opened or written: "
        "move it away or delete it (the database is rebuilt from the JSON files)"
    )


@dataclass(frozen=True)
class FolderFacts:
    """The catalogue's files in a data folder as `inspect` found them.

    Attributes:
        root: the data folder.
        owner: the folder's owner (uid; -1 where there are no owners).
        present: the names that exist, with their lstat.
    """

    root: Path
    owner: int
    present: dict[str, os.stat_result]

    @property
    def database(self) -> Path:
        return self.root / CATALOGUE_NAME

    def size(self, name: str) -> int:
        info = self.present.get(name)
        return info.st_size if info is not None else 0


def inspect(root: Path) -> FolderFacts:
    """The catalogue's files in `root`; CatalogueUnsafe naming the first that breaks the rules."""
    owner = folder_owner(root) if hasattr(os, "geteuid") else -1
    present: dict[str, os.stat_result] = {}
    for name in (*NAMES, *aside_names(root)):
        path = root / name
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            continue
        except OSError as err:
            raise CatalogueUnwritable(
                f"cannot look at the catalogue database file {path}: {err.strerror or err}"
            ) from None
        problem = file_problem(info, owner)
        if problem is not None:
            raise unsafe(path, problem)
        present[name] = info
    return FolderFacts(root, owner, present)


def problems(root: Path) -> list[tuple[Path, str]]:
    """Every catalogue file in `root` that breaks the rules, with what is wrong (for verify)."""
    try:
        owner = folder_owner(root) if hasattr(os, "geteuid") else -1
    except OSError:
        return []
    found = []
    for name in (*NAMES, *sorted(aside_names(root))):
        with contextlib.suppress(OSError):
            problem = file_problem(os.lstat(root / name), owner)
            if problem is not None:
                found.append((root / name, problem))
    return found


def create(path: Path, owner: Owner) -> None:
    """Create an empty database file, given to `owner` (store/owner.py: SQLite gives the files
    it makes beside it to the same user); never through a link; FileExistsError if one is
    there."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC, 0o666)
    try:
        owner.give(fd)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(path)  # the empty file this call made: nothing of the wrong owner stays
        raise
    finally:
        os.close(fd)


# --- connecting ----------------------------------------------------------------------------

_FD_FOLDER = Path("/proc/self/fd")


def _open_fds() -> list[str] | None:
    try:
        return os.listdir(_FD_FOLDER)
    except OSError:
        return None  # not Linux: the check after the open falls back to the name


def _same_file(a: os.stat_result, b: os.stat_result) -> bool:
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


FileId = tuple[int, int]


def _open_files(own: int) -> Counter[FileId] | None:
    """(device, inode) of every regular file this process has open, `own` aside, counted
    (None where /proc/self/fd cannot be read)."""
    names = _open_fds()
    if names is None:
        return None
    found: Counter[FileId] = Counter()
    for name in names:
        if name == str(own):
            continue
        with contextlib.suppress(OSError):
            info = os.stat(_FD_FOLDER / name)
            if stat.S_ISREG(info.st_mode):
                found[info.st_dev, info.st_ino] += 1
    return found


def _sqlite_opened_another(
    checked: os.stat_result, own: int, before: Counter[FileId] | None, path: Path
) -> bool:
    """Whether SQLite's open reached another file than the one `checked` describes: a file
    newly open in this process that is not it. (SQLite may reuse a descriptor it keeps for
    the same file: then nothing new is open, which is fine.)"""
    if before is None:
        try:
            return not _same_file(os.lstat(path), checked)
        except OSError:
            return True
    after = _open_files(own)
    if after is None:
        return True
    return any(file_id != (checked.st_dev, checked.st_ino) for file_id in after - before)


def connect(
    path: Path, owner: int, *, write: bool, immutable: bool = False
) -> tuple[sqlite3.Connection, os.stat_result]:
    """Open the existing database file `path` (never created here: see `create`), in autocommit
    mode; returns the connection and the file's stat. CatalogueUnsafe when it breaks the rules
    or is swapped during the open; FileNotFoundError when it is missing; CatalogueUnwritable
    when it cannot be opened."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | _NOFOLLOW | _CLOEXEC)
    except FileNotFoundError:
        raise
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise unsafe(path, "is a symlink") from None
        raise CatalogueUnwritable(
            f"cannot open the catalogue database {path}: {err.strerror or err}"
        ) from None
    try:
        checked = os.fstat(fd)
        problem = file_problem(checked, owner)
        if problem is not None:
            raise unsafe(path, problem)
        before = _open_files(fd)
        mode = "rw" if write else "ro"
        uri = f"{path.absolute().as_uri()}?mode={mode}" + ("&immutable=1" if immutable else "")
        with translated(path, "open"):
            conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
        if _sqlite_opened_another(checked, fd, before, path):
            conn.close()
            raise unsafe(path, "was replaced while it was being opened")
    finally:
        # Closed before SQLite takes any lock: closing another descriptor of the same file
        # would drop the POSIX locks SQLite holds on it.
        os.close(fd)
    try:
        with translated(path, "open"):
            conn.execute(f"PRAGMA busy_timeout = {READ_BUSY_MS}")
            conn.execute("PRAGMA mmap_size = 0")  # pages are read, never mapped (see SIGBUS)
    except BaseException:
        conn.close()
        raise
    return conn, checked


READ_BUSY_MS = 100
"""How long one statement waits for a lock inside SQLite (a reader meets one only when another
program holds the database exclusively, or recovers its log); the write lock is waited for by
`Wait`, whose clock and sleep tests can replace."""


# --- waiting for the write lock ------------------------------------------------------------


@dataclass(frozen=True)
class Wait:
    """How long to wait for another process's write lock, and with what clock and sleep."""

    seconds: float
    clock: Callable[[], float]
    sleep: Callable[[float], None]
    step: float = 0.05

    def attempts(self) -> Iterator[int]:
        """Yields once per attempt until `seconds` have passed (by `clock`, or by the count of
        steps when the sleep does not wait)."""
        deadline = self.clock() + self.seconds
        tries = max(1, int(self.seconds / self.step) + 1)
        for attempt in range(tries):
            yield attempt
            if self.clock() >= deadline:
                return
            self.sleep(self.step)


def while_busy(wait: Wait, conn: sqlite3.Connection, action: Callable[[], object]) -> object:
    """`action()` (which begins with BEGIN IMMEDIATE), tried again while another process holds
    the write lock, for at most `wait`; the last sqlite3.Error (busy) if it never got it."""
    conn.execute("PRAGMA busy_timeout = 0")  # the waiting is ours, on the injected clock
    try:
        last: sqlite3.Error | None = None
        for _ in wait.attempts():
            try:
                return action()
            except sqlite3.OperationalError as err:
                if not is_busy(err):
                    raise
                last = err
        assert last is not None
        raise last
    finally:
        conn.execute(f"PRAGMA busy_timeout = {READ_BUSY_MS}")


# --- room for the wal-index ----------------------------------------------------------------

_WAL_INDEX_REGION = 32 * 1024  # the wal-index grows by this much per 4,096 log frames
_FRAMES_PER_REGION = 4096
_SPARE = 32 * 1024
_MAX_FILLED_REGIONS = 64


def _free_bytes(root: Path) -> tuple[int, int]:
    """(free bytes, the file system's block size). What is free to anyone, even for root: ext4
    counts blocks it keeps for its own metadata as free to root (f_bfree), yet a file cannot
    have them."""
    info = os.statvfs(root)
    return info.f_bavail * info.f_frsize, info.f_frsize


def _regions(log_bytes: int) -> int:
    frames = log_bytes // 512 + 1  # 512 bytes: SQLite's smallest page, so never too few
    return frames // _FRAMES_PER_REGION + 1


def check_room(root: Path, log_bytes: int) -> None:
    """CatalogueUnwritable unless the file system holding `root` has room for the wal-index of
    a write-ahead log of `log_bytes` (see the module docs: a hole SQLite touches in a full file
    system is a SIGBUS, not an error)."""
    if not hasattr(os, "statvfs"):
        return
    try:
        free, _ = _free_bytes(root)
    except OSError:
        return
    needed = _regions(log_bytes) * _WAL_INDEX_REGION + _SPARE
    if free < needed:
        raise CatalogueNoSpace(
            f"not enough free space in {root} to open the catalogue database safely "
            f"({free // 1024} KiB free, {needed // 1024} KiB needed); free some space"
        )


def room_to_read(root: Path) -> str | None:
    """Why a command could not open the database in `root` now for lack of room (see
    `check_room`, with its log as it is), in one line; None when it could."""
    try:
        log = os.lstat(root / (CATALOGUE_NAME + "-wal")).st_size
    except OSError:
        log = 0
    try:
        check_room(root, log)
    except CatalogueNoSpace as err:
        return str(err)
    return None


def fill_wal_index(conn: sqlite3.Connection, root: Path) -> None:
    """Before a write: on a file system whose blocks are smaller than 4 KiB, give the wal-index
    real blocks for every region a log filling the free space could need, through SQLite's
    own descriptor (opening and closing another would drop its locks). CatalogueUnwritable
    when there is no room for them."""
    if not hasattr(os, "posix_fallocate"):
        return
    try:
        free, block = _free_bytes(root)
    except OSError:
        return
    if block >= 4096:
        return  # SQLite's one byte per page allocates whole pages: no holes
    regions = min(_regions(free), _MAX_FILLED_REGIONS)
    shm = str((root / CATALOGUE_NAME).resolve()) + "-shm"
    for name in _open_fds() or []:
        with contextlib.suppress(OSError):
            if os.readlink(_FD_FOLDER / name) != shm:
                continue
            try:
                os.posix_fallocate(int(name), 0, regions * _WAL_INDEX_REGION)
            except OSError as err:
                raise CatalogueNoSpace(
                    f"not enough free space in {root} to write the catalogue database "
                    f"({err.strerror or err}); free some space"
                ) from None
            return
