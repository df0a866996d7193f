"""What a project's dependency files say, as frozen dataclasses: the contract between the
readers (one module per file format) and the rest of `pkgharvest deps`.

Names follow PEP 503: `normalized` is the name lower-cased with runs of `-`, `_` and `.` made
one `-` (`Django_Filter` -> `django-filter`), the form PyPI, pip and the catalogue matching
compare.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace


@dataclass(frozen=True)
class Repository:
    """A source repository, as a VCS or archive requirement names it.

    Attributes:
        host: the host, lower-case, without `www.` (`github.com`).
        owner: the first path segment, lower-case (`jazzband`).
        name: the second, lower-case, without `.git` (`django-debug-toolbar`).
    """

    host: str
    owner: str
    name: str

    def __str__(self) -> str:
        return f"{self.host}/{self.owner}/{self.name}"


@dataclass(frozen=True)
class Dependency:
    """One dependency of the project, as one of its files declares it.

    Attributes:
        name: the name as written in the file (`Django_Filter`, `zulip_bots`).
        normalized: the PEP 503 form of `name` (`django-filter`).
        file: the file that declares it, as the user would name it (relative to the folder
            the command runs in when it lies below it).
        line: the 1-based line of the declaration (the first line of a continued one); None
            where the format does not say (a lock file entry found only by its name).
        specifier: the version constraint as written (`>=2.0,<3`, Poetry's `^1.2`), or "".
        version: the version the project uses: pinned (`==1.2.3`), or resolved by the lock
            file beside the manifest; None when neither says.
        url: the VCS, archive or direct URL it is installed from, or None.
        repository: the repository that URL names (host, owner, name), or None.
        direct: declared by the project itself (False: only a lock file's transitive entry).
        group: where in its file it is declared: None for the main list, else the optional
            extra, dependency group or Pipfile section (`dev`, `docs`, `develop`).
        marker: the PEP 508 environment marker as written, or "".
    """

    name: str
    normalized: str
    file: str
    line: int | None
    specifier: str = ""
    version: str | None = None
    url: str | None = None
    repository: Repository | None = None
    direct: bool = True
    group: str | None = None
    marker: str = ""

    def with_version(self, version: str | None) -> Dependency:
        return replace(self, version=version)


@dataclass(frozen=True)
class Locked:
    """One package a lock file (or a compiled requirements file) resolves.

    Attributes:
        name: its name as the lock writes it.
        normalized: PEP 503 form.
        version: the resolved version ("" when the lock gives none, e.g. a VCS checkout).
        url: where it comes from when that is not the package index (VCS, archive), or None.
        repository: the repository that URL names, or None.
        line: its line in the lock file, when known.
    """

    name: str
    normalized: str
    version: str
    url: str | None = None
    repository: Repository | None = None
    line: int | None = None


@dataclass(frozen=True)
class FileDependencies:
    """What one file says.

    Attributes:
        path: the file, as shown to the user.
        declared: the dependencies the file declares itself (a manifest's list; for a lock
            file, its root package's dependencies when it has a root).
        locked: every package the file resolves, by normalized name (lock files and compiled
            requirements; empty for a manifest).
        has_root: a lock file that knows which packages are the project's own (uv.lock's
            workspace members); False for poetry.lock and Pipfile.lock, which do not.
        notes: one-line remarks for the user (what was skipped, and why).
    """

    path: str
    declared: tuple[Dependency, ...] = ()
    locked: dict[str, Locked] = field(default_factory=dict)
    has_root: bool = True
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Project:
    """Every dependency a run reads, after the files are paired and merged.

    Attributes:
        files: the files read, as shown to the user, in reading order.
        dependencies: one per normalized name, direct ones first in file order, then (with
            `--all`) the lock files' transitive packages by name.
        framework: the Django dependency, kept apart (Django is the framework, not a
            dependency to judge), or None.
        notes: one-line remarks for the user.
    """

    files: tuple[str, ...]
    dependencies: tuple[Dependency, ...]
    framework: Dependency | None = None
    notes: tuple[str, ...] = ()
