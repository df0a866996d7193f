"""Usage errors in pkgharvest's own words, and shell completion for the shell asked for
(issue 7, item 21)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.mirrorbuilder import run_cli, seed_content, write_mirror

MP = pytest.MonkeyPatch
Cap = pytest.CaptureFixture[str]


def assert_one_usage_line(code: int, err: str) -> str:
    assert code == 2, err
    assert err.startswith("pkgharvest: error: ") and err.count("\n") == 1, err
    for foreign in ("Usage:", "Try '", "Invalid value for", "Value error", "[type=", "Error:"):
        assert foreign not in err, err
    return err.removeprefix("pkgharvest: error: ").rstrip("\n")


def test_a_value_that_is_not_a_choice_names_the_choices(monkeypatch: MP, capsys: Cap) -> None:
    result = run_cli(monkeypatch, capsys, "top", "--by", "star")
    line = assert_one_usage_line(result.code, result.err)
    assert line.startswith("--by: 'star' is not one of stars, forks, commits")
    assert line.endswith("(did you mean stars?)")
    assert "'stars'" not in line  # the choices as a user types them, unquoted


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("top", "--limit", "x"), "--limit: 'x' is not a whole number"),
        (("top", "--limit", "-1"), "--limit: must be at least 0 (got -1)"),
        (("fetch", "--concurrency", "0"), "--concurrency: must be at least 1 (got 0)"),
        (("fetch", "--concurrency", "17"), "--concurrency: must be at most 16 (got 17)"),
        (("fetch", "--page-size", "1.5"), "--page-size: '1.5' is not a whole number"),
        (("export", "--format", "xml"), "--format: 'xml' is not one of csv, jsonl, json"),
        (("show",), "missing argument SLUG_OR_ID"),
        (("tpo",), "no such command 'tpo' (did you mean top?)"),
        (("top", "--limit"), "option '--limit' requires an argument"),
        (("top", "--by", "STARS", "--limit", "x"), "--limit: 'x' is not a whole number"),
        (("top", "--json=yes"), "option '--json' does not take a value"),
        (("--version=2",), "option '--version' does not take a value"),
        (("--verison",), "no such option: --verison (did you mean --version?)"),
        (("top", "--jsno"), "no such option: --jsno (did you mean --json, --since?)"),
        (("top", "extra"), "unexpected argument 'extra'"),
        (("grids", "a", "b", "c"), "unexpected argument 'a' (and 2 more)"),
        (("top", "\x1b[2Jx"), "unexpected argument '\\x1b[2Jx'"),
        (("help", "tpo"), "no such command 'tpo' (did you mean top?)"),
        (
            ("fetch", "--base-url", "ftp://x"),
            "--base-url: 'ftp://x' is not an http:// or https:// URL",
        ),
        (
            ("trends", "--since", "yesterday"),
            "--since: 'yesterday' is not a duration or a date (7d, 12w, 36h or 2026-01-31)",
        ),
        (
            ("changes", "--since", "last-time"),
            "--since: 'last-time' is not a duration or a date (7d, 12w, 36h or 2026-01-31)",
        ),
        (("grids", "--by", "size"), "--by: 'size' is not one of name, packages, stars"),
        (
            ("export", "--date-format", "isoo"),
            "--date-format: 'isoo' is not one of spreadsheet, iso (did you mean iso?)",
        ),
        (("top", "--data-dir", ""), "--data-dir: must not be empty"),
    ],
)
def test_usage_errors_are_one_line_exit_2(
    monkeypatch: MP, capsys: Cap, args: tuple[str, ...], expected: str
) -> None:
    result = run_cli(monkeypatch, capsys, *args)
    assert assert_one_usage_line(result.code, result.err) == expected


def test_an_output_that_is_a_folder_is_refused(
    monkeypatch: MP, capsys: Cap, tmp_path: Path
) -> None:
    result = run_cli(monkeypatch, capsys, "export", "-o", str(tmp_path))
    assert assert_one_usage_line(result.code, result.err) == f"--output: '{tmp_path}' is a folder"


def test_choices_are_read_in_any_case(monkeypatch: MP, capsys: Cap, tmp_path: Path) -> None:
    mirror = write_mirror(tmp_path / "mirror", seed_content())
    result = run_cli(monkeypatch, capsys, "top", "--by", "Forks", "--data-dir", str(mirror))
    assert result.code == 0, result.err
    assert "by forks" in result.out


def test_data_dir_from_the_command_line_is_not_blamed_on_the_variable(
    monkeypatch: MP, capsys: Cap, tmp_path: Path
) -> None:
    a_file = tmp_path / "not-a-folder"
    a_file.write_text("x")
    mirror = write_mirror(tmp_path / "mirror", seed_content())
    # The variable is set, and fine; the option is what is wrong.
    env = {"PKGHARVEST_DATA_DIR": str(mirror)}
    given = run_cli(monkeypatch, capsys, "top", "--data-dir", str(a_file), env=env)
    line = assert_one_usage_line(given.code, given.err)
    assert line == f"--data-dir: '{a_file}' is a file"
    assert "PKGHARVEST_DATA_DIR" not in given.err
    from_env = run_cli(monkeypatch, capsys, "top", env={"PKGHARVEST_DATA_DIR": str(a_file)})
    assert assert_one_usage_line(from_env.code, from_env.err) == (
        f"PKGHARVEST_DATA_DIR: '{a_file}' is a file"
    )


# --- --install-completion SHELL -----------------------------------------------------------

INSTALLED = {
    "bash": ".bash_completions/pkgharvest.sh",
    "zsh": ".zfunc/_pkgharvest",
    "fish": ".config/fish/completions/pkgharvest.fish",
    "powershell": "Documents/PowerShell/profile.ps1",
}
"""Where each shell's completion script goes under $HOME (typer's locations)."""


@pytest.fixture
def home(monkeypatch: MP, tmp_path: Path) -> Path:
    """A fresh $HOME, a login shell of bash (what detection would find), and a stand-in
    `powershell` on PATH that names its profile the way PowerShell does."""
    home = tmp_path / "home"
    home.mkdir()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "powershell"
    fake.write_text(
        '#!/bin/sh\nif [ "$1" = "-NoProfile" ]; then '
        'echo "$HOME/Documents/PowerShell/profile.ps1"; fi\n'
    )
    fake.chmod(0o755)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("SHELL", "/bin/bash")
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    return home


@pytest.mark.parametrize("shell", ["zsh", "fish", "powershell", "bash"])
def test_install_completion_installs_for_the_shell_named(
    monkeypatch: MP, capsys: Cap, home: Path, shell: str
) -> None:
    result = run_cli(monkeypatch, capsys, "--install-completion", shell)
    assert result.code == 0, result.err
    assert result.out.startswith(f"{shell} completion installed in {home}")
    installed = {name for name, path in INSTALLED.items() if (home / path).exists()}
    assert installed == {shell}  # that shell, and no other
    assert "pkgharvest" in (home / INSTALLED[shell]).read_text().lower()


def test_show_completion_prints_the_script_of_the_shell_named(
    monkeypatch: MP, capsys: Cap, home: Path
) -> None:
    result = run_cli(monkeypatch, capsys, "--show-completion", "fish")
    assert result.code == 0 and "complete --command pkgharvest" in result.out
    assert not any(home.iterdir())  # shown, not installed


def test_install_completion_for_an_unknown_shell_is_a_usage_error(
    monkeypatch: MP, capsys: Cap, home: Path
) -> None:
    result = run_cli(monkeypatch, capsys, "--install-completion", "tcsh")
    line = assert_one_usage_line(result.code, result.err)
    assert line == "--install-completion: 'tcsh' is not one of bash, zsh, fish, powershell, pwsh"
    assert not any(home.iterdir())


def test_help_says_the_completion_options_take_a_shell(monkeypatch: MP, capsys: Cap) -> None:
    result = run_cli(monkeypatch, capsys, "--help")
    assert "Install completion for SHELL" in " ".join(result.out.split())
