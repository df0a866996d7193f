"""The command line. Only this package imports typer; it stays thin.

`main()` is the single error funnel (the twine / fastapi-cli habit): every `PkgHarvestError`
becomes one line on stderr and its documented exit code; a traceback appears only with --debug.
`run(argv, deps)` takes the outside world (transport, clocks, sleep, retry policy) as one
`Dependencies` object and hands it, with the debug flag, to the command as click's `ctx.obj`
(an `Invocation`), so tests hand one in instead of patching modules. The commands themselves
are in cli/group.py's table, each loaded only when run.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sys
from typing import TextIO

import typer

from pkgharvest.cli.common import Invocation
from pkgharvest.cli.group import root_command
from pkgharvest.errors import ExitCode, PkgHarvestError
from pkgharvest.runtime import Dependencies
from pkgharvest.store.signals import take_interruption

_OUTPUT_FULL = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO})
"""Why writing the output can fail: a full disk or quota (`top > /dev/full`), a file size
limit, a terminal gone. Files in the data folder and `-o` report their own errors (named);
an OSError with one of these reaching the funnel was a write to standard output."""


def _drop_stdout(stream: TextIO | None = None) -> None:
    """Point stdout (or `stream`) at devnull, so that the interpreter's final flush of what is
    still buffered neither fails again nor prints "Exception ignored"."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, (stream or sys.stdout).fileno())


def _reader_left() -> int:
    """`pkgharvest export | head`: the reader left early; that is not an error."""
    _drop_stdout()
    return ExitCode.OK


def _output_failed(err: OSError) -> int:
    """`pkgharvest top > /dev/full`: the output could not be written (exit 73, one line)."""
    _drop_stdout()
    where = err.filename if err.filename is not None else "standard output"
    return _fail(f"error: cannot write {where}: {err.strerror or err}", ExitCode.CANT_WRITE)


def _fail(message: str, code: int) -> int:
    from pkgharvest.views.text import visible  # a path or slug in it may hold escapes

    try:
        sys.stderr.write(f"pkgharvest: {visible(message)}\n")
        sys.stderr.flush()
    except OSError:  # stderr is full too (`2>/dev/full`): the exit code has to say it all
        _drop_stdout(sys.stderr)
    return code


def _debug_traceback(run: Invocation) -> None:
    """With --debug, the traceback of the exception being handled (traceback is imported only
    then: it costs start-up time on every run)."""
    if run.debug:
        import traceback

        traceback.print_exc()


def _bug(err: Exception, run: Invocation) -> int:
    _debug_traceback(run)
    return _fail(
        f"internal error: {type(err).__name__}: {err} (rerun with --debug for details)",
        ExitCode.INTERNAL,
    )


def _interrupted() -> int:
    """Ctrl-C, or a signal that stopped a fetch (which says which, and whether it committed)."""
    stop = take_interruption()
    if stop is not None:
        return _fail(f"error: {stop}", stop.exit_code)
    return _fail("interrupted; the mirror is unchanged", ExitCode.INTERRUPTED)


def run(argv: list[str] | None = None, deps: Dependencies | None = None) -> int:
    """Run the CLI and return its exit code; every exception ends here.

    deps: the transport, clocks, sleep and retry policy to use (default: the real world).
    """
    args = sys.argv[1:] if argv is None else argv
    # --debug is read before parsing too, so that a failure while parsing shows its traceback.
    this_run = Invocation(deps=deps or Dependencies(), debug="--debug" in args)
    try:
        if args and args[0].startswith("--"):  # perhaps --install-completion SHELL
            from pkgharvest.cli.completion import completion_request, run_completion

            completion = completion_request(args)
            if completion is not None:
                return run_completion(*completion)
        command = root_command()
        # Not standalone: typer returns Exit codes (and 130 for Ctrl-C) instead of exiting,
        # and raises usage errors for us to show.
        code = command.main(args=args, prog_name="pkgharvest", standalone_mode=False, obj=this_run)
        # Output is block-buffered when redirected: write it out now, while a failure (a full
        # disk) can still be reported, rather than in the interpreter's final flush.
        sys.stdout.flush()
    except PkgHarvestError as err:
        _debug_traceback(this_run)
        return _fail(f"error: {err}", err.exit_code)
    except typer.TyperException as err:  # usage errors: bad option, missing argument...
        from pkgharvest.cli.usage import usage_line

        line = usage_line(err)
        if line is not None:
            if args[:1] == ["fetch"] and "--json" in args:  # a script always gets a document
                from pkgharvest.cli import fetch

                fetch.write_json(fetch.failure_document(ExitCode.USAGE, line))
            return _fail(f"error: {line}", ExitCode.USAGE)
        show = getattr(err, "show", None)
        if callable(show):
            show()
        else:
            _fail(err.format_message(), ExitCode.USAGE)
        return int(err.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        return _interrupted()
    except BrokenPipeError:
        return _reader_left()
    except SystemExit as exit_:
        # typer answers a broken pipe itself with sys.exit(1), raised inside its handler.
        cause = exit_.__context__
        if isinstance(cause, OSError) and cause.errno == errno.EPIPE:
            return _reader_left()
        raise
    except OSError as err:
        if err.errno not in _OUTPUT_FULL:
            return _bug(err, this_run)
        _debug_traceback(this_run)
        return _output_failed(err)
    except Exception as err:  # the last line of defence: a bug, never a raw traceback
        return _bug(err, this_run)
    if code == ExitCode.INTERRUPTED:
        return _interrupted()
    return code if isinstance(code, int) else ExitCode.OK


def main() -> None:
    sys.exit(run())
