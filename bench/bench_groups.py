"""What drawing `grids` by hand saves over rich's Table (issue 16, item 5).

Run from the repository root:

    python -m bench.bench_groups [--grids 400] [--repeat 21] [--widths 80,200]

It renders the same `grids` table (GRIDS synthetic grids with descriptions, as the catalogue
has about 380) into a file-backed console twice a round, in turns: once as pkgharvest prints
it (views/tables.groups_table, drawn by hand) and once through rich.table.Table with the same
columns (the reference tests/test_views.py holds the hand drawing to), and prints the median
of each and the difference. Taken in turns in one process so that machine load affects both.
A script, not a test: figures depend on the machine.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "src"))

from rich.console import Console  # noqa: E402

from pkgharvest.store.mirror import GroupSummary  # noqa: E402
from pkgharvest.views import tables  # noqa: E402
from tests.mirrorbuilder import synthetic_grids  # noqa: E402
from tests.test_views import _rich_groups_table  # noqa: E402

CAPTION = "400 grids; mirror updated 6 hours ago"


def summaries(count: int) -> list[GroupSummary]:
    grids = synthetic_grids(count)
    for index, grid in enumerate(grids):
        grid["description"] = f"Packages for topic {index} in Django projects, compared."
    return [GroupSummary(g, 2 + i % 60, 37 * i) for i, g in enumerate(grids)]


def render(renderable: Any, width: int) -> float:
    console = Console(
        file=io.StringIO(),
        width=width,
        force_terminal=True,
        color_system="truecolor",
        markup=False,
        emoji=False,
        highlight=False,
    )
    start = time.perf_counter()
    console.print(renderable, crop=False)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--grids", type=int, default=400)
    parser.add_argument("--repeat", type=int, default=21)
    parser.add_argument("--widths", default="80,200")
    args = parser.parse_args(argv)
    groups = summaries(args.grids)
    for width in (int(w) for w in args.widths.split(",")):
        by_hand: list[float] = []
        by_rich: list[float] = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            drawn = tables.groups_table(groups, "Grid", width=width, caption=CAPTION)
            by_hand.append(time.perf_counter() - start + render(drawn, width))
            start = time.perf_counter()
            columns = tables.group_columns(groups, "Grid", width=width)
            table = _rich_groups_table(columns, CAPTION)
            by_rich.append(time.perf_counter() - start + render(table, width))
        hand, rich = statistics.median(by_hand), statistics.median(by_rich)
        print(
            f"{args.grids} grids at {width} columns: by hand {hand * 1000:.1f} ms, "
            f"rich Table {rich * 1000:.1f} ms, rich costs {(rich - hand) * 1000:+.1f} ms "
            f"(median of {args.repeat}, in turns)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
