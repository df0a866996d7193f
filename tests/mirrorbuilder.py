"""Mirrors on disk for the reading side's tests and benchmark, built by hand per records.py.

Independent of `pkgharvest fetch` on purpose: the five real API responses (fixtures/seeds/, or
the reference copies in shared/reference/seeds/) are turned into records here with the rules
of records.py, so the readers are tested against the contract, not against the writer's code.
Synthetic records add what the seeds lack: hostile text, unknown activity, unsafe slugs, big
numbers, and thousands of packages for the benchmark.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pkgharvest.records import CATEGORY_FIELDS, GRID_FIELDS, PACKAGE_FIELDS, WEEKS
from pkgharvest.store.paths import record_filename

Record = dict[str, Any]

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "fixtures"
REFERENCE_SEEDS = REPO.parent / "shared" / "reference" / "seeds"
API = "https://djangopackages.org/api/v4/"
SEED_IDS = (3050, 1327, 4100, 1083, 1686)
FETCHED_AT = "2026-05-26T14:07:14Z"

# Stand-ins used only when fixtures/grids and fixtures/categories are absent.
_FALLBACK_GRIDS = {
    7: "registration",
    10: "commenting",
    55: "configuration",
    145: "ratings",
    160: "model-fields",
    161: "postgresql",
}


# --- raw API responses ------------------------------------------------------------------


def raw_seed(package_id: int) -> dict[str, Any]:
    """The API's JSON for one seed package."""
    fixture = FIXTURES / "seeds" / f"{package_id}.json"
    if fixture.is_file():
        return dict(json.loads(fixture.read_text(encoding="utf-8")))
    for path in sorted(REFERENCE_SEEDS.glob("*.txt")):
        text = path.read_text(encoding="utf-8")
        if f"/packages/{package_id}/" in text.split("\n\n", 2)[1]:
            return dict(json.loads(text[text.index("\n{") :]))
    raise FileNotFoundError(f"no seed for package {package_id}")


def _raw_folder(name: str) -> list[dict[str, Any]]:
    folder = FIXTURES / name
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(folder.glob("*.json"))]


def link_id(url: str) -> int:
    """`https://.../grids/145/?format=api` -> 145."""
    found = re.search(r"/(\d+)/?(?:\?.*)?$", url)
    if found is None:
        raise ValueError(f"no id in {url!r}")
    return int(found.group(1))


def utc(text: str | None) -> str | None:
    """`2015-09-16T11:01:02.619069-04:00` -> `2015-09-16T15:01:02.619069Z`."""
    if text is None:
        return None
    moment = datetime.fromisoformat(text).astimezone(UTC)
    return moment.replace(tzinfo=None).isoformat() + "Z"


# --- records ----------------------------------------------------------------------------


def ref(record: Record) -> Record:
    return {"id": record["id"], "slug": record["slug"], "title": record["title"]}


def category_record(raw: dict[str, Any]) -> Record:
    values = {
        **{name: raw.get(name) for name in CATEGORY_FIELDS},
        "created": utc(raw.get("created")),
        "modified": utc(raw.get("modified")),
        "api_url": f"{API}categories/{raw['id']}/",
        "invalid": {},
        "extra": {},
    }
    return {name: values[name] for name in CATEGORY_FIELDS}


def grid_record(raw: dict[str, Any], slugs_by_id: dict[int, str]) -> Record:
    package_ids = [link_id(url) for url in raw.get("packages", [])]
    values = {
        **{name: raw.get(name) for name in GRID_FIELDS},
        "created": utc(raw.get("created")),
        "modified": utc(raw.get("modified")),
        "packages": [{"id": pid, "slug": slugs_by_id.get(pid)} for pid in package_ids],
        "api_url": f"{API}grids/{raw['id']}/",
        "invalid": {},
        "extra": {},
    }
    return {name: values[name] for name in GRID_FIELDS}


def package_record(
    raw: dict[str, Any], grids: dict[int, Record], categories: dict[int, Record]
) -> Record:
    """A raw API package as records.py normalizes it."""
    counts = raw.get("commits_over_52")
    known = isinstance(counts, list) and len(counts) == WEEKS
    category_id = link_id(raw["category"]) if raw.get("category") else None
    values = {
        "id": raw["id"],
        "slug": raw["slug"],
        "title": raw["title"],
        "category": ref(categories[category_id]) if category_id in categories else None,
        "grids": [
            ref(grids[gid]) if gid in grids else {"id": gid, "slug": None, "title": None}
            for gid in map(link_id, raw.get("grids", []))
        ],
        "stars": raw.get("repo_watchers"),
        "forks": raw.get("repo_forks"),
        "commits_52w": list(counts) if known else None,
        "commits_52w_total": sum(counts) if known else None,
        "last_commit": utc(raw.get("last_updated")),
        "last_fetched": utc(raw.get("last_fetched")),
        "created": utc(raw.get("created")),
        "modified": utc(raw.get("modified")),
        "pypi_version": raw.get("pypi_version"),
        "pypi_url": raw.get("pypi_url"),
        "repo_url": raw.get("repo_url"),
        "repo_description": raw.get("repo_description"),
        "documentation_url": raw.get("documentation_url"),
        "participants": raw.get("participants", []),
        "api_url": f"{API}packages/{raw['id']}/",
        "stale_fields": [],
        "invalid": {},
        "extra": {},
    }
    return {name: values[name] for name in PACKAGE_FIELDS}


