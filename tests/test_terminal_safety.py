"""Issue 20, items 12 and 20: no text from the API, the data folder or the history database
reaches a terminal raw. Hostile text (ESC [2J, an OSC title ended by BEL, C1 controls, bidi
overrides and isolates, rich markup, CR/LF, NUL) fills every text field of every kind of record
and the history (old slugs, versions); then every command, and every `--json` and `export`
form, runs with its stdout and stderr on a real pseudo-terminal. With NO_COLOR and TERM=dumb
the tool styles nothing, so any escape or control character that arrives is hostile: none may
(a line ends in LF, a CSV line in CR LF).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import termios
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakeapi import FakeApi, generate_catalogue
from tests.fakeproc import REPO_ROOT

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals")

HOSTILE = (
    "\x1b[2J\x1b[H\x1b]0;pwned\x07\x9b31m\x85\x90dcs\x9c\u202eevil\u202c\u2066iso\u2069"
    "[/][bold]b[/bold][link=file:///etc/passwd]l[/link]\r\nline2\x08\x7f\u2028\x00nul"
)
"""Screen clear, cursor home, an OSC window title ended by BEL, an 8-bit CSI, NEL, an 8-bit DCS
string, bidi override and isolate, rich markup (a closing tag with nothing to close raises if
it is ever parsed), CR LF, backspace, DEL, a line separator and NUL."""

ANY_CONTROL = re.compile(
    "[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]"
)
"""What may not reach the terminal: every C0 control but LF, DEL, every C1 control, the bidi
marks, embeddings, overrides and isolates, the line and paragraph separators (CR only in CR
LF, checked apart)."""


def text(field: str, record_id: int) -> str:
    """The hostile text for one field of one record: unique (slugs must be), and naming the
    field so that a failure says where the text came from."""
    return f"{field}{record_id}{HOSTILE}"


def hostile_catalogue() -> Any:
    catalogue = generate_catalogue(12, 3, seed=4)
    for package_id, package in list(catalogue.packages.items()):
        catalogue.packages[package_id] = {
            **package,
            **{
                name: text(name, package_id)
                for name in (
                    "title",
                    "slug",
                    "repo_url",
                    "pypi_version",
                    "repo_description",
                    "pypi_url",
                    "documentation_url",
                )
            },
            "participants": [text("participant", package_id), "plain"],
            "last_updated": text("date", package_id),  # kept under `invalid`
            "hostile_extra": text("extra", package_id),  # kept under `extra`
        }
    for grid_id, grid in list(catalogue.grids.items()):
        catalogue.grids[grid_id] = {
            **grid,
            **{name: text(f"grid-{name}", grid_id) for name in ("title", "slug", "description")},
        }
    for category_id, category in list(catalogue.categories.items()):
        catalogue.categories[category_id] = {
            **category,
            **{
                name: text(f"cat-{name}", category_id)
                for name in ("title", "slug", "description", "title_plural")
            },
        }
    catalogue.touched()
    return catalogue


def change_hostilely(catalogue: Any) -> None:
    """The second run's news: a rename (the old slug goes to the history), a release (both
    versions hostile), stars gained (the digest names a top gainer), a new package."""
    first, second, third = sorted(catalogue.packages)[:3]
    catalogue.update_package(first, slug=text("renamed", first))
    catalogue.update_package(second, pypi_version=text("release", second))
    catalogue.update_package(third, repo_watchers=catalogue.packages[third]["repo_watchers"] + 500)
    added = catalogue.add_package(category=min(catalogue.categories))
    catalogue.update_package(added, slug=text("new", added), title=text("newtitle", added))


def depend_on_hostile_packages(catalogue: Any, folder: Path) -> str:
    """A project depending on every package (each given a PyPI name `deps` matches, and a
    hostile version short enough for the table to keep its Latest column; slugs and titles
    stay hostile), the first dormant (so its grids' alternatives are shown under it); returns
    its requirements file."""
    packages = sorted(catalogue.packages)
    for number, package_id in enumerate(packages):
        catalogue.packages[package_id] = {
            **catalogue.packages[package_id],
            "pypi_url": f"https://pypi.org/project/hostile-dep{number}/",
            "pypi_version": f"{number}.0\x1b[2J\x07\u202e",
        }
    catalogue.packages[packages[0]] = {
        **catalogue.packages[packages[0]],
        "commits_over_52": [0] * 52,
        "last_updated": "2019-01-01T00:00:00Z",
    }
    catalogue.touched()
    requirements = folder / "requirements.txt"
    # Not the second: change_hostilely gives it a long version, and the table would give up
    # its Latest column to fit it.
    names = [f"hostile-dep{n}==0.1\n" for n in range(len(packages)) if n != 1]
    requirements.write_text("".join(names))
    return str(requirements)


_RUNNER = """
import json, sys
from pkgharvest.cli import run
for index, argv in enumerate(json.loads(sys.argv[1])):
    sys.stdout.write("\\n@@@ start %d\\n" % index)
    sys.stdout.flush()
    code = run(argv)
    sys.stdout.flush()
    sys.stderr.flush()
    sys.stdout.write("\\n@@@ exit %d %d\\n" % (index, code))
    sys.stdout.flush()
"""


def on_a_terminal(argvs: list[list[str]]) -> list[tuple[list[str], int, str]]:
    """Each `pkgharvest ARGV` in turn, in one child whose stdout and stderr are one real
    pseudo-terminal (output post-processing off, so what arrives is what was written);
    returns (argv, exit code, everything shown)."""
    import pty

    leader, follower = pty.openpty()
    attributes = termios.tcgetattr(follower)
    attributes[1] &= ~termios.OPOST  # LF stays LF: a CR that arrives was written
    termios.tcsetattr(follower, termios.TCSANOW, attributes)
    env = {**os.environ, "NO_COLOR": "1", "TERM": "dumb", "COLUMNS": "100", "LINES": "40"}
    env.pop("FORCE_COLOR", None)
    try:
        child = subprocess.Popen(
            [sys.executable, "-c", _RUNNER, json.dumps(argvs)],
            cwd=REPO_ROOT,
            stdin=follower,
            stdout=follower,
            stderr=follower,
            env=env,
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
        child.wait(timeout=300)
    finally:
        os.close(leader)
    shown = b"".join(chunks).decode("utf-8", "replace")
    results = []
    for index, argv in enumerate(argvs):
        part = shown.split(f"\n@@@ start {index}\n", 1)[1].split(f"\n@@@ exit {index} ", 1)
        code = int(part[1].split("\n", 1)[0].split()[0]) if len(part) > 1 else -1
        results.append((argv, code, part[0]))
    return results


def leaks(shown: str) -> list[str]:
    """Each forbidden character that arrived, with a little of what came before it."""
    found = [
        f"{match.group()!r} after {shown[max(0, match.start() - 30) : match.start()]!r}"
        for match in ANY_CONTROL.finditer(shown.replace("\r\n", "\n"))
    ]
    return found + [f"CR after {shown[max(0, m.start() - 30) : m.start()]!r}"
                    for m in re.finditer("\r(?!\n)", shown)]  # fmt: skip


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[Any, str]]:
    catalogue = hostile_catalogue()
    api = FakeApi(catalogue)
    with api.serve() as base_url:
        yield catalogue, base_url


def test_no_command_lets_hostile_text_drive_the_terminal(
    served: tuple[Any, str], tmp_path: Path
) -> None:
    catalogue, base_url = served
    root = str(tmp_path / "mirror")
    data = ["--data-dir", root]
    fetch = ["fetch", "--base-url", base_url, *data]
    requirements = depend_on_hostile_packages(catalogue, tmp_path)
    first = on_a_terminal([fetch])
    assert first[0][1] == 0, first[0][2]
    change_hostilely(catalogue)
    package_id = str(sorted(catalogue.packages)[2])  # the top gainer: the history has it
    grid_id = str(min(catalogue.grids))
    commands = [
        fetch,
        ["top", *data],
        ["top", "--by", "activity", *data],
        ["top", "--by", "stars-gained", *data],
        ["top", "--active", "--reverse", *data],
        ["top", "--json", *data],
        ["grid", grid_id, *data],
        ["grid", grid_id, "--layout", "columns", *data],
        ["grid", grid_id, "--json", *data],
        ["show", package_id, *data],
        ["show", package_id, "--json", *data],
        ["show", str(min(catalogue.packages)), *data],
        ["grids", *data],
        ["grids", "--json", *data],
        ["categories", *data],
        ["categories", "--json", *data],
        ["trends", *data],
        ["trends", "--json", *data],
        ["changes", *data],
        ["changes", "--since", "30d", *data],
        ["changes", "--json", *data],
        ["export", *data],
        ["export", "--format", "jsonl", *data],
        ["export", "--format", "json", *data],
        ["export", "--fields", "slug,title,participants,extra,invalid,grids,category", *data],
        ["export", "--history", *data],
        ["export", "--history", "--format", "jsonl", *data],
        ["export", "--history", "--format", "json", *data],
        ["status", *data],
        ["status", "--json", *data],
        ["verify", *data],
        ["verify", "--json", *data],
        ["fetch", "--json", "--base-url", base_url, *data],
        ["show", "renamed", *data],  # not found: suggestions come from hostile slugs
        ["deps", requirements, *data],
        ["deps", "--all", requirements, *data],
        ["deps", "--format", "markdown", requirements, *data],
        ["deps", "--format", "csv", requirements, *data],
        ["deps", "--json", requirements, *data],
        ["deps", "--offline", "--django", "5.2", requirements, *data],
    ]
    problems = {}
    for argv, code, shown in on_a_terminal(commands):
        if code not in (0, 5):  # 5: the deliberate "not found"
            problems[" ".join(argv[:3])] = [f"exit {code}: {shown[-300:]!r}"]
        elif bad := leaks(shown):
            problems[" ".join(argv[:3])] = bad[:3]
    assert problems == {}, "\n".join(f"{k}: {v}" for k, v in problems.items())


HOSTILE_NAME = "\x1b]0;pwned\x07\x1b[2J\u202eevil"
"""A file name planted in the data folder (names are bytes; this one is valid UTF-8)."""


def test_file_names_planted_in_the_data_folder_are_shown_escaped(
    served: tuple[Any, str], tmp_path: Path
) -> None:
    """Messages name files: a record file whose id no record may have, then a corrupt one,
    planted after a fetch (verify names them; the next fetch stops, naming the corrupt one).
    The name arrives written out, never acting on the terminal."""
    _, base_url = served
    root = tmp_path / "mirror"
    data = ["--data-dir", str(root)]
    (fetched,) = on_a_terminal([["fetch", "--base-url", base_url, "--quiet", *data]])
    assert fetched[1] == 0, fetched[2]
    left_out = root / "packages" / f"{HOSTILE_NAME}-big.json"
    left_out.write_text(json.dumps({"id": 10**30, "slug": "big"}))
    corrupt = root / "packages" / f"{HOSTILE_NAME}-corrupt.json"

    readers = [["top", *data], ["export", *data], ["verify", *data], ["status", *data]]
    shown = on_a_terminal(readers)
    corrupt.write_text("{not json")
    shown += on_a_terminal([*readers, ["fetch", "--base-url", base_url, *data]])

    # (The reading commands answer from the database, which follows the manifest: files
    # planted since the last fetch are verify's and the next fetch's to see.)
    expected = [0, 0, 65, 0, 0, 0, 65, 0, 65]
    assert [code for _, code, _ in shown] == expected, [out[-300:] for _, _, out in shown]
    for argv, _, out in shown:
        assert leaks(out) == [], (argv, leaks(out)[:3])
    escaped = "\\x1b]0;pwned\\x07\\x1b[2J\\u202eevil"
    assert escaped in shown[8][2]  # fetch's error names the corrupt file, written out


def test_export_history_to_a_pipe_keeps_the_exact_text(
    served: tuple[Any, str], tmp_path: Path
) -> None:
    """Sanitizing is for the terminal only: the history exported to a file or a pipe holds
    the API's text exactly."""
    catalogue, base_url = served
    root = tmp_path / "mirror"
    argv = [sys.executable, "-m", "pkgharvest"]
    done = subprocess.run(
        [*argv, "fetch", "--quiet", "--base-url", base_url, "--data-dir", str(root)],
        cwd=REPO_ROOT,
        capture_output=True,
    )
    assert done.returncode == 0, done.stderr
    done = subprocess.run(
        [*argv, "export", "--history", "--format", "jsonl", "--data-dir", str(root)],
        cwd=REPO_ROOT,
        capture_output=True,
    )
    assert done.returncode == 0, done.stderr
    versions = {json.loads(line)["pypi_version"] for line in done.stdout.splitlines()}
    assert {p["pypi_version"] for p in catalogue.packages.values()} <= versions
