"""The catalogue `deps` is tested against: the five real seed packages and their grids, plus
packages named after the real dependencies of the fixture projects (fixtures/projects/), made
to cover every rule: matched by PyPI name in each `pypi_url` form, by repository, by slug; two
packages claiming one name; dormant, behind and active ones; grids with dormant and active
peers; a 90-day star history (two fetches, the first in February).

`write_world(root)` writes it as a mirror with its catalogue database, the way a fetch leaves
it; `run_deps(...)` runs `pkgharvest deps` in-process with a PyPI stand-in.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from tests.mirrorbuilder import (
    NOW,
    WEEKS,
    MirrorContent,
    link_grids,
    manifest,
    ref,
    seed_content,
    synthetic_grids,
    synthetic_package,
    write_mirror,
)

PROJECTS = Path(__file__).resolve().parent.parent / "fixtures" / "projects"
ACTIVE = [0, 1, 0, 2] * 13
QUIET = [0] * WEEKS
RECENT = "2026-05-20T09:00:00Z"
LONG_AGO = "2019-03-04T10:00:00Z"
FEBRUARY = "2026-02-20T14:07:14Z"


def _grid(content: MirrorContent, slug: str) -> dict[str, Any]:
    return next(g for g in content.grids if g["slug"] == slug)


def world_content(*, february: bool = False) -> MirrorContent:
    """The catalogue; `february`: as a fetch in February saw it (fewer stars, earlier refresh)."""
    content = seed_content()
    extra = synthetic_grids(6, start_id=7_000)
    for grid, slug in zip(
        extra,
        ["debugging", "filtering", "tables", "rest-frameworks", "caching", "email"],
        strict=True,
    ):
        grid["slug"], grid["title"] = slug, slug.replace("-", " ").title()
    content.grids += extra
    g = {slug: ref(_grid(content, slug)) for slug in (
        "debugging", "filtering", "tables", "rest-frameworks", "caching", "email", "postgresql",
        "model-fields",
    )}  # fmt: skip

    def package(pid: int, slug: str, stars: int, **fields: Any) -> dict[str, Any]:
        fields.setdefault("commits_52w", ACTIVE)
        fields.setdefault("last_commit", RECENT)
        if february:
            stars = stars - fields.pop("gained", 0)
            fields["last_fetched"] = FEBRUARY
        else:
            fields.pop("gained", None)
        return synthetic_package(pid, slug, stars=stars, title=slug, **fields)

    content.packages += [
        # debugging: an active leader, a dormant one with more stars than the rest, two more
        package(8001, "django-debug-toolbar", 8200, gained=130, grids=[g["debugging"]],
                pypi_url="https://pypi.org/project/django-debug-toolbar/", pypi_version="7.2.0"),
        package(8002, "django-silk", 4500, gained=40, grids=[g["debugging"]],
                pypi_url="http://pypi.python.org/pypi/django-silk", pypi_version="5.3.0"),
        package(8003, "django-debug-panel", 6100, grids=[g["debugging"]],
                pypi_url="http://pypi.python.org/pypi/django-debug-panel", pypi_version="0.8.3",
                commits_52w=QUIET, last_commit=LONG_AGO),
        package(8004, "django-querycount", 400, grids=[g["debugging"]],
                pypi_url="pypi.python.org/pypi/django-querycount/", pypi_version="0.8.3"),
        # filtering
        package(8010, "django-filter", 4400, gained=25, grids=[g["filtering"]],
                pypi_url="http://pypi.python.org/pypi/django-filter", pypi_version="26.1"),
        package(8011, "django-url-filter", 340, grids=[g["filtering"]],
                pypi_url="https://pypi.org/project/django-url-filter/0.3.15/",
                pypi_version="0.3.15"),
        package(8012, "djangorestframework-filters", 900, grids=[g["filtering"]],
                pypi_url="http://pypi.python.org/pypi/djangorestframework-filters",
                pypi_version="0.11.1", commits_52w=QUIET, last_commit=LONG_AGO),
        # tables: django-tables2 has no pypi_url: found by its slug
        package(8020, "django-tables2", 1900, grids=[g["tables"]], pypi_url="",
                pypi_version="2.8.0"),
        package(8021, "django-datatable-view", 700, grids=[g["tables"]],
                pypi_url="https://pypi.org/project/django-datatable-view/",
                pypi_version="1.20.0"),
        # rest frameworks
        package(8030, "django-rest-framework", 29000, gained=400, grids=[g["rest-frameworks"]],
                pypi_url="https://pypi.org/project/djangorestframework/3.16.0/",
                pypi_version="3.17.1"),
        package(8031, "drf-spectacular", 2600, grids=[g["rest-frameworks"]],
                pypi_url="https://pypi.org/project/drf-spectacular/", pypi_version="0.30.0"),
        # caching: two packages claim the PyPI name django-redis
        package(8040, "django-redis", 2900, grids=[g["caching"]],
                pypi_url="https://pypi.org/project/django-redis/", pypi_version="7.0.0"),
        package(8041, "django-redis-fork", 12, grids=[g["caching"]],
                pypi_url="http://pypi.python.org/pypi/Django_Redis", pypi_version="4.0.0"),
        # email: found by its repository only (zulip's talon-core URL requirement)
        package(8050, "talon", 1200, grids=[g["email"]], pypi_url="",
                repo_url="https://github.com/Zulip/talon.git", pypi_version="1.4.4",
                commits_52w=QUIET, last_commit=LONG_AGO),
        package(8051, "django-anymail", 1800, grids=[g["email"]],
                pypi_url="https://pypi.org/project/django-anymail/", pypi_version="13.0"),
        # postgresql (with the real, dormant django-hstore) and model fields
        package(8060, "django-pglocks", 100, grids=[g["postgresql"]],
                pypi_url="http://pypi.python.org/pypi/django-pglocks", pypi_version="1.0.4",
                commits_52w=QUIET, last_commit=LONG_AGO),
        package(8061, "django-pgtrigger", 650, grids=[g["postgresql"]],
                pypi_url="https://pypi.org/project/django-pgtrigger/", pypi_version="4.15.0"),
        package(8062, "django-mptt", 3000, grids=[g["model-fields"]],
                pypi_url="http://pypi.python.org/pypi/django-mptt", pypi_version="0.19.0"),
        package(8063, "django-taggit", 3300, grids=[g["model-fields"]],
                pypi_url="https://pypi.org/project/django-taggit", pypi_version="6.1.0"),
        package(8064, "django-timezone-field", 400, grids=[g["model-fields"]],
                pypi_url="http://pypi.python.org/pypi/django-timezone-field",
                pypi_version="7.2.2", commits_52w=QUIET, last_commit=LONG_AGO),
        package(8070, "django-cors-headers", 5500, pypi_url="https://pypi.org/project/django-cors-headers/",
                pypi_version="4.9.0"),
        package(8071, "django-storages", 2900, pypi_url="http://pypi.python.org/pypi/django-storages",
                pypi_version="1.14.7"),
    ]  # fmt: skip
    if february:
        for record in content.packages:
            record["last_fetched"] = FEBRUARY
    link_grids(content)
    return content


def write_world(root: Path) -> Path:
    """The mirror as two fetches leave it (February, then late May), with its database."""
    early = world_content(february=True)
    data = manifest(early)
    data["last_run"] = data["last_complete_run"] = {
        "started": "2026-02-20T14:00:00Z",
        "finished": "2026-02-20T14:07:14Z",
        "complete": True,
    }
    write_mirror(root, early, data)
    return write_mirror(root, world_content())


@dataclass(frozen=True)
class DepsRun:
    code: int
    out: str
    err: str


@contextmanager
def cwd(path: Path) -> Iterator[None]:
    before = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


def run_deps(
    monkeypatch: Any,
    capsys: Any,
    data: Path,
    *args: str,
    transport: httpx.BaseTransport | None = None,
    columns: int = 80,
    now: datetime = NOW,
    env: dict[str, str] | None = None,
    folder: Path | None = None,
    **outside: Any,
) -> DepsRun:
    """`pkgharvest deps ARGS --data-dir DATA` in-process (in `folder`, default the fixtures),
    with a fixed clock, `columns` wide, PyPI through `transport`, retries without waiting;
    `outside` overrides more of the runtime.Dependencies (limits, sleep, retry)."""
    from pkgharvest.cli import run
    from pkgharvest.runtime import Dependencies, RetryPolicy

    for name in ("COLUMNS", "LINES", "NO_COLOR", "FORCE_COLOR", "TERM", "PKGHARVEST_DATA_DIR",
                 "PKGHARVEST_PYPI_URL"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COLUMNS", str(columns))
    for key, value in (env or {}).items():
        monkeypatch.setenv(key, value)
    settings: dict[str, Any] = {
        "transport": transport,
        "now": lambda: now,
        "sleep": lambda seconds: None,
        "retry": RetryPolicy(attempts=2, backoff_initial=0.0, retry_after_cap=1.0),
    }
    deps = Dependencies(**{**settings, **outside})
    capsys.readouterr()
    with cwd(folder or PROJECTS):
        code = run(["deps", *args, "--data-dir", str(data)], deps)
    captured = capsys.readouterr()
    return DepsRun(code, captured.out, captured.err)


def copy_world(source: Path, target: Path) -> Path:
    """A copy of a written world (each test that writes to the database gets its own)."""
    import shutil

    shutil.copytree(source, target)
    return target
