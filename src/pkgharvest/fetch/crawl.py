"""Reading one of the API's paginated lists completely, concurrently, and despite churn.

The lists are ordered by id, newest first, and ids are never reused. One page is a snapshot of
a contiguous slice of the list at the moment the server built it, so it holds every id that
existed then between its lowest and its highest id. Two pages whose id ranges meet (the lower
page's highest id is at least the upper page's lowest id, minus one) therefore leave no id
that existed throughout between them unseen, whatever was inserted or deleted in between. The
page at offset 0 also covers everything above it, and a short page (fewer records than asked
for, at least one) everything below it. A list is complete when its pages chain from the top
to such a short page; a boundary whose pages do not meet (more deletions than the overlap
between two reads) is read again from a little earlier until they do. `count` only sizes how
many pages to ask for at once: a count far beyond what the pages hold is a fault, never a
reason to keep asking.

Records are handed up as pages arrive (a read is an iterator of record lists), each id once;
memory keeps only ids and page spans.
"""

from __future__ import annotations

import math
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Iterator
from collections.abc import Set as AbstractSet
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, TypeVar

from pkgharvest.api.client import ApiClient, Page
from pkgharvest.events import EventSink, ListSized, Notice, ignore
from pkgharvest.records import MAX_INTEGER, Kind

T = TypeVar("T")
R = TypeVar("R")

RawRecord = dict[str, Any]

OVERLAP = 4
"""Records each page shares with the one before it when nothing changes: up to OVERLAP - 1
deletions above a boundary between its two reads still leave the pages meeting."""

RECORDS_AHEAD = 2000
"""Records a list crawl asks for ahead of what it is handling, at most (one page at least):
bigger pages mean fewer of them in flight, so the memory they take stays about the same."""

MAX_REREAD_ROUNDS = 5
"""Rounds of boundary re-reads before a list is declared incomplete (the run is then partial)."""

_TOP = math.inf
_BOTTOM = -math.inf


@dataclass(frozen=True)
class ListOutcome:
    """What one list crawl proved.

    kind: which list. count: the last `count` the server sent.
    ids: every id seen (any page, any read).
    gone: ids seen once and then missing from a later page whose range holds them: deleted
        during the crawl (ids are never reused, and a page holds its whole range).
    complete: the pages chain from the top of the list to its end, so every record present
        from the start of the crawl to its end is in `ids`, and a record of the mirror missing
        from `ids` was deleted during or before the crawl.
    pages: requests made for this list. problem: why it is not complete (None when it is).
    """

    kind: Kind
    count: int
    ids: AbstractSet[int]
    complete: bool
    pages: int
    problem: str | None = None
    gone: AbstractSet[int] = frozenset()

    @property
    def present(self) -> AbstractSet[int]:
        """The ids seen and not proven deleted since."""
        return self.ids - self.gone if self.gone else self.ids


@dataclass(frozen=True, slots=True)
class Span:
    """The ids one page proves seen: every id that existed when it was read, from `low` to
    `high` (inclusive; `_TOP` for the first page, `_BOTTOM` for a short page).

    offset, size: where it was read and how many records it held.
    """

    offset: int
    size: int
    high: float
    low: float


def span_of(page: Page, ids: list[int]) -> Span | None:
    """What `page` proves, given the ids of its records; None when it proves nothing."""
    short = len(page.results) < page.limit
    if not ids:
        # No ids to place: only a short first page proves something (the whole list).
        return Span(0, len(page.results), _TOP, _BOTTOM) if page.offset == 0 and short else None
    high: float = _TOP if page.offset == 0 else max(ids)
    low: float = _BOTTOM if short else min(ids)
    return Span(page.offset, len(page.results), high, low)


def gaps(spans: Iterable[Span]) -> list[Span]:
    """The spans below which coverage breaks: for each, the ids just under its `low` are not
    proven seen. Empty when the spans chain from the top of the list to its end."""
    ordered = sorted(spans, key=lambda span: span.high, reverse=True)
    if not ordered or ordered[0].high != _TOP:
        return [Span(0, 0, _TOP, _TOP)]  # nothing proves the top: read offset 0 again
    broken: list[Span] = []
    reach = ordered[0]  # the span whose `low` is the lowest id covered without a break
    for span in ordered[1:]:
        if span.high >= reach.low - 1:
            if span.low < reach.low:
                reach = span
        else:
            broken.append(reach)
            reach = span
    if reach.low != _BOTTOM:
        broken.append(reach)
    return broken


