"""Reading the API's paginated lists completely, concurrently, and despite drift.

The lists are newest first, so a package added during a crawl shifts later offsets by one (an
item comes again) and a deleted one shifts them back (an item is never seen). The crawler dedupes
by id and counts the unique ids of a pass against the list's `count`: a pass that saw exactly
`count` ids while `count` stayed put proves the crawl complete. Otherwise it reads the list again,
up to `max_passes` times, so that no record present for the whole crawl is missed.

Memory stays flat: pages are handed to `consume` as they arrive and then dropped; only ids stay.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from collections.abc import Set as AbstractSet
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, TypeVar

from pkgharvest.api import ApiClient, Page
from pkgharvest.events import EventSink, ListSized, Notice, ignore
from pkgharvest.records import Kind

T = TypeVar("T")
R = TypeVar("R")

RawRecord = dict[str, Any]


@dataclass(frozen=True)
class ListOutcome:
    """What one list crawl proved.

    kind: which list.
    count: the list's `count` in the last pass.
    ids: the ids the server listed (those of the consistent pass when complete; otherwise every
        id seen in any pass).
    complete: some pass saw exactly `count` records while `count` did not change.
    passes: how many passes it took.
    """

    kind: Kind
    count: int
    ids: AbstractSet[int]
    complete: bool
    passes: int


def _record_id(raw: object) -> int | None:
    if not isinstance(raw, dict):
        return None  # not a record at all: consumed once, and reported failed
    value = raw.get("id")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def bounded_map(
    pool: ThreadPoolExecutor, func: Callable[[T], R], items: Iterable[T], *, window: int
) -> Iterator[tuple[T, Future[R]]]:
    """Run `func` over `items` on `pool` with at most `window` submitted and not yet consumed,
    yielding (item, finished future) in completion order. Keeps memory flat for long inputs."""
    source = iter(items)
    pending: dict[Future[R], T] = {}
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


class ListCrawler:
    """Crawls the list endpoints of one API with `concurrency` requests at most."""

    def __init__(
        self,
        client: ApiClient,
        pool: ThreadPoolExecutor,
        *,
        page_size: int,
        concurrency: int,
        max_passes: int = 3,
        on_event: EventSink = ignore,
    ) -> None:
        self.client = client
        self.pool = pool
        self.page_size = page_size
        self.window = max(1, concurrency) * 2
        self.max_passes = max_passes
        self.on_event = on_event

    def crawl(self, kind: Kind, consume: Callable[[list[RawRecord]], None]) -> ListOutcome:
        """Read every page of `kind`; `consume` gets each record once (first version seen).

        Records without a usable id are passed to `consume` in the first pass only (it reports
        them as failed) and counted, so that they do not force needless extra passes.
        """
        consumed: set[int] = set()
        pass_ids: set[int] = set()
        count = 0
        for pass_number in range(1, self.max_passes + 1):
            pass_ids, counts, broken = self._one_pass(kind, consume, consumed, pass_number)
            count = counts[-1]
            if len(set(counts)) == 1 and len(pass_ids) + broken == count:
                return ListOutcome(kind, count, pass_ids, True, pass_number)
            if pass_number < self.max_passes:
                self.on_event(
                    Notice(
                        f"the {kind.value} list changed during the crawl "
                        f"({len(pass_ids)} unique of {count}); reading it again"
                    )
                )
        return ListOutcome(kind, count, consumed, False, self.max_passes)

    def _one_pass(
        self,
        kind: Kind,
        consume: Callable[[list[RawRecord]], None],
        consumed: set[int],
        pass_number: int,
    ) -> tuple[set[int], list[int], int]:
        # In the first pass every id seen is also consumed: one set serves both (memory).
        seen: set[int] = consumed if pass_number == 1 else set()
        counts: list[int] = []
        broken = 0

        def take(page: Page) -> None:
            nonlocal broken
            counts.append(page.count)
            fresh: list[RawRecord] = []
            for raw in page.results:
                record_id = _record_id(raw)
                if record_id is None:
                    broken += 1
                    if pass_number == 1:
                        fresh.append(raw)
                    continue
                if record_id not in consumed:
                    consumed.add(record_id)
                    fresh.append(raw)
                seen.add(record_id)
            if fresh:
                consume(fresh)

        first = self.client.get_page(kind, offset=0, limit=self.page_size)
        if pass_number == 1:
            self.on_event(ListSized(kind, first.count))
        take(first)

        # The first page gave `count`, so every other offset is known and fetched concurrently.
        # If `count` grows meanwhile (inserts), the offsets to read grow with it.
        def offsets() -> Iterator[int]:
            offset = self.page_size
            while offset < max(counts):
                yield offset
                offset += self.page_size

        def fetch(offset: int) -> Page:
            return self.client.get_page(kind, offset=offset, limit=self.page_size)

        for _, future in bounded_map(self.pool, fetch, offsets(), window=self.window):
            take(future.result())
        return seen, counts, broken
