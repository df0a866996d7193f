"""The API's address space: which links the harvester follows."""

from __future__ import annotations

import pytest

from pkgharvest.api.links import ApiBase, strip_format_param
from pkgharvest.errors import ForeignLink, UsageError
from pkgharvest.records import Kind

BASE = ApiBase.parse("https://djangopackages.org/api/v4/")


def test_base_url_gets_a_trailing_slash_and_explicit_port() -> None:
    base = ApiBase.parse("https://djangopackages.org/api/v4")
    assert base.url == "https://djangopackages.org/api/v4/"
    assert base.port == 443
    local = ApiBase.parse("http://127.0.0.1:8123/api/v4/")
    assert local.url == "http://127.0.0.1:8123/api/v4/"


@pytest.mark.parametrize(
    "url", ["ftp://x/api/", "djangopackages.org/api/v4/", "http://", "http://h:99999/"]
)
def test_bad_base_urls_are_usage_errors(url: str) -> None:
    with pytest.raises(UsageError):
        ApiBase.parse(url)


def test_format_api_is_stripped_and_other_parameters_kept() -> None:
    assert strip_format_param("https://h/api/v4/grids/7/?format=api") == "https://h/api/v4/grids/7/"
    assert strip_format_param("https://h/x/?limit=5&format=api&offset=10") == (
        "https://h/x/?limit=5&offset=10"
    )


def test_seed_links_resolve_to_ids() -> None:
    link = "https://djangopackages.org/api/v4/categories/1/?format=api"
    assert BASE.record_link(link, Kind.CATEGORY) == 1
    assert (
        BASE.record_link("https://djangopackages.org/api/v4/grids/145/?format=api", Kind.GRID)
        == 145
    )


@pytest.mark.parametrize(
    "link",
    [
        "https://evil.example/api/v4/categories/1/",
        "http://djangopackages.org/api/v4/categories/1/",  # other scheme
        "https://djangopackages.org:8443/api/v4/categories/1/",  # other port
        "https://djangopackages.org/admin/categories/1/",  # outside the base path
        "https://djangopackages.org@evil.example/api/v4/categories/1/",  # userinfo trick
        "https://djangopackages.org/api/v4/../../admin/categories/1/",
    ],
)
def test_links_outside_the_api_are_refused(link: str) -> None:
    with pytest.raises(ForeignLink):
        BASE.checked(link)


def test_a_link_to_the_wrong_kind_is_not_a_record_link() -> None:
    with pytest.raises(ValueError):
        BASE.record_link("https://djangopackages.org/api/v4/grids/1/", Kind.CATEGORY)
    with pytest.raises(ValueError):
        BASE.record_link("https://djangopackages.org/api/v4/categories/apps/", Kind.CATEGORY)
    with pytest.raises(ValueError):
        BASE.record_link(17, Kind.CATEGORY)


def test_detail_urls_quote_untrusted_keys() -> None:
    assert BASE.detail_url(Kind.PACKAGE, "../admin") == (
        "https://djangopackages.org/api/v4/packages/..%2Fadmin/"
    )


def test_a_remembered_link_answers_for_its_own_kind_only_and_a_foreign_one_always_raises() -> None:
    base = ApiBase.parse("https://djangopackages.org/api/v4/")
    grid = "https://djangopackages.org/api/v4/grids/145/"
    assert base.record_link(grid, Kind.GRID) == 145
    assert base.record_link(grid, Kind.GRID) == 145  # from memory now
    with pytest.raises(ValueError, match="not a link"):
        base.record_link(grid, Kind.CATEGORY)
    foreign = "https://evil.example/api/v4/grids/145/"
    for _ in range(2):  # a link that failed is not remembered: it fails every time
        with pytest.raises(ForeignLink):
            base.record_link(foreign, Kind.GRID)
