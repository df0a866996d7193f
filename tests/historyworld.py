"""A fake API and a data folder that real fetches update, with a clock the test moves: the
setting of the history tests (issue 19). Fetches and reading commands run in-process through
the CLI (`pkgharvest.cli.run`), the API through httpx.MockTransport, every clock fixed."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from pkgharvest.catalogue import CATALOGUE_NAME
from pkgharvest.cli import run
from pkgharvest.runtime import Dependencies, RetryPolicy
from tests.fakeapi import PUBLIC_BASE_URL, Catalogue, FakeApi, seed_catalogue

START = datetime(2026, 2, 16, 12, tzinfo=UTC)
"""The first run's clock: the day after the seeds' `last_fetched`."""

Handler = Callable[[httpx.Request], httpx.Response]


def service_time(moment: datetime) -> str:
    """A UTC instant as the service writes a `last_fetched` (its New York offset)."""
    from tests.fakeapi import service_datetime

    local = moment.astimezone(UTC).replace(tzinfo=None)
    # The service's zone: winter -05:00, summer -04:00 (service_datetime picks the offset).
    for hours in (5, 4):
        text = service_datetime(local - timedelta(hours=hours))
        if text.endswith(f"-0{hours}:00"):
            return text
    raise AssertionError(moment)


def api_down(request: httpx.Request) -> httpx.Response:
    return httpx.Response(503, text="Service Unavailable")


@dataclass
class Output:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


class World:
    """The service (a Catalogue served by FakeApi) and a data folder, at a moment `now`."""

    def __init__(self, root: Path, catalogue: Catalogue | None = None) -> None:
        self.catalogue = catalogue if catalogue is not None else seed_catalogue()
        self.data = root / "mirror"
        self.now = START
        self.clock: Callable[[], float] | None = None
        """The monotonic clock runs time their duration with (None: the real one)."""

    def deps(self, handler: Handler | None = None) -> Dependencies:
        deps = Dependencies(
            transport=httpx.MockTransport(handler or FakeApi(self.catalogue).handler),
            retry=RetryPolicy(attempts=2),
            sleep=lambda seconds: None,
            now=lambda: self.now,
        )
        return deps if self.clock is None else dataclasses.replace(deps, clock=self.clock)

    def fetch(self, *args: str, handler: Handler | None = None) -> int:
        argv = ["fetch", "--base-url", PUBLIC_BASE_URL, "--data-dir", str(self.data), *args]
        return run([*argv, "--quiet"] if "--json" not in args else argv, self.deps(handler))

    def cli(self, capsys: pytest.CaptureFixture[str], *args: str) -> Output:
        capsys.readouterr()
        code = run([*args, "--data-dir", str(self.data)], self.deps())
        captured = capsys.readouterr()
        return Output(code, captured.out, captured.err)

    def fetch_json(self, capsys: pytest.CaptureFixture[str], *args: str) -> Output:
        capsys.readouterr()
        code = self.fetch(*args, "--json")
        captured = capsys.readouterr()
        return Output(code, captured.out, captured.err)

    def query(self, sql: str, *params: object) -> list[tuple[Any, ...]]:
        conn = sqlite3.connect(self.data / CATALOGUE_NAME)
        try:
            return conn.execute(sql, params).fetchall()
        finally:
            conn.close()

    def later(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now

    def update(self, package_id: int, **fields: Any) -> None:
        self.catalogue.update_package(package_id, **fields)

    def touch(self, package_id: int, moment: datetime | None = None, **fields: Any) -> None:
        """The service re-measured a package at `moment` (default: an hour before now)."""
        when = moment if moment is not None else self.now - timedelta(hours=1)
        self.update(package_id, last_fetched=service_time(when), **fields)
