"""What fetch shows while it runs: a bar on a terminal, plain warning lines otherwise."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from pkgharvest.cli.progress import MAX_NOTICES, BarSink, LineSink
from pkgharvest.events import ListSized, Notice, RecordsDone, RequestDone, Retrying
from pkgharvest.records import Kind


def test_the_bar_shows_records_requests_and_retries() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=120, color_system=None)
    with BarSink(console) as sink:
        sink(ListSized(Kind.PACKAGE, 250))
        sink(RequestDone("u", 200, 2_500_000))
        sink(Retrying("u", "server error 503", 1.0, 1))
        sink(RecordsDone(Kind.PACKAGE, 100))
        sink(RecordsDone(Kind.PACKAGE, 150))
        sink(Notice("the packages list changed during the crawl"))
    text = out.getvalue()
    assert "packages" in text and "250/250" in text
    assert "1 requests, 2.5 MB, 1 retries" in text
    assert "pkgharvest: warning: the packages list changed during the crawl" in text


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
