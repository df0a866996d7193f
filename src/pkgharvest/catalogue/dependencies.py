"""`pkgharvest deps` against the catalogue: match the project's dependencies, read their
records, histories and grid peers, and judge them (project/judge.py, project/readiness.py)
into a Report (project/report.py).

PyPI is reached only through the `PypiAnswers` handed in (kept answers first, asking only for
what is missing or stale): this module never imports the HTTP side.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

from pkgharvest.catalogue import matching
from pkgharvest.project import judge, names
from pkgharvest.project.model import Project
from pkgharvest.project.report import Alternative, PypiSummary, Report, Row

if TYPE_CHECKING:  # the readiness rules are loaded only with --django
    from pkgharvest.project.answers import PypiAnswers
    from pkgharvest.project.readiness import Assessment, Target


def dependency_report(
    conn: sqlite3.Connection,
    project: Project,
    now: datetime,
    *,
    target: Target | None = None,
    answers: PypiAnswers | None = None,
    mirror_updated: str | None = None,
    offline: bool = False,
    index_url: str = "",
    history: sqlite3.Connection | None = None,
) -> Report:
    """The report of `project` (see the module's text). `history`: the database the star
    histories are read from when it is not `conn` (beside a private copy, the folder's
    database, perhaps behind the mirror)."""
    dependencies = project.dependencies
    matches = matching.match(conn, dependencies)
    records = matching.package_records(conn, (m.package_id for m in matches.values()))
    histories = matching.star_histories(conn if history is None else history, records)
    notes = list(project.notes)
    rows: list[Row] = []
    for dependency in dependencies:
        found = matches.get(dependency.normalized)
        record = records.get(found.package_id) if found else None
        if found is not None and found.others:
            notes.append(
                f"{len(found.others) + 1} catalogue packages claim {dependency.name}: "
                f"{record.get('slug') if record else '?'} (most stars) rather than "
                f"{', '.join(found.others)}"
            )
        rows.append(
            Row(
                dependency=dependency,
                status=judge.status(record, dependency.version, now),
                record=record,
                matched_by=found.how if found else None,
                others=found.others if found else (),
                star_trend=(
                    judge.star_trend(histories.get(int(record["id"]), []), now) if record else None
                ),
            )
        )
    if target is not None and answers is not None:
        rows = _readiness(rows, target, answers)
    in_project = {row.record["id"] for row in rows if row.record is not None}
    rows = _with_alternatives(conn, rows, now, in_project, target, answers)
    summary = None
    if answers is not None:
        tally = answers.tally
        summary = PypiSummary(
            asked=tally.asked,
            kept=tally.kept,
            stale=tally.stale,
            oldest=tally.oldest,
            failed=tuple(tally.failed),
            offline=offline,
            index_url=index_url,
        )
    return Report(
        project=project,
        rows=tuple(rows),
        target=target,
        pypi=summary,
        notes=tuple(dict.fromkeys(notes)),
        mirror_updated=mirror_updated,
    )


def _readiness(rows: Sequence[Row], target: Target, answers: PypiAnswers) -> list[Row]:
    """Each catalogue dependency's readiness for `target` (the others get none)."""
    from pkgharvest.project.readiness import Subject, assess, django_released

    judged = [row for row in rows if row.record is not None]
    wanted = ["django", *(row.dependency.normalized for row in judged)]
    projects = answers.projects(wanted)
    django = projects.get("django")
    released = django_released(django.metadata if django else None, target)
    subjects = [
        Subject(
            key=row.dependency.normalized,
            name=row.dependency.normalized,
            version=row.dependency.version,
            specifier=row.dependency.specifier,
            project=projects[row.dependency.normalized].metadata,
            missing=projects[row.dependency.normalized].reason,
        )
        for row in judged
    ]
    assessed: dict[str, Assessment] = assess(subjects, target, released, answers.releases)
    return [
        replace(row, readiness=assessed.get(row.dependency.normalized)) if row.record else row
        for row in rows
    ]


def _with_alternatives(
    conn: sqlite3.Connection,
    rows: Sequence[Row],
    now: datetime,
    in_project: set[object],
    target: Target | None,
    answers: PypiAnswers | None,
) -> list[Row]:
    """Rows that are dormant or blocked, with the best active packages of their grids."""
    wanting = [
        row
        for row in rows
        if row.record is not None
        and (
            row.status is judge.Status.DORMANT
            or (row.readiness is not None and row.readiness.readiness.value == "blocked")
        )
    ]
    if not wanting:
        return list(rows)
    chosen: dict[int, list[Alternative]] = {}
    for row in wanting:
        assert row.record is not None
        own = int(row.record["id"])
        best = judge.alternatives(matching.grid_peers(conn, own), now, exclude=[own])
        chosen[own] = [
            Alternative(record, grid, record["id"] in in_project) for grid, record in best
        ]
    if target is not None and answers is not None:
        chosen = _alternatives_readiness(chosen, target, answers)
    return [
        replace(row, alternatives=tuple(chosen.get(int(row.record["id"]), ())))
        if row.record is not None and int(row.record["id"]) in chosen
        else row
        for row in rows
    ]


def _alternatives_readiness(
    chosen: dict[int, list[Alternative]], target: Target, answers: PypiAnswers
) -> dict[int, list[Alternative]]:
    """Each alternative with its newest release's verdict for `target`."""
    from pkgharvest.project.readiness import django_released
    from pkgharvest.project.readiness import judge as judge_release

    pypi = {
        id(alt): names.pypi_name(alt.record.get("pypi_url"))
        for alts in chosen.values()
        for alt in alts
    }
    projects = answers.projects([n for n in pypi.values() if n is not None])
    django = answers.projects(["django"]).get("django")
    released = django_released(django.metadata if django else None, target)
    judged: dict[int, list[Alternative]] = {}
    for key, alts in chosen.items():
        judged[key] = []
        for alt in alts:
            name = pypi[id(alt)]
            answer = projects.get(name) if name else None
            verdict = (
                judge_release(answer.metadata.latest, target, released)
                if answer is not None and answer.metadata is not None
                else None
            )
            judged[key].append(replace(alt, django=verdict))
    return judged
