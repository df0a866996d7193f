"""The HTTP client: politeness, retries and what counts as data. No real sleeps: waits recorded."""

from __future__ import annotations

import contextlib
import json
import ssl
import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from pkgharvest import USER_AGENT
from pkgharvest.api.client import ApiClient, Throttle, no_certificates_context
from pkgharvest.api.links import ApiBase
from pkgharvest.errors import ApiNotFound, ForeignLink, GaveUp, TooManyRedirects
from pkgharvest.events import Event, Notice, Retrying
from pkgharvest.records import Kind
from pkgharvest.runtime import Dependencies, RetryPolicy

BASE = ApiBase.parse("http://api.test/api/v4/")
PAGE = {"count": 1, "next": None, "previous": None, "results": [{"id": 1, "slug": "a"}]}


class FakeTime:
    """A clock that only moves when something sleeps; thread-safe."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self.now += seconds


def scripted(
    responses: list[httpx.Response | Exception],
) -> tuple[Callable[..., Any], list[httpx.Request]]:
    """A handler answering each request with the next scripted response."""
    seen: list[httpx.Request] = []
    answers: Iterator[httpx.Response | Exception] = iter(responses)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    return handler, seen


def ok(body: Any = PAGE) -> httpx.Response:
    return httpx.Response(200, json=body)


def client_for(handler: Callable[..., Any], time: FakeTime, events: list[Event] | None = None,
               **kwargs: Any) -> ApiClient:  # fmt: skip
    sink = events.append if events is not None else (lambda e: None)
    concurrency = kwargs.pop("concurrency", 4)
    deps = Dependencies(
        transport=httpx.MockTransport(handler),
        sleep=time.sleep,
        clock=time.clock,
        on_event=sink,
        **kwargs,
    )
    return ApiClient(BASE, deps, concurrency=concurrency)


def test_every_request_identifies_itself_and_asks_for_json() -> None:
    handler, seen = scripted([ok()])
    client_for(handler, FakeTime()).get_page(Kind.PACKAGE, offset=0, limit=100)
    assert seen[0].headers["User-Agent"] == USER_AGENT
    assert USER_AGENT.startswith("pkgharvest/") and "(+http" in USER_AGENT
    assert seen[0].headers["Accept"] == "application/json"
    assert str(seen[0].url) == "http://api.test/api/v4/packages/?limit=100&offset=0"


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_are_retried_with_growing_jittered_backoff(status: int) -> None:
    time = FakeTime()
    handler, seen = scripted([httpx.Response(status)] * 3 + [ok()])
    client = client_for(handler, time)
    page = client.get_page(Kind.PACKAGE, offset=0, limit=20)
    assert page.count == 1 and len(seen) == 4
    assert client.retries == 3 and client.requests == 4
    assert len(time.sleeps) == 3 and all(0 < s <= 30 for s in time.sleeps)


@pytest.mark.parametrize(("header", "waited"), [("7", 7.0), ("0", 0.5), ("100000", 120.0)])
def test_retry_after_is_honoured_with_a_floor_and_a_cap(header: str, waited: float) -> None:
    time, events = FakeTime(), []
    handler, _ = scripted([httpx.Response(429, headers={"Retry-After": header}), ok()])
    client_for(handler, time, events).get_page(Kind.PACKAGE, offset=0, limit=20)
    assert waited in time.sleeps
    capped = [e for e in events if isinstance(e, Notice)]
    assert bool(capped) == (header == "100000")


def test_a_429_slows_everyone_down() -> None:
    time = FakeTime()
    handler, _ = scripted([httpx.Response(429, headers={"Retry-After": "3"}), ok()])
    client = client_for(handler, time, concurrency=4)
    client.get_page(Kind.PACKAGE, offset=0, limit=20)
    assert client.throttle.allowed == 2  # concurrency halved
    assert time.now >= 3


@pytest.mark.parametrize(
    "bad",
    [
        httpx.Response(200, text="<html><body>Down for maintenance</body></html>",
                       headers={"Content-Type": "text/html"}),
        httpx.Response(200, content=json.dumps(PAGE).encode()[:25],
                       headers={"Content-Type": "application/json"}),
        httpx.Response(200, content=b"{not json", headers={"Content-Type": "application/json"}),
        httpx.Response(200, json={"detail": "odd"}),  # JSON, but not a list page
        httpx.ReadTimeout("slow"),
        httpx.ConnectError("refused"),
        httpx.RemoteProtocolError("peer closed connection"),
    ],
)  # fmt: skip
def test_an_answer_that_is_not_data_is_a_failed_attempt(bad: httpx.Response | Exception) -> None:
    handler, seen = scripted([bad, ok()])
    page = client_for(handler, FakeTime()).get_page(Kind.PACKAGE, offset=0, limit=20)
    assert page.results == PAGE["results"] and len(seen) == 2


def test_404_is_not_retried() -> None:
    handler, seen = scripted([httpx.Response(404, json={"detail": "Not found."})])
    with pytest.raises(ApiNotFound):
        client_for(handler, FakeTime()).get_record(Kind.PACKAGE, "nope")
    assert len(seen) == 1


def test_giving_up_after_the_last_attempt() -> None:
    time, events = FakeTime(), []
    handler, seen = scripted([httpx.Response(503)] * 4)
    client = client_for(handler, time, events, retry=RetryPolicy(attempts=4))
    with pytest.raises(GaveUp) as failure:
        client.get_page(Kind.PACKAGE, offset=0, limit=20)
    assert len(seen) == 4 and "503" in str(failure.value)
    assert [e.attempt for e in events if isinstance(e, Retrying)] == [1, 2, 3]


def test_redirects_inside_the_api_are_followed() -> None:
    handler, seen = scripted(
        [httpx.Response(301, headers={"Location": "/api/v4/packages/7/"}), ok({"id": 7})]
    )
    record = client_for(handler, FakeTime()).get_link("http://api.test/api/v4/packages/7")
    assert record == {"id": 7} and str(seen[1].url) == "http://api.test/api/v4/packages/7/"


def test_redirects_and_links_to_other_hosts_are_never_followed() -> None:
    handler, seen = scripted([httpx.Response(302, headers={"Location": "http://evil.test/x/"})])
    client = client_for(handler, FakeTime())
    with pytest.raises(ForeignLink):
        client.get_record(Kind.PACKAGE, 7)
    with pytest.raises(ForeignLink):
        client.get_link("http://evil.test/api/v4/packages/7/")
    assert [str(r.url) for r in seen] == ["http://api.test/api/v4/packages/7/"]


def test_a_plain_http_api_loads_no_certificates_and_never_turns_to_tls(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    loaded: list[object] = []
    load = ssl.SSLContext.load_verify_locations

    def counting(self: ssl.SSLContext, *args: Any, **kwargs: Any) -> None:
        loaded.append(args or kwargs)
        load(self, *args, **kwargs)

    monkeypatch.setattr(ssl.SSLContext, "load_verify_locations", counting)
    # The network clients (no transport handed in): https verifies against a certificate
    # store; http loads none (api.no_certificates_context), ~60 ms and 1.3 MB a run.
    ApiClient(ApiBase.parse("https://api.test/api/v4/"), Dependencies(), concurrency=1).close()
    assert loaded
    loaded.clear()
    ApiClient(ApiBase.parse("http://api.test/api/v4/"), Dependencies(), concurrency=1).close()
    assert loaded == []
    # Why that is safe: a redirect to https, even on the same host, leaves the API and is not
    # followed...
    handler, seen = scripted(
        [httpx.Response(301, headers={"Location": "https://api.test/api/v4/"})]
    )
    with pytest.raises(ForeignLink):
        client_for(handler, FakeTime()).get_record(Kind.PACKAGE, 7)
    assert len(seen) == 1
    # ...and were a TLS connection ever attempted, its context would trust no certificate.
    context = no_certificates_context()
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert context.cert_store_stats()["x509"] == 0


def test_format_api_is_stripped_before_a_link_is_followed() -> None:
    handler, seen = scripted([ok({"id": 1})])
    client_for(handler, FakeTime()).get_link("http://api.test/api/v4/categories/1/?format=api")
    assert str(seen[0].url) == "http://api.test/api/v4/categories/1/"


def test_never_more_than_concurrency_requests_in_flight() -> None:
    limit, callers = 3, 12
    lock = threading.Lock()
    in_flight = peak = 0
    rendezvous = threading.Barrier(limit, timeout=5)

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        with lock:
            in_flight += 1
            peak = max(peak, in_flight)
        with contextlib.suppress(threading.BrokenBarrierError):
            rendezvous.wait()  # holds `limit` requests open together, without sleeping
        with lock:
            in_flight -= 1
        return ok()

    client = client_for(handler, FakeTime(), concurrency=limit)
    threads = [
        threading.Thread(
            target=client.get_page, args=(Kind.PACKAGE,), kwargs={"offset": i, "limit": 1}
        )
        for i in range(callers)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert peak == limit  # reached, never exceeded
    assert client.throttle.max_in_flight == limit


def test_throttle_gives_slots_back_after_successes() -> None:
    time = FakeTime()
    throttle = Throttle(4, clock=time.clock, sleep=time.sleep, recover_after=2)
    throttle.throttled(1.0)
    assert throttle.allowed == 2
    for _ in range(4):
        throttle.succeeded()
    assert throttle.allowed == 4


def test_a_pause_is_waited_out_once_even_with_a_clock_that_never_moves() -> None:
    waits: list[float] = []
    throttle = Throttle(2, clock=lambda: 100.0, sleep=waits.append)
    throttle.throttled(5.0)
    throttle.acquire()  # would spin or hang if it polled the clock
    throttle.release()
    assert waits == [5.0]


def test_a_redirect_loop_is_an_error_of_its_own_not_a_status() -> None:
    def loop(request: httpx.Request) -> httpx.Response:
        return httpx.Response(301, headers={"Location": str(request.url)})

    client = client_for(loop, FakeTime())
    with pytest.raises(TooManyRedirects) as failure:
        client.get_record(Kind.PACKAGE, 1)
    assert "more than 5 redirects" in str(failure.value)
    assert client.requests == 6


def test_after_a_429_and_many_successes_no_more_than_the_limit_are_in_flight() -> None:
    """Issue 20 item 17: the slots given back after a 429 stop at --concurrency, however many
    successes follow."""
    throttle = Throttle(2, clock=lambda: 0.0, sleep=lambda seconds: None, recover_after=2)
    throttle.throttled(0.0)  # a 429: one request at a time for a while
    for _ in range(50):  # then many successes
        throttle.acquire()
        throttle.succeeded()
        throttle.release()
    throttle.acquire()
    throttle.acquire()  # the limit, in flight
    third_in = threading.Event()

    def third() -> None:
        throttle.acquire()
        third_in.set()

    thread = threading.Thread(target=third, daemon=True)
    thread.start()
    let_in_at_once = third_in.wait(0.2)  # a third request must wait for a slot...
    throttle.release()
    assert third_in.wait(10)  # ... and gets one as soon as a request ends
    throttle.release()
    throttle.release()
    assert not let_in_at_once
    assert throttle.max_in_flight == 2
