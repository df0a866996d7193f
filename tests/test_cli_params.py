"""The values the command line takes (issue 20, items 9 and 15; issue 17, item 7): every option
is walked from the click commands themselves, so an option added later is covered too.

- a number that is huge, odd (`1e400`, `nan`, `inf`, `²`) or out of range is a usage error:
  exit 2, one line naming the option and the allowed range, never OverflowError or exit 1;
- a duration or a date that is not one is a usage error in our words, never Python's;
- a bad value from the environment names the variable, one from the command line the option.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from typer._click.core import Command, Context, Parameter
from typer._click.types import FloatParamType, IntParamType, StringParamType

from pkgharvest.cli.fetch import BaseUrl
from pkgharvest.cli.group import COMMANDS, root_command
from pkgharvest.cli.params import (
    Duration,
    Folder,
    IndexUrl,
    Number,
    OneOf,
    OutputFile,
    SinceType,
    WholeNumber,
)
from tests.mirrorbuilder import NOW, run_cli, seed_content, write_mirror

MP = pytest.MonkeyPatch
Cap = pytest.CaptureFixture[str]

SOURCE = Path(__file__).resolve().parent.parent / "src" / "pkgharvest"


def all_commands() -> Iterator[tuple[str, Command]]:
    group = root_command()
    ctx = Context(group, info_name="pkgharvest")
    for name in COMMANDS:
        command = group.get_command(ctx, name)
        assert command is not None, name
        yield name, command


def required_arguments(command: Command) -> list[str]:
    """A stand-in for each argument the command requires (a slug), so that it parses."""
    return ["some-slug" for p in command.params if p.param_type_name == "argument" and p.required]


def option_name(param: Parameter) -> str:
    return max((o for o in param.opts if o.startswith("-")), key=len)


def options_of_type(*types: type) -> list[tuple[str, Command, Parameter]]:
    found = [
        (name, command, param)
        for name, command in all_commands()
        for param in command.params
        if param.param_type_name == "option" and isinstance(param.type, types)
    ]
    assert found, types
    return found


def one_usage_line(code: int, err: str) -> str:
    assert code == 2, err
    assert err.startswith("pkgharvest: error: ") and err.count("\n") == 1, err
    for foreign in ("Traceback", "Usage:", "Invalid value", "invalid literal", "Error:"):
        assert foreign not in err, err
    return err.removeprefix("pkgharvest: error: ").rstrip("\n")


# --- every option's type is ours -----------------------------------------------------------


OUR_TYPES = (WholeNumber, Number, OneOf, Folder, OutputFile, SinceType, Duration, BaseUrl, IndexUrl)


def test_every_option_that_takes_a_value_reads_it_with_our_types() -> None:
    """So that every refusal is worded by us (cli/params.py), and no text of the user's
    reaches int(), float(), a date parser or a path check through click's own types. Free
    text (slugs, --match, --fields) stays a string."""
    foreign = []
    for name, command in all_commands():
        for param in command.params:
            if getattr(param, "is_flag", False):
                continue
            kind = type(param.type)
            if not isinstance(param.type, OUR_TYPES) and kind is not StringParamType:
                foreign.append(f"{name} {param.name}: {kind.__name__}")
    assert foreign == []


def test_usage_messages_are_built_without_reading_clicks_english() -> None:
    """cli/usage.py reads the exceptions' types and attributes: no regular expression, no
    slicing of click's sentences."""
    tree = ast.parse((SOURCE / "cli" / "usage.py").read_text("utf-8"))
    imported = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    assert "re" not in imported
    source = ast.unparse(tree)
    for reading in ("message.split", "message.startswith", "message[", "message.partition"):
        assert reading not in source


# --- numbers -------------------------------------------------------------------------------

HUGE = [
    "9223372036854775808",  # 2**63: SQLite's integers end just below
    "99999999999999999999",
    "-9223372036854775809",
    "1" + "0" * 5000,  # int() refuses 4,300 digits and more
]
NOT_WHOLE = ["1e400", "nan", "inf", "1.5", "2²", "٣", "1_000", "0x10", "", " "]
NOT_FINITE = ["1e400", "-1e400", "nan", "NaN", "inf", "-inf", "+Infinity"]
NOT_A_NUMBER = ["2²", "٣", "1_000", "0x10", "ten", "", "1e", "--"]

RANGE = re.compile(
    r"must be (at least [0-9,.]+|at most [0-9,.]+|a number from [0-9,.]+ to [0-9,.]+) "
    r"\(got [^\n]{1,80}\)"
)


def test_every_number_option_has_both_limits() -> None:
    """A number with no upper limit reaches SQLite or the clock as given (OverflowError)."""
    unbounded = [
        f"{name} {option_name(param)}"
        for name, _command, param in options_of_type(IntParamType, FloatParamType)
        if param.type.min is None or param.type.max is None  # type: ignore[attr-defined]
    ]
    assert unbounded == []


