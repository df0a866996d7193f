"""What a run takes from the outside world, in one frozen object built by the caller.

The CLI builds one `Dependencies` per command (the way twine's commands take a settings object)
and passes it down: the fetch routine, the API client and the reading commands take what they
need from it and from nowhere else. Tests construct one (a `MockTransport`, a fake clock, a
sleep that records instead of waiting, a fixed "now") instead of patching modules.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

import httpx

from pkgharvest.events import EventSink, ignore

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


def utc_now() -> datetime:
    return datetime.now(UTC)


def default_timeout() -> httpx.Timeout:
    """10 s to connect, 30 s between bytes read."""
    return httpx.Timeout(30.0, connect=10.0)


@dataclass(frozen=True)
class Dependencies:
    """The outside world of one run.

    transport: where HTTP goes (None: the network; tests pass `httpx.MockTransport`).
    timeout: per-request connect/read timeouts.
    retry: the retry policy of every request.
    sleep: how the client waits (None: a wait that a cancelled run cuts short).
    clock: monotonic seconds, for pauses and the run's duration.
    now: the wall-clock moment, for the manifest and for relative dates in tables.
    on_event: where progress events and notices go.
    """

    transport: httpx.BaseTransport | None = None
    timeout: httpx.Timeout = field(default_factory=default_timeout)
    retry: RetryPolicy = RetryPolicy()
    sleep: Sleep | None = None
    clock: Clock = time.monotonic
    now: Now = utc_now
    on_event: EventSink = ignore

    def with_events(self, sink: EventSink) -> Dependencies:
        """The same dependencies reporting to `sink` (the CLI picks one per output mode)."""
        return replace(self, on_event=sink)
