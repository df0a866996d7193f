"""`pkgharvest status`: the facts an operator and a monitor need, and `--max-age` as a check."""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from pkgharvest.errors import ExitCode
from pkgharvest.status import collect_status, lock_facts, parse_duration
from tests.mirrorbuilder import NOW, MirrorContent, run_cli, seed_content, write_mirror

REPO = Path(__file__).resolve().parent.parent

FINISHED = NOW - timedelta(hours=30)


def _run(finished: Any, *, complete: bool = True, exit_code: int = 0) -> dict[str, Any]:
    return {
        "scope": "catalogue",
        "complete": complete,
        "exit_code": exit_code,
        "counts": {
            "packages": {"seen": 5, "new": 1, "changed": 2, "unchanged": 2, "removed": 0},
            "grids": {"seen": 6, "new": 0, "changed": 0, "unchanged": 6, "removed": 0},
            "categories": {"seen": 5, "new": 0, "changed": 0, "unchanged": 5, "removed": 0},
        },
        "requests": 17,
        "retries": 2,
        "bytes_received": 123456,
        "started": (finished - timedelta(seconds=9)).isoformat().replace("+00:00", "Z"),
        "finished": finished.isoformat().replace("+00:00", "Z"),
        "seconds": 9.3,
        "removal_withheld": None,
    }


def _manifest(content: MirrorContent, last: dict[str, Any], complete: Any) -> dict[str, Any]:
    return {
        "format_version": 1,
        "pkgharvest_version": "0.1.0",
        "source": "https://djangopackages.org/api/v4/",
        "last_run": last,
        "last_complete_run": complete,
        "records": {"packages": 5, "grids": len(content.grids), "categories": 5},
    }


@pytest.fixture
def mirror(tmp_path: Path) -> Path:
    """A mirror whose last run (10 h ago) was partial and last complete run 30 h ago."""
    content = seed_content()
    partial = _run(NOW - timedelta(hours=10), complete=False, exit_code=3)
    return write_mirror(tmp_path / "m", content, _manifest(content, partial, _run(FINISHED)))


def test_status_text_shows_every_fact(monkeypatch, capsys, mirror: Path) -> None:
    result = run_cli(monkeypatch, capsys, "status", "--data-dir", str(mirror))
    assert result.code == 0, result.err
    lines = dict(
        (line[:16].strip(), line[16:]) for line in result.out.splitlines() if line[:16].strip()
    )
    assert lines["data folder"] == str(mirror)
    assert lines["source"] == "https://djangopackages.org/api/v4/"
    assert lines["last run"].startswith("2026-06-01 02:00:00 UTC (10 hours ago), exit 3, partial")
    assert "9.3 s, 17 requests" in lines["last run"]
    assert lines["last complete"].startswith("2026-05-31 06:00:00 UTC (yesterday), exit 0")
    assert lines["last full fetch"] == lines["last complete"]  # a catalogue run
    assert lines["records"].startswith("5 packages, ")
    assert re.fullmatch(r"\d+\.\d kB \(\d+ files\)", lines["size on disk"])
    assert lines["lock"] == "free (no fetch running)"
    assert "packages 5 seen, 1 new, 2 changed, 2 unchanged" in result.out


@pytest.mark.parametrize("columns", [60, 80])
def test_status_lines_fit_the_terminal(monkeypatch, capsys, mirror: Path, columns: int) -> None:
    """Long values break after a comma or semicolon, continued under themselves; nothing is
    lost (the same facts as on a wide terminal)."""
    wide = run_cli(monkeypatch, capsys, "status", "--data-dir", str(mirror), columns=200).out
    narrow = run_cli(monkeypatch, capsys, "status", "--data-dir", str(mirror), columns=columns)
    lines = narrow.out.splitlines()
    # A path is never broken: only the data folder's line may be longer (tmp paths are long).
    assert all(len(line) <= columns for line in lines if line != f"{'data folder':<16}{mirror}")
    assert len(lines) > len(wide.splitlines())
    assert all(line[:16].strip() or line.startswith(" " * 16) for line in lines)
    assert " ".join(narrow.out.split()) == " ".join(wide.split())


