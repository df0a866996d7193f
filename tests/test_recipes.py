"""The README's recipes for running pkgharvest every night, run as cron and systemd would.

The cron lines are taken from the README and contrib/cron/pkgharvest as written, and run under
`env -i PATH=/usr/bin:/bin sh -c ...` (cron's environment) against the fake API on 127.0.0.1;
only the paths, and the random delay's range (to 0), are swapped for the test's. The systemd
units are checked with `systemd-analyze verify` where it is installed.
"""

from __future__ import annotations

import configparser
import grp
import os
import pwd
import re
import secrets
import shlex
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakeproc import serve_in_subprocess

REPO = Path(__file__).resolve().parent.parent
UNITS = REPO / "contrib" / "systemd"
CRON_D = REPO / "contrib" / "cron" / "pkgharvest"
CRON_ENV = {"PATH": "/usr/bin:/bin"}
"""What cron gives a job (it adds HOME, SHELL and LOGNAME; nothing here needs them)."""

INSTALLED = Path(sys.executable).parent / "pkgharvest"
"""The console script this test run's environment installed (a venv's bin/, like pipx's)."""

README_CRON_PATH = "/home/me/.local/bin/pkgharvest"
README_CRON_DATA = "/home/me/djp-mirror"
CRON_D_PATH = "/opt/pkgharvest/bin/pkgharvest"
CRON_D_DATA = "/var/lib/pkgharvest"
RANDOM_DELAY = "shuf -i 0-3599 -n 1"


def _readme_crontab_line() -> str:
    lines = [
        line.strip()
        for line in (REPO / "README.md").read_text("utf-8").splitlines()
        if line.startswith("    17 3 * * *  ")
    ]
    assert len(lines) == 1, lines
    return lines[0]


def _cron_d_line() -> str:
    lines = [
        line
        for line in CRON_D.read_text("utf-8").splitlines()
        if line and not line.startswith("#") and "=" not in line.split()[0]
    ]
    assert len(lines) == 1, lines
    assert f"    {lines[0]}" in (REPO / "README.md").read_text("utf-8")  # README shows it too
    return lines[0]


def _command(line: str, fields: int) -> str:
    """The command of a cron line: what follows `fields` whitespace-separated fields."""
    return line.split(None, fields)[fields]


def _for_test(command: str, installed: str, data_dir: str, tmp_path: Path) -> str:
    """A recipe's command with this run's installed command, a temporary data folder, and the
    random delay's range cut to 0 (shuf still runs)."""
    return (
        command.replace(installed, str(INSTALLED))
        .replace(data_dir, str(tmp_path / "mirror"))
        .replace(RANDOM_DELAY, "shuf -i 0-0 -n 1")
    )


def _cron_d_command(tmp_path: Path) -> str:
    return _for_test(_command(_cron_d_line(), 6), CRON_D_PATH, CRON_D_DATA, tmp_path)


@pytest.fixture(scope="module")
def fake_api() -> Iterator[str]:
    if not INSTALLED.is_file():
        pytest.skip(f"no installed pkgharvest command at {INSTALLED}")
    with serve_in_subprocess(packages=40, grids=3, seed=4) as url:
        yield url


