"""The `pkgharvest` group: which commands exist, in help order, each loaded only when asked for.

click's documented way to load subcommands lazily: a group whose `list_commands` reads a table
and whose `get_command` imports the command's module then. A run imports only its command's
module (a reading command never loads the fetch pipeline or httpx) and typer builds only that
command: typer inspects every parameter of every command it builds. `--help` lists the table
without importing any command.

A command module registers its commands on its own `commands = typer.Typer()`; adding one is a
line in COMMANDS. Every command gets `-h`/`--help` and `--debug` here.
"""

from __future__ import annotations

import difflib
import importlib
from typing import Any

import typer
import typer.core
import typer.main

# typer 0.28 vendors click as typer._click (pyproject caps typer below 0.29).
from typer._click.core import Command, Context
from typer._click.exceptions import UsageError
from typer._click.formatting import HelpFormatter

from pkgharvest import __version__
from pkgharvest.errors import EXIT_CODE_MEANINGS


class CommandEntry:
    """module: where the command is defined (on that module's `commands` Typer).
    summary: its line in `pkgharvest --help` (the command's own help is its docstring)."""

    # A plain class: a dataclass costs every run its code generation at start-up.
    __slots__ = ("module", "summary")

    def __init__(self, module: str, summary: str) -> None:
        self.module = module
        self.summary = summary


COMMANDS: dict[str, CommandEntry] = {
    "fetch": CommandEntry(
        "pkgharvest.cli.fetch", "Mirror the Django Packages catalogue into the data folder."
    ),
    "top": CommandEntry(
        "pkgharvest.cli.read", "Rank packages by stars, forks, commits, activity or date."
    ),
    "grid": CommandEntry("pkgharvest.cli.read", "One grid's packages, in rows or side by side."),
    "show": CommandEntry(
        "pkgharvest.cli.read", "One package: every field, 52 weeks of commits, its history."
    ),
    "grids": CommandEntry(
        "pkgharvest.cli.read", "List the grids with their package counts and total stars."
    ),
    "categories": CommandEntry(
        "pkgharvest.cli.read", "List the categories with their package counts and total stars."
    ),
    "export": CommandEntry(
        "pkgharvest.cli.read", "Export packages (or their history) as CSV, JSON Lines or JSON."
    ),
    "trends": CommandEntry(
        "pkgharvest.cli.history", "Packages ranked by the stars (or forks) gained in a window."
    ),
    "changes": CommandEntry(
        "pkgharvest.cli.history", "What the runs changed: new, removed, releases, stars."
    ),
    "deps": CommandEntry(
        "pkgharvest.cli.deps", "Your project's dependencies against the catalogue."
    ),
    "status": CommandEntry(
        "pkgharvest.cli.status", "The mirror's freshness, source, counts, size, and lock."
    ),
    "verify": CommandEntry(
        "pkgharvest.cli.status", "Check every file of the data folder; exit 65 on problems."
    ),
    "help": CommandEntry("pkgharvest.cli.help", "Show the help of pkgharvest or of a command."),
}
"""Every command, in the order `pkgharvest --help` lists them."""

HELP_OPTIONS = ["-h", "--help"]


def no_such_command(ctx: Context, name: str) -> UsageError:
    """`no such command 'tpo' (did you mean top?)`, or the list of commands."""
    from pkgharvest.cli.params import shown

    close = difflib.get_close_matches(name, list(COMMANDS), n=1)
    hint = f"did you mean {close[0]}?" if close else f"commands: {', '.join(COMMANDS)}"
    return UsageError(f"no such command {shown(name)} ({hint})", ctx)


def _with_context(ctx: Context, err: UsageError) -> UsageError:
    """click's parser raises some usage errors without their context; cli/usage.py needs it
    to look the option up (is it a flag?)."""
    if err.ctx is None:
        err.ctx, err.cmd = ctx, ctx.command
    return err


class PkgHarvestCommand(typer.core.TyperCommand):
    """A command whose stray arguments are refused in our words, not click's."""

    def parse_args(self, ctx: Context, args: list[str]) -> list[str]:
        refuse = not ctx.allow_extra_args
        ctx.allow_extra_args = True
        try:
            rest = super().parse_args(ctx, args)
        except UsageError as err:
            raise _with_context(ctx, err) from None
        if refuse and rest and not ctx.resilient_parsing:
            from pkgharvest.cli.params import shown

            more = f" (and {len(rest) - 1} more)" if len(rest) > 1 else ""
            raise UsageError(f"unexpected argument {shown(rest[0])}{more}", ctx)
        return rest


