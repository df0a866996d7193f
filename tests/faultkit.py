"""Helpers for the fault-injection and politeness tests: mirror checks, a fake clock, a gate.

`mirror_differences` is the one comparison between a mirror and the fake API's catalogue. It
re-derives every expected value from the raw catalogue by itself (datetimes through `datetime`,
not through pkgharvest's normalizer), so that a normalizer bug shows up here too.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
from collections.abc import Callable, Collection
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from pkgharvest.fetch.run import FetchOptions, FetchReport, fetch
from pkgharvest.runtime import Dependencies, RetryPolicy
from tests import fakeproc
from tests.fakeapi import Catalogue, FakeApi
from tests.fakeproc import serve_in_subprocess

MOCK_BASE_URL = "http://api.test/api/v4/"
KINDS = ("packages", "grids", "categories")
MANIFEST = "manifest.json"

FAST_RETRY = RetryPolicy(
    attempts=8,
    backoff_initial=0.001,
    backoff_max=0.004,
    retry_after_floor=0.0,
    retry_after_cap=60.0,
    throttle_pause=0.001,
)
"""Retries that cost (almost) nothing, for runs whose sleep is not injected (the CLI)."""


# --- time -------------------------------------------------------------------------------------


class FakeTime:
    """A clock that moves only when something sleeps on it; thread-safe. `sleeps` records waits."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def clock(self) -> float:
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self.now += max(0.0, seconds)


# --- running the harvester --------------------------------------------------------------------


def fetch_mock(
    api: FakeApi,
    root: Path,
    *,
    concurrency: int = 4,
    page_size: int = 20,
    retry: RetryPolicy = FAST_RETRY,
    time: FakeTime | None = None,
) -> FetchReport:
    """`pkgharvest.fetch.run.fetch` of the whole catalogue through `api.handler` (in-process).

    Waits go to `time` (a fresh FakeTime by default): its clock moves only by what the
    harvester sleeps, so backoff, Retry-After and throttle pauses cost no real time.
    """
    time = time or FakeTime()
    options = FetchOptions(
        base_url=MOCK_BASE_URL, data_dir=root, concurrency=concurrency, page_size=page_size
    )
    deps = Dependencies(
        transport=httpx.MockTransport(api.handler), retry=retry, sleep=time.sleep, clock=time.clock
    )
    return fetch(options, deps)


def fetch_with_handler(
    handler: Callable[[httpx.Request], httpx.Response], root: Path, *, page_size: int = 20
) -> FetchReport:
    """`fetch` of the whole catalogue through any handler (a misbehaving wrapper of FakeApi)."""
    time = FakeTime()
    options = FetchOptions(base_url=MOCK_BASE_URL, data_dir=root, page_size=page_size)
    deps = Dependencies(
        transport=httpx.MockTransport(handler), retry=FAST_RETRY, sleep=time.sleep, clock=time.clock
    )
    return fetch(options, deps)


def fetch_served(
    base_url: str,
    root: Path,
    *,
    concurrency: int = 4,
    page_size: int = 20,
    retry: RetryPolicy = FAST_RETRY,
    read_timeout: float = 5.0,
    switch_source: bool = False,
) -> FetchReport:
    """`fetch` over real sockets from a `FakeApi.serve()` server; waits go to a FakeTime."""
    time = FakeTime()
    options = FetchOptions(
        base_url=base_url,
        data_dir=root,
        concurrency=concurrency,
        page_size=page_size,
        switch_source=switch_source,
    )
    deps = Dependencies(
        retry=retry,
        timeout=httpx.Timeout(read_timeout, connect=5.0),
        sleep=time.sleep,
        clock=time.clock,
    )
    return fetch(options, deps)


# --- the data folder --------------------------------------------------------------------------


def mirror_files(root: Path) -> dict[str, bytes]:
    """Every JSON file a reader sees, by relative path (the lock, staging and temp files left
    out, and the catalogue database, which follows the JSON files: see test_catalogue.py)."""
    found: dict[str, bytes] = {}
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in files:
            if not name.startswith((".", "catalogue.db")):
                path = Path(folder, name)
                found[path.relative_to(root).as_posix()] = path.read_bytes()
    return found


def unparseable_files(root: Path) -> list[str]:
    """Reader-visible files that are not a JSON object (must always be empty)."""
    bad: list[str] = []
    for name, data in mirror_files(root).items():
        try:
            if not isinstance(json.loads(data), dict):
                bad.append(f"{name}: not a JSON object")
        except ValueError as err:
            bad.append(f"{name}: {err}")
    return bad


def copy_mirror(source: Path, target: Path) -> Path:
    shutil.copytree(source, target, ignore=shutil.ignore_patterns(".lock"))
    return target


