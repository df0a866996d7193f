"""The commit's journal: what makes a commit all-or-nothing as a user sees it.

Before a commit moves the first staged file into place, it writes `<root>/.commit-journal.json`
(atomically, fsynced) listing every move (staging file -> record file), every removal, and
whether the index and the manifest follow. The moves and removals are then done, the manifest
replaced last, and the journal removed. If the process dies in between (kill -9, power loss) or
a move fails (a disk that filled up after all), the journal stays, and the next `fetch` reads
it first and rolls the commit forward: every step is idempotent (a move whose staging file is
gone was done; a removal of a missing file was done), so replaying it from the start finishes
exactly the commit that was begun. Only then is the staging folder removed.

A journal is data in the data folder, so it is not trusted: it is rolled forward only under the
folder's lock, and only after every folder and file it names has passed the checks a fetch
makes (no symlink, each folder a folder, each staged file a regular file of its own, each name a
record file name). A journal that names anything else stops the command (CorruptStore, exit 65)
before anything moves. A reading command that finds one finishes it the same way, or waits for
the fetch that holds the lock to finish it; when it cannot be finished (no room, no write
access) the command stops (exit 73) rather than show a mirror that is half old and half new.

Format::

    {"format": 1, "staging": ".staging-abc123",
     "moves": {"packages": ["django.json", ...], "grids": [...], "categories": [...]},
     "removals": {"packages": ["old-name.json", ...], ...}, "index": true}
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pkgharvest.errors import CorruptStore, LockHeld, StoreWriteError
from pkgharvest.records import Kind
from pkgharvest.store import paths
from pkgharvest.store.fileio import BINARY, PART_SUFFIX, atomic_write_bytes, fsync_dir
from pkgharvest.store.index import INDEX_NAME
from pkgharvest.store.manifest import MANIFEST_NAME
from pkgharvest.store.owner import Owner, owner_of
from pkgharvest.store.recordfile import REPAIR_HINT

JOURNAL_NAME = ".commit-journal.json"
STAGING_PREFIX = ".staging-"
_FORMAT = 1
_MAX_BYTES = 1 << 30


@dataclass
class CommitPlan:
    """The steps of one commit, in order (see the module docs)."""

    staging: str
    moves: dict[str, list[str]] = field(default_factory=dict)
    removals: dict[str, list[str]] = field(default_factory=dict)
    index: bool = False

    def to_bytes(self) -> bytes:
        document = {
            "format": _FORMAT,
            "staging": self.staging,
            "moves": self.moves,
            "removals": self.removals,
            "index": self.index,
        }
        return json.dumps(document, separators=(",", ":")).encode("utf-8")

    @property
    def move_count(self) -> int:
        return sum(len(names) for names in self.moves.values())


def write(root: Path, plan: CommitPlan, owner: Owner) -> None:
    """Make the journal durable before the first move (given to `owner`: owner.py)."""
    atomic_write_bytes(root / JOURNAL_NAME, plan.to_bytes(), fsync=True, owner=owner)


def apply(root: Path, plan: CommitPlan, *, fsync: bool, replay: bool = False) -> int:
    """Do the plan's moves, removals, index and manifest, in that order; returns how many files
    were moved. `replay`: a step already done (its source gone) is skipped, and a staged record
    that is not a complete JSON object (power lost before it reached the disk) is left out."""
    staging = root / plan.staging
    moved = 0
    for kind in Kind:
        # Paths as text: pathlib joins per file are a first run's cost, thousands of times.
        folder = os.path.join(root, kind.value)
        staged = os.path.join(staging, kind.value)
        for name in plan.moves.get(kind.value, []):
            source = os.path.join(staged, name + PART_SUFFIX)
            if replay and not _is_complete_record(source):
                continue
            try:
                os.replace(source, os.path.join(folder, name))
            except FileNotFoundError:
                if not replay:
                    raise
                continue
            moved += 1
        for name in plan.removals.get(kind.value, []):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(folder, name))
        if fsync or replay:
            fsync_dir(folder)
    last = [(INDEX_NAME, plan.index), (MANIFEST_NAME, True)]
    for name, wanted in last:
        if not wanted:
            continue
        try:
            os.replace(staging / (name + PART_SUFFIX), root / name)
        except FileNotFoundError:
            if not replay:
                raise
    fsync_dir(root)
    return moved


def finish(root: Path, plan: CommitPlan) -> None:
    """The commit is done: drop the journal, then the staging folder."""
    os.unlink(root / JOURNAL_NAME)
    fsync_dir(root)
    shutil.rmtree(root / plan.staging, ignore_errors=True)


def recover(root: Path, *, fsync: bool, owner: Owner) -> int | None:
    """Roll forward a commit a dead or failed run left (call under the lock, before staging
    folders are cleaned). None when there was none; else how many files it moved into place.
    CorruptStore, with nothing moved, if the journal is not one this version wrote or names a
    folder or file that is not what a commit leaves (`check_plan`). A kind folder it has to
    make is given to `owner` (owner.py)."""
    plan = _checked_plan(root)
    if plan is None:
        return None
    for kind in Kind:  # a folder the commit moves into: a fetch makes it before it begins
        if not check_folder(root / kind.value, f"{kind.singular} folder"):
            owner.make_folder(root / kind.value)
    moved = apply(root, plan, fsync=fsync, replay=True)
    finish(root, plan)
    return moved


def refusal(root: Path) -> str | None:
    """Why every command refuses the commit journal in `root` (`recover`'s checks; nothing is
    touched), or None: there is none, or the next command finishes it."""
    try:
        _checked_plan(root)
    except CorruptStore as err:
        return str(err)
    return None


def _checked_plan(root: Path) -> CommitPlan | None:
    """The journal's plan after every check a fetch makes (CorruptStore otherwise); None when
    there is no journal."""
    path = root / JOURNAL_NAME
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | BINARY)
    except FileNotFoundError:
        return None
    except OSError as err:
        raise CorruptStore(
            f"the commit journal {path} cannot be read ({err.strerror or err}); {REPAIR_HINT}"
        ) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > _MAX_BYTES:
            raise CorruptStore(f"the commit journal {path} is not a regular file; {REPAIR_HINT}")
        chunks = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
    finally:
        os.close(fd)
    plan = _parse(path, b"".join(chunks))
    check_plan(root, plan)
    return plan


def check_folder(path: Path, what: str) -> bool:
    """Whether the folder `path` exists; CorruptStore (one line naming it) if it is a symlink
    or not a folder: a run would otherwise write, or delete, wherever it leads."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return False
    if stat.S_ISLNK(info.st_mode):
        raise CorruptStore(f"the {what} {path} is a symlink; {REPAIR_HINT}")
    if not stat.S_ISDIR(info.st_mode):
        raise CorruptStore(f"the {what} {path} is not a folder; {REPAIR_HINT}")
    return True


