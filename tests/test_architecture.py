"""Rules of the code's shape that the issues ask for, checked on the source itself: every
exception class lives in errors.py, and only cli/ and views/ import typer or rich (the core
reports through events, so it runs under cron, in tests and in other programs alike)."""

from __future__ import annotations

import ast
from pathlib import Path

SOURCE = Path(__file__).resolve().parent.parent / "src" / "pkgharvest"
UI_PACKAGES = ("cli", "views")


def modules() -> list[tuple[Path, ast.Module]]:
    return [(path, ast.parse(path.read_text("utf-8"))) for path in sorted(SOURCE.rglob("*.py"))]


def is_exception_class(node: ast.ClassDef) -> bool:
    for base in node.bases:
        name = base.attr if isinstance(base, ast.Attribute) else getattr(base, "id", "")
        if name.endswith(("Error", "Exception", "Interrupt")) or name in {
            "BaseException",
            "KeyboardInterrupt",
        }:
            return True
    return False


def test_every_exception_class_lives_in_errors_py() -> None:
    outside = [
        f"{path.relative_to(SOURCE)}: {node.name}"
        for path, tree in modules()
        if path.name != "errors.py" or path.parent != SOURCE
        for node in ast.walk(tree)
        if isinstance(node, ast.ClassDef) and is_exception_class(node)
    ]
    assert outside == []


def test_only_cli_and_views_import_typer_or_rich() -> None:
    offenders = []
    for path, tree in modules():
        if path.relative_to(SOURCE).parts[0] in UI_PACKAGES:
            continue
        for node in ast.walk(tree):
            names = (
                [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            offenders += [
                f"{path.relative_to(SOURCE)}: {name}"
                for name in names
                if name.split(".")[0] in {"typer", "rich", "click"}
            ]
    assert offenders == []
