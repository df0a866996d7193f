"""The one interface every dependency file format is read through (the pip-audit habit: one
small class per format family, each in its own module), and the PEP 508 requirement reading
they share.

A source reads one file and returns what it declares and what it locks; it never guesses what
the file does not say. A file that does not parse raises DependencyFileError (exit 65) naming
the file and the line.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet

from pkgharvest.errors import DependencyFileError
from pkgharvest.project import names
from pkgharvest.project.model import Dependency, FileDependencies


class DependencySource(ABC):
    """One dependency file.

    Attributes:
        path: the file to read.
        shown: how messages and results name it (relative to the working folder when below it).
    """

    def __init__(self, path: Path, shown: str) -> None:
        self.path = path
        self.shown = shown

    @abstractmethod
    def read(self) -> FileDependencies:
        """Read the file: what it declares and, for a lock file, what it resolves."""

    def error(self, line: int | None, message: str) -> DependencyFileError:
        return file_error(self.shown, line, message)


def excerpt(text: str, limit: int = 60) -> str:
    """A piece of a file for a message: one line, at most `limit` characters."""
    one_line = " ".join(text.split())
    return one_line if len(one_line) <= limit else one_line[: limit - 1] + "…"


def pinned_version(specifier: SpecifierSet | str) -> str | None:
    """The version a specifier pins (`==1.2.3`, `===1.2.3`), or None (a range, a wildcard)."""
    if isinstance(specifier, str):
        try:
            specifier = SpecifierSet(specifier)
        except ValueError:
            return None
    items = list(specifier)
    if len(items) != 1 or items[0].operator not in ("==", "===") or "*" in items[0].version:
        return None
    return items[0].version


def file_error(shown: str, line: int | None, message: str) -> DependencyFileError:
    """The error of a file that does not parse: `FILE:LINE: message`."""
    return DependencyFileError(f"{shown}:{line}: {message}" if line else f"{shown}: {message}")


def requirement(
    shown: str,
    text: str,
    line: int | None,
    *,
    group: str | None = None,
    direct: bool = True,
) -> Dependency:
    """A PEP 508 requirement string (`django-filter>=2.0 ; python_version >= "3.8"`,
    `pkg @ git+https://...`) as a Dependency; DependencyFileError when it is none."""
    try:
        parsed = Requirement(text)
    except InvalidRequirement as err:
        detail = str(err).splitlines()[0] if str(err) else "not a PEP 508 requirement"
        raise file_error(shown, line, f"invalid requirement {excerpt(text)!r}: {detail}") from None
    version = pinned_version(parsed.specifier)
    repo = names.repository(parsed.url) if parsed.url else None
    if version is None and parsed.url:
        found = names.distribution_file(parsed.url)
        if found is not None and names.normalize(found[0]) == names.normalize(parsed.name):
            version = found[1]
    return Dependency(
        name=parsed.name,
        normalized=names.normalize(parsed.name),
        file=shown,
        line=line,
        specifier=str(parsed.specifier),
        version=version,
        url=parsed.url,
        repository=repo,
        direct=direct,
        group=group,
        marker=str(parsed.marker) if parsed.marker is not None else "",
    )