def test_status_json_has_ages_counts_size_and_lock(monkeypatch, capsys, mirror: Path) -> None:
    result = run_cli(monkeypatch, capsys, "status", "--json", "--data-dir", str(mirror))
    data = json.loads(result.out)
    assert data["data_dir"] == str(mirror)
    assert data["last_run"]["exit_code"] == 3 and data["last_run"]["complete"] is False
    assert data["last_run"]["age_seconds"] == 10 * 3600
    assert data["last_complete_run"]["age_seconds"] == 30 * 3600
    assert data["last_complete_run"]["counts"]["packages"]["new"] == 1
    assert data["records"] == data["manifest_records"]
    files = [p for p in mirror.rglob("*") if p.is_file()]
    assert data["files"] == len(files)
    assert data["size_bytes"] >= sum(p.stat().st_size for p in files) > 0
    assert data["lock"] == {"held": False, "pid": None}


@pytest.mark.parametrize(
    ("max_age", "code"),
    [("36h", ExitCode.OK), ("2d", ExitCode.OK), ("29h", ExitCode.STALE), ("90m", ExitCode.STALE)],
)
def test_max_age_exit_code(monkeypatch, capsys, mirror: Path, max_age: str, code: int) -> None:
    result = run_cli(monkeypatch, capsys, "status", "--max-age", max_age, "--data-dir", str(mirror))
    assert result.code == code
    assert "last run" in result.out  # the status is printed either way
    if code:
        assert result.err == (
            "pkgharvest: error: the last complete catalogue fetch finished 2026-05-31 06:00:00"
            f" UTC, more than --max-age {max_age} ago\n"
        )
    else:
        assert result.err == ""


def test_max_age_without_any_complete_run_is_stale(monkeypatch, capsys, tmp_path: Path) -> None:
    content = seed_content()
    partial = _run(NOW - timedelta(hours=1), complete=False, exit_code=3)
    root = write_mirror(tmp_path / "m", content, _manifest(content, partial, None))
    result = run_cli(monkeypatch, capsys, "status", "--max-age", "36h", "--data-dir", str(root))
    assert result.code == ExitCode.STALE
    assert "last complete   never" in result.out and "last full fetch never" in result.out
    assert result.err == (
        f"pkgharvest: error: no complete catalogue fetch has finished in {root}\n"
    )


@pytest.mark.parametrize("bad", ["soon", "36x", "-1h", "0"])
def test_bad_max_age_is_a_usage_error(monkeypatch, capsys, mirror: Path, bad: str) -> None:
    result = run_cli(monkeypatch, capsys, "status", "--max-age", bad, "--data-dir", str(mirror))
    assert result.code == ExitCode.USAGE
    assert result.err.startswith("pkgharvest: error: --max-age") and result.out == ""


def test_parse_duration_units() -> None:
    assert parse_duration("36h") == 36 * 3600
    assert parse_duration("90m") == 5400
    assert parse_duration("1.5d") == 1.5 * 86400
    assert parse_duration("1w") == 7 * 86400
    assert parse_duration("45") == 45


def test_no_mirror_exits_66(monkeypatch, capsys, tmp_path: Path) -> None:
    result = run_cli(monkeypatch, capsys, "status", "--data-dir", str(tmp_path / "none"))
    assert result.code == ExitCode.NO_MIRROR
    assert "run `pkgharvest fetch` first" in result.err


@pytest.mark.parametrize("folder", ["none", "empty"])
def test_max_age_where_there_is_no_mirror_exits_6(
    monkeypatch, capsys, tmp_path: Path, folder: str
) -> None:
    """A monitoring check keyed on exit 6 must also catch a machine that never fetched (issue
    17, item 9): no folder at all, or an empty one."""
    (tmp_path / "empty").mkdir()
    root = tmp_path / folder
    result = run_cli(monkeypatch, capsys, "status", "--max-age", "1d", "--data-dir", str(root))
    assert result.code == ExitCode.STALE
    assert result.err == (
        f"pkgharvest: error: no mirror in {root} yet: run `pkgharvest fetch` first "
        "(so no complete fetch has finished there)\n"
    )
    assert not (tmp_path / "none").exists()  # looked at, never made


