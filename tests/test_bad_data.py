"""Bad data from the API, and odd data already in a mirror (issue 7, items 13 and 14).

The API is untrusted: whatever it sends becomes a stored record with the bad value kept under
`invalid` (or a failed record), never a crash (exit 1), never a record file that other JSON
readers cannot parse, and never something a later run or a reading command chokes on.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from pkgharvest.errors import ExitCode
from pkgharvest.fetch.run import FetchOptions, FetchReport, fetch
from pkgharvest.runtime import Dependencies, RetryPolicy
from tests.fakeapi import PUBLIC_BASE_URL, FakeApi, seed_catalogue
from tests.mirrorbuilder import run_cli, seed_content, synthetic_package, write_mirror

MP = pytest.MonkeyPatch
Cap = pytest.CaptureFixture[str]

Handler = Callable[[httpx.Request], httpx.Response]


def body_rewriter(handler: Handler, replacements: dict[bytes, bytes]) -> Handler:
    """`handler` with bytes of every response body replaced: how a test sends what no JSON
    encoder would write (`NaN`, `Infinity`), as a hostile or buggy server does."""

    def rewrite(request: httpx.Request) -> httpx.Response:
        response = handler(request)
        body = response.read()
        for old, new in replacements.items():
            body = body.replace(old, new)
        headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
        return httpx.Response(response.status_code, headers=headers, content=body)

    return rewrite


def run_fetch(handler: Handler, data: Path, **options: Any) -> FetchReport:
    deps = Dependencies(
        transport=httpx.MockTransport(handler),
        retry=RetryPolicy(attempts=2),
        sleep=lambda seconds: None,
    )
    return fetch(FetchOptions(base_url=PUBLIC_BASE_URL, data_dir=data, **options), deps)


def strict_json(path: Path) -> Any:
    """Parse as a strict reader would (JavaScript's JSON.parse, Go, jq): no NaN or Infinity."""

    def refuse(token: str) -> Any:
        raise AssertionError(f"{path} holds {token}, which standard JSON does not allow")

    return json.loads(path.read_bytes(), parse_constant=refuse)


def package_file(data: Path, package_id: int) -> Path:
    for path in (data / "packages").glob("*.json"):
        if json.loads(path.read_bytes())["id"] == package_id:
            return path
    raise AssertionError(f"no record file for package {package_id}")


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return tmp_path / "mirror"


# --- item 13: only finite numbers; exactly 52 weekly counts ---------------------------------


def test_nan_and_infinity_are_stored_as_text_so_record_files_are_standard_json(
    data: Path,
) -> None:
    catalogue = seed_catalogue()
    catalogue.update_package(3050, repo_watchers="@NAN@", repo_forks="@INF@", pypi_version="@X@")
    unknown_field = b'"pypi_version":null,"score":{"mean":-Infinity,"samples":[1.5,1e999]}'
    handler = body_rewriter(  # 1e999 parses as inf
        FakeApi(catalogue).handler,
        {b'"@NAN@"': b"NaN", b'"@INF@"': b"Infinity", b'"pypi_version":"@X@"': unknown_field},
    )
    report = run_fetch(handler, data)
    assert report.exit_code is ExitCode.OK
    for path in data.rglob("*.json"):
        strict_json(path)
    record = strict_json(package_file(data, 3050))
    assert record["stars"] is None and record["forks"] is None
    assert record["invalid"]["repo_watchers"] == "NaN"
    assert record["invalid"]["repo_forks"] == "Infinity"
    assert record["extra"]["score"] == {"mean": "-Infinity", "samples": [1.5, "Infinity"]}


@pytest.mark.parametrize(
    ("name", "weeks"),
    [
        ("three weeks", [1, 2, 3]),
        ("53 weeks", [1] * 53),
        ("two million weeks", [7] * 2_000_000),
        ("a negative count", [0] * 51 + [-1]),
        ("true as a count", [0] * 51 + [True]),
        ("a float count", [0] * 51 + [1.0]),
        ("a count past 2**53", [0] * 51 + [2**60]),
    ],
)
def test_commits_over_52_other_than_52_counts_is_invalid_and_never_ranked(
    monkeypatch: MP, capsys: Cap, data: Path, name: str, weeks: list[Any]
) -> None:
    catalogue = seed_catalogue()
    catalogue.update_package(3050, commits_over_52=weeks)
    assert run_fetch(FakeApi(catalogue).handler, data).exit_code is ExitCode.OK
    path = package_file(data, 3050)
    record = strict_json(path)
    assert record["commits_52w"] is None and record["commits_52w_total"] is None, name
    assert "commits_over_52" in record["invalid"]
    assert path.stat().st_size < 64_000  # not a 6 MB record for one hostile field
    ranked = run_cli(
        monkeypatch, capsys, "top", "--by", "commits", "--json", "--data-dir", str(data)
    )
    assert ranked.code == 0
    assert json.loads(ranked.out)[0]["id"] != 3050  # unknown activity sorts last


def test_a_deeply_nested_value_is_kept_as_a_note(data: Path) -> None:
    catalogue = seed_catalogue()
    catalogue.update_package(3050, pypi_version="@X@", repo_description="@Y@")
    deep = b"[" * 900 + b"]" * 900  # json parses this; writers and readers recurse 900 deep
    handler = body_rewriter(
        FakeApi(catalogue).handler,
        {b'"pypi_version":"@X@"': b'"pypi_version":null,"tree":' + deep, b'"@Y@"': deep},
    )
    assert run_fetch(handler, data).exit_code is ExitCode.OK
    record = strict_json(package_file(data, 3050))
    assert "nested deeper than" in record["extra"]["tree"]
    assert "nested deeper than" in record["invalid"]["repo_description"]


# --- item 14: each bad value is a failed record or an invalid field, never exit 1 ----------


@pytest.mark.parametrize(
    "date",
    [
        "0001-01-01T00:00:00+05:00",  # year 0 in UTC
        "9999-12-31T23:00:00",  # New York time: year 10000 in UTC
        "9999-12-31T23:59:59-05:00",
    ],
)
def test_a_date_that_overflows_in_utc_is_invalid_and_later_runs_work(data: Path, date: str) -> None:
    catalogue = seed_catalogue()
    catalogue.update_package(3050, last_updated=date, created=date)
    api = FakeApi(catalogue)
    first = run_fetch(api.handler, data)
    assert first.exit_code is ExitCode.OK
    record = strict_json(package_file(data, 3050))
    assert record["last_commit"] is None and record["created"] is None
    assert record["invalid"]["last_updated"] == date
    second = run_fetch(api.handler, data)  # the API still sends it: every run still works
    assert second.exit_code is ExitCode.OK and second.counts["packages"].unchanged == 5


def test_a_package_with_an_id_of_2_63_fails_alone(data: Path) -> None:
    catalogue = seed_catalogue()
    catalogue.add_package(id=2**63, slug="huge-id")
    catalogue.add_package(id=2**64 + 7, slug="huger-id")
    report = run_fetch(FakeApi(catalogue).handler, data)
    assert report.exit_code is ExitCode.PARTIAL  # a failed record: exit 3, the rest kept
    assert report.counts["packages"].failed == 2 and report.counts["packages"].new == 5
    assert any("usable id" in notice for notice in report.notices)


def test_a_grid_linking_to_an_id_of_2_63_keeps_the_link_as_invalid(data: Path) -> None:
    catalogue = seed_catalogue()
    grid_id = next(iter(catalogue.grids))
    grid = catalogue.grids[grid_id]
    catalogue.grids[grid_id] = {**grid, "packages": [*grid["packages"], 2**63]}
    catalogue.update_package(3050, grids=[grid_id, 2**63 + 1])
    catalogue.touched()
    report = run_fetch(FakeApi(catalogue).handler, data)
    assert report.exit_code is ExitCode.OK
    stored = [strict_json(p) for p in (data / "grids").glob("*.json")]
    bad = next(g for g in stored if g["id"] == grid_id)
    assert any(str(2**63) in link for link in bad["invalid"]["packages"])
    package = strict_json(package_file(data, 3050))
    assert any(str(2**63 + 1) in link for link in package["invalid"]["grids"])


EXTREME_DATES = {
    "last_fetched": "0001-01-01T00:00:00Z",
    "last_commit": "9999-12-31T23:59:59Z",
    "created": "0001-01-01T00:00:00+05:00",  # hand-edited: overflows when made UTC
    "modified": "not a date",
}


@pytest.fixture
def odd_mirror(tmp_path: Path) -> Path:
    """A mirror whose records hold dates at the very edges (and past them), as an older version
    or a hand edit could have left them."""
    content = seed_content()
    content.packages.append(synthetic_package(9001, "edge-of-time", **EXTREME_DATES))
    return write_mirror(tmp_path / "mirror", content)


@pytest.mark.parametrize(
    "command",
    [
        ("show", "edge-of-time"),
        ("show", "edge-of-time", "--json"),
        ("top", "--by", "last-commit"),
        ("top", "--by", "last-commit", "--json"),
        ("export",),
        ("export", "--format", "json"),
    ],
)
def test_reading_a_record_with_dates_at_the_edges_of_time(
    monkeypatch: MP, capsys: Cap, odd_mirror: Path, command: tuple[str, ...]
) -> None:
    result = run_cli(monkeypatch, capsys, *command, "--data-dir", str(odd_mirror))
    assert result.code == 0, result.err
    assert "edge-of-time" in result.out


def test_fetch_over_a_mirror_with_dates_at_the_edges_of_time(odd_mirror: Path) -> None:
    report = run_fetch(FakeApi(seed_catalogue()).handler, odd_mirror, targets=("3050",))
    assert report.exit_code is ExitCode.OK


def test_show_with_a_5000_digit_id_is_not_found(
    monkeypatch: MP, capsys: Cap, odd_mirror: Path
) -> None:
    result = run_cli(monkeypatch, capsys, "show", "9" * 5000, "--data-dir", str(odd_mirror))
    assert result.code == ExitCode.NOT_FOUND
    assert result.err.startswith("pkgharvest: error: no package") and result.err.count("\n") == 1
    assert len(result.err) < 300  # the 5,000 digits are not echoed back whole