def _number_cases() -> list[tuple[str, str, str]]:
    cases = []
    for name, _command, param in options_of_type(IntParamType, FloatParamType):
        low = param.type.min or 0  # type: ignore[attr-defined]
        high = param.type.max or 2**63  # type: ignore[attr-defined]
        whole = isinstance(param.type, IntParamType)
        values = [*HUGE, str(low - 1), str(high + 1)]
        values += NOT_WHOLE if whole else [*NOT_FINITE, *NOT_A_NUMBER, str(high * 1e300)]
        cases += [(name, option_name(param), value) for value in values]
    return cases


@pytest.mark.parametrize(("command", "option", "value"), _number_cases())
def test_every_number_option_refuses_huge_and_odd_values_in_one_line(
    monkeypatch: MP, capsys: Cap, command: str, option: str, value: str
) -> None:
    name, click_command = next(c for c in all_commands() if c[0] == command)
    args = [name, *required_arguments(click_command), option, value]
    result = run_cli(monkeypatch, capsys, *args)
    line = one_usage_line(result.code, result.err)
    assert line.startswith(f"{option}: "), line
    reason = line.removeprefix(f"{option}: ")
    not_a_number = reason.endswith(("is not a whole number", "is not a number"))
    assert not_a_number or RANGE.fullmatch(reason), reason
    if value in HUGE or value.lstrip("-+").lower() in ("1e400", "inf", "infinity", "nan"):
        assert RANGE.fullmatch(reason) or reason.endswith("is not a whole number"), reason
    assert len(line) < 200  # a 5,000-digit number is not repeated whole


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("top", "--limit", "9223372036854775808"), "must be at most 1,000,000,000"),
        (("trends", "--limit", "99999999999999999999"), "must be at most 1,000,000,000"),
        (("fetch", "--timeout", "1e400"), "must be at most 86,400 (got 1e400)"),
        (("fetch", "--timeout", "nan"), "must be a number from 0 to 86,400 (got nan)"),
        (("fetch", "--timeout", "-1"), "must be at least 0 (got -1)"),
        (("fetch", "--concurrency", "-5"), "must be at least 1 (got -5)"),
    ],
)
def test_the_reported_huge_numbers(
    monkeypatch: MP, capsys: Cap, args: tuple[str, ...], expected: str
) -> None:
    result = run_cli(monkeypatch, capsys, *args)
    assert expected in one_usage_line(result.code, result.err)


def test_numbers_in_range_still_work(monkeypatch: MP, capsys: Cap, tmp_path: Path) -> None:
    mirror = write_mirror(tmp_path / "mirror", seed_content())
    for limit in ("0", "3", "+2", "007", "1000000000"):
        result = run_cli(monkeypatch, capsys, "top", "--limit", limit, "--data-dir", str(mirror))
        assert result.code == 0, (limit, result.err)


@pytest.mark.parametrize("key", ["9999999999999999999", "9223372036854775808", "1" + "0" * 40])
def test_an_id_too_big_for_the_database_is_not_found_not_a_crash(
    monkeypatch: MP, capsys: Cap, tmp_path: Path, key: str
) -> None:
    mirror = write_mirror(tmp_path / "mirror", seed_content())
    for args in (("show", key), ("grid", key), ("top", "--grid", key), ("top", "--category", key)):
        result = run_cli(monkeypatch, capsys, *args, "--data-dir", str(mirror))
        assert result.code == 5, (args, result.err)
        assert "Traceback" not in result.err and "internal error" not in result.err


# --- durations and dates -------------------------------------------------------------------

FULLWIDTH_YEAR = "\uff12\uff10\uff12\uff16"
NOT_A_WINDOW = ["2²d", "٣d", "²d", "2026-13-01", "2026-02-30", f"{FULLWIDTH_YEAR}-01-01", "x", ""]


def _window_cases() -> list[tuple[str, str, str]]:
    return [
        (name, option_name(param), value)
        for name, command, param in options_of_type(SinceType, Duration)
        for value in [*NOT_A_WINDOW, "99999999999999999999d", "1e400h", "nan", "-3d"]
    ]


@pytest.mark.parametrize(("command", "option", "value"), _window_cases())
def test_every_duration_or_date_option_refuses_bad_text_in_our_words(
    monkeypatch: MP, capsys: Cap, command: str, option: str, value: str
) -> None:
    result = run_cli(monkeypatch, capsys, command, option, value)
    line = one_usage_line(result.code, result.err)
    assert line.startswith(f"{option}: {value!r} "), line
    assert re.search(r"is not a duration|is too far back|is longer than", line), line


def test_the_superscript_two(monkeypatch: MP, capsys: Cap) -> None:
    result = run_cli(monkeypatch, capsys, "trends", "--since", "2²d")
    assert one_usage_line(result.code, result.err) == (
        "--since: '2²d' is not a duration or a date (7d, 12w, 36h or 2026-01-31)"
    )
    result = run_cli(monkeypatch, capsys, "status", "--max-age", "2²d")
    assert one_usage_line(result.code, result.err) == (
        "--max-age: '2²d' is not a duration: a number and a unit s, m, h, d or w (36h, 2d, 90m)"
    )


