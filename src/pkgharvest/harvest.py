"""`fetch` as one routine: crawl, follow links, normalize, stage, commit; returns a change report.

The pipeline: api.ApiClient (HTTP) -> crawl.ListCrawler (lists) -> normalize (pure) ->
store.Transaction (staged, atomic). Nothing in the mirror changes until the run commits: a run
that cannot finish (the API kept failing, a disk error, Ctrl-C) leaves it byte-for-byte as it was.
A run that finished with some records failed commits what it fetched and removes nothing.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pkgharvest import catalogue
from pkgharvest.api import ApiClient
from pkgharvest.crawl import ListCrawler, ListOutcome, RawRecord, bounded_map
from pkgharvest.deps import Dependencies
from pkgharvest.errors import (
    ApiNotFound,
    ExitCode,
    ForeignLink,
    RecordError,
    UnexpectedStatus,
    UsageError,
)
from pkgharvest.events import Event, EventSink, Notice, RecordsDone
from pkgharvest.links import ApiBase
from pkgharvest.normalize import (
    missing_ref,
    normalize_category,
    normalize_grid,
    normalize_package,
    record_identity,
    ref_of,
)
from pkgharvest.records import Kind, PackageRef, Record, Ref
from pkgharvest.store import Change, Store, Transaction

DEFAULT_PAGE_SIZE = 100
DEFAULT_CONCURRENCY = 4
MAX_CONCURRENCY = 16
SHRINK_RATIO = 0.5
"""A complete crawl listing fewer than this share of what the mirror holds removes nothing."""


@dataclass(frozen=True)
class FetchOptions:
    """What to fetch, from where, into where.

    targets: package slugs or ids (empty, with no grids: the whole catalogue).
    grids: grid slugs or ids; each grid is fetched with all of its packages.
    page_size: records per list page. concurrency: most requests in flight at once.
    fsync: fsync every record file (slower; the manifest is always fsynced).
    """

    base_url: str
    data_dir: Path
    targets: tuple[str, ...] = ()
    grids: tuple[str, ...] = ()
    concurrency: int = DEFAULT_CONCURRENCY
    page_size: int = DEFAULT_PAGE_SIZE
    fsync: bool = False

    @property
    def scope(self) -> str:
        return "targeted" if self.targets or self.grids else "catalogue"


@dataclass
class KindCounts:
    """Per kind: records seen in the API, and what happened to each in the mirror.

    failed: records the API sent that could not be stored (broken, or a target that is gone).
    missing: linked records that the API answered 404 for.
    """

    seen: int = 0
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    removed: int = 0
    failed: int = 0
    missing: int = 0


@dataclass(frozen=True)
class FetchReport:
    """The outcome of one fetch run (printed as the summary line, or as JSON with --json).

    complete: every list was read completely and nothing failed (catalogue runs only).
    exit_code: 0 done, 3 partial, 5 nothing of what was asked for exists.
    removal_withheld: why records gone from the API were not removed, if they were not.
    """

    scope: str
    source: str
    complete: bool
    exit_code: ExitCode
    counts: Mapping[str, KindCounts]
    requests: int
    retries: int
    bytes_received: int
    started: str
    finished: str
    seconds: float
    notices: tuple[str, ...] = ()
    removal_withheld: str | None = None

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["exit_code"] = int(self.exit_code)
        return data

    def summary_line(self) -> str:
        parts = []
        for kind in Kind:
            c = self.counts[kind.value]
            text = f"{kind.value} {c.seen} seen, {c.new} new, {c.changed} changed, "
            text += f"{c.unchanged} unchanged, {c.removed} removed, {c.failed} failed"
            if c.missing:
                text += f", {c.missing} missing"
            parts.append(text)
        state = "complete" if self.exit_code == ExitCode.OK else "PARTIAL"
        if self.scope == "targeted" and self.exit_code == ExitCode.OK:
            state = "done"
        return (
            f"fetch {state}: "
            + "; ".join(parts)
            + f"; {self.requests} requests, {self.retries} retries, {self.seconds:.1f} s"
        )


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def fetch(options: FetchOptions, deps: Dependencies | None = None) -> FetchReport:
    """Bring the mirror in `options.data_dir` up to date with the API; see the module docs.

    Raises a PkgHarvestError (LockHeld, CorruptStore, StoreWriteError, ApiUnavailable,
    NotTheApi, ...) when the run cannot finish; the mirror is then unchanged.
    """
    deps = deps or Dependencies()
    if not 1 <= options.concurrency <= MAX_CONCURRENCY:
        raise UsageError(f"--concurrency must be between 1 and {MAX_CONCURRENCY}")
    if options.page_size < 1:
        raise UsageError("--page-size must be at least 1")
    for key in (*options.targets, *options.grids):
        _check_target(key)
    base = ApiBase.parse(options.base_url)
    store = Store(options.data_dir, fsync=options.fsync)
    started, started_clock = deps.now(), deps.clock()
    with store.lock():
        store.open_for_update()
        client = ApiClient(base, deps, concurrency=options.concurrency)
        pool = ThreadPoolExecutor(max_workers=options.concurrency, thread_name_prefix="fetch")
        txn = store.begin()
        try:
            run = _Run(options, base, client, pool, txn, deps.on_event)
            client.get_index()
            if options.scope == "catalogue":
                run.crawl_catalogue()
            else:
                run.fetch_targets()
            exit_code = run.exit_code()
            finished = deps.now()
            report = FetchReport(
                scope=options.scope,
                source=base.url,
                complete=run.complete,
                exit_code=exit_code,
                counts={kind.value: run.counts[kind] for kind in Kind},
                requests=client.requests,
                retries=client.retries,
                bytes_received=client.received,
                started=_iso(started),
                finished=_iso(finished),
                seconds=round(deps.clock() - started_clock, 3),
                notices=tuple(run.notices),
                removal_withheld=run.removal_withheld,
            )
            manifest_run = report.as_dict()
            del manifest_run["notices"], manifest_run["source"]
            txn.commit(source=base.url, run=manifest_run)
            catalogue.after_commit(store.root)  # the database follows the JSON files
            return report
        except BaseException:
            txn.discard()
            raise
        finally:
            client.cancel()
            pool.shutdown(wait=False, cancel_futures=True)
            client.close()


class _Run:
    """The state of one fetch run. Everything but HTTP happens on the calling thread."""

    def __init__(
        self,
        options: FetchOptions,
        base: ApiBase,
        client: ApiClient,
        pool: ThreadPoolExecutor,
        txn: Transaction,
        on_event: EventSink,
    ) -> None:
        self.options = options
        self.base = base
        self.client = client
        self.pool = pool
        self.txn = txn
        self.on_event = on_event
        self.counts = {kind: KindCounts() for kind in Kind}
        self.notices: list[str] = []
        # Memory per package matters (30,000 of them): packages keep only their slug, grid
        # membership is kept as arrays of ids, and grids wait with ids instead of URLs.
        self.refs: dict[Kind, dict[int, Ref]] = {Kind.CATEGORY: {}, Kind.GRID: {}}
        self.package_slugs: dict[int, str] = {}
        self.missing: dict[Kind, set[int]] = {kind: set() for kind in Kind}
        self.via_link: dict[Kind, set[int]] = {kind: set() for kind in Kind}
        self.grid_claims: dict[int, array[int]] = {}  # grid id -> packages that name it
        self.reported: dict[Kind, int] = dict.fromkeys(Kind, 0)
        self.pending_grids: dict[int, _PendingGrid] = {}  # stored once member slugs are known
        self.outcomes: dict[Kind, ListOutcome] = {}
        self.targets_found = 0
        self.complete = False
        self.removal_withheld: str | None = None
        self.window = options.concurrency * 2

    # -- reporting ---------------------------------------------------------------------------

    def notice(self, message: str) -> None:
        self.notices.append(message)
        self.on_event(Notice(message))

    def _relay(self, event: Event) -> None:
        """Events from the crawler: its notices belong in the report too."""
        if isinstance(event, Notice):
            self.notice(event.message)
        else:
            self.on_event(event)

    def exit_code(self) -> ExitCode:
        failed = sum(c.failed for c in self.counts.values())
        if self.options.scope == "targeted":
            if self.targets_found == 0:
                return ExitCode.NOT_FOUND
            return ExitCode.PARTIAL if failed else ExitCode.OK
        return ExitCode.OK if self.complete else ExitCode.PARTIAL

    # -- whole catalogue -------------------------------------------------------------------------

    def crawl_catalogue(self) -> None:
        crawler = ListCrawler(
            self.client,
            self.pool,
            page_size=self.options.page_size,
            concurrency=self.options.concurrency,
            on_event=self._relay,
        )
        # Categories and grids first: packages link to them by id, and their slugs and titles
        # are only known from them. Grids wait for the packages, whose slugs they list.
        self.outcomes[Kind.CATEGORY] = crawler.crawl(Kind.CATEGORY, self._batch(self.add_category))
        self.outcomes[Kind.GRID] = crawler.crawl(Kind.GRID, self._batch(self.add_grid))
        self.outcomes[Kind.PACKAGE] = crawler.crawl(Kind.PACKAGE, self._batch(self.add_package))
        self._reread_drifted_grids()
        self.finish_grids()
        self._remove_gone()

    def _reread_drifted_grids(self) -> None:
        """Grids were listed before the packages: a package added or deleted meanwhile makes a
        grid's member list disagree with the packages' own grid links. Re-read just those."""
        listed = self.outcomes[Kind.PACKAGE].ids
        consumed = self.package_slugs.keys()
        drifted = []
        for grid_id, pending in self.pending_grids.items():
            members = set(pending.member_ids)
            claimed = set(self.grid_claims.get(grid_id, ())) & listed
            # A member deleted meanwhile was consumed (listed once) but is not in the final list.
            if members & listed != claimed or (members - listed) & consumed:
                drifted.append(grid_id)
        for _, fresh in self._get_all(Kind.GRID, drifted):
            if fresh is not None:
                self.add_grid(fresh)
        self.grid_claims.clear()

    def _get_all(
        self, kind: Kind, keys: Iterable[str | int]
    ) -> Iterator[tuple[str | int, RawRecord | None]]:
        """Detail records of `kind` by id or slug, fetched concurrently; None for a 404."""

        def get(key: str | int) -> RawRecord | None:
            try:
                return self.client.get_record(kind, key)
            except ApiNotFound:
                return None

        for key, future in bounded_map(self.pool, get, keys, window=self.window):
            yield key, future.result()

    def _batch(self, add: Callable[[RawRecord], object]) -> Callable[[list[RawRecord]], None]:
        def consume(records: list[RawRecord]) -> None:
            for raw in records:
                add(raw)
            self._report_progress()

        return consume

    def _report_progress(self) -> None:
        """One RecordsDone event per kind per batch (per record would cost real CPU on a bar)."""
        for kind, counts in self.counts.items():
            done = counts.seen + counts.failed
            if done > self.reported[kind]:
                self.on_event(RecordsDone(kind, done - self.reported[kind]))
                self.reported[kind] = done

    def _remove_gone(self) -> None:
        lists_complete = all(outcome.complete for outcome in self.outcomes.values())
        failed = sum(c.failed for c in self.counts.values())
        if not lists_complete:
            self.removal_withheld = "a list could not be read completely"
        elif failed:
            self.removal_withheld = f"{failed} records failed"
        else:
            self.removal_withheld = self._shrink_reason()
        if self.removal_withheld is not None:
            self.notice(f"nothing removed from the mirror: {self.removal_withheld}")
            return
        for kind, outcome in self.outcomes.items():
            # The consistent pass is the server's set; a record staged in an earlier pass but
            # absent from it was deleted during the crawl. Records fetched through a link exist.
            present = outcome.ids | self.via_link[kind]
            gone = (self.txn.mirror_ids(kind) | self.txn.put_ids(kind)) - present
            self.counts[kind].removed = self.txn.schedule_removal(kind, gone)
        self.complete = True

    def _shrink_reason(self) -> str | None:
        for kind, outcome in self.outcomes.items():
            held = len(self.txn.mirror_ids(kind))
            if held and outcome.count < held * SHRINK_RATIO:
                return (
                    f"the API lists {outcome.count} {kind.value} but the mirror holds {held}; "
                    "a sudden shrink looks like an API fault"
                )
        return None

    # -- targeted runs -----------------------------------------------------------------------

    def fetch_targets(self) -> None:
        packages: list[RawRecord] = []
        for _, raw in self._fetch_each(Kind.PACKAGE, self.options.targets):
            if raw is not None:
                packages.append(raw)
        member_ids: list[int] = []
        for _, raw in self._fetch_each(Kind.GRID, self.options.grids):
            if raw is not None and (grid_id := self.add_grid(raw)) is not None:
                member_ids.extend(self.pending_grids[grid_id].member_ids)
        known = {record_identity(raw)[0] for raw in packages if _has_identity(raw)}
        members = [i for i in dict.fromkeys(member_ids) if i not in known]
        for _, member in self._fetch_each(Kind.PACKAGE, members, targets=False):
            if member is not None:
                packages.append(member)
        for raw in packages:
            self.add_package(raw)
        self._prefetch_member_slugs()
        self.finish_grids()
        self.removal_withheld = "a targeted fetch never removes records"

    def _fetch_each(
        self, kind: Kind, keys: Iterable[str | int], *, targets: bool = True
    ) -> Iterator[tuple[str | int, RawRecord | None]]:
        """Like _get_all, counting what is not there as failed targets or missing members."""
        for key, raw in self._get_all(kind, keys):
            if raw is None:
                if targets:
                    self.counts[kind].failed += 1
                else:
                    self.counts[kind].missing += 1
                    self.missing[kind].add(int(key))
                self.notice(f"no {kind.singular} {key!r} in the API")
            elif targets:
                self.targets_found += 1
            yield key, raw

    def _prefetch_member_slugs(self) -> None:
        """Grid records list their packages' slugs. For members this run did not fetch, take the
        slug from the mirror, or else fetch the package (concurrently) just for its slug."""
        wanted: list[int] = []
        for pending in self.pending_grids.values():
            for package_id in pending.member_ids:
                if package_id in self.package_slugs:
                    continue
                previous = self.txn.previous(Kind.PACKAGE, package_id)
                if previous is not None:
                    self.package_slugs[package_id] = previous["slug"]
                else:
                    wanted.append(package_id)
        for key, member in self._get_all(Kind.PACKAGE, dict.fromkeys(wanted)):
            if member is not None and _has_identity(member):
                self.package_slugs[int(key)] = member["slug"]
            else:
                self.missing[Kind.PACKAGE].add(int(key))
                self.counts[Kind.PACKAGE].missing += 1
                self.notice(f"a grid lists package {key}, which the API does not have")

    # -- records -----------------------------------------------------------------------------

    def _store(self, kind: Kind, record: Record) -> None:
        change = self.txn.put(kind, record)
        counts = self.counts[kind]
        counts.seen += 1
        if change is Change.NEW:
            counts.new += 1
        elif change is Change.CHANGED:
            counts.changed += 1
        else:
            counts.unchanged += 1

    def _failed(self, kind: Kind, raw: RawRecord, err: RecordError) -> None:
        self.counts[kind].failed += 1
        self.notice(f"skipped a broken {kind.singular} record: {err}")
        record_id = raw.get("id") if isinstance(raw, dict) else None
        if isinstance(record_id, int):
            self.missing[kind].add(record_id)  # links to it resolve without another request

    def add_category(self, raw: RawRecord) -> None:
        try:
            record_id, _ = record_identity(raw)
            record = normalize_category(raw, api_url=self.base.detail_url(Kind.CATEGORY, record_id))
        except RecordError as err:
            self._failed(Kind.CATEGORY, raw, err)
            return
        self._store(Kind.CATEGORY, record)
        self.refs[Kind.CATEGORY][record_id] = ref_of(record)

    def add_grid(self, raw: RawRecord) -> int | None:
        """Keep a grid until its members' slugs are known; returns its id (None if broken)."""
        try:
            record_id, _ = record_identity(raw)
        except RecordError as err:
            self._failed(Kind.GRID, raw, err)
            return None
        member_ids, bad = self._links(raw.get("packages"), Kind.PACKAGE)
        fields = {key: value for key, value in raw.items() if key != "packages"}
        problems = {"packages": bad} if bad else {}
        self.pending_grids[record_id] = _PendingGrid(fields, array("q", member_ids), problems)
        self.refs[Kind.GRID][record_id] = _raw_ref(raw)
        return record_id

    def finish_grids(self) -> None:
        # Resolving a member may fetch a package, which may add a grid: drain, don't iterate.
        while self.pending_grids:
            record_id, pending = self.pending_grids.popitem()
            members: list[PackageRef] = [
                {"id": package_id, "slug": self.member_slug(package_id)}
                for package_id in pending.member_ids
            ]
            record = normalize_grid(
                pending.fields,
                api_url=self.base.detail_url(Kind.GRID, record_id),
                packages=members,
                link_problems=pending.problems,
            )
            self._store(Kind.GRID, record)
        self._report_progress()

    def add_package(self, raw: RawRecord) -> None:
        try:
            record_id, _ = record_identity(raw)
        except RecordError as err:
            self._failed(Kind.PACKAGE, raw, err)
            return
        if self.txn.has_put(Kind.PACKAGE, record_id):
            return  # already stored this run (fetched through a link and listed, say)
        problems: dict[str, Any] = {}
        category: Ref | None = None
        if raw.get("category") is not None:
            category_ids, bad = self._links([raw["category"]], Kind.CATEGORY)
            if bad:
                problems["category"] = raw["category"]
            if category_ids:
                category = self.ref(Kind.CATEGORY, category_ids[0])
        grid_ids, bad_grids = self._links(raw.get("grids"), Kind.GRID)
        if bad_grids:
            problems["grids"] = bad_grids
        if self.options.scope == "catalogue":
            for grid_id in grid_ids:
                self.grid_claims.setdefault(grid_id, array("q")).append(record_id)
        grids = [self.ref(Kind.GRID, grid_id) for grid_id in grid_ids]
        weeks = raw.get("commits_over_52")
        previous = self.txn.previous(Kind.PACKAGE, record_id) if not weeks else None
        record = normalize_package(
            raw,
            api_url=self.base.detail_url(Kind.PACKAGE, record_id),
            category=category,
            grids=grids,
            link_problems=problems,
            previous=previous,
        )
        self._store(Kind.PACKAGE, record)
        self.package_slugs[record_id] = record["slug"]

    def _links(self, links: object, kind: Kind) -> tuple[list[int], Any]:
        """Ids of the `kind` records that `links` name, and what could not be used (None when
        all was well): foreign links are reported, and never followed."""
        if links is None:
            return [], None
        if not isinstance(links, list):
            return [], links
        ids: list[int] = []
        bad: list[Any] = []
        for link in links:
            try:
                ids.append(self.base.record_link(link, kind))
            except ForeignLink as err:
                bad.append(link)
                self.notice(str(err))
            except ValueError:
                bad.append(link)
        return ids, (bad or None)

    def ref(self, kind: Kind, record_id: int) -> Ref:
        """The reference to a linked category or grid, fetched (once) when no list had it."""
        known = self.refs[kind].get(record_id)
        if known is None and self._follow(kind, record_id):
            known = self.refs[kind].get(record_id)
        return known or missing_ref(record_id)

    def member_slug(self, package_id: int) -> str | None:
        """The slug of a package a grid lists, fetched (once) when no list had it."""
        slug = self.package_slugs.get(package_id)
        if slug is None and self._follow(Kind.PACKAGE, package_id):
            slug = self.package_slugs.get(package_id)
        return slug

    def _follow(self, kind: Kind, record_id: int) -> bool:
        """Fetch and add a linked record no list covered; False if it is missing or broken."""
        if record_id in self.missing[kind]:
            return False
        try:
            raw = self.client.get_record(kind, record_id)
        except (ApiNotFound, ForeignLink) as err:
            self.missing[kind].add(record_id)
            self.counts[kind].missing += 1
            self.notice(f"a link names a missing record: {err}")
            return False
        except UnexpectedStatus as err:
            self.missing[kind].add(record_id)
            self.counts[kind].failed += 1
            self.notice(str(err))
            return False
        self.via_link[kind].add(record_id)
        if kind is Kind.CATEGORY:
            self.add_category(raw)
        elif kind is Kind.GRID:
            self.add_grid(raw)
        else:
            self.add_package(raw)
        return True


@dataclass(frozen=True, slots=True)
class _PendingGrid:
    """A grid waiting for its members' slugs.

    fields: the raw record without `packages`. member_ids: the ids its package links name.
    problems: links that could not be used, for the record's `invalid`.
    """

    fields: RawRecord
    member_ids: array[int]
    problems: dict[str, Any]


def _check_target(key: str) -> None:
    """A target is a slug or an id. `.`, `..` or a path would name another endpoint (the
    list, the root) once the URL is normalized: a usage error, never a request."""
    if key.strip() in ("", ".", "..") or any(c in key for c in "/\\?#") or not key.isprintable():
        raise UsageError(f"{key!r} is not a package or grid slug or id")


def _has_identity(raw: object) -> bool:
    try:
        record_identity(raw)
    except RecordError:
        return False
    return True


def _raw_ref(raw: RawRecord) -> Ref:
    title = raw.get("title")
    return {
        "id": raw["id"],
        "slug": raw["slug"],
        "title": title if isinstance(title, str) else None,
    }


__all__ = [
    "DEFAULT_CONCURRENCY",
    "DEFAULT_PAGE_SIZE",
    "FetchOptions",
    "FetchReport",
    "KindCounts",
    "fetch",
]
