"""Comparing a mirror with the catalogue a fake API served. Shared by the fetch test modules."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from pkgharvest.normalize import to_utc_iso
from tests.fakeapi import Catalogue


def mirror_files(root: Path) -> dict[str, bytes]:
    """Every file a reader sees (hidden lock, staging and temp files left out), by path."""
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file() and not any(part.startswith(".") for part in path.relative_to(root).parts)
    }


def digest(root: Path) -> str:
    """One hash of every mirror file's path and bytes: equal digests, byte-identical mirrors."""
    h = hashlib.sha256()
    for name, data in mirror_files(root).items():
        h.update(name.encode() + b"\0" + data + b"\0")
    return h.hexdigest()


def records(root: Path, kind: str) -> dict[int, dict[str, Any]]:
    """The mirror's records of one kind by id; every file must parse."""
    found: dict[int, dict[str, Any]] = {}
    for path in sorted((root / kind).glob("*.json")):
        record = json.loads(path.read_text("utf-8"))
        assert record["id"] not in found, f"two files hold {kind} {record['id']}"
        found[record["id"]] = record
    return found


def _when(value: Any) -> Any:
    return None if value is None else to_utc_iso(value)


def _link_id(link: Any) -> Any:
    return link if isinstance(link, int) else None


def assert_mirror_matches(root: Path, catalogue: Catalogue) -> None:
    """Every record's fields equal what the API serves, and the mirror holds nothing else."""
    packages, grids, categories = (records(root, k) for k in ("packages", "grids", "categories"))
    assert set(packages) == set(catalogue.packages)
    assert set(grids) == set(catalogue.grids)
    assert set(categories) == set(catalogue.categories)
    for package_id, sent in catalogue.packages.items():
        got = packages[package_id]
        weeks = sent["commits_over_52"]
        expected = {
            "slug": sent["slug"],
            "title": sent["title"],
            "stars": sent["repo_watchers"],
            "forks": sent["repo_forks"],
            "commits_52w": weeks or None,
            "commits_52w_total": sum(weeks) if weeks else None,
            "last_commit": _when(sent["last_updated"]),
            "last_fetched": _when(sent["last_fetched"]),
            "created": _when(sent["created"]),
            "modified": _when(sent["modified"]),
            "pypi_version": sent["pypi_version"],
            "pypi_url": sent["pypi_url"],
            "repo_url": sent["repo_url"],
            "repo_description": sent["repo_description"],
            "documentation_url": sent["documentation_url"],
            "participants": sent["participants"],
        }
        assert {k: got[k] for k in expected} == expected, f"package {package_id}"
        category = _link_id(sent["category"])
        if category is None:
            assert got["category"] is None
        else:
            want = catalogue.categories[category]
            assert got["category"] == {"id": category, "slug": want["slug"], "title": want["title"]}
        assert [g["id"] for g in got["grids"]] == sent["grids"]
        for ref in got["grids"]:
            assert ref["slug"] == catalogue.grids[ref["id"]]["slug"]
            assert ref["title"] == catalogue.grids[ref["id"]]["title"]
    for grid_id, sent in catalogue.grids.items():
        got = grids[grid_id]
        assert (got["slug"], got["title"], got["description"]) == (
            sent["slug"], sent["title"], sent["description"],
        )  # fmt: skip
        assert got["packages"] == [
            {"id": p, "slug": catalogue.packages[p]["slug"]} for p in sent["packages"]
        ]
    for category_id, sent in catalogue.categories.items():
        got = categories[category_id]
        assert (got["slug"], got["title"], got["title_plural"]) == (
            sent["slug"], sent["title"], sent["title_plural"],
        )  # fmt: skip
