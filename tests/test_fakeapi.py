"""The fake API answers as API.md says the public service does (quirks included)."""

from __future__ import annotations

import html
import json
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fakeapi import (
    FIXTURES_DIR,
    FOREIGN_CATEGORY_URL,
    HOSTILE_SLUGS,
    PUBLIC_BASE_URL,
    Catalogue,
    FakeApi,
    Faults,
    ScriptedFault,
    generate_catalogue,
    main,
    seed_catalogue,
)

BASE = "http://testserver/api/v4/"
JSON_ACCEPT = {"Accept": "application/json"}


def client_for(api: FakeApi, base_url: str = BASE) -> httpx.Client:
    transport = httpx.MockTransport(api.handler)
    return httpx.Client(transport=transport, base_url=base_url, headers=JSON_ACCEPT)


@pytest.fixture
def small() -> Catalogue:
    return generate_catalogue(packages=45, grids=12, seed=3)


@pytest.fixture
def client(small: Catalogue) -> Iterator[httpx.Client]:
    with client_for(FakeApi(small)) as api_client:
        yield api_client


def seed_json(package_id: int) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES_DIR / "seeds" / f"{package_id}.json").read_text())
    return data


# --- lists ------------------------------------------------------------------------------------


def test_following_next_links_sees_every_package_newest_first(
    client: httpx.Client, small: Catalogue
) -> None:
    pages = []
    url: str | None = "packages/"
    while url:
        page = client.get(url).json()
        pages.append(page)
        url = page["next"]
    assert [list(page) for page in pages] == [["count", "next", "previous", "results"]] * 3
    assert [len(page["results"]) for page in pages] == [20, 20, 5]  # default limit 20
    assert {page["count"] for page in pages} == {45}
    seen = [record["id"] for page in pages for record in page["results"]]
    assert seen == sorted(small.packages, reverse=True)
    assert pages[0]["next"] == f"{BASE}packages/?limit=20&offset=20"
    assert pages[0]["previous"] is None
    assert pages[1]["previous"] == f"{BASE}packages/?limit=20"  # DRF drops offset=0
    assert pages[2]["previous"] == f"{BASE}packages/?limit=20&offset=20"


def test_offset_past_the_end_gives_no_results_and_the_true_count(client: httpx.Client) -> None:
    page = client.get("packages/", params={"offset": 1000}).json()
    assert page["results"] == []
    assert page["count"] == 45
    assert page["next"] is None


def test_limit_has_no_maximum_and_bad_values_fall_back_like_drf(client: httpx.Client) -> None:
    everything = client.get("packages/", params={"limit": 10_000}).json()
    assert len(everything["results"]) == 45
    assert everything["next"] is None
    for bad_limit in ("0", "-3", "abc"):
        page = client.get("packages/", params={"limit": bad_limit, "offset": "-5"}).json()
        assert len(page["results"]) == 20
        assert page["results"][0]["id"] == everything["results"][0]["id"]


def test_grids_and_categories_lists_are_newest_first_too(
    client: httpx.Client, small: Catalogue
) -> None:
    grids = client.get("grids/", params={"limit": 100}).json()
    assert [g["id"] for g in grids["results"]] == sorted(small.grids, reverse=True)
    categories = client.get("categories/").json()
    assert [c["id"] for c in categories["results"]] == [5, 4, 3, 2, 1]
    assert [c["title_plural"] for c in categories["results"]][::-1] == [
        "Apps",
        "Frameworks",
        "Other",
        "Projects",
        "Starter Projects",
    ]


def test_links_are_absolute_numeric_and_built_from_the_request_host(small: Catalogue) -> None:
    api = FakeApi(small)
    package_id = next(pid for pid, rec in small.packages.items() if rec["grids"])
    grid_id = small.packages[package_id]["grids"][0]
    for base in (BASE, "https://mirror.example:8443/api/v4/"):
        with client_for(api, base) as api_client:
            record = api_client.get(f"packages/{package_id}/").json()
            category = small.packages[package_id]["category"]
            assert record["category"] == f"{base}categories/{category}/"
            assert record["grids"][0] == f"{base}grids/{grid_id}/"
            grid = api_client.get(record["grids"][0]).json()
            assert f"{base}packages/{package_id}/" in grid["packages"]


