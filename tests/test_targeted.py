"""Targeted runs cost what they ask for: request counts against issue 11's bound.

`fetch --grid G` into an empty folder: at most members + the grids and categories those members
link to + 5 requests; fewer where the mirror already holds a reference. A package is never
fetched only to learn its slug.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import pytest

from pkgharvest.errors import ExitCode
from pkgharvest.fetch.run import FetchOptions, FetchReport, fetch
from pkgharvest.runtime import Dependencies, RetryPolicy
from tests.fakeapi import PUBLIC_BASE_URL, Catalogue, FakeApi, generate_catalogue
from tests.mirrorcheck import records

PAGE_SIZE = 100


def run(api: FakeApi, data: Path, *, targets: tuple[str, ...] = (), grids: tuple[str, ...] = ()
        ) -> FetchReport:  # fmt: skip
    options = FetchOptions(
        base_url=PUBLIC_BASE_URL, data_dir=data, targets=targets, grids=grids, page_size=PAGE_SIZE
    )
    deps = Dependencies(
        transport=httpx.MockTransport(api.handler),
        retry=RetryPolicy(attempts=2),
        sleep=lambda seconds: None,
    )
    return fetch(options, deps)


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return generate_catalogue(packages=1500, grids=120, seed=21)


@pytest.fixture(scope="module")
def full_mirror(tmp_path_factory: pytest.TempPathFactory, catalogue: Catalogue) -> Path:
    root = tmp_path_factory.mktemp("full") / "mirror"
    assert run(FakeApi(catalogue), root).exit_code == ExitCode.OK
    return root


def biggest_grid(catalogue: Catalogue) -> dict[str, object]:
    return max(catalogue.grids.values(), key=lambda grid: len(grid["packages"]))


def linked_by(catalogue: Catalogue, package_ids: list[int]) -> tuple[set[int], set[int]]:
    """The grids and categories the packages link to."""
    grids: set[int] = set()
    categories: set[int] = set()
    for package_id in package_ids:
        package = catalogue.packages[package_id]
        grids.update(package["grids"])
        if package["category"] is not None:
            categories.add(package["category"])
    return grids, categories


def package_details(api: FakeApi) -> list[int]:
    paths = api.stats.snapshot().paths
    return [int(p.split("/")[4]) for p in paths if p.startswith("/api/v4/packages/") and
            p.split("/")[4].isdigit()]  # fmt: skip


def test_a_grid_into_an_empty_folder_stays_within_the_bound(
    tmp_path: Path, catalogue: Catalogue
) -> None:
    grid = biggest_grid(catalogue)
    members = list(grid["packages"])  # type: ignore[call-overload]
    grids, categories = linked_by(catalogue, members)
    api = FakeApi(catalogue)

    report = run(api, tmp_path / "mirror", grids=(str(grid["slug"]),))

    assert report.exit_code == ExitCode.OK
    assert len(members) >= 20 and len(grids) >= 10  # the case that cost 2,558 requests in 0.1
    assert report.requests == api.stats.requests
    assert report.requests <= len(members) + len(grids) + len(categories) + 5
    assert sorted(package_details(api)) == sorted(members)  # each member once, nothing else
    stored = records(tmp_path / "mirror", "grids")[int(grid["id"])]  # type: ignore[call-overload]
    assert stored["packages"] == [
        {"id": p, "slug": catalogue.packages[p]["slug"]} for p in sorted(members)
    ]
    for package in records(tmp_path / "mirror", "packages").values():
        assert all(ref["slug"] is not None for ref in package["grids"])
        assert package["category"] is None or package["category"]["slug"] is not None


def test_a_grid_into_a_full_mirror_reads_only_the_grid_and_its_members(
    tmp_path: Path, catalogue: Catalogue, full_mirror: Path
) -> None:
    root = tmp_path / "mirror"
    shutil.copytree(full_mirror, root)
    grid = biggest_grid(catalogue)
    api = FakeApi(catalogue)

    report = run(api, root, grids=(str(grid["slug"]),))

    assert report.exit_code == ExitCode.OK
    assert report.requests == len(grid["packages"]) + 2  # type: ignore[arg-type]  # + root, grid
    assert report.counts["packages"].unchanged == len(grid["packages"])  # type: ignore[arg-type]


def test_a_package_costs_itself_and_its_links(tmp_path: Path, catalogue: Catalogue) -> None:
    package = max(catalogue.packages.values(), key=lambda p: len(p["grids"]))
    grids, categories = linked_by(catalogue, [package["id"]])
    api = FakeApi(catalogue)

    empty = run(api, tmp_path / "empty", targets=(package["slug"],))

    assert empty.exit_code == ExitCode.OK and len(grids) >= 2
    assert empty.requests <= 1 + len(grids) + len(categories) + 5
    assert package_details(api) == []  # by slug; no member fetched for its slug
    assert set(records(tmp_path / "empty", "grids")) == grids


def test_a_package_into_a_full_mirror_is_two_requests(
    tmp_path: Path, catalogue: Catalogue, full_mirror: Path
) -> None:
    root = tmp_path / "mirror"
    shutil.copytree(full_mirror, root)
    package = max(catalogue.packages.values(), key=lambda p: len(p["grids"]))

    report = run(FakeApi(catalogue), root, targets=(package["slug"],))

    assert report.exit_code == ExitCode.OK
    assert report.requests == 2  # the root and the package: the mirror knows every link


def test_many_linked_grids_are_read_from_the_grid_list(tmp_path: Path) -> None:
    """When more grids are wanted than the grid list has pages, the list is read instead."""
    catalogue = generate_catalogue(packages=300, grids=30, seed=4)
    wanted = sorted(catalogue.packages, key=lambda p: -len(catalogue.packages[p]["grids"]))[:12]
    grids, categories = linked_by(catalogue, wanted)
    api = FakeApi(catalogue)

    report = run(api, tmp_path / "mirror", targets=tuple(str(p) for p in wanted))

    assert report.exit_code == ExitCode.OK and len(grids) > 1
    paths = api.stats.snapshot().paths
    assert [p for p in paths if p.startswith("/api/v4/grids/?")] == [
        "/api/v4/grids/?limit=100&offset=0"
    ]
    assert not [p for p in paths if p.startswith("/api/v4/grids/") and "?" not in p]
    assert report.requests <= 1 + len(wanted) + len(grids) + len(categories) + 5


def test_a_target_not_found_is_reported_with_its_key(tmp_path: Path, catalogue: Catalogue) -> None:
    report = run(FakeApi(catalogue), tmp_path / "mirror", targets=("django-serch",))
    assert report.exit_code == ExitCode.NOT_FOUND
    assert report.not_found == (("packages", "django-serch"),)
