"""`pkgharvest deps` against the catalogue (issue 18): matching in its documented order, the
status of each dependency, alternatives from its grids, the star trend from the history, the
table at 80 columns, `--json`, `--format markdown|csv`, `--all` and `--fail-on`. Offline: no
`--django`, so nothing is asked of PyPI (no transport is even given)."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
from rich.cells import cell_len

from pkgharvest.catalogue import CATALOGUE_NAME
from tests.depsworld import run_deps, write_world
from tests.mirrorcheck import owners_and_sizes

MP = pytest.MonkeyPatch
Cap = pytest.CaptureFixture[str]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_world(tmp_path_factory.mktemp("deps-world") / "mirror")


def as_json(monkeypatch: MP, capsys: Cap, world: Path, *args: str, **how: Any) -> dict[str, Any]:
    result = run_deps(monkeypatch, capsys, world, *args, "--json", **how)
    assert result.code == 0, result.err
    return dict(json.loads(result.out))


def by_name(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["name"]: item for item in document["dependencies"]}


def test_matching_order_pypi_name_then_repository_then_slug(
    monkeypatch: MP, capsys: Cap, world: Path
) -> None:
    document = as_json(monkeypatch, capsys, world, "netbox", "zulip/requirements/common.in")
    found = {n: (d["slug"], d["matched_by"]) for n, d in by_name(document).items() if d["slug"]}
    assert found == {
        # pypi_url forms: https://pypi.org/project/NAME/, http://pypi.python.org/pypi/NAME,
        # with a version (djangorestframework's, whose slug is django-rest-framework)
        "django-cors-headers": ("django-cors-headers", "pypi"),
        "django-debug-toolbar": ("django-debug-toolbar", "pypi"),
        "django-filter": ("django-filter", "pypi"),
        "django-mptt": ("django-mptt", "pypi"),
        "django-pglocks": ("django-pglocks", "pypi"),
        "django-redis": ("django-redis", "pypi"),
        "django-storages": ("django-storages", "pypi"),
        "django-taggit": ("django-taggit", "pypi"),
        "django-timezone-field": ("django-timezone-field", "pypi"),
        "djangorestframework": ("django-rest-framework", "pypi"),
        "drf-spectacular": ("drf-spectacular", "pypi"),
        # no pypi_url in the catalogue: the slug
        "django-tables2": ("django-tables2", "slug"),
        # zulip's URL requirement of github.com/zulip/talon: the catalogue's repo_url
        # (https://github.com/Zulip/talon.git: case and .git ignored)
        "talon-core": ("talon", "repository"),
    }
    redis = by_name(document)["django-redis"]
    assert redis["also_claimed_by"] == ["django-redis-fork"]  # Django_Redis, 12 stars
    assert (
        "2 catalogue packages claim django-redis: django-redis (most stars) rather than "
        "django-redis-fork" in document["notes"]
    )


def test_statuses_first_that_applies(monkeypatch: MP, capsys: Cap, world: Path) -> None:
    items = by_name(as_json(monkeypatch, capsys, world, "netbox"))
    assert {n: d["status"] for n, d in items.items() if d["slug"]} == {
        "django-cors-headers": "active",
        "django-debug-toolbar": "behind",  # 7.1.0 < 7.2.0
        "django-filter": "active",
        "django-mptt": "behind",  # 0.18.0 < 0.19.0
        "django-pglocks": "dormant",
        "django-redis": "active",
        "django-storages": "behind",  # 1.14.6 < 1.14.7
        "django-tables2": "active",
        "django-taggit": "active",
        "django-timezone-field": "dormant",
        "djangorestframework": "active",
        "drf-spectacular": "active",
    }
    assert items["gunicorn"]["status"] == "not-in-catalogue" and items["gunicorn"]["slug"] is None
    assert "Django" not in items  # the framework, not a dependency
    assert (
        items["django-mptt"]["behind"] is True
        and items["django-mptt"]["latest_version"] == "0.19.0"
    )


def test_json_keys(monkeypatch: MP, capsys: Cap, world: Path) -> None:
    document = as_json(monkeypatch, capsys, world, "netbox")
    assert document["framework"] == {
        "name": "Django",
        "version": "6.0.8",
        "specifier": "==6.0.8",
        "file": "netbox/requirements.txt",
        "line": 2,
    }
    item = by_name(document)["django-pglocks"]
    required = {"name", "normalized", "file", "line", "specifier", "version", "slug", "status",
                "latest_version", "stars", "last_commit", "alternatives"}  # fmt: skip
    assert required <= set(item)
    assert (item["file"], item["line"], item["specifier"], item["version"]) == (
        "netbox/requirements.txt",
        9,
        "==1.0.4",
        "1.0.4",
    )
    assert (item["stars"], item["last_commit"]) == (100, "2019-03-04T10:00:00Z")
    assert [set(a) >= {"slug", "stars"} for a in item["alternatives"]] == [True]
    assert document["counts"] == {"active": 7, "behind": 3, "dormant": 2, "not-in-catalogue": 33}
    assert "django_target" in document and document["django_target"] is None
    assert "django_ready" not in item  # only with --django


def test_alternatives_are_the_best_active_packages_of_the_grids(
    monkeypatch: MP, capsys: Cap, world: Path, tmp_path: Path
) -> None:
    """A dormant dependency gets the best three active packages of its grids, by stars: never
    a dormant one, even with more stars (django-debug-panel, 6,100), never itself."""
    (tmp_path / "requirements.txt").write_text("django-debug-panel==0.8.3\ndjango-silk\n")
    items = by_name(as_json(monkeypatch, capsys, world, "requirements.txt", folder=tmp_path))
    panel = items["django-debug-panel"]
    assert panel["status"] == "dormant"
    assert [(a["slug"], a["stars"], a["grid"], a["in_project"]) for a in panel["alternatives"]] == [
        ("django-debug-toolbar", 8200, "debugging", False),
        ("django-silk", 4500, "debugging", True),
        ("django-querycount", 400, "debugging", False),
    ]
    assert items["django-silk"]["alternatives"] == []  # active: no alternatives asked


def test_the_star_trend_covers_90_days_of_history(
    monkeypatch: MP, capsys: Cap, world: Path
) -> None:
    """Two fetches, on 20 February and 26 May; 1 June minus 90 days is 3 March: the gain is May
    against February (the last observation at or before the window's start)."""
    items = by_name(as_json(monkeypatch, capsys, world, "netbox"))
    assert items["django-debug-toolbar"]["star_trend_90d"] == 130
    assert items["djangorestframework"]["star_trend_90d"] == 400
    assert items["django-redis"]["star_trend_90d"] == 0
    assert items["gunicorn"]["star_trend_90d"] is None


def test_the_table_fits_80_columns_and_never_cuts_a_name_or_a_number(
    monkeypatch: MP, capsys: Cap, world: Path
) -> None:
    result = run_deps(monkeypatch, capsys, world, "netbox", "zulip/requirements/common.in")
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert all(len(line) <= 80 for line in lines), [line for line in lines if len(line) > 80]
    header = next(line for line in lines if line.startswith("Dependency"))
    # the activity does not fit 80 columns: the trend, narrower, does
    assert header.split() == ["Dependency", "Version", "Latest", "Stars", "90", "d", "Last",
                              "commit", "Status"]  # fmt: skip
    row = next(line for line in lines if line.startswith("djangorestframework "))
    assert row.split() == ["djangorestframework", "3.17.1", "3.17.1", "29,000", "+400", "12",
                           "days", "ago", "active"]  # fmt: skip
    # dormant (†), and a local version, whole
    assert re.search(r"^talon-core † +1\.6\.0\+git ", result.out, re.M)
    assert "  ↳ try django-pgtrigger  ★ 650 · last commit 12 days ago · grid postgresql" in lines
    assert "gunicorn" not in result.out  # not in the catalogue: counted, not listed
    assert "99 not in the catalogue" in result.out.replace("\n", " ")


def test_a_wider_terminal_shows_the_activity_and_the_trend(
    monkeypatch: MP, capsys: Cap, world: Path
) -> None:
    wide = run_deps(monkeypatch, capsys, world, "netbox", columns=160).out
    header = next(line for line in wide.splitlines() if line.startswith("Dependency"))
    assert header.split() == ["Dependency", "Version", "Latest", "Stars", "90", "d", "Commits",
                              "per", "week", "Last", "commit", "Status"]  # fmt: skip
    toolbar = next(line for line in wide.splitlines() if line.startswith("django-debug-toolbar"))
    assert "+130" in toolbar and "▃▁▂" not in toolbar  # a shared scale of 2 commits: ▁█▁ ...
    assert "Activity: one bar = commits in one week" in wide
    narrow = run_deps(monkeypatch, capsys, world, "netbox", columns=50).out
    lines = [line for line in narrow.splitlines() if line.startswith("django-timezone-field")]
    assert lines[0].split() == ["django-timezone-field", "†", "7.2.2", "400", "dormant"]
    assert all(len(line) <= 50 for line in narrow.splitlines())


def test_all_lists_transitive_and_uncatalogued_dependencies(
    monkeypatch: MP, capsys: Cap, world: Path
) -> None:
    plain = as_json(monkeypatch, capsys, world, "saleor-uv")
    everything = as_json(monkeypatch, capsys, world, "saleor-uv", "--all")
    assert all(d["direct"] for d in plain["dependencies"])
    transitive = [d for d in everything["dependencies"] if not d["direct"]]
    assert transitive and all(d["file"] == "saleor-uv/uv.lock" for d in transitive)
    table = run_deps(monkeypatch, capsys, world, "saleor-uv", "--all", columns=120).out
    assert "not in catalogue" in table and "vine" in table


def test_markdown_is_a_table_for_a_ci_summary(monkeypatch: MP, capsys: Cap, world: Path) -> None:
    result = run_deps(monkeypatch, capsys, world, "netbox", "--format", "markdown")
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0] == "### Dependencies of `netbox/requirements.txt`"
    table = [line for line in lines if line.startswith("|")]
    assert table[0] == "| Dependency | Version | Latest | Stars | 90 d | Last commit | Status |"
    assert all(line.count("|") == 8 for line in table)
    assert "| django-pglocks | 1.0.4 | 1.0.4 | 100 | +0 | 2019-03-04 | **dormant** |" in lines
    assert "| ↳ try django-pgtrigger |  | 4.15.0 | 650 |  | 2026-05-20 | alternative |" in lines


