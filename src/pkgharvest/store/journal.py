"""The commit's journal: what makes a commit all-or-nothing as a user sees it.

Before a commit moves the first staged file into place, it writes `<root>/.commit-journal.json`
(atomically, fsynced) listing every move (staging file -> record file), every removal, and
whether the index and the manifest follow. The moves and removals are then done, the manifest
replaced last, and the journal removed. If the process dies in between (kill -9, power loss) or
a move fails (a disk that filled up after all), the journal stays, and the next `fetch` reads
it first and rolls the commit forward: every step is idempotent (a move whose staging file is
gone was done; a removal of a missing file was done), so replaying it from the start finishes
exactly the commit that was begun. Only then is the staging folder removed.

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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pkgharvest.errors import CorruptStore, PkgHarvestError
from pkgharvest.records import Kind
from pkgharvest.store import paths
from pkgharvest.store.fileio import BINARY, PART_SUFFIX, atomic_write_bytes, fsync_dir
from pkgharvest.store.index import INDEX_NAME
from pkgharvest.store.manifest import MANIFEST_NAME
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


def write(root: Path, plan: CommitPlan) -> None:
    """Make the journal durable before the first move."""
    atomic_write_bytes(root / JOURNAL_NAME, plan.to_bytes(), fsync=True)


def apply(root: Path, plan: CommitPlan, *, fsync: bool, replay: bool = False) -> int:
    """Do the plan's moves, removals, index and manifest, in that order; returns how many files
    were moved. `replay`: a step already done (its source gone) is skipped, and a staged record
    that is not a complete JSON object (power lost before it reached the disk) is left out."""
    staging = root / plan.staging
    moved = 0
    for kind in Kind:
        # Paths as text: three pathlib joins per file cost a first run of 6,000 records ~0.1 s.
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


def recover(root: Path, *, fsync: bool) -> int | None:
    """Roll forward a commit a dead or failed run left (call under the lock, before staging
    folders are cleaned). None when there was none; else how many files it moved into place.
    CorruptStore if the journal is not one this version wrote."""
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
    moved = apply(root, plan, fsync=fsync, replay=True)
    finish(root, plan)
    return moved


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


def finish_for_readers(root: Path) -> int | None:
    """For the reading commands: finish a commit a dead run left, so that they too see the
    mirror whole. Only when no run holds the lock (a running fetch finishes it itself) and the
    folder can be written; otherwise it is left for the next `fetch`. Never raises."""
    if not os.path.lexists(root / JOURNAL_NAME):
        return None
    from pkgharvest.store.lock import LOCK_NAME, FolderLock  # only on this rare path

    try:
        held = FolderLock.acquire(root / LOCK_NAME)
    except (OSError, PkgHarvestError):
        return None
    try:
        return recover(root, fsync=True)
    except (OSError, PkgHarvestError):
        return None
    finally:
        held.release()
