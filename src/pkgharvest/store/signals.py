"""What SIGINT, SIGTERM and SIGHUP do to a fetch.

Outside the commit, each stops the run the way Ctrl-C always did: `Interrupted` is raised, the
run's staged work is discarded, the mirror is unchanged, and the CLI exits 128 + the signal's
number (SIGHUP 129, SIGINT 130, SIGTERM 143) saying so. Systemd's stop and a closed terminal
therefore leave no staging folder behind.

During the commit (the renames that put a run's files into place, see store.py), the three
signals are held: the commit finishes, then the first signal that came acts, and the message
says the mirror is updated. SIGKILL cannot be held: the commit's journal covers it (the next
command finishes the commit).

Handlers are Python-level and exist only in the main thread; elsewhere both context managers
do nothing.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType
from typing import Any

from pkgharvest.errors import Interrupted

HANDLED: tuple[signal.Signals, ...] = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)

_commit_finished = False
"""Set once this process's commit has finished: a later signal must not say "unchanged"."""
_last_stop: Interrupted | None = None


def take_interruption() -> Interrupted | None:
    """The `Interrupted` the last signal raised, once (the CLI's error funnel asks: click turns
    a KeyboardInterrupt into its own Abort and an exit code, dropping the exception)."""
    global _last_stop
    stop, _last_stop = _last_stop, None
    return stop


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def _install(handler: Any) -> dict[signal.Signals, Any]:
    return {signum: signal.signal(signum, handler) for signum in HANDLED}


def _restore(previous: dict[signal.Signals, Any]) -> None:
    for signum, handler in previous.items():
        signal.signal(signum, handler)


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """For the block (one fetch): SIGINT, SIGTERM and SIGHUP raise `Interrupted`."""
    global _commit_finished, _last_stop
    if not _in_main_thread():
        yield
        return

    def stop(signum: int, frame: FrameType | None) -> None:
        global _last_stop
        name = signal.Signals(signum).name
        _last_stop = Interrupted(name, 128 + signum, committed=_commit_finished)
        raise _last_stop

    _commit_finished, _last_stop = False, None
    previous = _install(stop)
    try:
        yield
    finally:
        _restore(previous)


@contextlib.contextmanager
def held_during_commit() -> Iterator[None]:
    """For the block (a commit): the signals wait until it ends, then act as they would have
    (the block's own exception, if any, goes first: the process is ending anyway)."""
    global _commit_finished
    if not _in_main_thread():
        yield
        _commit_finished = True
        return
    pending: list[int] = []

    def hold(signum: int, frame: FrameType | None) -> None:
        pending.append(signum)

    previous = _install(hold)
    try:
        yield
        _commit_finished = True
    finally:
        _restore(previous)
    if pending:
        signal.raise_signal(pending[0])  # now handled by whatever was installed before
