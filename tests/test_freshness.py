"""The line under `top`, `grids` and `categories` says how fresh the mirror is, and what the
last fetch left undone: nothing after a targeted fetch that did all it was asked (it was never
meant to be the whole catalogue), "partial" after a run that kept what it could fetch."""

from __future__ import annotations

import io
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import httpx
import pytest

from pkgharvest.cli import run
from pkgharvest.runtime import Dependencies, RetryPolicy
from tests.fakeapi import PUBLIC_BASE_URL, FakeApi, generate_catalogue


def pkgharvest(api: FakeApi, root: Path, *args: str) -> tuple[int, str]:
    deps = Dependencies(
        transport=httpx.MockTransport(api.handler),
        retry=RetryPolicy(attempts=2),
        sleep=lambda seconds: None,
    )
    out = io.StringIO()
    with redirect_stdout(out), redirect_stderr(io.StringIO()):
        code = run([*args, "--data-dir", str(root)], deps)
    return code, out.getvalue()


def fetch(api: FakeApi, root: Path, *targets: str) -> int:
    return pkgharvest(api, root, "fetch", "--quiet", "--base-url", PUBLIC_BASE_URL, *targets)[0]


@pytest.fixture(autouse=True)
def _wide(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")


def test_a_targeted_fetch_leaves_the_mirror_fresh(tmp_path: Path) -> None:
    catalogue = generate_catalogue(packages=30, grids=3, seed=4)
    api = FakeApi(catalogue)
    assert fetch(api, tmp_path) == 0
    slug = catalogue.packages[sorted(catalogue.packages)[0]]["slug"]
    assert fetch(api, tmp_path, slug) == 0
    for command in ("top", "grids", "categories"):
        code, out = pkgharvest(api, tmp_path, command)
        assert code == 0
        footer = out.splitlines()[-1]
        assert footer.endswith("mirror updated just now"), (command, footer)


def test_a_partial_run_says_so(tmp_path: Path) -> None:
    catalogue = generate_catalogue(packages=30, grids=3, seed=4)
    api = FakeApi(catalogue)
    assert fetch(api, tmp_path) == 0
    catalogue.update_package(sorted(catalogue.packages)[1], slug=None)  # no usable slug
    assert fetch(api, tmp_path) == 3
    code, out = pkgharvest(api, tmp_path, "top")
    assert code == 0
    assert out.splitlines()[-1].endswith(
        "mirror updated just now; the last fetch was partial (`pkgharvest status` says more)"
    )
