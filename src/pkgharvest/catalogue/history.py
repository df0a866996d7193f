"""The catalogue's history rules, as pure functions (no database, no files).

docs/database.md ("The history rules") states them for users; this is their code.

- An *observation* is a package's observed values (stars, forks, PyPI version, 52-week commit
  total, last commit) whenever they differ from its latest observation, however the service
  got there: a re-measurement, an admin edit or the GitHub webhook (which saves stars before it
  moves `last_fetched`), a restore from a backup. Its time (`observation_time`) is the record's
  `last_fetched` when that is later than the latest observation, else the start of the run that
  saw the change; never at or before the latest observation, so that the latest observation is
  always the last one recorded.
- *Weekly commits*: the API's `commits_52w` holds 52 weekly counts, oldest first, the last one
  being the week of the `last_fetched` that came with them. Each count is filed under the
  Monday (UTC) that starts its calendar week. Only lists the API sent are filed: counts a
  record keeps from an earlier run (the API sent `[]`) are never filed again under other weeks.
  Where windows overlap, a list at least as new as the newest filed one sets every week it
  covers (a week in progress grows until it is complete); an older one (a restored backup)
  only fills weeks no list covered. A week no list covered has no row: unknown, never zero.
- A *release* is a version newer than the one before in PEP 440 order (where both parse; where
  one does not, any other version). A version older than the one before *went back*
  (`version_move`); neither is a version that became unknown.
- *Dormant*: activity.is_dormant, the one definition, applied to a state at its own moment.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

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
    """Lists filed in this order as one calendar series (week Monday -> commits).

    A list at least as new as every one before it sets each week it covers; an older one (a
    restored backup) only fills weeks no list covered; gaps stay absent. In time order, the
    newest list wins every week it covers.
    """
    series: dict[date, int] = {}
    newest: datetime | None = None
    for fetched, counts in windows:
        older = newest is not None and fetched < newest
        for week, count in calendar_weeks(counts, fetched):
            if not older or week not in series:
                series[week] = count
        if not older:
            newest = fetched
    return {week: series[week] for week in sorted(series)}


def weeks_to_write(
    previous: tuple[datetime, Sequence[int]] | None, current: tuple[datetime, Sequence[int]]
) -> list[tuple[date, int]]:
    """The weeks of `current`'s window that the stored series must change, given that the
    series already holds `previous`'s window (the newest list filed) on top of older ones, and
    that `current` is at least as new. Equal to what `stitch` would change, without reading
    the stored weeks back.
    """
    fetched, counts = current
    weeks = calendar_weeks(counts, fetched)
    if previous is None:
        return weeks
    old_fetched, old_counts = previous
    held = dict(calendar_weeks(old_counts, old_fetched))
    return [(week, count) for week, count in weeks if held.get(week) != count]


def aligned_weeks(series: dict[date, int], last_week: date, weeks: int = WEEKS) -> list[int | None]:
    """`weeks` calendar weeks ending with `last_week`, oldest first; None where unknown.

    Used to draw every row of a table over the same calendar weeks.
    """
    return [series.get(week) for week in window_mondays(last_week, weeks)]


ONE_SECOND = timedelta(seconds=1)


def observation_time(
    last_fetched: datetime | None, latest: datetime | None, run_started: datetime | None
) -> datetime | None:
    """When a change of a package's values is dated: its `last_fetched` when that is later
    than the package's `latest` observation (the service re-measured it), else `run_started`
    (the run that saw the change), and never at or before `latest` (a second after it, when the
    run's clock is behind). None when nothing dates it (no `last_fetched`, no run). In whole
    seconds, as `observed_at` stores them."""
    if last_fetched is not None:
        last_fetched = last_fetched.replace(microsecond=0)
    if run_started is not None:
        run_started = run_started.replace(microsecond=0)
    if last_fetched is not None and (latest is None or last_fetched > latest):
        return last_fetched
    if latest is None:
        return run_started
    if run_started is None or run_started <= latest:
        return latest + ONE_SECOND
    return run_started


RELEASE = "release"
WENT_BACK = "rollback"


def version_move(old_version: object, new_version: object) -> str | None:
    """RELEASE when `new_version` is newer than `old_version`, WENT_BACK when it is older, None
    when neither (the same, equal in PEP 440, or no version known now). Where one of them does
    not parse as PEP 440, any other non-empty version is a release."""
    if not isinstance(new_version, str) or not new_version or new_version == old_version:
        return None
    if not isinstance(old_version, str) or not old_version:
        return RELEASE  # the first version known
    old, new = _pep440(old_version), _pep440(new_version)
    if old is None or new is None:
        return RELEASE
    if new > old:
        return RELEASE
    return WENT_BACK if new < old else None


@functools.lru_cache(maxsize=4096)
def _pep440(text: str) -> Any:
    from packaging.version import InvalidVersion, Version

    try:
        return Version(text)
    except InvalidVersion:
        return None


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
    if moment > now:  # a window that starts later than now holds nothing: a typo, say so
        raise ValueError(f"is in the future (now is {now.astimezone(UTC):%Y-%m-%d %H:%M} UTC)")
    return moment
