"""Grid assembly and the mirror's referential integrity, as pure functions over id sets.

A grid record lists its packages as `{"id", "slug"}`; the grid list gives only the ids, so a
grid waits as a `GridDraft` until the run knows its members' slugs. Packages name their grids
too (`claims`): where the two sides disagree, or a grid lists a package the mirror will not
hold, the grid was read before the packages changed and is read again. Nothing here does I/O,
so these functions are tested with in-memory catalogues.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Collection, Iterable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Any

from pkgharvest.records import PackageRef, Ref


@dataclass(frozen=True, slots=True)
class GridDraft:
    """A grid waiting for its members' slugs.

    record_id: its id. fields: the raw record without `packages`. member_ids: the ids its
    package links name, in the API's order. problems: links that could not be used.
    """

    record_id: int
    fields: dict[str, Any]
    member_ids: array[int]
    problems: dict[str, Any]

    def ref(self) -> Ref:
        title = self.fields.get("title")
        return {
            "id": self.record_id,
            "slug": self.fields["slug"],
            "title": title if isinstance(title, str) else None,
        }


def member_refs(draft: GridDraft, slug_of: Callable[[int], str | None]) -> list[PackageRef]:
    """The grid's `packages` field: each member with its slug (None where none is known)."""
    return [{"id": package_id, "slug": slug_of(package_id)} for package_id in draft.member_ids]


def stale_grids(
    members: Mapping[int, Collection[int]],
    claims: Mapping[int, Collection[int]],
    listed: AbstractSet[int],
    held: AbstractSet[int],
) -> set[int]:
    """Grids whose member lists cannot be stored as read.

    members: grid id -> the package ids the grid lists. claims: grid id -> the packages that
    name it (from the packages this run read). listed: the packages this run read (their
    claims are current). held: the packages the mirror will hold after the commit.

    A grid is stale when it lists a package the mirror will not hold, lists a package read
    this run that does not name it, or misses one that does.
    """
    stale: set[int] = set()
    for grid_id, member_ids in members.items():
        member_set = set(member_ids)
        claimed = set(claims.get(grid_id, ()))
        if member_set - held or (member_set & listed) != claimed:
            stale.add(grid_id)
    return stale


def dangling_members(
    members: Mapping[int, Collection[int]], held: AbstractSet[int]
) -> dict[int, set[int]]:
    """grid id -> the packages it lists that the mirror will not hold (only grids with some)."""
    found: dict[int, set[int]] = {}
    for grid_id, member_ids in members.items():
        absent = set(member_ids) - held
        if absent:
            found[grid_id] = absent
    return found


def dangling_links(
    links: Iterable[tuple[int, Iterable[int]]], held: AbstractSet[int]
) -> dict[int, set[int]]:
    """record id -> the linked ids the mirror will not hold, for records that have some."""
    found: dict[int, set[int]] = {}
    for record_id, linked in links:
        absent = set(linked) - held
        if absent:
            found[record_id] = absent
    return found


def worth_a_lookup(absent: Iterable[int], newest_listed: int) -> list[int]:
    """Of package ids absent from a complete package list, the ones that may exist: only ids
    above the newest listed one (added after the list was read). Ids are never reused, so a
    lower id missing from a complete list was deleted: no request can bring it back."""
    return sorted((i for i in set(absent) if i > newest_listed), reverse=True)
