"""Names and URLs: PEP 503 names, the repository a VCS or archive URL names, and the PyPI name
in a catalogue package's `pypi_url`. Pure functions over text, through `packaging` where it
has the rule (names, wheel and sdist file names)."""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from pkgharvest.project.model import Repository

_VALID_NAME = re.compile(r"^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$", re.IGNORECASE)
"""PEP 508's rule for a distribution name."""

# The forms nearly every catalogue URL takes, matched at once (the index of 30,000 packages is
# built with these); anything else goes through the general parse below.
_PYPI_URL = re.compile(
    r"^(?:https?://)?(?:www\.)?(?:pypi\.python\.org/pypi|pypi\.org/(?:project|pypi|simple))"
    r"/([A-Za-z0-9._-]+)(?:/[^/?#]*)?/?$",
    re.IGNORECASE,
)
_REPOSITORY_URL = re.compile(
    r"^(?:git\+)?(?:https?|ssh|git)://(?:[^@/\s]+@)?(?:www\.)?([A-Za-z0-9.-]+)(?::\d+)?"
    r"/([^/\s?#@:]+)/([^/\s?#@]+)",
    re.IGNORECASE,
)
_PYPI_HOSTS = frozenset({"pypi.org", "www.pypi.org", "pypi.python.org", "www.pypi.python.org"})
_PYPI_SECTIONS = frozenset({"pypi", "project", "simple"})
_VCS_PREFIXES = ("git+", "hg+", "svn+", "bzr+")


def parse_version(text: str) -> Version | None:
    """A PEP 440 version, or None for text that is none."""
    try:
        return Version(text)
    except (InvalidVersion, TypeError):
        return None


def is_valid_name(name: str) -> bool:
    return bool(_VALID_NAME.match(name))


def normalize(name: str) -> str:
    """PEP 503: `Django_Filter` -> `django-filter`."""
    return canonicalize_name(name)


def pypi_name(url: object) -> str | None:
    """The normalized project name in a PyPI project URL, in every form the catalogue holds:
    `http://pypi.python.org/pypi/NAME`, `https://pypi.org/project/NAME/`, with or without a
    version or a trailing slash, with or without a scheme; None for anything else (an empty
    field, another host, a name that is no valid name)."""
    if not isinstance(url, str):
        return None
    text = url.strip()
    if not text:
        return None
    quick = _PYPI_URL.match(text)
    if quick is not None:
        name = quick.group(1)
        return normalize(name) if is_valid_name(name) else None
    if "://" not in text:
        text = "https://" + text
    try:
        parts = urlsplit(text)
        host = (parts.hostname or "").lower()
    except ValueError:
        return None
    if host not in _PYPI_HOSTS:
        return None
    segments = [unquote(s) for s in parts.path.split("/") if s]
    if len(segments) < 2 or segments[0].lower() not in _PYPI_SECTIONS:
        return None
    name = segments[1]
    return normalize(name) if is_valid_name(name) else None


def repository(url: object) -> Repository | None:
    """The (host, owner, name) a VCS, archive or repository URL names; case and `.git`
    ignored. `git+https://github.com/Owner/Repo.git@tag#egg=x`,
    `https://github.com/owner/repo/archive/v1.zip`, `git+ssh://git@github.com/owner/repo`,
    `https://github.com/owner/repo/` all name github.com/owner/repo. None when the URL has
    no host and two path segments."""
    if not isinstance(url, str):
        return None
    text = url.strip()
    quick = _REPOSITORY_URL.match(text)
    if quick is not None:
        owner, name = quick.group(2).lower(), quick.group(3).lower().removesuffix(".git")
        if owner and name:
            return Repository(quick.group(1).lower(), owner, name)
    for prefix in _VCS_PREFIXES:
        if text.lower().startswith(prefix):
            text = text[len(prefix) :]
            break
    if "://" not in text:
        if text.startswith("git@") and ":" in text:  # scp-like: git@github.com:owner/repo.git
            host_part, _, path = text[4:].partition(":")
            text = f"ssh://{host_part}/{path}"
        else:
            text = "https://" + text
    try:
        parts = urlsplit(text)
        host = (parts.hostname or "").lower()
    except ValueError:
        return None
    host = host.removeprefix("www.")
    path = parts.path.split("@", 1)[0]  # `repo.git@v1.0`: the revision is not the name
    segments = [unquote(s) for s in path.split("/") if s]
    if not host or len(segments) < 2:
        return None
    owner, name = segments[0].lower(), segments[1].lower().removesuffix(".git")
    if not owner or not name:
        return None
    return Repository(host, owner, name)


def egg_fragment(url: str) -> tuple[str, str | None, tuple[str, ...]] | None:
    """The `#egg=NAME[extras]==VERSION` of a pip URL requirement: (name, version or None,
    extras); None when there is none or it names no valid name."""
    _, _, fragment = url.partition("#")
    if not fragment:
        return None
    # Not parse_qs: it reads `+` as a space, and `1.6.0+git` is a local version.
    values = [unquote(item[4:]) for item in fragment.split("&") if item.startswith("egg=")]
    if not values:
        return None
    egg = values[0].strip()
    egg, _, version = egg.partition("==")
    extras: tuple[str, ...] = ()
    if "[" in egg and egg.endswith("]"):
        egg, _, inner = egg[:-1].partition("[")
        extras = tuple(e.strip() for e in inner.split(",") if e.strip())
    if not is_valid_name(egg):
        return None
    return egg, (version.strip() or None), extras


def distribution_file(url: str) -> tuple[str, str] | None:
    """(name, version) from the wheel or sdist file a URL points to
    (`.../Django-5.1.tar.gz`); None when the last path segment is neither."""
    try:
        path = urlsplit(url).path
    except ValueError:
        return None
    filename = unquote(path.rsplit("/", 1)[-1])
    # packaging checks the file name and gives the version; the name is kept as written.
    try:
        if filename.endswith(".whl"):
            _, version, _, _ = parse_wheel_filename(filename)
            return filename.split("-", 1)[0], str(version)
        for suffix in (".tar.gz", ".zip"):
            if filename.endswith(suffix):
                _, sdist_version = parse_sdist_filename(filename)
                return filename.removesuffix(suffix).rpartition("-")[0], str(sdist_version)
    except (InvalidWheelFilename, InvalidSdistFilename, ValueError):
        return None
    return None