def _run_as_cron(command: str, base_url: str) -> subprocess.CompletedProcess[str]:
    # The base URL is the one thing the recipe leaves to its default: the environment sets it,
    # so the command runs exactly as written.
    env = {**CRON_ENV, "PKGHARVEST_BASE_URL": base_url}
    return subprocess.run(
        ["/usr/bin/env", "-i", *(f"{k}={v}" for k, v in env.items()), "/bin/sh", "-c", command],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_bare_command_is_not_found_under_cron() -> None:
    """Why the recipes give an absolute path: cron's PATH does not hold a pipx or venv command."""
    if shutil.which("pkgharvest", path=CRON_ENV["PATH"]):
        pytest.skip("pkgharvest is installed in /usr/bin or /bin here")
    result = _run_as_cron("pkgharvest fetch --quiet --data-dir /nonexistent", "http://127.0.0.1:9/")
    assert result.returncode == 127 and "not found" in result.stderr


def test_readme_crontab_line_runs_under_cron(fake_api: str, tmp_path: Path) -> None:
    line = _readme_crontab_line()
    assert line.split()[:5] == ["17", "3", "*", "*", "*"]
    command = _command(line, 5)
    assert README_CRON_PATH in command and RANDOM_DELAY in command and "%" not in command
    result = _run_as_cron(
        _for_test(command, README_CRON_PATH, README_CRON_DATA, tmp_path), fake_api
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "" and result.stderr == ""  # --quiet: nothing to mail
    assert len(list((tmp_path / "mirror" / "packages").glob("*.json"))) == 40


def test_cron_d_line_names_a_user_and_runs(fake_api: str, tmp_path: Path) -> None:
    line = _cron_d_line()
    fields = line.split()
    assert fields[:5] == ["17", "3", "*", "*", "*"] and fields[5] == "pkgharvest"  # the user
    assert CRON_D_PATH in _command(line, 6) and RANDOM_DELAY in _command(line, 6)
    result = _run_as_cron(_cron_d_command(tmp_path), fake_api)
    assert result.returncode == 0, result.stderr
    assert len(list((tmp_path / "mirror" / "packages").glob("*.json"))) == 40


@pytest.mark.slow  # the child waits out its real retry backoff (about 8 s)
def test_cron_d_line_with_the_api_down_mails_one_line(tmp_path: Path) -> None:
    if not INSTALLED.is_file():
        pytest.skip(f"no installed pkgharvest command at {INSTALLED}")
    # Nothing listens on port 9 (discard): exit 75, "try again later", one line to mail.
    down = _run_as_cron(_cron_d_command(tmp_path), "http://127.0.0.1:9/api/v4/")
    assert down.returncode == 75
    assert down.stdout == "" and down.stderr.count("\n") == 1
    assert down.stderr.startswith("pkgharvest: error: ")


# --- the /etc/cron.d set-up, run as far as this machine allows ---------------------------------


def _cron_d_setup() -> list[str]:
    """The set-up lines of contrib/cron/pkgharvest (indented comment lines), as run by root."""
    lines = [
        line.removeprefix("#   ")
        for line in CRON_D.read_text("utf-8").splitlines()
        if line.startswith("#   ")
    ]
    readme = (REPO / "README.md").read_text("utf-8")
    assert all(f"    {line}\n" in readme for line in lines)  # the README gives them too
    return lines


@pytest.fixture
def system_user() -> Iterator[str]:
    """A name for the recipe's system user, unique to this test; the user (and its group) is
    deleted afterwards."""
    if os.geteuid() != 0 or not all(map(shutil.which, ("useradd", "userdel", "runuser"))):
        pytest.skip("needs root and useradd, userdel, runuser")
    name = f"pkgh-{os.getpid()}-{secrets.token_hex(3)}"
    yield name
    subprocess.run(["userdel", name], capture_output=True, check=False)
    subprocess.run(["groupdel", name], capture_output=True, check=False)


def _stand_in_venv(opt: Path) -> None:
    """What `python3 -m venv /opt/pkgharvest && /opt/pkgharvest/bin/pip install .` makes,
    without the network: a venv of the system's python3 whose site-packages reach this test
    run's (a system user cannot read this run's interpreter under /root), and its console
    script."""
    subprocess.run(["/usr/bin/python3", "-m", "venv", "--without-pip", str(opt)], check=True)
    site = next((opt / "lib").glob("python3*/site-packages"))
    ours = next(
        p for p in map(Path, sys.path) if p.name == "site-packages" and p.is_relative_to(sys.prefix)
    )
    (site / "pkgharvest-test-run.pth").write_text(f"import site; site.addsitedir({str(ours)!r})\n")
    script = INSTALLED.read_text("utf-8").split("\n", 1)[1]
    command = opt / "bin" / "pkgharvest"
    command.write_text(f"#!{opt / 'bin' / 'python3'}\n{script}", "utf-8")
    command.chmod(0o755)


def _run_setup_and_night(
    user: str, fake_api: str, *, skip: str = ""
) -> tuple[subprocess.CompletedProcess[str], Path]:
    """The set-up lines (but the one containing `skip`) with this test's user and folders,
    then the cron line's command as that user under cron's environment."""
    root = Path(tempfile.mkdtemp(prefix="pkgharvest-recipe-"))
    root.chmod(0o755)  # the system user must reach its folders below
    (root / "var" / "lib").mkdir(parents=True)
    (root / "var" / "lib").chmod(0o755)

    def ours(text: str) -> str:
        return (
            text.replace(CRON_D_DATA, str(root / "var" / "lib" / "pkgharvest"))
            .replace("/opt/pkgharvest", str(root / "opt" / "pkgharvest"))
            .replace("pkgharvest:", f"{user}:")
        )

    for line in _cron_d_setup():
        if skip and skip in line:
            continue
        if line.startswith("python3 -m venv"):
            _stand_in_venv(root / "opt" / "pkgharvest")
            continue
        if line.startswith("install -m 0644 contrib/cron/"):
            continue  # cron itself is not running here: the test runs the line below
        argv = shlex.split(ours(line))
        argv = [user if word == "pkgharvest" else word for word in argv]
        subprocess.run(argv, check=True, capture_output=True, text=True)
    fields = _cron_d_line().split(None, 6)
    assert fields[5] == "pkgharvest"
    command = ours(fields[6]).replace(RANDOM_DELAY, "shuf -i 0-0 -n 1")
    env = {**CRON_ENV, "PKGHARVEST_BASE_URL": fake_api}
    night = subprocess.run(
        ["runuser", "-u", user, "--", "/usr/bin/env", "-i",
         *(f"{k}={v}" for k, v in env.items()), "/bin/sh", "-c", command],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    return night, root


def test_cron_d_setup_then_the_first_night(system_user: str, fake_api: str) -> None:
    """The set-up as written, then the job as its user: the data folder is the user's, 0750,
    and holds the mirror after the first night."""
    night, root = _run_setup_and_night(system_user, fake_api)
    try:
        assert night.returncode == 0, night.stderr
        assert night.stdout == "" and night.stderr == ""
        data = root / "var" / "lib" / "pkgharvest"
        info = data.stat()
        assert pwd.getpwuid(info.st_uid).pw_name == system_user
        assert grp.getgrgid(info.st_gid).gr_name == system_user
        assert stat.S_IMODE(info.st_mode) == 0o750
        packages = list((data / "packages").glob("*.json"))
        assert len(packages) == 40
        assert all(pwd.getpwuid(p.stat().st_uid).pw_name == system_user for p in packages)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_without_the_data_folder_the_first_night_fails(system_user: str, fake_api: str) -> None:
    """Why the set-up has its `install -d` line: useradd --system makes no home folder, and
    the system user may not create one in /var/lib: exit 73, one line for cron to mail."""
    night, root = _run_setup_and_night(system_user, fake_api, skip="install -d")
    try:
        assert night.returncode == 73, night.stderr
        assert night.stderr.startswith("pkgharvest: error: ") and night.stderr.count("\n") == 1
    finally:
        shutil.rmtree(root, ignore_errors=True)


# --- systemd ------------------------------------------------------------------------------


def _unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(UNITS / name, encoding="utf-8")
    return parser


def test_units_say_what_the_readme_promises() -> None:
    service = _unit("pkgharvest-fetch.service")["Service"]
    assert service["User"] == "pkgharvest" and service["StateDirectory"] == "pkgharvest"
    assert service["ExecStart"].startswith(f"{CRON_D_PATH} fetch --quiet ")
    # %S/pkgharvest is StateDirectory=pkgharvest's folder (systemd.unit(5), "Specifiers"): the
    # documented way to name it on a command line.
    assert service["ExecStart"].endswith(" --data-dir %S/pkgharvest")
    assert "$" not in service["ExecStart"]
    assert service["RestartForceExitStatus"] == "75"
    timer = _unit("pkgharvest-fetch.timer")["Timer"]
    assert timer["Persistent"] == "true" and timer["RandomizedDelaySec"] == "2h"
    assert re.fullmatch(r"\*-\*-\* \d\d:\d\d:\d\d", timer["OnCalendar"])


def _verify_units(folder: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["systemd-analyze", "verify", "pkgharvest-fetch.service", "pkgharvest-fetch.timer"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def units(tmp_path: Path) -> Path:
    """The unit files, with ExecStart pointing at this environment's installed command
    (verify checks that the command exists)."""
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed")
    if not INSTALLED.is_file():
        pytest.skip(f"no installed pkgharvest command at {INSTALLED}")
    for unit in UNITS.glob("pkgharvest-fetch.*"):
        text = unit.read_text("utf-8").replace(CRON_D_PATH, str(INSTALLED))
        (tmp_path / unit.name).write_text(text, "utf-8")
    return tmp_path


def test_systemd_analyze_verify_accepts_the_units(units: Path) -> None:
    result = _verify_units(units)
    assert result.returncode == 0, result.stderr
    assert "pkgharvest-fetch" not in result.stderr  # no warning about our units


def test_systemd_analyze_verify_resolves_the_specifiers(units: Path) -> None:
    """verify resolves ExecStart's specifiers: %S is one it knows, a made-up one is refused."""
    service = units / "pkgharvest-fetch.service"
    service.write_text(service.read_text("utf-8").replace("%S/", "%Q/"), "utf-8")
    result = _verify_units(units)
    assert result.returncode != 0 and "%Q/pkgharvest" in result.stderr


def test_the_docs_name_the_systemd_version_the_unit_needs() -> None:
    text = (REPO / "docs" / "operating.md").read_text("utf-8")
    assert "systemd 240 or newer" in text and "%S/pkgharvest" in text


def test_systemd_analyze_verify_would_catch_a_bad_unit(units: Path) -> None:
    """The check can fail: a oneshot service may not force restarts (systemd refuses it)."""
    service = units / "pkgharvest-fetch.service"
    service.write_text(service.read_text("utf-8").replace("Type=exec", "Type=oneshot"), "utf-8")
    result = _verify_units(units)
    assert result.returncode != 0 and "RestartForceExitStatus" in result.stderr
