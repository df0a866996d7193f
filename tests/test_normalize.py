"""Every field of the five real seed records, normalized; the values were converted by hand."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pkgharvest.api.links import ApiBase
from pkgharvest.fetch.normalize import (
    RecordError,
    normalize_category,
    normalize_grid,
    normalize_package,
    to_utc_iso,
)
from pkgharvest.records import CATEGORY_FIELDS, GRID_FIELDS, PACKAGE_FIELDS, Kind, Ref

SEEDS = Path(__file__).resolve().parent.parent / "fixtures" / "seeds"
BASE = ApiBase.parse("https://djangopackages.org/api/v4/")


def seed(package_id: int) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((SEEDS / f"{package_id}.json").read_text("utf-8"))
    return data


def grid_ref(grid_id: int) -> Ref:
    return {"id": grid_id, "slug": f"grid-{grid_id}", "title": f"Grid {grid_id}"}


APPS: Ref = {"id": 1, "slug": "apps", "title": "App"}


def normalized(package_id: int, previous: dict[str, Any] | None = None) -> dict[str, Any]:
    raw = seed(package_id)
    grid_ids = [BASE.record_link(link, Kind.GRID) for link in raw["grids"]]
    return normalize_package(
        raw,
        api_url=BASE.detail_url(Kind.PACKAGE, package_id),
        category=APPS if BASE.record_link(raw["category"], Kind.CATEGORY) == 1 else None,
        grids=[grid_ref(g) for g in grid_ids],
        previous=previous,
    )


# id: (slug, title, stars, forks, commits total, last_commit, last_fetched, created, modified,
#      pypi_version, documentation_url, grid ids, first and last participant)
EXPECTED = {
    3050: ("django-star-ratings", "Django Star Ratings", 301, 95, 0,
           "2024-02-19T17:26:39Z", "2026-05-26T14:07:14.299684Z",
           "2015-09-16T15:01:02.619069Z", "2026-01-28T18:28:34.315021Z", "0.9.2",
           "https://django-star-ratings.readthedocs.io/en/latest/?badge=latest/", [145],
           ("rolo", "marcwebbie")),
    1327: ("django-hstore", "django-hstore", 519, 142, 0,
           "2017-03-02T08:57:56Z", "2026-02-16T00:07:18.057593Z",
           "2012-06-05T08:59:01.326506Z", "2026-01-28T19:44:59.312468Z", "1.4.2",
           "http://djangonauts.github.io/django-hstore/", [161, 160],
           ("nemesifier", "aidanlister")),
    4100: ("django-rest-registration", "Django-REST-registration", 551, 87, 19,
           "2026-01-23T13:32:25Z", "2026-02-15T23:01:40.058837Z",
           "2018-03-27T11:09:05.305471Z", "2026-01-28T19:20:36.455652Z", "0.9.0",
           "https://django-rest-registration.readthedocs.io/", [7],
           ("apragacz", "sdezza")),
    1686: ("django-dbsettings-new", "django-dbsettings", 64, 39, 2,
           "2026-01-28T21:20:56Z", "2026-02-16T00:01:29.443217Z",
           "2013-02-21T11:07:16.164960Z", "2026-01-28T19:37:50.814473Z", "1.4.0",
           None, [55], ("zlorf", "sergey-zakharov")),
}  # fmt: skip


@pytest.mark.parametrize("package_id", sorted(EXPECTED))
def test_seed_package_fields(package_id: int) -> None:
    (slug, title, stars, forks, total, last_commit, last_fetched, created, modified, version,
     docs, grids, (first, last)) = EXPECTED[package_id]  # fmt: skip
    record = normalized(package_id)
    assert list(record) == list(PACKAGE_FIELDS)
    assert record["id"] == package_id
    assert record["slug"] == slug
    assert record["title"] == title
    assert record["category"] == APPS
    assert [g["id"] for g in record["grids"]] == sorted(grids)  # in id order, whatever the API's
    assert record["stars"] == stars
    assert record["forks"] == forks
    assert len(record["commits_52w"]) == 52
    assert record["commits_52w_total"] == total
    assert record["last_commit"] == last_commit
    assert record["last_fetched"] == last_fetched
    assert record["created"] == created
    assert record["modified"] == modified
    assert record["pypi_version"] == version
    assert (
        record["pypi_url"] == f"http://pypi.python.org/pypi/{title if package_id == 1686 else slug}"
    )
    assert record["repo_url"].startswith("https://github.com/")
    assert record["documentation_url"] == docs
    assert record["participants"][0] == first and record["participants"][-1] == last
    assert record["api_url"] == f"https://djangopackages.org/api/v4/packages/{package_id}/"
    assert record["stale_fields"] == [] and record["invalid"] == {} and record["extra"] == {}


def test_seed_1083_keeps_its_description_and_weeks_oldest_first() -> None:
    record = normalized(1083)
    raw = seed(1083)
    assert record["repo_description"] == raw["repo_description"]  # text exactly as sent
    assert record["commits_52w"][:5] == [0, 2, 1, 0, 4]  # oldest week first, as sent
    assert record["last_fetched"] == "2026-02-15T23:02:37.757866Z"
    assert record["created"] == "2011-12-22T13:57:15.390379Z"  # -05:00 in winter
    assert record["commits_52w_total"] == sum(raw["commits_over_52"])


def test_the_weeks_of_4100_are_stored_as_sent() -> None:
    record = normalized(4100)
    assert record["commits_52w"] == seed(4100)["commits_over_52"]
    assert record["commits_52w"][0] == 1 and record["commits_52w"][46] == 2


def test_empty_commit_list_means_unknown() -> None:
    raw = seed(3050) | {"commits_over_52": []}
    record = normalize_package(raw, api_url="u", category=None, grids=[])
    assert record["commits_52w"] is None
    assert record["commits_52w_total"] is None
    assert record["stale_fields"] == []


def test_empty_commit_list_never_replaces_real_counts() -> None:
    previous = normalized(4100)
    raw = seed(4100) | {"commits_over_52": [], "repo_watchers": 600}
    record = normalize_package(raw, api_url="u", category=None, grids=[], previous=previous)
    assert record["commits_52w"] == previous["commits_52w"]
    assert record["commits_52w_total"] == 19
    assert record["stale_fields"] == ["commits_52w"]
    assert record["stars"] == 600  # the other fields are this run's


def test_unknown_fields_are_kept_in_extra_and_wrong_types_in_invalid() -> None:
    raw = seed(3050) | {"zeta": 1, "alpha": {"x": [1]}, "repo_watchers": "301", "created": "soon"}
    record = normalize_package(raw, api_url="u", category=None, grids=[])
    assert record["extra"] == {"alpha": {"x": [1]}, "zeta": 1}
    assert list(record["extra"]) == ["alpha", "zeta"]
    assert record["stars"] is None and record["created"] is None
    assert record["invalid"] == {"repo_watchers": "301", "created": "soon"}


@pytest.mark.parametrize(
    "raw",
    [
        [],
        {"slug": "x"},
        {"id": "12", "slug": "x"},
        {"id": True, "slug": "x"},
        {"id": 3},
        {"id": 3, "slug": ""},
    ],
)
def test_records_without_identity_fail(raw: Any) -> None:
    with pytest.raises(RecordError):
        normalize_package(raw, api_url="u", category=None, grids=[])


def test_datetimes_become_utc_with_z() -> None:
    assert to_utc_iso("2024-07-01T12:00:00-04:00") == "2024-07-01T16:00:00Z"  # summer offset
    assert to_utc_iso("2024-01-01T00:30:00+00:00") == "2024-01-01T00:30:00Z"
    assert to_utc_iso("2024-01-15T10:00:00") == "2024-01-15T15:00:00Z"  # no offset: New York
    with pytest.raises(ValueError):
        to_utc_iso("yesterday")


def test_grid_and_category_records() -> None:
    grid = normalize_grid(
        {"id": 7, "slug": "rest", "title": "REST", "description": "d", "is_locked": False,
         "header": True, "created": "2010-01-01T00:00:00-05:00", "modified": None,
         "packages": ["..."], "rank": 3},
        api_url="https://djangopackages.org/api/v4/grids/7/",
        packages=[{"id": 4100, "slug": "django-rest-registration"}],
    )  # fmt: skip
    assert list(grid) == list(GRID_FIELDS)
    assert grid["packages"] == [{"id": 4100, "slug": "django-rest-registration"}]
    assert grid["created"] == "2010-01-01T05:00:00Z" and grid["modified"] is None
    assert grid["extra"] == {"rank": 3}
    category = normalize_category(
        {"id": 1, "slug": "apps", "title": "App", "title_plural": "Apps", "description": "",
         "show_pypi": True, "created": None, "modified": None},
        api_url="https://djangopackages.org/api/v4/categories/1/",
    )  # fmt: skip
    assert list(category) == list(CATEGORY_FIELDS)
    assert category["title_plural"] == "Apps" and category["show_pypi"] is True


# --- the fast path of well-formed packages gives the field-by-field result, byte for byte ---

_WRONG_VALUES: tuple[Any, ...] = (
    None,
    True,
    0,
    -1,
    2**53,
    1.5,
    float("nan"),
    "",
    "text",
    "2024-02-19T12:26:39-05:00",
    "2024-13-45T99:00:00",
    "0001-01-01T00:00:00+05:00",
    [],
    ["a", 1],
    ["a", "b"],
    [0] * 52,
    [1] * 51,
    [-1] + [0] * 51,
    [True] * 52,
    {"k": "v"},
)


def _package_variants() -> list[dict[str, Any]]:
    """Generated packages as the API sends them, then every API field of one of them set to
    each wrong value, removed, and joined by unknown fields."""
    from pkgharvest.fetch.normalize import _PACKAGE_API_FIELDS
    from tests.fakeapi import _render, generate_catalogue

    table = generate_catalogue(packages=200, grids=10, seed=3, hostile=True).table("packages")
    base = "http://127.0.0.1:1/api/v4/"
    raws = [_render("packages", record, base, "") for record in table.values()]
    raws += [seed(package_id) for package_id in (1083, 1327, 1686, 3050, 4100)]
    variants = list(raws)
    for name in sorted(_PACKAGE_API_FIELDS - {"id", "slug"}):
        for template in raws[:3]:
            for wrong in _WRONG_VALUES:
                variants.append({**template, name: wrong})
            variants.append({key: value for key, value in template.items() if key != name})
    variants.append({**raws[0], "zzz": 1, "aaa": [float("inf")], "repo_watchers": "many"})
    variants.append({**raws[1], "new_field": {"x": None}})
    # As many fields as the API's, one of them unknown.
    variants.append({**{k: v for k, v in raws[2].items() if k != "title"}, "tagline": "x"})
    return variants


@pytest.mark.parametrize("previous", [None, {"commits_52w": [2] * 52, "commits_52w_total": 104}])
def test_well_formed_packages_take_the_fast_path_to_the_same_bytes(
    previous: dict[str, Any] | None,
) -> None:
    from pkgharvest.fetch.normalize import _identity, _package_field_by_field
    from pkgharvest.store.recordfile import serialize_record

    links: dict[str, Any] = {"category": "https://evil.example/api/v4/categories/1/"}
    grids = [grid_ref(1), grid_ref(2)]
    compared = 0
    for raw in _package_variants():
        for problems in ({}, links):
            fast = normalize_package(
                raw,
                api_url="u",
                category=APPS,
                grids=grids,
                link_problems=problems,
                previous=previous,
            )
            slow = _package_field_by_field(_identity(raw)[0], "u", APPS, grids, problems, previous)
            assert serialize_record(fast) == serialize_record(slow), raw
            assert list(fast) == list(PACKAGE_FIELDS)
            compared += 1
    assert compared > 2000
