"""Output a user or a script relies on (issue 7, items 16, 17, 18): spreadsheet formulas
whatever the separator, API text on a real terminal, and a full disk or stdout."""

from __future__ import annotations

import contextlib
import csv
import io
import os
import random
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pkgharvest.formats.writers import neutralize
from tests.mirrorbuilder import (
    HOSTILE_DESCRIPTION,
    MirrorContent,
    ref,
    run_cli,
    seed_content,
    synthetic_package,
    write_mirror,
)

MP = pytest.MonkeyPatch
Cap = pytest.CaptureFixture[str]

# --- item 17: no formula, whatever separator the spreadsheet picks --------------------------

ATTACKS = [
    "x;=1000+8",  # LibreOffice with ";" as the separator evaluated this
    "x\t=1000+9",  # ... and this with TAB
    "a,=1+1",
    "a, =1+1",
    "a;  @SUM(1,2)",
    'a;"=1+1"',
    '"=1+1',
    "a\n=1+1",
    "a\r\n-1+1",
    "a\r+1+1",
    "a;;;=1",
    ' =HYPERLINK("http://evil")',
    "\t=1",
    "=1",
    "plain; text, with - dashes and + signs @ home",
    "x =1000+18",  # LibreOffice with a space as the separator evaluated this
    "x|=1000+19",  # ... and with `|`
    "x:=1000+20",  # ... and with `:`
    "x/=1000+21",
    "a  @SUM(1,2)",
    "see https://medium.com/@someone/post",
]
"""Text that a spreadsheet could split into a cell starting with a formula trigger."""

_FUZZ_ALPHABET = [",", ";", "\t", '"', "\n", "\r", " ", "|", ":", "/", "=", "+", "-", "@", "a", "1",
                  "'"]  # fmt: skip
_NUMBER = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?")

SEPARATORS = {
    "comma": ",",
    "semicolon": ";",
    "tab": "\t",
    "space": " ",
    "pipe": "|",
    "colon": ":",
    "slash": "/",
}
"""The separators a spreadsheet's import offers (Excel and LibreOffice: comma, semicolon, tab,
space, and any other character, of which these are the usual picks)."""


