"""Link resolution: turning the ids that links name into references, as a worklist.

Packages link their category and grids by URL; a package record stores `{"id", "slug",
"title"}` for each, and a grid record `{"id", "slug"}` for each member. This stage reads the
links (`package_links`, `grid_draft`) and resolves what a run needs, cheapest source first:
what this run already read, then what the mirror holds, then the API: a list endpoint when
many are wanted (one request resolves a hundred), else one detail request each, concurrently.
Records fetched here are handed back (categories staged, grids as drafts); nothing fetched here
causes more fetching, so the stage never re-enters itself.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from pkgharvest.api.client import ApiClient
from pkgharvest.api.links import ApiBase
from pkgharvest.errors import ApiNotFound, ForeignLink, RecordError, UnexpectedStatus
from pkgharvest.fetch.assemble import GridDraft
from pkgharvest.fetch.crawl import ListCrawler, bounded_map, pages_for
from pkgharvest.fetch.normalize import missing_ref, record_identity, ref_of
from pkgharvest.fetch.stage import Stager
from pkgharvest.fetch.stats import RunStats
from pkgharvest.records import Kind, Ref

LIST_SIZE_GUESS = {Kind.CATEGORY: 5, Kind.GRID: 400, Kind.PACKAGE: 6000}
"""Records per list when the mirror cannot tell (API.md: 5 categories, ~380 grids)."""


@dataclass(frozen=True, slots=True)
class PackageLinks:
    """The ids a package's links name, and what could not be used (for `invalid`)."""

    record_id: int
    category: int | None
    grids: tuple[int, ...]
    problems: dict[str, Any]
    slug: str


@dataclass
class Known:
    """What the run has learnt, by id: the resolution stage's memory.

    refs: category and grid references. slugs: package slugs (packages keep only that: 30,000
    of them). drafts: grids waiting for their members' slugs. linked: ids fetched through a
    link (they exist). missing: ids the API does not have.
    """

    refs: dict[Kind, dict[int, Ref]] = field(
        default_factory=lambda: {Kind.CATEGORY: {}, Kind.GRID: {}}
    )
    slugs: dict[int, str] = field(default_factory=dict)
    drafts: dict[int, GridDraft] = field(default_factory=dict)
    linked: dict[Kind, set[int]] = field(default_factory=lambda: {kind: set() for kind in Kind})
    missing: dict[Kind, set[int]] = field(default_factory=lambda: {kind: set() for kind in Kind})

    def ref(self, kind: Kind, record_id: int) -> Ref:
        return self.refs[kind].get(record_id) or missing_ref(record_id)

    def is_resolved(self, kind: Kind, record_id: int) -> bool:
        return record_id in self.refs[kind] or record_id in self.missing[kind]

    def add_draft(self, draft: GridDraft) -> None:
        self.drafts[draft.record_id] = draft
        self.refs[Kind.GRID][draft.record_id] = draft.ref()


def _link_ids(links: object, kind: Kind, base: ApiBase, stats: RunStats) -> tuple[list[int], Any]:
    """Ids of the `kind` records that `links` name, and what could not be used (None when all
    was well): foreign links are reported, and never followed."""
    if links is None:
        return [], None
    if not isinstance(links, list):
        return [], links
    ids: list[int] = []
    bad: list[Any] = []
    for link in links:
        try:
            ids.append(base.record_link(link, kind))
        except ForeignLink as err:
            bad.append(link)
            stats.notice(str(err), topic="foreign links")
        except ValueError:
            bad.append(link)
    return ids, (bad or None)


def package_links(raw: Any, base: ApiBase, stats: RunStats) -> PackageLinks:
    """A package's links as ids; RecordError when the record has no usable identity."""
    record_id, slug = record_identity(raw)
    problems: dict[str, Any] = {}
    category = None
    if raw.get("category") is not None:
        category_ids, bad = _link_ids([raw["category"]], Kind.CATEGORY, base, stats)
        if bad:
            problems["category"] = raw["category"]
        category = category_ids[0] if category_ids else None
    grid_ids, bad_grids = _link_ids(raw.get("grids"), Kind.GRID, base, stats)
    if bad_grids:
        problems["grids"] = bad_grids
    return PackageLinks(record_id, category, tuple(grid_ids), problems, slug)


def grid_draft(raw: Any, base: ApiBase, stats: RunStats) -> GridDraft:
    """A grid as a draft; RecordError when the record has no usable identity."""
    record_id, _ = record_identity(raw)
    member_ids, bad = _link_ids(raw.get("packages"), Kind.PACKAGE, base, stats)
    fields = {key: value for key, value in raw.items() if key != "packages"}
    return GridDraft(record_id, fields, array("q", member_ids), {"packages": bad} if bad else {})