def read_records(root: Path, kind: str) -> tuple[dict[int, dict[str, Any]], list[str]]:
    """The records of one kind by id, and problems (unreadable files, one id in two files)."""
    found: dict[int, dict[str, Any]] = {}
    problems: list[str] = []
    folder = root / kind
    if not folder.is_dir():
        return found, [f"{kind}/ is missing"]
    for path in sorted(folder.iterdir()):
        if path.name.startswith("."):
            continue
        try:
            record = json.loads(path.read_bytes())
        except ValueError as err:
            problems.append(f"{kind}/{path.name} does not parse: {err}")
            continue
        if record["id"] in found:
            problems.append(f"{kind}/{path.name}: a second file for id {record['id']}")
        found[record["id"]] = record
    return found, problems


# --- the comparison ---------------------------------------------------------------------------


def _instant(text: object) -> datetime | None:
    """A datetime string as an aware instant, for comparing across time zones."""
    if text is None:
        return None
    assert isinstance(text, str)
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def _stored_instant(text: object) -> datetime | str | None:
    if not isinstance(text, str):
        return None if text is None else f"not a string: {text!r}"
    if not text.endswith("Z"):
        return f"not UTC with a Z: {text!r}"
    return _instant(text)


def _ref(record: dict[str, Any]) -> dict[str, Any]:
    return {"id": record["id"], "slug": record["slug"], "title": record["title"]}


def _package_expected(raw: dict[str, Any], catalogue: Catalogue, base_url: str) -> dict[str, Any]:
    weeks = raw["commits_over_52"]
    category = raw["category"]
    return {
        "id": raw["id"],
        "slug": raw["slug"],
        "title": raw["title"],
        # A link to another host is never followed: no category.
        "category": _ref(catalogue.categories[category]) if isinstance(category, int) else None,
        "grids": [_ref(catalogue.grids[g]) for g in sorted(raw["grids"])],  # id order
        "stars": raw["repo_watchers"],
        "forks": raw["repo_forks"],
        "commits_52w": weeks or None,
        "commits_52w_total": sum(weeks) if weeks else None,
        "last_commit": _instant(raw["last_updated"]),
        "last_fetched": _instant(raw["last_fetched"]),
        "created": _instant(raw["created"]),
        "modified": _instant(raw["modified"]),
        "pypi_version": raw["pypi_version"],
        "pypi_url": raw["pypi_url"],
        "repo_url": raw["repo_url"],
        "repo_description": raw["repo_description"],
        "documentation_url": raw["documentation_url"],
        "participants": raw["participants"],
        "api_url": f"{base_url}packages/{raw['id']}/",
    }


def _grid_expected(raw: dict[str, Any], catalogue: Catalogue, base_url: str) -> dict[str, Any]:
    return {
        "id": raw["id"],
        "slug": raw["slug"],
        "title": raw["title"],
        "description": raw["description"],
        "is_locked": raw["is_locked"],
        "header": raw["header"],
        "created": _instant(raw["created"]),
        "modified": _instant(raw["modified"]),
        "packages": [
            {"id": p, "slug": catalogue.packages[p]["slug"]} for p in sorted(raw["packages"])
        ],
        "api_url": f"{base_url}grids/{raw['id']}/",
    }


def _category_expected(raw: dict[str, Any], base_url: str) -> dict[str, Any]:
    return {
        "id": raw["id"],
        "slug": raw["slug"],
        "title": raw["title"],
        "title_plural": raw["title_plural"],
        "description": raw["description"],
        "show_pypi": raw["show_pypi"],
        "created": _instant(raw["created"]),
        "modified": _instant(raw["modified"]),
        "api_url": f"{base_url}categories/{raw['id']}/",
    }


_DATETIME_FIELDS = frozenset({"last_commit", "last_fetched", "created", "modified"})


def _field_differences(label: str, got: dict[str, Any], want: dict[str, Any]) -> list[str]:
    found: list[str] = []
    for name, expected in want.items():
        if name not in got:
            found.append(f"{label}: no field {name!r}")
            continue
        actual = got[name]
        if name in _DATETIME_FIELDS:
            actual = _stored_instant(actual)
        if (name == "commits_52w" or name == "commits_52w_total") and "commits_52w" in got.get(
            "stale_fields", []
        ):
            continue  # the API sent [] ("unknown"): the last known counts are kept, marked stale
        if actual != expected:
            found.append(f"{label}: {name} is {actual!r}, the API says {expected!r}")
    return found


def dangling_links(root: Path) -> list[str]:
    """Referential integrity of a mirror: grid members and package links name records it
    holds. Empty when it holds."""
    files = mirror_files(root)
    held: dict[str, set[int]] = {kind: set() for kind in KINDS}
    loaded = []
    for name, data in files.items():
        if name != "manifest.json":
            record = json.loads(data)
            held[name.split("/")[0]].add(record["id"])
            loaded.append((name.split("/")[0], record))
    problems = []
    for kind, record in loaded:
        if kind == "grids":
            problems += [f"grid {record['id']} lists {m['id']}" for m in record["packages"]
                         if m["id"] not in held["packages"]]  # fmt: skip
        elif kind == "packages":
            problems += [f"package {record['id']} names grid {g['id']}" for g in record["grids"]
                         if g["id"] not in held["grids"]]  # fmt: skip
            category = record["category"]
            if category is not None and category["id"] not in held["categories"]:
                problems.append(f"package {record['id']} names category {category['id']}")
    return problems


