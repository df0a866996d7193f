"""The HTTP client: `JsonClient`, one polite, bounded JSON fetcher; `ApiClient`, the Django
Packages API v4 on top of it (api/pypi.py puts PyPI's JSON API on it too).

The network is an `httpx` transport passed in (tests hand in `httpx.MockTransport`); every
low-level failure becomes one of pkgharvest's own exceptions here, at this one edge. Politeness
lives here too: an identifying User-Agent, at most `concurrency` requests in flight, retries
with exponential backoff and jitter, `Retry-After` honoured, and a slow-down after each 429.

Limits (api/limits.py): each exchange has a deadline and a cap on its decoded body, and the run
has a deadline (`--timeout`) that every wait counts against: a wait that would pass it ends the
run at once (DeadlinePassed, exit 75).
"""

from __future__ import annotations

import contextlib
import json
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
import tenacity

from pkgharvest import USER_AGENT
from pkgharvest.api import limits as netlimits
from pkgharvest.api.links import ApiBase
from pkgharvest.errors import (
    ApiNotFound,
    BodyTooLarge,
    Cancelled,
    DeadlinePassed,
    DeadlineReached,
    ForeignLink,
    GaveUp,
    NotTheApi,
    TooManyRedirects,
    TransientFailure,
    UnexpectedStatus,
    UnknownEncoding,
    UntrustedCertificate,
)
from pkgharvest.events import Notice, RequestDone, Retrying
from pkgharvest.records import Kind
from pkgharvest.runtime import Clock, Dependencies, Sleep, default_timeout

_REDIRECTS = {301, 302, 303, 307, 308}
_MAX_REDIRECTS = 5


@dataclass(frozen=True)
class Page:
    """One page of a list endpoint: the envelope's `count` and its `results`.

    results: the items as sent; an item that is not a JSON object is kept, so that the crawl
    fails that one record rather than the page.
    """

    kind: Kind
    offset: int
    limit: int
    count: int
    results: list[Any]


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        # str.isdigit() also accepts "²" and other digits that float() refuses: ASCII only.
        return float(value) if value.isascii() else None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    wall = time.time() if now is None else now
    return max(0.0, when.timestamp() - wall)


