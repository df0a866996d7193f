"""Progress events: how the core tells a front end what is happening, without importing one.

The core calls an `EventSink` (any callable taking an event); the CLI turns events into a rich
progress bar, warning lines, or nothing. Sinks are called from worker threads too: keep them quick.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pkgharvest.records import Kind


@dataclass(frozen=True)
class ListSized:
    """The first page of a list arrived: `total` records of `kind` are expected."""

    kind: Kind
    total: int


@dataclass(frozen=True)
class RecordsDone:
    """`count` more records of `kind` were read: normalized and staged (or found unchanged),
    failed, or (grids) accepted to be stored at the end of the run, once their members' slugs
    are known. A bar fed these moves as list pages arrive."""

    kind: Kind
    count: int


@dataclass(frozen=True)
class RequestDone:
    """One HTTP request finished (any outcome); `received` is the body size in bytes."""

    url: str
    status: int | None
    received: int


@dataclass(frozen=True)
class Retrying:
    """Attempt `attempt` of `attempts` at `url` failed for `reason`; the next starts in `wait`
    seconds (`attempts` 0: not known)."""

    url: str
    reason: str
    wait: float
    attempt: int
    attempts: int = 0


@dataclass(frozen=True)
class Notice:
    """Something the user should hear about even when the run succeeds (a warning).

    topic: what it is about ("not found", "api", ...), so a front end can say some at the end.
    """

    message: str
    topic: str | None = None


Event = ListSized | RecordsDone | RequestDone | Retrying | Notice
EventSink = Callable[[Event], None]


def ignore(event: Event) -> None:
    """The sink that drops every event."""
