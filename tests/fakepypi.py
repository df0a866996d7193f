"""A local stand-in for PyPI's JSON API, built from real PyPI answers (fixtures/pypi/, see its
README): `/pypi/NAME/json` and `/pypi/NAME/VERSION/json`, served in-process through
`httpx.MockTransport` (`handler`) or by a real server on 127.0.0.1 (`serve`).

What PyPI does is kept: a project's answer is assembled the way PyPI's is (`info` of the newest
final release, `releases` with every release's files, `urls` of the newest's, `vulnerabilities`),
a name that is not the project's canonical one answers `301` to it (`/pypi/django/json` ->
`/pypi/Django/json`), an unknown one `404 {"message": "Not Found"}`.

What it adds, for tests: variants of real answers (`vary`: another `requires_dist`, other
classifiers, another upload time, hostile text), and faults by path (`fault`): a server error,
a 429 with Retry-After, an HTML page, invalid JSON, a JSON of another shape, a redirect to
another host, and, on the real server only, a gzip bomb, an endless body and a drip.
"""

from __future__ import annotations

import contextlib
import copy
import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import httpx
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from tests.fakeapi import gzip_bomb

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "pypi"
PUBLIC_PYPI_URL = "https://pypi.org/pypi/"

SOCKET_FAULTS = ("gzip-bomb", "endless", "drip")
"""Faults only the real server can make: they misbehave below HTTP's framing."""
FAULTS = ("500", "429", "html", "invalid-json", "wrong-shape", "foreign-redirect", *SOCKET_FAULTS)


def load_answers() -> dict[str, dict[str, dict[str, Any]]]:
    """normalized name -> version -> the real `/pypi/NAME/VERSION/json` answer."""
    answers: dict[str, dict[str, dict[str, Any]]] = {}
    for folder in sorted(p for p in FIXTURES.iterdir() if p.is_dir()):
        for path in sorted(folder.glob("*.json")):
            answer = json.loads(path.read_text(encoding="utf-8"))
            name = canonicalize_name(answer["info"]["name"])
            answers.setdefault(name, {})[answer["info"]["version"]] = answer
    return answers


def _version(text: str) -> Version | None:
    try:
        return Version(text)
    except InvalidVersion:
        return None


@dataclass
class PypiIndex:
    """The releases served: normalized name -> version -> release answer."""

    answers: dict[str, dict[str, dict[str, Any]]] = field(default_factory=load_answers)

    def vary(self, project: str, version: str, /, **info: Any) -> PypiIndex:
        """Change fields of a release's `info` (`requires_dist=[...]`); `uploaded=ISO` sets
        every file's upload time. Returns self, so calls chain."""
        answer = self.answers[canonicalize_name(project)][version]
        uploaded = info.pop("uploaded", None)
        answer["info"].update(info)
        if uploaded is not None:
            for item in answer["urls"]:
                item["upload_time_iso_8601"] = uploaded
                item["upload_time"] = uploaded[:19]
        return self

    def copy_release(
        self, project: str, version: str, new_version: str, /, **info: Any
    ) -> PypiIndex:
        """A new release made from a real one (its answer with another version)."""
        answer = copy.deepcopy(self.answers[canonicalize_name(project)][version])
        answer["info"]["version"] = new_version
        self.answers[canonicalize_name(project)][new_version] = answer
        return self.vary(project, new_version, **info)

    def canonical(self, name: str) -> str | None:
        releases = self.answers.get(canonicalize_name(name))
        if not releases:
            return None
        return str(next(iter(releases.values()))["info"]["name"])

    def release_answer(self, name: str, version: str) -> dict[str, Any] | None:
        releases = self.answers.get(canonicalize_name(name), {})
        if version in releases:
            return releases[version]
        wanted = _version(version)
        for text, answer in releases.items():
            if wanted is not None and _version(text) == wanted:
                return answer
        return None

    def project_answer(self, name: str) -> dict[str, Any] | None:
        """The project's answer, assembled as PyPI assembles it."""
        releases = self.answers.get(canonicalize_name(name))
        if not releases:
            return None
        finals = [v for v in releases if (p := _version(v)) is not None and not p.is_prerelease]
        newest = max(finals or list(releases), key=lambda v: _version(v) or Version("0"))
        latest = releases[newest]
        return {
            "info": latest["info"],
            "last_serial": latest.get("last_serial"),
            "releases": {v: a["urls"] for v, a in releases.items()},
            "urls": latest["urls"],
            "vulnerabilities": [],
        }


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes
    transport: str | None = None


_ROUTE = re.compile(r"^(.*?/pypi)/([^/]+)/(?:([^/]+)/)?json/?$")
"""`/pypi/NAME/json`, `/pypi/NAME/VERSION/json`, below any prefix (a proxy's
`/artifactory/api/pypi/pypi-remote/pypi/NAME/json`)."""


