"""The name index `deps` matches against is kept by the sync that writes the packages (issue
18, Speed): after any fetch, `deps` finds it current and works nothing out; after random runs
(new packages, removals, renamed pypi_urls, repo_urls and slugs) it holds exactly what a
rebuild from the packages would; a run that dies leaves it consistent with the packages."""

from __future__ import annotations

import json
import random
import sqlite3
from pathlib import Path
from typing import Any

import httpx
import pytest

from pkgharvest.catalogue import CATALOGUE_NAME, after_commit, matching, nameindex
from pkgharvest.catalogue.feed import RunFeed
from pkgharvest.records import Kind
from pkgharvest.store.transaction import Store
from tests.mirrorbuilder import synthetic_package
from tests.test_catalogue import Mirror, fetched

SOURCE = "https://example.org/api/v4/"
PYPI_FORMS = (
    "http://pypi.python.org/pypi/{}",
    "https://pypi.org/project/{}/",
    "https://pypi.org/project/{}/1.0/",
    "pypi.python.org/pypi/{}/",
    "",
    "https://example.org/not-pypi/{}",
)


def _index(root: Path) -> tuple[bool, list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """(whether the index says it is current, its rows, the rows a rebuild would make)."""
    with sqlite3.connect(root / CATALOGUE_NAME) as conn:
        current = nameindex.is_current(conn)
        kept = sorted(conn.execute("SELECT kind, name, package_id FROM package_names"))
        rebuilt = sorted(set(nameindex.all_rows(conn)))
    return current, kept, rebuilt


def _random_package(rng: random.Random, package_id: int) -> dict[str, Any]:
    """A package whose names vary run to run: its slug, its PyPI name in one of the catalogue's
    forms (or none), and its repository; some share a name with another package."""
    name = rng.choice(("Django_Filter", "django-filter", "celery", f"pkg{package_id}", "x.y"))
    slug = rng.choice((f"package-{package_id}", f"Package_{package_id}", f"p{package_id}-app"))
    return synthetic_package(
        package_id,
        slug,
        pypi_url=rng.choice(PYPI_FORMS).format(name),
        repo_url=rng.choice(
            (
                f"https://github.com/Owner{package_id % 3}/{name}.git",
                f"https://gitlab.com/o/{slug}",
                "",
                None,
            )
        ),
        stars=rng.randrange(100),
    )


def _store_run(root: Path, puts: list[dict[str, Any]], removals: list[int], *, fed: bool) -> None:
    """A fetch-like run through the store: the feed applies the records as they are staged
    (`fed`), or the database syncs from the files after the commit, as a catch-up does."""
    store = Store(root)
    with store.lock():
        store.open_for_update(source=SOURCE)
        database = RunFeed.open(root) if fed else None
        try:
            txn = store.begin(feed=database)
            for record in puts:
                txn.put(Kind.PACKAGE, record)
            txn.schedule_removal(Kind.PACKAGE, removals)
            started = f"2026-06-{len(puts) % 27 + 1:02d}T{len(removals) % 24:02d}:00:00Z"
            txn.commit(source=SOURCE, run={"started": started, "complete": True})
            if database is None:
                assert after_commit(root, id_hints=txn.written_ids(), locked=True).problem is None
            else:
                assert database.finish(id_hints=txn.written_ids()).problem is None
        finally:
            if database is not None:
                database.close()


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("fed", [True, False], ids=["fed", "synced"])
def test_after_random_runs_the_index_is_current_and_equals_a_rebuild(
    tmp_path: Path, seed: int, fed: bool
) -> None:
    rng = random.Random(seed)
    root = tmp_path / "mirror"
    present: set[int] = set()
    for _ in range(6):
        puts = rng.sample(range(1, 80), rng.randrange(5, 40))
        removals = rng.sample(sorted(present - set(puts)), min(len(present - set(puts)), 6))
        _store_run(root, [_random_package(rng, i) for i in puts], removals, fed=fed)
        present = (present | set(puts)) - set(removals)
        current, kept, rebuilt = _index(root)
        assert current
        assert kept == rebuilt
        assert {package_id for *_, package_id in kept} <= present
    assert any(kind == nameindex.PYPI for kind, *_ in kept)  # the runs did name packages


def test_a_renamed_pypi_url_moves_the_name_and_a_removal_drops_it(tmp_path: Path) -> None:
    mirror = Mirror(tmp_path / "mirror")
    mirror.put(1, "one", pypi_url="https://pypi.org/project/Django_Filter/", repo_url="")
    mirror.put(2, "two", pypi_url="http://pypi.python.org/pypi/celery", repo_url="")
    mirror.commit()
    mirror.put(1, "one", pypi_url="https://pypi.org/project/gunicorn/", repo_url="")
    mirror.remove(2)
    mirror.commit()
    current, kept, rebuilt = _index(mirror.root)
    assert current and kept == rebuilt
    assert [row for row in kept if row[0] == nameindex.PYPI] == [("pypi", "gunicorn", 1)]


def test_a_run_killed_after_its_json_commit_is_caught_up_with_its_names(tmp_path: Path) -> None:
    """The mirror committed, the database not yet (the run died between): the next command's
    catch-up brings the packages and their names in together."""
    mirror = Mirror(tmp_path / "mirror")
    mirror.put(1, "one", pypi_url="https://pypi.org/project/alpha/")
    mirror.commit()
    mirror.put(1, "one", pypi_url="https://pypi.org/project/beta/")
    mirror.put(2, "two", pypi_url="https://pypi.org/project/gamma/")
    mirror.commit(sync=False)
    current, kept, rebuilt = _index(mirror.root)  # behind the mirror, like its packages
    assert current and ("pypi", "alpha", 1) in kept and kept == rebuilt
    assert after_commit(mirror.root).problem is None
    current, kept, rebuilt = _index(mirror.root)
    assert current and kept == rebuilt
    assert {name for kind, name, _ in kept if kind == "pypi"} == {"beta", "gamma"}


def test_a_feed_killed_before_its_commit_leaves_the_index_as_it_was(tmp_path: Path) -> None:
    root = tmp_path / "mirror"
    rng = random.Random(7)
    _store_run(root, [_random_package(rng, i) for i in range(1, 30)], [], fed=True)
    before = _index(root)
    store = Store(root)
    with store.lock():
        store.open_for_update(source=SOURCE)
        database = RunFeed.open(root)
        txn = store.begin(feed=database)
        for package_id in range(5, 700):  # more than a batch: some of it applied already
            txn.put(Kind.PACKAGE, _random_package(rng, package_id))
        txn.discard()
        database.close()
    assert _index(root) == before and before[0]


def test_a_database_whose_index_is_not_current_has_it_rebuilt_by_the_next_sync(
    tmp_path: Path,
) -> None:
    """A database made before the sync kept the index (no stamp, stale rows): its next sync
    rebuilds it whole; `deps` before any sync rebuilds it itself, once."""
    mirror = Mirror(tmp_path / "mirror")
    for package_id in range(1, 6):
        mirror.put(package_id, f"p{package_id}", pypi_url=f"https://pypi.org/project/n{package_id}")
    mirror.commit()
    with sqlite3.connect(mirror.root / CATALOGUE_NAME) as conn:
        conn.execute("DELETE FROM catalogue_meta WHERE key = ?", (nameindex.NAMES_STAMP_KEY,))
        conn.execute("DELETE FROM package_names WHERE package_id > 2")
        conn.execute("INSERT INTO package_names VALUES ('pypi', 'stale', 1)")
    with sqlite3.connect(mirror.root / CATALOGUE_NAME) as conn:
        index = matching.NameIndex(conn)
        assert index.rebuilt
        assert index.lookup("pypi", ["n4", "stale"]) == {"n4": [4]}
        assert not matching.NameIndex(conn).rebuilt  # once
        conn.execute("DELETE FROM catalogue_meta WHERE key = ?", (nameindex.NAMES_STAMP_KEY,))
        conn.execute("INSERT INTO package_names VALUES ('pypi', 'stale', 1)")
        conn.commit()
    mirror.put(6, "p6", pypi_url="https://pypi.org/project/n6", last_fetched=fetched(2))
    mirror.commit()
    current, kept, rebuilt = _index(mirror.root)
    assert current and kept == rebuilt and ("pypi", "n6", 6) in kept


def test_deps_after_a_fetch_works_no_names_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through the commands: fetch from the fake API (twice, the second after the service
    renamed one package's pypi_url and deleted another), then `deps`, which finds the index
    current (a rebuild would fail here) and matches by the new name."""
    from pkgharvest.cli import run
    from pkgharvest.runtime import Dependencies, RetryPolicy
    from tests.fakeapi import PUBLIC_BASE_URL, FakeApi, generate_catalogue

    catalogue = generate_catalogue(120, 8, seed=5)
    api = FakeApi(catalogue)
    deps = Dependencies(
        transport=httpx.MockTransport(api.handler),
        retry=RetryPolicy(attempts=2),
        sleep=lambda seconds: None,
    )
    data = tmp_path / "mirror"
    fetch = ["fetch", "--base-url", PUBLIC_BASE_URL, "--data-dir", str(data), "--quiet"]
    assert run(fetch, deps) == 0
    renamed, deleted = sorted(catalogue.packages)[:2]
    catalogue.update_package(renamed, pypi_url="https://pypi.org/project/Brand_New-Name/")
    catalogue.delete_package(deleted)
    assert run(fetch, deps) == 0
    current, kept, rebuilt = _index(data)
    assert current and kept == rebuilt
    assert not any(package_id == deleted for *_, package_id in kept)

    def no_rebuild(*args: object) -> None:
        raise AssertionError("deps worked the names out again")

    monkeypatch.setattr(nameindex, "rebuild", no_rebuild)
    monkeypatch.setattr(nameindex, "all_rows", no_rebuild)
    (tmp_path / "requirements.txt").write_text("brand.new_name==1.0\n", "utf-8")
    capsys_out = tmp_path / "out.json"
    with capsys_out.open("w") as out:
        monkeypatch.setattr("sys.stdout", out)
        code = run(["deps", str(tmp_path / "requirements.txt"), "--json", "--data-dir", str(data)])
    assert code == 0
    (item,) = json.loads(capsys_out.read_text())["dependencies"]
    assert item["slug"] == catalogue.packages[renamed]["slug"]