# --- paths and lookups ------------------------------------------------------------------------


def test_a_path_without_its_trailing_slash_is_a_301_to_the_absolute_path(
    client: httpx.Client,
) -> None:
    response = client.get("packages", params={"limit": 5})
    assert response.status_code == 301
    assert response.headers["Location"] == f"{BASE}packages/?limit=5"
    assert client.get("packages/99999").headers["Location"] == f"{BASE}packages/99999/"
    followed = client.get("packages", params={"limit": 5}, follow_redirects=True)
    assert len(followed.json()["results"]) == 5


def test_unknown_records_and_paths_are_404_with_a_detail(client: httpx.Client) -> None:
    missing = client.get("packages/99999/")
    assert missing.status_code == 404
    assert missing.json() == {"detail": "No Package matches the given query."}
    unknown = client.get("nothing/here/")
    assert unknown.status_code == 404
    assert unknown.json() == {"detail": "Not found."}


def test_packages_and_grids_by_id_or_slug_categories_by_id_only() -> None:
    with client_for(FakeApi(seed_catalogue())) as api_client:
        by_slug = api_client.get("packages/django-dbsettings-new/").json()
        assert by_slug == api_client.get("packages/1686/").json()
        assert by_slug["title"] == "django-dbsettings"
        assert api_client.get("grids/postgresql/").json()["id"] == 161
        assert api_client.get("categories/1/").json()["slug"] == "apps"
        apps = api_client.get("categories/apps/")
        assert apps.status_code == 404
        assert apps.json() == {"detail": "No Category matches the given query."}


def test_slugs_with_dots_are_not_routed_but_their_ids_are() -> None:
    catalogue = generate_catalogue(packages=60, grids=5, hostile=True)
    hidden = next(rec for rec in catalogue.packages.values() if rec["slug"] == ".hidden")
    with client_for(FakeApi(catalogue)) as api_client:
        assert api_client.get("packages/.hidden/").status_code == 404
        assert api_client.get(f"packages/{hidden['id']}/").json()["slug"] == ".hidden"
        assert api_client.get("packages/CON/").json()["slug"] == "CON"


def test_writes_are_405_and_head_has_no_body(client: httpx.Client) -> None:
    response = client.post("packages/", json={"title": "x"})
    assert response.status_code == 405
    assert response.json() == {"detail": 'Method "POST" not allowed.'}
    head = client.head("packages/")
    assert head.status_code == 200
    assert head.content == b""


# --- content negotiation and the seeds --------------------------------------------------------


def test_a_seed_is_served_as_captured_with_json_links_clean() -> None:
    with client_for(FakeApi(seed_catalogue()), PUBLIC_BASE_URL) as api_client:
        served = api_client.get("packages/3050/").json()
    expected = json.loads(json.dumps(seed_json(3050)).replace("?format=api", ""))
    assert served == expected
    assert list(served) == list(seed_json(3050))


def _embedded_json(page: str) -> Any:
    """The JSON inside DRF's browsable page, as a user would copy it from the browser."""
    body = page.split('<span class="lit">Accept</span>\n\n</span>', 1)[1]
    body = body.split("</pre>", 1)[0]
    return json.loads(html.unescape(re.sub(r"<[^>]+>", "", body)))


def test_format_api_gives_the_browsable_html_with_links_carrying_format_api() -> None:
    with client_for(FakeApi(seed_catalogue()), PUBLIC_BASE_URL) as api_client:
        response = api_client.get("packages/3050/", params={"format": "api"})
        listing = api_client.get("packages/", params={"format": "api", "limit": 2})
    assert response.headers["Content-Type"].startswith("text/html")
    # Exactly what the real service sent for this package (the seed was captured this way).
    assert _embedded_json(response.text) == seed_json(3050)
    next_link = _embedded_json(listing.text)["next"]
    assert next_link == f"{PUBLIC_BASE_URL}packages/?format=api&limit=2&offset=2"


def test_format_json_with_accept_html_is_406(client: httpx.Client) -> None:
    response = client.get("packages/", params={"format": "json"}, headers={"Accept": "text/html"})
    assert response.status_code == 406
    assert client.get("packages/", params={"format": "json"}).status_code == 200