def step_for(page_size: int) -> int:
    """Offsets between consecutive pages: a page less the overlap (a quarter of a small one)."""
    return max(1, page_size - min(OVERLAP, page_size // 4))


def pages_for(size: int, page_size: int) -> int:
    """Requests a complete crawl of a list of `size` records takes when nothing changes."""
    step = step_for(page_size)
    pages = max(1, math.ceil(size / step))
    last_offset = (pages - 1) * step
    # A last page that comes back exactly full proves no end: one boundary re-read follows.
    return pages + (1 if size - last_offset >= page_size else 0)


def submit_ahead(
    pool: ThreadPoolExecutor, func: Callable[[T], R], source: Iterator[T], *, window: int
) -> dict[Future[R], T]:
    """Submit `func` for the next `window` items of `source` (fewer if it runs out), without
    waiting: the start of a `bounded_map` over the same iterator (`started=`)."""
    pending: dict[Future[R], T] = {}
    for item in source:
        pending[pool.submit(func, item)] = item
        if len(pending) >= window:
            break
    return pending


def bounded_map(
    pool: ThreadPoolExecutor,
    func: Callable[[T], R],
    items: Iterable[T],
    *,
    window: int,
    started: dict[Future[R], T] | None = None,
) -> Iterator[tuple[T, Future[R]]]:
    """Run `func` over `items` on `pool` with at most `window` submitted and not yet consumed,
    yielding (item, finished future) in completion order. Keeps memory flat for long inputs.
    `started`: what `submit_ahead` already submitted from the same iterator."""
    source = iter(items)
    pending: dict[Future[R], T] = started if started is not None else {}
    exhausted = False
    while True:
        while not exhausted and len(pending) < window:
            try:
                item = next(source)
            except StopIteration:
                exhausted = True
                break
            pending[pool.submit(func, item)] = item
        if not pending:
            return
        done, _ = wait(pending, return_when=FIRST_COMPLETED)
        for future in done:
            yield pending.pop(future), future


def _record_id(raw: object) -> int | None:
    if not isinstance(raw, dict):
        return None  # not a record at all: consumed once, and reported failed
    value = raw.get("id")
    usable = isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_INTEGER
    return value if usable else None  # an unusable id fails in normalize, with its reason


class ListCrawler:
    """Crawls the list endpoints of one API with `concurrency` requests at most."""

    def __init__(
        self,
        client: ApiClient,
        pool: ThreadPoolExecutor,
        *,
        page_size: int,
        concurrency: int,
        on_event: EventSink = ignore,
    ) -> None:
        self.client = client
        self.pool = pool
        self.page_size = page_size
        self.window = max(1, min(max(1, concurrency) * 2, RECORDS_AHEAD // max(1, page_size)))
        self.on_event = on_event

    def request_first_page(self, kind: Kind) -> Future[Page]:
        """Ask for `kind`'s first page now, for a later `read(kind, first=...)`: the lists of
        a run are read one after another, but their first pages (each list's size) need not
        wait for the list before (two round trips fewer per catalogue run)."""
        return self.pool.submit(self.client.get_page, kind, offset=0, limit=self.page_size)

    def read(self, kind: Kind, *, first: Future[Page] | None = None) -> ListRead:
        """A complete read of `kind`: iterate it for the records, each once (the first copy
        seen), in lists the caller may empty as it goes (nothing else holds those records: a
        big page's memory goes as it is handled); then `outcome` says what it proved.
        `first`: its first page, already asked for (`request_first_page`).

        Items without a usable id (broken records, non-objects) come once each, so that they
        are reported failed, and prove nothing. The crawl hands records up and never calls
        into the code that reads them.
        """
        return ListRead(self, kind, first)


class ListRead:
    """One crawl of one list: the pages read so far and what they prove (see ListCrawler.read).
    Pages are asked for ahead (within the crawler's window) while the caller handles the
    records of the last one."""

    def __init__(
        self, crawler: ListCrawler, kind: Kind, requested: Future[Page] | None = None
    ) -> None:
        self.crawler = crawler
        self.kind = kind
        self._requested = requested
        self._outcome: ListOutcome | None = None
        self.ids: set[int] = set()
        self.broken: set[str] = set()  # reprs of id-less items already handed up
        self.spans: list[Span] = []
        self.reads: list[tuple[int, Span, array[int]]] = []  # (sequence, span, its ids)
        self.count = 0
        self.first_count = 0
        # Pages arrive out of order: a page served before a change can be taken after one
        # served since, so the latest `count` alone can hide that the list changed.
        self.counts_seen: set[int] = set()
        self.pages = 0
        self.end_offset = math.inf  # the lowest offset where a short or empty page came

    @property
    def outcome(self) -> ListOutcome:
        """What the read proved; once every batch has been taken."""
        if self._outcome is None:
            raise RuntimeError(f"the {self.kind.value} list has not been read to its end")
        return self._outcome

    def __iter__(self) -> Iterator[list[Any]]:
        crawler = self.crawler
        step = step_for(crawler.page_size)

        def offsets() -> Iterator[int]:
            offset = step
            # `count` (the latest seen) sizes the crawl; the first short page ends it.
            while offset < self.count and offset < self.end_offset:
                yield offset
                offset += step

        requested, self._requested = self._requested, None
        first = self._get(0) if requested is None else requested.result()
        del requested
        # The next pages are asked for before the first one's records are handed up (which
        # can take a while: the first package staged loads the mirror's index), so that the
        # network works meanwhile.
        self._size(first)
        rest = offsets()
        started = submit_ahead(crawler.pool, self._get, rest, window=crawler.window)
        fresh = self._take(first)
        self.on_first_page(first)
        del first
        if fresh:
            yield fresh
        del fresh
        yield from self._read_all(rest, started)
        for _ in range(MAX_REREAD_ROUNDS):
            broken = gaps(self.spans)
            if not broken:
                break
            self.crawler.on_event(
                Notice(
                    f"the {self.kind.value} list changed under the crawl; re-reading "
                    f"{len(broken)} page boundar{'y' if len(broken) == 1 else 'ies'}"
                )
            )
            half = crawler.page_size // 2
            offsets_again = sorted({max(0, gap.offset + gap.size - half) for gap in broken})
            yield from self._read_all(offsets_again)
        if other_counts := sorted(self.counts_seen - {self.first_count}):
            # Records were added or deleted meanwhile: the newest ones (up to a page) are
            # on the first page now. Not needed for the proof; it mirrors them a run sooner.
            self.crawler.on_event(
                Notice(
                    f"the {self.kind.value} list changed during the crawl (count "
                    f"{self.first_count} -> {other_counts[-1]}); reading its first page again"
                )
            )
            yield from self._read_all([0])
        self._outcome = self._prove()

    def on_first_page(self, page: Page) -> None:
        self.first_count = page.count
        self.crawler.on_event(ListSized(self.kind, page.count))

    def _prove(self) -> ListOutcome:
        problem = None
        if gaps(self.spans):
            problem = f"its pages did not meet after {MAX_REREAD_ROUNDS} re-reads"
        elif self.count > 2 * (len(self.ids) + len(self.broken)) + self.crawler.page_size:
            problem = (
                f"the API counts {self.count} {self.kind.value} but its pages hold "
                f"{len(self.ids) + len(self.broken)}"
            )
        return ListOutcome(
            self.kind,
            self.count,
            self.ids,
            problem is None,
            self.pages,
            problem=problem,
            gone=self._gone(),
        )

    def _gone(self) -> frozenset[int]:
        """Ids a later page proves deleted (see ListOutcome.gone)."""
        ordered = sorted(self.ids)
        last_seen: dict[int, int] = {}  # id -> sequence of the last page showing it
        for sequence, _, page_ids in self.reads:
            last_seen.update(dict.fromkeys(page_ids, sequence))
        gone: set[int] = set()
        for sequence, span, page_ids in self.reads:
            start = 0 if span.low == _BOTTOM else bisect_left(ordered, span.low)
            stop = len(ordered) if span.high == _TOP else bisect_right(ordered, span.high)
            on_page = set(page_ids)
            for record_id in ordered[start:stop]:
                if last_seen[record_id] < sequence and record_id not in on_page:
                    gone.add(record_id)
        return frozenset(gone)

    def _get(self, offset: int) -> Page:
        return self.crawler.client.get_page(self.kind, offset=offset, limit=self.crawler.page_size)

    def _read_all(
        self, offsets: Iterable[int], started: dict[Future[Page], int] | None = None
    ) -> Iterator[list[Any]]:
        crawler = self.crawler
        for _, future in bounded_map(
            crawler.pool, self._get, offsets, window=crawler.window, started=started
        ):
            fresh = self._take(future.result())
            if fresh:
                yield fresh

    def _size(self, page: Page) -> None:
        """What a page says of the list's size: its count, and its end if the page is short."""
        self.count = page.count
        self.counts_seen.add(page.count)
        if len(page.results) < page.limit:
            self.end_offset = min(self.end_offset, page.offset)

    def _take(self, page: Page) -> list[Any]:
        """What `page` proves, and its records not seen before. Everything here runs on the
        crawling thread: no locks needed."""
        self.pages += 1
        self._size(page)
        fresh: list[Any] = []
        page_ids: list[int] = []
        for raw in page.results:
            record_id = _record_id(raw)
            if record_id is None:
                key = repr(raw)
                if key not in self.broken:
                    self.broken.add(key)
                    fresh.append(raw)
                continue
            page_ids.append(record_id)
            if record_id not in self.ids:
                self.ids.add(record_id)
                fresh.append(raw)
        span = span_of(page, page_ids)
        if span is not None:
            self.spans.append(span)
            self.reads.append((self.pages, span, array("q", page_ids)))
        # `fresh` holds the only references to the records from here (a page object can
        # outlive this: its future still holds it), so that the caller can let each go.
        page.results.clear()
        return fresh