def fuzz_texts(count: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    return [
        "".join(rng.choice(_FUZZ_ALPHABET) for _ in range(rng.randint(1, 14))) for _ in range(count)
    ]


def hostile_mirror(root: Path, texts: list[str]) -> Path:
    """Packages whose every text column (and grid and category slug) holds an attack."""
    categories = [
        {"id": 1, "slug": ";=2+2", "title": "x", "title_plural": None, "description": None}
    ]
    grids = [{"id": 7, "slug": "ok;-3+3", "title": "g", "packages": []}]
    packages = [
        synthetic_package(
            index + 1,
            f"pkg-{index}",
            title=text,
            repo_description=text[::-1],
            pypi_version=text,
            repo_url=text,
            documentation_url=text,
            category=ref(categories[0]),
            grids=[ref(grids[0]), {"id": 8, "slug": text, "title": None}],
            participants=[text, "@admin"],
            extra={"note": text},
            stars=-index,  # negative numbers are numbers, never neutralized
        )
        for index, text in enumerate(texts)
    ]
    return write_mirror(root, MirrorContent(packages, [], []))


def formula_cells(data: str, delimiter: str, quoting: int) -> list[str]:
    """Cells that a spreadsheet reading `data` with this separator could take for a formula:
    a trigger first (after any spaces or quotes), something after it, and not a plain number.
    (A lone `-`, `+`, `=` or `@` stays text: the LibreOffice round trip checks that too.)"""
    reader = csv.reader(io.StringIO(data, newline=""), delimiter=delimiter, quoting=quoting)
    bad = []
    for row in reader:
        for cell in row:
            start = cell.lstrip(' "\t\r\n')
            formula_like = start.startswith(("=", "+", "-", "@")) and len(start.rstrip()) > 1
            if formula_like and not _NUMBER.fullmatch(start):
                bad.append(cell)
    return bad


@pytest.fixture(scope="module")
def hostile_exports(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """The CSV export of the hostile mirror, default columns and every text column."""
    from pkgharvest.cli import run

    folder = tmp_path_factory.mktemp("hostile")
    root = hostile_mirror(folder / "mirror", ATTACKS + fuzz_texts(400))
    fields = "id,title,category,grids,stars,pypi_version,repo_url,repo_description,"
    fields += "documentation_url,participants,extra,weeks"
    exports = []
    for index, args in enumerate(((), ("--fields", fields))):
        output = folder / f"out{index}.csv"
        assert run(["export", "-o", str(output), "--data-dir", str(root), *args]) == 0
        exports.append(output.read_text("utf-8"))
    return exports


@pytest.mark.parametrize("separator", SEPARATORS)
@pytest.mark.parametrize("quotes", ["quotes honoured", "no string delimiter"])
def test_no_cell_is_a_formula_whatever_the_separator(
    hostile_exports: list[str], separator: str, quotes: str
) -> None:
    quoting = csv.QUOTE_MINIMAL if quotes == "quotes honoured" else csv.QUOTE_NONE
    for data in hostile_exports:
        assert formula_cells(data, SEPARATORS[separator], quoting) == []


def test_read_with_commas_the_text_is_kept_but_for_the_apostrophes(
    monkeypatch: MP, capsys: Cap, tmp_path: Path
) -> None:
    root = hostile_mirror(tmp_path / "mirror", ATTACKS)
    result = run_cli(monkeypatch, capsys, "export", "--data-dir", str(root))
    rows = list(csv.DictReader(io.StringIO(result.out, newline="")))
    by_slug = {row["slug"]: row for row in rows}
    for index, text in enumerate(ATTACKS):
        row = by_slug[f"pkg-{index}"]
        assert row["title"] == neutralize(text)
        assert row["title"].replace("'", "") == text.replace("'", "")  # only `'` added
        assert row["stars"] == str(-index)
    assert by_slug["pkg-0"]["title"] == "x;'=1000+8"
    assert by_slug["pkg-14"]["title"] == ATTACKS[14]  # ordinary text is left alone


# --- item 18: a full stdout or disk is exit 73 and one line, never "internal error" ---------

READING_COMMANDS = [
    ("top",),
    ("top", "--json", "--limit", "0"),
    ("show", "django-hstore"),
    ("export", "--format", "jsonl"),
]


@pytest.fixture(scope="module")
def seed_mirror(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_mirror(tmp_path_factory.mktemp("seeds") / "mirror", seed_content())


def run_child(args: list[str], stdout: Any, stderr: Any = subprocess.PIPE) -> tuple[int, str]:
    proc = subprocess.run(
        [sys.executable, "-m", "pkgharvest", *args],
        stdout=stdout,
        stderr=stderr,
        stdin=subprocess.DEVNULL,
        timeout=60,
        check=False,
    )
    return proc.returncode, (proc.stderr or b"").decode("utf-8", "replace")


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
@pytest.mark.parametrize("command", READING_COMMANDS, ids=" ".join)
def test_output_to_dev_full_is_exit_73_in_one_line(seed_mirror: Path, command: tuple[str]) -> None:
    with open("/dev/full", "w") as full:
        code, err = run_child([*command, "--data-dir", str(seed_mirror)], stdout=full)
    assert code == 73, err
    assert err == "pkgharvest: error: cannot write standard output: No space left on device\n"


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_stdout_and_stderr_both_full_still_exit_73(seed_mirror: Path) -> None:
    with open("/dev/full", "w") as full:
        code, _ = run_child(["export", "--data-dir", str(seed_mirror)], stdout=full, stderr=full)
    assert code == 73


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    """A real file system that is full: a 256 KiB tmpfs filled to the last block (root only)."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mount_point = tmp_path / "full"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount_point)], check=False
    )
    if mounted.returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        # Unbuffered, so that closing the file has nothing left to flush into the full disk.
        with (
            open(mount_point / "filler", "wb", buffering=0) as filler,
            contextlib.suppress(OSError),
        ):
            while filler.write(b"\0" * 4096):  # until ENOSPC
                pass
        yield mount_point
    finally:
        subprocess.run(["umount", str(mount_point)], check=False)


@pytest.mark.parametrize("command", [("top",), ("export",)], ids=" ".join)
def test_output_redirected_to_a_full_disk_is_exit_73(
    seed_mirror: Path, full_disk: Path, command: tuple[str]
) -> None:
    with open(full_disk / "out.txt", "w") as out:
        code, err = run_child([*command, "--data-dir", str(seed_mirror)], stdout=out)
    assert code == 73, err
    assert err.startswith("pkgharvest: error: cannot write") and err.count("\n") == 1


def test_export_to_a_file_on_a_full_disk_is_exit_73(seed_mirror: Path, full_disk: Path) -> None:
    target = full_disk / "out.csv"
    code, err = run_child(
        ["export", "-o", str(target), "--data-dir", str(seed_mirror)], stdout=subprocess.PIPE
    )
    assert code == 73, err
    assert err.startswith("pkgharvest: error: cannot write") and err.count("\n") == 1
    assert not target.exists()


# --- item 16: API text reaches a terminal only sanitized, as in the tables --------------------

_DRIVES_A_TERMINAL = ["\x1b", "\x07", "\x9b", "\u202e", "\u2066", "\x00", "\x85"]


def run_on_a_terminal(args: list[str]) -> bytes:
    """`pkgharvest ARGS` with its stdout on a real pseudo-terminal; returns what it showed."""
    import pty

    leader, follower = pty.openpty()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "pkgharvest", *args],
            stdout=follower,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            env={**os.environ, "COLUMNS": "200", "TERM": "xterm"},
        )
        os.close(follower)
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
    finally:
        os.close(leader)
    return b"".join(chunks)


@pytest.fixture(scope="module")
def hostile_text_mirror(tmp_path_factory: pytest.TempPathFactory) -> Path:
    package = synthetic_package(
        1, "pkg", title="Title\x1b]0;pwned\x07", repo_description=HOSTILE_DESCRIPTION
    )
    return write_mirror(tmp_path_factory.mktemp("terminal") / "mirror", MirrorContent([package]))


@pytest.mark.parametrize("export_format", ["csv", "jsonl", "json"])
def test_export_to_a_terminal_cannot_drive_it(
    hostile_text_mirror: Path, export_format: str
) -> None:
    shown = run_on_a_terminal(
        ["export", "--format", export_format, "--data-dir", str(hostile_text_mirror)]
    ).decode("utf-8")
    for char in _DRIVES_A_TERMINAL:
        assert char not in shown, repr(char)
    assert "red" in shown and "next line" in shown  # the words are still there


def test_export_to_a_pipe_keeps_the_exact_text(
    monkeypatch: MP, capsys: Cap, hostile_text_mirror: Path
) -> None:
    result = run_cli(monkeypatch, capsys, "export", "--data-dir", str(hostile_text_mirror))
    (row,) = csv.DictReader(io.StringIO(result.out, newline=""))
    assert row["repo_description"] == neutralize(HOSTILE_DESCRIPTION)
    assert "\x1b[31m" in row["repo_description"]


SOFFICE = shutil.which("soffice") or shutil.which("libreoffice")


@pytest.mark.slow
@pytest.mark.skipif(SOFFICE is None, reason="LibreOffice (soffice) is not installed")
@pytest.mark.parametrize(
    "separator",
    [59, 9, 44, 32, 124, 58, 47],
    ids=["semicolon", "tab", "comma", "space", "pipe", "colon", "slash"],
)
def test_libreoffice_opening_the_export_with_any_separator_finds_no_formula(
    hostile_exports: list[str], tmp_path: Path, separator: int
) -> None:
    """The export opened by LibreOffice with `;`, TAB, `,`, a space, `|`, `:` or `/` as the
    separator (the Text Import choices: the locales' defaults, Space, and Other): every cell is
    text or a number, none a formula. Before the fix, `x;=1000+8` opened with `;` was the
    formula =1000+8, and `x =1000+18` opened with a space =1000+18."""
    openpyxl = pytest.importorskip("openpyxl")
    sources = []
    for index, data in enumerate(hostile_exports):
        source = tmp_path / f"export{index}.csv"
        source.write_text(data, "utf-8", newline="")
        sources.append(str(source))
    subprocess.run(
        [
            str(SOFFICE),
            f"-env:UserInstallation={(tmp_path / 'profile').as_uri()}",
            "--headless",
            "--convert-to",
            "xlsx",
            f"--infilter=CSV:{separator},34,76,1",  # separator, quote ", UTF-8, from line 1
            "--outdir",
            str(tmp_path / "xlsx"),
            *sources,
        ],
        check=True,
        capture_output=True,
        timeout=180,
    )
    for index in range(len(sources)):
        sheet = openpyxl.load_workbook(tmp_path / "xlsx" / f"export{index}.xlsx").active
        formulas = [c.value for row in sheet.iter_rows() for c in row if c.data_type == "f"]
        assert formulas == []
