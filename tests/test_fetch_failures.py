"""What `fetch` says when it fails (issue 7, items 19 and 20): `--json` always prints a
document, and a target the API does not have is one error line with a "did you mean"."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from pkgharvest.cli import run
from pkgharvest.runtime import Dependencies, RetryPolicy
from pkgharvest.store.transaction import Store
from tests.fakeapi import PUBLIC_BASE_URL, FakeApi, Faults, seed_catalogue
from tests.fakeproc import REPO_ROOT, harvester_argv

Cap = pytest.CaptureFixture[str]
Handler = Callable[[httpx.Request], httpx.Response]


def fetch_cli(handler: Handler, data: Path, *args: str) -> int:
    deps = Dependencies(
        transport=httpx.MockTransport(handler),
        retry=RetryPolicy(attempts=2),
        sleep=lambda seconds: None,
    )
    argv = ["fetch", "--base-url", PUBLIC_BASE_URL, "--data-dir", str(data), *args]
    return run(argv, deps)


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return tmp_path / "mirror"


def seeds() -> Handler:
    return FakeApi(seed_catalogue()).handler


def always(status: int) -> Handler:
    return lambda request: httpx.Response(status, text="<h1>down</h1>")


# --- item 19: --json prints a document whatever the outcome -------------------------------


@pytest.mark.parametrize(
    ("case", "expected"),
    [("api down", 75), ("not the api", 78), ("lock held", 4), ("bad target", 2)],
)
def test_json_prints_a_document_with_the_exit_code_and_the_error_when_the_run_fails(
    capsys: Cap, data: Path, case: str, expected: int
) -> None:
    handler = {"api down": always(503), "not the api": always(404)}.get(case, seeds())
    args = ("..",) if case == "bad target" else ()
    if case == "lock held":
        with Store(data).lock():
            code = fetch_cli(handler, data, "--json", *args)
    else:
        code = fetch_cli(handler, data, "--json", *args)
    out, err = capsys.readouterr()
    document = json.loads(out)  # stdout is one JSON document, even now
    assert code == expected and document["exit_code"] == expected
    assert document["complete"] is False and document["error"]
    assert err == f"pkgharvest: error: {document['error']}\n"  # the same error, once, on stderr
    assert {"scope", "source", "counts", "requests", "started", "finished", "seconds"} <= set(
        document
    )


def test_json_of_a_run_that_worked_says_error_null(capsys: Cap, data: Path) -> None:
    assert fetch_cli(seeds(), data, "--json") == 0
    document = json.loads(capsys.readouterr().out)
    assert document["exit_code"] == 0 and document["error"] is None


# --- item 20: a target the API does not have ------------------------------------------------


def catalogue_with_search_package() -> FakeApi:
    catalogue = seed_catalogue()
    catalogue.add_package(slug="django-search", title="django-search")
    return FakeApi(catalogue)


def test_an_unknown_target_is_one_error_line_with_a_suggestion_from_the_api_search(
    capsys: Cap, data: Path
) -> None:
    api = catalogue_with_search_package()
    code = fetch_cli(api.handler, data, "django-serch")
    out, err = capsys.readouterr()
    assert code == 5
    assert out == ""  # no "fetch PARTIAL" summary of a run that did nothing
    assert err == (
        "pkgharvest: error: not found: no package 'django-serch' in the API, "
        "did you mean 'django-search'?\n"
    )
    assert api.stats.snapshot().requests_by_kind.get("search", 0) >= 1


def test_suggestions_come_from_the_mirror_when_the_search_fails(capsys: Cap, data: Path) -> None:
    api = catalogue_with_search_package()
    assert fetch_cli(api.handler, data) == 0  # the mirror now holds django-search

    def no_search(request: httpx.Request) -> httpx.Response:
        if "/search/" in request.url.path:
            return httpx.Response(500)
        return api.handler(request)

    capsys.readouterr()
    assert fetch_cli(no_search, data, "django-serch") == 5
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and ", did you mean 'django-search'" in err


def test_one_of_two_targets_unknown_is_partial_with_one_warning(capsys: Cap, data: Path) -> None:
    api = catalogue_with_search_package()
    assert fetch_cli(api.handler, data, "django-star-ratings", "django-serch") == 3
    out, err = capsys.readouterr()
    assert out.startswith("fetch PARTIAL")
    warning = "pkgharvest: warning: no package 'django-serch' in the API"
    assert err.count(warning) == 1 and "did you mean 'django-search'?" in err


def test_no_suggestion_when_nothing_is_close(capsys: Cap, data: Path) -> None:
    assert fetch_cli(seeds(), data, "zzzzqqq") == 5
    err = capsys.readouterr().err
    assert err == "pkgharvest: error: not found: no package 'zzzzqqq' in the API\n"


def test_json_of_a_run_stopped_by_sigterm_is_a_document_with_143(tmp_path: Path) -> None:
    """A real SIGTERM to a child `pkgharvest fetch --json` held by a slow server."""
    faults = Faults(drip_interval=0.1).script(r"^/api/v4/packages/\?", "drip", times=None)
    api = FakeApi(seed_catalogue(), faults=faults)
    with api.serve() as base_url:
        child = subprocess.Popen(
            harvester_argv(base_url, tmp_path / "m", "--json"),
            cwd=REPO_ROOT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 30
        while api.stats.snapshot().faults == 0 and time.monotonic() < deadline:
            time.sleep(0.02)  # until the child waits on the dripping package list
        child.send_signal(signal.SIGTERM)
        out, err = child.communicate(timeout=30)
    assert child.returncode == 143, err
    document = json.loads(out)
    assert document["exit_code"] == 143 and "SIGTERM" in document["error"]
    assert not (tmp_path / "m" / "manifest.json").exists()


def test_json_of_a_command_line_usage_error_is_a_document_with_2(capsys: Cap, data: Path) -> None:
    code = fetch_cli(seeds(), data, "--json", "--concurrency", "0")
    out, err = capsys.readouterr()
    document = json.loads(out)
    assert code == 2 and document["exit_code"] == 2
    assert document["error"] == "--concurrency: must be at least 1 (got 0)"
    assert err == f"pkgharvest: error: {document['error']}\n"
