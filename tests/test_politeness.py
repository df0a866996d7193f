"""Politeness, seen from the server's side: never more than --concurrency requests in flight,
a slow-down after a 429, and an identifying User-Agent on every request.

Overlap is made certain with a gate inside the fake server (requests are held until
--concurrency of them are in flight), not with sleeps; waits the harvester makes go to a fake
clock, which the fake server also uses to stamp request start times.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import pkgharvest
from pkgharvest import cli
from pkgharvest.errors import ExitCode
from pkgharvest.runtime import Dependencies, RetryPolicy
from tests.fakeapi import FakeApi, Faults, generate_catalogue
from tests.faultkit import FakeTime, Gate, fetch_mock, fetch_served, mirror_differences

# 100 packages at 10 a page (8 apart, overlapping by 2): the first page, then 12 more, read
# concurrently (12 is a multiple of 2, 3 and 4, so the gate's batches always fill).
PACKAGES, GRIDS, PAGE_SIZE = 100, 8, 10
EXPECTED_USER_AGENT = (
    f"pkgharvest/{pkgharvest.__version__} (+https://github.com/pkgharvest/pkgharvest)"
)


def later_package_page(target: str) -> bool:
    """A package list page after the first (those are fetched concurrently)."""
    return target.startswith("/api/v4/packages/?") and not target.endswith("offset=0")


@pytest.mark.parametrize("concurrency", [1, 2, 4])
def test_never_more_than_concurrency_requests_in_flight(tmp_path: Path, concurrency: int) -> None:
    """Requests are held unanswered long enough for one more to arrive: it never does."""
    catalogue = generate_catalogue(PACKAGES, GRIDS)
    gate = Gate(release_at=concurrency + 1, matches=later_package_page)
    api = FakeApi(catalogue, on_request=gate.on_request)

    with api.serve() as base_url:
        report = fetch_served(base_url, tmp_path, concurrency=concurrency, page_size=PAGE_SIZE)

    assert report.exit_code == ExitCode.OK
    assert len(gate.targets) == 12
    # Overlap really happened (--concurrency held at once), and never more.
    assert max(gate.held_at_arrival) == concurrency
    assert api.stats.max_in_flight <= concurrency + 1  # +1: a reply still being written
    assert mirror_differences(tmp_path, catalogue, base_url=base_url) == []


def test_a_429_makes_everyone_wait_out_retry_after(tmp_path: Path) -> None:
    """With Retry-After: 30 on one page, no request starts within those 30 s of (fake) time,
    except those already on their way when the 429 arrived; the page is asked again after."""
    time = FakeTime()
    faults = Faults(retry_after="30").script(r"/packages/\?limit=10&offset=48$", "429-retry-after")
    api = FakeApi(generate_catalogue(PACKAGES, GRIDS), faults=faults, clock=time.clock)

    report = fetch_mock(api, tmp_path, concurrency=4, page_size=PAGE_SIZE, time=time)

    assert report.exit_code == ExitCode.OK
    paths, starts = api.stats.paths, api.stats.request_starts
    throttled = paths.index("/api/v4/packages/?limit=10&offset=48")
    at = starts[throttled]
    early = [p for p, s in zip(paths[throttled + 1 :], starts[throttled + 1 :], strict=True)
             if s < at + 30]  # fmt: skip
    assert len(early) <= 3, early  # at most the other requests already in flight
    retried = paths.index("/api/v4/packages/?limit=10&offset=48", throttled + 1)
    assert starts[retried] >= at + 30
    assert max(time.sleeps) >= 30


def test_a_429_without_retry_after_still_pauses_and_backs_off(tmp_path: Path) -> None:
    time = FakeTime()
    policy = RetryPolicy(throttle_pause=2.0)
    faults = Faults().script(r"/packages/\?limit=10&offset=48$", "429", times=2)
    api = FakeApi(generate_catalogue(PACKAGES, GRIDS), faults=faults, clock=time.clock)

    report = fetch_mock(api, tmp_path, concurrency=4, page_size=PAGE_SIZE, time=time, retry=policy)

    assert report.exit_code == ExitCode.OK and report.retries == 2
    paths, starts = api.stats.paths, api.stats.request_starts
    tries = [i for i, p in enumerate(paths) if p == "/api/v4/packages/?limit=10&offset=48"]
    assert len(tries) == 3
    first_429, second_429, success = (starts[i] for i in tries)
    assert second_429 - first_429 >= 2.0 and success - second_429 >= 2.0
    after = [s for s in starts[tries[0] + 1 :] if s < first_429 + 2.0]
    assert len(after) <= 3


def test_after_a_429_fewer_requests_are_in_flight(tmp_path: Path) -> None:
    """At --concurrency 4, one 429: the next requests come at most two at a time."""
    catalogue = generate_catalogue(220, GRIDS)  # 21 pages after the first
    faults = Faults(retry_after="0").script(r"/packages/\?limit=10&offset=80$", "429-retry-after")
    gate = Gate(release_at=5, matches=later_package_page)
    api = FakeApi(catalogue, faults=faults, on_request=gate.on_request)

    with api.serve() as base_url:
        report = fetch_served(base_url, tmp_path, concurrency=4, page_size=PAGE_SIZE)

    assert report.exit_code == ExitCode.OK
    throttled = gate.targets.index("/api/v4/packages/?limit=10&offset=80")
    batch_429 = gate.batch_at_arrival[throttled]
    held = list(zip(gate.batch_at_arrival, gate.held_at_arrival, strict=True))
    assert max(n for batch, n in held if batch < batch_429) == 4
    # The batch after the 429's holds what was sent before the 429 was read (at most the 3
    # other slots); from then on, at most 2 at once.
    assert max(n for batch, n in held if batch == batch_429 + 1) <= 3
    later = [n for batch, n in held if batch > batch_429 + 1]
    assert len(later) >= 6 and max(later) <= 2, held


def test_every_request_carries_the_user_agent_and_asks_for_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through the real command: list pages, record lookups (a targeted fetch) and retries."""
    deps = Dependencies(retry=RetryPolicy(backoff_initial=0.001, backoff_max=0.002))
    catalogue = generate_catalogue(PACKAGES, GRIDS)
    api = FakeApi(catalogue, faults=Faults(rate=0.2, kinds=("503", "reset"), seed=1))
    slug = catalogue.packages[max(catalogue.packages)]["slug"]
    root = str(tmp_path)
    with api.serve() as base_url:
        assert cli.run(["fetch", "--base-url", base_url, "--data-dir", root, "-q"], deps) == 0
        assert cli.run(["fetch", slug, "--base-url", base_url, "--data-dir", root, "-q"], deps) == 0
    capsys.readouterr()

    assert api.stats.faults > 0
    assert api.stats.requests_by_kind.get("package", 0) >= 1  # the targeted lookup
    assert api.stats.user_agents == {EXPECTED_USER_AGENT}
    assert api.stats.accepts == {"application/json"}
