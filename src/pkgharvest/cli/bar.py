"""The progress bars of `fetch` on a terminal (rich)."""

from __future__ import annotations

import threading
from types import TracebackType

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

from pkgharvest.cli.progress import Warnings, plain
from pkgharvest.events import Event, ListSized, Notice, RecordsDone, RequestDone, Retrying
from pkgharvest.records import Kind


class BarSink:
    """On a terminal: one bar per kind of record that moves as records are read (count, rate,
    elapsed time), and under them one line of run totals (requests, bytes, retries), which
    says so while a request waits to be retried (`retry 2/6 in 1.3 s: server error 503`), so
    that a down API does not look like a hang."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.progress = Progress(
            TextColumn("[bold]{task.description:<10}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]:>10}"),
            TimeElapsedColumn(),
            console=console,
        )
        self.tasks: dict[Kind, TaskID] = {}
        self.requests = 0
        self.retries = 0
        self.received = 0
        # Requests waiting to be retried, by URL: the latest retry's words (cleared when the
        # next attempt at that URL finishes).
        self.waiting: dict[str, str] = {}
        self.warnings = Warnings(console)
        self._lock = threading.Lock()
        self._live = Live(self, console=console, refresh_per_second=8, transient=False)

    def _task(self, kind: Kind, total: int | None = None) -> TaskID:
        if kind not in self.tasks:
            self.tasks[kind] = self.progress.add_task(kind.value, total=total, rate="")
        return self.tasks[kind]

    def totals_line(self) -> str:
        """`66 requests, 5.6 MB received, 2 retries; retry 2/6 in 1.3 s: server error 503`."""
        with self._lock:
            text = f"{self.requests:,} requests, {self.received / 1e6:.1f} MB received"
            text += f", {self.retries:,} {'retry' if self.retries == 1 else 'retries'}"
            if self.waiting:
                text += "; " + next(reversed(self.waiting.values()))
                if len(self.waiting) > 1:
                    text += f" (and {len(self.waiting) - 1} more)"
        return text

    def __rich__(self) -> RenderableType:
        """The bars, then the totals line (what Live redraws)."""
        return Group(self.progress, Text(self.totals_line(), style="dim"))

    def __call__(self, event: Event) -> None:
        if isinstance(event, ListSized):
            self.progress.update(self._task(event.kind), total=event.total)
        elif isinstance(event, RecordsDone):
            task = self._task(event.kind)
            self.progress.advance(task, event.count)
            speed = self.progress.tasks[task].speed
            self.progress.update(task, rate=f"{speed:,.0f} rec/s" if speed else "")
        elif isinstance(event, RequestDone):
            with self._lock:
                self.requests += 1
                self.received += event.received
                self.waiting.pop(event.url, None)
        elif isinstance(event, Retrying):
            of = f"/{event.attempts}" if event.attempts else ""
            words = f"retry {event.attempt + 1}{of} in {event.wait:.1f} s: {plain(event.reason)}"
            with self._lock:
                self.retries += 1
                self.waiting.pop(event.url, None)  # newest last
                self.waiting[event.url] = words
        elif isinstance(event, Notice):
            self.warnings(event.message)

    def __enter__(self) -> BarSink:
        self._live.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._live.stop()
        self.warnings.close()