def mirror_differences(
    root: Path,
    catalogue: Catalogue,
    *,
    base_url: str = MOCK_BASE_URL,
    only_packages: Collection[int] | None = None,
) -> list[str]:
    """How the mirror in `root` differs from the API serving `catalogue` (empty: equal).

    Equal means: the same ids of every kind (no record missing, none extra), every field of
    every record as the API sends it (stars == repo_watchers, datetimes the same instant in
    UTC, links resolved to the linked record's id, slug and title), every file parseable, and
    the manifest's record counts right. `only_packages`: compare just these packages (and skip
    grids, whose member lists name every package), for runs during which others changed.
    """
    found: list[str] = []
    records: dict[str, dict[int, dict[str, Any]]] = {}
    for kind in KINDS:
        records[kind], problems = read_records(root, kind)
        found += problems
    if only_packages is None:
        for kind in KINDS:
            want_ids, got_ids = set(catalogue.table(kind)), set(records[kind])
            if want_ids - got_ids:
                found.append(f"{kind} missing from the mirror: {sorted(want_ids - got_ids)[:10]}")
            if got_ids - want_ids:
                found.append(f"{kind} the API does not have: {sorted(got_ids - want_ids)[:10]}")
        try:
            manifest = json.loads((root / MANIFEST).read_bytes())
            counts = {kind: len(records[kind]) for kind in KINDS}
            if manifest.get("records") != counts:
                found.append(f"manifest counts {manifest.get('records')} != files {counts}")
        except (OSError, ValueError) as err:
            found.append(f"manifest unreadable: {err}")
    package_ids = catalogue.packages if only_packages is None else only_packages
    for package_id in package_ids:
        got = records["packages"].get(package_id)
        if got is None:
            if only_packages is not None:
                found.append(f"package {package_id} missing from the mirror")
            continue
        raw = catalogue.packages[package_id]
        want = _package_expected(raw, catalogue, base_url)
        found += _field_differences(f"package {package_id}", got, want)
    if only_packages is not None:
        return found
    for grid_id, raw in catalogue.grids.items():
        got = records["grids"].get(grid_id)
        if got is not None:
            found += _field_differences(
                f"grid {grid_id}", got, _grid_expected(raw, catalogue, base_url)
            )
    for category_id, raw in catalogue.categories.items():
        got = records["categories"].get(category_id)
        if got is not None:
            want = _category_expected(raw, base_url)
            found += _field_differences(f"category {category_id}", got, want)
    return found


# --- holding requests -------------------------------------------------------------------------


class Gate:
    """Holds matching requests inside the fake server, unanswered, so that a harvester's
    concurrency shows: `held_at_arrival` records, for each matching request, how many matching
    requests were held (itself included) when it arrived, and `batch_at_arrival` which batch
    it was held in (batches are numbered from 0). A held request has not been answered,
    so that count is exactly how many the harvester had in flight, never an artefact of
    response timing.

    Held requests are all let go when `release_at` of them are held, or `patience` seconds
    after the first of them arrived (a tail batch, or a harvester that sends fewer). With
    `release_at` above the concurrency under test, every batch waits `patience`, which gives
    a request over the limit the time to show up. Pass `gate.on_request` as the FakeApi's
    `on_request`.
    """

    def __init__(
        self, *, release_at: int, matches: Callable[[str], bool], patience: float = 0.1
    ) -> None:
        self.release_at = release_at
        self.matches = matches
        self.patience = patience
        self.held_at_arrival: list[int] = []
        self.batch_at_arrival: list[int] = []
        self.targets: list[str] = []
        self._cond = threading.Condition()
        self._held = 0
        self._generation = 0

    def on_request(self, number: int, target: str) -> None:
        if not self.matches(target):
            return
        with self._cond:
            self._held += 1
            self.held_at_arrival.append(self._held)
            self.batch_at_arrival.append(self._generation)
            self.targets.append(target)
            generation = self._generation
            if self._held >= self.release_at:
                self._release()
                return
            released = self._cond.wait_for(
                lambda: self._generation != generation, timeout=self.patience
            )
            if not released:
                self._release()

    def _release(self) -> None:
        self._held = 0
        self._generation += 1
        self._cond.notify_all()


# --- a fake API in its own process ------------------------------------------------------------

fake_api_process = serve_in_subprocess


def harvester_argv(base_url: str, root: Path, *extra: str) -> list[str]:
    """`pkgharvest fetch --quiet` as a child process of this interpreter."""
    return fakeproc.harvester_argv(base_url, root, "--quiet", *extra)