def test_since_takes_hours_and_is_read_with_the_runs_clock(
    monkeypatch: MP, capsys: Cap, tmp_path: Path
) -> None:
    mirror = write_mirror(tmp_path / "mirror", seed_content())
    result = run_cli(monkeypatch, capsys, "trends", "--since", "36h", "--data-dir", str(mirror))
    assert result.code == 0, result.err
    result = run_cli(
        monkeypatch, capsys, "export", "--history", "--since", "12w", "--data-dir", str(mirror)
    )
    assert result.code == 0, result.err
    assert (NOW - timedelta(hours=36)).year == 2026


@pytest.mark.parametrize(
    "command",
    [
        ("trends",),
        ("changes",),
        ("top", "--by", "stars-gained"),
        ("export", "--history"),
    ],
    ids=lambda command: " ".join(command),
)
@pytest.mark.parametrize("value", ["9999-12-31", "2026-06-01T13:00:00Z"])
def test_a_window_that_starts_in_the_future_is_a_usage_error(
    monkeypatch: MP, capsys: Cap, tmp_path: Path, command: tuple[str, ...], value: str
) -> None:
    """`trends --since 9999-12-31` was taken, and answered with an empty window."""
    mirror = write_mirror(tmp_path / "mirror", seed_content())
    result = run_cli(monkeypatch, capsys, *command, "--since", value, "--data-dir", str(mirror))
    assert one_usage_line(result.code, result.err) == (
        f"--since: {value!r} is in the future (now is 2026-06-01 12:00 UTC)"
    )
    assert result.out == ""
    today = run_cli(
        monkeypatch, capsys, *command, "--since", "2026-06-01", "--data-dir", str(mirror)
    )
    assert today.code == 0, today.err


# --- where a value came from ---------------------------------------------------------------


@pytest.mark.parametrize(
    "bad", ["ftp://x", "djangopackages.org/api/v4/", "http://h:0/", "http://["]
)
def test_a_bad_base_url_names_its_source(
    monkeypatch: MP, capsys: Cap, tmp_path: Path, bad: str
) -> None:
    data = tmp_path / "mirror"
    from_env = run_cli(
        monkeypatch, capsys, "fetch", "--data-dir", str(data), env={"PKGHARVEST_BASE_URL": bad}
    )
    line = one_usage_line(from_env.code, from_env.err)
    assert line.startswith(f"PKGHARVEST_BASE_URL: {bad!r} "), line
    assert "--base-url" not in line
    given = run_cli(
        monkeypatch,
        capsys,
        "fetch",
        "--base-url",
        bad,
        "--data-dir",
        str(data),
        env={"PKGHARVEST_BASE_URL": "https://djangopackages.org/api/v4/"},
    )
    line = one_usage_line(given.code, given.err)
    assert line.startswith(f"--base-url: {bad!r} "), line
    assert "PKGHARVEST_BASE_URL" not in line
    assert not data.exists()  # refused before anything was made


def test_a_bad_base_url_still_gets_a_json_document(
    monkeypatch: MP, capsys: Cap, tmp_path: Path
) -> None:
    import json

    result = run_cli(
        monkeypatch,
        capsys,
        "fetch",
        "--json",
        "--data-dir",
        str(tmp_path / "m"),
        env={"PKGHARVEST_BASE_URL": "ftp://x"},
    )
    assert result.code == 2
    document = json.loads(result.out)
    assert document["exit_code"] == 2
    assert document["error"].startswith("PKGHARVEST_BASE_URL: 'ftp://x'")


def test_a_data_dir_that_is_not_a_folder_names_its_source(
    monkeypatch: MP, capsys: Cap, tmp_path: Path
) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    for command in ("fetch", "top", "status", "verify", "export"):
        from_env = run_cli(monkeypatch, capsys, command, env={"PKGHARVEST_DATA_DIR": str(a_file)})
        assert one_usage_line(from_env.code, from_env.err) == (
            f"PKGHARVEST_DATA_DIR: '{a_file}' is a file"
        )
        given = run_cli(monkeypatch, capsys, command, "--data-dir", str(a_file))
        assert one_usage_line(given.code, given.err) == f"--data-dir: '{a_file}' is a file"
    empty = run_cli(monkeypatch, capsys, "top", "--data-dir", "")
    assert one_usage_line(empty.code, empty.err) == "--data-dir: must not be empty"


def test_a_data_dir_from_the_environment_expands_the_home_folder(
    monkeypatch: MP, capsys: Cap, tmp_path: Path
) -> None:
    """`PKGHARVEST_DATA_DIR=~/mirror` in a crontab is not expanded by any shell."""
    write_mirror(tmp_path / "mirror", seed_content())
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    result = run_cli(monkeypatch, capsys, "status", env={"PKGHARVEST_DATA_DIR": "~/mirror"})
    assert result.code == 0, result.err
    assert f"data folder     {tmp_path / 'mirror'}" in result.out
    assert not (tmp_path / "~").exists()
