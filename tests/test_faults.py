"""Fault injection: whatever the API does, a run either completes with a mirror equal to the API's
data, or ends with its documented exit code and leaves the previous mirror byte-for-byte as it
was, every file parseable.

Every case starts from a previous mirror of the fake catalogue, then changes the catalogue
(packages updated, added and removed, a grid renamed), so that a run that completes has real
work to do and a run that fails has something to spoil. The quick cases run in-process with
injected clocks (no real sleeps); `-m slow` adds the long matrix (seeds, real sockets, repeated
`kill -9`).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import random
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from pkgharvest import cli
from pkgharvest.errors import ExitCode, PkgHarvestError
from pkgharvest.runtime import Dependencies, RetryPolicy
from tests.fakeapi import ALL_FAULTS, Catalogue, FakeApi, Faults, generate_catalogue
from tests.faultkit import (
    FAST_RETRY,
    MOCK_BASE_URL,
    copy_mirror,
    dangling_links,
    fake_api_process,
    fetch_mock,
    fetch_served,
    fetch_with_handler,
    harvester_argv,
    mirror_differences,
    mirror_files,
    unparseable_files,
)

PACKAGES, GRIDS = 120, 10  # with 20 a page (16 apart): 8 package pages, 1 grid, 1 category
PAGE = r"/packages/\?limit=20&offset=64$"  # one package page in the middle of the list


@dataclass
class Scenario:
    """A previous mirror in `root` (bytes in `before`) and the catalogue, changed since."""

    catalogue: Catalogue
    root: Path
    before: dict[str, bytes]
    added: list[int]
    removed: list[int]
    updated: list[int]


def change_catalogue(catalogue: Catalogue) -> tuple[list[int], list[int], list[int]]:
    """Update 5 packages, remove 3, add 4 (in a grid), rename a grid: (added, removed, updated)."""
    ids = sorted(catalogue.packages)
    updated = ids[10:15]
    for package_id in updated:
        stars = catalogue.packages[package_id]["repo_watchers"]
        catalogue.update_package(package_id, repo_watchers=stars + 7, pypi_version="9.9.9")
    removed = ids[40:43]
    for package_id in removed:
        catalogue.delete_package(package_id)
    grid_id = min(catalogue.grids)
    added = [catalogue.add_package(grids=[grid_id], title=f"New {n}") for n in range(4)]
    catalogue.grids[grid_id] = {**catalogue.grids[grid_id], "title": "Renamed grid"}
    catalogue.touched()
    return added, removed, updated


def scenario(root: Path, *, seed: int = 0) -> Scenario:
    catalogue = generate_catalogue(PACKAGES, GRIDS, seed=seed)
    report = fetch_mock(FakeApi(catalogue), root)
    assert report.exit_code == ExitCode.OK
    before = mirror_files(root)
    added, removed, updated = change_catalogue(catalogue)
    return Scenario(catalogue, root, before, added, removed, updated)


def assert_mirror_is_the_apis(case: Scenario) -> None:
    assert mirror_differences(case.root, case.catalogue, base_url=MOCK_BASE_URL) == []
    assert unparseable_files(case.root) == []


def assert_untouched(case: Scenario) -> None:
    assert mirror_files(case.root) == case.before  # byte for byte, manifest included
    assert unparseable_files(case.root) == []
    leftovers = [p.name for p in case.root.iterdir() if p.name.startswith(".staging")]
    assert leftovers == []


# --- one fault kind at a time, now and then: the run completes ------------------------------


@pytest.mark.parametrize("fault", ALL_FAULTS)
def test_a_fault_now_and_then_is_retried_and_the_mirror_ends_equal(
    tmp_path: Path, fault: str
) -> None:
    case = scenario(tmp_path)
    api = FakeApi(case.catalogue, faults=Faults(rate=0.3, kinds=(fault,), seed=3, retry_after="2"))

    report = fetch_mock(api, case.root)

    assert api.stats.faults >= 2, "the fault was never injected"
    assert report.exit_code == ExitCode.OK and report.complete
    assert report.retries == api.stats.faults  # each fault cost exactly one retry
    packages = report.counts["packages"]
    assert (packages.new, packages.removed) == (len(case.added), len(case.removed))
    assert packages.changed >= len(case.updated)
    assert_mirror_is_the_apis(case)


# Seeds whose draws (the same in every run: Faults) mix at least four kinds in this crawl.
@pytest.mark.parametrize("seed", [3, 5])
def test_every_kind_of_fault_mixed_still_ends_equal(tmp_path: Path, seed: int) -> None:
    case = scenario(tmp_path, seed=seed)
    api = FakeApi(case.catalogue, faults=Faults(rate=0.35, seed=seed))

    report = fetch_mock(api, case.root, concurrency=3)

    assert len(api.stats.faults_by_kind) >= 4, api.stats.faults_by_kind
    assert report.exit_code == ExitCode.OK and report.retries == api.stats.faults
    assert_mirror_is_the_apis(case)


# --- a fault that does not go away: the documented exit code, the mirror untouched -----------


@pytest.mark.parametrize("fault", ALL_FAULTS)
def test_a_page_that_keeps_failing_ends_75_and_leaves_the_mirror_untouched(
    tmp_path: Path, fault: str
) -> None:
    case = scenario(tmp_path)
    api = FakeApi(case.catalogue, faults=Faults().script(PAGE, fault, times=None))

    with pytest.raises(PkgHarvestError) as failure:
        fetch_mock(api, case.root)

    assert failure.value.exit_code == ExitCode.TEMPFAIL
    assert "offset=64" in str(failure.value) and "unchanged" in str(failure.value)
    attempts = sum(1 for path in api.stats.paths if "offset=64" in path)
    assert attempts == FAST_RETRY.attempts  # it tried as often as it says, then stopped
    assert_untouched(case)


@pytest.mark.parametrize(
    ("fault", "code"),
    [("503", ExitCode.TEMPFAIL), ("reset", ExitCode.TEMPFAIL), ("html", ExitCode.CONFIG)],
)
def test_a_root_that_keeps_failing_ends_with_its_code(
    tmp_path: Path, fault: str, code: ExitCode
) -> None:
    """A root that answers 200 with HTML is not the API (78); one that is down is 'later' (75)."""
    case = scenario(tmp_path)
    api = FakeApi(case.catalogue, faults=Faults().script(r"^/api/v4/$", fault, times=None))

    with pytest.raises(PkgHarvestError) as failure:
        fetch_mock(api, case.root)

    assert failure.value.exit_code == code
    assert set(api.stats.paths) == {"/api/v4/"}  # nothing else was asked for
    assert_untouched(case)


# --- the list changes while it is read ------------------------------------------------------


def test_a_count_change_is_seen_when_an_older_page_is_taken_after_a_newer_one(
    tmp_path: Path,
) -> None:
    """Pages are taken in offset order but served in any order: the last page (offset 112) is
    served before the list changes, offset 96 after it, and 112 is taken last. The change must
    still be seen (and the first page read again), not hidden by the last page's old `count`."""
    case = scenario(tmp_path)
    catalogue = case.catalogue
    api = FakeApi(catalogue)
    serve = api.handler
    older_page_served = threading.Event()
    inserted: list[int] = []

    def out_of_order(request: httpx.Request) -> httpx.Response:
        target = request.url.raw_path.decode("ascii")
        if target.endswith("/packages/?limit=20&offset=112"):
            response = serve(request)
            older_page_served.set()
            return response
        if target.endswith("/packages/?limit=20&offset=96") and not inserted:
            assert older_page_served.wait(timeout=10), "offset 112 was never asked for"
            inserted.extend(catalogue.add_package() for _ in range(3))
        return serve(request)

    api.handler = out_of_order  # type: ignore[method-assign]
    report = fetch_mock(api, case.root)

    assert inserted and report.exit_code == ExitCode.OK
    first_pages = [p for p in api.stats.paths if p.endswith("/packages/?limit=20&offset=0")]
    assert len(first_pages) == 2  # the change was seen: the first page was read again
    on_disk = {json.loads(data)["id"] for name, data in mirror_files(case.root).items()
               if name.startswith("packages/")}  # fmt: skip
    assert set(inserted) <= on_disk  # the new packages are mirrored by this run


