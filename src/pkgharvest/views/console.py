"""The rich console every reading command prints through."""

from __future__ import annotations

import sys
from typing import TextIO

from rich.console import Console


def make_console(file: TextIO | None = None) -> Console:
    """A console on stdout that never interprets text as markup, emoji codes or highlights.

    Colour follows rich's rules: none when the output is not a terminal (piped, redirected) or
    when NO_COLOR is set; the width is the terminal's, else $COLUMNS, else 80.
    """
    return Console(
        file=file or sys.stdout,
        markup=False,
        emoji=False,
        highlight=False,
        soft_wrap=False,
    )
