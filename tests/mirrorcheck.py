"""Comparing a mirror with the catalogue a fake API served, for the fetch test modules.

The field-by-field comparison lives in faultkit.mirror_differences (it works out every expected
value itself, without pkgharvest's normalizer); this adds a digest and an assert for tests that
run against the public base URL through httpx.MockTransport.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from tests.fakeapi import PUBLIC_BASE_URL, Catalogue
from tests.faultkit import mirror_differences, mirror_files

__all__ = ["assert_mirror_matches", "digest", "mirror_files", "owners_and_sizes", "records"]


def digest(root: Path) -> str:
    """One hash of every mirror file's path and bytes: equal digests, byte-identical mirrors."""
    h = hashlib.sha256()
    for name, data in sorted(mirror_files(root).items()):
        h.update(name.encode() + b"\0" + data + b"\0")
    return h.hexdigest()


def records(root: Path, kind: str) -> dict[int, dict[str, Any]]:
    """The mirror's records of one kind by id; every file must parse, no id twice."""
    found: dict[int, dict[str, Any]] = {}
    for path in sorted((root / kind).glob("*.json")):
        record = json.loads(path.read_text("utf-8"))
        assert record["id"] not in found, f"two files hold {kind} {record['id']}"
        found[record["id"]] = record
    return found


def assert_mirror_matches(root: Path, catalogue: Catalogue) -> None:
    """Every record's fields equal what the API serves, and the mirror holds nothing else."""
    assert mirror_differences(root, catalogue, base_url=PUBLIC_BASE_URL) == []


def owners_and_sizes(root: Path) -> dict[str, tuple[int, int]]:
    """Every file below `root` (relative path) -> (owner uid, size): what a command that must
    create nothing and hand nothing to another user may not change."""
    found = {}
    for folder, _, files in os.walk(root):
        for name in files:
            info = os.lstat(os.path.join(folder, name))
            found[os.path.relpath(os.path.join(folder, name), root)] = (info.st_uid, info.st_size)
    return found
