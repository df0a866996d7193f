"""What a PyPI JSON answer says, kept to what the readiness rules need.

PyPI's JSON API (the documented format, served by PyPI and by mirrors and proxies such as
devpi, Artifactory and Nexus): `/pypi/NAME/json` answers the project: `info` (the metadata of
its newest release: `version`, `requires_dist`, `classifiers`, ...), `releases` (every version,
each with its files and their `upload_time_iso_8601` and `yanked`) and `urls` (the newest
release's files). `/pypi/NAME/VERSION/json` answers one release: `info` and `urls`.

Everything in an answer is untrusted: a field of the wrong type makes the answer malformed
(PypiAnswerError: that dependency is unknown), text is kept as text and only ever shown
through the terminal sanitizer, versions that are not PEP 440 are ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pkgharvest.errors import PypiAnswerError
from pkgharvest.project.names import parse_version

MAX_ITEMS = 5000
"""The most entries kept from one list of an answer (requirements, classifiers, releases):
more than any real project has; a hostile answer is cut there."""
MAX_TEXT = 1000
"""The longest string kept from an answer (a requirement, a classifier, a version)."""


@dataclass(frozen=True)
class Release:
    """One release of a project, from its files.

    Attributes:
        version: the version as PyPI writes it.
        uploaded: the earliest upload of its files, ISO 8601 UTC, or None when unknown.
        yanked: every file of it is yanked (PEP 592).
    """

    version: str
    uploaded: str | None
    yanked: bool


@dataclass(frozen=True)
class ReleaseMetadata:
    """A release's metadata (`info` of `/pypi/NAME/VERSION/json`).

    Attributes:
        version: the version.
        requires_dist: its `Requires-Dist` entries, as written (PEP 508).
        classifiers: its trove classifiers.
        uploaded: when its files were first uploaded (ISO 8601 UTC), or None.
        yanked: the release is yanked.
    """

    version: str
    requires_dist: tuple[str, ...]
    classifiers: tuple[str, ...]
    uploaded: str | None
    yanked: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "requires_dist": list(self.requires_dist),
            "classifiers": list(self.classifiers),
            "uploaded": self.uploaded,
            "yanked": self.yanked,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ReleaseMetadata:
        """From `as_dict()` (the catalogue database's copy); PypiAnswerError if it is not."""
        if not isinstance(data, Mapping):
            raise PypiAnswerError("a kept release is not an object")
        return cls(
            version=_text(data.get("version"), "version"),
            requires_dist=_texts(data.get("requires_dist"), "requires_dist"),
            classifiers=_texts(data.get("classifiers"), "classifiers"),
            uploaded=_optional_text(data.get("uploaded")),
            yanked=data.get("yanked") is True,
        )


@dataclass(frozen=True)
class ProjectMetadata:
    """A project's answer (`/pypi/NAME/json`), distilled.

    Attributes:
        name: the project's name as PyPI writes it.
        latest: the metadata of the release PyPI names newest (`info`).
        releases: every release (files' upload time, yanked), by version as written.
    """

    name: str
    latest: ReleaseMetadata
    releases: tuple[Release, ...]

    def release(self, version: str) -> Release | None:
        wanted = parse_version(version)
        for release in self.releases:
            if release.version == version or (
                wanted is not None and parse_version(release.version) == wanted
            ):
                return release
        return None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "latest": self.latest.as_dict(),
            "releases": [[r.version, r.uploaded, r.yanked] for r in self.releases],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ProjectMetadata:
        if not isinstance(data, Mapping) or not isinstance(data.get("releases"), list):
            raise PypiAnswerError("a kept project is not an object with releases")
        releases = []
        for item in data["releases"][:MAX_ITEMS]:
            if not (isinstance(item, list) and len(item) == 3):
                raise PypiAnswerError("a kept release entry is malformed")
            releases.append(
                Release(_text(item[0], "version"), _optional_text(item[1]), item[2] is True)
            )
        return cls(
            name=_text(data.get("name"), "name"),
            latest=ReleaseMetadata.from_dict(data.get("latest", {})),
            releases=tuple(releases),
        )


def project_from_json(body: object) -> ProjectMetadata:
    """The distilled `/pypi/NAME/json` answer; PypiAnswerError when it is not of that shape."""
    info = _info(body)
    assert isinstance(body, Mapping)
    raw_releases = body.get("releases", {})
    if not isinstance(raw_releases, Mapping):
        raise PypiAnswerError("`releases` is not an object")
    releases = []
    for version, release_files in list(raw_releases.items())[:MAX_ITEMS]:
        if not isinstance(version, str) or len(version) > MAX_TEXT:
            continue
        if not isinstance(release_files, list):
            raise PypiAnswerError(f"the files of release {version[:40]!r} are not a list")
        uploaded, yanked = _files(release_files)
        releases.append(Release(version, uploaded, yanked))
    latest_version = _text(info.get("version"), "info.version")
    uploaded, yanked = _files(body.get("urls", []))
    known = next((r for r in releases if r.version == latest_version), None)
    latest = ReleaseMetadata(
        version=latest_version,
        requires_dist=_texts(info.get("requires_dist"), "info.requires_dist"),
        classifiers=_texts(info.get("classifiers"), "info.classifiers"),
        uploaded=uploaded or (known.uploaded if known else None),
        yanked=info.get("yanked") is True,
    )
    return ProjectMetadata(_text(info.get("name"), "info.name"), latest, tuple(releases))


def release_from_json(body: object) -> ReleaseMetadata:
    """The distilled `/pypi/NAME/VERSION/json` answer; PypiAnswerError when malformed."""
    info = _info(body)
    assert isinstance(body, Mapping)
    uploaded, yanked = _files(body.get("urls", []))
    return ReleaseMetadata(
        version=_text(info.get("version"), "info.version"),
        requires_dist=_texts(info.get("requires_dist"), "info.requires_dist"),
        classifiers=_texts(info.get("classifiers"), "info.classifiers"),
        uploaded=uploaded,
        yanked=info.get("yanked") is True or yanked,
    )


def _info(body: object) -> Mapping[str, Any]:
    if not isinstance(body, Mapping):
        raise PypiAnswerError("the answer is not a JSON object")
    info = body.get("info")
    if not isinstance(info, Mapping):
        raise PypiAnswerError("the answer has no `info` object")
    return info


def _files(release_files: object) -> tuple[str | None, bool]:
    """(earliest upload, all yanked) of a release's files."""
    if not isinstance(release_files, list):
        raise PypiAnswerError("a release's files are not a list")
    times: list[datetime] = []
    yanked = bool(release_files)
    for item in release_files[:MAX_ITEMS]:
        if not isinstance(item, Mapping):
            raise PypiAnswerError("a release file is not an object")
        stamp = item.get("upload_time_iso_8601") or item.get("upload_time")
        moment = _moment(stamp)
        if moment is not None:
            times.append(moment)
        yanked = yanked and item.get("yanked") is True
    first = min(times, default=None)
    return (first.isoformat().replace("+00:00", "Z") if first else None), yanked


def _moment(value: object) -> datetime | None:
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _text(value: object, what: str) -> str:
    if not isinstance(value, str) or not value or len(value) > MAX_TEXT:
        raise PypiAnswerError(f"`{what}` is not a short text")
    return value


def _optional_text(value: object) -> str | None:
    return value if isinstance(value, str) and len(value) <= MAX_TEXT else None


def _texts(value: object, what: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise PypiAnswerError(f"`{what}` is not a list")
    return tuple(v for v in value[:MAX_ITEMS] if isinstance(v, str) and len(v) <= MAX_TEXT)
