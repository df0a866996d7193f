"""The pipeline's stages fed in-memory catalogues: the fixture pages (real records) and
hand-made id sets go straight into the stages, with no HTTP and no files.

crawl.span_of/gaps (what pages prove), resolve.package_links/grid_draft (links to ids),
assemble (grids and integrity), removal.plan_removal.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pkgharvest.api.client import Page
from pkgharvest.api.links import ApiBase
from pkgharvest.fetch.assemble import (
    dangling_links,
    dangling_members,
    member_refs,
    stale_grids,
    worth_a_lookup,
)
from pkgharvest.fetch.crawl import gaps, pages_for, span_of
from pkgharvest.fetch.removal import KindEvidence, plan_removal
from pkgharvest.fetch.resolve import grid_draft, package_links
from pkgharvest.fetch.stats import MAX_NOTICES, RunStats
from pkgharvest.records import Kind

PAGES = Path(__file__).parent.parent / "fixtures" / "pages"
BASE = ApiBase.parse("https://djangopackages.org/api/v4/")


def page_of(kind: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((PAGES / f"{kind}.json").read_text())
    return data


# --- links: real records in, ids out ------------------------------------------------------------


def test_package_links_of_the_real_seed_page() -> None:
    stats = RunStats(lambda event: None)
    packages = page_of("packages")["results"]
    grids = {g["id"]: g for g in page_of("grids")["results"]}
    links = [package_links(raw, BASE, stats) for raw in packages]
    assert {link.record_id for link in links} == {3050, 1327, 4100, 1083, 1686}
    for link, raw in zip(links, packages, strict=True):
        assert link.category == int(raw["category"].rstrip("/").rsplit("/", 1)[1])
        assert link.problems == {}
        for grid_id in link.grids:  # each grid the package names lists it, in the fixtures
            assert any(
                m.endswith(f"/packages/{link.record_id}/") for m in grids[grid_id]["packages"]
            )
    assert stats.notices == []


def test_grid_drafts_of_the_real_grid_page_resolve_members_from_the_packages() -> None:
    stats = RunStats(lambda event: None)
    slugs = {raw["id"]: raw["slug"] for raw in page_of("packages")["results"]}
    drafts = [grid_draft(raw, BASE, stats) for raw in page_of("grids")["results"]]
    members = {d.record_id: d.member_ids for d in drafts}
    assert dangling_members(members, set(slugs)) == {}  # the seed catalogue is closed
    for draft in drafts:
        refs = member_refs(draft, slugs.get)
        assert [r["id"] for r in refs] == list(draft.member_ids)
        assert all(r["slug"] == slugs[r["id"]] for r in refs)
        assert "packages" not in draft.fields and draft.ref()["slug"] == draft.fields["slug"]


def test_a_foreign_member_link_is_a_problem_and_a_notice() -> None:
    stats = RunStats(lambda event: None)
    raw = {**page_of("grids")["results"][0]}
    raw["packages"] = [*raw["packages"], "https://evil.example/api/v4/packages/1/", 7]
    draft = grid_draft(raw, BASE, stats)
    assert draft.problems == {"packages": ["https://evil.example/api/v4/packages/1/", 7]}
    assert len(stats.notices) == 1 and "evil.example" in stats.notices[0]


# --- assembly: id sets ------------------------------------------------------------------------


def test_a_grid_read_before_a_package_joined_it_is_stale() -> None:
    members = {1: [10, 11], 2: [12]}
    claims = {1: [10, 11, 13], 2: [12]}  # package 13 joined grid 1 after the grid was read
    assert stale_grids(members, claims, listed={10, 11, 12, 13}, held={10, 11, 12, 13}) == {1}


def test_a_grid_listing_a_package_gone_before_it_was_listed_is_stale() -> None:
    members = {1: [10, 11], 2: [12]}
    claims = {1: [10], 2: [12]}
    assert stale_grids(members, claims, listed={10, 12}, held={10, 12}) == {1}


def test_grids_that_agree_with_the_packages_are_not_stale() -> None:
    members = {1: [10, 11], 2: []}
    claims = {1: [11, 10]}
    assert stale_grids(members, claims, listed={10, 11, 12}, held={10, 11, 12}) == set()


def test_only_ids_newer_than_a_complete_list_are_worth_a_lookup() -> None:
    assert worth_a_lookup([5, 900, 1001, 1500, 1001], newest_listed=1000) == [1500, 1001]


def test_dangling_links_name_each_record_and_what_it_lacks() -> None:
    links = [(1, [7, 8]), (2, [8]), (3, [])]
    assert dangling_links(links, held={8}) == {1: {7}}


# --- what pages prove ---------------------------------------------------------------------------


def page(offset: int, ids: list[int], limit: int = 4) -> Page:
    return Page(Kind.PACKAGE, offset, limit, 100, [{"id": i} for i in ids])


def spans(*pages: Page) -> list[Any]:
    found = [span_of(p, [r["id"] for r in p.results]) for p in pages]
    return [s for s in found if s is not None]


def test_pages_that_meet_chain_from_the_top_to_a_short_page() -> None:
    # 10 9 8 7 | 7 6 5 4 | 4 3 (short): complete
    assert gaps(spans(page(0, [10, 9, 8, 7]), page(3, [7, 6, 5, 4]), page(6, [4, 3]))) == []


def test_a_deletion_between_two_reads_breaks_the_chain_at_that_boundary() -> None:
    # Read 10 9 8 7; then 8 and 7 and 6 are deleted; offset 3 now shows 3 2 1 0: 6..4 unproven.
    upper = page(0, [10, 9, 8, 7])
    broken = gaps(spans(upper, page(3, [4, 3, 2, 1]), page(6, [0])))
    assert [(g.offset, g.low) for g in broken] == [(0, 7)]


def test_adjacent_ids_meet_and_an_insert_only_adds_overlap() -> None:
    assert gaps(spans(page(0, [10, 9, 8, 7]), page(3, [6, 5, 4, 3]), page(6, [2]))) == []
    # An insert at the top pushes everything down: more overlap, still complete.
    assert gaps(spans(page(0, [10, 9, 8, 7]), page(3, [8, 7, 6, 5]), page(6, [5, 4]))) == []


def test_no_short_page_means_the_end_is_unproven() -> None:
    broken = gaps(spans(page(0, [10, 9, 8, 7]), page(3, [7, 6, 5, 4])))
    assert [g.offset for g in broken] == [3]


def test_an_empty_first_page_proves_an_empty_list() -> None:
    assert gaps(spans(page(0, []))) == []


def test_pages_for_counts_the_overlap() -> None:
    assert pages_for(6000, 100) == 63  # offsets 96 apart
    assert pages_for(400, 100) == 5
    assert pages_for(0, 100) == 1


# --- the removal plan -----------------------------------------------------------------------


def evidence(
    listed: set[int], held: set[int], *, complete: bool = True, linked: set[int] | None = None
) -> dict[Kind, KindEvidence]:
    known = KindEvidence(listed, complete, None if complete else "x", linked or set(), held, set())
    empty = KindEvidence(set(), True, None, set(), set(), set())
    return {Kind.PACKAGE: known, Kind.GRID: empty, Kind.CATEGORY: empty}


def test_removal_takes_what_a_complete_crawl_did_not_see() -> None:
    plan = plan_removal(evidence({1, 2, 3}, {1, 2, 3, 4}, linked={5}), failed=0, integrity_faults=0)
    assert plan.withheld is None and plan.remove[Kind.PACKAGE] == {4}


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"complete": False}, "incomplete"),
        ({"failed": 2}, "2 records failed"),
        ({"integrity_faults": 3}, "3 links"),
    ],
)
def test_removal_is_withheld_with_a_reason(kwargs: dict[str, Any], reason: str) -> None:
    complete = kwargs.pop("complete", True)
    found = evidence({1, 2, 3}, {1, 2, 3, 4}, complete=complete)
    plan = plan_removal(found, failed=kwargs.get("failed", 0),
                        integrity_faults=kwargs.get("integrity_faults", 0))  # fmt: skip
    assert plan.remove == {} and plan.withheld is not None and reason in plan.withheld


def test_a_sudden_shrink_removes_nothing() -> None:
    plan = plan_removal(evidence({1}, {1, 2, 3}), failed=0, integrity_faults=0)
    assert plan.withheld is not None and "sudden shrink" in plan.withheld


# --- notices ------------------------------------------------------------------------------------


def test_notices_past_the_cap_are_counted_by_topic() -> None:
    seen: list[object] = []
    stats = RunStats(seen.append)
    for n in range(MAX_NOTICES + 30):
        stats.notice(f"missing {n}", topic="missing links")
    assert len(stats.notices) == MAX_NOTICES and len(seen) == MAX_NOTICES
    assert stats.all_notices()[-1] == "30 more notices (missing links) not shown"


# --- re-reading a broken boundary (issue 20 item 21) ----------------------------------------------


def test_a_broken_boundary_is_read_again_from_half_a_page_above_it() -> None:
    """Five packages above the first boundary are deleted between the first page's read and
    the second's: the second page starts five records lower, so the boundary breaks. The
    re-read starts half a page above it (offset 20 - 10), where the records that slid up
    now are."""
    from concurrent.futures import ThreadPoolExecutor
    from urllib.parse import parse_qs, urlsplit

    import httpx

    from pkgharvest.api.client import ApiClient
    from pkgharvest.fetch.crawl import ListCrawler
    from pkgharvest.runtime import Dependencies
    from tests.fakeapi import FakeApi, generate_catalogue

    catalogue = generate_catalogue(60, 2, seed=1)
    newest_first = sorted(catalogue.packages, reverse=True)
    deleted: list[int] = []

    def delete_before_the_second_page(number: int, target: str) -> None:
        if "/packages/?" in target and "offset=16" in target and not deleted:
            for package_id in newest_first[10:15]:
                catalogue.delete_package(package_id)
                deleted.append(package_id)

    api = FakeApi(catalogue, on_request=delete_before_the_second_page)
    deps = Dependencies(transport=httpx.MockTransport(api.handler), sleep=lambda s: None)
    base = ApiBase.parse("http://api.test/api/v4/")
    with ApiClient(base, deps, concurrency=1) as client, ThreadPoolExecutor(1) as pool:
        crawler = ListCrawler(client, pool, page_size=20, concurrency=1)
        reading = crawler.read(Kind.PACKAGE)
        for _ in reading:
            pass
        outcome = reading.outcome

    offsets = [
        int(parse_qs(urlsplit(path).query)["offset"][0])
        for path in api.stats.paths
        if path.startswith("/api/v4/packages/?")
    ]
    # The first pass (0, 16, 32, the short 48); the re-read of the boundary under the first
    # page (its 20 records end at offset 20) from offset 10; the first page again (the count
    # changed).
    assert offsets == [0, 16, 32, 48, 10, 0]
    assert outcome.complete
    assert outcome.ids >= set(newest_first) - set(deleted)
