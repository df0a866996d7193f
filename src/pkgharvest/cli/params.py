"""The types of the options' values: each reads the text it is given and refuses bad text in
our own words (`must be at most 16 (got 17)`, `'star' is not one of stars, forks, ...`), as a
click `BadParameter` whose message cli/usage.py prefixes with the option's name, or with the
environment variable's when the value came from there. No message of click's is reworded.

Every option of every command that takes a value uses one of these (tests/test_cli_params.py
walks them), so no text of the user's reaches int(), float(), a date parser or a path check
unchecked.
"""

from __future__ import annotations

import difflib
import math
import os
import stat
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Any

# typer 0.28 vendors click as typer._click (pyproject caps typer below 0.29).
from typer._click.core import Context, Parameter
from typer._click.exceptions import BadParameter
from typer._click.shell_completion import CompletionItem
from typer._click.types import FloatRange, IntRange, ParamType

Param = Parameter | None
Ctx = Context | None

MAX_ROWS = 1_000_000_000
"""The most rows `--limit` may ask for (0 shows all; no catalogue comes near it)."""

_SHOWN = 80
"""The most characters of a refused value (not a path) a message repeats."""


def shown(value: object, *, whole: bool = False) -> str:
    """A refused value as a message repeats it: quoted with escapes (no control character
    reaches the terminal), cut when long unless `whole` (a path is shown whole)."""
    text = repr(str(value))
    return text if whole or len(text) <= _SHOWN else text[: _SHOWN - 4] + "...'"


def _cut(text: str) -> str:
    """A number's text as given (already checked to be ASCII), cut when long."""
    return text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "..."


def _number_text(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,}"


def _out_of_range(low: float, high: float, number: float, given: str) -> str | None:
    if number < low:
        return f"must be at least {_number_text(low)} (got {given})"
    if number > high:
        return f"must be at most {_number_text(high)} (got {given})"
    return None


class WholeNumber(IntRange):
    """A whole number from `low` to `high`, in ASCII digits (no `²`, no `1_000`, no `1.0`)."""

    name = "N"

    def __init__(self, low: int, high: int) -> None:
        super().__init__(min=low, max=high)
        self.low, self.high = low, high

    def get_metavar(self, param: Parameter, ctx: Context) -> str:
        return "N"

    def _describe_range(self) -> str:
        return f"{_number_text(self.low)} to {_number_text(self.high)}"

    def convert(self, value: Any, param: Param, ctx: Ctx) -> int:
        if isinstance(value, int) and not isinstance(value, bool):
            number, given = value, str(value)
        else:
            given = str(value).strip()
            digits = given[1:] if given[:1] in "+-" else given
            if not (digits.isascii() and digits.isdigit()):  # isdigit alone takes "²"
                raise BadParameter(f"{shown(value)} is not a whole number", ctx, param)
            if len(digits.lstrip("0")) > 30:
                # Beyond any limit (and int() refuses 4,300 digits and more).
                number = -(10**30) if given.startswith("-") else 10**30
            else:
                number = int(given)
        problem = _out_of_range(self.low, self.high, number, _cut(given))
        if problem is not None:
            raise BadParameter(problem, ctx, param)
        return number


class Number(FloatRange):
    """A finite number from `low` to `high` (`1e400`, `inf` and `nan` are refused)."""

    name = "NUMBER"

    def __init__(self, low: float, high: float) -> None:
        super().__init__(min=low, max=high)
        self.low, self.high = low, high

    def get_metavar(self, param: Parameter, ctx: Context) -> str:
        return "NUMBER"

    def _describe_range(self) -> str:
        return f"{_number_text(self.low)} to {_number_text(self.high)}"

    def convert(self, value: Any, param: Param, ctx: Ctx) -> float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            number, given = float(value), str(value)
        else:
            given = str(value).strip()
            try:
                if not given.isascii() or "_" in given:  # float() takes other digits and "1_000"
                    raise ValueError(given)
                number = float(given)  # "1e400" is inf, "nan" nan: refused below
            except ValueError:
                raise BadParameter(f"{shown(value)} is not a number", ctx, param) from None
        if math.isnan(number):
            raise BadParameter(
                f"must be a number from {self._describe_range()} (got {_cut(given)})", ctx, param
            )
        problem = _out_of_range(self.low, self.high, number, _cut(given))
        if problem is not None:
            raise BadParameter(problem, ctx, param)
        return number