@dataclass
class MirrorContent:
    """Records to write: packages, grids, categories (lists of record dicts)."""

    packages: list[Record] = field(default_factory=list)
    grids: list[Record] = field(default_factory=list)
    categories: list[Record] = field(default_factory=list)


def seed_content() -> MirrorContent:
    """The five seed packages with their grids and the five categories."""
    raws = [raw_seed(pid) for pid in SEED_IDS]
    slugs = {raw["id"]: raw["slug"] for raw in raws}
    raw_grids = _raw_folder("grids") or [
        {"id": gid, "slug": slug, "title": slug.replace("-", " ").title(), "packages": []}
        for gid, slug in _FALLBACK_GRIDS.items()
    ]
    if not _raw_folder("grids"):  # fill the stand-ins' package lists from the seeds
        for grid in raw_grids:
            grid["packages"] = [
                f"{API}packages/{raw['id']}/"
                for raw in raws
                if grid["id"] in map(link_id, raw["grids"])
            ]
    raw_categories = _raw_folder("categories") or [
        {"id": 1, "slug": "apps", "title": "App", "title_plural": "Apps", "show_pypi": True}
    ]
    grids = {g["id"]: grid_record(g, slugs) for g in raw_grids}
    categories = {c["id"]: category_record(c) for c in raw_categories}
    packages = [package_record(raw, grids, categories) for raw in raws]
    return MirrorContent(packages, list(grids.values()), list(categories.values()))


def synthetic_package(package_id: int, slug: str, **fields: Any) -> Record:
    """A package record with plausible defaults; `fields` override them."""
    values: Record = {
        "id": package_id,
        "slug": slug,
        "title": slug,
        "category": None,
        "grids": [],
        "stars": 0,
        "forks": 0,
        "commits_52w": [0] * WEEKS,
        "commits_52w_total": 0,
        "last_commit": None,
        "last_fetched": FETCHED_AT,
        "created": "2020-01-01T00:00:00Z",
        "modified": "2026-01-01T00:00:00Z",
        "pypi_version": None,
        "pypi_url": "",
        "repo_url": f"https://github.com/example/{slug}",
        "repo_description": "",
        "documentation_url": None,
        "participants": [],
        "api_url": f"{API}packages/{package_id}/",
        "stale_fields": [],
        "invalid": {},
        "extra": {},
    }
    values.update(fields)
    if "commits_52w" in fields and "commits_52w_total" not in fields:
        counts = fields["commits_52w"]
        values["commits_52w_total"] = sum(counts) if counts is not None else None
    return {name: values[name] for name in PACKAGE_FIELDS}


HOSTILE_DESCRIPTION = (
    "[bold red]boom[/bold red] [link=https://evil.example]click[/link] "
    "\x1b[31mred\x1b[0m \x1b]0;pwned title\x07\x1b[2J\x1b[H"
    '\u202eevil\u202c \u2066iso\u2069\x9b31m c1\x07bell\r\nnext line, "quoted"'
)
"""Rich markup, SGR colour, an OSC window title, screen clear, cursor home, bidi override and
isolate, an 8-bit CSI, BEL, CR LF, a comma and quotes: all in one description."""


def many_packages(
    count: int, grids: Sequence[Record], categories: Sequence[Record], seed: int = 3
) -> list[Record]:
    """`count` varied synthetic packages (deterministic for a given seed) spread over the
    given grids and categories; about one in ten has unknown activity."""
    rng = random.Random(seed)
    fetched = datetime(2026, 5, 26, 14, 7, 14, tzinfo=UTC)
    packages = []
    for index in range(count):
        package_id = 100_000 + index
        slug = f"django-synthetic-{index:05d}"
        weekly = [rng.choice((0, 0, 0, 1, 2, 3, 5, 8, 13)) for _ in range(WEEKS)]
        last = fetched - timedelta(days=rng.randint(0, 3000), seconds=rng.randint(0, 86399))
        packages.append(
            synthetic_package(
                package_id,
                slug,
                title=f"Django Synthetic {index}",
                category=ref(rng.choice(categories)) if categories else None,
                grids=[ref(g) for g in rng.sample(list(grids), k=min(len(grids), 2))],
                stars=int(rng.paretovariate(1.2) * 10),
                forks=rng.randint(0, 2_000),
                commits_52w=None if index % 10 == 7 else weekly,
                last_commit=last.replace(tzinfo=None).isoformat() + "Z",
                pypi_version=f"{rng.randint(0, 5)}.{rng.randint(0, 20)}.{rng.randint(0, 9)}",
                repo_description=f'Synthetic package {index}, with a comma, and "quotes".',
                participants=[f"dev{rng.randint(1, 999)}" for _ in range(rng.randint(0, 8))],
            )
        )
    return packages