def _debug_option() -> typer.core.TyperOption:
    """`--debug`, which every command takes: a failure's traceback. The funnel reads it from
    the arguments before parsing too (so that a failure while parsing has one)."""

    def remember(ctx: Context, param: Any, value: bool) -> None:
        if value:
            from pkgharvest.cli.common import invocation

            invocation(ctx).debug = True

    return typer.core.TyperOption(
        param_decls=["debug", "--debug"],
        is_flag=True,
        default=False,
        expose_value=False,
        callback=remember,
        help="Show the full traceback when something fails.",
    )


def _build(name: str, entry: CommandEntry) -> Command:
    registrar = importlib.import_module(entry.module).commands
    for info in registrar.registered_commands:
        callback = info.callback
        if (info.name or typer.main.get_command_name(callback.__name__)) == name:
            if info.cls in (None, typer.core.TyperCommand):  # typer's default
                info.cls = PkgHarvestCommand
            command = typer.main.get_command_from_info(
                info, pretty_exceptions_short=False, rich_markup_mode=None
            )
            command.params.append(_debug_option())
            command.short_help = entry.summary
            return command
    raise LookupError(f"{entry.module} defines no command {name!r}")


class LazyGroup(typer.core.TyperGroup):
    """A group that imports a command's module only when the command is asked for, and whose
    help lists the commands first and the exit codes last."""

    def list_commands(self, ctx: Context) -> list[str]:
        return list(COMMANDS)

    def parse_args(self, ctx: Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except UsageError as err:
            raise _with_context(ctx, err) from None

    def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
        command = self.commands.get(cmd_name)
        entry = COMMANDS.get(cmd_name)
        if command is None and entry is not None:
            command = self.commands[cmd_name] = _build(cmd_name, entry)
        return command

    def resolve_command(
        self, ctx: Context, args: list[str]
    ) -> tuple[str | None, Command | None, list[str]]:
        name = args[0]
        command = self.get_command(ctx, name)
        if command is None and not name.startswith("-") and not ctx.resilient_parsing:
            raise no_such_command(ctx, name)
        if command is None:
            return super().resolve_command(ctx, args)
        return name, command, args[1:]

    def format_help(self, ctx: Context, formatter: HelpFormatter) -> None:
        """Usage, the description, the commands, the options, the exit codes: on a terminal of
        24 lines the commands are on the first screen."""
        from pkgharvest.cli.completion import document_shell_argument

        document_shell_argument(self)
        self.format_usage(ctx, formatter)
        self.format_help_text(ctx, formatter)
        self.format_commands(ctx, formatter)
        options = [record for p in self.get_params(ctx) if (record := p.get_help_record(ctx))]
        with formatter.section("Options"):
            formatter.write_dl(options)
        with formatter.section("Exit codes"):
            formatter.write_dl(
                [(str(int(code)), text) for code, text in EXIT_CODE_MEANINGS.items()]
            )

    def format_commands(self, ctx: Context, formatter: HelpFormatter) -> None:
        """The command list from the table: `--help` imports no command module."""
        with formatter.section("Commands"):
            formatter.write_dl([(name, entry.summary) for name, entry in COMMANDS.items()])


app = typer.Typer(
    name="pkgharvest",
    cls=LazyGroup,
    help=(
        "Mirror the Django Packages catalogue into local JSON, and read it offline.\n\n"
        "Example: pkgharvest fetch && pkgharvest top --by stars --limit 20"
    ),
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": HELP_OPTIONS},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"pkgharvest {__version__}")
        raise typer.Exit()


def _debug(ctx: typer.Context, value: bool) -> None:
    if value:
        from pkgharvest.cli.common import invocation

        invocation(ctx).debug = True


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version."
    ),
    # `pkgharvest --debug top` as well as `pkgharvest top --debug` (every command takes it).
    debug: bool = typer.Option(
        False, "--debug", callback=_debug, help="Show the full traceback when something fails."
    ),
) -> None:
    """Mirror the Django Packages catalogue into local JSON, and read it offline."""


def root_command() -> LazyGroup:
    """The `pkgharvest` group (its commands are built when asked for)."""
    group = typer.main.get_command(app)
    assert isinstance(group, LazyGroup)
    return group