def test_fixture_pages_are_what_the_fake_renders_for_the_seeds(tmp_path: Path) -> None:
    assert main(["--write-fixture-pages", str(tmp_path)]) == 0
    committed = sorted(p.name for p in (FIXTURES_DIR / "pages").glob("*.json"))
    assert committed == ["categories.json", "grids.json", "packages.json", "root.json"]
    for name in committed:
        fresh = json.loads((tmp_path / name).read_text(encoding="utf-8"))
        assert fresh == json.loads((FIXTURES_DIR / "pages" / name).read_text(encoding="utf-8"))
    packages = json.loads((FIXTURES_DIR / "pages" / "packages.json").read_text())
    assert [p["id"] for p in packages["results"]] == [4100, 3050, 1686, 1327, 1083]


def test_search_is_a_bare_list_of_at_most_20_hits() -> None:
    with client_for(FakeApi(seed_catalogue())) as api_client:
        hits = api_client.get("search/", params={"q": "django-h"}).json()
        assert [hit["slug"] for hit in hits] == ["django-hstore"]
        assert hits[0]["item_type"] == "package"
        assert hits[0]["category"] == "App"
        assert api_client.get("search/", params={"q": ""}).json() == []
    with client_for(FakeApi(generate_catalogue(packages=400, grids=10))) as api_client:
        assert len(api_client.get("search/", params={"q": "django"}).json()) == 20


# --- changing the catalogue mid-crawl ---------------------------------------------------------


def test_a_package_added_mid_crawl_repeats_the_last_item_of_a_page(small: Catalogue) -> None:
    api = FakeApi(small)
    api.on_request = lambda n, path: small.add_package() if n == 2 else None
    with client_for(api) as api_client:
        first = api_client.get("packages/").json()
        second = api_client.get(first["next"]).json()
    assert second["count"] == 46
    assert second["results"][0]["id"] == first["results"][-1]["id"]


def test_a_package_deleted_mid_crawl_is_never_seen(small: Catalogue) -> None:
    api = FakeApi(small)
    newest = max(small.packages)
    api.on_request = lambda n, path: small.delete_package(newest) if n == 2 else None
    with client_for(api) as api_client:
        first = api_client.get("packages/").json()
        second = api_client.get(first["next"]).json()
    skipped = sorted(small.packages, reverse=True)[19]  # moved from page 2 to page 1
    seen = {r["id"] for r in first["results"]} | {r["id"] for r in second["results"]}
    assert skipped not in seen
    assert second["count"] == 44


def test_changed_and_deleted_packages_are_served_fresh_not_from_cache(small: Catalogue) -> None:
    api = FakeApi(small)
    package_id = next(pid for pid, rec in small.packages.items() if rec["grids"])
    grid_id = small.packages[package_id]["grids"][0]
    with client_for(api) as api_client:
        assert api_client.get(f"packages/{package_id}/").json()["title"] != "Renamed"
        small.update_package(package_id, title="Renamed")
        assert api_client.get(f"packages/{package_id}/").json()["title"] == "Renamed"
        small.delete_package(package_id)
        assert api_client.get(f"packages/{package_id}/").status_code == 404
        grid = api_client.get(f"grids/{grid_id}/").json()
        assert f"{BASE}packages/{package_id}/" not in grid["packages"]


# --- faults -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "status", "content_type"),
    [
        ("500", 500, "text/html"),
        ("502", 502, "text/html"),
        ("503", 503, "text/html"),
        ("429", 429, "text/html"),
        ("html", 200, "text/html"),
    ],
)
def test_answering_faults_hit_the_next_matching_request_only(
    small: Catalogue, fault: str, status: int, content_type: str
) -> None:
    api = FakeApi(small, faults=Faults(scripted=[ScriptedFault("offset=20", fault)]))
    with client_for(api) as api_client:
        assert api_client.get("packages/").status_code == 200
        failed = api_client.get("packages/", params={"offset": 20})
        assert failed.status_code == status
        assert failed.headers["Content-Type"].startswith(content_type)
        assert "Retry-After" not in failed.headers
        assert api_client.get("packages/", params={"offset": 20}).status_code == 200
    assert api.stats.faults_by_kind == {fault: 1}


