"""Options shared by several commands (the sqlite-utils habit): one definition, one help text."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pkgharvest.config import ENV_DATA_DIR

DataDirOption = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        envvar=ENV_DATA_DIR,
        help="The mirror's folder [default: the user data dir for pkgharvest].",
        show_default=False,
        file_okay=False,
    ),
]
JsonOption = Annotated[
    bool, typer.Option("--json", help="Print JSON on stdout instead of a table.")
]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="Print errors only.")]
DebugOption = Annotated[
    bool, typer.Option("--debug", help="Show the full traceback when something fails.")
]
