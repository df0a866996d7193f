"""The raw crawler: the floor the harvester is measured against.

It requests what `pkgharvest fetch` requests for a full catalogue (the API root, then the first
page of each list at once, which gives its `count`, then each list's other pages, at most
`--concurrency` in flight) and does nothing with the bodies beyond reading them off the socket:
no parsing (except the first page's `count`), no records, no files. Standard library only
(`http.client`, one keep-alive connection per worker thread), so its CPU time is close to the
bare cost of the requests. Usable on its own::

    python -m bench.raw http://127.0.0.1:PORT/api/v4/ --page-size 500 --concurrency 4
"""

from __future__ import annotations

import argparse
import http.client
import json
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from urllib.parse import urlsplit

KINDS = ("categories", "grids", "packages")  # the harvester's order


@dataclass(frozen=True)
class RawResult:
    """What one raw crawl did: requests made, body bytes read, wall seconds."""

    page_size: int
    concurrency: int
    requests: int
    bytes_received: int
    seconds: float


class _Getter:
    """GET a path and return the body; one keep-alive connection per thread."""

    def __init__(self, base_url: str) -> None:
        parts = urlsplit(base_url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.prefix = parts.path.rstrip("/") + "/"
        self.local = threading.local()
        self.lock = threading.Lock()
        self.requests = 0
        self.received = 0

    def get(self, path: str) -> bytes:
        conn = getattr(self.local, "conn", None)
        if conn is None:
            conn = self.local.conn = http.client.HTTPConnection(self.host, self.port, timeout=300)
        conn.request("GET", self.prefix + path, headers={"Accept": "application/json"})
        response = conn.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"GET {path}: HTTP {response.status}")
        with self.lock:
            self.requests += 1
            self.received += len(body)
        return body


def crawl(base_url: str, page_size: int, concurrency: int) -> RawResult:
    started = time.perf_counter()
    getter = _Getter(base_url)
    getter.get("")  # the root check the harvester makes
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        # The three first pages at once, as the harvester asks for them; then each list.
        firsts = {
            kind: pool.submit(getter.get, f"{kind}/?limit={page_size}&offset=0") for kind in KINDS
        }
        for kind in KINDS:
            count = int(json.loads(firsts[kind].result())["count"])
            offsets = range(page_size, count, page_size)
            # map() keeps every request in flight the pool allows; bodies are dropped at once.
            for _ in pool.map(
                lambda offset, kind=kind: len(
                    getter.get(f"{kind}/?limit={page_size}&offset={offset}")
                ),
                offsets,
            ):
                pass
    seconds = round(time.perf_counter() - started, 3)
    return RawResult(page_size, concurrency, getter.requests, getter.received, seconds)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.raw", description=__doc__.split("\n")[0])
    parser.add_argument("base_url")
    parser.add_argument("--page-size", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args(argv)
    result = crawl(args.base_url, args.page_size, args.concurrency)
    sys.stdout.write(json.dumps(asdict(result)) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