def test_429_with_retry_after_and_invalid_json(small: Catalogue) -> None:
    faults = Faults(retry_after="7").script("", "429-retry-after").script("", "invalid-json")
    with client_for(FakeApi(small, faults=faults)) as api_client:
        throttled = api_client.get("packages/")
        assert (throttled.status_code, throttled.headers["Retry-After"]) == (429, "7")
        broken = api_client.get("packages/")
        assert broken.status_code == 200
        assert broken.headers["Content-Type"] == "application/json"
        with pytest.raises(json.JSONDecodeError):
            broken.json()


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ("reset", httpx.ReadError),
        ("timeout", httpx.ReadTimeout),
        ("truncated", httpx.RemoteProtocolError),
    ],
)
def test_transport_faults_raise_what_a_real_socket_raises_in_process(
    small: Catalogue, fault: str, error: type[Exception]
) -> None:
    with client_for(FakeApi(small, faults=Faults().script("grids", fault))) as api_client:
        with pytest.raises(error):
            api_client.get("grids/")
        assert api_client.get("grids/").status_code == 200


def test_a_fault_without_a_count_hits_every_matching_request(small: Catalogue) -> None:
    faults = Faults(scripted=[ScriptedFault(r"offset=40\b", "500", times=None)])
    with client_for(FakeApi(small, faults=faults)) as api_client:
        statuses = [
            api_client.get("packages/", params={"offset": o}).status_code for o in (40,) * 3
        ]
        assert statuses == [500, 500, 500]
        assert api_client.get("packages/", params={"offset": 20}).status_code == 200


def test_random_faults_are_deterministic_for_a_seed_and_respect_only(small: Catalogue) -> None:
    def statuses(seed: int) -> list[int | str]:
        faults = Faults(rate=0.5, kinds=("503", "reset"), seed=seed, only="packages")
        seen: list[int | str] = []
        with client_for(FakeApi(small, faults=faults)) as api_client:
            for _ in range(100):
                assert api_client.get("").status_code == 200  # the index is exempt
                try:
                    seen.append(api_client.get("packages/").status_code)
                except httpx.ReadError:
                    seen.append("reset")
        return seen

    first = statuses(seed=1)
    assert first == statuses(seed=1)
    assert first != statuses(seed=2)
    assert 25 <= sum(s != 200 for s in first) <= 75
    assert {"reset", 503, 200} == set(first)


# --- statistics and the latency hook ----------------------------------------------------------


def test_stats_count_requests_headers_bytes_and_latency_goes_through_sleep(
    small: Catalogue,
) -> None:
    slept: list[float] = []
    ticks = iter(range(100))
    api = FakeApi(small, latency=0.25, sleep=slept.append, clock=lambda: float(next(ticks)))
    with client_for(api) as api_client:
        sizes = [
            len(api_client.get(path, headers={"User-Agent": "pkgharvest/0.1 (test)"}).content)
            for path in ("", "packages/", "packages/1/", "packages")
        ]
    stats = api.stats.snapshot()
    assert stats.requests == 4
    assert stats.requests_by_kind == {"root": 1, "packages": 1, "package": 1, "redirect": 1}
    assert stats.bytes_sent == sum(sizes)
    assert stats.user_agents == {"pkgharvest/0.1 (test)"}
    assert stats.accepts == {"application/json"}
    assert stats.request_starts == (0.0, 1.0, 2.0, 3.0)
    assert slept == [0.25] * 4
    api.reset_stats()
    assert api.stats.requests == 0
    assert api.stats.paths == []


# --- the real server --------------------------------------------------------------------------


