"""How `deps` judges a dependency against the catalogue: its status, whether its version is
behind, its star trend, and which packages to suggest instead. Pure functions over catalogue
records (dicts, records.py) and history rows.

Status, first that applies:

- `not-in-catalogue`: no catalogue package matches it;
- `dormant`: the package is dormant (activity.is_dormant: the one definition);
- `behind`: the version used is older than the catalogue's latest (PEP 440);
- `active`: otherwise.

Alternatives of a package: the other packages of the grids it is in, dormant ones never,
ranked by stars (most first, then slug), the best three.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from enum import StrEnum

from pkgharvest.activity import is_dormant
from pkgharvest.project.names import parse_version
from pkgharvest.records import Record, int_field, parse_timestamp, text_field

ALTERNATIVES = 3
"""How many alternatives a dormant or blocked dependency gets."""
TREND_DAYS = 90
"""The star trend's window."""


class Status(StrEnum):
    DORMANT = "dormant"
    BEHIND = "behind"
    ACTIVE = "active"
    NOT_IN_CATALOGUE = "not-in-catalogue"


def is_behind(version: str | None, latest: str | None) -> bool | None:
    """Whether `version` is older than `latest` (PEP 440); None when either is unknown or is
    not a PEP 440 version."""
    if not version or not latest:
        return None
    mine, newest = parse_version(version), parse_version(latest)
    if mine is None or newest is None:
        return None
    return mine < newest


def status(record: Record | None, version: str | None, now: datetime) -> Status:
    """A dependency's status (the rules in the module's text)."""
    if record is None:
        return Status.NOT_IN_CATALOGUE
    if is_dormant(record, now):
        return Status.DORMANT
    if is_behind(version, text_field(record, "pypi_version")):
        return Status.BEHIND
    return Status.ACTIVE


def rank_key(record: Record) -> tuple[int, int, str]:
    """The alternatives' ranking: stars, most first, unknown last; then slug."""
    stars = int_field(record, "stars")
    return (stars is None, -(stars or 0), str(record.get("slug")))


def alternatives(
    ranked: Iterable[tuple[str, Record]],
    now: datetime,
    *,
    exclude: Iterable[object] = (),
    limit: int = ALTERNATIVES,
) -> list[tuple[str, Record]]:
    """The first `limit` active packages of `ranked` ((grid, record) pairs in `rank_key`
    order: the catalogue reads them in that order), each once; dormant ones and the ids in
    `exclude` left out. Stops reading as soon as it has them."""
    skip = set(exclude)
    chosen: list[tuple[str, Record]] = []
    for grid, record in ranked:
        key = record.get("id")
        if key in skip:
            continue
        skip.add(key)
        if is_dormant(record, now):
            continue
        chosen.append((grid, record))
        if len(chosen) == limit:
            break
    return chosen


def star_trend(
    history: Sequence[tuple[str, int]], now: datetime, days: int = TREND_DAYS
) -> int | None:
    """Stars gained over the last `days`: the newest observation minus the last one at or
    before the window's start (or, for a package first seen inside it, its first); None with
    fewer than two observations (the rule of `trends`)."""
    if len(history) < 2:
        return None
    start = now - timedelta(days=days)
    baseline = history[0]
    for observed_at, stars in history:
        moment = parse_timestamp(observed_at)
        if moment is not None and moment <= start:
            baseline = (observed_at, stars)
    newest = history[-1]
    if newest[0] <= baseline[0]:
        return None
    return newest[1] - baseline[1]