def synthetic_grids(count: int, start_id: int = 9_000) -> list[Record]:
    return [
        {
            **{name: None for name in GRID_FIELDS},
            "id": start_id + i,
            "slug": f"synthetic-grid-{i}",
            "title": f"Synthetic grid {i}",
            "description": "A grid made up for tests.",
            "is_locked": False,
            "header": True,
            "packages": [],
            "api_url": f"{API}grids/{start_id + i}/",
            "invalid": {},
            "extra": {},
        }
        for i in range(count)
    ]


def link_grids(content: MirrorContent) -> None:
    """Make every grid's `packages` list the packages that name it (as the API does)."""
    members: dict[int, list[Record]] = {g["id"]: [] for g in content.grids}
    for package in content.packages:
        for grid_ref in package["grids"]:
            if grid_ref["id"] in members:
                members[grid_ref["id"]].append({"id": package["id"], "slug": package["slug"]})
    for grid in content.grids:
        known = {item["id"] for item in grid["packages"]}
        grid["packages"] += [item for item in members[grid["id"]] if item["id"] not in known]


def grown_content(
    extra_packages: int, extra_grids: int, also: Sequence[Record] = ()
) -> MirrorContent:
    """The seeds grown into a bigger catalogue: `extra_grids` synthetic grids after the seed
    grids, `extra_packages` synthetic packages (spread over all of them and the seed
    categories) after the seed packages, then `also`; every grid linked to its members."""
    seeds = seed_content()
    grids = seeds.grids + synthetic_grids(extra_grids)
    packages = seeds.packages + many_packages(extra_packages, grids, seeds.categories)
    content = MirrorContent([*packages, *also], grids, seeds.categories)
    link_grids(content)
    return content


# --- writing ----------------------------------------------------------------------------


def manifest(content: MirrorContent, complete: bool = True) -> Record:
    run = {
        "started": "2026-05-26T14:00:00Z",
        "finished": "2026-05-26T14:07:14Z",
        "complete": complete,
    }
    return {
        "format_version": 1,
        "source": API,
        "last_run": run,
        "last_complete_run": run if complete else None,
        "records": {
            "packages": len(content.packages),
            "grids": len(content.grids),
            "categories": len(content.categories),
        },
    }


def write_records(folder: Path, records: Iterable[Record]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for record in records:
        path = folder / record_filename(record["slug"], record["id"])
        path.write_text(json.dumps(record, ensure_ascii=False, indent=2) + "\n", "utf-8")


def write_mirror(
    root: Path,
    content: MirrorContent,
    manifest_data: Record | None = None,
    *,
    catalogue: bool = True,
) -> Path:
    """Write `content` in the mirror layout under `root`; returns `root`. `catalogue`: also
    build its catalogue database, as the fetch that commits a mirror does."""
    root.mkdir(parents=True, exist_ok=True)
    write_records(root / "packages", content.packages)
    write_records(root / "grids", content.grids)
    write_records(root / "categories", content.categories)
    data = manifest(content) if manifest_data is None else manifest_data
    (root / "manifest.json").write_text(json.dumps(data, indent=2) + "\n", "utf-8")
    if catalogue:
        from pkgharvest.catalogue import after_commit

        outcome = after_commit(root)
        assert outcome.problem is None, outcome.problem
    return root


# --- running the CLI in-process -------------------------------------------------------------

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
"""The fixed "now" of every relative date in the tests."""

# Environment variables rich or pkgharvest read; tests set them explicitly, never inherit them.
_TERMINAL_ENV = (
    "COLUMNS",
    "LINES",
    "NO_COLOR",
    "FORCE_COLOR",
    "TTY_COMPATIBLE",
    "TTY_INTERACTIVE",
    "TERM",
    "COLORTERM",
    "PKGHARVEST_DATA_DIR",
)


@dataclass(frozen=True)
class CliResult:
    """What a run printed and returned.

    Attributes:
        code: the exit code `pkgharvest.cli.run` returned.
        out: everything written to stdout.
        err: everything written to stderr.
    """

    code: int
    out: str
    err: str


def run_cli(
    monkeypatch: Any,
    capsys: Any,
    *args: str,
    columns: int = 200,
    env: dict[str, str] | None = None,
    now: datetime = NOW,
) -> CliResult:
    """Run `pkgharvest ARGS` in-process with a fixed clock and terminal width, piped output."""
    from pkgharvest.cli import run
    from pkgharvest.runtime import Dependencies

    for name in _TERMINAL_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COLUMNS", str(columns))
    for name, value in (env or {}).items():
        monkeypatch.setenv(name, value)
    capsys.readouterr()  # drop anything printed before
    code = run(list(args), Dependencies(now=lambda: now))
    captured = capsys.readouterr()
    return CliResult(code, captured.out, captured.err)
