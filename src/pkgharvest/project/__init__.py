"""A project's dependency files, read, paired and merged; and the rules `pkgharvest deps`
judges them by.

Pure: no network, no database, no rich or typer. One module per file format family behind one
interface (`sources.DependencySource`): `requirements` (requirements files and pip-compile
`.in`), `pyproject` (PEP 621, PEP 735, Poetry), `locks` (uv.lock, poetry.lock), `pipenv`
(Pipfile, Pipfile.lock). `judge` holds the status and alternatives rules, `readiness` the
Django upgrade rules, `pypi` what a PyPI JSON answer says.

`read_project(paths, cwd)` is the entry point: with no paths it finds the files in `cwd`.
A manifest and its lock file beside it are read as one: the names (and lines) come from the
manifest, the versions from the lock (`pyproject.toml` with `uv.lock` or `poetry.lock`,
`Pipfile` with `Pipfile.lock`, `NAME.in` with the `NAME.txt` pip-compile made from it).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from pkgharvest.errors import DependencyFileMissing
from pkgharvest.project import files
from pkgharvest.project.model import Dependency, FileDependencies, Project
from pkgharvest.project.sources import DependencySource

FRAMEWORK = "django"
"""The framework itself: reported apart, never judged as a dependency."""

LOCK_OF: dict[str, tuple[str, ...]] = {
    "pyproject.toml": ("uv.lock", "poetry.lock"),
    "Pipfile": ("Pipfile.lock",),
}
MANIFEST_OF: dict[str, str] = {
    "uv.lock": "pyproject.toml",
    "poetry.lock": "pyproject.toml",
    "Pipfile.lock": "Pipfile",
}
LOOKED_FOR = "pyproject.toml, uv.lock, poetry.lock, Pipfile, Pipfile.lock, requirements*.txt, *.in"


_READERS: dict[str, tuple[str, str]] = {
    "pyproject.toml": ("pkgharvest.project.pyproject", "PyprojectSource"),
    "uv.lock": ("pkgharvest.project.locks", "UvLockSource"),
    "poetry.lock": ("pkgharvest.project.locks", "PoetryLockSource"),
    "Pipfile": ("pkgharvest.project.pipenv", "PipfileSource"),
    "Pipfile.lock": ("pkgharvest.project.pipenv", "PipfileLockSource"),
}
"""File name -> (module, class) of its reader; each module is imported only when a file of
its family is read."""


def source_for(path: Path, shown: str, cwd: Path) -> DependencySource:
    """The reader of a file, by its name; anything not recognised is a requirements file."""
    import importlib

    found = _READERS.get(path.name)
    if found is not None:
        kind: type[DependencySource] = getattr(importlib.import_module(found[0]), found[1])
        return kind(path, shown)
    from pkgharvest.project.requirements import RequirementsSource

    return RequirementsSource(path, shown, cwd=cwd)


def discover(folder: Path) -> list[Path]:
    """The dependency files in `folder` (and its `requirements/` folder), in reading order:
    manifests, lock files, then requirements files by name."""
    found: list[Path] = []
    for name in ("pyproject.toml", "Pipfile", "uv.lock", "poetry.lock", "Pipfile.lock"):
        if (folder / name).is_file():
            found.append(folder / name)
    for where in (folder, folder / "requirements"):
        if not where.is_dir():
            continue
        candidates = sorted(
            p
            for p in where.iterdir()
            if p.is_file()
            and (
                p.suffix == ".in"
                or (p.suffix == ".txt" and (where != folder or p.name.startswith("requirements")))
            )
        )
        found += candidates
    return found


@dataclass(frozen=True)
class _Unit:
    """Files read as one: a manifest (or a lone file) and the lock that resolves it."""

    manifest: Path | None
    lock: Path | None


def _units(paths: list[Path]) -> list[_Unit]:
    """Pair each manifest with its lock file beside it (and each lock with its manifest)."""
    chosen = {p.resolve() for p in paths}
    units: list[_Unit] = []
    seen: set[Path] = set()

    def add(manifest: Path | None, lock: Path | None) -> None:
        key = [p.resolve() for p in (manifest, lock) if p is not None]
        if any(k in seen for k in key):
            return
        seen.update(key)
        units.append(_Unit(manifest, lock))

    for path in paths:
        name = path.name
        if name in LOCK_OF:
            locks = [path.parent / n for n in LOCK_OF[name] if (path.parent / n).is_file()]
            add(path, locks[0] if locks else None)
        elif name in MANIFEST_OF:
            manifest = path.parent / MANIFEST_OF[name]
            add(manifest if manifest.is_file() else None, path)
        elif path.suffix == ".in":
            compiled = path.with_suffix(".txt")
            add(path, compiled if compiled.is_file() else None)
        elif path.suffix == ".txt" and path.with_suffix(".in").resolve() in chosen:
            continue  # read as the lock of its .in
        else:
            add(path, None)
    return units


def read_project(paths: list[Path], cwd: Path, *, include_transitive: bool = False) -> Project:
    """Read the dependency files `paths` (folders: the files found in them; none: the files
    found in `cwd`). DependencyFileMissing (exit 7) for a file that is missing or a folder with
    none; DependencyFileError (exit 65) for a file that does not parse."""
    wanted: list[Path] = []
    for path in paths or [cwd]:
        full = path if path.is_absolute() else cwd / path
        if full.is_dir():
            found = discover(full)
            if not found:
                raise DependencyFileMissing(
                    f"no dependency file in {files.shown_path(full, cwd) or '.'} "
                    f"(looked for {LOOKED_FOR})"
                )
            wanted += found
        else:
            wanted.append(full)
    shown_files: list[str] = []
    direct: list[Dependency] = []
    transitive: list[Dependency] = []
    notes: list[str] = []
    for unit in _units(wanted):
        manifest = _read(unit.manifest, cwd) if unit.manifest else None
        lock = _read(unit.lock, cwd) if unit.lock else None
        for result in (manifest, lock):
            if result is not None:
                shown_files.append(result.path)
        if manifest is not None:
            notes += manifest.notes
            declared = list(manifest.declared)
        elif lock is not None:
            notes += lock.notes
            declared = list(lock.declared)
        else:
            declared = []
        if lock is not None and manifest is not None:
            declared = [_resolved(d, lock) for d in declared]
        direct += declared
        if lock is not None:
            named = {d.normalized for d in declared}
            transitive += [
                Dependency(
                    name=item.name,
                    normalized=item.normalized,
                    file=lock.path,
                    line=item.line,
                    version=item.version or None,
                    url=item.url,
                    repository=item.repository,
                    direct=False,
                )
                for key, item in sorted(lock.locked.items())
                if key not in named
            ]
    merged: dict[str, Dependency] = {}
    for dependency in direct:
        held = merged.get(dependency.normalized)
        if held is None:
            merged[dependency.normalized] = dependency
        elif held.version is None and dependency.version is not None:
            merged[dependency.normalized] = held.with_version(dependency.version)
    framework = merged.pop(FRAMEWORK, None)
    extra = {d.normalized: d for d in transitive if d.normalized not in merged}
    if framework is None:
        framework = extra.get(FRAMEWORK)
    extra.pop(FRAMEWORK, None)
    dependencies = list(merged.values())
    if include_transitive:
        dependencies += list(extra.values())
    return Project(
        files=tuple(dict.fromkeys(shown_files)),
        dependencies=tuple(dependencies),
        framework=framework,
        notes=tuple(dict.fromkeys(notes)),
    )


def _read(path: Path, cwd: Path) -> FileDependencies:
    return source_for(path, files.shown_path(path, cwd), cwd).read()


def _resolved(dependency: Dependency, lock: FileDependencies) -> Dependency:
    """A manifest's dependency with the version (and source) its lock file resolved."""
    hit = lock.locked.get(dependency.normalized)
    if hit is None:
        return dependency
    return replace(
        dependency,
        version=hit.version or dependency.version,
        url=dependency.url or hit.url,
        repository=dependency.repository or hit.repository,
    )
