"""Normalize and stage: raw records in, staged records and counts out.

The last step before the commit. Each method normalizes one record (pure functions in
normalize.py), puts it into the transaction (which skips unchanged bytes) and counts what
happened; a record too broken to store is counted failed with a notice, and the run goes on.
"""

from __future__ import annotations

from typing import Any

from pkgharvest.assemble import GridDraft
from pkgharvest.errors import RecordError
from pkgharvest.links import ApiBase
from pkgharvest.normalize import (
    normalize_category,
    normalize_grid,
    normalize_package,
    record_identity,
    ref_of,
)
from pkgharvest.records import Kind, PackageRef, Record, Ref
from pkgharvest.stats import RunStats
from pkgharvest.store import Change, Transaction


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
        record = normalize_grid(
            draft.fields,
            api_url=self.base.detail_url(Kind.GRID, draft.record_id),
            packages=members,
            link_problems=draft.problems,
        )
        self._put(Kind.GRID, record)

    def package(
        self,
        raw: dict[str, Any],
        *,
        record_id: int,
        category: Ref | None,
        grids: list[Ref],
        problems: dict[str, Any],
    ) -> str:
        """Stage a package whose links are resolved; returns its slug."""
        weeks = raw.get("commits_over_52")
        # Only an empty commit list needs the old record (to keep real counts, marked stale).
        previous = self.txn.previous(Kind.PACKAGE, record_id) if not weeks else None
        record = normalize_package(
            raw,
            api_url=self.base.detail_url(Kind.PACKAGE, record_id),
            category=category,
            grids=grids,
            link_problems=problems,
            previous=previous,
        )
        self._put(Kind.PACKAGE, record)
        slug: str = record["slug"]
        return slug

    def _put(self, kind: Kind, record: Record) -> None:
        change = self.txn.put(kind, record)
        counts = self.stats.counts[kind]
        counts.seen += 1
        if change is Change.NEW:
            counts.new += 1
        elif change is Change.CHANGED:
            counts.changed += 1
        else:
            counts.unchanged += 1