class FakePypi:
    """The stand-in. `faults`: path regex -> fault (every matching request, or the first
    `times` of them when given as (fault, times)); `requests` records each path asked."""

    def __init__(self, index: PypiIndex | None = None, *, drip_interval: float = 0.2) -> None:
        self.index = index or PypiIndex()
        self.faults: list[list[Any]] = []
        self.requests: list[str] = []
        self.hosts: set[str] = set()
        self.user_agents: set[str] = set()
        self.in_flight = 0
        self.max_in_flight = 0
        self.drip_interval = drip_interval
        self.hold = 0.0  # seconds each request is held (real server), to see concurrency
        self._lock = threading.Lock()

    def fault(self, pattern: str, fault: str, times: int | None = None) -> FakePypi:
        if fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}")
        self.faults.append([pattern, fault, times])
        return self

    def _pick(self, target: str) -> str | None:
        with self._lock:
            for entry in self.faults:
                pattern, fault, times = entry
                if times is not None and times <= 0:
                    continue
                if re.search(pattern, target):
                    if times is not None:
                        entry[2] = times - 1
                    return str(fault)
        return None

    def answer(self, target: str, host: str, scheme: str = "http") -> Reply:
        with self._lock:
            self.requests.append(target)
        fault = self._pick(target)
        if fault is not None:
            return self._faulty(fault, target, host, scheme)
        path = unquote(urlsplit(target).path)
        route = _ROUTE.match(path)
        if route is None:
            return _json(404, {"message": "Not Found"})
        prefix, name, version = route.group(1), route.group(2), route.group(3)
        canonical = self.index.canonical(name)
        if canonical is None:
            return _json(404, {"message": "Not Found"})
        if name != canonical:
            tail = f"{quote(version, safe='')}/json" if version else "json"
            location = f"{scheme}://{host}{prefix}/{quote(canonical, safe='')}/{tail}"
            return Reply(301, {"Location": location, "Content-Type": "text/html"}, b"")
        body = (
            self.index.release_answer(name, version) if version else self.index.project_answer(name)
        )
        if body is None:
            return _json(404, {"message": "Not Found"})
        return _json(200, body)

    def _faulty(self, fault: str, target: str, host: str, scheme: str) -> Reply:
        if fault == "500":
            return Reply(500, {"Content-Type": "text/html"}, b"<h1>Internal Server Error</h1>")
        if fault == "429":
            return Reply(429, {"Retry-After": "7", "Content-Type": "text/plain"}, b"slow down")
        if fault == "html":
            return Reply(200, {"Content-Type": "text/html"}, b"<!doctype html><p>maintenance")
        if fault == "invalid-json":
            return Reply(200, {"Content-Type": "application/json"}, b'{"info": {"name": "x"')
        if fault == "wrong-shape":
            return _json(200, ["not", "a", "project"])
        if fault == "foreign-redirect":
            return Reply(302, {"Location": "https://evil.example/pypi/x/json"}, b"")
        return Reply(200, {"Content-Type": "application/json"}, b"", transport=fault)

    # -- in-process, for httpx.MockTransport --

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.user_agents.add(request.headers.get("user-agent", ""))
        self.hosts.add(request.url.host)
        target = request.url.raw_path.decode("ascii")
        reply = self.answer(target, request.url.netloc.decode("ascii"), request.url.scheme)
        if reply.transport is not None:
            raise NotImplementedError(f"{reply.transport!r} needs the real server: use serve()")
        return httpx.Response(reply.status, headers=reply.headers, content=reply.body)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handler)

    # -- a real server on 127.0.0.1 --

    @contextlib.contextmanager
    def serve(self) -> Iterator[str]:
        """Serve on a free port; yields the index URL `http://127.0.0.1:PORT/pypi/`."""
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                stand_in.user_agents.add(self.headers.get("User-Agent", ""))
                with stand_in._lock:
                    stand_in.in_flight += 1
                    stand_in.max_in_flight = max(stand_in.max_in_flight, stand_in.in_flight)
                try:
                    if stand_in.hold:
                        stopping.wait(stand_in.hold)
                    reply = stand_in.answer(self.path, self.headers.get("Host", "127.0.0.1"))
                    self._send(reply)
                except OSError:
                    pass  # the client hung up: that is what some faults are for
                finally:
                    with stand_in._lock:
                        stand_in.in_flight -= 1

            def _send(self, reply: Reply) -> None:
                self.send_response(reply.status)
                for key, value in reply.headers.items():
                    self.send_header(key, value)
                if reply.transport == "gzip-bomb":
                    bomb = gzip_bomb(256 * 1024 * 1024)
                    self.send_header("Content-Encoding", "gzip")
                    self.send_header("Content-Length", str(len(bomb)))
                    self.end_headers()
                    self.wfile.write(bomb)
                    return
                if reply.transport == "endless":
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    chunk = b"[" + b"0," * 32_000
                    while not stopping.is_set():
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    return
                if reply.transport == "drip":
                    self.send_header("Content-Length", "100000")
                    self.end_headers()
                    started = time.monotonic()
                    while not stopping.is_set() and time.monotonic() - started < 30:
                        self.wfile.write(b" ")
                        self.wfile.flush()
                        stopping.wait(stand_in.drip_interval)
                    self.close_connection = True
                    return
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)

        stopping = threading.Event()
        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02})
        thread.daemon = True
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}/pypi/"
        finally:
            stopping.set()
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)


def _json(status: int, data: object) -> Reply:
    body = json.dumps(data).encode()
    return Reply(status, {"Content-Type": "application/json"}, body)
