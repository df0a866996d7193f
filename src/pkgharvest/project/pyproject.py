"""`pyproject.toml`: PEP 621 `[project]` dependencies and optional dependencies, PEP 735
`[dependency-groups]`, and Poetry's `[tool.poetry.dependencies]`, its groups and its old
`dev-dependencies`. Read with tomllib; requirement strings with `packaging`.

Poetry's own constraint syntax (`^1.2`, `~1.2`) is kept as written, as the specifier: it is
not PEP 440, and no version is made up from it (a bare `1.7.15` or `==1.7.15` is a pin). A
`path` dependency is the project's own code and is skipped (said in a note); `python` is the
interpreter, not a dependency.

TOML keeps no line numbers, so each declaration's line is found in the text: the first line
after its table's header that holds it (the quoted requirement, or `name =`, or a
`[tool.poetry.dependencies.name]` header); None if it cannot be told.
"""

from __future__ import annotations

import re
import tomllib
from typing import Any

from packaging.version import InvalidVersion, Version

from pkgharvest.project import files, names
from pkgharvest.project.model import Dependency, FileDependencies
from pkgharvest.project.sources import DependencySource, excerpt, requirement

_TOML_LINE = re.compile(r"line (\d+)")


def load_toml(source: DependencySource, text: str) -> dict[str, Any]:
    """The TOML document; DependencyFileError naming the line when it is not TOML."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        found = _TOML_LINE.search(str(err))
        raise source.error(
            int(found.group(1)) if found else None, f"not valid TOML ({err})"
        ) from None
    except RecursionError:
        raise source.error(None, "not valid TOML (nested too deeply)") from None


class Locator:
    """Finds the line of a declaration in a TOML file's text (tomllib keeps no positions)."""

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()
        self.taken: set[int] = set()

    def header(self, *tables: str) -> int:
        """The index of the first line that is the header of one of `tables` (`[project]`),
        or 0 when none is (the keys may be dotted, or inline)."""
        wanted = {f"[{t}]" for t in tables}
        for index, line in enumerate(self.lines):
            if line.strip().replace(" ", "") in wanted:
                return index
        return 0

    def index_of(self, needle: str) -> int:
        """The index of the first line holding `needle`, or 0."""
        for index, line in enumerate(self.lines):
            if needle in line:
                return index
        return 0

    def find(self, start: int, *needles: str) -> int | None:
        """The 1-based number of the first line from `start` holding one of `needles` (one
        line is given to one declaration only)."""
        for index in range(start, len(self.lines)):
            if index in self.taken:
                continue
            line = self.lines[index]
            if any(needle in line for needle in needles):
                self.taken.add(index)
                return index + 1
        return None

    def key(self, start: int, name: str, table: str) -> int | None:
        """The line of key `name` in a table starting at `start`, or of a
        `[table.name]` sub-table header."""
        pattern = re.compile(rf"^\s*[\"']?{re.escape(name)}[\"']?\s*=")
        header = f"[{table}.{name}]".replace(" ", "")
        for index in range(start, len(self.lines)):
            if index in self.taken:
                continue
            line = self.lines[index]
            if pattern.match(line) or line.strip().replace(" ", "") == header:
                self.taken.add(index)
                return index + 1
        return None