class Throttle:
    """At most `limit` requests in flight, fewer after a 429 (AIMD), and a shared pause.

    After a 429 the allowed concurrency halves and every request waits out the pause; each run of
    `recover_after` successes gives one slot back, up to `limit`.
    """

    def __init__(self, limit: int, *, clock: Clock, sleep: Sleep, recover_after: int = 20) -> None:
        self.limit = max(1, limit)
        self.allowed = self.limit
        self.in_flight = 0
        self.max_in_flight = 0
        self._clock = clock
        self._sleep = sleep
        self._paused_until = 0.0
        self._pauses = 0  # how many pauses were set: tells a waiter whether one was extended
        self._successes = 0
        self._recover_after = recover_after
        self._cond = threading.Condition()

    def acquire(self) -> None:
        with self._cond:
            while self.in_flight >= self.allowed:
                self._cond.wait()
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        # Wait out the pause once; again only if another 429 extended it meanwhile. (Looping
        # on the clock alone would spin with an injected no-op sleep, or hang on a fake clock.)
        waited_for = None
        while True:
            with self._cond:
                generation, wait = self._pauses, self._paused_until - self._clock()
            if wait <= 0 or generation == waited_for:
                return
            waited_for = generation
            self._sleep(wait)

    def release(self) -> None:
        with self._cond:
            self.in_flight -= 1
            self._cond.notify()

    def throttled(self, pause: float) -> None:
        with self._cond:
            self.allowed = max(1, self.allowed // 2)
            self._paused_until = max(self._paused_until, self._clock() + pause)
            self._pauses += 1
            self._successes = 0

    def succeeded(self) -> None:
        with self._cond:
            if self.allowed >= self.limit:
                return
            self._successes += 1
            if self._successes >= self._recover_after:
                self._successes = 0
                self.allowed += 1
                self._cond.notify()


class _Counters:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests = 0
        self.retries = 0
        self.received = 0


class JsonClient:
    """Fetches JSON from one base URL, politely, within the limits (api/limits.py): the one
    mechanism behind the Django Packages client (ApiClient) and the PyPI one (api/pypi.py).
    Thread-safe; share one per run.

    service: how failures name the server. unchanged: what a failure leaves as it was, said
    after the reason (the mirror, for a fetch).
    """

    service = "the API"
    unchanged = "; the mirror is unchanged"

    def __init__(
        self,
        base: ApiBase,
        deps: Dependencies,
        *,
        concurrency: int = 4,
        run_timeout: float | None = None,
    ) -> None:
        """run_timeout: seconds from now after which the run ends (None: no run deadline)."""
        self.base = base
        self.retry = deps.retry
        self.limits = deps.limits
        self._clock = deps.clock
        self._run_timeout = run_timeout
        self._run_deadline = deps.clock() + run_timeout if run_timeout else None
        self._cancelled = threading.Event()
        self._sleep: Sleep = deps.sleep or self._cancellable_sleep
        self._on_event = deps.on_event
        self.throttle = Throttle(concurrency, clock=deps.clock, sleep=self._sleep_in_time)
        self._counters = _Counters()
        self._http = httpx.Client(
            transport=deps.transport,
            headers={
                "Accept": "application/json",
                "Accept-Encoding": netlimits.ACCEPT_ENCODING,
                "User-Agent": USER_AGENT,
            },
            timeout=deps.timeout or default_timeout(),
            follow_redirects=False,  # redirects are checked against the base URL by hand
            limits=httpx.Limits(max_connections=max(1, concurrency)),
            verify=no_certificates_context() if base.scheme == "http" else True,
        )
        netlimits.bound_network_waits(self._http)

    # -- statistics --------------------------------------------------------------------------

    @property
    def requests(self) -> int:
        return self._counters.requests

    @property
    def retries(self) -> int:
        return self._counters.retries

    @property
    def received(self) -> int:
        return self._counters.received

    def _cancellable_sleep(self, seconds: float) -> None:
        """The default sleep: wakes up at once when the run is cancelled."""
        self._cancelled.wait(seconds)

    def _sleep_in_time(self, seconds: float) -> None:
        """Sleep, but not past the run's deadline (the next request then ends the run)."""
        if self._run_deadline is not None:
            seconds = min(seconds, max(0.0, self._run_deadline - self._clock()))
        self._sleep(seconds)

    def _check_run_deadline(self, url: str, waiting: float = 0.0) -> None:
        """DeadlinePassed if the run's deadline has passed, or would while waiting `waiting`."""
        if self._run_deadline is None:
            return
        if self._clock() + waiting >= self._run_deadline:
            why = f"waiting {waiting:.0f} s more for {url}" if waiting else f"at {url}"
            raise DeadlinePassed(
                f"the run took longer than --timeout {self._run_timeout:g} s ({why})"
                f"{self.unchanged}; retry later"
            )

    def _exchange_deadline(self) -> float:
        """When (time.monotonic()) the exchange about to start must be over."""
        seconds = self.limits.deadline
        if self._run_deadline is not None:
            seconds = min(seconds, self._run_deadline - self._clock())
        return time.monotonic() + max(seconds, 0.0)

    def cancel(self) -> None:
        """Make every request not yet sent fail at once with `Cancelled` (the run is ending)."""
        self._cancelled.set()

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> JsonClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- one request, retried ----------------------------------------------------------------

    def get_json(
        self, url: str, *, expect: Callable[[Any], str | None], site_is_final: bool = False
    ) -> Any:
        """GET `url` and return its JSON body, retried until `expect(body)` finds no problem.

        Raises ApiNotFound (404, never retried), ForeignLink (a redirect leaving the API),
        UnexpectedStatus (other 4xx), UntrustedCertificate (never retried), GaveUp (every
        attempt failed). `site_is_final`: an HTML page with status 200 is NotTheApi at once.
        """
        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.retry.attempts),
            wait=self._wait,
            retry=tenacity.retry_if_exception_type(TransientFailure),
            sleep=self._sleep,
            before_sleep=lambda state: self._note_retry(url, state),
            reraise=True,
        )
        try:
            return retrying(self._attempt, url, expect, site_is_final)
        except TransientFailure as last:
            raise GaveUp(
                f"{self.service} kept failing: {url}: {last.reason} "
                f"(gave up after {self.retry.attempts} attempts){self.unchanged}",
                not_api=last.not_api,
            ) from last

    def _attempt(
        self, url: str, expect: Callable[[Any], str | None], site_is_final: bool = False
    ) -> Any:
        if self._cancelled.is_set():
            raise Cancelled(f"{url}: not sent, the run is ending")
        self._check_run_deadline(url)
        response, content = self._send(url)
        status = response.status_code
        if status == 200:
            if site_is_final and _is_html(response, content):
                raise NotTheApi(
                    f"{url} answers with an HTML page (a website), not the Django Packages "
                    f"API v4; check --base-url{_api_hint(url)}"
                )
            body = _json_body(response, content)
            problem = expect(body)
            if problem is not None:
                raise TransientFailure(f"unexpected JSON: {problem}", not_api=True)
            self.throttle.succeeded()
            return body
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        if retry_after is not None:
            retry_after = self._capped(retry_after, url)
        if status == 429:
            pause = self.retry.throttle_pause if retry_after is None else retry_after
            self.throttle.throttled(pause)
            raise TransientFailure("429 Too Many Requests", retry_after=retry_after)
        if status >= 500:
            raise TransientFailure(f"server error {status}", retry_after=retry_after)
        if status == 404:
            raise ApiNotFound(f"{url}: not found (404)", url)
        raise UnexpectedStatus(f"{url}: unexpected HTTP status {status}", status)

    def _send(self, url: str) -> tuple[httpx.Response, bytes | bytearray]:
        """GET with same-API redirects followed by hand: the final response and, for a 200, its
        body (capped, within the exchange's deadline). Network errors, a body past the cap and
        a missed deadline become TransientFailure; the run's deadline, DeadlinePassed."""
        for _ in range(_MAX_REDIRECTS + 1):
            self.throttle.acquire()
            try:
                self._check_run_deadline(url)  # the throttle may have paused us past it
            except DeadlinePassed:
                self.throttle.release()
                raise
            received, status = 0, None
            try:
                response, body = self._exchange(url)
                received, status = len(body), response.status_code
            finally:
                self.throttle.release()
                with self._counters.lock:
                    self._counters.requests += 1
                    self._counters.received += received
                self._on_event(RequestDone(url, status, received))
            if response.status_code not in _REDIRECTS:
                return response, body
            location = response.headers.get("Location", "")
            target = str(response.request.url.join(location))
            try:
                url = self.base.checked(target)
            except ForeignLink as err:
                raise ForeignLink(f"{url} redirects outside the API to {target}", target) from err
        raise TooManyRedirects(f"{url}: more than {_MAX_REDIRECTS} redirects", url)

    def _exchange(self, url: str) -> tuple[httpx.Response, bytes | bytearray]:
        """One GET, streamed: only a 200's body is read, and no more than the cap of it."""
        until = self._exchange_deadline()
        cap = self.limits.max_body_bytes
        try:
            with netlimits.deadline(until), self._http.stream("GET", url) as response:
                if response.status_code == 200:
                    return response, netlimits.read_capped(response, cap, until)
                _drain(response, until)
                return response, b""
        except httpx.TransportError as err:
            untrusted = _certificate_problem(err)
            if untrusted is not None:
                raise UntrustedCertificate(
                    f"cannot verify the TLS certificate of {self.base.host}:{self.base.port} "
                    f"({untrusted}); not retried, retrying cannot fix a certificate. For an API "
                    "behind a private certificate authority, set SSL_CERT_FILE to a PEM file of "
                    "the certificates to trust; otherwise check --base-url"
                ) from None
            if time.monotonic() < until:
                raise TransientFailure(_describe_transport_error(err)) from err
            failure: Exception = err
        except DeadlineReached as err:
            failure = err
        except BodyTooLarge:
            raise TransientFailure(
                f"a body larger than the {cap:,}-byte limit", not_api=True
            ) from None
        except UnknownEncoding as err:
            raise TransientFailure(f"a body in an encoding not asked for: {err}") from None
        # Out of time: the run's deadline ends the run; the exchange's own is one failed try.
        self._check_run_deadline(url)
        raise TransientFailure(
            f"no complete answer within {self.limits.deadline:g} s (the request deadline)"
        ) from failure

    # -- waiting -----------------------------------------------------------------------------

    def _capped(self, seconds: float, url: str) -> float:
        if seconds > self.retry.retry_after_cap:
            self._on_event(
                Notice(
                    f"{url}: server asked to wait {seconds:.0f} s; "
                    f"waiting {self.retry.retry_after_cap:.0f} s instead"
                )
            )
            return self.retry.retry_after_cap
        return max(seconds, self.retry.retry_after_floor)

    def _wait(self, state: tenacity.RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, TransientFailure) and error.retry_after is not None:
            wait = error.retry_after  # already floored and capped by _capped
        else:
            jitter = tenacity.wait_random_exponential(
                multiplier=self.retry.backoff_initial, max=self.retry.backoff_max
            )
            wait = max(jitter(state), self.retry.backoff_initial / 2)
        # A wait (Retry-After included) that would pass the run's deadline ends the run now.
        url = state.args[0] if state.args else "the API"
        self._check_run_deadline(str(url), waiting=wait)
        return wait

    def _note_retry(self, url: str, state: tenacity.RetryCallState) -> None:
        with self._counters.lock:
            self._counters.retries += 1
        error = state.outcome.exception() if state.outcome else None
        reason = error.reason if isinstance(error, TransientFailure) else repr(error)
        wait = state.next_action.sleep if state.next_action else 0.0
        self._on_event(Retrying(url, reason, wait, state.attempt_number, self.retry.attempts))