class OneOf(ParamType):
    """One of an enumeration's values, in any case: `'star' is not one of stars, forks, ...
    (did you mean stars?)`. Gives the value as written in the enumeration (typer turns it
    into the member)."""

    name = "choice"

    def __init__(self, choices: type[Enum]) -> None:
        self.choices = tuple(str(member.value) for member in choices)

    def get_metavar(self, param: Parameter, ctx: Context) -> str:
        return "[" + "|".join(self.choices) + "]"

    def convert(self, value: Any, param: Param, ctx: Ctx) -> str:
        text = str(value.value if isinstance(value, Enum) else value)
        for choice in self.choices:
            if choice.casefold() == text.strip().casefold():
                return choice
        close = difflib.get_close_matches(text.casefold(), self.choices, n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise BadParameter(
            f"{shown(value)} is not one of {', '.join(self.choices)}{hint}", ctx, param
        )

    def shell_complete(
        self, ctx: Context, param: Parameter, incomplete: str
    ) -> list[CompletionItem]:
        start = incomplete.casefold()
        return [CompletionItem(c) for c in self.choices if c.casefold().startswith(start)]


class Folder(ParamType):
    """A folder's path: absent (it will be made) or a folder; never a file, never empty."""

    name = "DIR"

    def get_metavar(self, param: Parameter, ctx: Context) -> str:
        return "DIR"

    def convert(self, value: Any, param: Param, ctx: Ctx) -> Path:
        path = _path(value, param, ctx)
        try:
            mode = os.stat(path).st_mode
        except (OSError, ValueError):  # absent or out of reach: the command says what it met
            return path
        if stat.S_ISREG(mode):
            raise BadParameter(f"{shown(value, whole=True)} is a file", ctx, param)
        if not stat.S_ISDIR(mode):
            raise BadParameter(f"{shown(value, whole=True)} is not a folder", ctx, param)
        return path


class OutputFile(ParamType):
    """A file to write: absent or a file (or `-`, standard output); never a folder, never
    empty."""

    name = "FILE"

    def get_metavar(self, param: Parameter, ctx: Context) -> str:
        return "FILE"

    def convert(self, value: Any, param: Param, ctx: Ctx) -> Path:
        path = _path(value, param, ctx)
        if str(value) != "-" and path.is_dir():
            raise BadParameter(f"{shown(value, whole=True)} is a folder", ctx, param)
        return path


def _path(value: Any, param: Param, ctx: Ctx) -> Path:
    if isinstance(value, Path):
        return value
    if not str(value).strip():  # Path("") is the current folder: never what was meant
        raise BadParameter("must not be empty", ctx, param)
    # `~` as config.default_data_dir reads it: a shell expands it on the command line, but not
    # in a crontab's or a unit's environment.
    return Path(value).expanduser()


LAST_RUN = "last-run"


class Since:
    """`--since` as given (`text`, for messages) and the moment it names (`start`; None for
    `last-run`, where a command takes it)."""

    __slots__ = ("start", "text")

    def __init__(self, text: str, start: datetime | None) -> None:
        self.text = text
        self.start = start


class SinceType(ParamType):
    """A window's start: a duration back from now (7d, 12w, 36h) or a date (2026-01-31), and
    `last-run` where `last_run`. "Now" is the invocation's clock (runtime.Dependencies)."""

    name = "SINCE"

    def __init__(self, *, last_run: bool = False) -> None:
        self.last_run = last_run

    def convert(self, value: Any, param: Param, ctx: Ctx) -> Since:
        if isinstance(value, Since):
            return value
        text = str(value)
        if self.last_run and text.strip() == LAST_RUN:
            return Since(text, None)
        from pkgharvest.catalogue.history import parse_since
        from pkgharvest.cli.common import Invocation

        run = ctx.ensure_object(Invocation) if ctx is not None else Invocation()
        try:
            return Since(text, parse_since(text, run.deps.now()))
        except ValueError as err:
            raise BadParameter(f"{shown(value)} {err}", ctx, param) from None


class Duration(ParamType):
    """A duration: a number and a unit s, m, h, d or w (36h, 2d, 90m), in seconds."""

    name = "AGE"

    def convert(self, value: Any, param: Param, ctx: Ctx) -> float:
        if isinstance(value, float):
            return value
        from pkgharvest.status import parse_duration

        try:
            return parse_duration(str(value))
        except ValueError as err:
            raise BadParameter(f"{shown(value)} {err}", ctx, param) from None


class IndexUrl(ParamType):
    """A package index's URL (`deps --pypi-url`): http:// or https://, with a host; given back
    with a trailing slash (the URL the answers are asked under, and kept by)."""

    name = "URL"

    def get_metavar(self, param: Parameter, ctx: Context) -> str:
        return "URL"

    def convert(self, value: Any, param: Param, ctx: Ctx) -> str:
        from pkgharvest.config import base_url_problem

        text = str(value).strip()
        problem = base_url_problem(text)
        if problem is not None:
            raise BadParameter(f"{shown(value)} {problem}", ctx, param)
        return text if text.endswith("/") else text + "/"
