"""A rerun keeps a package whose source did not change without normalizing it again (the index
records each file's source digest), and never keeps one whose source did change."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from pkgharvest.fetch import stage
from pkgharvest.fetch.run import FetchOptions, FetchReport, fetch
from pkgharvest.runtime import Dependencies, RetryPolicy
from tests.fakeapi import PUBLIC_BASE_URL, FakeApi, generate_catalogue, seed_catalogue
from tests.mirrorcheck import assert_mirror_matches, mirror_files, records


def run(api: FakeApi, data: Path, **options: Any) -> FetchReport:
    return fetch(
        FetchOptions(base_url=PUBLIC_BASE_URL, data_dir=data, **options),
        Dependencies(
            transport=httpx.MockTransport(api.handler),
            retry=RetryPolicy(attempts=2),
            sleep=lambda seconds: None,
        ),
    )


@pytest.fixture
def normalized(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The ids of the packages normalized, run after run (cleared by the test)."""
    seen: list[int] = []
    real: Callable[..., Any] = stage.normalize_package

    def counting(raw: Any, **kwargs: Any) -> Any:
        seen.append(raw["id"])
        return real(raw, **kwargs)

    monkeypatch.setattr(stage, "normalize_package", counting)
    return seen


def test_a_rerun_normalizes_only_the_package_that_changed(
    tmp_path: Path, normalized: list[int]
) -> None:
    catalogue = generate_catalogue(packages=120, grids=10, seed=1)
    api = FakeApi(catalogue)
    run(api, tmp_path, page_size=50)
    assert len(normalized) == 120
    files = mirror_files(tmp_path)
    normalized.clear()
    some_id = sorted(catalogue.packages)[7]
    catalogue.update_package(some_id, repo_watchers=123456)
    report = run(api, tmp_path, page_size=50)
    assert normalized == [some_id]
    assert report.counts["packages"].changed == 1 and report.counts["packages"].unchanged == 119
    assert records(tmp_path, "packages")[some_id]["stars"] == 123456
    changed = {name for name, data in mirror_files(tmp_path).items() if files[name] != data}
    assert changed == {f"packages/{catalogue.packages[some_id]['slug']}.json", "manifest.json"}
    assert_mirror_matches(tmp_path, catalogue)


def test_a_retitled_grid_rewrites_the_packages_that_link_to_it(
    tmp_path: Path, normalized: list[int]
) -> None:
    # A package's own API record does not change when its grid is renamed, but the package
    # file carries the grid's slug and title: its source (record and resolved links) did.
    catalogue = generate_catalogue(packages=80, grids=6, seed=2)
    api = FakeApi(catalogue)
    run(api, tmp_path)
    grid = max(catalogue.grids.values(), key=lambda g: len(g["packages"]))
    assert grid["packages"]
    # A new dict, not an edit: the fake caches each record's bytes by the dict's identity.
    catalogue.grids[grid["id"]] = {**grid, "title": "A brand new title"}
    catalogue.touched()
    normalized.clear()
    run(api, tmp_path)
    assert sorted(normalized) == sorted(grid["packages"])
    for package_id in grid["packages"]:
        refs = records(tmp_path, "packages")[package_id]["grids"]
        assert {"id": grid["id"], "slug": grid["slug"], "title": "A brand new title"} in refs
    assert_mirror_matches(tmp_path, catalogue)


def test_a_file_edited_by_hand_is_restored_though_the_api_sent_the_same(
    tmp_path: Path, normalized: list[int]
) -> None:
    api = FakeApi(seed_catalogue())
    run(api, tmp_path)
    path = tmp_path / "packages" / "django-hstore.json"
    original = path.read_bytes()
    edited = json.loads(original)
    edited["stars"] = 1
    path.write_text(json.dumps(edited))
    normalized.clear()
    report = run(api, tmp_path)
    assert path.read_bytes() == original
    assert normalized == [1327] and report.counts["packages"].changed == 1


