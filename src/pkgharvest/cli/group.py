"""The `pkgharvest` group: which commands exist, in help order, each loaded only when asked for.

click's documented way to load subcommands lazily: a group whose `list_commands` reads a table
and whose `get_command` imports the command's module then. A run imports only its command's
module (a reading command never loads the fetch pipeline or httpx) and typer builds only that
command: typer inspects every parameter of every command it builds.

A command module registers its commands on its own `commands = typer.Typer()`; adding one is a
line in COMMANDS.
"""

from __future__ import annotations

import importlib
from typing import Any

import typer
import typer.core
import typer.main
from typer import _click as click  # typer 0.28 vendors click; pyproject caps typer below 0.29

from pkgharvest import __version__
from pkgharvest.errors import exit_codes_help


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
    "status": CommandEntry(
        "pkgharvest.cli.status", "The mirror's freshness, source, counts, size, and lock."
    ),
    "verify": CommandEntry(
        "pkgharvest.cli.status", "Check every file of the data folder; exit 65 on problems."
    ),
}
"""Every command, in the order `pkgharvest --help` lists them."""


def _debug_option() -> typer.core.TyperOption:
    """`--debug`, which every command takes: a failure's traceback. The funnel reads it from
    the arguments before parsing (so that a failure while parsing has one too)."""

    def remember(ctx: click.Context, param: Any, value: bool) -> None:
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


def _build(name: str, entry: CommandEntry) -> click.Command:
    registrar = importlib.import_module(entry.module).commands
    for info in registrar.registered_commands:
        callback = info.callback
        if (info.name or typer.main.get_command_name(callback.__name__)) == name:
            command = typer.main.get_command_from_info(
                info, pretty_exceptions_short=False, rich_markup_mode=None
            )
            command.params.append(_debug_option())
            return command
    raise LookupError(f"{entry.module} defines no command {name!r}")


class LazyGroup(typer.core.TyperGroup):
    """A group that imports a command's module only when the command is asked for."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = self.commands.get(cmd_name)
        entry = COMMANDS.get(cmd_name)
        if command is None and entry is not None:
            command = self.commands[cmd_name] = _build(cmd_name, entry)
            command.short_help = entry.summary
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list from the table: `--help` imports no command module."""
        with formatter.section("Commands"):
            formatter.write_dl([(name, entry.summary) for name, entry in COMMANDS.items()])


app = typer.Typer(
    name="pkgharvest",
    cls=LazyGroup,
    help=(
        "Mirror the Django Packages catalogue into local JSON, and read it offline.\n\n"
        "Example: pkgharvest fetch && pkgharvest top --by stars --limit 20\n\n"
        "Exit codes:\n\n" + exit_codes_help()
    ),
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"pkgharvest {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version."
    ),
) -> None:
    """Mirror the Django Packages catalogue into local JSON, and read it offline."""


def root_command() -> LazyGroup:
    """The `pkgharvest` group (its commands are built when asked for)."""
    group = typer.main.get_command(app)
    assert isinstance(group, LazyGroup)
    return group
