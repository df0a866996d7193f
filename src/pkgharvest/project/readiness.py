"""Django upgrade readiness: does a release declare the target Django, and what is the smallest
step to one that does.

The rules (those the django-upgrade-report manual documents, "How it decides"; written here
from its facts), for one release and a target Django X.Y, first that applies:

1. A Django requirement in its `Requires-Dist` that excludes every X.Y release: **not ready**.
2. A `Framework :: Django :: X.Y` classifier: **ready**.
3. A Django requirement with an upper bound that allows X.Y, in a release uploaded after
   Django X.Y was released: **ready** (the bound was set knowing X.Y).
4. Anything else: **not declared**, a question, not a blocker.

Requirements that apply only to an extra (`; extra == "x"`) are not the release's own.

For a dependency: the version judged is the one the project uses (pinned or locked; without
one, the newest release the specifier allows). If it is not ready, the smallest step is the
oldest newer release (final, not yanked) that is; releases are searched by halves between the
one used and the newest, which is judged first (the search assumes that once a release
declares the target, later ones do too; the release it finds is always checked ready). With
no ready release, a dependency whose version excludes the target is **blocked**; one that
does not declare it stays **not declared**.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

from pkgharvest.project.names import parse_version
from pkgharvest.project.pypi import ProjectMetadata, ReleaseMetadata
from pkgharvest.records import parse_timestamp

_UPPER_BOUNDS = frozenset({"<", "<=", "==", "===", "~="})
_FAR_PATCH = 9999  # a patch release of the target series far beyond any real one


class Verdict(StrEnum):
    """What one release says about the target Django."""

    READY = "ready"
    NOT_READY = "not-ready"
    NOT_DECLARED = "not-declared"


class Readiness(StrEnum):
    """Where a dependency stands for the target Django."""

    READY = "ready"
    """The version used declares it."""
    UPGRADE = "upgrade"
    """A newer release declares it: the smallest step is named."""
    BLOCKED = "blocked"
    """The version used excludes it, and no newer release declares it."""
    NOT_DECLARED = "not-declared"
    """Neither the version used nor a newer release declares it, nor is it excluded."""
    UNKNOWN = "unknown"
    """PyPI's answer could not be had (and none is kept)."""


@dataclass(frozen=True)
class Target:
    """The Django release series aimed at (`--django 5.2`)."""

    major: int
    minor: int

    @classmethod
    def parse(cls, text: str) -> Target:
        """`5.2` (or `5.2.3`: its series); ValueError for anything else."""
        version = parse_version(text.strip())
        if version is None or len(version.release) < 2 or version.is_prerelease:
            raise ValueError(f"{text!r} is not a Django version such as 5.2")
        return cls(version.release[0], version.release[1])

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}"

    @property
    def classifier(self) -> str:
        return f"Framework :: Django :: {self}"

    @property
    def versions(self) -> tuple[Version, Version]:
        """The first and a far patch release of the series: a requirement allows the series
        when it allows either."""
        return Version(str(self)), Version(f"{self}.{_FAR_PATCH}")


@dataclass(frozen=True)
class Judgement:
    verdict: Verdict
    reason: str


def django_released(django: ProjectMetadata | None, target: Target) -> datetime | None:
    """When Django X.Y (its first final release) was uploaded, from Django's own answer."""
    if django is None:
        return None
    first = Version(str(target))
    for release in django.releases:
        if parse_version(release.version) == first:
            return parse_timestamp(release.uploaded)
    return None


def judge(release: ReleaseMetadata, target: Target, target_released: datetime | None) -> Judgement:
    """The verdict of one release for `target` (the rules in the module's text)."""
    bounded = False
    for text in release.requires_dist:
        try:
            requirement = Requirement(text)
        except InvalidRequirement:
            continue
        if canonicalize_name(requirement.name) != "django":
            continue
        if requirement.marker is not None and "extra" in str(requirement.marker):
            continue
        specifier = requirement.specifier
        if not any(specifier.contains(v, prereleases=True) for v in target.versions):
            return Judgement(Verdict.NOT_READY, f"requires Django{specifier}")
        bounded = bounded or any(s.operator in _UPPER_BOUNDS for s in specifier)
    if target.classifier in release.classifiers:
        return Judgement(Verdict.READY, f"classifier {target.classifier}")
    if bounded:
        uploaded = parse_timestamp(release.uploaded)
        if target_released is not None and uploaded is not None and uploaded > target_released:
            return Judgement(
                Verdict.READY, f"its Django bound allows {target} and it came out after it"
            )
    return Judgement(Verdict.NOT_DECLARED, f"declares nothing about Django {target}")


@dataclass(frozen=True)
class Subject:
    """One dependency whose readiness is asked.

    Attributes:
        key: the caller's handle for it.
        name: its PyPI name.
        version: the version the project uses, or None.
        specifier: its PEP 440 specifier as written (used when there is no version).
        project: PyPI's answer for it, or None when there is none.
        missing: why there is no answer (shown), when `project` is None.
    """

    key: str
    name: str
    version: str | None
    specifier: str
    project: ProjectMetadata | None
    missing: str = ""


@dataclass(frozen=True)
class Assessment:
    """A dependency's readiness for the target.

    Attributes:
        readiness: where it stands.
        version: the version judged (the one used, or the newest the specifier allows).
        ready: that version's verdict: True (ready), False (not ready), None (not declared,
            or unknown).
        step: the oldest newer release that is ready (the smallest step), or None.
        reason: why, in a few words.
    """

    readiness: Readiness
    version: str | None
    ready: bool | None
    step: str | None
    reason: str