def test_inserts_and_deletes_during_the_crawl_are_caught_by_another_pass(tmp_path: Path) -> None:
    """Packages added (count grows) and removed (offsets shift, one would never be seen) while
    the package list is read: another pass reads it whole, so every package present for the
    whole crawl is mirrored as the API has it, the new ones are there, the deleted are gone."""
    case = scenario(tmp_path)
    catalogue = case.catalogue
    oldest = sorted(catalogue.packages)[:2]  # the end of a newest-first list: not yet read
    inserted: list[int] = []
    changing = threading.Lock()

    def change_mid_crawl(number: int, target: str) -> None:
        # The first request for offset 48 or beyond, whichever the threads send first: with
        # several in flight the last page (the two oldest) may arrive before offset 48, and a
        # page served before the change would rightly show them (seen while they existed).
        _, _, offset = target.partition("/packages/?limit=20&offset=")
        with changing:  # requests in flight call this from several threads
            if offset.isdigit() and int(offset) >= 48 and not inserted:
                inserted.extend(catalogue.add_package() for _ in range(3))
                for package_id in oldest:
                    catalogue.delete_package(package_id)

    stable = set(catalogue.packages) - set(oldest)
    api = FakeApi(catalogue, on_request=change_mid_crawl)
    report = fetch_mock(api, case.root)

    assert inserted, "the catalogue was never changed"
    assert report.exit_code == ExitCode.OK and report.complete
    first_pages = [p for p in api.stats.paths if p.endswith("/packages/?limit=20&offset=0")]
    assert len(first_pages) == 2  # the package list was read again
    assert mirror_differences(case.root, catalogue, only_packages=stable | set(inserted)) == []
    on_disk = {json.loads(data)["id"] for name, data in mirror_files(case.root).items()
               if name.startswith("packages/")}  # fmt: skip
    assert not on_disk & set(oldest)
    # Grids were read before the change; the next run (nothing changing) makes all equal.
    fetch_mock(FakeApi(catalogue), case.root)
    assert mirror_differences(case.root, catalogue) == []