def test_hostile_names_cannot_break_markdown_csv_or_the_terminal(
    monkeypatch: MP, capsys: Cap, world: Path, tmp_path: Path
) -> None:
    """A name from a file is data: in Markdown its syntax is escaped (no link, no cell break),
    in CSV no cell starts a formula, on the terminal no escape sequence arrives."""
    (tmp_path / "pyproject.toml").write_text(
        "[project]\nname = 'x'\nversion = '1'\n"
        "dependencies = ['django-filter ; python_version >= \"3\"']\n"
        "[project.optional-dependencies]\n"
        "evil = ['a_b-c']\n"
        "[tool.poetry.dependencies]\n"
        '"=cmd|x" = "1"\n'
    )
    bad = run_deps(monkeypatch, capsys, world, "--format", "csv", folder=tmp_path)
    assert bad.code == 65 and "'=cmd|x' is no package name" in bad.err
    (tmp_path / "pyproject.toml").write_text(
        "[project]\nname = 'x'\nversion = '1'\n"
        "dependencies = ['django-filter @ https://x.example/p/a.zip#=1+2', 'a_b-c==1']\n"
    )
    csv_out = run_deps(monkeypatch, capsys, world, "--format", "csv", folder=tmp_path).out
    rows = list(csv.reader(io.StringIO(csv_out)))
    assert rows[0][:4] == ["name", "normalized", "file", "line"]
    assert all(not cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row)
    markdown = run_deps(monkeypatch, capsys, world, "--format", "markdown", "--all",
                        folder=tmp_path).out  # fmt: skip
    assert "| a\\_b-c | 1 |" in markdown


