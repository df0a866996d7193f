"""What the commands share: the invocation's object (click's `ctx.obj`), opening the mirror for
reading, and printing JSON. Every command module imports this one; it imports none of them."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pkgharvest.runtime import Dependencies

if TYPE_CHECKING:
    from typer import _click as click

    from pkgharvest.catalogue.reader import Reader


class Invocation:
    """One run of the command line, handed to every command as click's `ctx.obj`.

    deps: the outside world the command uses (transport, clocks, sleep; pkgharvest.runtime).
    debug: show the traceback of a failure (set by `--debug`, which every command takes).
    """

    # A plain class: a dataclass costs every run its code generation at start-up.
    __slots__ = ("debug", "deps")

    def __init__(self, deps: Dependencies | None = None, *, debug: bool = False) -> None:
        self.deps = deps or Dependencies()
        self.debug = debug


def invocation(ctx: click.Context) -> Invocation:
    """The invocation a command runs in (`run()` passes it as `obj`; subcommands inherit it).
    A command called without one (another program driving the click group itself) gets the
    real world."""
    return ctx.ensure_object(Invocation)


def open_reader(data_dir: Path | None, deps: Dependencies, *, history: bool = False) -> Reader:
    """The mirror, read through a catalogue database (built, caught up, repaired or copied
    privately if need be; each is said in one line on stderr). `history`: for a history
    command (see catalogue.reader.open_reader)."""
    from pkgharvest.catalogue import wait_of
    from pkgharvest.catalogue.reader import open_reader as open_mirror_reader
    from pkgharvest.config import default_data_dir

    return open_mirror_reader(
        data_dir or default_data_dir(), wait=wait_of(deps), say=say, history=history
    )


def say(line: str) -> None:
    """One line on stderr (paths and database words can carry planted text: sanitized)."""
    from pkgharvest.views.text import sanitize

    sys.stderr.write(f"pkgharvest: {sanitize(line)}\n")


def print_json(value: Any) -> None:
    from pkgharvest.formats.writers import compact_dumps

    sys.stdout.write(compact_dumps(value) + "\n")


def print_json_array(items: Iterable[Any]) -> None:
    """`print_json(list(items))`, byte for byte, without holding the list."""
    from pkgharvest.formats.writers import compact_dumps

    write = sys.stdout.write
    separator = "[\n  "
    for item in items:
        # An item one level down is the same text with every line after its first indented.
        write(separator + compact_dumps(item).replace("\n", "\n  "))
        separator = ",\n  "
    write("[]\n" if separator == "[\n  " else "\n]\n")