@pytest.mark.parametrize("max_age", [("--max-age", "1d"), ()], ids=["max-age", "plain"])
@pytest.mark.parametrize("output", ["--json", "--prometheus"])
@pytest.mark.parametrize("folder", ["none", "empty"])
def test_a_monitor_gets_its_document_where_there_is_no_mirror(
    monkeypatch, capsys, tmp_path: Path, folder: str, output: str, max_age: tuple[str, ...]
) -> None:
    """docs/operating.md: the status is printed either way. `--json` and `--prometheus` once
    printed nothing where no fetch ever ran (a textfile collector then has no series to alert
    on); now the document says there is no mirror and no run, and the exit code is the same."""
    (tmp_path / "empty").mkdir()
    root = tmp_path / folder
    result = run_cli(monkeypatch, capsys, "status", *max_age, output, "--data-dir", str(root))
    assert result.code == (ExitCode.STALE if max_age else ExitCode.NO_MIRROR)
    assert result.err.count("\n") == 1 and f"no mirror in {root} yet" in result.err
    if output == "--json":
        status = json.loads(result.out)
        assert status["mirror"] is False and status["data_dir"] == str(root)
        assert status["last_run"] is None and status["last_complete_catalogue_run"] is None
        assert status["records"] == {"packages": 0, "grids": 0, "categories": 0}
        assert status.get("stale") is (True if max_age else None)
    else:
        metrics = parse_prometheus(result.out)
        label = {"data_dir": str(root)}
        assert metrics["pkgharvest_mirror_present"]["samples"] == [(label, 0)]
        assert metrics["pkgharvest_last_complete_catalogue_run_timestamp_seconds"]["samples"] == [
            (label, 0)
        ]
        assert "pkgharvest_last_run_exit_code" not in metrics
    assert not (tmp_path / "none").exists()  # looked at, never made


def test_prometheus_says_never_for_a_run_that_never_was(
    monkeypatch, capsys, tmp_path: Path
) -> None:
    """A mirror with no complete catalogue run: its timestamp is 0, so the documented alert
    `time() - ..._timestamp_seconds > AGE` fires instead of finding no series."""
    content = seed_content()
    partial = _run(NOW - timedelta(hours=1), complete=False, exit_code=3)
    root = write_mirror(tmp_path / "m", content, _manifest(content, partial, None))
    result = run_cli(monkeypatch, capsys, "status", "--prometheus", "--data-dir", str(root))
    assert result.code == 0
    metrics = parse_prometheus(result.out)
    label = {"data_dir": str(root)}
    for name in ("last_complete_run", "last_complete_catalogue_run"):
        assert metrics[f"pkgharvest_{name}_timestamp_seconds"]["samples"] == [(label, 0)]
    assert metrics["pkgharvest_mirror_present"]["samples"] == [(label, 1)]


# --- the lock ----------------------------------------------------------------------------

_HOLD_LOCK = """
import sys
from pathlib import Path
from pkgharvest.store.transaction import Store
with Store(Path(sys.argv[1])).lock():
    print("locked", flush=True)
    sys.stdin.read()
"""


def test_status_names_the_pid_of_a_running_fetch(monkeypatch, capsys, mirror: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD_LOCK, str(mirror)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        result = run_cli(monkeypatch, capsys, "status", "--json", "--data-dir", str(mirror))
        assert json.loads(result.out)["lock"] == {"held": True, "pid": holder.pid}
        # Where /proc/locks cannot be read, the holder's note (and a live pid) says the same.
        assert lock_facts(mirror, proc_locks=mirror / "no-proc-locks").pid == holder.pid
    finally:
        holder.communicate("")
    assert holder.returncode == 0
    assert lock_facts(mirror).held is False
    assert lock_facts(mirror, proc_locks=mirror / "no-proc-locks").held is False


def test_a_dead_holders_note_is_not_a_held_lock(mirror: Path) -> None:
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    (mirror / ".lock").write_text(json.dumps({"pid": int(dead.stdout), "started": "x"}))
    assert lock_facts(mirror, proc_locks=mirror / "no-proc-locks").held is False
    (mirror / ".lock").write_text(json.dumps({"pid": os.getpid(), "started": "x"}))
    assert lock_facts(mirror, proc_locks=mirror / "no-proc-locks").held is True
    assert lock_facts(mirror).held is False  # the kernel knows nobody holds the flock


# --- Prometheus ----------------------------------------------------------------------------

_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}


def _parse_label_value(text: str, start: int) -> tuple[str, int]:
    """A quoted label value from text[start] == '"'; only \\\\, \\" and \\n escapes exist."""
    assert text[start] == '"', f"label value must be quoted at {start}: {text!r}"
    out, i = [], start + 1
    while True:
        ch = text[i]
        if ch == "\\":
            escaped = text[i + 1]
            assert escaped in '\\"n', f"bad escape \\{escaped} in {text!r}"
            out.append("\n" if escaped == "n" else escaped)
            i += 2
        elif ch == '"':
            return "".join(out), i + 1
        else:
            assert ch != "\n"
            out.append(ch)
            i += 1


