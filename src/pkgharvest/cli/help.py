"""`pkgharvest help [COMMAND]`: the same page as `pkgharvest [COMMAND] --help` (gh, pip and
sqlite-utils have it too)."""

from __future__ import annotations

from typing import Annotated

import typer

commands = typer.Typer()


def _complete_commands(ctx: typer.Context, incomplete: str) -> list[str]:
    from pkgharvest.cli.group import COMMANDS

    return [name for name in COMMANDS if name.startswith(incomplete)]


@commands.command(name="help", epilog="Example: pkgharvest help fetch")
def help_command(
    ctx: typer.Context,
    command: Annotated[
        str | None,
        typer.Argument(
            metavar="COMMAND",
            help="The command to explain (default: pkgharvest itself).",
            show_default=False,
            autocompletion=_complete_commands,
        ),
    ] = None,
) -> None:
    """Show the help of pkgharvest, or of COMMAND (as `pkgharvest COMMAND --help` does)."""
    from pkgharvest.cli.group import no_such_command

    root = ctx.find_root()
    if command is None:
        typer.echo(root.get_help())
        return
    group = root.command
    found = group.get_command(root, command) if isinstance(group, typer.core.TyperGroup) else None
    if found is None:
        raise no_such_command(root, command)
    with typer.Context(found, info_name=command, parent=root) as page:
        typer.echo(found.get_help(page))
