"""Terminal rendering of the mirror (rich tables, panels, sparklines) for the reading commands.

This package file stays tiny: `pkgharvest.cli.read` imports it at start-up for the `--scale`
choices, and `pkgharvest --help` must not pay for rich. The rich-based modules (`console`,
`tables`, `package`) are imported inside the command functions; `text` and `charts` are pure.
"""

from __future__ import annotations

from enum import StrEnum


class ActivityScale(StrEnum):
    """How the 52-week sparklines of one table are scaled.

    ROW: each row against its own busiest week, to show each package's rhythm (the default; the
    52-week total beside it compares sizes). SHARED: every row against the table's busiest week,
    so bar heights compare across rows.
    """

    ROW = "row"
    SHARED = "shared"
