"""PyPI answers for `deps --django`: from what the catalogue database keeps when it is fresh
enough, else asked, and kept for next time. Pure orchestration: the store (catalogue/
pypi_cache.py) and the asking (api/pypi.py) come in as two small interfaces, the asking one
built only when something must be asked (so a run answered from the database never loads the
HTTP stack).

- A project's answer (`/pypi/NAME/json`) is fresh for PROJECT_TTL (a day): new releases come
  out; a release's (`/pypi/NAME/VERSION/json`) for good: its metadata never changes.
- Offline (`--offline`), or when asking fails, whatever is kept answers, however old; the
  summary says how old the oldest answer used is.
- An answer that could not be had and was never kept marks that dependency unknown, with the
  reason: never the run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

from pkgharvest.errors import PypiAnswerError
from pkgharvest.project.pypi import (
    ProjectMetadata,
    ReleaseMetadata,
    project_from_json,
    release_from_json,
)

PROJECT_TTL = timedelta(days=1)
"""How long a kept project answer is used without asking again."""

ReleaseKey = tuple[str, str]


@dataclass(frozen=True)
class Kept:
    """An answer as the catalogue database keeps it.

    Attributes:
        found: False when PyPI answered that there is no such project or release (404).
        data: the distilled answer (`ProjectMetadata.as_dict()` or `ReleaseMetadata.as_dict()`).
        fetched_at: when it was asked.
    """

    found: bool
    data: dict[str, Any] | None
    fetched_at: datetime


@dataclass(frozen=True)
class Fetched:
    """What asking gave: `ok` with the JSON body, `missing` (404), or `failed` with why."""

    status: Literal["ok", "missing", "failed"]
    body: Any = None
    reason: str = ""


class AnswerStore(Protocol):
    def projects(self, names: Sequence[str]) -> dict[str, Kept]: ...

    def releases(self, keys: Sequence[ReleaseKey]) -> dict[ReleaseKey, Kept]: ...

    def keep(self, projects: dict[str, Kept], releases: dict[ReleaseKey, Kept]) -> None: ...


class Remote(Protocol):
    def projects(self, names: Sequence[str]) -> dict[str, Fetched]: ...

    def releases(self, keys: Sequence[ReleaseKey]) -> dict[ReleaseKey, Fetched]: ...


@dataclass(frozen=True)
class ProjectAnswer:
    """A project's answer for this run.

    Attributes:
        metadata: the answer, or None when there is none (then `reason` says why).
        reason: why there is none (`not on PyPI`, `timed out ...`), or "".
        age: how old the answer is when it was kept, None when asked now.
    """

    metadata: ProjectMetadata | None
    reason: str = ""
    age: timedelta | None = None


@dataclass
class Tally:
    """What the answers cost: asked now, taken from the database, of which older than a day
    (offline or PyPI failing), and the oldest taken; failures, with their reasons."""

    asked: int = 0
    kept: int = 0
    stale: int = 0
    oldest: timedelta | None = None
    failed: list[str] = field(default_factory=list)

    def took(self, age: timedelta, stale: bool) -> None:
        self.kept += 1
        self.stale += stale
        self.oldest = age if self.oldest is None else max(self.oldest, age)


class PypiAnswers:
    """Project and release answers for one run (see the module's text)."""

    def __init__(
        self,
        store: AnswerStore,
        remote: Callable[[], Remote] | None,
        now: datetime,
    ) -> None:
        """remote: builds the asking side on first need; None: offline."""
        self.store = store
        self._make_remote = remote
        self._remote: Remote | None = None
        self.now = now
        self.tally = Tally()
        self._releases: dict[ReleaseKey, ReleaseMetadata | None] = {}
        self._projects: dict[str, ProjectAnswer] = {}

    def _asking(self) -> Remote | None:
        if self._remote is None and self._make_remote is not None:
            self._remote = self._make_remote()
        return self._remote

    def projects(self, names: Sequence[str]) -> dict[str, ProjectAnswer]:
        """Each project's answer; one asked twice in a run is answered once."""
        wanted = [n for n in dict.fromkeys(names) if n not in self._projects]
        kept = self.store.projects(wanted) if wanted else {}
        answers: dict[str, ProjectAnswer] = {}
        to_ask = []
        for name in wanted:
            held = kept.get(name)
            if held is not None and self.now - held.fetched_at < PROJECT_TTL:
                answers[name] = self._from_kept(name, held, stale=False)
            else:
                to_ask.append(name)
        remote = self._asking() if to_ask else None
        fetched = remote.projects(to_ask) if remote is not None else {}
        fresh: dict[str, Kept] = {}
        for name in to_ask:
            got = fetched.get(name)
            held = kept.get(name)
            if got is not None and got.status != "failed":
                self.tally.asked += 1
                answer, keep = self._from_fetched(got, project_from_json)
                if keep is not None:
                    fresh[name] = keep
                answers[name] = ProjectAnswer(answer, "" if answer else _why(got))
            elif held is not None:
                answers[name] = self._from_kept(name, held, stale=True)
            else:
                reason = got.reason if got is not None else "offline, and no answer kept"
                self.tally.failed.append(f"{name}: {reason}")
                answers[name] = ProjectAnswer(None, reason)
        if fresh:
            self.store.keep(fresh, {})
        self._projects.update(answers)
        return {name: self._projects[name] for name in dict.fromkeys(names)}

    def releases(self, keys: Sequence[ReleaseKey]) -> dict[ReleaseKey, ReleaseMetadata | None]:
        """The readiness rules' lookup: release metadata, kept for good once had."""
        wanted = [k for k in dict.fromkeys(keys) if k not in self._releases]
        kept = self.store.releases(wanted) if wanted else {}
        to_ask = []
        for key in wanted:
            held = kept.get(key)
            if held is not None:
                self._releases[key] = _release(held)
            else:
                to_ask.append(key)
        remote = self._asking() if to_ask else None
        fetched = remote.releases(to_ask) if remote is not None else {}
        fresh: dict[ReleaseKey, Kept] = {}
        for key in to_ask:
            got = fetched.get(key)
            if got is None or got.status == "failed":
                reason = got.reason if got is not None else "offline, and no answer kept"
                self.tally.failed.append(f"{key[0]} {key[1]}: {reason}")
                self._releases[key] = None
                continue
            self.tally.asked += 1
            metadata, keep = self._from_fetched(got, release_from_json)
            if keep is not None:
                fresh[key] = keep
            self._releases[key] = metadata
        if fresh:
            self.store.keep({}, fresh)
        return {key: self._releases.get(key) for key in keys}

    def _from_kept(self, name: str, held: Kept, *, stale: bool) -> ProjectAnswer:
        age = max(self.now - held.fetched_at, timedelta(0))
        self.tally.took(age, stale)
        if not held.found or held.data is None:
            return ProjectAnswer(None, "not on PyPI", age)
        try:
            return ProjectAnswer(ProjectMetadata.from_dict(held.data), "", age)
        except PypiAnswerError as err:
            return ProjectAnswer(None, f"the kept answer is unreadable ({err})", age)

    def _from_fetched(
        self, got: Fetched, distill: Callable[[Any], ProjectMetadata | ReleaseMetadata]
    ) -> tuple[Any, Kept | None]:
        """(the distilled answer or None, what to keep or None)."""
        if got.status == "missing":
            return None, Kept(False, None, self.now)
        try:
            distilled = distill(got.body)
        except PypiAnswerError as err:
            self.tally.failed.append(f"a malformed answer ({err})")
            return None, None
        return distilled, Kept(True, distilled.as_dict(), self.now)


def _why(got: Fetched) -> str:
    return "not on PyPI" if got.status == "missing" else "a malformed answer"


def _release(held: Kept) -> ReleaseMetadata | None:
    if not held.found or held.data is None:
        return None
    try:
        return ReleaseMetadata.from_dict(held.data)
    except PypiAnswerError:
        return None
