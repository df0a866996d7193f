"""The answer of `pkgharvest deps`: one row per dependency, with its catalogue package, status,
alternatives and Django readiness; and its JSON form (the `--json` contract, docs/deps.md).

Built from plain values (catalogue records, the readiness assessments) by
catalogue/dependencies.py; drawn by views/deps.py and written by formats/deps.py.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from pkgharvest.project.judge import Status, is_behind
from pkgharvest.project.model import Dependency, Project
from pkgharvest.records import Record, commits_total, int_field, text_field

if TYPE_CHECKING:  # the readiness rules are loaded only with --django
    from pkgharvest.project.readiness import Assessment, Judgement, Target, Verdict

FAIL_ON_CHOICES = ("dormant", "behind", "blocked", "not-declared")
"""What `--fail-on` takes: two statuses and two readiness outcomes."""
READINESS = ("ready", "upgrade", "blocked", "not-declared", "unknown")
"""readiness.Readiness's values, in the order summaries count them (kept here as text so that
a run without --django never loads the readiness rules)."""


@dataclass(frozen=True)
class Alternative:
    """A suggested replacement: an active package of a grid the dependency is in.

    Attributes:
        record: its catalogue record.
        grid: the slug of the grid it shares with the dependency.
        in_project: the project already depends on it.
        django: its newest release's verdict for the target (with `--django`), or None.
    """

    record: Record
    grid: str
    in_project: bool = False
    django: Judgement | None = None

    @property
    def slug(self) -> str:
        return str(self.record.get("slug"))

    def as_dict(self, target: Target | None) -> dict[str, Any]:
        item: dict[str, Any] = {
            "slug": self.record.get("slug"),
            "stars": int_field(self.record, "stars"),
            "last_commit": text_field(self.record, "last_commit"),
            "commits_52w_total": commits_total(self.record),
            "grid": self.grid,
            "in_project": self.in_project,
        }
        if target is not None:
            item["django_ready"] = _ready(self.django.verdict) if self.django else None
            item["django_reason"] = self.django.reason if self.django else "no PyPI answer"
        return item


@dataclass(frozen=True)
class Row:
    """One dependency, judged.

    Attributes:
        dependency: what the project's files say.
        status: dormant, behind, active or not-in-catalogue.
        record: its catalogue package (None: not in the catalogue).
        matched_by: `pypi`, `repository` or `slug` (None: not matched).
        others: other packages that claimed the same name (fewer stars).
        star_trend: stars gained over the last 90 days (None: too little history).
        alternatives: for a dormant or blocked dependency, the best active ones of its grids.
        readiness: its Django readiness (with `--django`, for catalogue packages).
    """

    dependency: Dependency
    status: Status
    record: Record | None = None
    matched_by: str | None = None
    others: tuple[str, ...] = ()
    star_trend: int | None = None
    alternatives: tuple[Alternative, ...] = ()
    readiness: Assessment | None = None

    @property
    def slug(self) -> str | None:
        return str(self.record.get("slug")) if self.record is not None else None

    @property
    def latest_version(self) -> str | None:
        return text_field(self.record, "pypi_version") if self.record is not None else None

    def fails(self, checks: frozenset[str]) -> bool:
        if self.status.value in checks:
            return True
        readiness = self.readiness.readiness.value if self.readiness else None
        return readiness in checks

    def as_dict(self, target: Target | None) -> dict[str, Any]:
        d = self.dependency
        record = self.record or {}
        item: dict[str, Any] = {
            "name": d.name,
            "normalized": d.normalized,
            "file": d.file,
            "line": d.line,
            "specifier": d.specifier,
            "version": d.version,
            "direct": d.direct,
            "group": d.group,
            "url": d.url,
            "slug": self.slug,
            "matched_by": self.matched_by,
            "also_claimed_by": list(self.others),
            "status": self.status.value,
            "latest_version": self.latest_version,
            "behind": is_behind(d.version, self.latest_version),
            "stars": int_field(record, "stars"),
            "last_commit": text_field(record, "last_commit"),
            "commits_52w_total": commits_total(record) if self.record is not None else None,
            "star_trend_90d": self.star_trend,
            "alternatives": [a.as_dict(target) for a in self.alternatives],
        }
        if target is not None:
            r = self.readiness
            item["django_status"] = r.readiness.value if r else None
            item["django_version"] = r.version if r else None
            item["django_ready"] = r.ready if r else None
            item["django_step"] = r.step if r else None
            item["blocked"] = (r.readiness.value == "blocked") if r else None
            item["django_reason"] = r.reason if r else None
        return item


@dataclass(frozen=True)
class PypiSummary:
    """Where the PyPI answers of the run came from (see project/answers.py's Tally)."""

    asked: int = 0
    kept: int = 0
    stale: int = 0
    oldest: timedelta | None = None
    failed: tuple[str, ...] = ()
    offline: bool = False
    index_url: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "index_url": self.index_url,
            "offline": self.offline,
            "asked": self.asked,
            "kept": self.kept,
            "kept_older_than_a_day": self.stale,
            "oldest_kept_seconds": int(self.oldest.total_seconds()) if self.oldest else None,
            "unknown": list(self.failed),
        }


@dataclass(frozen=True)
class Report:
    """Every dependency judged, and what the run says about itself.

    Attributes:
        project: the files read and the dependencies found.
        rows: one per dependency, in the project's order.
        target: the Django aimed at (`--django`), or None.
        pypi: where the PyPI answers came from (with `--django`).
        notes: one-line remarks (files, matching, answers not kept).
        mirror_updated: when the mirror was last updated (ISO 8601), if known.
    """

    project: Project
    rows: tuple[Row, ...]
    target: Target | None = None
    pypi: PypiSummary | None = None
    notes: tuple[str, ...] = ()
    mirror_updated: str | None = None

    def status_counts(self) -> Counter[str]:
        return Counter(row.status.value for row in self.rows)

    def readiness_counts(self) -> Counter[str]:
        return Counter(row.readiness.readiness.value for row in self.rows if row.readiness)

    def failing(self, checks: frozenset[str]) -> list[Row]:
        return [row for row in self.rows if row.fails(checks)]

    def as_dict(self) -> dict[str, Any]:
        framework = self.project.framework
        document: dict[str, Any] = {
            "files": list(self.project.files),
            "framework": None
            if framework is None
            else {
                "name": framework.name,
                "version": framework.version,
                "specifier": framework.specifier,
                "file": framework.file,
                "line": framework.line,
            },
            "django_target": str(self.target) if self.target else None,
            "mirror_updated": self.mirror_updated,
            "counts": dict(sorted(self.status_counts().items())),
            "dependencies": [row.as_dict(self.target) for row in self.rows],
            "notes": list(self.notes),
        }
        if self.target is not None:
            document["django_counts"] = dict(sorted(self.readiness_counts().items()))
            document["pypi"] = self.pypi.as_dict() if self.pypi else None
        return document


def _ready(verdict: Verdict) -> bool | None:
    return {"ready": True, "not-ready": False}.get(verdict.value)