def test_fail_on_has_its_own_exit_code(monkeypatch: MP, capsys: Cap, world: Path) -> None:
    dormant = run_deps(monkeypatch, capsys, world, "netbox", "--fail-on", "dormant")
    assert dormant.code == 8 and dormant.out  # the report is printed all the same
    assert dormant.err == (
        "pkgharvest: error: --fail-on dormant: 2 dependencies (django-pglocks, "
        "django-timezone-field)\n"
    )
    # network-pulse-api's dependencies are old (behind) but none is dormant
    none = run_deps(monkeypatch, capsys, world, "network-pulse-api", "--fail-on", "dormant")
    assert none.code == 0, none.err
    behind = run_deps(monkeypatch, capsys, world, "network-pulse-api", "--fail-on", "behind")
    assert behind.code == 8 and "django-debug-toolbar" in behind.err
    typo = run_deps(monkeypatch, capsys, world, "netbox", "--fail-on", "dormnat")
    assert typo.code == 2 and "(did you mean dormant?)" in typo.err
    needs = run_deps(monkeypatch, capsys, world, "netbox", "--fail-on", "blocked")
    assert needs.code == 2 and "--fail-on blocked needs --django VERSION" in needs.err
    both = run_deps(monkeypatch, capsys, world, "netbox", "--json", "--format", "csv")
    assert both.code == 2