@pytest.mark.parametrize("concurrency", [1, 4])
def test_steady_churn_exits_0_and_mirrors_every_package_present_throughout(
    tmp_path: Path, concurrency: int
) -> None:
    """A package added every 5 list requests and one deleted every 7 (0.1 exited 3 every
    time), and on one request one of each, which leaves `count` unchanged: the run exits 0,
    every package present from start to end is mirrored field for field, nothing present is
    removed, and no grid lists a package the mirror lacks."""
    case = scenario(tmp_path)
    catalogue = case.catalogue
    rng = random.Random(5)
    added: list[int] = []
    deleted: list[int] = []
    requests = 0

    def churn(number: int, target: str) -> None:
        nonlocal requests
        if "/packages/?" not in target:
            return
        requests += 1
        grid = rng.choice(sorted(catalogue.grids))
        if requests % 5 == 0 or requests == 3:
            added.append(catalogue.add_package(category=1, grids=[grid]))
        if requests % 7 == 0 or requests == 3:
            victim = rng.choice(sorted(catalogue.packages))
            deleted.append(victim)
            catalogue.delete_package(victim)

    stable = set(catalogue.packages)
    api = FakeApi(catalogue, on_request=churn)
    report = fetch_mock(api, case.root, concurrency=concurrency)
    stable -= set(deleted)

    assert len(added) >= 2 and len(deleted) >= 2
    assert report.exit_code == ExitCode.OK and report.complete, report.notices
    assert mirror_differences(case.root, catalogue, only_packages=stable) == []
    on_disk = {json.loads(data)["id"] for name, data in mirror_files(case.root).items()
               if name.startswith("packages/")}  # fmt: skip
    assert stable <= on_disk  # nothing present throughout was removed
    assert on_disk <= stable | set(added) | set(deleted)
    assert dangling_links(case.root) == []
    # The next run, with nothing changing, makes the mirror equal to the API.
    assert fetch_mock(FakeApi(catalogue), case.root).exit_code == ExitCode.OK
    assert mirror_differences(case.root, catalogue) == []