class PyprojectSource(DependencySource):
    """A `pyproject.toml` (PEP 621, PEP 735 and Poetry)."""

    def read(self) -> FileDependencies:
        text = files.read_text(self.path, self.shown)
        document = load_toml(self, text)
        where = Locator(text)
        declared: list[Dependency] = []
        notes: list[str] = []
        project = document.get("project")
        if project is not None:
            project = self._table(project, "[project]")
            start = where.header("project")
            for item in self._strings(project.get("dependencies", []), "project.dependencies"):
                declared.append(self._pep508(item, where, start, None))
            extras = self._table(
                project.get("optional-dependencies", {}), "project.optional-dependencies"
            )
            start = where.header("project.optional-dependencies", "project")
            for extra, items in extras.items():
                for item in self._strings(items, f"project.optional-dependencies.{extra}"):
                    declared.append(self._pep508(item, where, start, str(extra)))
        groups = self._table(document.get("dependency-groups", {}), "[dependency-groups]")
        start = where.header("dependency-groups")
        for group, items in groups.items():
            if not isinstance(items, list):
                raise self.error(None, f"dependency-groups.{group} is not a list")
            for item in items:
                if isinstance(item, dict) and "include-group" in item:
                    continue  # the included group's own entries are read with it
                if not isinstance(item, str):
                    raise self.error(None, f"dependency-groups.{group} holds {excerpt(str(item))}")
                declared.append(self._pep508(item, where, start, str(group)))
        poetry = (
            document.get("tool", {}).get("poetry")
            if isinstance(document.get("tool"), dict)
            else None
        )
        if isinstance(poetry, dict):
            self._poetry(poetry, where, declared, notes)
        return FileDependencies(path=self.shown, declared=tuple(declared), notes=tuple(notes))

    # -- PEP 621 / 735 ------------------------------------------------------------------------

    def _pep508(self, item: str, where: Locator, start: int, group: str | None) -> Dependency:
        line = where.find(start, f'"{item}"', f"'{item}'")
        return requirement(self.shown, item, line, group=group)

    def _table(self, value: object, name: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.error(None, f"{name} is not a table")
        return value

    def _strings(self, value: object, name: str) -> list[str]:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.error(None, f"{name} is not a list of requirement strings")
        return value

    # -- Poetry -------------------------------------------------------------------------------

    def _poetry(
        self, poetry: dict[str, Any], where: Locator, declared: list[Dependency], notes: list[str]
    ) -> None:
        tables: list[tuple[str, str | None, object]] = [
            ("tool.poetry.dependencies", None, poetry.get("dependencies", {})),
            ("tool.poetry.dev-dependencies", "dev", poetry.get("dev-dependencies", {})),
        ]
        groups = poetry.get("group", {})
        if isinstance(groups, dict):
            for group, body in groups.items():
                deps = body.get("dependencies", {}) if isinstance(body, dict) else None
                tables.append((f"tool.poetry.group.{group}.dependencies", str(group), deps))
        for table, group, entries in tables:
            if not isinstance(entries, dict):
                raise self.error(None, f"{table} is not a table")
            start = where.header(table)
            for name, spec in entries.items():
                if name.lower() == "python":
                    continue
                if not names.is_valid_name(name):
                    raise self.error(where.key(start, name, table), f"{name!r} is no package name")
                line = where.key(start, name, table)
                dependency = self._poetry_entry(name, spec, line, group, table)
                if dependency is None:
                    notes.append(f"{self.shown}:{line or '?'}: {name} skipped: a local path")
                else:
                    declared.append(dependency)

    def _poetry_entry(
        self, name: str, spec: object, line: int | None, group: str | None, table: str
    ) -> Dependency | None:
        if isinstance(spec, list):  # several constraints, one per environment: the first
            spec = spec[0] if spec else "*"
        url: str | None = None
        marker = ""
        if isinstance(spec, dict):
            if "path" in spec:
                return None
            url = spec.get("git") or spec.get("url")
            marker = str(spec.get("markers", ""))
            spec = spec.get("version", "*" if url is None else "")
        if not isinstance(spec, str) or (url is not None and not isinstance(url, str)):
            raise self.error(line, f"{table}.{name} is neither a constraint nor a table")
        constraint = spec.strip()
        version: str | None = None
        bare = constraint.removeprefix("==").strip()
        if bare and bare[0].isdigit() and not any(c in bare for c in "*,<>^~! "):
            try:
                version = str(Version(bare))
            except InvalidVersion:
                version = None
        return Dependency(
            name=name,
            normalized=names.normalize(name),
            file=self.shown,
            line=line,
            specifier="" if constraint == "*" else constraint,
            version=version,
            url=url,
            repository=names.repository(url) if url else None,
            group=group,
            marker=marker,
        )
