"""Unbounded memory and time (issue 7, items 8, 9 and 14's API parts): a hostile server on
127.0.0.1 (tests/fakeapi.py's gzip bomb, endless body and drip) against a real `pkgharvest
fetch`, its peak RSS measured with wait4, and the deadlines of one request and of a run.

The fetch runs in a child process, through the CLI, with two attempts and no backoff sleeps
(the Dependencies object the CLI takes), so that what is measured is pkgharvest alone and the
suite stays fast.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from pkgharvest.api.client import ApiClient, parse_retry_after
from pkgharvest.api.links import ApiBase
from pkgharvest.cli import run
from pkgharvest.errors import DeadlinePassed, ExitCode
from pkgharvest.fetch.run import FetchOptions, fetch
from pkgharvest.records import Kind
from pkgharvest.runtime import Dependencies, RequestLimits, RetryPolicy
from tests.fakeapi import PUBLIC_BASE_URL, FakeApi, Faults, generate_catalogue, seed_catalogue
from tests.fakeproc import quick_retry_argv, run_measured
from tests.test_api import FakeTime, ok

PACKAGE_LIST = r"^/api/v4/packages/\?"


def fetch_child(base_url: str, data: Path, *extra: str) -> tuple[int, str, int, float]:
    """`pkgharvest fetch --quiet` in a child; (exit code, stderr, peak RSS in bytes, seconds)."""
    measured = run_measured(quick_retry_argv(base_url, data, "--quiet", *extra))
    assert measured.exit_code is not None
    return measured.exit_code, measured.stderr, measured.peak_rss, measured.seconds


@pytest.fixture(scope="module")
def catalogue_size() -> dict[str, int]:
    return {"packages": 300, "grids": 20}


def serve(faults: Faults | None, catalogue_size: dict[str, int]) -> FakeApi:
    return FakeApi(generate_catalogue(seed=4, **catalogue_size), faults=faults)


@pytest.fixture(scope="module")
def baseline_rss(tmp_path_factory: pytest.TempPathFactory, catalogue_size: dict[str, int]) -> int:
    """The peak RSS of a complete, healthy fetch of the same catalogue."""
    with serve(None, catalogue_size).serve() as base_url:
        code, err, rss, _ = fetch_child(base_url, tmp_path_factory.mktemp("healthy") / "m")
    assert code == 0, err
    return rss


MIB = 1024 * 1024
CAP = RequestLimits().max_body_bytes


@pytest.mark.parametrize("attack", ["gzip-bomb", "endless"])
def test_a_huge_body_costs_at_most_the_cap(
    tmp_path: Path, catalogue_size: dict[str, int], baseline_rss: int, attack: str
) -> None:
    """The package list answers with a 2 MB gzip body that inflates to 256 MB (or a chunked
    body that never ends), on every attempt: the run fails as "try again later", its memory
    grows by no more than a few times the cap, and the mirror is untouched."""
    faults = Faults().script(PACKAGE_LIST, attack, times=None)
    data = tmp_path / "mirror"
    with serve(faults, catalogue_size).serve() as base_url:
        code, err, rss, _ = fetch_child(base_url, data)
    assert code == ExitCode.TEMPFAIL, err
    assert err.count("\n") == 1 and f"larger than the {CAP:,}-byte limit" in err
    growth = rss - baseline_rss
    print(f"{attack}: peak RSS {rss / MIB:.0f} MiB (healthy run {baseline_rss / MIB:.0f} MiB)")
    assert growth < 3 * CAP, f"peak RSS grew by {growth / MIB:.0f} MiB"
    assert not (data / "manifest.json").exists()


def test_a_dripping_body_is_cut_at_the_request_deadline(tmp_path: Path) -> None:
    """A byte every 0.05 s never trips the read timeout; the request's own deadline (0.5 s
    here, 60 s by default) ends each attempt, so the run ends, as exit 75."""
    faults = Faults(drip_interval=0.05).script(PACKAGE_LIST, "drip", times=None)
    deps = Dependencies(
        retry=RetryPolicy(attempts=2),
        limits=RequestLimits(deadline=0.5),
        sleep=lambda seconds: None,
    )
    with FakeApi(seed_catalogue(), faults=faults).serve() as base_url:
        started = time.monotonic()
        with pytest.raises(Exception) as caught:
            fetch(FetchOptions(base_url=base_url, data_dir=tmp_path / "m"), deps)
        seconds = time.monotonic() - started
    print(f"drip: the run ended after {seconds:.2f} s (2 attempts x 0.5 s deadline)")
    assert getattr(caught.value, "exit_code", None) == ExitCode.TEMPFAIL
    assert "no complete answer within 0.5 s" in str(caught.value)
    assert seconds < 2 * 0.5 + 3.0  # two attempts at the deadline, and some slack for load


def test_the_run_deadline_ends_a_dripping_run_with_exit_75(tmp_path: Path) -> None:
    """--timeout bounds the whole run even when every request is within its own deadline."""
    faults = Faults(drip_interval=0.2).script(PACKAGE_LIST, "drip", times=None)
    data = tmp_path / "mirror"
    with FakeApi(seed_catalogue(), faults=faults).serve() as base_url:
        code, err, _, seconds = fetch_child(base_url, data, "--timeout", "1.5")
    print(f"drip with --timeout 1.5: exit {code} after {seconds:.2f} s")
    assert code == ExitCode.TEMPFAIL, err
    assert err.startswith("pkgharvest: error: the run took longer than --timeout 1.5 s")
    assert err.count("\n") == 1 and "the mirror is unchanged" in err
    assert seconds < 1.5 + 5.0  # the child's start-up, and slack for a loaded machine
    assert not (data / "manifest.json").exists()


# --- waits count against the run's deadline (fake clock, no real sleeps) -----------------


def client_with(
    clock: FakeTime,
    answers: list[httpx.Response],
    *,
    run_timeout: float,
    retry: RetryPolicy | None = None,
) -> ApiClient:
    """A client answered by `answers` in turn, on a fake clock, with a run deadline."""
    replies = iter(answers)
    deps = Dependencies(
        transport=httpx.MockTransport(lambda request: next(replies)),
        retry=retry or RetryPolicy(attempts=3),
        sleep=clock.sleep,
        clock=clock.clock,
    )
    return ApiClient(ApiBase.parse(PUBLIC_BASE_URL), deps, run_timeout=run_timeout)


def test_a_retry_after_past_the_run_deadline_ends_the_run_without_waiting() -> None:
    clock = FakeTime()
    too_long = httpx.Response(429, headers={"Retry-After": "100"})
    client = client_with(clock, [too_long, ok()], run_timeout=50)
    with pytest.raises(DeadlinePassed) as caught:
        client.get_page(Kind.PACKAGE, offset=0, limit=20)
    assert clock.sleeps == []  # it did not sleep 100 s first (nor 50)
    assert "--timeout 50 s" in str(caught.value)


def test_waits_within_the_run_deadline_are_waited() -> None:
    clock = FakeTime()
    short = httpx.Response(429, headers={"Retry-After": "10"})
    client = client_with(clock, [short, ok()], run_timeout=50)
    assert client.get_page(Kind.PACKAGE, offset=0, limit=20).count == 1
    assert 10.0 in clock.sleeps


def test_the_throttle_pause_never_sleeps_past_the_run_deadline() -> None:
    clock = FakeTime()
    policy = RetryPolicy(attempts=3, throttle_pause=500.0, backoff_initial=0.1)
    client = client_with(clock, [httpx.Response(429), ok()], run_timeout=60, retry=policy)
    with pytest.raises(DeadlinePassed):
        client.get_page(Kind.PACKAGE, offset=0, limit=20)
    assert sum(clock.sleeps) <= 60


# --- item 14: the API's odd answers are failures with their codes, never exit 1 ----------


def test_retry_after_with_a_digit_float_refuses_is_ignored() -> None:
    assert parse_retry_after("²") is None  # str.isdigit() says yes; float() says no
    assert parse_retry_after("٣") is None  # Arabic-Indic three: not an HTTP delta-seconds
    assert parse_retry_after("7") == 7.0


def cli_fetch(handler: Callable[[httpx.Request], httpx.Response], data: Path) -> int:
    deps = Dependencies(
        transport=httpx.MockTransport(handler),
        retry=RetryPolicy(attempts=2),
        sleep=lambda seconds: None,
    )
    return run(["fetch", "--base-url", PUBLIC_BASE_URL, "--data-dir", str(data)], deps)


def test_a_503_with_retry_after_superscript_two_is_retried(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    api = FakeApi(seed_catalogue())
    answered = []

    def handler(request: httpx.Request) -> httpx.Response:
        if "packages/?" in str(request.url) and not answered:
            answered.append(request)
            return httpx.Response(503, headers={"Retry-After": "²".encode()})
        return api.handler(request)

    assert cli_fetch(handler, tmp_path / "m") == 0, capsys.readouterr().err


def test_a_page_of_100000_nested_brackets_is_a_failed_page_not_a_crash(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    api = FakeApi(seed_catalogue())
    deep = b"[" * 100_000 + b"]" * 100_000

    def handler(request: httpx.Request) -> httpx.Response:
        if "packages/?" in str(request.url):
            return httpx.Response(200, content=deep, headers={"Content-Type": "application/json"})
        return api.handler(request)

    assert cli_fetch(handler, tmp_path / "m") == ExitCode.TEMPFAIL
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nested too deeply" in err
    assert not (tmp_path / "m" / "manifest.json").exists()
