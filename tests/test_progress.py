"""What fetch shows while it runs: a bar on a terminal, plain warning lines otherwise."""

from __future__ import annotations

import io
from pathlib import Path

import httpx
import pytest
from rich.console import Console

from pkgharvest.cli.bar import BarSink
from pkgharvest.cli.progress import MAX_NOTICES, LineSink
from pkgharvest.events import Event, ListSized, Notice, RecordsDone, RequestDone, Retrying
from pkgharvest.fetch.run import FetchOptions, fetch
from pkgharvest.records import Kind
from pkgharvest.runtime import Dependencies
from tests.fakeapi import PUBLIC_BASE_URL, FakeApi, generate_catalogue


def _screen(sink: BarSink) -> str:
    """What the live display shows now, drawn once on a plain console."""
    out = io.StringIO()
    Console(file=out, width=120, color_system=None).print(sink)
    return out.getvalue()


def test_one_bar_per_kind_and_one_line_of_totals() -> None:
    console = Console(file=io.StringIO(), force_terminal=True, width=120, color_system=None)
    with BarSink(console) as sink:
        sink(ListSized(Kind.CATEGORY, 5))
        sink(RecordsDone(Kind.CATEGORY, 5))
        sink(ListSized(Kind.GRID, 40))
        sink(RecordsDone(Kind.GRID, 4))
        sink(RecordsDone(Kind.GRID, 6))  # a rate needs two steps
        sink(ListSized(Kind.PACKAGE, 250))
        for _ in range(3):
            sink(RequestDone("u", 200, 1_000_000))
        sink(RecordsDone(Kind.PACKAGE, 40))
        sink(RecordsDone(Kind.PACKAGE, 60))
        sink(Notice("the packages list changed during the crawl"))
        lines = _screen(sink).splitlines()
    assert [line.split()[0] for line in lines[:3]] == ["categories", "grids", "packages"]
    assert "5/5" in lines[0] and "10/40" in lines[1] and "100/250" in lines[2]
    assert "rec/s" in lines[1] and "rec/s" in lines[2]  # every kind shows its rate
    totals = [line for line in lines if "requests" in line]
    assert totals == ["3 requests, 3.0 MB received, 0 retries"]  # once, not on every row
    assert "pkgharvest: warning: the packages list changed during the crawl" in (
        console.file.getvalue()  # type: ignore[attr-defined]
    )


def test_a_retry_is_said_while_it_waits() -> None:
    url = "https://djangopackages.org/api/v4/packages/?limit=100&offset=200"
    with BarSink(Console(file=io.StringIO(), force_terminal=True, width=120)) as sink:
        sink(RequestDone(url, 503, 120))
        sink(Retrying(url, "server error 503", 1.3, 1, 6))
        assert sink.totals_line() == (
            "1 requests, 0.0 MB received, 1 retry; retry 2/6 in 1.3 s: server error 503"
        )
        assert "retry 2/6 in 1.3 s: server error 503" in _screen(sink)
        sink(RequestDone(url, 503, 120))
        sink(Retrying(url, "server error 503", 2.6, 2, 6))
        assert sink.totals_line().endswith("2 retries; retry 3/6 in 2.6 s: server error 503")
        sink(RequestDone(url, 200, 200_000))  # the attempt that worked: nothing waits now
        assert sink.totals_line() == "3 requests, 0.2 MB received, 2 retries"


def test_grid_progress_moves_as_grid_pages_arrive(tmp_path: Path) -> None:
    """The grids bar used to stay at 0/400 until the end: grids are stored last, once their
    members' slugs are known. It now counts them as their pages are read, exactly once."""
    events: list[Event] = []
    api = FakeApi(generate_catalogue(packages=120, grids=40, seed=2))
    deps = Dependencies(transport=httpx.MockTransport(api.handler), on_event=events.append)
    options = FetchOptions(base_url=PUBLIC_BASE_URL, data_dir=tmp_path / "m", page_size=10)
    report = fetch(options, deps)
    assert report.exit_code == 0

    done = [e for e in events if isinstance(e, RecordsDone)]
    first_package = next(i for i, e in enumerate(done) if e.kind is Kind.PACKAGE)
    grid_steps = [e.count for e in done[:first_package] if e.kind is Kind.GRID]
    assert sum(grid_steps) == 40  # all grids counted before the first package is read
    assert len(grid_steps) >= 4  # in steps, page by page, not one jump
    for kind in Kind:  # and each record counted once over the run
        counted = sum(e.count for e in done if e.kind is kind)
        assert counted == report.counts[kind.value].seen, kind
    sized = [e for e in events if isinstance(e, ListSized)]
    assert {e.kind: e.total for e in sized} == {
        Kind.CATEGORY: report.counts["categories"].seen,
        Kind.GRID: 40,
        Kind.PACKAGE: 120,
    }


def test_the_bar_follows_a_real_run(tmp_path: Path) -> None:
    """The same events drawn: each bar full at the end, one totals line."""
    console = Console(file=io.StringIO(), force_terminal=True, width=120, color_system=None)
    api = FakeApi(generate_catalogue(packages=60, grids=8, seed=3))
    with BarSink(console) as sink:
        deps = Dependencies(transport=httpx.MockTransport(api.handler), on_event=sink)
        fetch(FetchOptions(base_url=PUBLIC_BASE_URL, data_dir=tmp_path / "m", page_size=10), deps)
        screen = _screen(sink)
    assert "60/60" in screen and "8/8" in screen
    assert len([line for line in screen.splitlines() if "requests" in line]) == 1


def test_warnings_are_plain_capped_lines(capsys: pytest.CaptureFixture[str]) -> None:
    with LineSink() as sink:
        sink(RequestDone("u", 200, 10))  # nothing but warnings is printed
        for n in range(MAX_NOTICES + 5):
            sink(Notice(f"link {n} to \x1b[31mhttp://evil.example\x1b[0m"))
    out, err = capsys.readouterr()
    lines = err.splitlines()
    assert out == "" and len(lines) == MAX_NOTICES + 1
    assert lines[-1] == "pkgharvest: warning: ... and 5 more warnings (see --json for all)"
    assert "\x1b" not in err and "\\x1b[31m" in lines[0]  # escapes shown, not executed
