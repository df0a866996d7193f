"""Pipenv's `Pipfile` (TOML) and `Pipfile.lock` (JSON).

A Pipfile's package sections are `[packages]`, `[dev-packages]` and any other table of name =
spec (pipenv's custom categories); `[source]`, `[requires]`, `[pipenv]` and `[scripts]` are
not packages. A spec is `"*"`, a specifier (`"==2.2"`), or a table (`version`, `git`, `ref`,
`path`, `extras`, `markers`, ...); a `path` or `file` one is the project's own code.

Pipfile.lock lists every installed package, direct or not, under `default` and `develop`, with
no trace of which the Pipfile asked for: read alone, all of them are taken as direct, and a
note says so (with the Pipfile beside it, the names come from there).
"""

from __future__ import annotations

import json
from typing import Any

from pkgharvest.project import files, names
from pkgharvest.project.model import Dependency, FileDependencies, Locked
from pkgharvest.project.pyproject import Locator, load_toml
from pkgharvest.project.sources import DependencySource, excerpt, pinned_version

_NOT_PACKAGES = frozenset({"source", "requires", "pipenv", "scripts"})


class PipfileSource(DependencySource):
    """A `Pipfile`."""

    def read(self) -> FileDependencies:
        text = files.read_text(self.path, self.shown)
        document = load_toml(self, text)
        where = Locator(text)
        declared: list[Dependency] = []
        notes: list[str] = []
        for section, entries in document.items():
            if section in _NOT_PACKAGES or not isinstance(entries, dict):
                continue
            start = where.header(section)
            group = None if section == "packages" else section
            for name, spec in entries.items():
                line = where.key(start, name, section)
                if not names.is_valid_name(name):
                    raise self.error(line, f"{excerpt(name)!r} is no package name")
                dependency = self._entry(name, spec, line, group, section)
                if dependency is None:
                    notes.append(f"{self.shown}:{line or '?'}: {name} skipped: a local path")
                else:
                    declared.append(dependency)
        return FileDependencies(path=self.shown, declared=tuple(declared), notes=tuple(notes))

    def _entry(
        self, name: str, spec: object, line: int | None, group: str | None, section: str
    ) -> Dependency | None:
        url: str | None = None
        marker = ""
        if isinstance(spec, dict):
            if "path" in spec or "file" in spec:
                return None
            git = spec.get("git")
            url = f"git+{git}" if isinstance(git, str) and not git.startswith("git+") else git
            marker = str(spec.get("markers", ""))
            spec = spec.get("version", "*")
        if not isinstance(spec, str) or (url is not None and not isinstance(url, str)):
            raise self.error(line, f"[{section}] {name} is neither a specifier nor a table")
        constraint = "" if spec.strip() == "*" else spec.strip()
        return Dependency(
            name=name,
            normalized=names.normalize(name),
            file=self.shown,
            line=line,
            specifier=constraint,
            version=pinned_version(constraint) if constraint else None,
            url=url,
            repository=names.repository(url) if url else None,
            group=group,
            marker=marker,
        )


class PipfileLockSource(DependencySource):
    """A `Pipfile.lock`."""

    def read(self) -> FileDependencies:
        text = files.read_text(self.path, self.shown)
        try:
            document = json.loads(text)
        except json.JSONDecodeError as err:
            raise self.error(err.lineno, f"not valid JSON ({err.msg})") from None
        except RecursionError:
            raise self.error(None, "not valid JSON (nested too deeply)") from None
        if not isinstance(document, dict):
            raise self.error(1, "not a JSON object")
        where = Locator(text)
        locked: dict[str, Locked] = {}
        declared: list[Dependency] = []
        for section in ("default", "develop"):
            entries = document.get(section, {})
            if not isinstance(entries, dict):
                raise self.error(None, f"{section!r} is not an object")
            start = where.index_of(f'"{section}": {{')
            for name, entry in entries.items():
                line = where.find(start, f'"{name}": {{')
                if not names.is_valid_name(name) or not isinstance(entry, dict):
                    raise self.error(line, f"{excerpt(name)!r} is not a locked package")
                dependency = self._entry(
                    name, entry, line, None if section == "default" else section
                )
                if dependency is None:
                    continue
                declared.append(dependency)
                locked.setdefault(
                    dependency.normalized,
                    Locked(
                        name,
                        dependency.normalized,
                        dependency.version or "",
                        dependency.url,
                        dependency.repository,
                        line,
                    ),
                )
        return FileDependencies(
            path=self.shown,
            declared=tuple(declared),
            locked=locked,
            has_root=False,
            notes=(
                f"{self.shown} does not tell direct from transitive packages: all are listed "
                "(put the Pipfile beside it for its own list)",
            ),
        )

    def _entry(
        self, name: str, entry: dict[str, Any], line: int | None, group: str | None
    ) -> Dependency | None:
        if "path" in entry or "file" in entry:
            return None
        version = entry.get("version")
        git = entry.get("git")
        url = (
            (f"git+{git}" if not git.startswith("git+") else git) if isinstance(git, str) else None
        )
        return Dependency(
            name=name,
            normalized=names.normalize(name),
            file=self.shown,
            line=line,
            specifier=version if isinstance(version, str) else "",
            version=pinned_version(version) if isinstance(version, str) else None,
            url=url,
            repository=names.repository(url) if url else None,
            group=group,
            marker=str(entry.get("markers", "")),
        )