def test_deps_keeps_its_name_index_up_to_date_with_the_mirror(
    monkeypatch: MP, capsys: Cap, tmp_path: Path
) -> None:
    """The names are kept in the database for the next run, and rebuilt after the mirror
    changed: a package whose pypi_url changed is found under its new name."""
    import sqlite3

    from tests.depsworld import world_content
    from tests.mirrorbuilder import manifest, write_mirror

    root = write_world(tmp_path / "mirror")
    run_deps(monkeypatch, capsys, root, "netbox")
    conn = sqlite3.connect(root / CATALOGUE_NAME)
    kept = conn.execute("SELECT count(*) FROM package_names WHERE kind = 'pypi'").fetchone()[0]
    assert kept > 20
    content = world_content()
    for record in content.packages:
        if record["slug"] == "django-pglocks":
            record["pypi_url"] = "https://pypi.org/project/gunicorn/"
    data = manifest(content)
    data["last_run"]["started"] = "2026-05-27T00:00:00Z"
    write_mirror(root, content, data)
    items = by_name(as_json(monkeypatch, capsys, root, "netbox"))
    assert items["gunicorn"]["slug"] == "django-pglocks"
    conn.close()


def test_the_readme_screen_is_this_tools_output(monkeypatch: MP, capsys: Cap, world: Path) -> None:
    """README's example is the table of a fixture project against this catalogue."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    block = re.search(r"    \$ pkgharvest deps netbox\n((?:    .*\n|\n)+?)\n(?!    )", readme)
    assert block is not None
    shown = "\n".join(line[4:] for line in block.group(1).rstrip("\n").splitlines())
    result = run_deps(monkeypatch, capsys, world, "netbox")
    assert shown == result.out.rstrip("\n")  # no line ends in a space either


@pytest.mark.parametrize("columns", [60, 80])
def test_the_heading_and_footer_break_between_clauses(
    monkeypatch: MP, capsys: Cap, world: Path, columns: int
) -> None:
    """A heading or footer line longer than the terminal goes on on the next line, indented,
    from where a clause ends; no line ends in a space."""
    result = run_deps(
        monkeypatch, capsys, world, "netbox", "zulip/requirements/common.in", columns=columns
    )
    lines = result.out.splitlines()
    assert all(line == line.rstrip() for line in lines)
    heading = "Dependencies of netbox/requirements.txt, zulip/requirements/common.in"
    if columns < len(heading):
        assert lines[:2] == [
            "Dependencies of netbox/requirements.txt,",
            "  zulip/requirements/common.in",
        ]
    else:
        assert lines[0] == heading
    at = next(n for n, line in enumerate(lines) if line.startswith("13 in the catalogue"))
    assert lines[at].endswith(";") or lines[at + 1].startswith("  (")
    assert lines[at + 1].startswith("  ") and len(lines[at + 1]) > 3  # no word alone


@pytest.mark.parametrize("columns", [60, 80, 120, 200])
def test_every_width_keeps_names_marks_and_numbers_whole(
    monkeypatch: MP, capsys: Cap, world: Path, columns: int
) -> None:
    """`deps` at the widths of the other reading commands' screens (tests/test_screens.py):
    no line wider than the terminal or ending in a space, every dependency in the catalogue on
    a row of its own with its name whole, the dormant mark on the dormant ones, its stars."""
    args = ("netbox", "zulip/requirements/common.in")
    found = [
        item
        for item in as_json(monkeypatch, capsys, world, *args)["dependencies"]
        if item["status"] != "not-in-catalogue"
    ]
    result = run_deps(monkeypatch, capsys, world, *args, columns=columns)
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert all(cell_len(line) <= columns and line == line.rstrip() for line in lines)
    rows = {line.split()[0]: line.split()[1:] for line in lines if line and line[0] != " "}
    for item in found:
        cells = rows[item["name"]]
        assert (cells[0] == "†") == (item["status"] == "dormant"), item["name"]
        assert f"{item['stars']:,}" in cells or columns < 80, (item["name"], cells)


@pytest.mark.parametrize("columns", [40, 60, 80, 120, 200])
def test_alternatives_wrap_between_their_details(
    monkeypatch: MP, capsys: Cap, world: Path, columns: int
) -> None:
    """An alternative that does not fit the terminal goes on on the next line, under its slug,
    broken between its details (the line that goes on ends in `·`), never cut with "…": read
    back as one line, it says all that a wide terminal shows (issue 17)."""
    args = ("netbox", "zulip/requirements/common.in")
    wide = run_deps(monkeypatch, capsys, world, *args, columns=400).out
    whole = [line for line in wide.splitlines() if line.startswith("  ↳ try ")]
    assert len(whole) == 4 and not any("…" in line for line in whole)
    out = run_deps(monkeypatch, capsys, world, *args, columns=columns).out
    alternatives: list[list[str]] = []
    for line in out.splitlines():
        if line.startswith("  ↳ try "):
            alternatives.append([line])
        elif alternatives and alternatives[-1] and re.match(r" {8}\S", line):
            alternatives[-1].append(line)
        else:
            alternatives.append([])  # anything else ends an alternative
    alternatives = [lines for lines in alternatives if lines]
    assert [" ".join(" ".join(lines).split()) for lines in alternatives] == [
        " ".join(line.split()) for line in whole
    ]
    for lines in alternatives:
        assert all(cell_len(line) <= columns and "…" not in line for line in lines), lines
        assert all(line.endswith(" ·") for line in lines[:-1]) or columns < 60, lines
        assert (len(lines) > 1) == (cell_len(whole[alternatives.index(lines)]) > columns)


@pytest.mark.parametrize("table", ["packages", "grid_packages", "observations"])
def test_a_damaged_database_is_repaired_as_by_every_reading_command(
    monkeypatch: MP, capsys: Cap, world: Path, tmp_path: Path, table: str
) -> None:
    """A page deps reads that SQLite finds damaged (the root page of a table it queries; the
    database still opens) is moved aside and rebuilt from the record files, with one line, and
    the report is the one of the intact database: never exit 73 "cannot read"."""
    import random
    import shutil
    import sqlite3

    intact = run_deps(monkeypatch, capsys, world, "netbox", "--json")
    assert intact.code == 0, intact.err
    root = Path(shutil.copytree(world, tmp_path / "mirror"))
    db = root / CATALOGUE_NAME
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    size = conn.execute("PRAGMA page_size").fetchone()[0]
    page = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (table,)).fetchone()
    conn.close()
    with open(db, "r+b") as file:
        file.seek((page[0] - 1) * size)
        file.write(random.Random(7).randbytes(size))
    damaged = db.read_bytes()

    result = run_deps(monkeypatch, capsys, root, "netbox", "--json")

    assert result.code == 0, result.err
    assert "damaged" in result.err and "moved aside as catalogue.db.corrupt" in result.err
    assert result.err.count("\n") == 1, result.err
    assert (root / (CATALOGUE_NAME + ".corrupt")).read_bytes() == damaged

    # The same judgement; only the star trend may be gone (a rebuilt database's history
    # starts again from the record files: docs/database.md).
    def judged(out: str) -> list[dict[str, Any]]:
        items = json.loads(out)["dependencies"]
        return [{k: v for k, v in item.items() if k != "star_trend_90d"} for item in items]

    assert judged(result.out) == judged(intact.out)


def _not_ours(world: Path, into: Path) -> Path:
    """A copy of `world` that belongs to another user (uid 65534), whose record files were
    changed after its database was last brought up to date: django-pglocks has 77,777 stars."""
    import os
    import shutil

    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        pytest.skip("handing a folder to another user needs root")
    root = Path(shutil.copytree(world, into))
    record = root / "packages" / "django-pglocks.json"
    data = json.loads(record.read_text())
    data["stars"] = 77777
    record.write_text(json.dumps(data, indent=2) + "\n")
    manifest = root / "manifest.json"
    manifest.write_text(manifest.read_text() + "\n")  # the mirror moved on since the database
    for folder, _, files in os.walk(root):
        os.chown(folder, 65534, 65534)
        for name in files:
            os.chown(os.path.join(folder, name), 65534, 65534)
    return root


def test_a_folder_it_may_not_write_is_judged_as_the_mirror_has_it_now(
    monkeypatch: MP, capsys: Cap, world: Path, tmp_path: Path
) -> None:
    """Where the folder's database is behind the mirror and this user may not bring it up to
    date, deps reads a private copy built from the record files, as `top` does (it read the
    database as it was: 100 stars), and the star trend from the folder's database."""
    root = _not_ours(world, tmp_path / "mirror")
    before = owners_and_sizes(root)

    result = run_deps(monkeypatch, capsys, root, "netbox", "--json")

    assert result.code == 0, result.err
    assert "reading a private copy built from the JSON files" in result.err
    assert result.err.count("\n") == 1, result.err
    assert by_name(json.loads(result.out))["django-pglocks"]["stars"] == 77777
    assert owners_and_sizes(root) == before  # nothing created, nothing handed to root


def test_a_folder_it_may_not_write_without_a_database_is_still_judged(
    monkeypatch: MP, capsys: Cap, world: Path, tmp_path: Path
) -> None:
    """No database there (and none may be built): a private copy, never exit 73 "history
    needs the catalogue database" (the star trend is what deps can do without)."""
    root = _not_ours(world, tmp_path / "mirror")
    for name in list(root.iterdir()):
        if name.name.startswith(CATALOGUE_NAME):
            name.unlink()

    result = run_deps(monkeypatch, capsys, root, "netbox", "--json")

    assert result.code == 0, result.err
    assert "reading a private copy" in result.err
    document = json.loads(result.out)
    assert by_name(document)["django-pglocks"]["stars"] == 77777
