"""Lock files of the two TOML-based managers: `uv.lock` and `poetry.lock`.

uv.lock knows the project: its workspace members are the packages whose source is the project
itself (`editable` or `virtual`), and their `dependencies`, `optional-dependencies` and
`dev-dependencies` are the direct ones. poetry.lock does not: it lists packages and what each
needs, with no root; read alone, the packages no other locked package needs are taken as the
direct ones, and a note says so (with the pyproject.toml beside it, the names come from there).
"""

from __future__ import annotations

from typing import Any

from pkgharvest.project import files, names
from pkgharvest.project.model import Dependency, FileDependencies, Locked
from pkgharvest.project.pyproject import Locator, load_toml
from pkgharvest.project.sources import DependencySource


def _packages(source: DependencySource, document: dict[str, Any]) -> list[dict[str, Any]]:
    packages = document.get("package", [])
    if not isinstance(packages, list) or not all(isinstance(p, dict) for p in packages):
        raise source.error(None, "[[package]] is not a list of tables")
    for package in packages:
        if not isinstance(package.get("name"), str) or not names.is_valid_name(package["name"]):
            raise source.error(None, f"a [[package]] without a valid name: {package.get('name')!r}")
    return packages


def _package_lines(where: Locator) -> list[int]:
    """The 1-based line of each `[[package]]` header, in order."""
    return [index + 1 for index, line in enumerate(where.lines) if line.strip() == "[[package]]"]


def _source_url(source: object) -> str | None:
    """Where a locked package comes from when that is not a package index."""
    if isinstance(source, dict):
        for key in ("git", "url"):
            value = source.get(key)
            if isinstance(value, str):
                return value
    return None


class UvLockSource(DependencySource):
    """A `uv.lock`."""

    def read(self) -> FileDependencies:
        text = files.read_text(self.path, self.shown)
        document = load_toml(self, text)
        packages = _packages(self, document)
        where = Locator(text)
        headers = _package_lines(where)
        roots: list[tuple[int, dict[str, Any]]] = []
        locked: dict[str, Locked] = {}
        for index, package in enumerate(packages):
            line = headers[index] if index < len(headers) else None
            source = package.get("source")
            if isinstance(source, dict) and ("editable" in source or "virtual" in source):
                roots.append((index, package))
                continue
            normalized = names.normalize(package["name"])
            url = _source_url(source)
            version = package.get("version")
            locked.setdefault(
                normalized,
                Locked(
                    package["name"],
                    normalized,
                    version if isinstance(version, str) else "",
                    url,
                    names.repository(url) if url else None,
                    line,
                ),
            )
        members = {names.normalize(package["name"]) for _, package in roots}
        declared: list[Dependency] = []
        for index, root in roots:
            start = headers[index] - 1 if index < len(headers) else 0
            specifiers = self._specifiers(root)
            for group, entries in self._root_lists(root):
                for entry in entries:
                    name = entry.get("name") if isinstance(entry, dict) else None
                    if not isinstance(name, str) or not names.is_valid_name(name):
                        raise self.error(None, f"{root['name']}: a dependency without a name")
                    normalized = names.normalize(name)
                    if normalized in members:
                        continue
                    hit = locked.get(normalized)
                    declared.append(
                        Dependency(
                            name=name,
                            normalized=normalized,
                            file=self.shown,
                            line=where.find(start, f'name = "{name}"'),
                            specifier=specifiers.get(normalized, ""),
                            version=(hit.version or None) if hit else None,
                            url=hit.url if hit else None,
                            repository=hit.repository if hit else None,
                            group=group,
                            marker=str(entry.get("marker", "")),
                        )
                    )
        notes = () if roots else (f"{self.shown}: no workspace member; every package is listed",)
        if not roots:
            declared = [
                Dependency(
                    name=item.name,
                    normalized=item.normalized,
                    file=self.shown,
                    line=item.line,
                    version=item.version or None,
                    url=item.url,
                    repository=item.repository,
                )
                for item in locked.values()
            ]
        return FileDependencies(
            path=self.shown,
            declared=tuple(declared),
            locked=locked,
            has_root=bool(roots),
            notes=notes,
        )

    @staticmethod
    def _root_lists(root: dict[str, Any]) -> list[tuple[str | None, list[Any]]]:
        lists: list[tuple[str | None, list[Any]]] = []
        main = root.get("dependencies", [])
        if isinstance(main, list):
            lists.append((None, main))
        for key in ("optional-dependencies", "dev-dependencies"):
            table = root.get(key, {})
            if isinstance(table, dict):
                lists += [(str(g), e) for g, e in table.items() if isinstance(e, list)]
        return lists

    @staticmethod
    def _specifiers(root: dict[str, Any]) -> dict[str, str]:
        """normalized name -> the specifier the project asked for (`[package.metadata]`)."""
        metadata = root.get("metadata", {})
        if not isinstance(metadata, dict):
            return {}
        entries: list[Any] = list(metadata.get("requires-dist", []) or [])
        dev = metadata.get("requires-dev", {})
        if isinstance(dev, dict):
            for group in dev.values():
                if isinstance(group, list):
                    entries += group
        found: dict[str, str] = {}
        for entry in entries:
            if isinstance(entry, dict) and isinstance(entry.get("name"), str):
                spec = entry.get("specifier", "")
                found.setdefault(
                    names.normalize(entry["name"]), spec if isinstance(spec, str) else ""
                )
        return found


class PoetryLockSource(DependencySource):
    """A `poetry.lock`."""

    def read(self) -> FileDependencies:
        text = files.read_text(self.path, self.shown)
        document = load_toml(self, text)
        packages = _packages(self, document)
        headers = _package_lines(Locator(text))
        locked: dict[str, Locked] = {}
        needed: set[str] = set()
        for index, package in enumerate(packages):
            normalized = names.normalize(package["name"])
            source = package.get("source")
            url = None
            if isinstance(source, dict) and source.get("type") in ("git", "url"):
                url = source.get("url") if isinstance(source.get("url"), str) else None
            version = package.get("version")
            locked.setdefault(
                normalized,
                Locked(
                    package["name"],
                    normalized,
                    version if isinstance(version, str) else "",
                    url,
                    names.repository(url) if url else None,
                    headers[index] if index < len(headers) else None,
                ),
            )
            requirements = package.get("dependencies", {})
            if isinstance(requirements, dict):
                needed |= {names.normalize(n) for n in requirements if names.is_valid_name(n)}
        top = [item for key, item in locked.items() if key not in needed]
        declared = tuple(
            Dependency(
                name=item.name,
                normalized=item.normalized,
                file=self.shown,
                line=item.line,
                version=item.version or None,
                url=item.url,
                repository=item.repository,
            )
            for item in top
        )
        return FileDependencies(
            path=self.shown,
            declared=declared,
            locked=locked,
            has_root=False,
            notes=(
                f"{self.shown} names no root package: the packages no other one needs are "
                "taken as direct (put pyproject.toml beside it for its own list)",
            ),
        )