def parse_prometheus(text: str) -> dict[str, dict[str, Any]]:
    """A strict reader of the text exposition format 0.0.4: HELP and TYPE at most once and
    before the samples, a metric's samples contiguous, names and labels by the grammar, values
    as Go's ParseFloat reads them, a final newline. Returns name -> {type, help, samples}."""
    assert text.endswith("\n"), "the format requires a final line feed"
    metrics: dict[str, dict[str, Any]] = {}
    finished: set[str] = set()
    current: str | None = None
    for line in text[:-1].split("\n"):
        if line.startswith("#"):
            parts = line.split(" ", 3)
            if len(parts) >= 3 and parts[1] in ("HELP", "TYPE"):
                name = parts[2]
                assert _METRIC_NAME.fullmatch(name), line
                entry = metrics.setdefault(name, {"samples": []})
                assert not entry["samples"], f"{parts[1]} after samples: {line}"
                key = parts[1].lower()
                assert key not in entry, f"second {parts[1]} for {name}"
                entry[key] = parts[3] if len(parts) > 3 else ""
                if key == "type":
                    assert entry[key] in _TYPES, line
            continue
        assert line.strip(), "blank lines are not expected here"
        match = _METRIC_NAME.match(line)
        assert match, line
        name, i = match.group(), match.end()
        labels: dict[str, str] = {}
        if line[i] == "{":
            i += 1
            while line[i] != "}":
                label = _LABEL_NAME.match(line, i)
                assert label and line[label.end()] == "=", line
                value, i = _parse_label_value(line, label.end() + 1)
                assert label.group() not in labels, f"repeated label in {line}"
                labels[label.group()] = value
                if line[i] == ",":
                    i += 1
            i += 1
        assert line[i] == " ", line
        fields = line[i + 1 :].split(" ")
        assert 1 <= len(fields) <= 2, line
        value = float(fields[0])  # accepts NaN, +Inf, -Inf and exponents, as Go does
        assert not math.isnan(value)
        if current != name:
            assert name not in finished, f"samples of {name} are not contiguous"
            if current is not None:
                finished.add(current)
            current = name
        metrics.setdefault(name, {"samples": []})["samples"].append((labels, value))
    return metrics


def test_prometheus_output_parses_and_carries_the_facts(monkeypatch, capsys, mirror) -> None:
    result = run_cli(monkeypatch, capsys, "status", "--prometheus", "--data-dir", str(mirror))
    assert result.code == 0
    metrics = parse_prometheus(result.out)
    for name, entry in metrics.items():
        assert entry.get("type") == "gauge" and entry.get("help"), name
    complete = metrics["pkgharvest_last_complete_run_timestamp_seconds"]["samples"]
    assert complete == [({"data_dir": str(mirror)}, FINISHED.timestamp())]
    assert metrics["pkgharvest_last_run_exit_code"]["samples"][0][1] == 3
    records = {s[0]["kind"]: s[1] for s in metrics["pkgharvest_records"]["samples"]}
    assert records["packages"] == 5 and records["categories"] == 5
    outcomes = metrics["pkgharvest_last_complete_run_records"]["samples"]
    assert ({"data_dir": str(mirror), "kind": "packages", "outcome": "new"}, 1) in outcomes
    assert metrics["pkgharvest_lock_held"]["samples"][0][1] == 0
    assert metrics["pkgharvest_data_size_bytes"]["samples"][0][1] > 0


def test_prometheus_labels_escape_hostile_text(tmp_path: Path) -> None:
    from pkgharvest.status import prometheus_text

    content = seed_content()
    manifest = _manifest(content, _run(FINISHED), _run(FINISHED))
    manifest["source"] = 'http://x/"}\nevil_metric 1\n\\'
    root = write_mirror(tmp_path / 'odd "dir"', content, manifest)
    metrics = parse_prometheus(prometheus_text(collect_status(root, now=NOW)))
    assert "evil_metric" not in metrics
    ((labels, value),) = metrics["pkgharvest_info"]["samples"]
    assert value == 1
    assert labels["source"] == manifest["source"] and labels["data_dir"] == str(root)


def test_the_parser_rejects_what_prometheus_rejects() -> None:
    good = '# HELP a x\n# TYPE a gauge\na{k="v"} 1\n'
    assert parse_prometheus(good)["a"]["samples"] == [({"k": "v"}, 1.0)]
    for bad in (
        '# TYPE a gauge\na{k="v"} 1',  # no final newline
        '# TYPE a gauge\na{k="v\\t"} 1\n',  # unknown escape
        "# TYPE a gauge\na 1\n# TYPE a gauge\n",  # TYPE twice, after samples
        "a 1\nb 1\na 2\n",  # not contiguous
        "a{k=v} 1\n",  # unquoted
        "a one\n",  # not a number
    ):
        with pytest.raises((AssertionError, ValueError, IndexError)):
            parse_prometheus(bad)
