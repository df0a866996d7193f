"""Reading `grid --layout columns` back: the header cells of its side-by-side blocks."""

from __future__ import annotations


def column_headers(out: str) -> list[str]:
    """Each package column's header ("12. slug", with the dormant mark if any), its lines
    joined: a slug wrapped over several lines reads back whole."""
    headers: list[str] = []
    lines = out.splitlines()
    for index, line in enumerate(lines):
        if not line.startswith("┌"):
            continue
        cells: list[str] = []
        for row in lines[index + 1 :]:
            if row.startswith("├"):
                break
            parts = [part.strip() for part in row.strip("│").split("│")][1:]
            cells = [a + b for a, b in zip(cells, parts, strict=True)] if cells else parts
        headers += cells
    return headers
