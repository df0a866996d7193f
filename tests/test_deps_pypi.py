"""`pkgharvest deps --django`: upgrade readiness from PyPI's JSON API (issue 18), against the
stand-in built from real PyPI answers (tests/fakepypi.py, fixtures/pypi/): the rules on real
releases, the smallest step, blocked dependencies and their alternatives' own verdicts, the
answers kept in the catalogue database (a rerun asks nothing; offline says how old), a mirror
or proxy's URL, and hostile answers that cost what fetch's limits allow and mark one
dependency unknown, never the run."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from pkgharvest.project.pypi import project_from_json, release_from_json
from pkgharvest.project.readiness import Target, Verdict, django_released, judge
from pkgharvest.runtime import RequestLimits, RetryPolicy
from tests.depsworld import copy_world, run_deps, write_world
from tests.fakepypi import FakePypi, PypiIndex
from tests.mirrorbuilder import NOW

MP = pytest.MonkeyPatch
Cap = pytest.CaptureFixture[str]
T51 = Target.parse("5.1")
RELEASED_51 = datetime(2024, 8, 7, 13, 33, 52, 959168, tzinfo=UTC)  # Django 5.1's wheel


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_world(tmp_path_factory.mktemp("deps-pypi") / "mirror")


@pytest.fixture
def world(pristine: Path, tmp_path: Path) -> Path:
    """A fresh copy per test: the PyPI answers are kept in its database."""
    return copy_world(pristine, tmp_path / "mirror")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "requirements.txt").write_text(
        "Django==5.0.9\ndjango-debug-toolbar==4.4.6\ndjango-filter==21.1\nrequests==2.32.0\n"
    )
    return folder


def release(name: str, version: str, index: PypiIndex | None = None) -> Any:
    answer = (index or PypiIndex()).release_answer(name, version)
    return release_from_json(answer)


def django_51() -> datetime | None:
    return django_released(project_from_json(PypiIndex().project_answer("django")), T51)


# --- the rules, on real releases ------------------------------------------------------------


def test_django_51_was_released_when_its_files_were_uploaded() -> None:
    assert django_51() == RELEASED_51


def test_a_classifier_for_the_target_is_ready() -> None:
    verdict = judge(release("django-debug-toolbar", "5.0.0"), T51, RELEASED_51)
    assert verdict.verdict is Verdict.READY
    assert verdict.reason == "classifier Framework :: Django :: 5.1"


def test_no_classifier_and_no_upper_bound_is_not_declared() -> None:
    # 4.4.6: classifiers up to 5.0, `django>=4.2.9`
    verdict = judge(release("django-debug-toolbar", "4.4.6"), T51, RELEASED_51)
    assert verdict.verdict is Verdict.NOT_DECLARED
    # django-filter 22.1: `Django (>=3.2)`, the old parenthesised form
    assert judge(release("django-filter", "22.1"), T51, RELEASED_51).verdict is Verdict.NOT_DECLARED


def test_a_requirement_that_excludes_the_target_is_not_ready() -> None:
    index = PypiIndex().vary("django-debug-toolbar", "5.0.0", requires_dist=["django<5.1,>=4.2"])
    verdict = judge(release("django-debug-toolbar", "5.0.0", index), T51, RELEASED_51)
    assert verdict.verdict is Verdict.NOT_READY  # even with the 5.1 classifier
    assert verdict.reason == "requires Django<5.1,>=4.2"
    # a requirement of an extra is not the release's own
    extra = PypiIndex().vary(
        "django-debug-toolbar", "4.4.6", requires_dist=['django<4 ; extra == "legacy"']
    )
    assert judge(release("django-debug-toolbar", "4.4.6", extra), T51, RELEASED_51).verdict is (
        Verdict.NOT_DECLARED
    )


def test_an_upper_bound_counts_only_after_the_target_came_out() -> None:
    """4.4.6 was uploaded on 10 July 2024, before Django 5.1 (7 August): `<5.2` then was a
    guess; the same bound in a release of September is a statement."""
    bounded = ["django<5.2,>=4.2.9", "sqlparse>=0.2"]
    before = PypiIndex().vary("django-debug-toolbar", "4.4.6", requires_dist=bounded)
    verdict = judge(release("django-debug-toolbar", "4.4.6", before), T51, RELEASED_51)
    assert verdict.verdict is Verdict.NOT_DECLARED
    after = PypiIndex().vary(
        "django-debug-toolbar", "4.4.6", requires_dist=bounded, uploaded="2024-09-02T10:00:00Z"
    )
    verdict = judge(release("django-debug-toolbar", "4.4.6", after), T51, RELEASED_51)
    assert verdict.verdict is Verdict.READY
    assert judge(release("django-debug-toolbar", "4.4.6", after), T51, None).verdict is (
        Verdict.NOT_DECLARED  # without Django's release date the bound cannot count
    )


# --- through the command --------------------------------------------------------------------


def deps_json(
    monkeypatch: MP, capsys: Cap, world: Path, folder: Path, pypi: FakePypi, *args: str, **how: Any
) -> dict[str, Any]:
    result = run_deps(
        monkeypatch, capsys, world, "--django", "5.1", "--json", *args,
        transport=pypi.transport(), folder=folder, **how,
    )  # fmt: skip
    assert result.code == 0, result.err
    return dict(json.loads(result.out))


def items(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["name"]: item for item in document["dependencies"]}


def test_readiness_and_the_smallest_step(
    monkeypatch: MP, capsys: Cap, world: Path, project: Path
) -> None:
    pypi = FakePypi()
    document = deps_json(monkeypatch, capsys, world, project, pypi)
    found = items(document)
    toolbar = found["django-debug-toolbar"]
    assert (toolbar["django_status"], toolbar["django_ready"], toolbar["django_step"]) == (
        "upgrade",
        None,  # 4.4.6 declares nothing about 5.1
        "5.0.0",  # the oldest newer final release that does (5.0.0a0 is a pre-release)
    )
    assert toolbar["blocked"] is False
    filters = found["django-filter"]
    assert (filters["django_status"], filters["django_ready"], filters["django_step"]) == (
        "not-declared",
        None,
        None,
    )
    assert found["requests"]["django_status"] is None  # not in the catalogue: not asked
    assert document["django_target"] == "5.1"
    assert document["framework"]["version"] == "5.0.9"
    asked = sorted(pypi.requests)
    assert asked == [
        "/pypi/Django/json",
        "/pypi/django-debug-toolbar/4.4.6/json",
        "/pypi/django-debug-toolbar/5.0.0/json",
        "/pypi/django-debug-toolbar/json",
        "/pypi/django-filter/21.1/json",  # the version used; 22.1 is the newest
        "/pypi/django-filter/json",
        "/pypi/django/json",  # answered 301 to /pypi/Django/json, as PyPI does
    ]
    assert {ua.split("/")[0] for ua in pypi.user_agents} == {"pkgharvest"}


def test_a_blocked_dependency_gets_alternatives_with_their_own_verdict(
    monkeypatch: MP, capsys: Cap, world: Path, project: Path
) -> None:
    index = PypiIndex()
    for version in ("21.1", "22.1"):
        index.vary("django-filter", version, requires_dist=["Django (>=2.2,<5.0)"])
    # an alternative with an answer: django-url-filter, made from a real release
    index.copy_release("django-filter", "22.1", "0.3.15", name="django-url-filter",
                       requires_dist=["Django>=4.2"],
                       classifiers=["Framework :: Django :: 5.1"])  # fmt: skip
    index.answers["django-url-filter"] = {"0.3.15": index.answers["django-filter"].pop("0.3.15")}
    document = deps_json(monkeypatch, capsys, world, project, FakePypi(index))
    filters = items(document)["django-filter"]
    assert (filters["django_status"], filters["django_ready"], filters["blocked"]) == (
        "blocked",
        False,
        True,
    )
    assert filters["django_reason"] == ("requires Django<5.0,>=2.2; no newer release declares it")
    # django-filter is active, but blocked: its grid's best active packages, each judged
    assert [(a["slug"], a["django_ready"]) for a in filters["alternatives"]] == [
        ("django-url-filter", True),  # the dormant djangorestframework-filters never
    ]
    screen = run_deps(
        monkeypatch, capsys, world, "--django", "5.1",
        transport=FakePypi(index).transport(), folder=project,
    ).out  # fmt: skip
    assert "  ↳ try django-url-filter  ★ 340 · last commit 12 days ago · Django 5.1 ready" in screen
    failing = run_deps(
        monkeypatch, capsys, world, "--django", "5.1", "--fail-on", "blocked",
        transport=FakePypi(index).transport(), folder=project,
    )  # fmt: skip
    assert failing.code == 8 and "--fail-on blocked: 1 dependency (django-filter)" in failing.err


def test_answers_are_kept_so_a_rerun_asks_nothing(
    monkeypatch: MP, capsys: Cap, world: Path, project: Path
) -> None:
    first = FakePypi()
    deps_json(monkeypatch, capsys, world, project, first)
    assert len(first.requests) == 7
    again = FakePypi()
    document = deps_json(monkeypatch, capsys, world, project, again)
    assert again.requests == []
    assert document["pypi"]["asked"] == 0 and document["pypi"]["kept"] == 3
    assert items(document)["django-debug-toolbar"]["django_step"] == "5.0.0"
    # two days later the projects are asked again (new releases come out), not the releases
    later = FakePypi()
    deps_json(monkeypatch, capsys, world, project, later, now=NOW + timedelta(days=2))
    assert sorted(later.requests) == [
        "/pypi/Django/json",
        "/pypi/django-debug-toolbar/json",
        "/pypi/django-filter/json",
        "/pypi/django/json",
    ]


def test_offline_answers_from_what_is_kept_and_says_how_old(
    monkeypatch: MP, capsys: Cap, world: Path, project: Path
) -> None:
    nothing = run_deps(monkeypatch, capsys, world, "--django", "5.1", "--offline", "--json",
                       folder=project)  # fmt: skip
    assert nothing.code == 0, nothing.err
    document = json.loads(nothing.out)
    assert items(document)["django-filter"]["django_status"] == "unknown"
    assert "django-filter: offline, and no answer kept" in document["pypi"]["unknown"]
    deps_json(monkeypatch, capsys, world, project, FakePypi())  # keeps the answers
    later = NOW + timedelta(days=3, hours=5)
    table = run_deps(monkeypatch, capsys, world, "--django", "5.1", "--offline", folder=project,
                     now=later)  # fmt: skip
    assert table.code == 0, table.err
    assert "PyPI (offline): 3 kept (the oldest from 3 days ago)." in table.out
    row = next(line for line in table.out.splitlines() if line.startswith("django-debug-toolbar"))
    assert row.split()[-2:] == ["→", "5.0.0"]


def test_when_pypi_fails_a_kept_answer_is_used_however_old(
    monkeypatch: MP, capsys: Cap, world: Path, project: Path
) -> None:
    deps_json(monkeypatch, capsys, world, project, FakePypi())
    failing = FakePypi().fault(r"/json$", "500")
    document = deps_json(monkeypatch, capsys, world, project, failing, now=NOW + timedelta(days=5))
    assert document["pypi"]["kept_older_than_a_day"] == 3 and document["pypi"]["unknown"] == []
    assert items(document)["django-debug-toolbar"]["django_step"] == "5.0.0"


def test_a_mirror_or_proxy_url_and_its_variable(
    monkeypatch: MP, capsys: Cap, world: Path, project: Path
) -> None:
    proxy = "https://repo.example/artifactory/api/pypi/pypi-remote/pypi"
    pypi = FakePypi()
    document = deps_json(monkeypatch, capsys, world, project, pypi, "--pypi-url", proxy)
    assert pypi.hosts == {"repo.example"}
    assert "/artifactory/api/pypi/pypi-remote/pypi/django-filter/json" in pypi.requests
    assert document["pypi"]["index_url"] == proxy + "/"
    by_env = FakePypi()
    deps_json(monkeypatch, capsys, world, project, by_env, env={"PKGHARVEST_PYPI_URL": proxy})
    assert by_env.requests == []  # the same index: kept answers
    bad = run_deps(monkeypatch, capsys, world, "--django", "5.1", "--pypi-url", "ftp://x/",
                   folder=project)  # fmt: skip
    assert bad.code == 2
    assert bad.err == (
        "pkgharvest: error: --pypi-url: 'ftp://x/' is not an http:// or https:// URL\n"
    )
    env = run_deps(monkeypatch, capsys, world, "--django", "5.1", folder=project,
                   env={"PKGHARVEST_PYPI_URL": "pypi.org"})  # fmt: skip
    assert env.code == 2
    assert env.err == (
        "pkgharvest: error: PKGHARVEST_PYPI_URL: 'pypi.org' is not an http:// or https:// URL\n"
    )


@pytest.mark.parametrize(
    "fault", ["500", "html", "invalid-json", "wrong-shape", "foreign-redirect"]
)
def test_a_bad_answer_marks_that_dependency_unknown_never_the_run(
    monkeypatch: MP, capsys: Cap, world: Path, project: Path, fault: str
) -> None:
    pypi = FakePypi().fault(r"/pypi/django-filter/json$", fault)
    document = deps_json(monkeypatch, capsys, world, project, pypi)
    assert items(document)["django-filter"]["django_status"] == "unknown"
    assert items(document)["django-debug-toolbar"]["django_step"] == "5.0.0"
    assert len(document["pypi"]["unknown"]) == 1
    assert pypi.hosts == {"pypi.org"}  # a redirect to another host is never followed
    again = deps_json(monkeypatch, capsys, world, project, FakePypi())
    assert items(again)["django-filter"]["django_status"] == "not-declared"  # not kept


def test_a_429_is_waited_out_as_retry_after_says(
    monkeypatch: MP, capsys: Cap, world: Path, project: Path
) -> None:
    waits: list[float] = []
    pypi = FakePypi().fault(r"/pypi/django-filter/json$", "429", times=1)
    document = deps_json(
        monkeypatch, capsys, world, project, pypi, sleep=waits.append,
        retry=RetryPolicy(attempts=3, backoff_initial=0.0, retry_after_cap=60.0),
    )  # fmt: skip
    assert items(document)["django-filter"]["django_status"] == "not-declared"
    assert 7.0 in waits  # the stand-in's Retry-After
    assert pypi.requests.count("/pypi/django-filter/json") == 2


def test_hostile_text_in_an_answer_never_reaches_the_terminal(
    monkeypatch: MP, capsys: Cap, world: Path, project: Path
) -> None:
    hostile = "\x1b]0;pwned\x07\x1b[2J[bold red]x[/bold red]\u202e"
    index = PypiIndex().vary(
        "django-debug-toolbar", "5.0.1", summary=hostile,
        classifiers=[hostile, "Framework :: Django :: 5.1"],
    )  # fmt: skip
    index.copy_release("django-debug-toolbar", "5.0.1", "5.0.2" + hostile)
    result = run_deps(monkeypatch, capsys, world, "--django", "5.1",
                      transport=FakePypi(index).transport(), folder=project)  # fmt: skip
    assert result.code == 0, result.err
    assert not set("\x1b\x07\u202e") & set(result.out + result.err)
    row = next(line for line in result.out.splitlines() if line.startswith("django-debug-toolbar"))
    assert row.split()[-2:] == ["→", "5.0.0"]


def test_an_answer_that_says_nothing_right_is_unknown(
    monkeypatch: MP, capsys: Cap, world: Path, project: Path
) -> None:
    """JSON of PyPI's shape with fields of the wrong type: that dependency is unknown."""
    index = PypiIndex().vary("django-filter", "22.1", name=["not", "text"])
    document = deps_json(monkeypatch, capsys, world, project, FakePypi(index))
    assert items(document)["django-filter"]["django_status"] == "unknown"
    assert any("is not a short text" in r for r in document["pypi"]["unknown"])