def test_the_server_answers_two_slow_requests_at_once(small: Catalogue) -> None:
    # Each request's "latency" waits for the other request: served one at a time, they'd time out.
    both_in = threading.Barrier(2, timeout=5)
    api = FakeApi(small, latency=1.0, sleep=lambda _: both_in.wait())
    results: list[int] = []
    with api.serve() as base_url, httpx.Client(base_url=base_url, timeout=10) as http:
        threads = [
            threading.Thread(target=lambda: results.append(http.get("packages/").status_code))
            for _ in range(2)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert results == [200, 200]
    assert api.stats.max_in_flight == 2


def test_the_server_builds_links_from_its_host_and_redirects_absolutely() -> None:
    api = FakeApi(seed_catalogue())
    with api.serve() as base_url, httpx.Client(base_url=base_url, headers=JSON_ACCEPT) as http:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/api/v4/", base_url)
        record = http.get("packages/3050/").json()
        assert record["category"] == f"{base_url}categories/1/"
        moved = http.get("packages/3050")
        assert (moved.status_code, moved.headers["Location"]) == (301, f"{base_url}packages/3050/")
        index = http.get("").json()
        assert index == {kind: f"{base_url}{kind}/" for kind in ("packages", "grids", "categories")}


def test_the_server_breaks_connections_as_each_transport_fault_claims(small: Catalogue) -> None:
    faults = Faults(timeout_hold=30).script("grids", "reset").script("grids", "truncated")
    faults.script("grids", "timeout").script("categories", "503")
    api = FakeApi(small, faults=faults)
    started = time.monotonic()
    with api.serve() as base_url:
        timeout = httpx.Timeout(5.0, read=0.2)
        with httpx.Client(base_url=base_url, timeout=timeout) as http:
            with pytest.raises(httpx.ReadError):
                http.get("grids/")
            with pytest.raises(httpx.RemoteProtocolError, match=r"complete message body"):
                http.get("grids/")
            with pytest.raises(httpx.ReadTimeout):
                http.get("grids/")
            assert http.get("categories/").status_code == 503
            assert http.get("grids/").status_code == 200  # the server survived all of that
    # Leaving `serve` does not wait out the 30 s hold of the timed-out request.
    assert time.monotonic() - started < 10
    assert api.stats.faults_by_kind == {"reset": 1, "truncated": 1, "timeout": 1, "503": 1}


# --- generated catalogues ---------------------------------------------------------------------


def test_generated_catalogues_are_deterministic_and_realistic() -> None:
    catalogue = generate_catalogue(packages=3000, grids=200, seed=5)
    again = generate_catalogue(packages=3000, grids=200, seed=5)
    assert catalogue.packages == again.packages
    assert catalogue.grids == again.grids
    assert catalogue.packages != generate_catalogue(packages=3000, grids=200, seed=6).packages

    packages = list(catalogue.packages.values())
    assert len(packages) == 3000
    assert len({p["slug"] for p in packages}) == 3000
    stars = sorted(p["repo_watchers"] for p in packages)
    assert stars[len(stars) // 2] < 100 < stars[-1] and stars[-1] >= 5000  # long tail
    weeks = [p["commits_over_52"] for p in packages]
    assert 0.02 < sum(w == [] for w in weeks) / len(weeks) < 0.10
    assert sum(w == [0] * 52 for w in weeks) > len(weeks) / 3
    assert all(len(w) in (0, 52) for w in weeks)
    for name in ("last_updated", "pypi_version", "documentation_url"):
        assert any(p[name] is None for p in packages), name
    assert any(not p["title"].isascii() for p in packages)
    assert {p["category"] for p in packages} == set(catalogue.categories) == {1, 2, 3, 4, 5}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}-0[45]:00", packages[0]["created"])
    for grid_id, grid in catalogue.grids.items():
        assert 2 <= len(grid["packages"]) <= 60
        assert all(grid_id in catalogue.packages[p]["grids"] for p in grid["packages"])
    for package_id, package in catalogue.packages.items():
        assert len(package["grids"]) <= 3
        assert all(package_id in catalogue.grids[g]["packages"] for g in package["grids"])


def test_hostile_catalogues_carry_every_trap_and_serve_foreign_links_unchanged() -> None:
    catalogue = generate_catalogue(packages=200, grids=10, hostile=True)
    packages = list(catalogue.packages.values())
    assert set(HOSTILE_SLUGS) <= {p["slug"] for p in packages}
    assert any("[bold red]" in p["title"] for p in packages)
    assert any("\x1b[" in p["title"] for p in packages)
    assert any("\u202e" in p["title"] for p in packages)
    assert {"=", "+", "-", "@"} <= {p["repo_description"][:1] for p in packages}
    foreign = next(p for p in packages if p["category"] == FOREIGN_CATEGORY_URL)
    with client_for(FakeApi(catalogue)) as api_client:
        assert api_client.get(f"packages/{foreign['id']}/").json()["category"] == (
            FOREIGN_CATEGORY_URL
        )
        every = api_client.get("packages/", params={"limit": 1000}).json()["results"]
    assert len(every) == 200
