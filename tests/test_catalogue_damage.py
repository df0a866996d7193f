"""A damaged catalogue database (issue 16 item 3, issue 20 items 4 and 8): pages overwritten at
several offsets, rows of the wrong type planted, another application's database in its place.
Every reading command, `status`, `verify` and `fetch` (against the fake API) meets each on a
fresh copy of a real fetched mirror: none exits 1, each says what happened in one line (or,
not needing the damaged part, answers exactly as from the intact database), the JSON mirror is
untouched, and what is moved aside is the damaged file itself."""

from __future__ import annotations

import json
import random
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from pkgharvest.catalogue import CATALOGUE_NAME
from pkgharvest.runtime import Dependencies, RetryPolicy
from tests.fakeapi import PUBLIC_BASE_URL, FakeApi, generate_catalogue
from tests.faultkit import mirror_files
from tests.mirrorbuilder import CliResult, run_cli

PAGE = 4096


def _api() -> FakeApi:
    return FakeApi(generate_catalogue(packages=40, grids=4, seed=11))


def _deps() -> Dependencies:
    return Dependencies(
        transport=httpx.MockTransport(_api().handler),
        retry=RetryPolicy(attempts=2),
        sleep=lambda seconds: None,
    )


def _fetch_into(root: Path) -> None:
    from pkgharvest.cli import run

    argv = ["fetch", "--quiet", "--base-url", PUBLIC_BASE_URL, "--data-dir", str(root)]
    assert run(argv, _deps()) == 0