def test_a_deletion_mid_run_leaves_no_grid_listing_a_package_the_mirror_lacks(
    tmp_path: Path,
) -> None:
    """0.1 removed the package file but left three grids listing {"id": 14, "slug": null}."""
    case = scenario(tmp_path)
    catalogue = case.catalogue
    member = max(set().union(*(g["packages"] for g in catalogue.grids.values())))
    in_grids = [g for g, grid in catalogue.grids.items() if member in grid["packages"]]
    deleted: list[int] = []

    def delete_after_the_grids(number: int, target: str) -> None:
        if "/packages/?" in target and not deleted:
            deleted.append(member)
            catalogue.delete_package(member)

    report = fetch_mock(FakeApi(catalogue, on_request=delete_after_the_grids), case.root)

    assert deleted and in_grids
    assert report.exit_code == ExitCode.OK
    assert dangling_links(case.root) == []
    assert mirror_differences(case.root, catalogue) == []


def test_pages_that_never_meet_end_partial_and_remove_nothing(tmp_path: Path) -> None:
    """A server whose later pages always skip records (as if many were deleted between any
    two reads): no boundary can be proven, so the run is partial: what was fetched is kept,
    nothing is removed, every file parses."""
    case = scenario(tmp_path)
    api = FakeApi(case.catalogue)

    def skipping(request: httpx.Request) -> httpx.Response:
        url = request.url
        offset = int(url.params.get("offset", "0"))
        if "/packages/" in url.path and offset > 0:
            request = httpx.Request("GET", url.copy_set_param("offset", str(offset + 30)))
        return api.handler(request)

    report = fetch_with_handler(skipping, case.root)

    assert report.exit_code == ExitCode.PARTIAL and not report.complete
    assert report.removal_withheld is not None and "did not meet" in report.removal_withheld
    assert report.counts["packages"].removed == 0
    files = mirror_files(case.root)
    previous_packages = {name for name in case.before if name.startswith("packages/")}
    assert previous_packages <= set(files)  # removed packages are still there
    assert unparseable_files(case.root) == []
    manifest = json.loads(files["manifest.json"])
    assert manifest["last_run"]["exit_code"] == ExitCode.PARTIAL


def test_a_count_far_beyond_the_pages_is_a_fault_not_a_crawl(tmp_path: Path) -> None:
    """`count = 10**9` over the real records: 0.1 scheduled ~10**7 pages. The first short
    page ends the crawl; the count is reported and the run is partial."""
    case = scenario(tmp_path)
    api = FakeApi(case.catalogue)

    def huge_count(request: httpx.Request) -> httpx.Response:
        response = api.handler(request)
        if "/packages/" in request.url.path and request.url.params.get("offset") is not None:
            body = json.loads(response.content)
            body["count"] = 10**9
            return httpx.Response(200, json=body)
        return response

    report = fetch_with_handler(huge_count, case.root)

    assert report.exit_code == ExitCode.PARTIAL
    assert report.removal_withheld is not None and "1000000000" in report.removal_withheld
    package_pages = [p for p in api.stats.paths if p.startswith("/api/v4/packages/?")]
    assert len(package_pages) <= PACKAGES // 16 + 1 + 2 * 4  # the pages, and a window at most


# --- real sockets ---------------------------------------------------------------------------


