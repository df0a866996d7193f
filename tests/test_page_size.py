"""The default page size (issue 16, "what a full fetch costs the service"): a full fetch of a
catalogue the size of today's asks the service seven times, and bigger pages do not mean more
pages' memory in flight (docs/fetch.md)."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from pkgharvest.cli import run
from pkgharvest.config import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from pkgharvest.fetch.crawl import RECORDS_AHEAD, ListCrawler
from pkgharvest.runtime import Dependencies, RetryPolicy
from tests.fakeapi import PUBLIC_BASE_URL, FakeApi, generate_catalogue

Cap = pytest.CaptureFixture[str]


def test_a_default_full_fetch_of_6000_packages_asks_seven_times(
    tmp_path: Path, capsys: Cap
) -> None:
    asked: list[str] = []
    api = FakeApi(generate_catalogue(6000, 400), on_request=lambda _, target: asked.append(target))
    deps = Dependencies(
        transport=httpx.MockTransport(api.handler),
        retry=RetryPolicy(attempts=2),
        sleep=lambda seconds: None,
    )
    argv = ["fetch", "--base-url", PUBLIC_BASE_URL, "--data-dir", str(tmp_path), "--json"]
    assert run(argv, deps) == 0
    report = json.loads(capsys.readouterr().out)
    # The root, four pages of packages, one of grids, one of categories.
    assert report["requests"] == 7, asked
    assert sum("limit=1504" in target for target in asked) == 6
    assert report["counts"]["packages"]["new"] == 6000
    assert report["complete"] is True


def test_the_page_size_goes_up_to_5000(tmp_path: Path, capsys: Cap) -> None:
    argv = ["fetch", "--base-url", "http://127.0.0.1:9/api/v4/", "--data-dir", str(tmp_path)]
    assert run([*argv, "--page-size", str(MAX_PAGE_SIZE + 1)]) == 2
    assert "--page-size" in capsys.readouterr().err
    assert MAX_PAGE_SIZE == 5000 and DEFAULT_PAGE_SIZE == 1504


@pytest.mark.parametrize(("page_size", "pages_ahead"), [(250, 8), (1000, 2), (1504, 1), (5000, 1)])
def test_records_asked_ahead_stay_the_same_whatever_the_page_size(
    page_size: int, pages_ahead: int
) -> None:
    with ThreadPoolExecutor(max_workers=1) as pool:
        crawler = ListCrawler(None, pool, page_size=page_size, concurrency=4)  # type: ignore[arg-type]
    assert crawler.window == pages_ahead
    assert (crawler.window - 1) * page_size < RECORDS_AHEAD or crawler.window == 1