@pytest.fixture(scope="module")
def fetched(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A mirror two fetches wrote (the second one recorded as a run with history)."""
    root = tmp_path_factory.mktemp("damage") / "pristine"
    _fetch_into(root)
    _fetch_into(root)
    return root


def _names(root: Path) -> tuple[str, str]:
    with sqlite3.connect(root / CATALOGUE_NAME) as conn:
        grid = conn.execute("SELECT slug FROM grids ORDER BY id LIMIT 1").fetchone()[0]
        package = conn.execute("SELECT slug FROM packages ORDER BY stars DESC LIMIT 1").fetchone()
    return grid, package[0]


def _overwrite(page: int) -> Callable[[Path], None]:
    def damage(root: Path) -> None:
        db = root / CATALOGUE_NAME
        pages = db.stat().st_size // PAGE
        with open(db, "r+b") as file:
            file.seek((page % pages) * PAGE)
            file.write(random.Random(page).randbytes(PAGE))

    return damage


def _scribble(root: Path) -> None:
    """Part of every third page overwritten: SQLite's check then finds dozens of problems,
    which it reports as one text of many lines under a `*** in database main ***` header."""
    db = root / CATALOGUE_NAME
    rnd = random.Random(3)
    with open(db, "r+b") as file:
        for page in range(2, db.stat().st_size // PAGE, 3):
            file.seek(page * PAGE + 100)
            file.write(rnd.randbytes(2000))


def _plant(sql: str) -> Callable[[Path], None]:
    def damage(root: Path) -> None:
        with sqlite3.connect(root / CATALOGUE_NAME) as conn:
            assert conn.execute(sql).rowcount > 0
        conn.close()

    return damage


def _foreign(root: Path) -> None:
    (root / CATALOGUE_NAME).unlink()
    with sqlite3.connect(root / CATALOGUE_NAME) as conn:
        conn.execute("CREATE TABLE moz_places (id INTEGER PRIMARY KEY, url TEXT)")
        conn.execute("INSERT INTO moz_places (url) VALUES ('https://example.org/')")
    conn.close()


TOP = "(SELECT id FROM packages ORDER BY stars DESC LIMIT 1)"
DAMAGES: dict[str, Callable[[Path], None]] = {
    "page 0 (header, schema)": _overwrite(0),
    "page 1": _overwrite(1),
    "page 2": _overwrite(2),
    "page 7": _overwrite(7),
    "page 19": _overwrite(19),
    "last page": _overwrite(-1),
    "stars as text": _plant(f"UPDATE packages SET stars = 'lots' WHERE id = {TOP}"),
    "a JSON column not JSON": _plant(f"UPDATE packages SET grids = '[{{' WHERE id = {TOP}"),
    "observed stars as text": _plant(
        f"UPDATE observations SET stars = 'many' WHERE package_id = {TOP}"
    ),
    "weekly commits as a blob": _plant(
        f"UPDATE weekly_commits SET commits = x'00' WHERE package_id = {TOP}"
    ),
    "another application's database": _foreign,
}

REPORTED = {**DAMAGES, "many pages": _scribble}
"""What status, verify and fetch name. (Not every reading command: one does not run SQLite's
check, and pages scribbled over can still read as values of the right types.)"""

# (argv, the output compared with the intact database's: the catalogue, not the history a
# rebuild cannot know)
READING: list[tuple[list[str], bool]] = [
    (["top"], True),
    (["top", "--json", "--limit", "0"], True),
    (["grid", "GRID"], True),
    (["show", "PACKAGE"], False),
    (["show", "PACKAGE", "--json"], True),
    (["grids"], True),
    (["categories", "--json"], True),
    (["trends", "--json"], False),
    (["changes", "--json"], False),
    (["top", "--by", "stars-gained"], False),
    (["export"], True),
    (["export", "--history", "--format", "jsonl"], False),
]


def _run(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    root: Path,
    argv: list[str],
    names: tuple[str, str] = ("", ""),
) -> CliResult:
    from pkgharvest.cli import run

    argv = [a.replace("GRID", names[0]).replace("PACKAGE", names[1]) for a in argv]
    if argv[0] != "fetch":
        return run_cli(monkeypatch, capsys, *argv, "--data-dir", str(root), columns=160)
    capsys.readouterr()
    code = run([*argv, "--base-url", PUBLIC_BASE_URL, "--data-dir", str(root)], _deps())
    captured = capsys.readouterr()
    return CliResult(code, captured.out, captured.err)


@pytest.fixture(scope="module")
def names(fetched: Path) -> tuple[str, str]:
    """A grid's slug and the most starred package's (the one the planted rows are about)."""
    return _names(fetched)


@pytest.fixture
def intact(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    fetched: Path,
    names: tuple[str, str],
) -> dict[str, str]:
    """What each reading command prints from the intact database."""
    outputs = {}
    for number, (argv, _) in enumerate(READING):
        result = _run(
            monkeypatch, capsys, _copy(fetched, tmp_path / f"intact{number}"), argv, names
        )
        assert result.code == 0 and result.err == "", argv
        outputs[" ".join(argv)] = result.out
    return outputs


def _copy(source: Path, target: Path) -> Path:
    return Path(shutil.copytree(source, target))


def _notice(err: str) -> bool:
    return "damaged" in err and "moved aside as catalogue.db.corrupt and rebuilt" in err


PAGE_DAMAGE = {name for name in REPORTED if "page" in name or "application" in name}

SLOW_DAMAGES = {"page 1", "page 2", "page 19", "a JSON column not JSON", "weekly commits as a blob"}
"""The rest of the matrix, with `-m slow` (the default run keeps one of each kind)."""


def _cases() -> list[object]:
    return [
        pytest.param(name, marks=pytest.mark.slow) if name in SLOW_DAMAGES else name
        for name in DAMAGES
    ]


@pytest.mark.parametrize("damage", _cases(), ids=str)
def test_every_command_meets_a_damaged_database(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    fetched: Path,
    intact: dict[str, str],
    names: tuple[str, str],
    damage: str,
) -> None:
    noticed = set()
    for number, (argv, compared) in enumerate(READING):
        root = _copy(fetched, tmp_path / f"damaged{number}")
        DAMAGES[damage](root)
        damaged = (root / CATALOGUE_NAME).read_bytes()
        mirror = mirror_files(root)
        result = _run(monkeypatch, capsys, root, argv, names)
        label = " ".join(argv)
        assert result.code == 0, (label, result.err)
        assert result.err.count("\n") <= 1, (label, result.err)
        assert mirror_files(root) == mirror, label  # the JSON mirror is untouched
        if result.err:
            assert _notice(result.err), (label, result.err)
            # What was moved aside is the damaged file itself: nothing of it is lost.
            assert (root / (CATALOGUE_NAME + ".corrupt")).read_bytes() == damaged
            noticed.add(label)
        if compared:
            assert result.out == intact[label], label
        elif not result.err:
            assert result.out == intact[label], label  # it did not need the damaged part
    everything = {" ".join(argv) for argv, _ in READING}
    if damage in ("page 0 (header, schema)", "another application's database"):
        assert noticed == everything  # every command opens through the damaged part


@pytest.mark.parametrize("damage", [*_cases(), "many pages"], ids=str)
def test_status_verify_and_fetch_name_the_damage(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    fetched: Path,
    damage: str,
) -> None:
    root = _copy(fetched, tmp_path / "m")
    REPORTED[damage](root)
    before = mirror_files(root)

    status = _run(monkeypatch, capsys, root, ["status"])
    assert status.code == 0 and status.err == ""
    lines = status.out.splitlines()
    first = next(i for i, x in enumerate(lines) if x.startswith("catalogue "))
    block = lines[first]
    for more in lines[first + 1 :]:  # a long value goes on under itself, indented
        if not more.startswith(" "):
            break
        block += " " + more.strip()
    assert "catalogue.db" in block and "moves it aside and rebuilds it" in block, block
    value = block.removeprefix("catalogue").strip()  # whatever the label column's width
    assert "***" not in value and len(value) < 200, block  # our words, not SQLite's report
    as_json = _run(monkeypatch, capsys, root, ["status", "--json"])
    assert json.loads(as_json.out)["catalogue"]["state"] == "damaged"

    verify = _run(monkeypatch, capsys, root, ["verify"])
    assert verify.code == 65
    lines = [x for x in verify.out.splitlines() if x.startswith(str(root / CATALOGUE_NAME))]
    # One line: our words and the first of SQLite's (its page and offset numbers, and so its
    # length, follow the file's layout).
    assert len(lines) == 1 and len(lines[0]) - len(str(root)) < 140, verify.out
    assert "***" not in lines[0], verify.out
    assert verify.err.count("\n") == 1
    assert mirror_files(root) == before  # status and verify change nothing

    for argv in (["fetch", "--quiet"], ["fetch", "--json"]):
        copy = _copy(fetched, tmp_path / "-".join(argv))
        REPORTED[damage](copy)
        records = {k: v for k, v in mirror_files(copy).items() if k != "manifest.json"}
        result = _run(monkeypatch, capsys, copy, argv)
        assert result.code == 0, result.err
        assert result.err.count("\n") <= 1, result.err
        assert "\\n" not in result.err and "***" not in result.err, result.err
        # Its integrity check finds a damaged page anywhere; a planted value of the wrong type
        # is found where the run reads it (status and verify find it anywhere).
        if damage in PAGE_DAMAGE:
            assert _notice(result.err), result.err
        else:
            assert _notice(result.err) or result.err == "", result.err
        if argv[1] == "--json":
            assert json.loads(result.out)["exit_code"] == 0
        # The API had nothing new: every record file is as it was.
        assert {k: v for k, v in mirror_files(copy).items() if k != "manifest.json"} == records
        again = _run(monkeypatch, capsys, copy, ["fetch", "--quiet"])
        assert again.code == 0 and again.err == ""  # repaired once, for good


@pytest.mark.parametrize("table", ["pypi_projects", "pypi_releases"])
def test_fetch_repairs_damage_in_a_table_the_run_never_reads(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    fetched: Path,
    table: str,
) -> None:
    """`fetch` runs SQLite's integrity check on the whole file before the run (the check no
    reading command makes): a damaged page of a table the run itself never reads (what `deps
    --django` keeps) is found and repaired by it, not left for `deps` to meet."""
    root = _copy(fetched, tmp_path / "m")
    db = root / CATALOGUE_NAME
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        page = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (table,))
        number = page.fetchone()[0]
    conn.close()
    with open(db, "r+b") as file:
        file.seek((number - 1) * PAGE)
        file.write(random.Random(number).randbytes(PAGE))
    damaged = db.read_bytes()

    result = _run(monkeypatch, capsys, root, ["fetch", "--quiet"])

    assert result.code == 0, result.err
    assert _notice(result.err) and result.err.count("\n") == 1, result.err
    assert (root / (CATALOGUE_NAME + ".corrupt")).read_bytes() == damaged
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    conn.close()
