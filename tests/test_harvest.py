"""`fetch` end to end against the fake API (httpx.MockTransport): crawl, links, store, reports."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from pkgharvest.errors import ApiUnavailable, CorruptStore, ExitCode, LockHeld, NotTheApi
from pkgharvest.fetch.run import FetchOptions, FetchReport, fetch
from pkgharvest.fetch.stage import Stager
from pkgharvest.runtime import Dependencies, RetryPolicy
from pkgharvest.store.transaction import Store
from tests.fakeapi import (
    FOREIGN_CATEGORY_URL,
    PUBLIC_BASE_URL,
    FakeApi,
    Faults,
    generate_catalogue,
    seed_catalogue,
)
from tests.mirrorcheck import assert_mirror_matches, digest, mirror_files, records

FAST_RETRY = RetryPolicy(attempts=3)


def run(api: FakeApi, data: Path, **options: Any) -> FetchReport:
    retry = options.pop("retry", FAST_RETRY)
    return fetch(
        FetchOptions(base_url=PUBLIC_BASE_URL, data_dir=data, **options),
        Dependencies(
            transport=httpx.MockTransport(api.handler), retry=retry, sleep=lambda seconds: None
        ),
    )


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return tmp_path / "mirror"


def test_whole_crawl_mirrors_every_record_field_for_field(data: Path) -> None:
    catalogue = generate_catalogue(packages=250, grids=30, seed=3)
    report = run(FakeApi(catalogue), data, page_size=40)
    assert report.exit_code is ExitCode.OK and report.complete
    assert_mirror_matches(data, catalogue)
    assert report.counts["packages"].new == 250 and report.counts["grids"].new == 30
    manifest = json.loads((data / "manifest.json").read_text())
    assert manifest["format_version"] == 1 and manifest["source"] == PUBLIC_BASE_URL
    assert manifest["last_run"]["complete"] is True
    assert manifest["records"] == {"packages": 250, "grids": 30, "categories": 5}
    # Lists carry full records: one request per page and no detail requests at all.
    stats_pages = 1 + 1 + 1 + 7  # root, categories, grids, 250/40 -> 7 package pages
    assert report.requests == stats_pages


def test_the_five_seeds_are_stored_as_the_api_sent_them(data: Path) -> None:
    catalogue = seed_catalogue()
    run(FakeApi(catalogue), data)
    assert_mirror_matches(data, catalogue)
    dbsettings = json.loads((data / "packages" / "django-dbsettings-new.json").read_text())
    assert dbsettings["title"] == "django-dbsettings" and dbsettings["documentation_url"] is None
    assert dbsettings["category"]["slug"] == "apps"
    assert dbsettings["api_url"] == PUBLIC_BASE_URL + "packages/1686/"


def test_a_second_run_with_nothing_changed_rewrites_no_record(data: Path) -> None:
    api = FakeApi(generate_catalogue(packages=120, grids=10, seed=1))
    run(api, data, page_size=50)
    before = {p: p.stat().st_mtime_ns for p in data.rglob("*.json") if p.name != "manifest.json"}
    report = run(api, data, page_size=50)
    after = {p: p.stat().st_mtime_ns for p in data.rglob("*.json") if p.name != "manifest.json"}
    assert before == after
    assert all(c.new == c.changed == c.removed == 0 for c in report.counts.values())
    assert report.counts["packages"].unchanged == 120


def test_a_change_rewrites_only_that_record(data: Path) -> None:
    catalogue = seed_catalogue()
    api = FakeApi(catalogue)
    run(api, data)
    files = mirror_files(data)
    catalogue.update_package(3050, repo_watchers=302)
    report = run(api, data)
    assert report.counts["packages"].changed == 1 and report.counts["packages"].unchanged == 4
    changed = {k for k, v in mirror_files(data).items() if files.get(k) != v}
    assert changed == {"packages/django-star-ratings.json", "manifest.json"}


def test_targeted_fetch_follows_each_link_once(data: Path) -> None:
    api = FakeApi(seed_catalogue())
    report = run(api, data, targets=("django-hstore", "1083"))
    assert report.exit_code is ExitCode.OK
    assert set(records(data, "packages")) == {1327, 1083}
    assert set(records(data, "grids")) == {160, 161, 10}
    assert set(records(data, "categories")) == {1}
    paths = api.stats.snapshot().paths
    category_requests = [p for p in paths if p.startswith("/api/v4/categories/")]
    assert category_requests == ["/api/v4/categories/1/"]  # shared by both: fetched once
    assert len(paths) == len(set(paths))  # no URL fetched twice
    grid = records(data, "grids")[161]
    assert grid["packages"] == [{"id": 1327, "slug": "django-hstore"}]


def test_grid_fetch_brings_all_its_packages(data: Path) -> None:
    catalogue = generate_catalogue(packages=200, grids=8, seed=5)
    grid = max(catalogue.grids.values(), key=lambda g: len(g["packages"]))
    report = run(FakeApi(catalogue), data, grids=(grid["slug"],))
    assert report.exit_code is ExitCode.OK
    stored = records(data, "packages")
    assert set(grid["packages"]) <= set(stored)
    assert records(data, "grids")[grid["id"]]["packages"] == [
        {"id": p, "slug": catalogue.packages[p]["slug"]} for p in sorted(grid["packages"])
    ]


def test_unknown_targets(data: Path) -> None:
    api = FakeApi(seed_catalogue())
    report = run(api, data, targets=("no-such-package",))
    assert report.exit_code is ExitCode.NOT_FOUND
    report = run(api, data, targets=("no-such-package", "django-hstore"))
    assert report.exit_code is ExitCode.PARTIAL
    assert "django-hstore.json" in {p.name for p in (data / "packages").iterdir()}


def test_empty_commit_list_keeps_the_counts_the_mirror_has(data: Path) -> None:
    catalogue = seed_catalogue()
    api = FakeApi(catalogue)
    run(api, data)
    weeks = catalogue.packages[4100]["commits_over_52"]
    catalogue.update_package(4100, commits_over_52=[])
    catalogue.update_package(1083, commits_over_52=[])
    run(api, data)
    kept = records(data, "packages")[4100]
    assert kept["commits_52w"] == weeks and kept["stale_fields"] == ["commits_52w"]
    new = records(data, "packages")
    catalogue.add_package(id=9000, commits_over_52=[], category=1, grids=[])
    run(api, data)
    assert records(data, "packages")[9000]["commits_52w"] is None  # never known: unknown
    assert new[1083]["stale_fields"] == ["commits_52w"]


def test_removal_happens_only_after_a_complete_crawl(data: Path) -> None:
    catalogue = generate_catalogue(packages=60, grids=6, seed=2)
    api = FakeApi(catalogue)
    run(api, data, page_size=20)
    gone = max(catalogue.packages)
    catalogue.delete_package(gone)
    # A page that keeps failing: the run fails as a whole and nothing changes.
    before = digest(data)
    api.faults = Faults().script(r"packages/\?limit=20&offset=16", "503", times=None)
    with pytest.raises(ApiUnavailable):
        run(api, data, page_size=20)
    assert digest(data) == before
    # A complete crawl proves it gone.
    api.faults = None
    report = run(api, data, page_size=20)
    assert report.counts["packages"].removed == 1
    assert gone not in records(data, "packages")
    assert_mirror_matches(data, catalogue)


def test_a_broken_record_makes_the_run_partial_and_removes_nothing(data: Path) -> None:
    catalogue = generate_catalogue(packages=30, grids=3, seed=4)
    api = FakeApi(catalogue)
    run(api, data)
    first, second = sorted(catalogue.packages)[:2]
    catalogue.delete_package(first)
    catalogue.update_package(second, slug=None)  # no usable slug
    report = run(api, data)
    assert report.exit_code is ExitCode.PARTIAL and not report.complete
    assert first in records(data, "packages")  # not removed after a partial run
    assert report.counts["packages"].failed == 1
    assert report.removal_withheld and "failed" in report.removal_withheld


@pytest.mark.parametrize("left", [0, 10])
def test_a_sudden_shrink_deletes_nothing(data: Path, left: int) -> None:
    catalogue = generate_catalogue(packages=40, grids=4, seed=6)
    api = FakeApi(catalogue)
    run(api, data)
    for package_id in sorted(catalogue.packages)[left:]:
        catalogue.delete_package(package_id)
    report = run(api, data)
    assert len(records(data, "packages")) == 40
    assert report.exit_code is ExitCode.PARTIAL
    assert report.removal_withheld and "shrink" in report.removal_withheld


def test_drift_inserts_during_the_crawl_are_caught(data: Path) -> None:
    catalogue = generate_catalogue(packages=100, grids=5, seed=7)
    added: list[int] = []

    def insert_midway(n: int, path: str) -> None:
        if "packages/?" in path and "offset=48" in path and not added:
            # Three new packages shift every later offset by three (first pass only).
            grid = min(catalogue.grids)
            added.extend(catalogue.add_package(category=1, grids=[grid]) for _ in range(3))

    api = FakeApi(catalogue, on_request=insert_midway)
    report = run(api, data, page_size=20, concurrency=1)
    assert len(added) == 3
    assert report.exit_code is ExitCode.OK
    assert_mirror_matches(data, catalogue)  # the grid read before the insert was read again
    assert any("changed during the crawl" in notice for notice in report.notices)
    assert f"/api/v4/grids/{min(catalogue.grids)}/" in api.stats.snapshot().paths


def test_drift_deletes_during_the_crawl_miss_nothing_that_stayed(data: Path) -> None:
    catalogue = generate_catalogue(packages=100, grids=5, seed=8)
    api = FakeApi(catalogue)
    run(api, data, page_size=20)
    newest = sorted(catalogue.packages, reverse=True)
    deleted: list[int] = []

    def delete_midway(n: int, path: str) -> None:
        if "packages/?" in path and "offset=64" in path and not deleted:
            # Deleting a record on an earlier page shifts the next ones: one would be missed.
            deleted.append(newest[5])
            catalogue.delete_package(newest[5])

    api.on_request = delete_midway
    report = run(api, data, page_size=20, concurrency=1)
    assert deleted and report.exit_code is ExitCode.OK
    assert_mirror_matches(data, catalogue)  # the deleted one removed, every other one kept


def test_foreign_links_are_reported_and_never_followed(data: Path) -> None:
    catalogue = generate_catalogue(packages=80, grids=5, seed=9, hostile=True)
    api = FakeApi(catalogue)
    report = run(api, data)
    assert any("evil.example" in n for n in report.notices)
    assert all(not p.startswith("http") for p in api.stats.snapshot().paths)
    assert_mirror_matches(data, catalogue)
    victim = next(r for r in records(data, "packages").values() if r["invalid"].get("category"))
    assert victim["invalid"]["category"] == FOREIGN_CATEGORY_URL and victim["category"] is None


def test_unsafe_slugs_never_leave_the_data_folder(data: Path, tmp_path: Path) -> None:
    catalogue = generate_catalogue(packages=80, grids=5, seed=9, hostile=True)
    run(FakeApi(catalogue), data)
    outside = {p for p in tmp_path.rglob("*") if data not in p.parents and p != data}
    assert outside == set()
    names = {p.name for p in (data / "packages").iterdir()}
    assert all(not n.startswith(".") or n == ".lock" for n in names)
    stored_slugs = {r["slug"] for r in records(data, "packages").values()}
    assert "../evil" in stored_slugs or any(".." in s for s in stored_slugs)  # kept inside


def test_the_root_must_be_the_api(data: Path) -> None:
    def not_found(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404, text="<h1>Not Found</h1>", headers={"Content-Type": "text/html"})

    def html_site(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text="<html>Django Packages</html>",
                              headers={"Content-Type": "text/html"})  # fmt: skip

    for handler in (not_found, html_site):
        with pytest.raises(NotTheApi):
            fetch(
                FetchOptions(base_url=PUBLIC_BASE_URL, data_dir=data),
                Dependencies(
                    transport=httpx.MockTransport(handler), retry=FAST_RETRY, sleep=lambda s: None
                ),
            )
    assert not (data / "manifest.json").exists()  # no mirror was made


def test_an_unreachable_api_leaves_the_mirror_as_it_was(data: Path) -> None:
    api = FakeApi(seed_catalogue())
    run(api, data)
    before = digest(data)
    api.faults = Faults(rate=1.0, kinds=("reset",))
    with pytest.raises(ApiUnavailable) as failure:
        run(api, data)
    assert failure.value.exit_code == ExitCode.TEMPFAIL
    assert digest(data) == before


FAULTS = ["500", "502", "503", "429", "429-retry-after", "truncated", "html", "invalid-json",
          "reset", "timeout"]  # fmt: skip


@pytest.mark.parametrize("fault", FAULTS)
def test_faults_on_a_fifth_of_requests_still_complete(data: Path, fault: str) -> None:
    catalogue = generate_catalogue(packages=150, grids=10, seed=10)
    api = FakeApi(catalogue, faults=Faults(rate=0.2, kinds=(fault,), seed=1))
    report = run(api, data, page_size=25, retry=RetryPolicy(attempts=8))
    assert report.exit_code is ExitCode.OK and report.retries > 0
    assert_mirror_matches(data, catalogue)


def test_a_second_run_on_a_locked_folder_stops_at_once(data: Path) -> None:
    with Store(data).lock(), pytest.raises(LockHeld) as failure:
        run(FakeApi(seed_catalogue()), data)
    assert ".lock" in str(failure.value) and failure.value.exit_code == ExitCode.LOCKED


def test_a_corrupt_record_stops_the_run_and_changes_nothing(data: Path) -> None:
    catalogue = seed_catalogue()
    api = FakeApi(catalogue)
    run(api, data)
    (data / "packages" / "django-hstore.json").write_text('{"id": 1327, "slug": ', "utf-8")
    catalogue.update_package(1327, repo_watchers=1)
    before = digest(data)
    with pytest.raises(CorruptStore) as failure:
        run(api, data)
    assert "django-hstore.json" in str(failure.value)
    assert digest(data) == before


def test_ctrl_c_mid_crawl_leaves_the_mirror_as_it_was(data: Path) -> None:
    catalogue = generate_catalogue(packages=100, grids=5, seed=11)
    api = FakeApi(catalogue)
    run(api, data, page_size=20)
    for package_id in sorted(catalogue.packages)[:50]:
        catalogue.update_package(package_id, repo_watchers=7)
    before = digest(data)

    def interrupt(n: int, path: str) -> None:
        if "offset=64" in path:
            raise KeyboardInterrupt

    api.on_request = interrupt
    with pytest.raises(KeyboardInterrupt):
        run(api, data, page_size=20, concurrency=1)
    assert digest(data) == before
    assert not [p for p in data.rglob("*") if p.name.startswith(".staging")]


def test_a_grid_listing_thousands_of_missing_packages_costs_no_request_each(data: Path) -> None:
    """0.1 made 2,714 one-by-one requests and kept a notice per id. Ids older than the newest
    listed package are proven gone by the complete list (no request); newer ones may be new
    packages, so at most MAX_LOOKUPS of them are looked up; the notices stay few."""
    from pkgharvest.fetch.full_run import MAX_LOOKUPS

    catalogue = generate_catalogue(packages=100, grids=5, seed=12)
    newest = max(catalogue.packages)
    older = [i for i in range(1, newest) if i not in catalogue.packages]
    ghosts = older + list(range(newest + 1, newest + 5001))
    grid_id = min(catalogue.grids)
    grid = catalogue.grids[grid_id]
    catalogue.grids[grid_id] = {**grid, "packages": [*grid["packages"], *ghosts]}
    catalogue.touched()
    api = FakeApi(catalogue)

    report = run(api, data, page_size=100)

    assert report.exit_code is ExitCode.PARTIAL  # a grid lists packages the API lacks
    package_details = [p for p in api.stats.snapshot().paths
                       if p.startswith("/api/v4/packages/") and "?" not in p]  # fmt: skip
    assert len(package_details) == MAX_LOOKUPS
    assert report.counts["packages"].missing == len(ghosts)
    assert len(report.notices) < 10
    assert report.requests < 20 + MAX_LOOKUPS


def test_the_next_pages_are_asked_for_before_the_first_one_is_consumed(
    data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Staging the first package waits until the packages list's second page is asked for:
    # asked for only after the first page's records (the old order), it never would be.
    second_page = threading.Event()

    def note(number: int, path: str) -> None:
        if "/packages/?" in path and "offset=0" not in path:
            second_page.set()

    stage_package = Stager.package
    waited: list[bool] = []

    def first_waits(self: Stager, *args: Any, **kwargs: Any) -> str:
        if not waited:
            waited.append(second_page.wait(timeout=10))
        return stage_package(self, *args, **kwargs)

    monkeypatch.setattr(Stager, "package", first_waits)
    api = FakeApi(generate_catalogue(packages=60, grids=5, seed=6), on_request=note)
    report = run(api, data, page_size=20)
    assert report.exit_code is ExitCode.OK and waited == [True]
    assert_mirror_matches(data, api.catalogue)


def test_the_three_first_pages_are_in_flight_together(data: Path) -> None:
    # Each first-page request waits until the other two have arrived: asked one list after the
    # other, the first would wait alone and the barrier would break.
    barrier = threading.Barrier(3, timeout=10)
    broken: list[str] = []

    def hold_first_pages(number: int, path: str) -> None:
        if "offset=0" in path and "/api/v4/" in path and "limit=" in path:
            try:
                barrier.wait()
            except threading.BrokenBarrierError:
                broken.append(path)

    api = FakeApi(generate_catalogue(packages=60, grids=5, seed=6), on_request=hold_first_pages)
    report = run(api, data, page_size=20)
    assert report.exit_code is ExitCode.OK and not broken
    assert_mirror_matches(data, api.catalogue)
