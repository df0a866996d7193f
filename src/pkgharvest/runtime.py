"""What a run takes from the outside world, in one frozen object built by the caller.

The CLI builds one `Dependencies` per command (the way twine's commands take a settings object)
and passes it down: the fetch routine, the API client and the reading commands take what they
need from it and from nowhere else. Tests construct one (a `MockTransport`, a fake clock, a
sleep that records instead of waiting, a fixed "now") instead of patching modules.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the reading commands never import httpx: its import is slow
    import httpx

    from pkgharvest.events import EventSink  # its event classes are built at import

Sleep = Callable[[float], None]
Clock = Callable[[], float]
Now = Callable[[], datetime]


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try before giving up on one request.

    attempts: tries in all, first included.
    backoff_initial / backoff_max: exponential backoff with full jitter, in seconds.
    retry_after_floor: the least wait after a Retry-After (even `Retry-After: 0`).
    retry_after_cap: the most we wait for one Retry-After; a larger value is capped and reported.
    throttle_pause: how long everyone pauses after a 429 that names no Retry-After.
    """

    attempts: int = 6
    backoff_initial: float = 0.5
    backoff_max: float = 30.0
    retry_after_floor: float = 0.5
    retry_after_cap: float = 120.0
    throttle_pause: float = 1.0


@dataclass(frozen=True)
class RequestLimits:
    """What one HTTP exchange may cost (a hostile server must not hold a run for ever or
    fill the memory).

    deadline: seconds for a whole exchange, connecting to the last byte of the body; the read
        timeout alone lets a byte every 20 s hold a request for ever. Each retry gets its own.
    max_body_bytes: the most a body may inflate to. A real page of 100 packages is ~200 KB, of
        5,000 (the largest --page-size) ~10 MB; a larger body is a failed attempt.
    """

    deadline: float = 60.0
    max_body_bytes: int = 16 * 1024 * 1024


DEFAULT_RUN_TIMEOUT = 1800.0
"""`fetch --timeout`: the most one fetch run may take, waits included (a full catalogue run
takes well under a minute when the API is well)."""
MAX_RUN_TIMEOUT = 86400.0
"""The largest `fetch --timeout`: a day (0 means no limit at all)."""


DEFAULT_DATABASE_WAIT = 5.0
"""Seconds a command waits for catalogue.db's write lock before it reads a private copy
(reading commands) or reports the database as not updated (`fetch`)."""


def utc_now() -> datetime:
    return datetime.now(UTC)


def default_timeout() -> httpx.Timeout:
    """10 s to connect, 30 s between bytes read."""
    import httpx

    return httpx.Timeout(30.0, connect=10.0)


def _ignore_events(event: object) -> None:
    """The default event sink: progress goes nowhere (pkgharvest.events.ignore, without
    importing the event classes into every command)."""


@dataclass(frozen=True)
class Dependencies:
    """The outside world of one run.

    transport: where HTTP goes (None: the network; tests pass `httpx.MockTransport`).
    timeout: per-request connect/read timeouts (None: `default_timeout()`).
    retry: the retry policy of every request.
    limits: the deadline and body cap of every HTTP exchange.
    sleep: how the client waits (None: a wait that a cancelled run cuts short).
    clock: monotonic seconds, for pauses and the run's duration.
    now: the wall-clock moment, for the manifest and for relative dates in tables.
    on_event: where progress events and notices go.
    database_wait: the most seconds a command waits for another process to release the
        catalogue database's write lock (measured with `clock`, waited with `sleep`).
    """

    transport: httpx.BaseTransport | None = None
    timeout: httpx.Timeout | None = None
    retry: RetryPolicy = RetryPolicy()
    limits: RequestLimits = RequestLimits()
    sleep: Sleep | None = None
    clock: Clock = time.monotonic
    now: Now = utc_now
    on_event: EventSink = _ignore_events
    database_wait: float = DEFAULT_DATABASE_WAIT

    def with_events(self, sink: EventSink) -> Dependencies:
        """The same dependencies reporting to `sink` (the CLI picks one per output mode)."""
        return replace(self, on_event=sink)
