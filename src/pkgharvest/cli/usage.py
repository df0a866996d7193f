"""Usage errors in pkgharvest's own words: one line, naming the option as the user gave it.

typer reports a bad option in several lines (usage, a hint, then an "Invalid value" sentence
worded by its vendored click: "'x' is not a valid int range.", "0 is not in the range
1<=x<=16."), and names the environment variable of an option even when the value came from the
command line. Here each becomes `--by: 'star' is not one of stars, forks, commits, ... (did you
mean stars?)` or `--concurrency: must be at least 1 (got 0)`, with the environment variable
named only when the value came from it.

typer's exceptions are read by their attributes (`param`, `ctx`, `message`, the parameter's
type and its `min`/`max`), not imported: the classes live in a private module.
"""

from __future__ import annotations

import difflib
import re
from typing import Any

_CHOICE = re.compile(r"^(?:Value error, )?(?P<value>'.*') is not one of (?P<choices>.*?)\.?$", re.S)
_QUOTED = re.compile(r"'((?:[^'\\]|\\.)*)'")
_NOT_A_NUMBER = re.compile(
    r"^(?P<value>.*) is not a valid (?P<kind>int|integer|float)(?: range)?\.?$", re.S
)
_OUT_OF_RANGE = re.compile(r"^(?P<value>\S+) is not in the range ", re.S)


def usage_line(err: Exception) -> str | None:
    """The one-line message of a typer usage error, or None when `err` is not one (the
    no-arguments help page, say), so that typer shows it itself."""
    if type(err).__name__ == "NoArgsIsHelpError" or getattr(err, "exit_code", None) != 2:
        return None
    message = str(getattr(err, "message", "") or "")
    param = getattr(err, "param", None)
    kind = type(err).__name__
    if kind == "MissingParameter" and param is not None:
        what = getattr(param, "param_type_name", "parameter")
        return f"missing {what} {_param_name(err, param)}"
    if param is not None:
        return f"{_param_name(err, param)}: {_reason(err, message)}"
    if kind == "NoSuchOption":
        possibilities = sorted(getattr(err, "possibilities", None) or ())
        hint = f" (did you mean {', '.join(possibilities)}?)" if possibilities else ""
        return _sentence(message) + hint
    if message.startswith("No such command"):
        # typer may add its own "Did you mean ...?" sentence: keep the first, add ours.
        return _sentence(message.split(".")[0]) + _commands_hint(err, message)
    return _sentence(message)


def _commands_hint(err: Exception, message: str) -> str:
    ctx = getattr(err, "ctx", None)
    try:
        commands = list(ctx.command.list_commands(ctx)) if ctx is not None else []
    except AttributeError:
        return ""
    typed = _QUOTED.findall(message)
    close = difflib.get_close_matches(typed[0], commands, n=1) if typed else []
    if close:
        return f" (did you mean {close[0]}?)"
    return f" (commands: {', '.join(commands)})" if commands else ""


def _param_name(err: Exception, param: Any) -> str:
    """How the user gave the parameter: its long option, its environment variable when the value
    came from there, or an argument's metavar."""
    ctx = getattr(err, "ctx", None)
    name = getattr(param, "name", None)
    envvar = getattr(param, "envvar", None)
    if ctx is not None and name and isinstance(envvar, str):
        source = ctx.get_parameter_source(name)
        if source is not None and source.name == "ENVIRONMENT":
            return str(envvar)
    opts = [str(opt) for opt in getattr(param, "opts", ()) if str(opt).startswith("-")]
    if opts:
        return max(opts, key=len)
    metavar = getattr(param, "metavar", None)
    return str(metavar or (name or "value").upper())


def _reason(err: Exception, message: str) -> str:
    """What was wrong with the value, in plain words."""
    choice = _CHOICE.match(message)
    if choice is not None:
        choices = _QUOTED.findall(choice.group("choices"))
        value = choice.group("value")
        text = f"{value} is not one of {', '.join(choices)}"
        close = difflib.get_close_matches(value.strip("'"), choices, n=1, cutoff=0.6)
        return text + (f" (did you mean {close[0]}?)" if close else "")
    problem = _number_problem(_param_type(err), message) or _validation_problem(err)
    if problem is not None:
        return problem
    # Path checks say "Directory '/etc/passwd' is a file" (typer 0.29: "dir '...'"): the
    # option's name already says what it is.
    line = _sentence(message.removeprefix("Value error, "))
    return line.removeprefix("directory ").removeprefix("dir ").removeprefix("file ")


def _param_type(err: Exception) -> object:
    """The click parameter type that refused the value (an IntRange carries its limits)."""
    return getattr(getattr(err, "param", None), "type", None)


def _number_problem(kind: object, message: str) -> str | None:
    """click's number errors, reworded: "'x' is not a valid int range." and "0 is not in the
    range 1<=x<=16." name the syntax of the range; the user wants the limit that was crossed."""
    not_a = _NOT_A_NUMBER.match(message)
    if not_a is not None:
        words = "a whole number" if "int" in not_a.group("kind") else "a number"
        return f"{not_a.group('value')} is not {words}"
    out = _OUT_OF_RANGE.match(message)
    if out is None:
        return None
    given = out.group("value")
    low, high = getattr(kind, "min", None), getattr(kind, "max", None)
    try:
        value = float(given)
    except ValueError:
        return None
    if low is not None and value <= low:
        words = "more than" if getattr(kind, "min_open", False) else "at least"
        return f"must be {words} {low} (got {given})"
    if high is not None:
        words = "less than" if getattr(kind, "max_open", False) else "at most"
        return f"must be {words} {high} (got {given})"
    return None


def _validation_problem(err: Exception) -> str | None:
    """typer 0.29's pydantic errors, reworded alike: a venv made before the cap on typer still
    has 0.29, and its users should read the same lines."""
    cause = err.__cause__
    errors = getattr(cause, "errors", None)
    if not callable(errors):
        return None
    try:
        first = errors()[0]
        kind, given, limits = first["type"], first.get("input"), first.get("ctx") or {}
    except (TypeError, LookupError, ValueError):
        return None
    shown = repr(given) if isinstance(given, str) else str(given)
    if kind == "int_parsing":
        return f"{shown} is not a whole number"
    if kind == "float_parsing":
        return f"{shown} is not a number"
    for bound, words in _BOUNDS:
        if bound in limits:
            return f"must be {words} {limits[bound]} (got {given})"
    return None


_BOUNDS = (("ge", "at least"), ("gt", "more than"), ("le", "at most"), ("lt", "less than"))


def _sentence(text: str) -> str:
    """One line, lower-case start, no final period (it ends up inside a longer line)."""
    line = " ".join(text.split())
    if line[:1].isupper() and not line[1:2].isupper():
        line = line[0].lower() + line[1:]
    return line.removesuffix(".")