@pytest.mark.parametrize("fault", ["reset", "timeout", "truncated"])
def test_broken_connections_on_real_sockets_are_retried(tmp_path: Path, fault: str) -> None:
    """Resets (RST), a server that never answers (read timeout) and a body cut short (fewer
    bytes than Content-Length), on a real keep-alive connection."""
    catalogue = generate_catalogue(PACKAGES, GRIDS)
    api = FakeApi(catalogue)
    root = tmp_path / "mirror"
    with api.serve() as base_url:
        assert fetch_served(base_url, root).exit_code == ExitCode.OK
        change_catalogue(catalogue)
        api.faults = Faults(timeout_hold=2.0)
        for offset in (0, 64):
            api.faults.script(rf"/packages/\?limit=20&offset={offset}$", fault, times=1)
        report = fetch_served(base_url, root, read_timeout=0.2)

    assert api.stats.faults_by_kind == {fault: 2}
    assert report.exit_code == ExitCode.OK and report.retries == 2
    assert mirror_differences(root, catalogue, base_url=base_url) == []


# --- the command line ---------------------------------------------------------------------


def run_cli(base_url: str, root: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    argv = ["fetch", "--base-url", base_url, "--data-dir", str(root), "--page-size", "20"]
    code = cli.run([*argv, "--json"], Dependencies(retry=FAST_RETRY))
    captured = capsys.readouterr()
    return code, captured.out if code in (0, 3) else captured.err


@pytest.mark.parametrize(
    ("script", "code"),
    [
        ((PAGE, "503", 2), ExitCode.OK),
        pytest.param((PAGE, "truncated", 3), ExitCode.OK, marks=pytest.mark.slow),
        pytest.param((PAGE, "503", None), ExitCode.TEMPFAIL, marks=pytest.mark.slow),
        ((PAGE, "reset", None), ExitCode.TEMPFAIL),
        ((r"^/api/v4/$", "html", None), ExitCode.CONFIG),
    ],
)
def test_the_command_exits_with_the_documented_code(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    script: tuple[str, str, int | None],
    code: ExitCode,
) -> None:
    catalogue = generate_catalogue(PACKAGES, GRIDS)
    api = FakeApi(catalogue)
    root = tmp_path / "mirror"
    with api.serve() as base_url:
        first, _ = run_cli(base_url, root, capsys)
        assert first == ExitCode.OK
        before = mirror_files(root)
        change_catalogue(catalogue)
        api.faults = Faults().script(*script)
        exit_code, output = run_cli(base_url, root, capsys)

    assert exit_code == code, output
    if code == ExitCode.OK:
        report = json.loads(output)
        assert api.stats.faults > 0
        assert report["exit_code"] == 0 and report["retries"] == api.stats.faults
        assert mirror_differences(root, catalogue, base_url=base_url) == []
    else:
        assert output.startswith("pkgharvest: error: ") and output.count("\n") == 1
        assert mirror_files(root) == before
        assert unparseable_files(root) == []


# --- kill -9 ------------------------------------------------------------------------------


KILL_PACKAGES, KILL_GRIDS = 300, 20


RecordKey = tuple[str, int]


def records_by_id(files: dict[str, bytes]) -> dict[RecordKey, bytes]:
    """Record files by (kind, id). By id, not by name: when a slug changes hands between two
    ids, which of them gets the plain name and which the `_id-N` fallback depends on the order
    pages arrive in, and readers find records by id."""
    found: dict[RecordKey, bytes] = {}
    for name, data in files.items():
        if name != "manifest.json":
            found[(name.split("/")[0], json.loads(data)["id"])] = data
    return found


@dataclass
class KillSetup:
    """Mirror `old` made from catalogue seed 0; `new` is what a whole run against catalogue
    seed 1 (every record different) makes of it, by record; `seconds`: how long that run took."""

    base_url: str
    catalogue: Catalogue
    old: Path
    new: dict[RecordKey, bytes]
    seconds: float


def prepare_kill(tmp_path: Path, base_url: str) -> KillSetup:
    """The old mirror (from an in-process server of catalogue seed 0), and the reference run
    from it to catalogue seed 1 (served at `base_url`, in a child process)."""
    old = tmp_path / "old"
    with FakeApi(generate_catalogue(KILL_PACKAGES, KILL_GRIDS, seed=0)).serve() as old_url:
        assert fetch_served(old_url, old, page_size=100).exit_code == ExitCode.OK
    reference = copy_mirror(old, tmp_path / "reference")
    started = time.monotonic()
    # The old mirror came from another server (port): this run switches it over on purpose.
    argv = harvester_argv(base_url, reference, "--switch-source")
    finished = subprocess.run(argv, capture_output=True)
    seconds = time.monotonic() - started
    assert finished.returncode == 0, finished.stderr
    catalogue = generate_catalogue(KILL_PACKAGES, KILL_GRIDS, seed=1)
    assert mirror_differences(reference, catalogue, base_url=base_url) == []
    return KillSetup(base_url, catalogue, old, records_by_id(mirror_files(reference)), seconds)


def kill_inside_the_commit(
    proc: subprocess.Popen[bytes], marker: Path, deadline: float = 120.0
) -> int:
    """Wait for the child (tests/commitpause.py) to mark that it stopped inside the commit,
    then kill -9 it; the number of records it had moved into place."""
    started = time.monotonic()
    # The marker's name appears before its text: wait for the text (read empty, it failed).
    while not (marker.exists() and marker.stat().st_size):
        if proc.poll() is not None or time.monotonic() - started > deadline:
            proc.kill()
            proc.wait()
            raise AssertionError("the run ended without reaching the commit's pause")
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=0.01)  # a wait on the child, not a sleep
    proc.kill()
    proc.wait()
    return int(marker.read_text())