class ApiClient(JsonClient):
    """The Django Packages API v4: its root, list pages, records and the links between them."""

    def __enter__(self) -> ApiClient:
        return self

    # -- the API's endpoints -----------------------------------------------------------------

    def get_index(self) -> dict[str, Any]:
        """The API root; NotTheApi unless the base URL serves the Django Packages API v4.

        A JSON answer of another shape (the old API v3 at the same site, another service), or
        an HTML page with status 200 (the website: `https://djangopackages.org/`), is final at
        once: retrying cannot change it. A maintenance page comes with a 5xx, and a broken body
        may be a passing fault, so those are retried first.
        """
        url = self.base.url
        try:
            data = self.get_json(url, expect=_any_json, site_is_final=True)
        except (ApiNotFound, UnexpectedStatus, TooManyRedirects, ForeignLink) as err:
            raise NotTheApi(
                f"{url} is not the Django Packages API ({err}); check --base-url"
            ) from err
        except GaveUp as err:
            if err.not_api:
                raise NotTheApi(
                    f"{url} does not answer like the Django Packages API ({err}); check --base-url"
                ) from err
            raise
        problem = _index_problem(data)
        if problem is not None:
            raise NotTheApi(f"{url} is not the Django Packages API v4: {problem}; check --base-url")
        assert isinstance(data, dict)
        return data

    def get_page(self, kind: Kind, *, offset: int, limit: int) -> Page:
        url = self.base.list_url(kind, offset=offset, limit=limit)
        data = self.get_json(url, expect=_envelope_problem)
        return Page(kind, offset, limit, data["count"], data["results"])

    def get_record(self, kind: Kind, key: int | str) -> dict[str, Any]:
        """One record by id (or slug, for packages and grids). ApiNotFound on 404 (carrying
        the kind and the key asked for)."""
        try:
            return self.get_link(self.base.detail_url(kind, key))
        except ApiNotFound as err:
            err.kind, err.key = kind.value, str(key)
            raise

    def get_link(self, url: str) -> dict[str, Any]:
        """The record a hyperlink points to; ForeignLink if it leaves the API."""
        data = self.get_json(self.base.checked(url), expect=_record_problem)
        assert isinstance(data, dict)
        return data


