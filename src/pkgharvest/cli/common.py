"""What the commands share: the invocation's object (click's `ctx.obj`), opening the mirror for
reading, and printing JSON. Every command module imports this one; it imports none of them."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO, cast

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
    """One notice line on stderr (paths and database words can carry planted text: control
    characters written out as escapes)."""
    from pkgharvest.views.text import visible

    sys.stderr.write(f"pkgharvest: {visible(line)}\n")


def print_json(value: Any) -> None:
    from pkgharvest.formats.jsontext import compact_dumps

    sys.stdout.write(compact_dumps(value) + "\n")


def print_json_array(items: Iterable[Any], out: TextIO | None = None) -> None:
    """`print_json(list(items))`, byte for byte, without holding the list (to `out`, default
    stdout)."""
    from pkgharvest.formats.jsontext import compact_dumps

    write = (out or sys.stdout).write
    separator = "[\n  "
    for item in items:
        # An item one level down is the same text with every line after its first indented.
        write(separator + compact_dumps(item).replace("\n", "\n  "))
        separator = ",\n  "
    write("[]\n" if separator == "[\n  " else "\n]\n")


_SPOOL_IN_MEMORY = 4 * 1024 * 1024
"""Bytes of output a spool keeps in memory before it moves to a temporary file."""


def spooled(write: Callable[[TextIO], None]) -> Callable[[TextIO], None]:
    """`write`, run first into a spool (memory, then a private temporary file outside the data
    folder), and the whole of it copied to the stream the returned function is given. A
    catalogue database repaired while `write` streamed rows from it (CatalogueRepaired) has
    `write` run again, so the output is one whole catalogue, never half of two."""
    from pkgharvest.errors import CatalogueRepaired

    def write_whole(out: TextIO) -> None:
        import shutil
        import tempfile

        for attempt in (1, 2):
            with tempfile.SpooledTemporaryFile(
                max_size=_SPOOL_IN_MEMORY, mode="w+", encoding="utf-8", newline=""
            ) as spool:
                try:
                    write(cast(TextIO, spool))
                except CatalogueRepaired:
                    if attempt == 2:
                        raise
                    continue
                spool.seek(0)
                shutil.copyfileobj(spool, out, 1 << 16)
                return

    return write_whole


def write_stdout(write: Callable[[TextIO], None]) -> None:
    """Write UTF-8 with the writer's own line endings to stdout, whatever its locale."""
    import io

    sys.stdout.flush()
    buffer = getattr(sys.stdout, "buffer", None)
    if buffer is None:  # a text-only stream (some embedding): write text as is
        write(sys.stdout)
        return
    stream = io.TextIOWrapper(buffer, encoding="utf-8", newline="")
    try:
        write(stream)
        stream.flush()
    finally:
        stream.detach()  # leave sys.stdout's buffer open


def write_fitted(line: str) -> None:
    """`line` on stdout; on a terminal, broken between its clauses to the terminal's width (as
    the tables' footers are) rather than by the terminal inside a word. A pipe or a log gets
    it on one line, to grep."""
    if sys.stdout.isatty():
        import shutil

        from pkgharvest.views.columns import wrapped_lines

        line = "\n".join(wrapped_lines(line, shutil.get_terminal_size((80, 24)).columns))
    sys.stdout.write(line + "\n")