# --- the real socket: huge, endless and slow answers ------------------------------------------


@pytest.mark.parametrize("fault", ["gzip-bomb", "endless", "drip"])
def test_a_huge_or_slow_answer_costs_what_the_limits_allow(
    monkeypatch: MP, capsys: Cap, world: Path, project: Path, fault: str
) -> None:
    """On 127.0.0.1: a gzip body inflating to 256 MB, an endless chunked body, a byte every
    0.05 s. Each attempt stops at the body cap (here 1 MiB) or the request deadline (here
    0.5 s); that dependency is unknown, the others are judged, the run ends well."""
    pypi = FakePypi(drip_interval=0.05).fault(r"/pypi/django-filter/json$", fault)
    with pypi.serve() as index_url:
        started = time.monotonic()
        result = run_deps(
            monkeypatch, capsys, world, "--django", "5.1", "--json", "--pypi-url", index_url,
            folder=project, limits=RequestLimits(deadline=0.5, max_body_bytes=1 << 20),
        )  # fmt: skip
        seconds = time.monotonic() - started
    assert result.code == 0, result.err
    document = json.loads(result.out)
    assert items(document)["django-filter"]["django_status"] == "unknown"
    assert items(document)["django-debug-toolbar"]["django_step"] == "5.0.0"
    reason = document["pypi"]["unknown"][0]
    assert ("larger than the 1,048,576-byte limit" in reason) or ("0.5 s" in reason), reason
    assert seconds < 2 * 0.5 + 5.0  # two attempts at the deadline, and slack for load


def test_at_most_concurrency_requests_at_once(monkeypatch: MP, capsys: Cap, world: Path) -> None:
    pypi = FakePypi()
    pypi.hold = 0.05
    with pypi.serve() as index_url:
        result = run_deps(monkeypatch, capsys, world, "netbox", "--django", "5.1",
                          "--concurrency", "2", "--pypi-url", index_url)  # fmt: skip
    assert result.code == 0, result.err
    assert len(pypi.requests) >= 10 and pypi.max_in_flight == 2