_ERROR_BODY_CAP = 64 * 1024


def _drain(response: httpx.Response, until: float) -> None:
    """Read a small error or redirect body to its end, so that the connection stays usable
    (and the server is not cut off mid-write); a large or slow one is simply dropped."""
    with contextlib.suppress(
        httpx.TransportError,
        BodyTooLarge,
        UnknownEncoding,
        DeadlineReached,
    ):
        netlimits.read_capped(response, _ERROR_BODY_CAP, until)


def no_certificates_context() -> ssl.SSLContext:
    """The TLS context of a client whose API is plain `http://`: every URL it follows shares
    the base's scheme (links.ApiBase), so it never makes a TLS connection, and loading the
    certificate store (what httpx does by default) would cost every run time and memory.
    It trusts no certificate: if a TLS connection were ever attempted, it would fail."""
    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies certificates and host names


def _certificate_problem(err: BaseException) -> str | None:
    """What the TLS library said about a certificate it could not verify, if that is what
    `err` (or an error it was raised from) is."""
    seen: set[int] = set()
    cause: BaseException | None = err
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, ssl.SSLCertVerificationError):
            return cause.verify_message or cause.reason or "certificate verify failed"
        cause = cause.__cause__ or cause.__context__
    return None


def _is_html(response: httpx.Response, content: bytes | bytearray) -> bool:
    if "html" in response.headers.get("Content-Type", "").lower():
        return True
    head = content[:256].lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html"))


