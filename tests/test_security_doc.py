"""docs/security.md backs each promise with a test it names (`tests/FILE.py::TEST`): every one
of them exists, so the page cannot go on citing a test that was renamed or removed."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CITED = re.compile(r"`tests/(\w+\.py)::(\w+)`")


def test_every_test_the_security_page_names_exists() -> None:
    page = (ROOT / "docs" / "security.md").read_text("utf-8")
    cited = CITED.findall(page)
    assert len(cited) >= 30
    missing = []
    for file, name in cited:
        path = ROOT / "tests" / file
        tree = ast.parse(path.read_text("utf-8")) if path.exists() else ast.Module([], [])
        defined = {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}
        if name not in defined:
            missing.append(f"{file}::{name}")
    assert missing == []
