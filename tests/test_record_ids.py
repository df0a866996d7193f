"""Issue 20, items 7 and 19: the id inside a record file. An integer no record may have (+-10^30,
from a hand edit or an older version) leaves that one file out, says so, and the next fetch
replaces it; a value that is no integer at all (`true`) is a corrupt record, never id 1."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from pkgharvest.cli import run as cli_run
from pkgharvest.errors import ExitCode
from pkgharvest.runtime import Dependencies, RetryPolicy
from tests.fakeapi import PUBLIC_BASE_URL, FakeApi, seed_catalogue
from tests.mirrorbuilder import run_cli, seed_content, write_mirror

MP = pytest.MonkeyPatch
Cap = pytest.CaptureFixture[str]

HSTORE_ID = 1327


def fetch_seeds(root: Path, capsys: Cap) -> tuple[int, str]:
    deps = Dependencies(
        transport=httpx.MockTransport(FakeApi(seed_catalogue()).handler),
        retry=RetryPolicy(attempts=2),
        sleep=lambda seconds: None,
    )
    capsys.readouterr()
    code = cli_run(["fetch", "--base-url", PUBLIC_BASE_URL, "--data-dir", str(root)], deps)
    return code, capsys.readouterr().err


def plant_id(root: Path, value: object) -> Path:
    path = root / "packages" / "django-hstore.json"
    record = json.loads(path.read_bytes())
    assert record["id"] == HSTORE_ID
    record["id"] = value
    path.write_text(json.dumps(record, indent=2) + "\n")
    return path


@pytest.mark.parametrize("planted", [10**30, -(10**30), 0, 2**53], ids=str)
def test_a_record_file_with_an_impossible_id_is_left_out_and_fetch_replaces_it(
    monkeypatch: MP, capsys: Cap, tmp_path: Path, planted: int
) -> None:
    # The database is built by the first command, from files that already hold the bad id.
    root = write_mirror(tmp_path / "mirror", seed_content(), catalogue=False)
    path = plant_id(root, planted)

    top = run_cli(monkeypatch, capsys, "top", "--json", "--data-dir", str(root))
    assert top.code == 0, top.err
    assert {row["slug"] for row in json.loads(top.out)} == {
        "django-comments-xtd",
        "django-dbsettings-new",
        "django-rest-registration",
        "django-star-ratings",
    }
    assert f"left out the record file {path}" in top.err and top.err.count("\n") == 1
    for argv in (
        ["export"],
        ["export", "--format", "jsonl"],
        ["show", "django-star-ratings"],
        ["grids"],
        ["categories"],
        ["trends"],
        ["changes"],
        ["status"],
    ):
        result = run_cli(monkeypatch, capsys, *argv, "--data-dir", str(root))
        assert result.code == 0, (argv, result.err)
        assert "internal error" not in result.err
    export = run_cli(monkeypatch, capsys, "export", "--data-dir", str(root))
    assert "django-hstore" not in export.out and f"left out the record file {path}" in export.err
    verify = run_cli(monkeypatch, capsys, "verify", "--data-dir", str(root))
    assert verify.code == ExitCode.DATA_ERROR
    assert f"{path}: holds id {planted}, and ids run from 1 to" in verify.out

    code, err = fetch_seeds(root, capsys)

    assert code == 0, err
    assert json.loads(path.read_bytes())["id"] == HSTORE_ID  # replaced by the API's record
    after = run_cli(monkeypatch, capsys, "show", "django-hstore", "--json", "--data-dir", str(root))
    assert after.code == 0 and json.loads(after.out)["id"] == HSTORE_ID
    assert run_cli(monkeypatch, capsys, "verify", "--data-dir", str(root)).code == 0


def test_an_id_of_thousands_of_digits_is_one_line_not_a_crash(
    monkeypatch: MP, capsys: Cap, tmp_path: Path
) -> None:
    root = write_mirror(tmp_path / "mirror", seed_content(), catalogue=False)
    path = root / "packages" / "django-hstore.json"
    text = path.read_text()
    path.write_text(text.replace(f'"id": {HSTORE_ID}', '"id": 1' + "0" * 5000, 1))

    for argv in (["top"], ["export"], ["verify"]):
        result = run_cli(monkeypatch, capsys, *argv, "--data-dir", str(root))
        assert result.code == ExitCode.DATA_ERROR, (argv, result.err)
        assert "internal error" not in result.err and str(path) in result.out + result.err
    code, err = fetch_seeds(root, capsys)
    assert code == ExitCode.DATA_ERROR and str(path) in err and err.count("\n") == 1


def test_a_record_file_whose_id_is_true_is_corrupt_not_id_1(
    monkeypatch: MP, capsys: Cap, tmp_path: Path
) -> None:
    root = write_mirror(tmp_path / "mirror", seed_content())
    path = plant_id(root, True)
    planted = path.read_bytes()

    code, err = fetch_seeds(root, capsys)

    assert code == ExitCode.DATA_ERROR, err
    assert err.count("\n") == 1 and str(path) in err and 'no integer "id"' in err
    assert path.read_bytes() == planted  # left for the user to look at, not replaced
    # The reading commands answer from the database, in step with the manifest the failed
    # fetch left as it was; verify names the file.
    export = run_cli(monkeypatch, capsys, "export", "--data-dir", str(root))
    assert export.code == 0 and export.err == ""
    verify = run_cli(monkeypatch, capsys, "verify", "--data-dir", str(root))
    assert verify.code == ExitCode.DATA_ERROR and f'{path}: has no integer "id"' in verify.out