def _api_hint(url: str) -> str:
    """` (the API is at <site>/api/v4/?)` for a base URL that names a site's root."""
    parts = urlsplit(url)
    if parts.path in ("", "/"):
        return f" (the API is usually at {parts.scheme}://{parts.netloc}/api/v4/)"
    return ""


def _describe_transport_error(err: httpx.TransportError) -> str:
    if isinstance(err, httpx.TimeoutException):
        return f"timed out ({type(err).__name__})"
    if isinstance(err, httpx.ConnectError):
        return f"could not connect ({err})"
    return f"connection failed ({type(err).__name__}: {err})"


def _json_body(response: httpx.Response, content: bytes | bytearray) -> Any:
    content_type = response.headers.get("Content-Type", "")
    if "html" in content_type.lower():
        raise TransientFailure("an HTML page instead of JSON", not_api=True)
    try:
        return json.loads(content)
    except (ValueError, UnicodeDecodeError) as err:
        raise TransientFailure(f"a body that is not valid JSON ({err})", not_api=True) from None
    except RecursionError:  # `[[[[...` 100,000 deep: no page of the API nests like that
        raise TransientFailure(
            "a body nested too deeply to be the API's JSON", not_api=True
        ) from None


def _any_json(body: Any) -> str | None:
    return None


def _index_problem(body: Any) -> str | None:
    """Why `body` is not the v4 root, or None. The v4 root maps each list to an absolute URL;
    the old v3 root has other keys (`users`) and relative links."""
    if not isinstance(body, Mapping):
        return "the root is not a JSON object"
    links = [body.get(kind.value) for kind in Kind]
    if all(isinstance(link, str) and link.startswith(("http://", "https://")) for link in links):
        return None
    if "users" in body or any(isinstance(link, str) and link.startswith("/") for link in links):
        return "it looks like the old API v3 (use the /api/v4/ root)"
    return "the root does not link packages, grids and categories"


def _envelope_problem(body: Any) -> str | None:
    if not isinstance(body, Mapping):
        return "a list page is not a JSON object"
    if "objects" in body and "meta" in body:
        # The old API v3's envelope: no retry makes this the v4 API.
        raise NotTheApi("a list page in the old API v3's format (meta/objects); check --base-url")
    count, results = body.get("count"), body.get("results")
    if not isinstance(count, int) or isinstance(count, bool) or count < 0:
        return "a list page without a valid count"
    if not isinstance(results, list):
        return "a list page without a list of records"
    return None


def _record_problem(body: Any) -> str | None:
    if not isinstance(body, Mapping) or "id" not in body:
        return "a record that is not a JSON object with an id"
    return None
