"""Options shared by several commands (the sqlite-utils habit): one definition, one help text."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from pkgharvest.cli.params import Folder
from pkgharvest.config import ENV_DATA_DIR
from pkgharvest.records import Kind

DataDirOption = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        envvar=ENV_DATA_DIR,
        click_type=Folder(),
        help="The mirror's folder [default: the user data dir for pkgharvest].",
        show_default=False,
    ),
]
JsonOption = Annotated[
    bool, typer.Option("--json", help="Print JSON on stdout instead of a table.")
]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="Print errors only.")]


def complete_slugs(kind: Kind) -> Callable[[typer.Context, str], list[str]]:
    """Shell completion from the mirror's file names (cheap: no record is parsed)."""

    def complete(ctx: typer.Context, incomplete: str) -> list[str]:
        from pkgharvest.config import default_data_dir

        root = ctx.params.get("data_dir") or default_data_dir()
        try:
            names = [p.name for p in (Path(root) / kind.value).iterdir()]
        except OSError:
            return []
        stems = (n.removesuffix(".json") for n in names if n.endswith(".json"))
        return sorted(s for s in stems if s.startswith(incomplete) and not s.startswith((".", "_")))

    return complete


GridOption = Annotated[
    str | None,
    typer.Option(
        "--grid",
        metavar="SLUG",
        help="Only packages in this grid (slug or id).",
        autocompletion=complete_slugs(Kind.GRID),
    ),
]
CategoryOption = Annotated[
    str | None,
    typer.Option(
        "--category",
        metavar="SLUG",
        help="Only packages in this category (slug or id).",
        autocompletion=complete_slugs(Kind.CATEGORY),
    ),
]
MatchOption = Annotated[
    str | None,
    typer.Option(
        "--match",
        metavar="TEXT",
        help="Only packages whose title, slug or description contains TEXT (any case).",
    ),
]
