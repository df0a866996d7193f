"""What the reading commands' queries must answer, computed in plain Python from the records a
test wrote: the oracle the SQL in catalogue/queries.py is compared with. (The reader of earlier
versions answered these from the JSON files; the one read path answers them from the database.)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from pkgharvest.records import (
    Kind,
    category_ref,
    commits_total,
    int_field,
    parse_timestamp,
    refs,
    text_field,
)
from pkgharvest.store.mirror import GroupOrder, GroupSummary, SortKey

Record = dict[str, Any]


def _slug(record: Record) -> str:
    slug = record.get("slug")
    return slug if isinstance(slug, str) else ""


def _value(record: Record, key: SortKey) -> float | None:
    if key is SortKey.STARS:
        return int_field(record, "stars")
    if key is SortKey.FORKS:
        return int_field(record, "forks")
    if key is SortKey.COMMITS:
        return commits_total(record)
    when = parse_timestamp(record.get("last_commit"))
    return when.timestamp() if when is not None else None


def rank(records: Iterable[Record], key: SortKey, reverse: bool = False) -> list[Record]:
    """Largest (or newest) first; `reverse` smallest first; unknown last; ties by slug."""
    known: list[tuple[float, str, Record]] = []
    unknown: list[Record] = []
    for record in records:
        value = _value(record, key)
        if value is None:
            unknown.append(record)
        else:
            known.append((value if reverse else -value, _slug(record), record))
    known.sort(key=lambda item: (item[0], item[1]))
    unknown.sort(key=_slug)
    return [record for _, _, record in known] + unknown


def grid_members(packages: Sequence[Record], grid: Record) -> list[Record]:
    """Packages the grid lists, and packages that list the grid."""
    listed = {item.get("id") for item in refs(grid.get("packages"))}
    return [
        package
        for package in packages
        if package.get("id") in listed
        or any(item["id"] == grid["id"] for item in refs(package.get("grids")))
    ]


def matches(record: Record, text: str) -> bool:
    needle = text.casefold()
    return any(
        needle in value.casefold()
        for name in ("title", "slug", "repo_description")
        if (value := text_field(record, name))
    )


def select(
    packages: Sequence[Record],
    *,
    grid: Record | None = None,
    category: Record | None = None,
    match: str | None = None,
) -> list[Record]:
    chosen = list(packages) if grid is None else grid_members(packages, grid)
    if category is not None:
        chosen = [
            p
            for p in chosen
            if (ref := category_ref(p)) is not None and ref["id"] == category["id"]
        ]
    if match:
        chosen = [p for p in chosen if matches(p, match)]
    return chosen


def summaries(
    packages: Sequence[Record], groups: Sequence[Record], kind: Kind, order: GroupOrder
) -> list[GroupSummary]:
    """Every grid (or category) with its package count and total stars, in `order`."""
    stars = {p["id"]: int_field(p, "stars") or 0 for p in packages}
    found = []
    for group in groups:
        if kind is Kind.GRID:
            members = {p["id"] for p in grid_members(packages, group)}
        else:
            members = {
                p["id"]
                for p in packages
                if (ref := category_ref(p)) is not None and ref["id"] == group["id"]
            }
        found.append(GroupSummary(group, len(members), sum(stars[m] for m in members)))
    if order is GroupOrder.NAME:
        found.sort(key=lambda s: _slug(s.record))
    elif order is GroupOrder.PACKAGES:
        found.sort(key=lambda s: (-s.package_count, _slug(s.record)))
    else:
        found.sort(key=lambda s: (-s.total_stars, _slug(s.record)))
    return found
