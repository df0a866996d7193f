"""The naive crawler the benchmark compares `pkgharvest fetch` with.

What a quick script does: for each list, GET the first page (20 records, the API's default),
parse the JSON, write every record to `<out>/<kind>/<id>.json`, follow `next` until it is null.
One request at a time, no retries, no link following. Usable on its own::

    python -m bench.naive http://127.0.0.1:PORT/api/v4/ /tmp/naive-mirror
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

KINDS = ("categories", "grids", "packages")
PAGE_SIZE = 20


@dataclass(frozen=True)
class NaiveResult:
    """What one naive crawl did: requests made, records written, body bytes, wall seconds."""

    requests: int
    records: int
    bytes_received: int
    seconds: float


def crawl(base_url: str, out: Path) -> NaiveResult:
    """Mirror every list of the API at `base_url` into `out`, one sequential request at a time."""
    started = time.perf_counter()
    requests = records = received = 0
    with httpx.Client(headers={"Accept": "application/json"}, timeout=60.0) as client:
        for kind in KINDS:
            folder = out / kind
            folder.mkdir(parents=True, exist_ok=True)
            url: str | None = f"{base_url.rstrip('/')}/{kind}/?limit={PAGE_SIZE}"
            while url:
                response = client.get(url)
                response.raise_for_status()
                requests += 1
                received += len(response.content)
                page = response.json()
                for record in page["results"]:
                    path = folder / f"{record['id']}.json"
                    path.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n")
                    records += 1
                url = page["next"]
    return NaiveResult(requests, records, received, round(time.perf_counter() - started, 3))


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        sys.stderr.write("usage: python -m bench.naive BASE_URL OUT_DIR\n")
        return 2
    result = crawl(argv[0], Path(argv[1]))
    sys.stdout.write(json.dumps(result.__dict__) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