ReleaseLookup = Callable[[Sequence[tuple[str, str]]], dict[tuple[str, str], ReleaseMetadata | None]]
"""(name, version) pairs -> their release metadata (None: not to be had), all at once."""


@dataclass
class _Search:
    subject: Subject
    project: ProjectMetadata
    used: str
    used_metadata: ReleaseMetadata | None = None
    candidates: list[str] = field(default_factory=list)
    low: int = 0
    high: int = 0
    result: Assessment | None = None


def assess(
    subjects: Sequence[Subject],
    target: Target,
    target_released: datetime | None,
    lookup: ReleaseLookup,
) -> dict[str, Assessment]:
    """Each subject's readiness; `lookup` is called once per round with every release
    metadata the round needs (a few rounds: the releases used, then the halving steps)."""
    results: dict[str, Assessment] = {}
    searches: list[_Search] = []
    for subject in subjects:
        if subject.project is None:
            results[subject.key] = Assessment(
                Readiness.UNKNOWN, subject.version, None, None, subject.missing or "no answer"
            )
            continue
        used = subject.version or _newest_allowed(subject.project, subject.specifier)
        search = _Search(subject, subject.project, used)
        latest = subject.project.latest
        if _same(used, latest.version):
            search.used_metadata = latest
        searches.append(search)
    pending = [s for s in searches if s.used_metadata is None]
    found = lookup([(s.subject.name, s.used) for s in pending]) if pending else {}
    for search in pending:
        search.used_metadata = found.get((search.subject.name, search.used))
    active: list[_Search] = []
    for search in searches:
        _start(search, target, target_released)
        if search.result is None:
            active.append(search)
    while active:
        wanted = [(s.subject.name, s.candidates[(s.low + s.high) // 2]) for s in active]
        found = lookup(wanted)
        still: list[_Search] = []
        for search, key in zip(active, wanted, strict=True):
            _halve(search, key[1], found.get(key), target, target_released)
            if search.result is None:
                still.append(search)
        active = still
    for search in searches:
        assert search.result is not None
        results[search.subject.key] = search.result
    return results


def _same(a: str, b: str) -> bool:
    va, vb = parse_version(a), parse_version(b)
    return a == b or (va is not None and va == vb)


def _newest_allowed(project: ProjectMetadata, specifier: str) -> str:
    """The newest final, not yanked release a PEP 440 specifier allows (what pip would
    install); the newest release when the specifier is not PEP 440 (Poetry's `^1.2`)."""
    try:
        allowed = SpecifierSet(specifier)
    except InvalidSpecifier:
        return project.latest.version
    best: tuple[Version, str] | None = None
    for release in project.releases:
        version = parse_version(release.version)
        if version is None or version.is_prerelease or release.yanked:
            continue
        if allowed.contains(version) and (best is None or version > best[0]):
            best = (version, release.version)
    return best[1] if best else project.latest.version


def _start(search: _Search, target: Target, released: datetime | None) -> None:
    """Judge the version used and the newest; set up the halving when only the newest is
    ready."""
    used_metadata = search.used_metadata
    if used_metadata is None:
        search.result = Assessment(
            Readiness.UNKNOWN,
            search.used,
            None,
            None,
            f"no answer for release {search.used}",
        )
        return
    verdict = judge(used_metadata, target, released)
    if verdict.verdict is Verdict.READY:
        search.result = Assessment(Readiness.READY, search.used, True, None, verdict.reason)
        return
    latest = search.project.latest
    latest_verdict = judge(latest, target, released)
    used_version = parse_version(search.used)
    search.candidates = _newer_releases(search.project, used_version)
    if latest_verdict.verdict is not Verdict.READY or not search.candidates:
        _no_step(search, verdict)
        return
    if not _same(search.candidates[-1], latest.version):
        search.candidates.append(latest.version)
    search.low, search.high = 0, len(search.candidates) - 1
    _settle(search, verdict)


def _newer_releases(project: ProjectMetadata, used: Version | None) -> list[str]:
    newest = parse_version(project.latest.version)
    versions: list[tuple[Version, str]] = []
    for release in project.releases:
        version = parse_version(release.version)
        if version is None or version.is_prerelease or release.yanked:
            continue
        if (used is None or version > used) and (newest is None or version <= newest):
            versions.append((version, release.version))
    return [text for _, text in sorted(versions)]


def _settle(search: _Search, used_verdict: Judgement) -> None:
    """Done when the halving has narrowed to one release: `high` is ready."""
    if search.low >= search.high:
        step = search.candidates[search.high]
        search.result = Assessment(
            Readiness.UPGRADE,
            search.used,
            False if used_verdict.verdict is Verdict.NOT_READY else None,
            step,
            f"{step} is the oldest newer release that declares it",
        )


def _halve(
    search: _Search,
    version: str,
    metadata: ReleaseMetadata | None,
    target: Target,
    released: datetime | None,
) -> None:
    used_verdict = judge(search.used_metadata, target, released) if search.used_metadata else None
    assert used_verdict is not None
    middle = (search.low + search.high) // 2
    if metadata is not None and judge(metadata, target, released).verdict is Verdict.READY:
        search.high = middle
    else:
        # Not ready, or no answer for it: the step is later (the newest is known ready).
        search.low = middle + 1
    _settle(search, used_verdict)


def _no_step(search: _Search, used_verdict: Judgement) -> None:
    if used_verdict.verdict is Verdict.NOT_READY:
        search.result = Assessment(
            Readiness.BLOCKED,
            search.used,
            False,
            None,
            used_verdict.reason + "; no newer release declares it",
        )
    else:
        search.result = Assessment(
            Readiness.NOT_DECLARED, search.used, None, None, used_verdict.reason
        )
