"""`pkgharvest fetch` as a user meets it: output modes, one-line errors, every exit code."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from pkgharvest.cli import run
from pkgharvest.errors import EXIT_CODE_MEANINGS
from pkgharvest.runtime import Dependencies, RetryPolicy
from pkgharvest.store.transaction import Store
from tests.fakeapi import PUBLIC_BASE_URL, FakeApi, Faults, generate_catalogue, seed_catalogue
from tests.mirrorbuilder import many_packages, seed_content, write_mirror
from tests.mirrorcheck import digest

MP = pytest.MonkeyPatch
Cap = pytest.CaptureFixture[str]


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return tmp_path / "mirror"


def serve(handler: Any) -> Dependencies:
    """The CLI's outside world: `handler` as the API, instant retries (no network, no sleeps)."""
    return Dependencies(
        transport=httpx.MockTransport(handler),
        retry=RetryPolicy(attempts=2),
        sleep=lambda seconds: None,
    )


def fetch_cli(deps: Dependencies, data: Path, *args: str) -> int:
    return run(["fetch", "--base-url", PUBLIC_BASE_URL, "--data-dir", str(data), *args], deps)


def test_not_a_terminal_prints_one_summary_line(monkeypatch: MP, capsys: Cap, data: Path) -> None:
    deps = serve(FakeApi(seed_catalogue()).handler)
    assert fetch_cli(deps, data) == 0
    out, err = capsys.readouterr()
    assert out.count("\n") == 1 and out.startswith("fetch complete: packages 5 seen, 5 new")
    assert "\x1b[" not in out and err == ""


def test_json_prints_the_run_report(monkeypatch: MP, capsys: Cap, data: Path) -> None:
    deps = serve(FakeApi(seed_catalogue()).handler)
    assert fetch_cli(deps, data, "--json") == 0
    report = json.loads(capsys.readouterr().out)
    assert report["exit_code"] == 0 and report["complete"] is True
    assert report["counts"]["packages"] == {
        "seen": 5, "new": 5, "changed": 0, "unchanged": 0, "removed": 0, "failed": 0, "missing": 0,
    }  # fmt: skip
    assert report["counts"]["categories"]["seen"] == 5 and report["requests"] == 4
    assert {"retries", "bytes_received", "seconds", "started", "finished"} <= report.keys()


def test_quiet_prints_nothing_when_all_is_well(monkeypatch: MP, capsys: Cap, data: Path) -> None:
    deps = serve(FakeApi(seed_catalogue()).handler)
    assert fetch_cli(deps, data, "--quiet") == 0
    assert capsys.readouterr() == ("", "")


def test_warnings_go_to_stderr_as_plain_lines(monkeypatch: MP, capsys: Cap, data: Path) -> None:
    deps = serve(FakeApi(generate_catalogue(packages=60, grids=4, hostile=True)).handler)
    assert fetch_cli(deps, data) == 0
    err = capsys.readouterr().err
    assert "pkgharvest: warning: not following a link outside" in err
    assert "\x1b" not in err  # API text never reaches the terminal raw


@pytest.mark.parametrize(
    "args", [("--concurrency", "0"), ("--page-size", "-1"), ("--base-url", "ftp://example/")]
)
def test_usage_errors_exit_2(
    monkeypatch: MP, capsys: Cap, data: Path, args: tuple[str, str]
) -> None:
    deps = serve(FakeApi(seed_catalogue()).handler)
    assert run(["fetch", "--data-dir", str(data), *args], deps) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_partial_run_exits_3_and_keeps_what_it_fetched(
    monkeypatch: MP, capsys: Cap, data: Path
) -> None:
    catalogue = seed_catalogue()
    catalogue.update_package(3050, slug=None)
    deps = serve(FakeApi(catalogue).handler)
    assert fetch_cli(deps, data, "--quiet") == 3
    assert "fetch PARTIAL" in capsys.readouterr().err  # even --quiet says so
    assert len(list((data / "packages").glob("*.json"))) == 4


def test_lock_held_exits_4_naming_the_lock(monkeypatch: MP, capsys: Cap, data: Path) -> None:
    deps = serve(FakeApi(seed_catalogue()).handler)
    with Store(data).lock():
        assert fetch_cli(deps, data) == 4
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(data / ".lock") in err


def test_unknown_target_exits_5(monkeypatch: MP, capsys: Cap, data: Path) -> None:
    deps = serve(FakeApi(seed_catalogue()).handler)
    assert fetch_cli(deps, data, "no-such-package") == 5
    assert "no package 'no-such-package'" in capsys.readouterr().err


def test_corrupt_manifest_exits_65_and_touches_nothing(
    monkeypatch: MP, capsys: Cap, data: Path
) -> None:
    deps = serve(FakeApi(seed_catalogue()).handler)
    assert fetch_cli(deps, data) == 0
    (data / "manifest.json").write_text("{ truncated", "utf-8")
    before = digest(data)
    capsys.readouterr()
    assert fetch_cli(deps, data) == 65
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "manifest.json" in err and "Traceback" not in err
    assert digest(data) == before


def test_unwritable_data_folder_exits_73(monkeypatch: MP, capsys: Cap, tmp_path: Path) -> None:
    deps = serve(FakeApi(seed_catalogue()).handler)
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert fetch_cli(deps, blocker / "mirror") == 73
    err = capsys.readouterr().err
    assert err.startswith("pkgharvest: error: cannot") and err.count("\n") == 1


