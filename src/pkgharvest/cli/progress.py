"""Turning fetch events into what a person (or a cron mail) sees.

Without a terminal (cron, --quiet, --json) nothing here needs rich: its import is paid
only by the bars on a terminal (cli/bar.py)."""

from __future__ import annotations

import sys
import threading
from typing import TYPE_CHECKING

from pkgharvest.events import Event, Notice

if TYPE_CHECKING:
    from rich.console import Console

MAX_NOTICES = 20
"""Warnings printed in one run; the rest are counted (a hostile catalogue could send thousands)."""


def plain(text: str) -> str:
    """API text inside a warning: control characters (ANSI escapes...) made visible, not run."""
    from pkgharvest.views.text import visible  # pure, and cheap: no rich

    return visible(text)


class Warnings:
    """Prints notices on stderr as `pkgharvest: warning: ...`, at most MAX_NOTICES of them."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console
        self.shown = 0
        self.hidden = 0
        self._lock = threading.Lock()

    def __call__(self, message: str) -> None:
        with self._lock:
            if self.shown >= MAX_NOTICES:
                self.hidden += 1
                return
            self.shown += 1
        self._write(f"pkgharvest: warning: {plain(message)}")

    def _write(self, line: str) -> None:
        if self.console is not None:
            from rich.text import Text  # a console means rich is loaded already

            self.console.print(Text(line, style="yellow"), soft_wrap=True)
        else:
            sys.stderr.write(line + "\n")

    def close(self) -> None:
        if self.hidden:
            self._write(
                f"pkgharvest: warning: ... and {self.hidden} more warnings (see --json for all)"
            )


class QuietSink:
    """--quiet and --json: nothing while running."""

    def __call__(self, event: Event) -> None:
        return None

    def __enter__(self) -> QuietSink:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


class LineSink:
    """Not a terminal (cron): no bar, no colour; warnings only, as plain lines on stderr."""

    def __init__(self) -> None:
        self.warnings = Warnings()

    def __call__(self, event: Event) -> None:
        if isinstance(event, Notice):
            self.warnings(event.message)

    def __enter__(self) -> LineSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.warnings.close()