def check_after_kill(setup: KillSetup, root: Path, old_files: dict[str, bytes]) -> str:
    """The state a kill -9 may leave: every file parses, each record file holds its record's
    old or new bytes, and once the manifest is new every record is new and nothing else is
    left. Returns "untouched", "mid-commit" or "committed"."""
    files = mirror_files(root)
    assert unparseable_files(root) == []
    old = records_by_id(old_files)
    for name, data in files.items():
        if name != "manifest.json":
            key = (name.split("/")[0], json.loads(data)["id"])
            assert data in (old.get(key), setup.new.get(key)), f"{name} is neither old nor new"
    if files == old_files:
        return "untouched"
    if files["manifest.json"] == old_files["manifest.json"]:
        return "mid-commit"
    assert records_by_id(files) == setup.new  # the manifest is moved in last
    assert len(files) == len(setup.new) + 1  # and no old file is left beside a new one
    return "committed"


def rerun_completes(setup: KillSetup, root: Path) -> None:
    rerun = fetch_served(setup.base_url, root, page_size=100, switch_source=True)
    assert rerun.exit_code == ExitCode.OK
    assert mirror_differences(root, setup.catalogue, base_url=setup.base_url) == []
    assert records_by_id(mirror_files(root)) == setup.new
    assert not [p for p in root.iterdir() if p.name.startswith(".staging")]