def test_a_new_normalizer_revision_normalizes_every_package_again(
    tmp_path: Path, normalized: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    api = FakeApi(generate_catalogue(packages=60, grids=5, seed=3))
    run(api, tmp_path)
    files = mirror_files(tmp_path)
    monkeypatch.setattr(stage, "SOURCE_REVISION", stage.SOURCE_REVISION + 1)
    normalized.clear()
    report = run(api, tmp_path)
    assert len(normalized) == 60 and report.counts["packages"].unchanged == 60
    assert {k: v for k, v in mirror_files(tmp_path).items() if k != "manifest.json"} == {
        k: v for k, v in files.items() if k != "manifest.json"
    }
    normalized.clear()
    run(api, tmp_path)  # the index now holds the new revision's sources
    assert normalized == []


def test_an_index_without_sources_costs_one_normalizing_run(
    tmp_path: Path, normalized: list[int]
) -> None:
    # An index written before source digests existed: every package is normalized and
    # compared as before (no file rewritten), and the index learns the sources.
    api = FakeApi(generate_catalogue(packages=40, grids=4, seed=4))
    run(api, tmp_path)
    index_path = tmp_path / ".index.json"
    index = json.loads(index_path.read_text())
    index["packages"] = {
        name: " ".join(entry.split(" ")[:5]) for name, entry in index["packages"].items()
    }
    index_path.write_text(json.dumps(index))
    before = {p: p.stat().st_mtime_ns for p in (tmp_path / "packages").iterdir()}
    normalized.clear()
    report = run(api, tmp_path)
    assert len(normalized) == 40 and report.counts["packages"].unchanged == 40
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "packages").iterdir()} == before
    entries = json.loads(index_path.read_text())["packages"].values()
    assert all(len(entry.split(" ")) == 6 for entry in entries)
    normalized.clear()
    run(api, tmp_path)
    assert normalized == []


def test_kept_counts_of_an_empty_commit_list_stay_through_reruns(
    tmp_path: Path, normalized: list[int]
) -> None:
    catalogue = seed_catalogue()
    api = FakeApi(catalogue)
    run(api, tmp_path)
    weeks = catalogue.packages[4100]["commits_over_52"]
    catalogue.update_package(4100, commits_over_52=[])
    run(api, tmp_path)
    stale = (
        (tmp_path / "packages").joinpath(f"{catalogue.packages[4100]['slug']}.json").read_bytes()
    )
    assert json.loads(stale)["commits_52w"] == weeks
    normalized.clear()
    run(api, tmp_path)
    assert normalized == []
    kept = records(tmp_path, "packages")[4100]
    assert kept["commits_52w"] == weeks and kept["stale_fields"] == ["commits_52w"]


def test_the_source_digest_follows_the_values_not_the_objects() -> None:
    name = "shared-" + "x" * 40
    shared = {"id": 1, "slug": name, "title": name, "participants": [name, name], "n": 1}
    copies = json.loads(json.dumps(shared))  # equal, nothing shared
    ref = {"id": 2, "slug": "g", "title": None}
    digest = stage.package_source(shared, "u", ref, [ref], {})
    assert digest is not None
    assert stage.package_source(copies, "u", dict(ref), [dict(ref)], {}) == digest
    # Any other value, even one JSON would write alike, is another source.
    for other in (
        {**shared, "n": True},
        {**shared, "n": 1.0},
        {**shared, "title": name + " "},
        {**shared, "participants": [name]},
        {**shared, "extra": None},
    ):
        assert stage.package_source(other, "u", ref, [ref], {}) != digest
    assert stage.package_source(shared, "v", ref, [ref], {}) != digest
    assert stage.package_source(shared, "u", None, [ref], {}) != digest
    assert stage.package_source(shared, "u", ref, [ref], {"grids": ["x"]}) != digest
    assert stage.package_source({**shared, "title": "bad \ud800"}, "u", ref, [], {}) is not None


def test_a_rerun_normalizes_only_the_grids_whose_source_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[int] = []
    real: Callable[..., Any] = stage.normalize_grid

    def counting(raw: Any, **kwargs: Any) -> Any:
        seen.append(raw["id"])
        return real(raw, **kwargs)

    monkeypatch.setattr(stage, "normalize_grid", counting)
    catalogue = generate_catalogue(packages=80, grids=6, seed=2)
    api = FakeApi(catalogue)
    run(api, tmp_path)
    assert sorted(seen) == sorted(catalogue.grids)
    seen.clear()
    report = run(api, tmp_path)  # nothing new: every grid kept as it is
    assert seen == [] and report.counts["grids"].unchanged == len(catalogue.grids)
    grid = max(catalogue.grids.values(), key=lambda g: len(g["packages"]))
    member = grid["packages"][0]
    catalogue.grids[grid["id"]] = {**grid, "title": "Retitled"}
    catalogue.update_package(member, slug="a-new-slug-for-a-member")  # in other grids too
    catalogue.touched()
    report = run(api, tmp_path)
    holding = sorted(g["id"] for g in catalogue.grids.values() if member in g["packages"])
    assert sorted(seen) == holding and grid["id"] in holding
    assert records(tmp_path, "grids")[grid["id"]]["title"] == "Retitled"
    assert_mirror_matches(tmp_path, catalogue)
