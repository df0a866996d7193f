"""The removal plan: which records gone from the API leave the mirror, or why none do.

A pure function of what the run proved: removal needs every list complete (its pages chained
from top to end, see crawl.py), nothing failed, referential integrity reached, and no sudden
shrink. A record then leaves the mirror when no list showed it and no link brought it: ids are
never reused, so a record the mirror held that a complete crawl did not see was deleted.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field

from pkgharvest.records import Kind

SHRINK_RATIO = 0.5
"""A complete crawl listing fewer than this share of what the mirror holds removes nothing."""


@dataclass(frozen=True)
class KindEvidence:
    """What the run knows about one kind.

    listed: ids the list crawl saw. complete: the crawl proved the list complete (`problem`
    says why not). linked: ids fetched through a link (they exist). held: ids the mirror held
    before the run. staged: ids this run stored.
    """

    listed: AbstractSet[int]
    complete: bool
    problem: str | None
    linked: AbstractSet[int]
    held: AbstractSet[int]
    staged: AbstractSet[int]


@dataclass(frozen=True)
class RemovalPlan:
    """ids per kind to remove, or `withheld`: why nothing is removed."""

    remove: Mapping[Kind, frozenset[int]] = field(default_factory=dict)
    withheld: str | None = None


def plan_removal(
    evidence: Mapping[Kind, KindEvidence], *, failed: int, integrity_faults: int
) -> RemovalPlan:
    """The records a catalogue run may remove (see the module docs)."""
    for kind, known in evidence.items():
        if not known.complete:
            return RemovalPlan(withheld=f"the {kind.value} list is incomplete: {known.problem}")
    if failed:
        return RemovalPlan(withheld=f"{failed} records failed")
    if integrity_faults:
        return RemovalPlan(
            withheld=f"{integrity_faults} links point at records the API does not have"
        )
    for kind, known in evidence.items():
        if known.held and len(known.listed) < len(known.held) * SHRINK_RATIO:
            return RemovalPlan(
                withheld=(
                    f"the API lists {len(known.listed)} {kind.value} but the mirror holds "
                    f"{len(known.held)}; a sudden shrink looks like an API fault"
                )
            )
    remove = {
        kind: frozenset((known.held | known.staged) - known.listed - known.linked)
        for kind, known in evidence.items()
    }
    return RemovalPlan(remove=remove)
