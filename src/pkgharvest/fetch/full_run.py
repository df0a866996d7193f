"""The catalogue run's phases: lists, links no list covered, grids, integrity.

1. Crawl the three lists (categories, grids, packages; crawl.py proves each complete). A
   package whose links all resolve from the lists is staged at once; the rare one linking a
   category or grid no list showed waits.
2. Resolve those links (resolve.py), then stage the waiting packages.
3. Grids were listed before the packages: re-read the grids whose member lists disagree with
   the packages (assemble.py), look up members newer than the package list (capped), and count
   the rest missing without a request each.
4. Stage the grids, and count what still breaks referential integrity.
"""

from __future__ import annotations

from array import array
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from pkgharvest.errors import RecordError
from pkgharvest.fetch.assemble import dangling_members, member_refs, stale_grids, worth_a_lookup
from pkgharvest.fetch.crawl import ListOutcome
from pkgharvest.fetch.removal import KindEvidence
from pkgharvest.fetch.resolve import PackageLinks, Phases, Resolver, package_links
from pkgharvest.records import Kind

MAX_LOOKUPS = 50
"""Detail requests per kind for records no complete list showed (newer ones only)."""


@dataclass(frozen=True)
class CatalogueOutcome:
    """What the catalogue phases proved, for the removal plan.

    evidence: per kind. integrity_faults: links in staged records to records the mirror will
    not hold (a grid member, a package's grid or category); an exit-0 run has none.
    """

    evidence: dict[Kind, KindEvidence]
    integrity_faults: int


CRAWL_ORDER = (Kind.CATEGORY, Kind.GRID, Kind.PACKAGE)
"""The lists in the order they are read: a package's links name grids and a category."""


