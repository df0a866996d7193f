"""The targeted run's phases: asked-for grids and packages, in proportion to what is asked.

1. The grids asked for (`--grid`), one detail request each, concurrently.
2. The packages asked for and every member of those grids, one detail request each,
   concurrently (a package is never fetched only to learn its slug).
3. The categories and grids those packages link to: from the mirror where it holds them, else
   from the API (resolve.py: the list when that takes fewer requests, else one each).
4. Stage the packages, then the grids: a grid's members take their slugs from this run or the
   mirror (a member neither holds keeps its id, with no slug).

Requests: 1 (the root) + grids asked + packages asked and members + linked records the mirror
lacks (at most one list's pages per kind when that is fewer): for `--grid G` into an empty
folder at most members + linked grids and categories + 5.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pkgharvest.errors import RecordError
from pkgharvest.fetch.assemble import member_refs
from pkgharvest.fetch.resolve import PackageLinks, Phases, Resolver, package_links
from pkgharvest.records import Kind


@dataclass(frozen=True)
class TargetOutcome:
    """found: targets the API had. not_found: (kind, key) of those it did not (for a "did
    you mean"). integrity_faults: members of asked grids the API does not have."""

    found: int
    not_found: tuple[tuple[str, str], ...]
    integrity_faults: int


class TargetedRun(Phases):
    """Runs the phases above; everything but HTTP happens on the calling thread."""

    def __init__(self, resolver: Resolver) -> None:
        super().__init__(resolver)
        self.found = 0
        self.not_found: list[tuple[str, str]] = []
        self.faults = 0
        self._mirror_slugs: dict[int, str | None] = {}

    def run(self, packages: Iterable[str], grids: Iterable[str]) -> TargetOutcome:
        resolver = self.resolver
        asked_grids: list[int] = []
        for key, raw in resolver.get_each(Kind.GRID, dict.fromkeys(grids)):
            record_id = self._target(Kind.GRID, key, raw)
            if record_id is not None and resolver.take(Kind.GRID, raw, linked=False) is not None:
                asked_grids.append(record_id)
        fetched: dict[int, tuple[dict[str, Any], PackageLinks]] = {}
        for key, raw in resolver.get_each(Kind.PACKAGE, dict.fromkeys(packages)):
            if self._target(Kind.PACKAGE, key, raw) is not None:
                self._add_package(fetched, raw)
        members = [
            package_id
            for grid_id in asked_grids
            for package_id in self.known.drafts[grid_id].member_ids
        ]
        wanted = [i for i in dict.fromkeys(members) if i not in fetched]
        for key, raw in resolver.get_each(Kind.PACKAGE, wanted):
            if raw is None:
                self.faults += 1
                resolver.missing(Kind.PACKAGE, int(key))
            else:
                self._add_package(fetched, raw)
        self._resolve_links(fetched.values())
        for raw, links in fetched.values():
            resolver.stage_package(raw, links)
        for draft in self.known.drafts.values():
            self.stager.grid(draft, member_refs(draft, self._slug))
        self.stats.progress()
        return TargetOutcome(self.found, tuple(self.not_found), self.faults)

    def _target(self, kind: Kind, key: str | int, raw: Any) -> int | None:
        """Count a target found or not; the id of the record found (None if not found)."""
        if raw is None:
            self.stats.counts[kind].failed += 1
            self.not_found.append((kind.value, str(key)))
            self.stats.notice(f"no {kind.singular} {key!r} in the API", topic="not found")
            return None
        self.found += 1
        record_id = raw.get("id") if isinstance(raw, dict) else None
        return record_id if isinstance(record_id, int) else -1

    def _add_package(
        self, fetched: dict[int, tuple[dict[str, Any], PackageLinks]], raw: Any
    ) -> None:
        try:
            links = package_links(raw, self.base, self.stats)
        except RecordError as err:
            self.stager.failed(Kind.PACKAGE, err)
            return
        fetched.setdefault(links.record_id, (raw, links))

    def _resolve_links(self, fetched: Iterable[tuple[dict[str, Any], PackageLinks]]) -> None:
        categories: list[int] = []
        grids: list[int] = []
        for _, links in fetched:
            if links.category is not None:
                categories.append(links.category)
            grids.extend(links.grids)
        for kind, ids in ((Kind.CATEGORY, categories), (Kind.GRID, grids)):
            self.resolver.resolve(
                kind, ids, mirror=self.txn.previous, list_size=len(self.txn.mirror_ids(kind))
            )

    def _slug(self, package_id: int) -> str | None:
        """A member's slug: from this run, else from the mirror (read once per id)."""
        slug = self.known.slugs.get(package_id)
        if slug is not None:
            return slug
        if package_id not in self._mirror_slugs:
            record = self.txn.previous(Kind.PACKAGE, package_id)
            self._mirror_slugs[package_id] = None if record is None else record.get("slug")
        return self._mirror_slugs[package_id]
