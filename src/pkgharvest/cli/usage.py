"""Usage errors as one line, naming the option as the user gave it.

click reports a usage error in several lines (usage, a hint, "Error: ..."). Here each becomes
one line built from the exception's type and attributes, never from click's English text:

- a bad value (`BadParameter`): its parameter's name, then the message our parameter types
  (cli/params.py) wrote: `--by: 'star' is not one of stars, forks, ... (did you mean stars?)`.
  The parameter is named by its environment variable when the value came from there
  (`PKGHARVEST_DATA_DIR: '/etc/passwd' is a file`), by its longest option otherwise;
- a missing argument, an unknown option (with click's close matches), an option missing its
  value or given one it does not take: from the exception's attributes;
- anything else (the group's own "no such command" and "unexpected argument", cli/group.py,
  which are worded here already): its message, on one line.
"""

from __future__ import annotations

# typer 0.28 vendors click as typer._click (pyproject caps typer below 0.29).
from typer._click.core import Context, Parameter, ParameterSource
from typer._click.exceptions import (
    BadOptionUsage,
    BadParameter,
    MissingParameter,
    NoArgsIsHelpError,
    NoSuchOption,
    UsageError,
)


def usage_line(err: Exception) -> str | None:
    """The one-line message of a usage error, or None when `err` is not one (the no-arguments
    help page, say), so that click shows it itself."""
    if isinstance(err, NoArgsIsHelpError) or not isinstance(err, UsageError):
        return None
    if isinstance(err, MissingParameter) and err.param is not None:
        return f"missing {err.param.param_type_name} {_param_name(err.ctx, err.param)}"
    if isinstance(err, BadParameter) and err.param is not None:
        return f"{_param_name(err.ctx, err.param)}: {_one_line(err.message)}"
    if isinstance(err, NoSuchOption):
        close = list(err.possibilities or ())  # closest first (difflib)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        return f"no such option: {err.option_name}{hint}"
    if isinstance(err, BadOptionUsage):
        return _option_usage(err)
    return _one_line(err.message)


def _param_name(ctx: Context | None, param: Parameter) -> str:
    """How the user gave the parameter: its environment variable when the value came from
    there, its longest option, or an argument's metavar."""
    if ctx is not None and param.name and isinstance(param.envvar, str):
        source = ctx.get_parameter_source(param.name)
        if source is ParameterSource.ENVIRONMENT:
            return param.envvar
    opts = [opt for opt in param.opts if opt.startswith("-")]
    if opts:
        return max(opts, key=len)
    return param.metavar or (param.name or "value").upper()


def _option_usage(err: BadOptionUsage) -> str:
    """An option given without its value, or a flag given one (`--json=yes`)."""
    command = err.ctx.command if err.ctx is not None else None
    for param in command.params if command is not None else ():
        if err.option_name in param.opts or err.option_name in param.secondary_opts:
            if getattr(param, "is_flag", False):
                return f"option {err.option_name!r} does not take a value"
            if param.nargs > 1:
                return f"option {err.option_name!r} requires {param.nargs} arguments"
            break
    return f"option {err.option_name!r} requires an argument"


def _one_line(text: str) -> str:
    """One line, lower-case start, no final period (it ends up inside a longer line)."""
    line = " ".join(text.split())
    if line[:1].isupper() and not line[1:2].isupper():
        line = line[0].lower() + line[1:]
    return line.removesuffix(".")