class CatalogueRun(Phases):
    """Runs the phases above; everything but HTTP happens on the calling thread."""

    def __init__(self, resolver: Resolver) -> None:
        super().__init__(resolver)
        self.claims: dict[int, array[int]] = {}  # grid id -> packages naming it
        self.category_claims: Counter[int] = Counter()
        self.waiting: list[tuple[dict[str, Any], PackageLinks]] = []
        self.outcomes: dict[Kind, ListOutcome] = {}
        self.gone_grids: set[int] = set()

    def run(self) -> CatalogueOutcome:
        resolver = self.resolver
        crawler = resolver.crawler()
        # The three first pages at once (within --concurrency), then each list in turn.
        first = {kind: crawler.request_first_page(kind) for kind in CRAWL_ORDER}
        self.txn.load_indexes()  # the mirror as it is, read while the first pages travel
        take: dict[Kind, Callable[[Any], object]] = {
            Kind.CATEGORY: lambda raw: resolver.take(Kind.CATEGORY, raw, linked=False),
            Kind.GRID: lambda raw: resolver.take(Kind.GRID, raw, linked=False),
            Kind.PACKAGE: self._package,
        }
        for kind in CRAWL_ORDER:
            reading = crawler.read(kind, first=first.pop(kind))
            for records in reading:
                self._handle(records, take[kind])
            self.outcomes[kind] = reading.outcome
        self._resolve_waiting()
        self._settle_grids()
        for draft in self.known.drafts.values():
            self.stager.grid(draft, member_refs(draft, self.known.slugs.get))
        self.stats.progress()
        return CatalogueOutcome(self._evidence(), self._integrity_faults())

    # -- phase 1 -------------------------------------------------------------------------------

    def _handle(self, records: list[Any], take: Callable[[Any], object]) -> None:
        records.reverse()
        while records:  # each record let go once handled (crawl.py: a page's memory)
            take(records.pop())
        # Grid drafts are staged at the end; until then they count as read.
        self.stats.progress(ahead={Kind.GRID: len(self.known.drafts)})

    def _package(self, raw: Any) -> None:
        try:
            links = package_links(raw, self.base, self.stats)
        except RecordError as err:
            self.stager.failed(Kind.PACKAGE, err)
            return
        if links.record_id in self.known.slugs:
            return  # looked up through a link already
        for grid_id in links.grids:
            self.claims.setdefault(grid_id, array("q")).append(links.record_id)
        if links.category is not None:
            self.category_claims[links.category] += 1
        if self._resolved(links):
            self.resolver.stage_package(raw, links)
        else:
            self.waiting.append((raw, links))

    def _resolved(self, links: PackageLinks) -> bool:
        known = self.known
        return (links.category is None or known.is_resolved(Kind.CATEGORY, links.category)) and all(
            known.is_resolved(Kind.GRID, grid_id) for grid_id in links.grids
        )

    # -- phase 2 -------------------------------------------------------------------------------

    def _resolve_waiting(self) -> None:
        for kind in (Kind.CATEGORY, Kind.GRID):
            wanted: list[int] = []
            for _, links in self.waiting:
                named = links.grids if kind is Kind.GRID else (links.category,)
                wanted.extend(i for i in named if i is not None)
            self._follow(kind, wanted)
        for raw, links in self.waiting:
            self.resolver.stage_package(raw, links)
        self.waiting.clear()

    def _follow(self, kind: Kind, ids: Iterable[int]) -> None:
        """Look up linked records no list showed: only those newer than a complete list's
        newest (ids are never reused), at most MAX_LOOKUPS; the rest are missing."""
        unknown = [i for i in dict.fromkeys(ids) if not self.known.is_resolved(kind, i)]
        outcome = self.outcomes[kind]
        lookups = (
            worth_a_lookup(unknown, max(outcome.ids, default=0)) if outcome.complete else unknown
        )
        lookups = lookups[:MAX_LOOKUPS]
        self.resolver.resolve(kind, lookups, allow_list=False)
        for record_id in unknown:
            if not self.known.is_resolved(kind, record_id):
                self.resolver.missing(kind, record_id)

    # -- phase 3 -------------------------------------------------------------------------------

    def _held_packages(self) -> set[int]:
        return set(self.outcomes[Kind.PACKAGE].present) | self.known.linked[Kind.PACKAGE]

    def _members(self) -> dict[int, array[int]]:
        return {grid_id: draft.member_ids for grid_id, draft in self.known.drafts.items()}

    def _settle_grids(self) -> None:
        listed = self.outcomes[Kind.PACKAGE].present
        stale = stale_grids(self._members(), self.claims, listed, self._held_packages())
        if stale:
            self.stats.notice(
                f"{len(stale)} grids changed while the packages were read; reading them again",
                topic="drift",
            )
            for key, raw in self.resolver.get_each(Kind.GRID, sorted(stale)):
                if raw is None:  # deleted meanwhile
                    self.gone_grids.add(int(key))
                    del self.known.drafts[int(key)]
                else:
                    self.resolver.take(Kind.GRID, raw, linked=False)
        absent = set().union(*dangling_members(self._members(), self._held_packages()).values())
        if not absent:
            return
        outcome = self.outcomes[Kind.PACKAGE]
        lookups = worth_a_lookup(absent, max(outcome.ids, default=0)) if outcome.complete else []
        found = []
        for key, raw in self.resolver.get_each(Kind.PACKAGE, lookups[:MAX_LOOKUPS]):
            if raw is not None:
                try:
                    links = package_links(raw, self.base, self.stats)
                except RecordError as err:
                    self.stager.failed(Kind.PACKAGE, err)
                    continue
                if links.record_id == key:
                    found.append((raw, links))
                    self.known.linked[Kind.PACKAGE].add(links.record_id)
                    for grid_id in links.grids:
                        self.claims.setdefault(grid_id, array("q")).append(links.record_id)
        for kind in (Kind.CATEGORY, Kind.GRID):
            named = [
                i
                for _, links in found
                for i in (links.grids if kind is Kind.GRID else (links.category,))
            ]
            self._follow(kind, [i for i in named if i is not None])
        for raw, links in found:
            self.resolver.stage_package(raw, links)
        still = absent - self._held_packages()
        if still:
            self.stats.counts[Kind.PACKAGE].missing += len(still)
            self.stats.notice(
                f"grids list {len(still)} packages the API does not have "
                f"(e.g. {', '.join(map(str, sorted(still)[:5]))})",
                topic="missing links",
            )

    # -- phase 4 -------------------------------------------------------------------------------

    def _integrity_faults(self) -> int:
        held_packages = self._held_packages()
        faults = sum(len(a) for a in dangling_members(self._members(), held_packages).values())
        held_grids = set(self.known.drafts)
        faults += sum(len(v) for k, v in self.claims.items() if k not in held_grids)
        held_categories = set(self.known.refs[Kind.CATEGORY])
        faults += sum(n for k, n in self.category_claims.items() if k not in held_categories)
        return faults

    def _evidence(self) -> dict[Kind, KindEvidence]:
        evidence = {}
        for kind, outcome in self.outcomes.items():
            listed = set(outcome.present) - (self.gone_grids if kind is Kind.GRID else set())
            evidence[kind] = KindEvidence(
                listed=listed,
                complete=outcome.complete,
                problem=outcome.problem,
                linked=self.known.linked[kind],
                held=self.txn.mirror_ids(kind),
                staged=self.txn.put_ids(kind),
            )
        return evidence
