"""Activity facts from package records: dormancy, calendar-aligned weeks, recent commits.

Pure functions (no rich, no typer), shared by the views, `--json` rows and `top --by activity`.

Dormant (docs/reading.md): the package's 52-week commit total is 0 (or unknown) AND its last
commit is known and more than DORMANT_AFTER_DAYS before now. Both, because either alone
misleads: the weekly counts are as old as the service's last refresh of the package, and a
package without a known last commit is not known to be abandoned. This is the one definition:
`is_dormant` for records (every view, `--active`, `--json`, `changes`), and `dormant_sql`, the
same test as SQL, for the database's `package_latest.dormant` column.

Calendar alignment: each record's 52 counts end with the week of its own `last_fetched` (the
service refreshes packages on different days). A table lines them up on one end week, the
newest `last_fetched` week among its rows, so that one column is one calendar week for every
row; weeks a record has no count for are None (drawn blank). Weeks start on Monday (ISO).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta

from pkgharvest.records import WEEKS, Record, commits_total, parse_timestamp, weekly_commits

DORMANT_AFTER_DAYS = 365
"""A package whose last commit is older than this (and with no commit in its 52 weeks) is
dormant."""

RECENT_WEEKS = 13
"""`top --by activity` ranks by commits in this many most recent weeks (a quarter)."""


def is_dormant(record: Record, now: datetime) -> bool:
    """No commit in the 52 weeks (a total of 0, or none known), and the last commit known and
    more than DORMANT_AFTER_DAYS before `now`. `record` needs `last_commit` and
    `commits_52w_total` (or `commits_52w`): a package record, or an observation's values."""
    return dormant_since(parse_timestamp(record.get("last_commit")), commits_total(record), now)


def dormant_since(last_commit: datetime | None, total: int | None, now: datetime) -> bool:
    """`is_dormant` of a package whose last commit is `last_commit` (parsed) and whose 52-week
    total is `total`, for a caller that judges one state at several moments."""
    if total is not None and total != 0:
        return False
    return last_commit is not None and now - last_commit > timedelta(days=DORMANT_AFTER_DAYS)


def dormant_sql(last_commit: str, total: str, now: str) -> str:
    """`is_dormant` as an SQL expression (1 or 0) over the columns named `last_commit` and
    `total` (a `commits_52w_total`), at the moment `now` (an SQL expression: `'now'`, or a
    bound parameter). tests/test_dormant.py holds the two to each other."""
    return (
        f"(CASE WHEN julianday({now}) - julianday({last_commit}) > {DORMANT_AFTER_DAYS}"
        f" AND coalesce({total}, 0) = 0 THEN 1 ELSE 0 END)"
    )


def week_of(moment: datetime) -> date:
    """The Monday that starts `moment`'s week (UTC)."""
    day = moment.date()
    return day - timedelta(days=day.weekday())


def end_week(records: Iterable[Record]) -> date | None:
    """The newest `last_fetched` week among `records` (None if none has one)."""
    weeks = [
        week_of(when)
        for record in records
        if (when := parse_timestamp(record.get("last_fetched"))) is not None
    ]
    return max(weeks, default=None)


def aligned_weeks(record: Record, last_week: date | None) -> list[int | None] | None:
    """The record's 52 counts placed so that the last item is `last_week`: None when the
    counts are unknown; items before the record's own first week or after its last are None.

    Without `last_week` or a `last_fetched`, the counts are returned as they are.
    """
    counts = weekly_commits(record)
    if counts is None:
        return None
    fetched = parse_timestamp(record.get("last_fetched"))
    if last_week is None or fetched is None:
        return list(counts)
    # Positive: the record's data ends that many weeks before `last_week`; negative: after.
    shift = max(-WEEKS, min((last_week - week_of(fetched)).days // 7, WEEKS))
    if shift >= 0:
        return [*counts[shift:], *([None] * shift)]
    return [*([None] * -shift), *counts[: WEEKS + shift]]


def recent_commits(weeks: Sequence[int | None] | None, recent: int = RECENT_WEEKS) -> int | None:
    """Commits in the last `recent` aligned weeks (unknown weeks count as none); None when the
    counts are unknown."""
    if weeks is None:
        return None
    return sum(count for count in weeks[-recent:] if count)


def activity_scores(records: Sequence[Record]) -> list[float | None]:
    """`top --by activity`: commits in the last RECENT_WEEKS calendar-aligned weeks, ties
    broken by the 52-week total; None when the counts are unknown."""
    last = end_week(records)
    scores: list[float | None] = []
    for record in records:
        weeks = aligned_weeks(record, last)
        recent = recent_commits(weeks)
        if weeks is None or recent is None:
            scores.append(None)
        else:
            scores.append(recent * 1_000_000 + sum(c for c in weeks if c))
    return scores


def rank_by_activity(records: Sequence[Record], *, reverse: bool = False) -> list[Record]:
    """`top --by activity`: most active first (`reverse`: least); packages with unknown counts
    always last; ties broken by slug, so the order is stable across runs."""
    known: list[tuple[float, str, Record]] = []
    unknown: list[Record] = []
    for record, score in zip(records, activity_scores(records), strict=True):
        if score is None:
            unknown.append(record)
        else:
            known.append((score if reverse else -score, _slug(record), record))
    known.sort(key=lambda item: (item[0], item[1]))
    unknown.sort(key=_slug)
    return [record for _, _, record in known] + unknown


def _slug(record: Record) -> str:
    slug = record.get("slug")
    return slug if isinstance(slug, str) else ""
