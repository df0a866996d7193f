"""What people expect of a command line (issue 17, items 5 and 6; issue 20, item 15): `-h`
wherever `--help` works, a `help` command, the commands on the first screen of `--help`, the
exit codes once, `--debug` on every command, and each run's own dependencies."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from pkgharvest.cli.group import COMMANDS
from pkgharvest.errors import EXIT_CODE_MEANINGS
from tests.mirrorbuilder import NOW, run_cli, seed_content, write_mirror

MP = pytest.MonkeyPatch
Cap = pytest.CaptureFixture[str]


@pytest.fixture(scope="module")
def mirror(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_mirror(tmp_path_factory.mktemp("conventions") / "mirror", seed_content())


# --- -h and help ---------------------------------------------------------------------------


@pytest.mark.parametrize("command", list(COMMANDS))
def test_h_and_help_show_the_same_page_as_dash_dash_help(
    monkeypatch: MP, capsys: Cap, command: str
) -> None:
    long = run_cli(monkeypatch, capsys, command, "--help", columns=80)
    assert long.code == 0 and long.out.startswith(f"Usage: pkgharvest {command} "), long.err
    short = run_cli(monkeypatch, capsys, command, "-h", columns=80)
    helped = run_cli(monkeypatch, capsys, "help", command, columns=80)
    assert (short.code, short.out, short.err) == (0, long.out, "")
    assert (helped.code, helped.out, helped.err) == (0, long.out, "")
    assert "-h, --help" in long.out


def test_help_alone_is_the_top_level_help(monkeypatch: MP, capsys: Cap) -> None:
    top_level = run_cli(monkeypatch, capsys, "--help", columns=80)
    assert top_level.code == 0 and top_level.out.startswith("Usage: pkgharvest [OPTIONS] COMMAND")
    for args in (("-h",), ("help",)):
        result = run_cli(monkeypatch, capsys, *args, columns=80)
        assert (result.code, result.out) == (0, top_level.out), args


@pytest.mark.parametrize(
    ("name", "hint"), [("tpo", "did you mean top?"), ("zzz", "commands: fetch, top, grid")]
)
def test_help_for_an_unknown_command_is_a_usage_error(
    monkeypatch: MP, capsys: Cap, name: str, hint: str
) -> None:
    result = run_cli(monkeypatch, capsys, "help", name)
    assert result.code == 2 and result.out == ""
    assert result.err.startswith(f"pkgharvest: error: no such command {name!r} ({hint}")
    assert result.err.count("\n") == 1


# --- the layout of the top-level help ------------------------------------------------------


def test_the_commands_are_on_the_first_screen_of_an_80_by_24_terminal(
    monkeypatch: MP, capsys: Cap
) -> None:
    page = run_cli(monkeypatch, capsys, "--help", columns=80).out.splitlines()
    assert max(len(line) for line in page) <= 80
    first_screen = page[:23]  # the 24th line holds the shell's prompt
    start = first_screen.index("Commands:")
    rows = first_screen[start + 1 : start + 1 + len(COMMANDS)]
    assert [row.split()[0] for row in rows] == list(COMMANDS)
    for row, entry in zip(rows, COMMANDS.values(), strict=True):
        assert row.endswith(entry.summary)  # whole on one line, not cut short with "..."


def test_the_exit_codes_come_once_at_the_end(monkeypatch: MP, capsys: Cap) -> None:
    page = run_cli(monkeypatch, capsys, "--help", columns=80).out
    sections = [line for line in page.splitlines() if line.endswith(":") and line[:1] != " "]
    assert sections == ["Commands:", "Options:", "Exit codes:"]
    codes = page.split("Exit codes:\n")[1]
    listed = [int(line.split()[0]) for line in codes.splitlines() if line[2:3].isdigit()]
    assert listed == [int(code) for code in EXIT_CODE_MEANINGS]
    fetch_page = run_cli(monkeypatch, capsys, "fetch", "--help", columns=80).out
    assert "Exit codes: see `pkgharvest --help`." in fetch_page
    assert "retry later" not in fetch_page and "SIGHUP" not in fetch_page


# --- --debug everywhere --------------------------------------------------------------------


@pytest.mark.parametrize("first", [False, True], ids=["after", "before"])
@pytest.mark.parametrize("command", list(COMMANDS))
def test_every_command_takes_debug(
    monkeypatch: MP, capsys: Cap, tmp_path: Path, command: str, first: bool
) -> None:
    """ "rerun with --debug" must be something every command accepts, after the command or
    before it (`pkgharvest --debug top` once exited 2): here each command is given --debug and
    a data folder that is a file, and refuses the folder, not --debug."""
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    args = {"grid": ["some-grid"], "show": ["some-package"]}.get(command, [])

    def cli(*argv: str) -> Any:
        if first:
            return run_cli(monkeypatch, capsys, "--debug", *[a for a in argv if a != "--debug"])
        return run_cli(monkeypatch, capsys, *argv)

    if command == "help":
        result = cli("help", "--debug")
        assert result.code == 0 and result.out.startswith("Usage: pkgharvest "), result.err
        return
    result = cli(command, *args, "--debug", "--data-dir", str(a_file))
    assert result.err == f"pkgharvest: error: --data-dir: '{a_file}' is a file\n"
    assert result.code == 2


def test_debug_shows_the_traceback_of_an_internal_error(
    monkeypatch: MP, capsys: Cap, mirror: Path
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a planted bug")

    monkeypatch.setattr("pkgharvest.cli.read.open_reader", broken)
    plain = run_cli(monkeypatch, capsys, "top", "--data-dir", str(mirror))
    assert plain.code == 1 and "Traceback" not in plain.err
    assert plain.err.endswith("(rerun with --debug for details)\n")
    for args in (
        ("top", "--debug"),
        ("top", "--data-dir", str(mirror), "--debug"),
        ("--debug", "top"),
    ):
        debug = run_cli(monkeypatch, capsys, *args, "--data-dir", str(mirror))
        assert debug.code == 1
        assert "Traceback" in debug.err and "RuntimeError: a planted bug" in debug.err


# --- each run's own dependencies -----------------------------------------------------------


def test_each_run_reads_the_dependencies_it_was_given(
    monkeypatch: MP, capsys: Cap, mirror: Path
) -> None:
    """The dependencies reach the command through click's context: two runs in one process
    with two clocks each see their own."""
    first = run_cli(monkeypatch, capsys, "status", "--data-dir", str(mirror), now=NOW)
    later = run_cli(
        monkeypatch, capsys, "status", "--data-dir", str(mirror), now=NOW + timedelta(days=400)
    )
    again = run_cli(monkeypatch, capsys, "status", "--data-dir", str(mirror), now=NOW)
    assert first.code == later.code == again.code == 0
    assert first.out == again.out != later.out
    assert "1 year ago" in later.out