def kill_trial(
    setup: KillSetup, root: Path, kill: Callable[[subprocess.Popen[bytes]], object]
) -> str:
    copy_mirror(setup.old, root)
    old_files = mirror_files(root)
    proc = subprocess.Popen(
        harvester_argv(setup.base_url, root, "--switch-source"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    kill(proc)
    state = check_after_kill(setup, root, old_files)
    rerun_completes(setup, root)
    return state


def commit_kill_trial(setup: KillSetup, root: Path, after: int) -> int:
    """Kill -9 a run right after it moved `after` records into place (tests/commitpause.py);
    checks the state the README promises and that a rerun completes. Returns how many record
    files were new at the kill."""
    copy_mirror(setup.old, root)
    old_files = mirror_files(root)
    old_records = records_by_id(old_files)
    marker = root.parent / f"{root.name}.paused"
    env = {**os.environ, "PKGHARVEST_TEST_PAUSE_AFTER": str(after),
           "PKGHARVEST_TEST_PAUSE_MARKER": str(marker)}  # fmt: skip
    argv = harvester_argv(setup.base_url, root, "--switch-source")
    argv[1:3] = ["-m", "tests.commitpause"]  # the same arguments, the pausing entry point
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert kill_inside_the_commit(proc, marker) == after
    # Inside the commit: the manifest is still the old one, each file old or new.
    assert check_after_kill(setup, root, old_files) == "mid-commit"
    files = records_by_id(mirror_files(root))
    new = sum(
        1 for key, data in files.items() if data == setup.new.get(key) != old_records.get(key)
    )
    rerun_completes(setup, root)
    return new


def test_kill_9_inside_the_commit_leaves_each_file_old_or_new(tmp_path: Path) -> None:
    """Killed right after the commit moved 40 of the changed records into place (the child
    marks the moment from inside the commit): each file holds its old or new bytes, the
    manifest is the old one, and the next run completes."""
    with fake_api_process(packages=KILL_PACKAGES, grids=KILL_GRIDS, seed=1) as base_url:
        setup = prepare_kill(tmp_path, base_url)
        new = commit_kill_trial(setup, tmp_path / "killed", after=40)
    assert 0 < new <= 40  # by id: where a slug moved, the old name may still stand beside it


def kill_after(proc: subprocess.Popen[bytes], delay: float) -> None:
    """Kill -9 `delay` seconds after the start, unless the run has ended by then."""
    try:
        proc.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.mark.slow
def test_kill_9_at_random_moments_never_corrupts_the_mirror(tmp_path: Path) -> None:
    """Twelve runs killed: eight at a random moment of the run, four inside the commit after
    a random number of records moved. Each leaves a valid state and a rerun completes."""
    rng = random.Random(4)
    states: list[str] = []
    with fake_api_process(
        packages=KILL_PACKAGES, grids=KILL_GRIDS, seed=1, latency=0.005
    ) as base_url:
        setup = prepare_kill(tmp_path, base_url)
        for trial in range(12):
            root = tmp_path / f"killed-{trial}"
            if trial % 3 == 0:
                commit_kill_trial(setup, root, after=rng.randint(1, len(setup.new) // 2))
                states.append("mid-commit")
                continue
            kill = functools.partial(kill_after, delay=rng.uniform(0.05, setup.seconds))
            states.append(kill_trial(setup, root, kill))
    assert "untouched" in states, states


# --- the long matrix --------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(3, 13))
@pytest.mark.parametrize("rate", [0.1, 0.5])
def test_mixed_faults_matrix(tmp_path: Path, seed: int, rate: float) -> None:
    case = scenario(tmp_path, seed=seed)
    api = FakeApi(case.catalogue, faults=Faults(rate=rate, seed=seed, retry_after="3"))
    retry = FAST_RETRY if rate < 0.5 else RetryPolicy(
        attempts=12, backoff_initial=0.001, backoff_max=0.004
    )  # fmt: skip
    try:
        report = fetch_mock(api, case.root, concurrency=1 + seed % 4, page_size=10, retry=retry)
    except PkgHarvestError as err:  # a request unlucky `attempts` times in a row
        assert err.exit_code == ExitCode.TEMPFAIL
        assert_untouched(case)
        return
    assert report.exit_code == ExitCode.OK and report.retries == api.stats.faults
    assert_mirror_is_the_apis(case)


@pytest.mark.slow
@pytest.mark.parametrize("fault", ["reset", "timeout", "truncated", "503", "html", "invalid-json"])
def test_real_socket_faults_at_random(tmp_path: Path, fault: str) -> None:
    catalogue = generate_catalogue(600, 40, seed=5)
    api = FakeApi(catalogue, faults=Faults(rate=0.2, kinds=(fault,), seed=5, timeout_hold=1.0))
    with api.serve() as base_url:
        report = fetch_served(base_url, tmp_path / "m", read_timeout=0.25, concurrency=4)
    assert api.stats.faults > 3
    assert report.exit_code == ExitCode.OK and report.retries == api.stats.faults
    assert mirror_differences(tmp_path / "m", catalogue, base_url=base_url) == []