def test_api_kept_failing_exits_75_and_the_mirror_is_unchanged(
    monkeypatch: MP, capsys: Cap, data: Path
) -> None:
    api = FakeApi(seed_catalogue())
    deps = serve(api.handler)
    assert fetch_cli(deps, data) == 0
    before = digest(data)
    api.faults = Faults(rate=1.0, kinds=("503",))
    assert fetch_cli(deps, data) == 75
    err = capsys.readouterr().err
    assert "the mirror is unchanged" in err and err.count("\n") == 1
    assert digest(data) == before


def test_unreachable_host_exits_75(monkeypatch: MP, capsys: Cap, data: Path) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    deps = serve(refuse)
    assert fetch_cli(deps, data) == 75
    assert "could not connect" in capsys.readouterr().err


def test_a_base_url_that_is_not_the_api_exits_78(monkeypatch: MP, capsys: Cap, data: Path) -> None:
    deps = serve(lambda request: httpx.Response(404, json={"detail": "Not found."}))
    assert fetch_cli(deps, data) == 78
    assert "check --base-url" in capsys.readouterr().err


def test_ctrl_c_exits_130(monkeypatch: MP, capsys: Cap, data: Path) -> None:
    def interrupt(request: httpx.Request) -> httpx.Response:
        raise KeyboardInterrupt

    deps = serve(interrupt)
    assert fetch_cli(deps, data) == 130
    assert "interrupted" in capsys.readouterr().err


def test_a_bug_is_one_line_unless_debug(monkeypatch: MP, capsys: Cap, data: Path) -> None:
    def broken(request: httpx.Request) -> httpx.Response:
        raise RuntimeError("boom")

    deps = serve(broken)
    assert fetch_cli(deps, data) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "RuntimeError: boom" in err and "--debug" in err
    assert fetch_cli(deps, data, "--debug") == 1
    assert "Traceback (most recent call last)" in capsys.readouterr().err


def test_help_documents_the_exit_codes_once(capsys: Cap) -> None:
    """The top-level help lists every exit code; `fetch --help` points there instead of
    repeating the list."""
    assert run(["--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    for code, meaning in EXIT_CODE_MEANINGS.items():
        assert f"{int(code)} {' '.join(meaning.split()[:4])}" in text, code
    assert "75 the API could not be reached or kept failing" in text
    assert run(["fetch", "--help"]) == 0
    fetch_help = " ".join(capsys.readouterr().out.split())
    assert "Exit codes: see `pkgharvest --help`." in fetch_help
    assert "the API could not be reached" not in fetch_help


def test_a_reader_that_leaves_early_is_not_an_error(tmp_path: Path) -> None:
    """`pkgharvest export | head -c 10`: a broken pipe exits 0, without a traceback."""
    content = seed_content()
    content.packages += many_packages(600, content.grids, content.categories)
    root = write_mirror(tmp_path / "mirror", content)  # its CSV is far bigger than a pipe buffer
    command = f"{sys.executable} -m pkgharvest export --data-dir {root}"
    shell = f"{command} | head -c 10 > /dev/null; echo ${{PIPESTATUS[0]}}"
    done = subprocess.run(["bash", "-c", shell], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "0", done.stderr
    assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr


@pytest.mark.parametrize("target", ["..", ".", "a/b", "../grids"])
def test_a_target_that_is_no_slug_is_a_usage_error(capsys: Cap, data: Path, target: str) -> None:
    """`fetch ..` once asked for the API root (78 after retries), `fetch .` for the list (75)."""
    api = FakeApi(seed_catalogue())
    assert fetch_cli(serve(api.handler), data, target) == 2
    assert fetch_cli(serve(api.handler), data, "--grid", target) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 2 and "is not a package or grid slug or id" in err
    assert api.stats.requests == 0


def test_the_old_api_v3_is_recognised_at_the_root_without_retries(capsys: Cap, data: Path) -> None:
    api = FakeApi(seed_catalogue())
    base_url = PUBLIC_BASE_URL.replace("/api/v4/", "/api/v3/")
    argv = ["fetch", "--base-url", base_url, "--data-dir", str(data)]
    assert run(argv, serve(api.handler)) == 78
    err = capsys.readouterr().err
    assert "old API v3" in err and err.count("\n") == 1
    assert api.stats.requests == 1  # the root, once
    assert not (data / "manifest.json").exists()


def test_one_item_that_is_not_an_object_fails_that_item_not_the_run(
    capsys: Cap, data: Path
) -> None:
    api = FakeApi(seed_catalogue())

    def one_bad_item(request: httpx.Request) -> httpx.Response:
        response = api.handler(request)
        if "/packages/?" in str(request.url) and "offset=0" in str(request.url):
            body = json.loads(response.content)
            body["results"].insert(1, "not a record")
            body["count"] += 1
            return httpx.Response(200, json=body)
        return response

    assert fetch_cli(serve(one_bad_item), data, "--json") == 3
    report = json.loads(capsys.readouterr().out)
    assert report["counts"]["packages"]["failed"] == 1
    assert report["counts"]["packages"]["new"] == 5  # every real package is stored
    assert report["removal_withheld"] == "1 records failed"