class Resolver:
    """Resolves category and grid ids into `known`, and fetches records by key."""

    def __init__(
        self,
        *,
        client: ApiClient,
        pool: ThreadPoolExecutor,
        concurrency: int,
        page_size: int,
        stats: RunStats,
        stager: Stager,
        known: Known,
    ) -> None:
        self.client = client
        self.pool = pool
        self.concurrency = concurrency
        self.window = concurrency * 2
        self.page_size = page_size
        self.stats = stats
        self.stager = stager
        self.known = known

    # -- one record per request ------------------------------------------------------------

    def get_each(
        self, kind: Kind, keys: Iterable[str | int]
    ) -> Iterator[tuple[str | int, dict[str, Any] | None]]:
        """Detail records of `kind` by id or slug, concurrently; None for a 404 (or another
        answer that says this record cannot be had, which is also noted)."""

        def get(key: str | int) -> dict[str, Any] | None:
            try:
                return self.client.get_record(kind, key)
            except ApiNotFound:
                return None
            except UnexpectedStatus as err:
                self.stats.notice(str(err), topic="unexpected status")
                return None

        for key, future in bounded_map(self.pool, get, keys, window=self.window):
            yield key, future.result()

    def take(self, kind: Kind, raw: Any, *, linked: bool) -> int | None:
        """Keep a category (staged) or grid (as a draft) the API sent; its id, None if broken."""
        try:
            if kind is Kind.CATEGORY:
                ref = self.stager.category(raw)
                if ref is None:
                    return None
                self.known.refs[Kind.CATEGORY][ref["id"]] = ref
                record_id: int = ref["id"]
            else:
                draft = grid_draft(raw, self.client.base, self.stats)
                self.known.add_draft(draft)
                record_id = draft.record_id
        except RecordError as err:
            self.stager.failed(kind, err)
            return None
        if linked:
            self.known.linked[kind].add(record_id)
        return record_id

    # -- links -------------------------------------------------------------------------------

    def resolve(
        self,
        kind: Kind,
        ids: Iterable[int],
        *,
        mirror: Callable[[Kind, int], dict[str, Any] | None] | None = None,
        list_size: int | None = None,
        allow_list: bool = True,
    ) -> None:
        """Make every id in `ids` known or missing.

        mirror: where to look first (targeted runs: the mirror's record, whose reference is
        good enough). list_size: how many records the list holds (None: a guess); when more
        ids are wanted than reading the list takes pages, the list is read instead of each
        record (unless `allow_list` is False: a catalogue run has just read it).
        """
        wanted = [i for i in dict.fromkeys(ids) if not self.known.is_resolved(kind, i)]
        if mirror is not None:
            for record_id in list(wanted):
                record = mirror(kind, record_id)
                if record is not None:
                    self.known.refs[kind][record_id] = ref_of(record)
            wanted = [i for i in wanted if not self.known.is_resolved(kind, i)]
        if not wanted:
            return
        size = max(list_size or 0, LIST_SIZE_GUESS[kind])
        if allow_list and len(wanted) > pages_for(size, self.page_size):
            self._from_list(kind, set(wanted))
            wanted = [i for i in wanted if not self.known.is_resolved(kind, i)]
        for key, raw in self.get_each(kind, wanted):
            if raw is None or self.take(kind, raw, linked=True) != key:
                self.missing(kind, int(key))

    def crawler(self) -> ListCrawler:
        """A list crawler sharing this run's client, pool, page size and events."""
        return ListCrawler(
            self.client,
            self.pool,
            page_size=self.page_size,
            concurrency=self.concurrency,
            on_event=self.stats.relay,
        )

    def _from_list(self, kind: Kind, wanted: set[int]) -> None:
        """Read the whole list of `kind`: records for the `wanted` ids only."""
        reading = self.crawler().read(kind)
        for records in reading:
            for raw in records:
                try:
                    record_id, _ = record_identity(raw)
                except RecordError:
                    continue
                if record_id in wanted:
                    self.take(kind, raw, linked=True)
        outcome = reading.outcome
        if outcome.complete:
            for record_id in wanted - outcome.ids:
                self.missing(kind, record_id)

    def stage_package(self, raw: dict[str, Any], links: PackageLinks) -> None:
        """Stage a package whose links this stage resolved (or gave up on: no slug)."""
        known = self.known
        known.slugs[links.record_id] = self.stager.package(
            raw,
            record_id=links.record_id,
            slug=links.slug,
            category=None if links.category is None else known.ref(Kind.CATEGORY, links.category),
            grids=[known.ref(Kind.GRID, grid_id) for grid_id in links.grids],
            problems=links.problems,
        )

    def missing(self, kind: Kind, record_id: int) -> None:
        """Record that the API does not have this linked record (counted, noted once)."""
        if record_id in self.known.missing[kind]:
            return
        self.known.missing[kind].add(record_id)
        self.stats.counts[kind].missing += 1
        self.stats.notice(
            f"a link names {kind.singular} {record_id}, which the API does not have",
            topic="missing links",
        )


class Phases:
    """Base of a run's phase sequence (catalogue_run, targeted_run): the stages it uses."""

    def __init__(self, resolver: Resolver) -> None:
        self.resolver = resolver
        self.known = resolver.known
        self.stats = resolver.stats
        self.stager = resolver.stager
        self.txn = resolver.stager.txn
        self.base = resolver.client.base
