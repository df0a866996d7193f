"""What a command loads before it answers (issue 8, "Fast at any size"): a reading command pays
neither the fetch pipeline nor httpx at start-up, and typer builds only the command being run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.depsworld import PROJECTS, run_deps
from tests.fakeproc import REPO_ROOT
from tests.fakepypi import FakePypi
from tests.mirrorbuilder import run_cli, seed_content, write_mirror

MP = pytest.MonkeyPatch
Cap = pytest.CaptureFixture[str]

READ_COMMANDS = [
    ["top"],
    ["grid", "postgresql"],
    ["show", "django-hstore"],
    ["grids"],
    ["categories"],
    ["trends"],
    ["changes"],
    ["deps", str(PROJECTS / "netbox")],
    ["deps", str(PROJECTS / "netbox"), "--django", "5.1", "--offline"],
]

_CHILD = """
import contextlib, io, json, sys
from pkgharvest.cli import run
loaded = {}
for argv in json.loads(sys.argv[1]):
    with contextlib.redirect_stdout(io.StringIO()):
        code = run(argv)
    assert code == 0, (argv, code)
    loaded[argv[0]] = [m for m in sys.modules if m.split(".")[0] in ("httpx", "tenacity")
                       or m.split(".")[:2] in (["pkgharvest", "fetch"], ["pkgharvest", "api"])
                       or m == "pkgharvest.cli.fetch"]
print(json.dumps(loaded))
"""


@pytest.fixture(scope="module")
def mirror(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_mirror(tmp_path_factory.mktemp("startup") / "mirror", seed_content())


def test_reading_commands_never_import_httpx_or_the_fetch_pipeline(mirror: Path) -> None:
    """One fresh interpreter runs every reading command in turn, as `pkgharvest CMD` would;
    after each, none of the fetch-only modules is loaded."""
    argvs = [[*argv, "--data-dir", str(mirror)] for argv in READ_COMMANDS]
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, json.dumps(argvs)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    loaded = json.loads(done.stdout)
    assert set(loaded) == {argv[0] for argv in READ_COMMANDS}
    assert loaded == {name: [] for name in loaded}


def test_deps_answered_from_the_database_never_imports_httpx(
    monkeypatch: MP, capsys: Cap, tmp_path: Path
) -> None:
    """`deps --django` asks PyPI only for what the database does not hold fresh: once the
    answers are kept, a run loads no HTTP code at all (the client is imported on first need)."""
    from tests.depsworld import write_world

    world = write_world(tmp_path / "mirror")
    project = tmp_path / "project"
    project.mkdir()
    (project / "requirements.txt").write_text("django-debug-toolbar==4.4.6\n")
    # The same index URL both times (the answers are kept per index): a closed port on
    # 127.0.0.1, so that a child that asked would fail here and never reach the internet.
    index = ["--pypi-url", "http://127.0.0.1:9/pypi/"]
    kept = run_deps(monkeypatch, capsys, world, "--django", "5.1", *index, folder=project,
                    transport=FakePypi().transport())  # fmt: skip
    assert kept.code == 0, kept.err
    argv = ["deps", str(project / "requirements.txt"), "--django", "5.1", *index,
            "--data-dir", str(world)]  # fmt: skip
    # The child's clock is the real one: keep it within the day the answers are fresh for.
    import sqlite3

    conn = sqlite3.connect(world / "catalogue.db")
    conn.execute("UPDATE pypi_projects SET fetched_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now')")
    conn.commit()
    conn.close()
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, json.dumps([argv])],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"deps": []}


def test_fetch_still_finds_its_modules(mirror: Path) -> None:
    """The counterpart: the same child with `fetch --help` loads the fetch command's module,
    so the test above would see a fetch-only module if a reading command pulled one in."""
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, json.dumps([["fetch", "--help"]])],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "pkgharvest.cli.fetch" in json.loads(done.stdout)["fetch"]


def test_every_command_is_in_the_table_in_help_order(monkeypatch: MP, capsys: Cap) -> None:
    """`COMMANDS` is how the group finds a command's module: each module's commands are
    exactly the table's entries naming it, and `--help` lists the table in its order."""
    import importlib

    import typer

    from pkgharvest.cli.group import COMMANDS

    defined = {}
    for module in {entry.module for entry in COMMANDS.values()}:
        for info in importlib.import_module(module).commands.registered_commands:
            name = info.name or typer.main.get_command_name(info.callback.__name__)
            defined[name] = module
    assert defined == {name: entry.module for name, entry in COMMANDS.items()}
    result = run_cli(monkeypatch, capsys, "--help")
    section = result.out.split("Commands:\n")[1].split("\n\n")[0]
    listed = [line.split()[0] for line in section.splitlines() if not line.startswith("   ")]
    assert listed == list(COMMANDS)


def test_help_lists_the_commands_without_importing_them() -> None:
    """`pkgharvest --help` reads the command list from the table: no command module loads."""
    done = subprocess.run(
        [sys.executable, "-c", _HELP_CHILD],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == []


_HELP_CHILD = """
import contextlib, io, json, sys
from pkgharvest.cli import run
from pkgharvest.cli.group import COMMANDS
with contextlib.redirect_stdout(io.StringIO()):
    assert run(["--help"]) == 0
print(json.dumps(sorted({e.module for e in COMMANDS.values()} & set(sys.modules))))
"""


def test_a_command_run_first_in_a_process_leaves_help_and_suggestions_whole(
    monkeypatch: MP, capsys: Cap, mirror: Path
) -> None:
    """Building one command at a time must not leave the group short of the others."""
    assert run_cli(monkeypatch, capsys, "grids", "--data-dir", str(mirror)).code == 0
    typo = run_cli(monkeypatch, capsys, "chanegs")
    assert typo.code == 2 and "did you mean changes?" in typo.err
    help_page = run_cli(monkeypatch, capsys, "--help").out
    for name in ("fetch", "top", "trends", "verify"):
        assert f"  {name} " in help_page


_FETCH_CHILD = """
import contextlib, io, json, sys
import httpx
from pkgharvest.cli import run
from pkgharvest.runtime import Dependencies
from tests.fakeapi import PUBLIC_BASE_URL, FakeApi, seed_catalogue

deps = Dependencies(transport=httpx.MockTransport(FakeApi(seed_catalogue()).handler))
argv = ["fetch", "--base-url", PUBLIC_BASE_URL, "--data-dir", sys.argv[1], *sys.argv[2:]]
with contextlib.redirect_stdout(io.StringIO()):
    code = run(argv, deps)
def loaded(package):
    return sorted(m for m in sys.modules if m.split(".")[0] == package)
print(json.dumps([[code, loaded("rich")], loaded("zoneinfo")]))
"""


@pytest.mark.parametrize("mode", [["--quiet"], ["--json"], []])
def test_fetch_without_a_terminal_never_imports_rich(tmp_path: Path, mode: list[str]) -> None:
    """A cron job (stderr not a terminal), --quiet and --json print no bar: they do not pay
    rich's import (~40 ms a run); only the bars on a terminal need it (cli/bar.py)."""
    done = subprocess.run(
        [sys.executable, "-c", _FETCH_CHILD, str(tmp_path / "mirror"), *mode],
        cwd=REPO_ROOT,  # the child imports tests.fakeapi
        capture_output=True,  # stderr is a pipe, as under cron
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    (code, rich_modules), zone_modules = json.loads(done.stdout.splitlines()[-1])
    assert code == 0 and (tmp_path / "mirror" / "packages").is_dir()
    assert rich_modules == []
    # The API's times carry offsets: zoneinfo (whose import reads sysconfig) is not needed.
    assert zone_modules == []
