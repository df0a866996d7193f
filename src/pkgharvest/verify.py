"""`pkgharvest verify`: check a data folder against its own contract, without changing it.

Checks, each a function `(VerifyContext) -> Iterable[Problem]` listed in CHECKS (the extension
point: a new store file, such as the catalogue database, adds its check there):

- records: every `*.json` in a kind folder is a regular file (a folder or a symlink of that
  name is named: every command skips it) that parses (UTF-8, a JSON object, an integer `id`
  from 1 to 2^53 - 1, a text `slug`), holds every field of its kind, and has the name
  `paths.record_filename(slug, id)` or the fallback `_id-<id>.json`; no id is held by two files;
- manifest: the manifest parses and its `records` counts match the files;
- references: no grid member, package category or package grid with a known slug points at a
  record the mirror does not hold (checked after a complete catalogue run only: a targeted
  fetch legitimately names records it did not fetch; a ref whose slug is null is a link the
  API itself could not resolve, recorded as such, not a dangling one);
- index: `.index.json` is absent or an index this version wrote (a cache, but one a run trusts
  for which file holds which id);
- leftovers: no commit journal, staging folder, temporary file or unfinished (`.part`)
  file left by a run that died (skipped while a fetch holds the lock: those are then its work
  in progress);
- catalogue database: `catalogue.db` and the files beside it follow the file rules (regular,
  one link, the folder's owner), it is pkgharvest's schema of a version this one reads, passes
  SQLite's quick check, holds no value of a type pkgharvest never writes, its log is SQLite's,
  and, when it says it is in step with the manifest, it holds exactly the records of the files,
  column for column (catalogue/audit.py).

Pure core: no typer, no rich, nothing written.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pkgharvest.errors import CorruptStore, StoreError
from pkgharvest.records import (
    CATEGORY_FIELDS,
    GRID_FIELDS,
    MAX_INTEGER,
    PACKAGE_FIELDS,
    Kind,
    Record,
    is_record_id,
)
from pkgharvest.store.fileio import PART_SUFFIX, TEMP_SUFFIX
from pkgharvest.store.index import INDEX_NAME, index_problem
from pkgharvest.store.journal import JOURNAL_NAME, STAGING_PREFIX, refusal
from pkgharvest.store.lock import LOCK_NAME, lock_facts
from pkgharvest.store.manifest import MANIFEST_NAME, parse_manifest, read_manifest_bytes
from pkgharvest.store.paths import RECORD_SUFFIX, fallback_stem, record_filename
from pkgharvest.store.recordfile import describe_id

SHOWN_PROBLEMS = 20
"""Problems printed one per line; the rest are counted."""

_FIELDS: dict[Kind, tuple[str, ...]] = {
    Kind.PACKAGE: PACKAGE_FIELDS,
    Kind.GRID: GRID_FIELDS,
    Kind.CATEGORY: CATEGORY_FIELDS,
}
# Names a run uses for its unfinished work: a staging folder in the root, and temporary or
# unfinished files anywhere.
_UNFINISHED_SUFFIXES = (TEMP_SUFFIX, PART_SUFFIX)


@dataclass(frozen=True)
class Problem:
    """One thing wrong: the file (or folder) it is about, and what is wrong, in words.

    Attributes:
        check: which check found it ("records", "manifest", "references", "leftovers", ...).
        path: the file or folder concerned.
        message: one line.
    """

    check: str
    path: Path
    message: str

    def line(self) -> str:
        return f"{self.path}: {self.message}"

    def as_dict(self) -> dict[str, str]:
        return {"check": self.check, "path": str(self.path), "problem": self.message}


@dataclass
class VerifyContext:
    """What the checks share: the folder, its manifest, and the records read once.

    Attributes:
        root: the data folder.
        manifest: the parsed manifest, or None when missing or broken.
        manifest_bytes: the manifest file's bytes as read (the catalogue's stamp is their
            digest), or None when it could not be read.
        records: per kind, id -> (file, record) for every record file that parsed.
        unreadable: per kind, record files that did not (already reported; still counted
            as files when the manifest's counts are compared, so one problem is one line).
        lock_held: a fetch is running (its staging files are not leftovers).
        notes: things not checked, and why (for the summary).
    """

    root: Path
    manifest: dict[str, Any] | None = None
    manifest_bytes: bytes | None = None
    records: dict[Kind, dict[int, tuple[Path, Record]]] = field(default_factory=dict)
    unreadable: dict[Kind, int] = field(default_factory=dict)
    lock_held: bool = False
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class VerifyReport:
    """The outcome of `verify`.

    Attributes:
        root: the data folder.
        problems: everything found, in check order.
        records: record files that parsed, per kind.
        checks: the checks that ran, in order.
        notes: what was not checked, and why.
    """

    root: Path
    problems: tuple[Problem, ...]
    records: dict[str, int]
    checks: tuple[str, ...]
    notes: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {
            "data_dir": str(self.root),
            "ok": self.ok,
            "problems": [p.as_dict() for p in self.problems],
            "records": self.records,
            "checks": list(self.checks),
            "notes": list(self.notes),
        }


# --- the checks --------------------------------------------------------------------------


def check_manifest(ctx: VerifyContext) -> Iterator[Problem]:
    path = ctx.root / MANIFEST_NAME
    try:
        # The readers' own rule (manifest.read_manifest_bytes): a symlink is never followed,
        # a folder or device there is a problem of its own.
        ctx.manifest_bytes = read_manifest_bytes(path)
        if ctx.manifest_bytes is None:
            yield Problem("manifest", path, "missing: no run has committed to this folder")
            return
        ctx.manifest = parse_manifest(path, ctx.manifest_bytes)
    except CorruptStore as err:
        yield Problem("manifest", path, _first_clause(str(err)))
    except StoreError as err:
        yield Problem("manifest", path, f"cannot be read: {str(err).rsplit(': ', 1)[-1]}")


def _first_clause(message: str) -> str:
    """'the manifest X is not valid JSON (...); move it away...' -> 'is not valid JSON (...)'."""
    text = message.split("; move it away", 1)[0]
    for prefix in ("the manifest ", "the record file "):
        if text.startswith(prefix):
            text = text[len(prefix) :].split(" ", 1)[-1]
    return text


def _parse(path: Path, kind: Kind) -> tuple[Record | None, str | None]:
    """The record in `path`, or None and what is wrong with it."""
    try:
        data = path.read_bytes()
    except OSError as err:
        return None, f"cannot be read: {err.strerror or err}"
    try:
        record = json.loads(data)
    except UnicodeDecodeError as err:
        return None, f"is not UTF-8 text (byte {err.start})"
    except json.JSONDecodeError as err:
        return None, f"is not valid JSON ({err.msg}, line {err.lineno} column {err.colno})"
    except (ValueError, RecursionError) as err:  # an integer of 5,000 digits, [[[[...
        return None, f"is not JSON this version reads ({err})"
    if not isinstance(record, dict):
        return None, "is not a JSON object"
    record_id = record.get("id")
    if not isinstance(record_id, int) or isinstance(record_id, bool):
        return None, 'has no integer "id"'
    if not isinstance(record.get("slug"), str):
        return None, 'has no text "slug"'
    if not is_record_id(record_id):
        return None, (
            f"holds {describe_id(record_id)}, and ids run from 1 to {MAX_INTEGER:,}: readers "
            "leave it out, the next fetch replaces it"
        )
    missing = [name for name in _FIELDS[kind] if name not in record]
    if missing:
        return record, f"lacks the {kind.singular} fields {', '.join(missing)}"
    return record, None


def check_records(ctx: VerifyContext) -> Iterator[Problem]:
    for kind in Kind:
        folder = ctx.root / kind.value
        found: dict[int, tuple[Path, Record]] = {}
        ctx.records[kind] = found
        try:
            with os.scandir(folder) as entries:
                listed = sorted(
                    (e.name, e.is_file(follow_symlinks=False), e.is_symlink(), e.is_dir())
                    for e in entries
                )
        except FileNotFoundError:
            continue
        except OSError as err:
            yield Problem("records", folder, f"cannot be listed: {err.strerror or err}")
            continue
        for name, regular, link, directory in listed:
            if name.startswith(".") or not name.endswith(RECORD_SUFFIX):
                continue  # leftovers are the leftovers check's business
            path = folder / name
            if not regular:
                what = "a symlink" if link else "a folder" if directory else "not a regular file"
                advice = "every command skips it"
                if directory:  # a rename cannot replace a folder (journal.check_target)
                    advice += ", and a fetch that must write this name stops: move it away"
                yield Problem("records", path, f"is {what}, not a record file: {advice}")
                continue
            record, problem = _parse(path, kind)
            if problem is not None:
                yield Problem("records", path, problem)
            if record is None:
                ctx.unreadable[kind] = ctx.unreadable.get(kind, 0) + 1
                continue
            record_id: int = record["id"]
            expected = record_filename(record["slug"], record_id)
            if name not in (expected, fallback_stem(record_id) + RECORD_SUFFIX):
                yield Problem(
                    "records",
                    path,
                    f"holds {kind.singular} {record['slug']!r} (id {record_id}): its file name "
                    f"should be {expected}",
                )
            if record_id in found:
                yield Problem(
                    "records",
                    path,
                    f"holds id {record_id}, which {found[record_id][0].name} holds too",
                )
                continue
            found[record_id] = (path, record)


def check_manifest_counts(ctx: VerifyContext) -> Iterator[Problem]:
    if ctx.manifest is None:
        return
    counts = ctx.manifest.get("records")
    path = ctx.root / MANIFEST_NAME
    if not isinstance(counts, dict):
        yield Problem("manifest", path, 'has no "records" counts')
        return
    for kind in Kind:
        held = len(ctx.records.get(kind, {})) + ctx.unreadable.get(kind, 0)
        said = counts.get(kind.value)
        if said != held:
            yield Problem(
                "manifest",
                path,
                f"says {said} {kind.value}, the folder holds {held}",
            )


def _last_run_was_complete_catalogue(manifest: dict[str, Any] | None) -> bool:
    run = (manifest or {}).get("last_run")
    return (
        isinstance(run, dict)
        and run.get("complete") is True
        and run.get("scope", "catalogue") == "catalogue"
    )


def check_references(ctx: VerifyContext) -> Iterator[Problem]:
    if not _last_run_was_complete_catalogue(ctx.manifest):
        ctx.notes.append(
            "references not checked: the last run was not a complete catalogue fetch "
            "(a targeted or partial fetch may name records it did not fetch)"
        )
        return
    packages = ctx.records.get(Kind.PACKAGE, {})
    grids = ctx.records.get(Kind.GRID, {})
    categories = ctx.records.get(Kind.CATEGORY, {})
    for path, grid in grids.values():
        yield from _dangling(path, "lists package", grid.get("packages"), packages)
    for path, package in packages.values():
        yield from _dangling(path, "names category", [package.get("category")], categories)
        yield from _dangling(path, "names grid", package.get("grids"), grids)


def _dangling(
    path: Path, verb: str, refs: object, held: dict[int, tuple[Path, Record]]
) -> Iterator[Problem]:
    """A problem for each ref with a known slug to an id the mirror does not hold (a null slug
    is a link the API could not resolve, recorded as such)."""
    for ref in refs if isinstance(refs, list) else []:
        if not isinstance(ref, dict) or not isinstance(ref.get("slug"), str):
            continue
        ref_id = ref.get("id")
        if isinstance(ref_id, int) and ref_id not in held:
            yield Problem(
                "references",
                path,
                f"{verb} {ref['slug']!r} (id {ref_id}), which the mirror does not hold",
            )


def check_index(ctx: VerifyContext) -> Iterator[Problem]:
    """`.index.json`, a cache of digests: absent, or an index this version wrote."""
    problem = index_problem(ctx.root)
    if problem is not None:
        yield Problem(
            "index",
            ctx.root / INDEX_NAME,
            f"{problem}; it is a cache: the next fetch writes it again (deleting it is harmless)",
        )


def check_lock(ctx: VerifyContext) -> Iterator[Problem]:
    """`.lock`: absent, or a regular file with one name, as fetch requires (it refuses anything
    else with exit 65: lock.py)."""
    path = ctx.root / LOCK_NAME
    try:
        info = os.lstat(path)
    except OSError:
        return
    if stat.S_ISLNK(info.st_mode):
        what = "a symlink"
    elif not stat.S_ISREG(info.st_mode):
        what = "not a regular file"
    elif info.st_nlink != 1:
        what = f"a hard link ({info.st_nlink} names)"
    else:
        return
    yield Problem("lock", path, f"is {what}: fetch refuses to run until it is moved away")


def check_leftovers(ctx: VerifyContext) -> Iterator[Problem]:
    if ctx.lock_held:
        ctx.notes.append("leftovers not checked: a fetch is running (its staging is in use)")
        return
    for folder in (ctx.root, *(ctx.root / kind.value for kind in Kind)):
        try:
            with os.scandir(folder) as entries:
                listed = sorted(entries, key=lambda e: e.name)
        except OSError:
            continue
        for entry in listed:
            name = entry.name
            if name == LOCK_NAME and folder == ctx.root:
                continue
            if folder == ctx.root and name == JOURNAL_NAME:
                refused = refusal(ctx.root)
                yield Problem(
                    "leftovers",
                    Path(entry.path),
                    "a commit that did not finish: the next command finishes it before "
                    "anything else"
                    if refused is None
                    else f"a commit journal every command refuses (exit 65): {refused}",
                )
            elif folder == ctx.root and name.startswith(STAGING_PREFIX):
                yield Problem(
                    "leftovers", Path(entry.path), "a staging folder left by a run that died"
                )
            elif name.endswith(_UNFINISHED_SUFFIXES):
                yield Problem(
                    "leftovers", Path(entry.path), "an unfinished file left by a run that died"
                )


def check_catalogue(ctx: VerifyContext) -> Iterator[Problem]:
    """The catalogue database and the files beside it: the file rules (no link, one owner),
    SQLite's integrity check, pkgharvest's schema of this version, every value of its type, a
    log SQLite wrote; and, when it says it is in step with this manifest, exactly the records
    of the files, column for column (a database behind the manifest is allowed: the next
    reading command catches it up). Opened read-only: verify changes nothing."""
    from pkgharvest.catalogue.audit import compare_safely, examine

    stamp = hashlib.sha256(ctx.manifest_bytes).hexdigest() if ctx.manifest_bytes else None
    found = examine(ctx.root, stamp)
    try:
        for path, problem in found.problems:
            yield Problem("catalogue", path, problem)
        ctx.notes.extend(found.notes)
        if found.state == "missing" and not found.notes:
            ctx.notes.append(
                "catalogue.db not checked: there is none yet (the next reading command "
                "builds it from the files)"
            )
        elif found.state == "behind":
            ctx.notes.append(
                "catalogue.db not compared: it is behind the manifest (the next reading "
                "command catches it up from the files)"
            )
        elif found.conn is not None and found.in_step and not found.problems:
            path = ctx.root / "catalogue.db"
            for problem in compare_safely(found.conn, path, ctx.records):
                yield Problem("catalogue", path, problem)
    finally:
        found.close()


Check = Callable[[VerifyContext], Iterable[Problem]]

CHECKS: list[tuple[str, Check]] = [
    ("manifest", check_manifest),
    ("records", check_records),
    ("manifest counts", check_manifest_counts),
    ("references", check_references),
    ("index", check_index),
    ("lock file", check_lock),
    ("leftovers", check_leftovers),
    ("catalogue database", check_catalogue),
]
"""Every check, in order (later ones use what earlier ones read). A file added to the data
folder later appends its own check here, as the catalogue database did."""


def verify(root: Path) -> VerifyReport:
    """Run every check on the data folder `root`; StoreError if it is not a folder at all."""
    root = root.absolute()
    if not root.is_dir():
        raise StoreError(f"{root} is not a folder: nothing to verify")
    ctx = VerifyContext(root=root, lock_held=lock_facts(root).held)
    problems: list[Problem] = []
    for _, check in CHECKS:
        problems.extend(check(ctx))
    return VerifyReport(
        root=root,
        problems=tuple(problems),
        records={kind.value: len(ctx.records.get(kind, {})) for kind in Kind},
        checks=tuple(name for name, _ in CHECKS),
        notes=tuple(ctx.notes),
    )
