"""Sparklines, the larger activity chart, relative dates and numbers: pure functions, no rich.

Each returns plain text so that tests can compare exact strings.

Sparkline levels: `▁` is a week with no commits; `▂` to `█` are weeks with commits, scaled
linearly to the scale's busiest week and rounded up, so a single commit never looks like none.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta

SPARK_LEVELS = "▁▂▃▄▅▆▇█"
"""Eight bar heights, lowest first; index 0 means "no commits"."""

_EIGHTHS = " ▁▂▃▄▅▆▇█"
"""A chart cell filled 0/8 to 8/8 from the bottom."""

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

SPARK_WIDTHS = (52, 26, 13)
"""Sparkline widths a table may use: one column per 1, 2 or 4 weeks (52 divides evenly)."""


def bucket(counts: Sequence[int | None], width: int) -> list[int | None]:
    """`counts` summed into `width` equal, consecutive groups (oldest first).

    52 weekly counts at width 13 give 13 four-week sums. `width` must divide len(counts). A
    None count (no data for that week) adds nothing; a group of only None is None.
    """
    if width <= 0 or len(counts) % width:
        raise ValueError(f"cannot split {len(counts)} weeks into {width} equal groups")
    size = len(counts) // width
    if size == 1:
        return list(counts)
    groups: list[int | None] = []
    for i in range(0, len(counts), size):
        known = [c for c in counts[i : i + size] if c is not None]
        groups.append(sum(known) if known else None)
    return groups


NO_DATA = " "
"""A sparkline cell for a week with no data (before or after the weeks the API counted)."""


def sparkline(counts: Sequence[int | None], scale_max: int | None = None) -> str:
    """One character per count: `▁` for zero, `▂`-`█` for 1..scale_max (default: max(counts)),
    a blank for None (no data for that week).

    >>> sparkline([0, 1, 2, 4, None])
    '▁▃▅█ '
    """
    known = [c for c in counts if c is not None]
    top = max(known, default=0) if scale_max is None else scale_max
    steps = len(SPARK_LEVELS) - 1
    chars: dict[int | None, str] = {None: NO_DATA}  # counts repeat: work each one out once
    for count in known:
        if count not in chars:
            if count <= 0 or top <= 0:
                chars[count] = SPARK_LEVELS[0]
            else:
                chars[count] = SPARK_LEVELS[max(math.ceil(min(count, top) * steps / top), 1)]
    return "".join([chars[count] for count in counts])


def activity_chart(
    counts: Sequence[int], last_week: datetime | None = None, height: int = 6
) -> list[str]:
    """A bar chart of weekly counts, `height` rows tall, with a y axis and month labels.

    Each column is one week, oldest first; each row holds eight eighths of a bar. A week with
    commits shows at least one eighth. `last_week` is a moment inside the last week: the month
    row marks the first week of each month (three-letter English names, so output does not
    depend on the locale). Without it the bottom row is omitted.
    """
    top = max(counts, default=0)
    eighths_total = height * 8
    filled = [
        0 if c <= 0 or top <= 0 else max(1, round(min(c, top) * eighths_total / top))
        for c in counts
    ]
    top_label, zero_label = str(top), "0"
    axis_width = max(len(top_label), len(zero_label))
    lines = []
    for row in range(height - 1, -1, -1):
        cells = "".join(_EIGHTHS[min(max(f - row * 8, 0), 8)] for f in filled)
        label = top_label if row == height - 1 else zero_label if row == 0 else ""
        lines.append(f"{label:>{axis_width}} ┤{cells}".rstrip())
    if last_week is not None:
        lines.append(" " * (axis_width + 2) + month_labels(len(counts), last_week))
    return lines


def value_chart(points: Sequence[tuple[datetime, int]], width: int, height: int = 6) -> list[str]:
    """A step chart of a value over time (a package's stars at each observation): `width`
    columns from the first moment to the last, each holding the value last observed by its
    end; `height` rows from the lowest value (one eighth of a cell) to the highest (full); a
    y axis labelled with both, and the first and last dates (and the middle one where there is
    room) under it. `points` are oldest first, at least one.
    """
    first, last = points[0][0], points[-1][0]
    span = (last - first).total_seconds()
    values = []
    index = 0
    for column in range(width):
        end = first + timedelta(seconds=span * (column + 1) / width)
        while index + 1 < len(points) and points[index + 1][0] <= end:
            index += 1
        values.append(points[index][1])
    low, high = min(v for _, v in points), max(v for _, v in points)
    eighths_total = height * 8
    filled = [
        1 + (round((v - low) * (eighths_total - 1) / (high - low)) if high > low else 0)
        for v in values
    ]
    top_label, low_label = f"{high:,}", f"{low:,}"
    axis_width = max(len(top_label), len(low_label))
    lines = []
    for row in range(height - 1, -1, -1):
        cells = "".join(_EIGHTHS[min(max(f - row * 8, 0), 8)] for f in filled)
        label = top_label if row == height - 1 else low_label if row == 0 else ""
        lines.append(f"{label:>{axis_width}} ┤{cells}".rstrip())
    lines.append(" " * (axis_width + 2) + date_labels(first, last, width))
    return lines


def date_labels(first: datetime, last: datetime, width: int) -> str:
    """A row `width` wide with `first`'s date at the left, `last`'s at the right, and the
    middle moment's date centred between them where it fits with a space either side."""
    start, end = f"{first:%Y-%m-%d}", f"{last:%Y-%m-%d}"
    if width < len(start) + len(end) + 1:
        return end if width >= len(end) else ""
    row = start + " " * (width - len(start) - len(end)) + end
    middle = f"{first + (last - first) / 2:%Y-%m-%d}"
    at = (width - len(middle)) // 2
    if at > len(start) and at + len(middle) < width - len(end) and middle not in (start, end):
        row = row[:at] + middle + row[at + len(middle) :]
    return row


def month_labels(weeks: int, last_week: datetime) -> str:
    """A row with a month name under the first week of each month, oldest week first.

    The oldest week is labelled only if it is its month's first; a name that would run into the
    previous one, or past the last week, is left out.
    """
    row: list[str] = []
    previous_month = None
    for index in range(weeks):
        try:
            week = last_week - timedelta(weeks=weeks - 1 - index)
        except OverflowError:  # a stored date in year 1: weeks before it do not exist
            continue
        month = (week.year, week.month)
        starts_month = month != previous_month if previous_month else week.day <= 7
        if starts_month:
            name = MONTHS[week.month - 1]
            # Only where the name fits before the end and after the last label plus a space.
            if len(row) <= index and index + len(name) <= weeks:
                row.extend(" " * (index - len(row)))
                row.extend(name + " ")
        previous_month = month
    return "".join(row).rstrip()


def relative_date(when: datetime, now: datetime) -> str:
    """How long before `now` `when` was, in words: "3 months ago", "yesterday", "just now".

    Months count as 30 days and years as 365: this is a glance, not a calendar. A moment after
    `now` (a clock ahead of ours) reads "in the future".
    """
    seconds = (now - when).total_seconds()
    if seconds < -60:
        return "in the future"
    if seconds < 60:
        return "just now"
    minutes = int(seconds // 60)
    if minutes < 60:
        return _ago(minutes, "minute")
    hours = minutes // 60
    if hours < 24:
        return _ago(hours, "hour")
    days = hours // 24
    if days == 1:
        return "yesterday"
    if days < 14:
        return _ago(days, "day")
    if days < 60:
        return _ago(days // 7, "week")
    if days < 365:
        return _ago(days // 30, "month")
    return _ago(days // 365, "year")


def _ago(amount: int, unit: str) -> str:
    return f"{amount} {unit}{'' if amount == 1 else 's'} ago"


def thousands(value: int | None, missing: str = "—") -> str:
    """12345 -> "12,345"; null -> `missing`."""
    return missing if value is None else f"{value:,}"
