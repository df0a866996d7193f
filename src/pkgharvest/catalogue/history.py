"""The catalogue's history rules, as pure functions (no database, no files).

- An *observation* is one measurement the service made of a package: it is dated by the
  record's `last_fetched` (the service's own refresh time, in UTC). A record whose
  `last_fetched` did not move was not re-measured, so it adds no observation; a record without
  a readable `last_fetched` cannot be dated and adds none either.
- *Stitching*: the API's `commits_52w` holds 52 weekly counts, oldest first, the last one being
  the week of `last_fetched`. Each count is filed under the Monday (UTC) that starts its
  calendar week. Windows of successive runs overlap (a daily run shares 51 weeks with the day
  before) or leave gaps (no run for more than a year); a week is set by the newest observation
  that covers it (a week still in progress grows until it is complete), and a week no
  observation covered has no row: unknown, never zero.
- *Dormant*: a package whose known 52-week commit total was above 0 and is now 0. *Revived*: the
  other way round. A total that is unknown on either side says nothing.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta

from pkgharvest.records import WEEKS, iso_utc, parse_timestamp


def observed_at(last_fetched: object) -> str | None:
    """The `observed_at` of a record's measurement, or None when it cannot be dated."""
    moment = parse_timestamp(last_fetched)
    return iso_utc(moment) if moment is not None else None


def week_start(moment: datetime) -> date:
    """The Monday (UTC) of the ISO week holding `moment`."""
    day = moment.astimezone(UTC).date()
    return day - timedelta(days=day.weekday())


@functools.lru_cache(maxsize=256)
def window_mondays(last_week: date, weeks: int = WEEKS) -> tuple[date, ...]:
    """The Mondays of `weeks` calendar weeks ending with `last_week`, oldest first (cached:
    most packages of a run share their window)."""
    first_week = last_week - timedelta(weeks=weeks - 1)
    return tuple(first_week + timedelta(weeks=i) for i in range(weeks))


def calendar_weeks(counts: Sequence[int], last_fetched: datetime) -> list[tuple[date, int]]:
    """The 52 weekly counts filed under their weeks' Mondays, oldest first."""
    return list(zip(window_mondays(week_start(last_fetched), len(counts)), counts, strict=True))


def weekly_counts(value: object) -> list[int] | None:
    """A record's `commits_52w` when it is 52 non-negative integers; else None (unknown)."""
    # set(map(type, ...)) checks all 52 in C; `type is int` also excludes bools.
    if isinstance(value, list) and len(value) == WEEKS and set(map(type, value)) == {int}:
        return value if min(value) >= 0 else None
    return None


def stitch(windows: Iterable[tuple[datetime, Sequence[int]]]) -> dict[date, int]:
    """Several observations' windows as one calendar series (week Monday -> commits).

    The newest observation wins for every week it covers; gaps stay absent. The order of
    `windows` does not matter (a rebuild and a day-by-day sync give the same series).
    """
    series: dict[date, tuple[datetime, int]] = {}
    for fetched, counts in windows:
        for week, count in calendar_weeks(counts, fetched):
            held = series.get(week)
            if held is None or held[0] <= fetched:
                series[week] = (fetched, count)
    return {week: series[week][1] for week in sorted(series)}


def weeks_to_write(
    previous: tuple[datetime, Sequence[int]] | None, current: tuple[datetime, Sequence[int]]
) -> list[tuple[date, int]]:
    """The weeks of `current`'s window that the stored series must change, given that the
    series already holds `previous`'s window (the package's last observation) on top of older
    ones. Equal to what `stitch` would change, without reading the stored weeks back.
    """
    fetched, counts = current
    weeks = calendar_weeks(counts, fetched)
    if previous is None:
        return weeks
    old_fetched, old_counts = previous
    held = dict(calendar_weeks(old_counts, old_fetched))
    if fetched < old_fetched:  # an older measurement: it may only fill weeks nobody covered
        return [(week, count) for week, count in weeks if week not in held]
    return [(week, count) for week, count in weeks if held.get(week) != count]


def aligned_weeks(series: dict[date, int], last_week: date, weeks: int = WEEKS) -> list[int | None]:
    """`weeks` calendar weeks ending with `last_week`, oldest first; None where unknown.

    Used to draw every row of a table over the same calendar weeks.
    """
    return [series.get(week) for week in window_mondays(last_week, weeks)]


def activity_change(old_total: int | None, new_total: int | None) -> str | None:
    """ "dormant", "revived" or None, from a package's previous and new 52-week totals."""
    if old_total is None or new_total is None:
        return None
    if old_total > 0 and new_total == 0:
        return "dormant"
    if old_total == 0 and new_total > 0:
        return "revived"
    return None


def is_release(old_version: object, new_version: object) -> bool:
    """A new PyPI version: a known version that differs from the one before (or the first)."""
    return isinstance(new_version, str) and bool(new_version) and new_version != old_version


def percent(gained: int, before: int) -> float | None:
    """Growth in percent of `before`; None when there was nothing to grow from."""
    return round(100.0 * gained / before, 1) if before > 0 else None


_WINDOW_HOURS = {"h": 1, "d": 24, "w": 7 * 24}
MAX_WINDOW_HOURS = 100 * 366 * 24
"""How far back `--since` may reach (a window of a century covers every observation)."""


def parse_since(text: str, now: datetime) -> datetime:
    """`7d`, `12w`, `36h` (back from `now`) or an ISO date / datetime, as a UTC instant.

    Raises ValueError saying what is wrong, without the value (the caller quotes it).
    """
    value = text.strip()
    amount, unit = value[:-1], value[-1:].lower()
    if unit in _WINDOW_HOURS and amount.isascii() and amount.isdigit():  # isdigit takes "²"
        amount = amount.lstrip("0") or "0"
        hours = int(amount[:12]) * _WINDOW_HOURS[unit]
        if len(amount) > 12 or hours > MAX_WINDOW_HOURS:
            raise ValueError("is too far back (100 years at most)")
        return now - timedelta(hours=hours)
    moment = None
    if value.isascii():  # fromisoformat would take some non-ASCII digits
        moment = parse_timestamp(value if "T" in value else value + "T00:00:00+00:00")
    if moment is None:
        raise ValueError("is not a duration or a date (7d, 12w, 36h or 2026-01-31)")
    return moment