def _check_staged_file(path: Path) -> None:
    """A file the journal moves into the mirror: absent (moved already), or a regular file
    with one link, as the run staged it; never a link to something outside."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1:
        what = "a symlink" if stat.S_ISLNK(info.st_mode) else "not a file the run staged"
        raise CorruptStore(
            f"the commit journal {JOURNAL_NAME} moves {path}, which is {what}; {REPAIR_HINT}"
        )


def folder_in_the_way(path: Path) -> CorruptStore:
    return CorruptStore(f"{path} is a folder where the commit puts a file; {REPAIR_HINT}")


def check_target(path: Path) -> None:
    """A name the commit moves a file to: absent, or anything but a folder (a rename replaces
    a file or a link, never a folder: the commit would stop part-way, and every reader with
    it)."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(info.st_mode):
        raise folder_in_the_way(path)


def _check_removed_file(path: Path) -> None:
    """A record file the journal removes: absent, or not a folder (unlinking a symlink
    removes the link, never what it points to)."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(info.st_mode):
        raise CorruptStore(
            f"the commit journal {JOURNAL_NAME} removes {path}, which is a folder; {REPAIR_HINT}"
        )


def check_plan(root: Path, plan: CommitPlan) -> None:
    """The checks a fetch makes, on every folder and file a journal names: the kind folders,
    the staging folder and its kind folders, each staged file and the name it goes to, each
    file it removes. CorruptStore naming the first that fails; nothing is touched."""
    staging = root / plan.staging
    check_folder(staging, "staging folder")
    for kind in Kind:
        folder = root / kind.value
        check_folder(folder, f"{kind.singular} folder")
        staged = staging / kind.value
        check_folder(staged, "staging folder")
        for name in plan.moves.get(kind.value, []):
            _check_staged_file(staged / (name + PART_SUFFIX))
            check_target(folder / name)
        for name in plan.removals.get(kind.value, []):
            _check_removed_file(folder / name)
    for name, moved in ((INDEX_NAME, plan.index), (MANIFEST_NAME, True)):
        _check_staged_file(staging / (name + PART_SUFFIX))
        if moved:
            check_target(root / name)


def _parse(path: Path, data: bytes) -> CommitPlan:
    def bad(why: str) -> CorruptStore:
        return CorruptStore(f"the commit journal {path} {why}; {REPAIR_HINT}")

    try:
        document: Any = json.loads(data)
    except (ValueError, RecursionError):
        raise bad("is not valid JSON") from None
    if not isinstance(document, dict) or document.get("format") != _FORMAT:
        raise bad("is not a journal this version wrote")
    staging = document.get("staging")
    if (
        not (isinstance(staging, str) and staging.startswith(STAGING_PREFIX) and "/" not in staging)
        or os.sep in staging
    ):
        raise bad("names no staging folder of this data folder")
    plan = CommitPlan(staging=staging, index=document.get("index") is True)
    for key, target in (("moves", plan.moves), ("removals", plan.removals)):
        steps = document.get(key)
        if not isinstance(steps, dict):
            raise bad(f"has no {key}")
        for kind, names in steps.items():
            if kind not in {k.value for k in Kind} or not isinstance(names, list):
                raise bad(f"has an unknown folder {kind!r}")
            if not all(_is_record_name(name) for name in names):
                raise bad("names a file outside its record folders")
            target[kind] = names
    return plan


def _is_record_name(name: object) -> bool:
    return (
        isinstance(name, str)
        and name.endswith(paths.RECORD_SUFFIX)
        and not name.startswith(".")
        and os.path.basename(name) == name
        and "/" not in name
        and "\\" not in name
    )


def _is_complete_record(path: str | Path) -> bool:
    try:
        with open(path, "rb") as staged:
            record = json.loads(staged.read())
    except (OSError, ValueError, RecursionError):
        return False
    return isinstance(record, dict) and "id" in record


READER_PATIENCE = 120.0
"""Seconds a reading command waits for the fetch holding the lock to finish a commit it found
begun (a commit moves files for a few seconds at most; a fetch finishing a dead run's commit
does it first thing)."""


def finish_for_readers(
    root: Path,
    *,
    patience: float = READER_PATIENCE,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], object] = time.sleep,
) -> int | None:
    """For the reading commands: a commit a run began and did not finish is finished before
    anything is read, so that every reader sees one mirror, the one after the commit. None when
    there was none; else how many files it moved into place.

    Under the lock, after the checks a fetch makes (CorruptStore, exit 65, nothing moved). While
    a fetch holds the lock, it is that fetch's to finish: wait (at most `patience` seconds,
    then LockHeld). StoreWriteError (exit 73) when it cannot be finished here (no room, a
    read-only folder): the mirror would be half old and half new, so nothing is shown."""
    journal = root / JOURNAL_NAME
    if not os.path.lexists(journal):
        return None
    from pkgharvest.store.lock import LOCK_NAME, FolderLock  # only on this rare path

    give_up = clock() + patience
    while True:
        try:
            # Root finishing the commit in another user's folder acts for that user: `.lock`,
            # should it have to be made, and any folder are given to the folder's owner.
            owner = owner_of(root)
            held = FolderLock.acquire(root / LOCK_NAME, owner)
            break
        except LockHeld as err:
            if not os.path.lexists(journal):
                return None  # the fetch holding the lock finished it
            if clock() >= give_up:
                raise LockHeld(
                    f"{err}; it has been finishing a commit for {patience:g} s: "
                    "try again when it is done"
                ) from None
            sleep(0.05)
        except OSError as err:
            raise _unfinished(root, err) from None
    try:
        return recover(root, fsync=True, owner=owner)
    except OSError as err:
        raise _unfinished(root, err) from None
    finally:
        held.release()


def _unfinished(root: Path, err: OSError) -> StoreWriteError:
    return StoreWriteError(
        f"a commit into {root} was cut short and cannot be finished now "
        f"({err.strerror or err}): its records are half moved, so nothing is read until it is; "
        "make room (or give write access), then run any command again"
    )
