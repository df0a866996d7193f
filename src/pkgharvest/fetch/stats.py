"""The run's numbers and notices, in one small object every stage writes to.

Counts per kind (seen, new, changed, ...), the notices a user should read (capped: a hostile
API can make thousands of the same kind, which become one count), and progress events.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

from pkgharvest.events import Event, EventSink, Notice, RecordsDone
from pkgharvest.records import Kind

MAX_NOTICES = 50
"""Notices kept word for word; beyond that each topic is only counted."""


@dataclass
class KindCounts:
    """Per kind: records seen in the API, and what happened to each in the mirror.

    failed: records the API sent that could not be stored (broken, or a target that is gone).
    missing: linked records the API does not have (a 404, or absent from a complete list).
    """

    seen: int = 0
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    removed: int = 0
    failed: int = 0
    missing: int = 0


class RunStats:
    """Counts, notices and progress of one run. Counts are written by the run's own thread;
    notices may come from worker threads too (the client's), hence the lock."""

    def __init__(self, on_event: EventSink) -> None:
        self.on_event = on_event
        self._lock = threading.Lock()
        self.counts = {kind: KindCounts() for kind in Kind}
        self.notices: list[str] = []
        self.unshown: Counter[str] = Counter()  # topic -> notices past the cap
        self._reported = dict.fromkeys(Kind, 0)

    def notice(self, message: str, *, topic: str | None = None) -> None:
        """A warning for the report and the user; past MAX_NOTICES only `topic` is counted."""
        with self._lock:
            if len(self.notices) >= MAX_NOTICES:
                self.unshown[topic or "other"] += 1
                return
            self.notices.append(message)
        self.on_event(Notice(message, topic))

    def relay(self, event: Event) -> None:
        """Events from the client and the crawler: their notices belong in the report too."""
        if isinstance(event, Notice):
            self.notice(event.message, topic="api")
        else:
            self.on_event(event)

    def all_notices(self) -> tuple[str, ...]:
        more = [f"{n} more notices ({topic}) not shown" for topic, n in self.unshown.items()]
        return (*self.notices, *more)

    def failed(self) -> int:
        return sum(counts.failed for counts in self.counts.values())

    def progress(self, ahead: Mapping[Kind, int] | None = None) -> None:
        """One RecordsDone event per kind per batch (per record would cost real CPU on a bar).

        `ahead`: records read but not staged yet, per kind (grids wait for their members'
        slugs until the end of the run): counted now, so a bar moves as their pages arrive.
        """
        for kind, counts in self.counts.items():
            done = counts.seen + counts.failed + (ahead or {}).get(kind, 0)
            if done > self._reported[kind]:
                self.on_event(RecordsDone(kind, done - self._reported[kind]))
                self._reported[kind] = done
