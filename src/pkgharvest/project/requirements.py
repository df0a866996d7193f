"""pip requirements files: `requirements*.txt` and pip-compile's `*.in`.

The line rules are pip's: a line ending in a backslash continues on the next (unless it is a
comment); `#` at the start or after whitespace starts a comment (so `#egg=` in a URL does not);
`-r FILE` and `-c FILE` name files relative to the file that names them; `-e` marks an editable
requirement; `--hash=...` and other per-requirement options after a requirement are dropped;
global options (`-i`, `--extra-index-url`, `--no-binary`, ...) are skipped. A requirement is
PEP 508 (`name[extras] specifier ; marker`, `name @ URL`) or a URL or path, whose name is its
`#egg=` fragment, else its wheel or sdist file name, else its repository's name; a local path
without a name is the project's own code and is skipped (said in a note).

An include that loops, that names a URL (never fetched: no network, no other host), or that
cannot be read is an error naming the file and line; so is an unknown option and a line that
is no requirement.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pkgharvest.errors import DependencyFileError
from pkgharvest.project import files, names
from pkgharvest.project.model import Dependency, FileDependencies, Locked
from pkgharvest.project.sources import (
    DependencySource,
    excerpt,
    file_error,
    pinned_version,
    requirement,
)

MAX_INCLUDE_DEPTH = 32
"""`-r` / `-c` nesting deeper than this is refused (no real project nests more than a few)."""

_COMMENT = re.compile(r"(^|\s+)#.*$")
_OPTIONS_START = re.compile(r"\s+--?[A-Za-z]")
_NAME_AT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*\s*(\[[^\]]*\])?\s*@")
_URL_MARKER = re.compile(r"\s+;")
_VCS = ("git+", "hg+", "svn+", "bzr+")
_ARCHIVES = (".whl", ".tar.gz", ".tar.bz2", ".tar.xz", ".tgz", ".zip")

_INCLUDE = {"-r": "requirement", "--requirement": "requirement"}
_CONSTRAINT = {"-c": "constraint", "--constraint": "constraint"}
_EDITABLE = {"-e", "--editable"}
_GLOBAL_WITH_VALUE = frozenset(
    {
        "-i",
        "--index-url",
        "--extra-index-url",
        "-f",
        "--find-links",
        "--no-binary",
        "--only-binary",
        "--trusted-host",
        "--use-feature",
        "--config-settings",
        "--global-option",
        "--install-option",
    }
)
_GLOBAL_FLAGS = frozenset(
    {
        "--no-index",
        "--pre",
        "--prefer-binary",
        "--require-hashes",
        "-Z",
        "--always-unzip",
    }
)


def logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """(first line number, text without comments) of each logical line, as pip joins them:
    a line ending in a backslash continues on the next, unless it is a comment."""
    pending: list[str] = []
    first = 0
    number = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        is_comment = bool(_COMMENT.match(raw))
        if raw.endswith("\\") and not is_comment:
            if not pending:
                first = number
            pending.append(raw[:-1])
            continue
        if is_comment:
            raw = " " + raw  # so that the comment is removed below, as pip does
        if pending:
            pending.append(raw)
            yield first, _COMMENT.sub("", "".join(pending)).strip()
            pending = []
        else:
            yield number, _COMMENT.sub("", raw).strip()
    if pending:
        yield first, _COMMENT.sub("", "".join(pending)).strip()


def _option(line: str) -> tuple[str, str | None]:
    """(`-r`, `base.txt`) from `-r base.txt`, `-rbase.txt`, `--requirement=base.txt`."""
    try:
        tokens = shlex.split(line)
    except ValueError:
        tokens = line.split()
    head = tokens[0] if tokens else line
    if head.startswith("--") and "=" in head:
        name, _, value = head.partition("=")
        return name, value
    if not head.startswith("--") and len(head) > 2:  # `-rbase.txt`
        return head[:2], head[2:]
    return head, (" ".join(tokens[1:]) if len(tokens) > 1 else None)


@dataclass
class _Reading:
    """The state of one `read()`: every file on the include stack, what was found."""

    cwd: Path
    stack: list[str] = field(default_factory=list)
    declared: list[Dependency] = field(default_factory=list)
    locked: dict[str, Locked] = field(default_factory=dict)
    constraints: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


class RequirementsSource(DependencySource):
    """A pip requirements file, with everything it includes."""

    def __init__(self, path: Path, shown: str, *, cwd: Path | None = None) -> None:
        super().__init__(path, shown)
        self.cwd = cwd or Path.cwd()

    def read(self) -> FileDependencies:
        state = _Reading(self.cwd)
        self._read_file(self.path, self.shown, state, constraint=False, included_from=None)
        declared = [
            d if d.version is not None else d.with_version(state.constraints.get(d.normalized))
            for d in state.declared
        ]
        return FileDependencies(
            path=self.shown,
            declared=tuple(declared),
            locked=state.locked,
            notes=tuple(state.notes),
        )

    # -- one file, recursively ----------------------------------------------------------------

    def _read_file(
        self,
        path: Path,
        shown: str,
        state: _Reading,
        *,
        constraint: bool,
        included_from: str | None,
    ) -> None:
        text = files.read_text(path, shown, included_from=included_from)
        state.stack.append(os.path.realpath(path))
        try:
            for number, line in logical_lines(text):
                if line:
                    self._line(path, shown, number, line, state, constraint=constraint)
        finally:
            state.stack.pop()

    def _line(
        self, path: Path, shown: str, number: int, line: str, state: _Reading, *, constraint: bool
    ) -> None:
        where = f"{shown}:{number}"
        if line.startswith("-"):
            name, value = _option(line)
            if name in _INCLUDE or name in _CONSTRAINT:
                if not value:
                    raise self._at(shown, number, f"{name} names no file")
                self._include(path, where, value, state, constraint or name in _CONSTRAINT)
                return
            if name in _EDITABLE:
                if not value:
                    raise self._at(shown, number, f"{name} names nothing to install")
                self._requirement(shown, number, value, state, constraint=constraint)
                return
            if name in _GLOBAL_WITH_VALUE or name in _GLOBAL_FLAGS:
                return
            raise self._at(shown, number, f"unknown option {excerpt(name)!r}")
        options = _OPTIONS_START.search(line)
        text = line[: options.start()] if options else line
        self._requirement(shown, number, text.strip(), state, constraint=constraint)

    def _include(
        self, path: Path, where: str, value: str, state: _Reading, constraint: bool
    ) -> None:
        if "://" in value:
            raise self._where(where, f"{value!r}: includes from URLs are not read")
        if len(state.stack) >= MAX_INCLUDE_DEPTH:
            raise self._where(where, f"includes nested deeper than {MAX_INCLUDE_DEPTH} files")
        target = (path.parent / os.path.expanduser(value)).resolve(strict=False)
        real = os.path.realpath(target)
        if real in state.stack:
            raise self._where(where, f"{value!r} includes a file already being read (a loop)")
        shown = files.shown_path(target, state.cwd)
        self._read_file(target, shown, state, constraint=constraint, included_from=where)

    def _requirement(
        self, shown: str, number: int, text: str, state: _Reading, *, constraint: bool
    ) -> None:
        dependency = self._parse(shown, number, text, state)
        if dependency is None:
            return
        if dependency.version is not None:
            state.locked.setdefault(
                dependency.normalized,
                Locked(
                    dependency.name,
                    dependency.normalized,
                    dependency.version,
                    dependency.url,
                    dependency.repository,
                    number,
                ),
            )
        if constraint:
            if dependency.version is not None:
                state.constraints.setdefault(dependency.normalized, dependency.version)
            return
        state.declared.append(dependency)

    def _parse(self, shown: str, number: int, text: str, state: _Reading) -> Dependency | None:
        if _NAME_AT.match(text) or not _looks_like_location(text):
            return requirement(shown, text, number)
        location, _, marker = (p.strip() for p in _split_marker(text))
        egg = names.egg_fragment(location)
        repo = (
            names.repository(location) if "://" in location or location.startswith(_VCS) else None
        )
        name = version = None
        if egg is not None:
            name, version = egg[0], egg[1]
        elif (found := names.distribution_file(location)) is not None:
            name, version = found
        elif repo is not None and names.is_valid_name(repo.name):
            name = repo.name
        if name is None:
            state.notes.append(
                f"{shown}:{number}: {excerpt(location)} skipped: a local path with no name "
                "(the project's own code)"
            )
            return None
        return Dependency(
            name=name,
            normalized=names.normalize(name),
            file=shown,
            line=number,
            version=version,
            url=location,
            repository=repo,
            marker=marker,
        )

    @staticmethod
    def _at(shown: str, number: int, message: str) -> DependencyFileError:
        return file_error(shown, number, message)

    @staticmethod
    def _where(where: str, message: str) -> DependencyFileError:
        return DependencyFileError(f"{where}: {message}")


def _looks_like_location(text: str) -> bool:
    """A URL or a path rather than a PEP 508 requirement."""
    lowered = text.lower()
    if lowered.startswith(_VCS) or "://" in text:
        return True
    if text.startswith((".", "/", "~")) or "\\" in text:
        return True
    head = text.split(";", 1)[0].strip()
    return "/" in head or lowered.split(";", 1)[0].strip().endswith(_ARCHIVES)


def _split_marker(text: str) -> tuple[str, str, str]:
    """`URL ; marker` -> (URL, ";", marker): pip needs whitespace before a URL's `;`."""
    found = _URL_MARKER.search(text)
    if found is None:
        return text, "", ""
    return text[: found.start()], ";", text[found.end() :]


__all__ = ["RequirementsSource", "logical_lines", "pinned_version"]
