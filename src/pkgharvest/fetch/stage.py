"""Normalize and stage: raw records in, staged records and counts out.

The last step before the commit. Each method normalizes one record (pure functions in
normalize.py), puts it into the transaction (which skips unchanged bytes) and counts what
happened; a record too broken to store is counted failed with a notice, and the run goes on.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import pickle
from collections.abc import Mapping, Sequence
from typing import Any

from pkgharvest import __version__
from pkgharvest.api.links import ApiBase
from pkgharvest.errors import RecordError
from pkgharvest.fetch.assemble import GridDraft
from pkgharvest.fetch.normalize import (
    normalize_category,
    normalize_grid,
    normalize_package,
    record_identity,
    ref_of,
)
from pkgharvest.fetch.stats import RunStats
from pkgharvest.records import Kind, PackageRef, Record, Ref
from pkgharvest.store.transaction import Change, Transaction

SOURCE_REVISION = 3
"""Part of every source digest, with the version: bump it when `normalize_package` makes other
bytes from the same input, so that the next run normalizes every record again. (3: the
digest is taken of a pickle, not of JSON text.)"""


def package_source(
    raw: Mapping[str, Any],
    api_url: str,
    category: Ref | None,
    grids: Sequence[Ref],
    problems: Mapping[str, Any],
) -> str | None:
    """The digest of everything `normalize_package` makes a record from (besides the previous
    record, which it reads only to keep commit counts the API did not send: normalizing the
    same input again with the result as the previous record gives the same result).

    None when it can't be taken: the record is then put as usual. One C call (a pickle, which
    writes numbers in binary and text as it is, where JSON would format and escape them) and
    one hash instead of normalizing and serializing. A pickle can be read back, so two inputs
    that differ never give the same bytes (nor do 1, 1.0 and True); equal inputs give the same
    bytes in fast mode, which writes every value in full whatever objects it shares."""
    return _digest([__version__, SOURCE_REVISION, api_url, raw, category, grids, problems])


def grid_source(
    fields: Mapping[str, Any], api_url: str, members: Sequence[PackageRef], problems: Any
) -> str | None:
    """The digest of everything `normalize_grid` makes a grid record from (as `package_source`
    for a package): its fields, its members' references and the links it could not use."""
    return _digest([__version__, SOURCE_REVISION, "grid", api_url, fields, members, problems])


def _digest(inputs: list[Any]) -> str | None:
    out = io.BytesIO()
    pickler = pickle.Pickler(out, protocol=5)
    # Without fast mode (gone from some Python) a value met twice is written as a reference:
    # equal inputs could then differ in bytes, which costs a normalizing, never a wrong keep.
    with contextlib.suppress(AttributeError):
        pickler.fast = True
    try:
        pickler.dump(inputs)
    except (pickle.PicklingError, ValueError, TypeError, RecursionError):
        return None
    return hashlib.blake2b(out.getbuffer(), digest_size=16).hexdigest()


class Stager:
    """Puts normalized records into one transaction, counting each in `stats`."""

    def __init__(self, txn: Transaction, base: ApiBase, stats: RunStats) -> None:
        self.txn = txn
        self.base = base
        self.stats = stats

    def failed(self, kind: Kind, err: RecordError) -> None:
        self.stats.counts[kind].failed += 1
        self.stats.notice(f"skipped a broken {kind.singular} record: {err}", topic="broken")

    def category(self, raw: Any) -> Ref | None:
        """Stage a category; its reference, or None when it is broken."""
        try:
            record_id, _ = record_identity(raw)
            record = normalize_category(raw, api_url=self.base.detail_url(Kind.CATEGORY, record_id))
        except RecordError as err:
            self.failed(Kind.CATEGORY, err)
            return None
        self._put(Kind.CATEGORY, record)
        return ref_of(record)

    def grid(self, draft: GridDraft, members: list[PackageRef]) -> None:
        api_url = self.base.detail_url(Kind.GRID, draft.record_id)
        source = grid_source(draft.fields, api_url, members, draft.problems)
        if source is not None and self.txn.keep_if_same_source(Kind.GRID, draft.record_id, source):
            self._count(Kind.GRID, Change.UNCHANGED)
            return
        record = normalize_grid(
            draft.fields, api_url=api_url, packages=members, link_problems=draft.problems
        )
        self._put(Kind.GRID, record, source=source)

    def package(
        self,
        raw: dict[str, Any],
        *,
        record_id: int,
        slug: str,
        category: Ref | None,
        grids: list[Ref],
        problems: dict[str, Any],
    ) -> str:
        """Stage a package whose links are resolved (`record_id` and `slug`: its identity, as
        `record_identity(raw)` gave them); returns its slug."""
        api_url = self.base.detail_url(Kind.PACKAGE, record_id)
        source = package_source(raw, api_url, category, grids, problems)
        if source is not None and self.txn.keep_if_same_source(Kind.PACKAGE, record_id, source):
            self._count(Kind.PACKAGE, Change.UNCHANGED)
            return slug
        weeks = raw.get("commits_over_52")
        # Only an empty commit list needs the old record (to keep real counts, marked stale).
        previous = self.txn.previous(Kind.PACKAGE, record_id) if not weeks else None
        record = normalize_package(
            raw,
            api_url=api_url,
            category=category,
            grids=grids,
            link_problems=problems,
            previous=previous,
        )
        self._put(Kind.PACKAGE, record, source=source)
        return slug

    def _put(self, kind: Kind, record: Record, *, source: str | None = None) -> None:
        self._count(kind, self.txn.put(kind, record, source=source))

    def _count(self, kind: Kind, change: Change) -> None:
        counts = self.stats.counts[kind]
        counts.seen += 1
        if change is Change.NEW:
            counts.new += 1
        elif change is Change.CHANGED:
            counts.changed += 1
        else:
            counts.unchanged += 1
